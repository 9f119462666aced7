"""The product never depends on the simulators: production does not install them, so any import of
``simulators`` from a product app (at module level, inside a function, or by name through
``importlib``, ``__import__``, ``import_string`` or ``include``) would break or open a demo door there.

The one sanctioned reference is the browser kiosk's URL include in saga_konbini/urls.py, by name and
only under ``apps.is_installed("simulators")``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.saga_konbini.test_production_settings import _production_env, _start

ROOT = Path(__file__).resolve().parents[2]
PRODUCT_APPS = [
    "audit",
    "residents",
    "certificates",
    "kiosk_api",
    "sync",
    "staff",
    "oversight",
    "saga_konbini",
]
LOADERS_BY_NAME = {"import_module", "__import__", "import_string", "include"}


def _names_simulators(module: str | None) -> bool:
    return module is not None and (module == "simulators" or module.startswith("simulators."))


def _called_name(call: ast.Call) -> str:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return ""


def _is_installed_guard(test: ast.expr) -> bool:
    return (
        isinstance(test, ast.Call)
        and _called_name(test) == "is_installed"
        and any(isinstance(a, ast.Constant) and a.value == "simulators" for a in test.args)
    )


def simulator_references(source: str, filename: str) -> list[str]:
    """Every import of ``simulators`` in ``source``, as "line: what"; a load by name counts unless
    it sits under an ``apps.is_installed("simulators")`` condition."""
    tree = ast.parse(source, filename=filename)
    guarded: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If | ast.IfExp) and _is_installed_guard(node.test):
            body = node.body if isinstance(node, ast.If) else [node.body]
            for part in body:
                guarded.update(id(inner) for inner in ast.walk(part))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [f"{node.lineno}: import {a.name}" for a in node.names if _names_simulators(a.name)]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and _names_simulators(node.module):
                found.append(f"{node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.Call) and _called_name(node) in LOADERS_BY_NAME:
            first = node.args[0] if node.args else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                if _names_simulators(first.value) and id(node) not in guarded:
                    found.append(f"{node.lineno}: {_called_name(node)}({first.value!r})")
    return found


def _product_modules() -> list[Path]:
    return sorted(path for app in PRODUCT_APPS for path in (ROOT / app).rglob("*.py"))


def test_the_product_apps_exist_where_the_walk_looks() -> None:
    modules = _product_modules()
    assert {path.relative_to(ROOT).parts[0] for path in modules} == set(PRODUCT_APPS)
    assert len(modules) > 50


def test_no_product_module_imports_the_simulators() -> None:
    offenders = {
        str(path.relative_to(ROOT)): refs
        for path in _product_modules()
        if (refs := simulator_references(path.read_text(encoding="utf-8"), str(path)))
    }
    assert offenders == {}


@pytest.mark.parametrize(
    "source",
    [
        "import simulators\n",
        "import simulators.jpki as ca\n",
        "from simulators.city.cards import card_pin_try\n",
        "def f():\n    from simulators import jpki\n",
        "import importlib\nmod = importlib.import_module('simulators.core_system')\n",
        "from importlib import import_module\ndef f():\n    return import_module('simulators')\n",
        "x = __import__('simulators.jpki')\n",
        "urls = [path('k/', include('simulators.kiosk_browser.urls'))]\n",
        "if settings.DEBUG:\n    from simulators import jpki\n",
        "if apps.is_installed('simulators'):\n    import simulators\n",
    ],
)
def test_each_kind_of_import_is_caught(source: str) -> None:
    assert simulator_references(source, "example.py")


@pytest.mark.parametrize(
    "source",
    [
        "from kiosk_api import pki\n",
        "import simulators_extra\n",
        "from . import simulators\n",
        "x = include('sync.urls')\n",
        "urls = [*([include('simulators.kiosk_browser.urls')] if apps.is_installed('simulators') else [])]\n",
        "if apps.is_installed('simulators'):\n    urls.append(include('simulators.kiosk_browser.urls'))\n",
    ],
)
def test_unrelated_names_and_the_guarded_include_pass(source: str) -> None:
    assert simulator_references(source, "example.py") == []


def test_production_installs_no_simulator_and_routes_no_browser_kiosk(tmp_path: Path) -> None:
    show = (
        "import django; django.setup(); from django.apps import apps; from django.urls import resolve; "
        "import sys; print(apps.is_installed('simulators'), 'simulators' in sys.modules); "
        "resolve('/kiosk-simulator/')"
    )
    result = _start(_production_env(tmp_path), "-c", show)
    assert result.stdout.split() == ["False", "False"], result.stderr
    assert "Resolver404" in result.stderr


def test_production_has_no_demo_commands(tmp_path: Path) -> None:
    for command in ("seed_demo", "core_sim", "kiosk"):
        result = _start(_production_env(tmp_path), "manage.py", command, "--help")
        assert result.returncode != 0
        assert f"Unknown command: '{command}'" in result.stderr


def test_development_installs_the_simulators_and_their_commands(tmp_path: Path) -> None:
    result = _start(_production_env(tmp_path, SAGA_ENV="development"), "manage.py", "core_sim", "--help")
    assert result.returncode == 0, result.stderr
    assert "revoke" in result.stdout
