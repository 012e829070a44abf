"""The `bench_record` fixture: a benchmark records the figure README.md quotes (see results.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.benchmarks.results import Result, command_for, record

Recorder = Callable[[str, str, str], Result]


@pytest.fixture
def bench_record(request: pytest.FixtureRequest) -> Recorder:
    """`bench_record(key, what, figure)`: store the figure in tests/benchmarks/results.json with
    today's date, the load and this test's command (run `python -m tests.bench_table` after)."""

    def save(key: str, what: str, figure: str) -> Result:
        result = record(key, what, figure, command_for(request.node.nodeid))
        print(f"recorded {key}: {figure}")
        return result

    return save
