"""The cache of compiled CEL programs: a program loaded back evaluates as the compiled one, and
a damaged or foreign cache changes nothing but speed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from auditor._policy import celcache
from auditor._policy.cel import activation, compile_program, environment, to_python
from tests.damage import DAMAGE, damaged

NOW = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
TEXT = 'cel.bind(params, rule_params["R"], evidence.size > params.min && days(now - timestamp(evidence.at)) > 1.0)'


class _Counting:
    """The `each` environment, counting compilations."""

    def __init__(self) -> None:
        self.env = environment("each")
        self.compiles = 0

    def compile(self, text: str) -> Any:
        self.compiles += 1
        return self.env.compile(text)

    def deserialize(self, data: bytes) -> Any:
        return self.env.deserialize(data)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AUDITOR_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(celcache, "_BY_ENV", {})
    return tmp_path


def _new_process(monkeypatch: pytest.MonkeyPatch) -> None:
    celcache.save()
    monkeypatch.setattr(celcache, "_BY_ENV", {})


def _value(program: Any, size: int) -> Any:
    act = activation("each", {"size": size, "at": "2026-11-20T00:00:00Z"},
                     rule_params={"R": {"min": 3}}, target={}, now=NOW)
    return to_python(program.eval(act))


def test_a_second_run_loads_what_the_first_compiled(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = _Counting()
    first = celcache.compiled(env, "sig", TEXT)
    _new_process(monkeypatch)
    second = celcache.compiled(env, "sig", TEXT)
    assert env.compiles == 1
    assert [_value(second, n) for n in (2, 5)] == [_value(first, n) for n in (2, 5)] == [False, True]
    assert str(second.return_type()) == "BOOL"
    assert list((cache / "cel").iterdir())


def test_another_signature_or_a_damaged_file_compiles_again(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = _Counting()
    celcache.compiled(env, "sig", TEXT)
    _new_process(monkeypatch)
    celcache.compiled(env, "other", TEXT)
    assert env.compiles == 2
    for file in (cache / "cel").iterdir():
        data = bytearray(file.read_bytes())
        data[-5] ^= 0xFF
        file.write_bytes(bytes(data))
    monkeypatch.setattr(celcache, "_BY_ENV", {})
    program = celcache.compiled(env, "sig", TEXT)
    assert env.compiles == 3
    assert _value(program, 5) is True


def test_the_file_of_another_environment_in_this_ones_place_is_not_read(
        cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file's seal covers what it was made from (auditor's and the CEL runtime's versions,
    the environment's declarations), not only its body: programs checked against another
    environment, copied in this file's place, are compiled again."""
    env = _Counting()
    celcache.compiled(env, "sig", TEXT)
    celcache.compiled(env, "other", TEXT)
    _new_process(monkeypatch)
    mine, theirs = celcache._programs("sig").path, celcache._programs("other").path
    mine.write_bytes(theirs.read_bytes())
    monkeypatch.setattr(celcache, "_BY_ENV", {})
    assert _value(celcache.compiled(env, "sig", TEXT), 5) is True
    assert env.compiles == 3


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(damage=DAMAGE)
def test_a_damaged_file_is_ignored_whole(cache: Path, monkeypatch: pytest.MonkeyPatch,
                                         damage: tuple[str, int, int]) -> None:
    """Any damage to a cache file loses all of it (each program is compiled again, each fact
    made again), never a part: what is read is exactly what was written, or nothing."""
    path = celcache._programs("sig").path
    if not path.is_file():
        celcache.compiled(_Counting(), "sig", TEXT)
        celcache.remembered("sig", "fields", lambda: b'["at","size"]')
        _new_process(monkeypatch)
    good = path.read_bytes()
    path.write_bytes(damaged(good, damage))
    monkeypatch.setattr(celcache, "_BY_ENV", {})
    assert celcache._programs("sig").stored == {}
    assert celcache.remembered("sig", "fields", lambda: b'["made","again"]') == b'["made","again"]'
    env = _Counting()
    assert _value(celcache.compiled(env, "sig", TEXT), 5) is True
    assert env.compiles == 1
    monkeypatch.setattr(celcache, "_BY_ENV", {})
    path.write_bytes(good)


def test_a_damaged_entry_is_compiled_again(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = _Counting()
    celcache.compiled(env, "sig", TEXT)
    celcache._programs("sig").stored[TEXT] = b"not a checked expression"
    assert _value(celcache.compiled(env, "sig", TEXT), 5) is True
    assert env.compiles == 2


def test_errors_are_raised_every_time_and_never_stored(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for _ in range(2):
        with pytest.raises(Exception, match="undeclared reference"):
            compile_program("each", "nosuch > 1")
        _new_process(monkeypatch)
    assert not (cache / "cel").exists()


_RUN = """
import datetime as dt, sys
from auditor._policy import celcache
from auditor._policy.cel import activation, compile_program, environment, to_python
compiled = []
env = environment("each")
class Spy:
    def compile(self, text): compiled.append(text); return env.compile(text)
    def deserialize(self, data): return env.deserialize(data)
program = celcache.compiled(Spy(), "sig", sys.argv[1])
act = activation("each", {"size": 5, "at": "2026-11-20T00:00:00Z"}, rule_params={"R": {"min": 3}}, target={},
                 now=dt.datetime(2026, 11, 23, tzinfo=dt.UTC))
print(len(compiled), to_python(program.eval(act)))
"""


def test_a_new_process_evaluates_what_it_loaded(cache: Path) -> None:
    """Loaded into a fresh process (whose environment never compiled anything), a program still
    takes the datetime `now` is given as."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "AUDITOR_CACHE_DIR": str(cache)}
    runs = [subprocess.run([sys.executable, "-c", _RUN, TEXT], capture_output=True, text=True, env=env, check=False,
                           timeout=120) for _ in range(2)]
    assert [r.stdout.split() for r in runs] == [["1", "True"], ["0", "True"]], [r.stderr[-500:] for r in runs]



def test_cel_version_is_what_importlib_metadata_says() -> None:
    from importlib import metadata

    assert celcache.cel_version() == metadata.version("cel-expr-python")


def test_an_expression_the_cache_holds_is_loaded_on_first_use(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from auditor._policy.cel import compile_expression, evaluate

    where: dict[str, Any] = {"mode": "each", "file": "R.yaml", "line": 3, "field": "condition", "rule_id": "R"}
    first = compile_expression("evidence.size > params.min", **where)
    assert first.loaded is not None
    _new_process(monkeypatch)
    second = compile_expression("evidence.size > params.min", **where)
    assert second.loaded is None  # known to compile: not loaded until evaluated
    act = activation("each", {"size": 5}, rule_params={"R": {"min": 3}}, target={}, now=NOW)
    assert evaluate(second, act) is evaluate(first, act) is True
    assert [e.loaded is not None for e in (first, second)] == [True, True]  # loaded by the evaluation
    assert second == first


def test_a_condition_that_is_not_boolean_is_refused_alike_from_the_cache(
        cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from auditor._policy.cel import compile_expression
    from auditor.errors import ConfigError

    where: dict[str, Any] = {"mode": "each", "file": "R.yaml", "line": 3, "field": "condition", "rule_id": "R"}
    said = []
    for _ in range(2):
        with pytest.raises(ConfigError) as caught:
            compile_expression("evidence.size + 1", **where)
        said.append(str(caught.value))
        _new_process(monkeypatch)
    assert said[0] == said[1]
    assert "must be true or false, but it yields" in said[0]
    assert compile_expression("evidence.size + 1", **{**where, "field": "message"}, want_bool=False).loaded is None
