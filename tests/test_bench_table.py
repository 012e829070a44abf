"""README.md's benchmark table is what tests/benchmarks/results.json records (tests/bench_table.py)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bench_table import BEGIN, END, main, render, replace_table
from tests.benchmarks.results import RESULTS, command_for, load_results, record

ROOT = Path(__file__).resolve().parents[1]


def test_readme_table_is_current() -> None:
    run = subprocess.run([sys.executable, "-m", "tests.bench_table", "--check"], cwd=ROOT,
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr


def test_every_recorded_result_is_a_row_of_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index(BEGIN) : readme.index(END)]
    results = load_results(RESULTS)
    assert results
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| benchmark |")]
    assert len(rows) == len(results)
    for row, result in zip(rows, results.values(), strict=True):
        assert result.date in row and result.command in row
        assert result.command.startswith(".venv/bin/python -m pytest tests/benchmarks/")


def test_a_new_figure_changes_the_table_in_place(tmp_path: Path) -> None:
    results, readme = tmp_path / "results.json", tmp_path / "README.md"
    readme.write_text(f"# x\n\n{BEGIN}\nold\n{END}\nafter\n", encoding="utf-8")
    when = dt.datetime(2026, 12, 4, tzinfo=dt.UTC)
    record("a", "first", "1 s", "cmd a", path=results, now=when, load=1.96)
    record("b", "second | piped", "2 s", "cmd b", path=results, now=when, load=3.0)
    assert main(["--results", str(results), "--readme", str(readme), "--check"]) == 1
    assert main(["--results", str(results), "--readme", str(readme)]) == 0
    text = readme.read_text(encoding="utf-8")
    assert "| first | 1 s | 2026-12-04, load ≈ 2 | `cmd a` |" in text
    assert "second \\| piped" in text and text.endswith(f"{END}\nafter\n") and "old" not in text
    assert main(["--results", str(results), "--readme", str(readme), "--check"]) == 0
    record("a", "first", "0.5 s", "cmd a", path=results, now=when + dt.timedelta(days=1), load=0.4)
    assert list(json.loads(results.read_text())) == ["a", "b"]  # replaced where it was
    assert main(["--results", str(results), "--readme", str(readme), "--check"]) == 1
    main(["--results", str(results), "--readme", str(readme)])
    assert "| first | 0.5 s | 2026-12-05, load ≈ 0.4 |" in readme.read_text(encoding="utf-8")


def test_unrecorded_load_and_missing_markers(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"k": {"what": "w", "figure": "f", "date": "2026-12-04", "load": None,
                                         "command": "c"}}), encoding="utf-8")
    assert "2026-12-04, load not recorded" in render(load_results(results))
    with pytest.raises(ValueError, match="markers"):
        replace_table("no markers here", "table")
    results.write_text(json.dumps({"k": {"what": "w"}}), encoding="utf-8")
    with pytest.raises(ValueError, match="exactly the fields"):
        load_results(results)


def test_command_names_the_test_without_its_parameters() -> None:
    assert command_for("tests/benchmarks/test_bench_pki.py::test_leaf_issuance_rate[ed25519]") == (
        ".venv/bin/python -m pytest tests/benchmarks/test_bench_pki.py::test_leaf_issuance_rate -m benchmark -s")
