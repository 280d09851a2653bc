"""The benchmarks live beside the packages, never inside them: ``python -m benchmarks``."""

from __future__ import annotations

import ast
from pathlib import Path

from click.testing import CliRunner

from benchmarks.__main__ import main

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("station", "drivers", "matcher", "calibration")


def test_every_benchmark_is_a_command_of_python_m_benchmarks() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0, result.output
    for name in ("face", "fingerprint", "scanner", "liveness", "roll", "handover", "dedup"):
        assert name in result.output
    for name in ("face", "fingerprint", "scanner", "liveness", "roll", "handover", "dedup"):
        help_text = CliRunner().invoke(main, [name, "--help"]).output
        assert "--datasets" in help_text and "--json" in help_text


def test_no_installed_package_imports_the_benchmarks() -> None:
    offenders = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                names = (
                    [alias.name for alias in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                    if isinstance(node, ast.ImportFrom)
                    else []
                )
                offenders += [
                    f"{path.relative_to(ROOT)}: {n}"
                    for n in names
                    if n.split(".")[0] == "benchmarks"
                ]
    assert offenders == []


def test_the_fingerprint_bench_refuses_an_unknown_fold() -> None:
    result = CliRunner().invoke(main, ["fingerprint", "--folds", "A,C"])
    assert result.exit_code == 2 and "use A, B or A,B" in result.output
