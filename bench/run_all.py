"""Every benchmark in bench/, each figure beside its same-run baseline, in one table for the README.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/saga_bench .venv/bin/python bench/run_all.py [--full]

Runs ``render.py``, ``sync_load.py``, ``kiosk_load.py`` and ``audit.py`` one after another, each as its
own process (as a developer would), at a scale that finishes in a few minutes; ``--full`` uses each
bench's own defaults (Saga-scale: 240,000 residents, a million audit events, two kiosk runs). Every
PostgreSQL bench gets a fresh database named after DATABASE_URL's (``<name>_runall_<bench>``), dropped
afterwards, so nothing of a developer's data is touched. Each bench measures its baseline in the same
run, on the same machine, interleaved where it can: the ratios are what to compare between machines,
not the absolute figures.

Prints a Markdown table: figure, value, same-run baseline, ratio, target, verdict. Exit status 1 when
a bench fails to run or a figure misses its target.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/saga_bench"


@dataclass
class Figure:
    bench: str
    name: str
    value: float
    unit: str
    baseline: float | None = None
    target: str = ""
    passed: bool | None = None  # None: no target
    reported_ratio: float | None = None  # the bench's own ratio when it is not value / baseline

    @property
    def ratio(self) -> float | None:
        if self.reported_ratio is not None:
            return self.reported_ratio
        return self.value / self.baseline if self.baseline else None


class BenchFailed(Exception):
    pass


def _num(text: str) -> float:
    return float(text.replace(",", ""))


def _search(pattern: str, text: str, bench: str) -> re.Match[str]:
    match = re.search(pattern, text, re.MULTILINE)
    if match is None:
        raise BenchFailed(f"{bench}: output not understood (no match for {pattern!r})")
    return match


# --- parsers of each bench's output ---------------------------------------------------------------


def render_figures(out: str) -> list[Figure]:
    figures = []
    rows = re.findall(r"^(\S.*?)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*$", out, re.MULTILINE)
    if not rows:
        raise BenchFailed("render: no result rows in the output")
    for name, _pages, render_ms, baseline_ms, ratio in rows:
        figures.append(
            Figure(
                "render",
                # Fastest rounds as figures; the ratio is the bench's median of per-round ratios.
                f"render {name.strip()}",
                _num(render_ms),
                "ms",
                baseline=_num(baseline_ms),
                reported_ratio=float(ratio),
                target="≤ 2.0×",
                passed=float(ratio) <= 2.0,
            )
        )
    signed = re.search(r"render\+sign (.+?): ([\d.]+) ms, of which render ([\d.]+) ms", out)
    if signed:
        figures.append(
            Figure(
                "render",
                f"render+sign {signed.group(1)}",
                _num(signed.group(2)),
                "ms",
                target="< 60 ms",
                passed=_num(signed.group(2)) < 60,
            )
        )
    return figures


def sync_figures(out: str) -> list[Figure]:
    full = _search(r"sync_run \(.*?\):\s+([\d.,]+) s \(([\d,]+) records/s", out, "sync_load")
    copy = _search(r"raw psycopg COPY of the same ([\d,]+) rows:\s+([\d.,]+) s", out, "sync_load")
    records = _search(r"^full batch \d+: ([\d,]+) records", out, "sync_load")
    service, baseline = _num(full.group(1)), _num(copy.group(2))
    figures = [
        Figure(
            "sync_load",
            f"full load, {records.group(1)} records (baseline: raw COPY)",
            service,
            "s",
            baseline=baseline,
            target="≤ 3×",
            passed=service / baseline <= 3,
        )
    ]
    peak = re.search(r"peak memory .*?: ([\d,]+) MB", out)
    if peak:
        figures.append(
            Figure(
                "sync_load",
                "peak memory of the full load",
                _num(peak.group(1)),
                "MB",
                target="< 1,536 MB",
                passed=_num(peak.group(1)) < 1536,
            )
        )
    delta = re.search(r"^delta batch \d+: ([\d,]+) records in ([\d.]+) s", out, re.MULTILINE)
    if delta:
        figures.append(Figure("sync_load", f"delta, {delta.group(1)} records", _num(delta.group(2)), "s"))
    return figures


def kiosk_figures(figures_json: dict[str, Any], label: str) -> list[Figure]:
    baseline_ms = float(figures_json["in_process_seconds"]) * 1000
    # The issue call's p95 is judged against the in-process p95 of the same certificate, when given.
    baseline_p95_ms = (
        float(figures_json.get("in_process_p95_seconds", figures_json["in_process_seconds"])) * 1000
    )
    steps = figures_json.get("steps", {})
    issue = steps.get("issue", {}) if isinstance(steps, dict) else {}
    kiosks = figures_json["kiosks"]
    out = []
    for q, baseline in (("p50", baseline_ms), ("p95", baseline_p95_ms)):
        if q in issue:
            value = float(issue[q]) * 1000
            target, passed = ("≤ 1.5×", value / baseline <= 1.5) if q == "p95" and kiosks == 2 else ("", None)
            out.append(
                Figure("kiosk_load", f"issue {q}, {label} (baseline: in-process {q})", value, "ms",
                       baseline=baseline, target=target, passed=passed)
            )  # fmt: skip
    if figures_json.get("cpu_per_visit_over_in_process") is not None:
        cpu_ms = (
            float(figures_json["app_cpu_per_visit"]) + float(figures_json["postgresql_cpu_per_visit"])
        ) * 1000
        in_process_cpu_ms = float(figures_json["in_process_cpu_seconds"]) * 1000
        out.append(
            Figure("kiosk_load", f"app + PostgreSQL CPU per visit, {label} (baseline: in-process CPU)",
                   cpu_ms, "ms", baseline=in_process_cpu_ms, target="≤ 2×",
                   passed=cpu_ms <= 2 * in_process_cpu_ms)
        )  # fmt: skip
    rate = float(figures_json["issuances_per_second"])
    target_rate = figures_json.get("throughput_target")
    out.append(
        Figure(
            "kiosk_load",
            f"throughput, {label}",
            rate,
            "issuances/s",
            baseline=float(target_rate) / 0.7 if target_rate else None,
            target="≥ 0.7× cores ÷ in-process" if target_rate else "",
            passed=rate >= float(target_rate) if target_rate else None,
        )
    )
    wrong = int(figures_json["wrong_person_documents"])
    errors = int(figures_json["errors"])
    bad = wrong + errors
    out.append(
        Figure(
            "kiosk_load", f"wrong-person documents + errors, {label}", bad, "", target="0", passed=bad == 0
        )
    )
    return out


def audit_figures(out: str) -> list[Figure]:
    figures = []
    without = re.search(r"without auditing \(baseline\): median\s+([\d.]+) ms", out)
    with_ = re.search(r"with auditing:\s+median\s+([\d.]+) ms", out)
    if without and with_:
        value, baseline = _num(with_.group(1)), _num(without.group(1))
        figures.append(
            Figure("audit", "issuance with auditing (baseline: without)", value, "ms", baseline=baseline,
                   target="≤ 1.05×", passed=value / baseline <= 1.05)
        )  # fmt: skip
    stream = re.search(r"baseline, streaming the rows unchecked:\s+([\d.]+) s", out)
    verify = re.search(
        r"audit_verify \(hashes, index rows, \.\.\.\):\s+([\d.]+) s\s+\(\s*([\d,]+) events/s", out
    )
    events = re.search(r"audit_verify throughput over ([\d,]+) events", out)
    if stream and verify and events:
        figures.append(
            Figure("audit", f"audit_verify, {events.group(1)} events (baseline: streaming them)",
                   _num(verify.group(1)), "s", baseline=_num(stream.group(1)))
        )  # fmt: skip
    if not figures:
        raise BenchFailed("audit: output not understood")
    return figures


# --- running ------------------------------------------------------------------------------------


def _database_url(base: str, suffix: str) -> str:
    parts = urlsplit(base)
    name = parts.path.lstrip("/") or "saga_bench"
    return urlunsplit(parts._replace(path=f"/{name}_runall_{suffix}"))


def _admin(base: str, sql: str) -> None:
    import psycopg

    parts = urlsplit(base)
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        conn.execute(sql)


def _fresh_database(base: str, suffix: str) -> str:
    url = _database_url(base, suffix)
    name = urlsplit(url).path.lstrip("/")
    _admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _admin(base, f'CREATE DATABASE "{name}"')
    return url


def _drop_database(base: str, suffix: str) -> None:
    name = urlsplit(_database_url(base, suffix)).path.lstrip("/")
    _admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _run(bench: str, args: list[str], env: dict[str, str], timeout: float) -> str:
    sys.stderr.write(f"--- {bench} {' '.join(args)}\n")
    sys.stderr.flush()
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / f"{bench}.py"), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    sys.stderr.write(done.stdout)
    sys.stderr.write(f"--- {bench}: exit {done.returncode} after {time.monotonic() - started:.0f} s\n")
    if done.returncode not in (0, 1):  # 1: ran, but a target was missed (the table says which)
        raise BenchFailed(f"{bench} exited with {done.returncode}: {done.stderr[-1500:]}")
    return done.stdout


def table(figures: list[Figure]) -> str:
    lines = [
        "| bench | figure | value | same-run baseline | ratio | target | verdict |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    for f in figures:
        unit = f" {f.unit}" if f.unit else ""
        baseline = f"{f.baseline:,.2f}{unit}" if f.baseline is not None else "—"
        ratio = f"{f.ratio:.2f}×" if f.ratio is not None else "—"
        verdict = {None: "", True: "OK", False: "MISSED"}[f.passed]
        value = f"{f.value:,.2f}{unit}"
        lines.append(
            f"| {f.bench} | {f.name} | {value} | {baseline} | {ratio} | {f.target or '—'} | {verdict} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="each bench's own (Saga-scale) defaults")
    parser.add_argument("--only", nargs="*", choices=["render", "sync_load", "kiosk_load", "audit"])
    args = parser.parse_args()
    base = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    if not base.startswith(("postgres://", "postgresql://")):
        sys.stderr.write("bench/run_all.py needs PostgreSQL: set DATABASE_URL=postgres://...\n")
        return 2
    cores = os.cpu_count() or 2
    work = Path(tempfile.mkdtemp(prefix="bench-run-all-"))
    plans: list[tuple[str, Callable[[dict[str, str]], list[Figure]]]] = []

    def env_for(suffix: str | None) -> dict[str, str]:
        env = {**os.environ, "KONBINI_VAR_DIR": str(work / (suffix or "render")), "LOG_LEVEL": "WARNING"}
        env.setdefault("DJANGO_DEBUG", "0")  # as deployed
        if suffix:
            env["DATABASE_URL"] = _fresh_database(base, suffix)
        return env

    def render(env: dict[str, str]) -> list[Figure]:
        return render_figures(_run("render", ["--rounds", "40" if args.full else "10"], env, 1800))

    def sync(env: dict[str, str]) -> list[Figure]:
        scale = [] if args.full else ["--residents", "20000", "--delta", "2000"]
        return sync_figures(_run("sync_load", scale, env, 7200))

    def kiosk(env: dict[str, str]) -> list[Figure]:
        runs = [(2, 30.0), (8, 30.0)] if args.full else [(2, 20.0)]  # the p95 target is at 2 kiosks
        figures = []
        for kiosks, seconds in runs:
            out = work / f"kiosk-{kiosks}.json"
            _run(
                "kiosk_load",
                ["--kiosks", str(kiosks), "--seconds", str(seconds), "--json", str(out)],
                env,
                1800,
            )
            figures += kiosk_figures(json.loads(out.read_text(encoding="utf-8")), f"{kiosks} kiosks")
        return figures

    def audit(env: dict[str, str]) -> list[Figure]:
        scale = [] if args.full else ["--issuances", "20", "--events", "100000"]
        return audit_figures(_run("audit", scale, env, 3600))

    plans = [("render", render), ("sync_load", sync), ("kiosk_load", kiosk), ("audit", audit)]
    figures: list[Figure] = []
    failures: list[str] = []
    for name, plan in plans:
        if args.only and name not in args.only:
            continue
        suffix = None if name == "render" else name
        try:
            figures += plan(env_for(suffix))
        except (BenchFailed, subprocess.TimeoutExpired, OSError) as exc:
            failures.append(f"{name}: {exc}")
        finally:
            if suffix:
                _drop_database(base, suffix)
    scale = "full (each bench's defaults)" if args.full else "quick (run with --full for Saga scale)"
    print(f"Benchmarks, {cores} cores, scale: {scale}\n")
    print(table(figures))
    for failure in failures:
        print(f"\nFAILED {failure}")
    missed = [f for f in figures if f.passed is False]
    return 1 if failures or missed else 0


if __name__ == "__main__":
    sys.exit(main())
