"""The layers as code: import-linter's contracts in pyproject.toml (docs/architecture.md draws them).

The project itself keeps every contract, and a violation, at module level or inside a function,
breaks the build: each violation is written into a copy of the source, never into the tree itself.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
ROOT_PACKAGES: list[str] = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"][
    "root_packages"
]


def _lint_imports(where: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=where,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(where)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def source_copy(tmp_path: Path) -> Path:
    """The Python source of every root package and the contracts, in a folder of their own."""
    for package in ROOT_PACKAGES:
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("*.pyc", "__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_project_keeps_every_contract() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "source", "broken"),
    [
        # audit imports no other app: the auditors' search reads names from oversight/, above it.
        ("audit/names.py", "from residents.models import Resident\n", "Each app imports only the layers"),
        # Inside a function is no way around it.
        (
            "certificates/late.py",
            "def blocked():\n    from sync.selectors import resident_codes_sync_blocked\n",
            "Each app imports only the layers",
        ),
        # A layer never reaches up: residents does not know the kiosks.
        ("residents/up.py", "import kiosk_api.models\n", "Each app imports only the layers"),
        # saga_konbini's plumbing references no app (only its wiring modules do).
        ("saga_konbini/lookup.py", "from sync.models import SyncCursor\n", "saga_konbini: only its wiring"),
        ("staff/demo.py", "from simulators import jpki\n", "The product never imports the simulators"),
    ],
)
def test_a_violation_breaks_the_build(source_copy: Path, module: str, source: str, broken: str) -> None:
    (source_copy / module).write_text(source)
    result = _lint_imports(source_copy)
    assert result.returncode != 0
    assert any(line.startswith(broken) and "BROKEN" in line for line in result.stdout.splitlines()), (
        result.stdout
    )
    # The report names the offending module.
    assert module.removesuffix(".py").replace("/", ".") in result.stdout
