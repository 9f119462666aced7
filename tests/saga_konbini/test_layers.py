"""The layers as code: import-linter's contracts in pyproject.toml (docs/architecture.md draws them).

The project itself keeps every contract, and a violation, at module level or inside a function,
breaks the build: each violation is written into a copy of the source, never into the tree itself.
import-linter cannot see a module loaded by its name at run time, so no product module does that.
"""

from __future__ import annotations

import ast
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


LOADERS_BY_NAME = {"import_module", "import_string", "__import__", "get_model"}


def _loads_an_app_by_name(call: ast.Call) -> bool:
    name = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
    if name not in LOADERS_BY_NAME:
        return False
    first = call.args[0] if call.args else None
    return isinstance(first, ast.Constant) and str(first.value).split(".")[0] in ROOT_PACKAGES


def test_no_product_module_loads_an_app_by_name() -> None:
    product = [package for package in ROOT_PACKAGES if package != "simulators"]
    found = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for package in product
        for path in sorted((ROOT / package).rglob("*.py"))
        if "migrations" not in path.parts
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path)))
        if isinstance(node, ast.Call) and _loads_an_app_by_name(node)
    ]
    assert found == []


def test_the_name_check_sees_a_load_by_name() -> None:
    call = ast.parse('import_string("sync.selectors.resident_codes_sync_blocked")').body[0]
    assert isinstance(call, ast.Expr) and isinstance(call.value, ast.Call)
    assert _loads_an_app_by_name(call.value)
