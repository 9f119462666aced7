"""bench/run_all.py reads each bench's printed figures: the parsers against the benches' real output."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def run_all() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_run_all", ROOT / "bench" / "run_all.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_run_all"] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


RENDER = """fastest of the rounds; ratio = median of the per-round ratios (target ≤ 2.0)
certificate            pages  render ms  baseline ms   ratio
住民票 4人 (全項目)               1      116.3         71.4    1.92
印鑑登録証明書                    1       84.6         47.0    2.71
render+sign 住民票 4人: 217.2 ms, of which render 89.6 ms (target < 60 ms)
"""
SYNC = """full batch 0000000001: 162,453 records (60 MB), initial load into an empty mirror
  sync_run (parse, validate, encrypt, upsert, audit):     24.9 s (6,524 records/s, 20.1 s CPU in this process), quarantined 0
  raw psycopg COPY of the same 162,453 rows:           5.6 s (3.0 s CPU in this process)
  ratio 4.45x (target <= 3x): OVER TARGET
  peak memory (ru_maxrss) after the full load: 163 MB (target < 1,536 MB): OK
delta batch 0000000002: 2,000 records in 1.13 s, quarantined 0
"""  # noqa: E501
AUDIT = """(a) cost of auditing per issuance (certificate_issue, 住民票 1 copy)
    without auditing (baseline): median   146.00 ms
    with auditing:               median   150.36 ms
(b) audit_verify throughput over 100,000 events (loaded with COPY in 9.0 s)
    baseline, streaming the rows unchecked:    14.8 s  (     6,735 events/s)
    audit_verify (hashes, index rows, ...):    33.9 s  (     2,954 events/s)
"""


def test_render_rows_keep_the_bench_ratio_and_judge_the_target(run_all):
    figures = run_all.render_figures(RENDER)
    assert [(f.value, f.baseline, f.ratio, f.passed) for f in figures[:2]] == [
        (116.3, 71.4, 1.92, True),
        (84.6, 47.0, 2.71, False),
    ]
    assert figures[2].name == "render+sign 住民票 4人" and figures[2].passed is False


def test_sync_load_ratio_is_against_the_copy_baseline(run_all):
    full, peak, delta = run_all.sync_figures(SYNC)
    assert (full.value, full.baseline, full.passed) == (24.9, 5.6, False)
    assert round(full.ratio, 2) == 4.45
    assert (peak.value, peak.passed) == (163, True)
    assert delta.value == 1.13


def test_audit_figures_and_kiosk_json(run_all):
    cost, verify = run_all.audit_figures(AUDIT)
    assert (cost.value, cost.baseline, cost.passed) == (150.36, 146.0, True)
    assert (verify.value, verify.baseline) == (33.9, 14.8)
    kiosk = run_all.kiosk_figures(
        {
            "kiosks": 2,
            "cores": 2,
            "issuances_per_second": 1.89,
            "errors": 0,
            "wrong_person_documents": 0,
            "in_process_seconds": 0.36,
            "steps": {"issue": {"p50": 0.48, "p95": 0.9}},
        },
        "2 kiosks",
    )
    p95 = next(f for f in kiosk if f.name.startswith("issue p95"))
    assert p95.passed is False and round(p95.ratio, 2) == 2.5
    assert kiosk[-1].value == 0 and kiosk[-1].passed is True


def test_output_that_is_not_understood_fails_loudly(run_all):
    with pytest.raises(run_all.BenchFailed):
        run_all.sync_figures("something else entirely")
    table = run_all.table(run_all.render_figures(RENDER))
    assert table.splitlines()[0].startswith("| bench | figure | value | same-run baseline | ratio |")
