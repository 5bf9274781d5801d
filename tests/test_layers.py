"""The layer rules of the house: each package imports only the layers below it, and each
imports on its own (no import circle hides behind the order in which modules load)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# package -> the project's packages it may import; flows (the wiring and the CLI) and bench
# are the top: nothing imports them, and only they import the consumers beside them
ALLOWED: dict[str, set[str]] = {
    "warehouse": set(),
    "simulator": set(),
    "ingestion": {"warehouse"},
    "models_ml": {"warehouse"},
    "dashboards": {"warehouse", "models_ml"},
    "serving": {"warehouse", "models_ml"},
    "flows": {"warehouse", "simulator", "ingestion", "models_ml", "dashboards", "serving"},
    "bench": {"warehouse", "simulator", "ingestion", "models_ml", "serving", "flows"},
}


def _imported_packages(path: Path) -> set[str]:
    """Top-level names of every `import x` / `from x import y` in a file (lazy ones too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_package_imports_only_the_layers_below_it(package: str) -> None:
    ours = set(ALLOWED)
    wrong = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = (_imported_packages(path) & ours) - ALLOWED[package] - {package}
        if bad:
            wrong[str(path.relative_to(ROOT))] = sorted(bad)
    assert not wrong, f"{package} imports layers it must not: {wrong}"


def test_no_package_imports_flows_or_bench_and_only_the_top_imports_consumers() -> None:
    for package, allowed in ALLOWED.items():
        if package not in {"flows", "bench"}:
            assert not allowed & {"flows", "bench"}, package
            assert not allowed & {"dashboards", "serving"}, package
    assert "warehouse" in ALLOWED and not ALLOWED["warehouse"]


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_each_package_imports_alone(package: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", f"import {package}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_rules_see_a_wrong_import(tmp_path: Path) -> None:
    """The scan itself: a lazy import inside a function is found."""
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from flows.jobs import score_job\n    import serving.app\n")
    assert _imported_packages(module) == {"flows", "serving"}
