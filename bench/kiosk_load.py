"""Kiosk load bench: N simulated kiosks for T seconds against gunicorn on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/saga_bench REDIS_URL=redis://127.0.0.1:6379/9 \\
        .venv/bin/python bench/kiosk_load.py --kiosks 8 --seconds 30

The database named by DATABASE_URL is migrated and receives this run's residents (codes prefixed
with the run id); use a database of its own. The bench starts gunicorn as deployed
(deploy/gunicorn.conf.py: sync workers, two per core) on a free port, runs every kiosk as a thread
speaking HTTP through ``simulators.kiosk_client`` (start, card, issue, fetch, complete, end, in a loop
with its own card), and prints issuances per second, p50/p95/p99 per step, errors, and the
issuance call's p50/p95 against the in-process time of issuing the same certificate
(``certificate_issue``: eligibility, numbers, render, sign, self-check) measured in the same run,
before the load. Afterwards every PDF is checked to name its own holder
and nobody else (the signed payloads of every copy).

What a visit costs, measured from outside the app during the measured window (the machine may be
shared: these are ratios against the same run's in-process certificate, not absolute figures):

- CPU per completed visit of the app (gunicorn's processes) and of PostgreSQL (only the backends
  connected to this run's database), read from /proc, next to the in-process CPU of the same
  certificate;
- SQL statements per visit (counted by the workers, bench/counted_wsgi.py) and commits per visit
  (PostgreSQL's own count for the database, the bench's monitoring queries taken out).

Targets judged:

- (app + PostgreSQL CPU per visit) ≤ 2 × the in-process CPU of the certificate;
- at 2 kiosks, issuance p95 ≤ 1.5 × the in-process p95 of the same certificate;
- zero errors, zero wrong-person documents.

Exit status 0 when the targets that apply to this run hold, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STEPS = ("start", "authenticate", "issue", "fetch", "complete", "end")
REQUESTS: dict[str, dict[str, Any]] = {
    "juminhyo": {"scope": "all", "show_relationship": True},
    "inkan": {},
    "shotoku_kazei": {"fiscal_year": None},  # filled with the latest offered year
    "nozei": {"fiscal_year": None},
}
FAMILY_NAMES = (
    "山田 田中 鈴木 高橋 伊藤 渡辺 中村 小林 加藤 吉田 山口 松本 井上 木村 清水 山崎 森本 池田 橋本 石川 "
    "前田 藤田 岡田 後藤 長谷川 村上 近藤 石井 斎藤 坂本 遠藤 青木 藤井 西村 福田 太田 三浦 藤原 岡本 松田"
).split()


def _setup_environment(work: Path) -> dict[str, str]:
    """Settings for this process and for gunicorn: everything under ``work``, the shared DB and Redis."""
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        sys.exit("DATABASE_URL must name a PostgreSQL database of its own for the bench")
    pki = work / "pki"
    env = {
        "DJANGO_SETTINGS_MODULE": "saga_konbini.settings",
        "KONBINI_VAR_DIR": str(work / "var"),
        "KONBINI_PKI_DIR": str(pki),
        "KONBINI_TRUSTED_CA_FILES": str(pki / "jpki-test-ca.pem"),
        "KONBINI_CRL_SOURCES": str(pki / "jpki-test-ca.crl"),
        "KONBINI_SIGNING_DIR": str(work / "signing"),
        "KONBINI_SERVICE_HOURS": "00:00-24:00",
        "KONBINI_TERMINAL_REQUESTS_PER_MINUTE": "1000000",
        "LOG_LEVEL": "WARNING",
        # As deployed: DEBUG on would record every SQL statement of every request.
        "DJANGO_DEBUG": "0",
    }
    os.environ.update(env)
    return {**os.environ, **env}


@dataclass
class Holder:
    resident_id: int
    family_name: str
    household_names: frozenset[str]
    card: Any  # simulators.kiosk_client.CardKey


def _seed(*, kiosks: int, run_id: str) -> tuple[list[Holder], list[str]]:
    """One ok holder (household of two, seal, tax) and one terminal per kiosk."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from django.conf import settings
    from django.utils import timezone

    from audit.services import Actor
    from kiosk_api.services import terminal_register
    from residents.crypto import my_number_encrypt
    from residents.models import CardLink, Household, Resident, SealRegistration, TaxAssessment, TaxPayment
    from residents.my_number import my_number_check_digit
    from simulators import jpki as jpki_sim
    from simulators.kiosk_client import CardKey

    ca = jpki_sim.test_ca_load_or_create(pki_dir=settings.KONBINI_PKI_DIR)
    jpki_sim.crl_publish(ca=ca)
    now = timezone.now()
    today = timezone.localdate()
    tax_year = today.year if today >= date(today.year, 6, 1) else today.year - 1
    holders: list[Holder] = []
    tokens: list[str] = []
    for index in range(kiosks):
        family = FAMILY_NAMES[index % len(FAMILY_NAMES)] + ("" if index < len(FAMILY_NAMES) else str(index))
        code = f"B{run_id}{index:04d}"
        household = Household.objects.create(
            household_code=f"H{code}",
            address=f"佐賀県佐賀市松原{index % 4 + 1}丁目1番1号",
            head_resident_code=code,
        )
        people = []
        for member, (given, born, relationship) in enumerate(
            [("太郎", date(1980, 4, 2), "世帯主"), ("花子", date(1982, 8, 15), "妻")]
        ):
            resident_code = f"{code}{member}"
            if member == 0:
                household.head_resident_code = resident_code
                household.save(update_fields=["head_resident_code"])
            eleven = f"{secrets.randbelow(10**11):011d}"
            people.append(
                Resident.objects.create(
                    resident_code=resident_code,
                    household=household,
                    family_name=family,
                    given_name=given,
                    family_name_kana="ヤマダ",
                    given_name_kana="タロウ",
                    birth_date=born,
                    sex="male" if member == 0 else "female",
                    relationship=relationship,
                    address=household.address,
                    became_resident_on=date(2005, 4, 1),
                    address_since=date(2005, 4, 1),
                    previous_address="福岡県福岡市中央区天神1丁目1番1号",
                    honseki="佐賀県佐賀市城内1丁目1番",
                    hittosha=f"{family}　太郎",
                    my_number_encrypted=my_number_encrypt(
                        eleven + str(my_number_check_digit(eleven)), resident_code=resident_code
                    ),
                    status="active",
                    synced_at=now,
                )
            )
        holder = people[0]
        SealRegistration.objects.create(
            registration_number=f"S{code}",
            resident=holder,
            seal_image_png=_seal_png(),
            registered_on=date(2010, 5, 10),
            status="active",
            synced_at=now,
        )
        TaxAssessment.objects.create(
            resident=holder,
            fiscal_year=tax_year,
            address_on_jan1=household.address,
            declared=True,
            income={"salary": 3_560_000},
            total_income=3_560_000,
            deductions={"basic": 430_000},
            total_deductions=430_000,
            taxable_income=3_130_000,
            municipal_income_levy=187_800,
            municipal_per_capita=3_500,
            prefectural_income_levy=125_200,
            prefectural_per_capita=1_500,
            total_tax=318_000,
            synced_at=now,
        )
        TaxPayment.objects.create(
            resident=holder,
            fiscal_year=tax_year,
            tax_item="個人市県民税",
            assessed=318_000,
            paid=318_000,
            unpaid=0,
            synced_at=now,
        )
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        certificate = jpki_sim.user_certificate_issue(
            ca=ca,
            public_key=key.public_key(),
            birth_date=holder.birth_date,
            issued_on=today - timedelta(days=1),
        )
        CardLink.objects.create(
            issuer=certificate.issuer.rfc4514_string(),
            serial=jpki_sim.serial_hex(certificate.serial_number),
            resident=holder,
            active_from=today - timedelta(days=30),
            synced_at=now,
        )
        holders.append(
            Holder(
                resident_id=holder.pk,
                family_name=family,
                household_names=frozenset(p.full_name for p in people),
                card=CardKey(certificate=certificate, private_key=key),
            )
        )
        _terminal, token = terminal_register(
            name=f"ベンチ{index + 1}号機",
            chain="seven_eleven",
            store_code=f"B-{run_id}-{index}",
            actor=Actor.job("bench"),
        )
        tokens.append(token)
    REQUESTS["shotoku_kazei"]["fiscal_year"] = tax_year
    REQUESTS["nozei"]["fiscal_year"] = tax_year
    return holders, tokens


def _revocation_list_load() -> None:
    """What the periodic job does before the first kiosk call: load the test CA's CRL."""
    from django.conf import settings
    from django.utils import timezone

    from kiosk_api.crl import crl_refresh

    crl_refresh(sources=settings.KONBINI_CRL_SOURCES, now=timezone.now())


def _seal_png() -> bytes:
    import base64

    return base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
    )


@dataclass(frozen=True)
class InProcess:
    """certificate_issue of the same certificate in this process: wall time and CPU time."""

    p50: float
    p95: float
    cpu: float  # median CPU seconds of this process per certificate


def _in_process(*, holder: Holder, cert_type: str, rounds: int) -> InProcess:
    """certificate_issue for the same certificate, in this process, ``rounds`` times."""
    from django.utils import timezone

    from audit.services import Actor
    from certificates.lifecycle import issuance_void
    from certificates.options import IssueRequest
    from certificates.services import certificate_issue
    from residents.models import CardLink, Resident

    resident = Resident.objects.get(pk=holder.resident_id)
    link = CardLink.objects.get(resident=resident)
    options = REQUESTS[cert_type]
    request = IssueRequest(
        cert_type=cert_type,
        copies=1,
        scope=options.get("scope", "all"),
        show_relationship=bool(options.get("show_relationship", False)),
        fiscal_year=options.get("fiscal_year"),
    )
    actor = Actor.job("bench")
    timings = []
    cpu_times = []
    for attempt in range(rounds + 1):
        began, began_cpu = time.perf_counter(), time.process_time()
        issued = certificate_issue(
            holder=resident,
            request=request,
            actor=actor,
            terminal_label="bench",
            now=timezone.now(),
            card_link=link,
        )
        elapsed, cpu = time.perf_counter() - began, time.process_time() - began_cpu
        issuance_void(issuance_id=issued.issuance.pk, reason="bench baseline", actor=actor)
        if attempt:  # the first round loads fonts and keys
            timings.append(elapsed)
            cpu_times.append(cpu)
    return InProcess(
        p50=statistics.median(timings), p95=_percentile(timings, 0.95), cpu=statistics.median(cpu_times)
    )


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU of one process, from /proc/<pid>/stat (None once it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) ": state is fields[0]
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def _process_tree(pid: int) -> set[int]:
    found = {pid}
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return found
    for child in children:
        found |= _process_tree(int(child))
    return found


class CostMeter:
    """CPU of the app's processes and of this database's PostgreSQL backends, and the database's
    commits, over the measured window. Samples /proc every quarter second, so that a process that
    ends within the window is still counted up to its last sample."""

    def __init__(self, *, app_pid: int) -> None:
        import psycopg
        from django.conf import settings

        database = settings.DATABASES["default"]
        self.monitor = psycopg.connect(
            host=database["HOST"] or None,
            port=database["PORT"] or None,
            user=database["USER"],
            password=database["PASSWORD"] or None,
            dbname=database["NAME"],
            autocommit=True,
        )
        self.app_pid = app_pid
        self.queries = 0  # the monitor's own statements, each a commit of its own
        self.first: dict[str, dict[int, float]] = {"app": {}, "postgresql": {}}
        self.last: dict[str, dict[int, float]] = {"app": {}, "postgresql": {}}
        self.commits_before = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._sample_until_stopped, daemon=True)

    def _query(self, sql: str) -> list[tuple[Any, ...]]:
        self.queries += 1
        return self.monitor.execute(sql).fetchall()

    def _commits(self) -> int:
        self._query("SELECT pg_stat_clear_snapshot()")
        return int(
            self._query("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")[0][0]
        )

    def _sample(self, *, starting: bool) -> None:
        backends = {
            int(row[0])
            for row in self._query(
                "SELECT pid FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        }
        for kind, pids in (("app", _process_tree(self.app_pid)), ("postgresql", backends)):
            for pid in pids:
                cpu = _cpu_seconds(pid)
                if cpu is None:
                    continue
                # A process first seen after the start was born within the window: from zero.
                self.first[kind].setdefault(pid, cpu if starting else 0.0)
                self.last[kind][pid] = cpu

    def _sample_until_stopped(self) -> None:
        while not self.stop.wait(0.25):
            self._sample(starting=False)

    def start(self) -> None:
        self.commits_before = self._commits()
        self.queries = 0
        self._sample(starting=True)
        self.thread.start()

    def finish(self) -> dict[str, float]:
        self.stop.set()
        self.thread.join()
        self._sample(starting=False)
        time.sleep(1.0)  # PostgreSQL publishes a backend's counts within about a second
        commits = self._commits() - self.commits_before - self.queries
        cpu = {
            kind: sum(self.last[kind][pid] - self.first[kind][pid] for pid in self.last[kind])
            for kind in self.last
        }
        self.monitor.close()
        return {"app_cpu": cpu["app"], "postgresql_cpu": cpu["postgresql"], "commits": commits}


def _statements(count_dir: Path) -> int:
    """The workers' statements so far (each writes its running total after every request)."""
    return sum(int(path.read_text().split()[0]) for path in count_dir.iterdir())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _gunicorn_start(env: dict[str, str], workers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    # The deployed configuration (deploy/gunicorn.conf.py, its access log included), on a free port.
    config = "deploy/gunicorn.conf.py"
    # bench/counted_wsgi.py: the deployed application, counting each worker's SQL statements.
    command = [sys.executable, "-m", "gunicorn", "-c", config, "bench.counted_wsgi:application"]
    env = {**env, "GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_WORKERS": str(workers)}
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"gunicorn exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2):  # noqa: S310
                return process, url
        except OSError:
            time.sleep(0.2)
    process.kill()
    sys.exit("gunicorn did not start in time")


@dataclass
class Results:
    timings: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    documents: list[tuple[int, bytes]] = field(default_factory=list)  # (kiosk index, pdf)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Timer:
    """Times each step of one visit into the visit's own dict."""

    def __init__(self, timings: dict[str, float]) -> None:
        self.timings = timings

    def __call__(self, step: str, call: Any, *args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        value = call(*args, **kwargs)
        self.timings[step] = time.perf_counter() - began
        return value


def _kiosk(
    *, index: int, url: str, token: str, holder: Holder, cert_type: str, stop_at: float, results: Results
) -> None:
    from simulators.kiosk_client import KioskApiError, KioskClient

    client = KioskClient(url, token, timeout=120)
    while time.monotonic() < stop_at:
        timings: dict[str, float] = {}
        timed = _Timer(timings)

        try:
            session = timed("start", client.session_start)
            timed(
                "authenticate", client.authenticate, session["session_id"], holder.card, session["challenge"]
            )
            issuance = timed(
                "issue",
                client.issue,
                session["session_id"],
                cert_type=cert_type,
                copies=1,
                options=REQUESTS[cert_type],
            )
            pdf = timed("fetch", client.document, issuance)
            timed("complete", client.complete, int(issuance["issuance_id"]), "printed")
            timed("end", client.session_end, session["session_id"])
        except KioskApiError as exc:
            with results.lock:
                results.errors.append(f"kiosk {index}: {exc.status} {exc.code}")
            continue
        with results.lock:
            for step, seconds in timings.items():
                results.timings[step].append(seconds)
            results.documents.append((index, pdf))


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _wrong_person_documents(results: Results, holders: list[Holder], cert_type: str) -> int:
    from certificates.rendering import read_verification_payloads
    from certificates.signing import payload_verify

    wrong = 0
    for index, pdf in results.documents:
        holder = holders[index]
        names = {
            str(p[0]) for token in read_verification_payloads(pdf) for p in payload_verify(token).get("p", [])
        }
        expected = holder.household_names if cert_type == "juminhyo" else {f"{holder.family_name}　太郎"}
        if names != expected:
            wrong += 1
    return wrong


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kiosks", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--type", default="juminhyo", choices=sorted(REQUESTS))
    parser.add_argument(
        "--workers",
        type=int,
        default=2 * (os.cpu_count() or 1),
        help="gunicorn workers (default: deploy/gunicorn.conf.py's, 2 per core)",
    )
    parser.add_argument("--baseline-rounds", type=int, default=20)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    cores = os.cpu_count() or 1

    with tempfile.TemporaryDirectory(prefix="kiosk-bench-") as work_dir:
        env = _setup_environment(Path(work_dir))
        count_dir = Path(work_dir) / "statements"
        count_dir.mkdir()
        env["KONBINI_BENCH_COUNT_DIR"] = str(count_dir)
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        run_id = secrets.token_hex(3).upper()
        holders, tokens = _seed(kiosks=args.kiosks, run_id=run_id)
        _revocation_list_load()
        in_process = _in_process(holder=holders[0], cert_type=args.type, rounds=args.baseline_rounds)
        baseline = in_process.p50
        from django.db import connections

        connections.close_all()

        process, url = _gunicorn_start(env, args.workers)
        try:
            # Warm-up: every worker loads fonts and keys before the clock starts. A sync worker
            # serves one request at a time, so rounds of as many concurrent visits as workers
            # reach every worker (a cold worker's first PDF costs seconds).
            warm = Results()
            for _round in range(3):
                warm_threads = [
                    threading.Thread(
                        target=_kiosk,
                        kwargs={
                            "index": i % args.kiosks,
                            "url": url,
                            "token": tokens[i % args.kiosks],
                            "holder": holders[i % args.kiosks],
                            "cert_type": args.type,
                            "stop_at": time.monotonic() + 0.01,
                            "results": warm,
                        },
                    )
                    for i in range(args.workers)
                ]
                for thread in warm_threads:
                    thread.start()
                for thread in warm_threads:
                    thread.join()
            if warm.errors:
                print(f"  warm-up errors: {sorted(set(warm.errors))[:5]}")
            results = Results()
            statements_before = _statements(count_dir)
            meter = CostMeter(app_pid=process.pid)
            meter.start()
            began = time.monotonic()
            stop_at = began + args.seconds
            threads = [
                threading.Thread(
                    target=_kiosk,
                    kwargs={
                        "index": i,
                        "url": url,
                        "token": tokens[i],
                        "holder": holders[i],
                        "cert_type": args.type,
                        "stop_at": stop_at,
                        "results": results,
                    },
                )
                for i in range(args.kiosks)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=args.seconds + 300)
            elapsed = time.monotonic() - began
            cost = meter.finish()
            statements = _statements(count_dir) - statements_before
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()

        wrong = _wrong_person_documents(results, holders, args.type)
        issued = len(results.documents)
        throughput = issued / elapsed if elapsed else 0.0
        ok = not results.errors and wrong == 0 and issued > 0
        figures: dict[str, Any] = {
            "kiosks": args.kiosks,
            "cores": cores,
            "workers": args.workers,
            "seconds": round(elapsed, 1),
            "type": args.type,
            "issuances": issued,
            "issuances_per_second": round(throughput, 2),
            "errors": len(results.errors),
            "wrong_person_documents": wrong,
            "in_process_seconds": round(baseline, 4),
            "in_process_p95_seconds": round(in_process.p95, 4),
            "in_process_cpu_seconds": round(in_process.cpu, 4),
            "app_cpu_per_visit": round(cost["app_cpu"] / issued, 4) if issued else None,
            "postgresql_cpu_per_visit": round(cost["postgresql_cpu"] / issued, 4) if issued else None,
            "statements_per_visit": round(statements / issued, 1) if issued else None,
            "commits_per_visit": round(cost["commits"] / issued, 1) if issued else None,
            "steps": {
                step: {
                    "p50": round(_percentile(values, 0.50), 4),
                    "p95": round(_percentile(values, 0.95), 4),
                    "p99": round(_percentile(values, 0.99), 4),
                }
                for step, values in results.timings.items()
                if values
            },
        }
        issue_steps = figures["steps"].get("issue")
        print(f"kiosk load: {args.kiosks} kiosks, {cores} cores, {args.workers} workers, {elapsed:.1f} s")
        print(f"  certificate: {args.type}; issuances: {issued} ({throughput:.2f}/s)")
        print(f"  errors: {len(results.errors)}, wrong-person documents: {wrong}")
        print(
            f"  in-process certificate_issue (same certificate, same run): p50 {baseline * 1000:.0f} ms,"
            f" p95 {in_process.p95 * 1000:.0f} ms, CPU {in_process.cpu * 1000:.0f} ms"
        )
        if issued:
            app_cpu, pg_cpu = cost["app_cpu"] / issued, cost["postgresql_cpu"] / issued
            cpu_ratio = (app_cpu + pg_cpu) / in_process.cpu
            figures["cpu_per_visit_over_in_process"] = round(cpu_ratio, 2)
            print(
                f"  CPU per visit: app {app_cpu * 1000:.0f} ms + PostgreSQL {pg_cpu * 1000:.0f} ms"
                f" = {cpu_ratio:.2f}× the in-process certificate"
            )
            per_visit = f"{statements / issued:.1f} SQL statements, {cost['commits'] / issued:.1f} commits"
            print(f"  per visit: {per_visit}")
            passed = cpu_ratio <= 2.0
            ok &= passed
            print(
                f"  target: (app + PostgreSQL CPU) per visit ≤ 2× in-process: {'PASS' if passed else 'FAIL'}"
            )
        for step in STEPS:
            if step in figures["steps"]:
                s = figures["steps"][step]
                p50, p95, p99 = (s[q] * 1000 for q in ("p50", "p95", "p99"))
                print(f"  {step:<13} p50 {p50:7.0f} ms  p95 {p95:7.0f} ms  p99 {p99:7.0f} ms")
        for message in sorted(set(results.errors))[:10]:
            print(f"  error: {message}")
        if issue_steps:
            ratio_p50 = issue_steps["p50"] / baseline
            ratio_p95 = issue_steps["p95"] / in_process.p95
            figures["issue_p50_over_in_process"] = round(ratio_p50, 2)
            figures["issue_p95_over_in_process_p95"] = round(ratio_p95, 2)
            print(f"  issue p50 / in-process p50: {ratio_p50:.2f}×   p95 / in-process p95: {ratio_p95:.2f}×")
            if args.kiosks == 2:
                passed = ratio_p95 <= 1.5
                ok &= passed
                verdict = "PASS" if passed else "FAIL"
                print(f"  target (2 kiosks): issue p95 ≤ 1.5× in-process p95: {verdict}")
        verdict = "PASS" if not results.errors and not wrong else "FAIL"
        print(f"  zero errors and zero wrong-person documents: {verdict}")
        if args.json:
            Path(args.json).write_text(json.dumps(figures, ensure_ascii=False, indent=2), encoding="utf-8")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
