"""The benchmarks' recorded figures: tests/benchmarks/results.json, one entry per README row.

A benchmark that README.md quotes records its figure when it runs (`record` below, through the
`bench_record` fixture of tests/benchmarks/conftest.py), with the date, the machine's load and
the command that produced it; `python -m tests.bench_table` then writes README.md's benchmark
table from this file, and tests/test_bench_table.py checks that the table is current. The file
is committed: it is what README's figures are, and where they came from.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

RESULTS = Path(__file__).with_name("results.json")


@dataclass(frozen=True)
class Result:
    what: str
    """The table's first column: what was measured (Markdown)."""
    figure: str
    """The figure as README quotes it, peer and ratio included (Markdown)."""
    date: str
    """UTC day the figure was recorded (YYYY-MM-DD)."""
    load: float | None
    """The machine's 1-minute load average when it was recorded (the benchmark itself counts);
    None where it was not recorded."""
    command: str
    """The command that produces the figure."""


def load_results(path: Path = RESULTS) -> dict[str, Result]:
    """The recorded results by key, in the file's order (README's row order)."""
    if not path.is_file():
        return {}
    raw = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a JSON object of results")
    out = {}
    for key, fields in raw.items():
        if not isinstance(fields, dict) or set(fields) != set(Result.__dataclass_fields__):
            raise ValueError(f"{path}: result {key!r} must have exactly the fields {sorted(Result.__dataclass_fields__)}")
        out[key] = Result(**fields)
    return out


def dump_results(results: dict[str, Result]) -> str:
    return json.dumps({key: asdict(r) for key, r in results.items()}, indent=2, ensure_ascii=False) + "\n"


def save_results(results: dict[str, Result], path: Path = RESULTS) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".results-", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(dump_results(results))
    os.replace(tmp, path)


def record(key: str, what: str, figure: str, command: str, *, path: Path = RESULTS,
           now: dt.datetime | None = None, load: float | None = None) -> Result:
    """Record (or replace) the result `key`, keeping its place in the file; new keys go last."""
    when = now or dt.datetime.now(dt.UTC)
    result = Result(what=what, figure=figure, date=when.strftime("%Y-%m-%d"),
                    load=round(os.getloadavg()[0] if load is None else load, 1), command=command)
    results = load_results(path)
    results[key] = result
    save_results(results, path)
    return result


def command_for(nodeid: str) -> str:
    """The command that runs one benchmark test (its parameters all together)."""
    file, _, name = nodeid.partition("::")
    return f".venv/bin/python -m pytest {file}::{name.split('[')[0]} -m benchmark -s"
