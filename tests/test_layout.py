"""The tree shows the flow, the import name is lomsong, and coverage.py can live beside it."""

from __future__ import annotations

import ast
import fnmatch
import os
import subprocess
import sys
import tomllib
from pathlib import Path

from lomsong import paths

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("reference", "readers", "tables", "analysis", "products", "jobs", "simulate", "cli")


def _python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, check=False)


def test_coverage_py_imports_beside_lomsong_from_the_project_root():
    # The project root first on sys.path (as `python -m pytest` and `python -c` put it) must not
    # make the folder coverage/ shadow coverage.py, which pytest-cov and most CI set-ups bring.
    code = (
        "import sys, coverage, lomsong.cli, lomsong.jobs.run;"
        "assert 'site-packages' in coverage.__file__, coverage.__file__;"
        "cov = coverage.Coverage(data_file=None); cov.start(); cov.stop();"
        "print(lomsong.__name__, lomsong.__file__)"
    )
    completed = _python(code, ROOT)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("lomsong ") and "/coverage/__init__.py" in completed.stdout


def test_python_m_lomsong_runs_the_command_line():
    completed = subprocess.run(
        [sys.executable, "-m", "lomsong", "--help"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stderr
    assert "ingest" in completed.stdout and "run" in completed.stdout


def test_every_subpackage_is_installed():
    packages = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    folders = {
        ".".join(("lomsong", *init.parent.relative_to(ROOT / "coverage").parts)).rstrip(".")
        for init in (ROOT / "coverage").rglob("__init__.py")
    }
    assert folders <= packages, f"add to pyproject.toml's packages: {sorted(folders - packages)}"
    assert {f"lomsong.{part}" for part in PARTS} <= packages


def test_no_import_cycle_and_the_layering_rules_hold():
    checker = paths.project_root().parent / "shared" / "tools" / "check_layers.py"
    assert checker.is_file(), f"{checker}: the layering check (shared/tools) is not beside the checkout"
    completed = subprocess.run(
        [sys.executable, str(checker), str(ROOT)], capture_output=True, text=True, check=False, env=os.environ
    )
    assert completed.returncode == 0, completed.stdout
    assert "FAIL" not in completed.stdout


def test_library_code_does_not_print_or_read_test_hooks():
    """Only the command line prints (and a module's own ``if __name__ == "__main__"`` block)."""
    offenders = []
    for path in (ROOT / "coverage").rglob("*.py"):
        if "cli" in path.relative_to(ROOT / "coverage").parts or path.name == "__main__.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        script = [node for node in tree.body if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test)]
        allowed = {id(n) for block in script for n in ast.walk(block)}
        for node in ast.walk(tree):
            call = isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print"
            if call and id(node) not in allowed:
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: print")
            if isinstance(node, ast.Constant) and node.value == "LOMSONG_STORE_PAUSE":
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: test hook")
    assert not offenders, offenders


def test_tests_mirror_the_tree_and_share_only_support_modules():
    """``coverage/<part>/`` has its tests in ``tests/<part>/``; tests import helpers, never each other."""
    parts = {p.name for p in (ROOT / "coverage").iterdir() if (p / "__init__.py").exists()} | {"api"}
    folders = {p.name for p in (ROOT / "tests").iterdir() if (p / "__init__.py").exists()}
    cross_cutting = {"support", "hostile"}
    assert parts - folders == set(), "parts without a tests/ folder"
    assert folders - parts - cross_cutting == set(), "tests/ folders that mirror no part"
    assert list((ROOT / "tests").glob("test_*.py")) == [ROOT / "tests" / "test_layout.py"]
    for path in (ROOT / "tests").rglob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                name = node.module.split(".")
                assert not any(n.startswith("test_") for n in name), f"{path.name} imports {node.module}"


def test_every_file_a_package_reads_is_installed_with_it():
    """Templates and static files ship in a wheel too, not only in an editable checkout."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {name: ROOT / "coverage" / Path(*name.split(".")[1:]) for name in setuptools["packages"]}
    folders["api"] = ROOT / "api"
    for package, folder in folders.items():
        data = [
            p for p in folder.iterdir() if p.is_dir() and not (p / "__init__.py").exists() and p.name != "__pycache__"
        ]
        globs = setuptools.get("package-data", {}).get(package, [])
        for sub in data:
            for path in sub.rglob("*"):
                if path.is_file():
                    relative = path.relative_to(folder).as_posix()
                    assert any(fnmatch.fnmatch(relative, g) for g in globs), f"{package}: {relative} is not installed"
