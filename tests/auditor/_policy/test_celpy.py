"""Rules decided in Python (auditor._policy.celpy) decide exactly as their CEL batch programs:
for every shipped rule the compiler takes, on well-typed and ill-typed records, a Python function
that yields a value yields the program's (indices, codes, placeholder values, types included),
and where the program fails the function raises; whole evaluations give the same findings with
and without the compiler; and each case the compiler refuses is left to the CEL program."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from auditor._policy import batch, celpy
from auditor._policy.catalog import Catalog
from auditor._policy.cel import environment
from auditor._policy.rule import Rule
from auditor.evidence.kinds import KINDS
from tests.auditor._policy.test_batch import Gauge

NOW = dt.datetime(2026, 11, 23, 12, tzinfo=dt.UTC)
TARGET = {"name": "node-1", "environment": "production", "tags": ["a"], "names": ["node-1.example.com"],
          "vars": {"zone": "z1"}, "policies": ["cim-production"]}

ODD_VALUES: tuple[Any, ...] = (
    None, True, False, 0, 1, -1, 7, 2**31, 2**53, 2**53 + 1, 2**63 - 1, -(2**63), 0.0, -0.0, 1.5, 30.0, 2.0**60,
    math.inf, math.nan, "", "x", "é😀", "rsa", "ec", "sha1", "valid", "serverAuth", "keyCertSign", "TLSv1.2",
    "refused", "nats", "CN=a", "*.example.com", "node-1.example.com", "127.0.0.1", "10.0.0.0/8", "v1.29", "latest",
    "2026-01-02T03:04:05Z", "2026-12-24T00:00:00.5Z", "2026-11-23T12:00:00.000001+01:00", "2027-01-01T00:00:00-23:59",
    "2026-01-02T03:04:05.123456789Z", "2026-1-2T03:04:05Z", "2026-01-02t03:04:05z", "2026-02-30T00:00:00Z",
    "2026-12-31T23:59:60Z", "2026-01-02 03:04:05Z", "2026-01-02T03:04:05+0100", "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+00:01", "9999-12-31T23:59:59Z", "2300-01-01T00:00:00Z", "1700-01-01T00:00:00Z",
    [], [1], [1, "a"], ["serverAuth", "clientAuth"], ["keyCertSign", "cRLSign"], [None], [[]], {}, {"x": 1},
    {"critical": True, "permitted_dns": ["example.com"]}, {"status": "valid", "is_anchor": False},
    {"type": "rsa", "size": 2048}, {"errors": []}, {"errors": ["e1"]}, {"a": {"b": [1.5, None]}},
)
"""Values a generated record's field may take: right and wrong types, nulls, edges of ints and
doubles, timestamps the runtime and Python read alike and not."""
POISON: tuple[Any, ...] = (2**63, 2**64, -(2**63) - 1, (1, 2), {1: 2}, "\ud800", b"x", {"k": ("t",)}, "a\0b",
                           {"a\0": 1})
"""Values the runtime converts differently or not at all: a group holding one is not decided in
Python."""


def _x509_records() -> list[dict[str, Any]]:
    from tests.benchmarks.test_bench_scan import synthetic_records

    return [r.transient_plain() for r in synthetic_records(6)]


@pytest.fixture(scope="module")
def bases() -> dict[str, list[dict[str, Any]]]:
    """Well-typed plain data of each kind: the demo's records and synthetic certificates."""
    from auditor._demo import DEMO_TARGET, demo_inventory
    from auditor._scan import collect

    found: dict[str, list[dict[str, Any]]] = {}
    for record in collect(demo_inventory().target(DEMO_TARGET), now=NOW).records:
        kind = getattr(record, "kind", None)
        if isinstance(kind, str):
            found.setdefault(kind, []).append(record.transient_plain())  # type: ignore[union-attr]
    found.setdefault("x509.certificate", []).extend(_x509_records())
    return found


def _compiled_rules() -> dict[str, list[Rule]]:
    """The shipped rules a batch decides and the compiler takes, by kind."""
    resolved = Catalog.load().resolve(["cim-production", "cim-staging", "pss-baseline", "pss-restricted"])
    found: dict[str, list[Rule]] = {}
    for rule in (effective.rule for effective in resolved.rules):
        if batch.RecordBatch._batched(rule) and batch._python(rule) is not None:
            found.setdefault(rule.kind, []).append(rule)
    return found


COMPILED = _compiled_rules()


def test_every_x509_rule_compiles() -> None:
    x509 = {r.id for r in COMPILED["x509.certificate"]}
    assert {f"CERT-{n:03}" for n in (*range(1, 15), 22)} | {"KEY-001", "KEY-002"} <= x509


def _mutated(value: Any, rng: random.Random, rate: float, depth: int = 0) -> Any:
    """`value` with fields (about `rate` of them) changed to ODD_VALUES, dropped, or mutated deeper."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            roll = rng.random() / rate
            if roll < 0.2:
                continue  # a missing field
            if roll < 0.7:
                out[key] = rng.choice(ODD_VALUES)
            elif roll < 1 and depth < 4:
                out[key] = _mutated(item, rng, rate, depth + 1)
            else:
                out[key] = item
        return out
    if isinstance(value, list) and value and depth < 4:
        return [_mutated(v, rng, rate, depth + 1) if rng.random() < rate else v
                for v in value[: rng.randrange(len(value) + 1)]]
    return rng.choice(ODD_VALUES) if rng.random() < 0.5 else value


def _typed(value: Any) -> Any:
    """`value` with the type of every part spelled out (1, 1.0 and True differ; NaN equals NaN)."""
    if isinstance(value, list | tuple):
        return ("list", [_typed(v) for v in value])
    if isinstance(value, dict):
        return ("map", sorted((repr(k), _typed(v)) for k, v in value.items()))
    if isinstance(value, float):
        return ("double", repr(value))
    return (type(value).__name__, value)


def _program_items(rule: Rule, group: list[dict[str, Any]], rule_params: dict[str, Any], target: Any,
                   now: dt.datetime) -> list[Any] | None:
    """What the rule's CEL batch program (with messages) yields for the group; None: it fails."""
    try:
        activation = batch.activation_of(group, rule_params, target, now)
    except Exception:
        return None
    return batch._eval(activation, batch.program(rule, messages=True))


def _python_items(rule: Rule, group: list[dict[str, Any]], wanted: frozenset[str] | None, rule_params: dict[str, Any],
                  target: Any, now: dt.datetime) -> list[Any] | None:
    """What the rule's Python function yields on the records (unprojected, as RecordBatch gives
    them), or None where it raises or RecordBatch would not call it (values the runtime takes
    otherwise)."""
    decide = batch._python(rule)
    assert decide is not None
    if not (batch._bindings_ok(rule_params, target, now) and batch._python_ok(group, wanted)):
        return None
    try:
        return decide(group, rule_params, target, now.astimezone(dt.UTC))
    except Exception:
        return None


def _params(rules: list[Rule], rng: random.Random, odd: bool) -> dict[str, Any]:
    params: dict[str, Any] = {r.id: dict(r.params) for r in rules}
    if odd:
        for values in params.values():
            for key in list(values):
                if rng.random() < 0.3:
                    values[key] = rng.choice(ODD_VALUES)
    return params


STATS = {"python": 0, "refused": 0}
INSTANCED: dict[str, int] = {}
"""By kind: the groups whose instances (applies_to.each) a Python function decided."""


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(st.randoms(use_true_random=False), st.integers(1, 4), st.sampled_from([0.02, 0.1, 0.4]), st.booleans(),
       st.integers(0, 9))
@pytest.mark.parametrize("kind", sorted(COMPILED))
def test_python_yields_what_the_program_yields(bases: dict[str, list[dict[str, Any]]], kind: str, rng: random.Random,
                                               size: int, rate: float, odd_params: bool, poisoned: int) -> None:
    """Groups of a few records of each kind (well-typed ones from the demo and synthetic
    certificates, fields changed at `rate`), odd params, several `now`s and targets."""
    _differential(bases, kind, rng, size, rate, odd_params, poisoned)


@pytest.mark.parametrize("kind", sorted(COMPILED))
def test_well_typed_groups_yield_in_python_what_the_program_yields(bases: dict[str, list[dict[str, Any]]],
                                                                    kind: str) -> None:
    """Groups of 1 to 4 of the well-typed records of each kind (a field in fifty changed): the same
    in every session, whatever Hypothesis generates (see the test that follows)."""
    for size in range(1, 5):
        _differential(bases, kind, random.Random(size), size, 0.02, False, 1)


def _differential(bases: dict[str, list[dict[str, Any]]], kind: str, rng: random.Random, size: int, rate: float,
                  odd_params: bool, poisoned: int) -> None:
    """A group of `size` records of `kind` drawn by `rng`: the Python function, where it yields a
    value, yields the program's (counted in STATS and INSTANCED)."""
    rules = COMPILED[kind]
    base = bases.get(kind) or [{}]
    poison = poisoned == 0
    group = [_mutated(rng.choice(base), rng, rate) if rng.random() < 0.7 else rng.choice(base) for _ in range(size)]
    wanted = batch.fields_read(rules)
    if poison:  # in a field the rules read (the group's activation holds no other)
        field = rng.choice(sorted(wanted or {"poisoned"}))
        group[rng.randrange(size)] = {**group[0], field: rng.choice(POISON)}
    rule_params = _params(rules, rng, odd_params)
    now = rng.choice([NOW, NOW.astimezone(dt.timezone(dt.timedelta(hours=5))), dt.datetime(2400, 1, 1, tzinfo=dt.UTC)])
    target = dict(TARGET, names=rng.choice([["node-1.example.com"], [], ["x.example.com", "10.1.2.3"], [1]]))
    projected = batch.projected(group, wanted) if wanted is not None else group
    for rule in rules:
        mine = _python_items(rule, group, wanted, rule_params, target, now)
        theirs = _program_items(rule, projected, rule_params, target, now)
        STATS["python" if mine is not None else "refused"] += 1
        if mine is not None and batch.instanced(rule):
            INSTANCED[kind] = INSTANCED.get(kind, 0) + 1
        if mine is not None:
            assert theirs is not None, (rule.id, projected)
            assert _typed(mine) == _typed(theirs), rule.id


def test_the_differential_test_saw_both_paths() -> None:
    """Run after the differential tests (same module, in order): both paths were taken often.

    What Hypothesis generates depends on the tests run before in the session: it draws constants
    from the project's modules imported so far (a session that ran tests/auditor/test_bundle_runs.py
    first drew 0.1 where one that did not drew 0.6, and saw 3 configmap groups decided instance by
    instance instead of 5). The fixed groups (the test above) reach the bound of each kind by
    themselves, whatever the order; the generated ones add to them, and make the totals (far
    above their bounds in either order)."""
    if STATS["python"] + STATS["refused"] == 0:
        pytest.skip("run with the differential test")
    assert STATS["python"] > 1000, STATS
    assert STATS["refused"] > 200, STATS
    kinds = {k for k, rules in COMPILED.items() if any(batch.instanced(r) for r in rules)}
    assert {"kubernetes.workload", "kubernetes.configmap", "nats.config", "secrets.scan"} <= kinds
    assert all(INSTANCED.get(kind, 0) > 3 for kind in kinds), INSTANCED


@st.composite
def _plain(draw: st.DrawFn) -> Any:
    text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\0"), max_size=5)
    scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False), text)
    return draw(st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                            st.dictionaries(text, inner, max_size=3)),
                             max_leaves=8))


@settings(max_examples=80, deadline=None)
@given(_plain())
def test_plain_values_come_back_from_the_runtime_as_they_went_in(value: Any) -> None:
    """What plain_ok accepts, the runtime holds as the same value: a placeholder showing it gives
    the same Python value (types included) from the program as from the Python function."""
    assert celpy.plain_ok(value)
    program = environment("each").compile("evidence.v")
    activation = environment("each").Activation({"evidence": {"v": value}, "rule_params": {}, "target": {}, "now": NOW})
    assert _typed(program.eval(activation).plain_value()) == _typed(value)


def _run(bundles: list[Any], python: bool, monkeypatch: pytest.MonkeyPatch, policies: list[str] | None = None,
         catalog: Catalog | None = None) -> list[Any]:
    from auditor._scan import EvaluateOptions, evaluate_bundle

    monkeypatch.setattr(batch, "PYTHON", python)
    batch.forget()
    options = EvaluateOptions(now=NOW, policies=policies or ())
    out = []
    for bundle in bundles:
        result = evaluate_bundle(bundle, options, catalog=catalog or Catalog.load())
        out.append((result.verdict.headline(), [(f.id, f.status.value, f.message, f.correlation, f.rule_id)
                                                for f in result.findings]))
    batch.forget()
    return out


def _spy(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Counts of the groups each rule's Python function decided."""
    decided: dict[str, int] = {}
    original = batch.RecordBatch._in_python

    def spy(self: batch.RecordBatch, rule: Rule, *args: Any) -> bool:
        found = original(self, rule, *args)
        if found and self.decided.get(rule.id) is not None:
            decided[rule.id] = decided.get(rule.id, 0) + 1
        return found

    monkeypatch.setattr(batch.RecordBatch, "_in_python", spy)
    original_all = batch.judge_all

    def spy_all(rule: Rule, *args: Any) -> Any:  # mode all: counted under the rule's id too
        found = original_all(rule, *args)
        if found is not None:
            decided[rule.id] = decided.get(rule.id, 0) + 1
        return found

    monkeypatch.setattr(batch, "judge_all", spy_all)
    return decided


def test_synthetic_bundles_give_the_same_findings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The benchmark's bundles: byte-identical findings with and without the compiler."""
    from auditor.evidence.bundle import Bundle
    from tests.benchmarks.test_bench_scan import synthetic_records

    base = synthetic_records(40)
    rng = random.Random(3)
    bundles = []
    for b in range(3):
        records = [dataclasses.replace(r, resource=f"b{b}/{r.resource}", id="") for r in rng.sample(base, len(base))]
        target = {"name": f"node-{b}", "environment": "production", "policies": ["cim-production"],
                  "names": ["node-1.example.com"]}
        bundles.append(Bundle.create(target, "2026-11-23T00:00:00Z", records))
    decided = _spy(monkeypatch)
    with_python = _run(bundles, True, monkeypatch)
    assert {r.id for r in COMPILED["x509.certificate"]} | {"CERT-008"} <= set(decided)
    assert with_python == _run(bundles, False, monkeypatch)
    assert sum(len(findings) for _, findings in with_python) > 500


def test_the_demo_gives_the_same_findings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo's evidence, each record copied so that every kind is batched, under every pack."""
    from auditor._demo import DEMO_TARGET, demo_inventory
    from auditor._scan import collect
    from auditor.evidence.bundle import Bundle

    inventory = demo_inventory()
    bundle = collect(inventory.target(DEMO_TARGET), now=NOW)
    records = [dataclasses.replace(r, resource=f"{r.resource}#{n}" if n else r.resource, id="")
               for n in range(batch.MIN_RECORDS) for r in bundle.records]
    copied = Bundle.create(dict(bundle.target), "2026-11-23T00:00:00Z", records)
    catalog = Catalog.load(list(inventory.rule_paths), list(inventory.policy_paths))
    decided = _spy(monkeypatch)
    packs = ["cim-production", "cim-staging", "pss-baseline", "pss-restricted"]
    with_python = _run([bundle, copied], True, monkeypatch, packs, catalog)
    assert len(decided) >= 20 and {"CERT-008", "PKI-005"} <= set(decided), decided
    instanced = {r.id for rules in COMPILED.values() for r in rules if batch.instanced(r)}
    assert len(instanced & set(decided)) >= 20, sorted(instanced - set(decided))
    assert with_python == _run([bundle, copied], False, monkeypatch, packs, catalog)


# ---------------------------------------------------------------- each fallback trigger


def _rule_file(tmp: Path, rid: str, condition: str, message: str) -> None:
    (tmp / f"{rid}.yaml").write_text(
        f"id: {rid}\ntitle: Rule {rid}\narea: certificates\nseverity: high\ndescription: d\nrationale: r\nremediation: fix\n"
        f"references: {{nist: [SC-12]}}\napplies_to:\n  kind: test.gauge\ncondition: {condition!r}\n"
        f"message: {message!r}\nparams: {{n: 10}}\n")


MISSING = object()
"""A record without the field `label`."""
TRIGGERS: dict[str, tuple[str, list[Any]]] = {
    # (condition, values of evidence.size): CEL gives a value or an error; Python refuses
    "bool-is-not-int": ("evidence.size > 0", [True, 1]),
    "int-double-beyond-2^53": ("evidence.size == 9007199254740992.0", [2**53 + 1, 2**53]),
    "int-overflow": ("evidence.size + 1 > 0", [2**63 - 1, 5]),
    "and-of-non-bool": ("evidence.size && false", [1, True]),
    "or-of-non-bool": ("evidence.size || true", ["x", False]),
    "not-of-non-bool": ("!evidence.size", [0, False]),
    "ternary-on-non-bool": ("evidence.size ? true : false", [None, True]),
    "missing-key": ("evidence.label == 'x'", [MISSING, 2]),
    "select-on-null": ("evidence.size.b == 1", [None, {"b": 1}]),
    "has-on-string": ("has(evidence.size.b)", ["s", {"b": 1}]),
    "timestamp-loose-form": ("timestamp(evidence.size) < now", ["2026-1-2T03:04:05Z", "2026-01-02T03:04:05Z"]),
    "timestamp-lower-case": ("timestamp(evidence.size) < now", ["2026-01-02t03:04:05z", "2026-01-02T03:04:05Z"]),
    "timestamp-leap-second": ("timestamp(evidence.size) < now", ["2026-12-31T23:59:60Z", "2026-01-02T03:04:05Z"]),
    "timestamp-nanoseconds": ("days(timestamp(evidence.size) - now) < 1.0", ["2026-01-02T03:04:05.123456789Z",
                                                                          "2026-01-02T03:04:05.123456Z"]),
    "timestamp-out-of-range": ("timestamp(evidence.size) < now", ["0001-01-01T00:00:00+00:01", "0001-01-01T00:00:00Z"]),
    "duration-out-of-range": ("days(timestamp(evidence.size) - now) > 0.0", ["2318-01-01T00:00:00Z", "2100-01-01T00:00:00Z"]),
    "size-of-int": ("size(evidence.size) > 0", [5, "ab"]),
    "regex-beyond-the-common-syntax": ("evidence.size.matches('^a.c$')", ["abc"]),
    "map-of-a-map": ("evidence.size.map(k, k) == ['x']", [{"x": 1}, ["x"]]),
    "all-absorbing-an-error": ("evidence.size.all(x, x > 0)", [[1, "a", 0], [1, 2]]),
    "iteration-budget": ("evidence.size.all(x, x >= 0)", [list(range(celpy.BUDGET + 1)), [1]]),
    "in-a-map-with-null": ("evidence.size in target.vars", [None, "zone"]),
    "uint-in-the-data": ("evidence.size > 0", [2**63, 1]),
    "surrogate-in-the-data": ("evidence.size == 'x'", ["\ud800", "x"]),
    "tuple-in-the-data": ("size(evidence.size) == 2", [(1, 2), [1, 2]]),
    "placeholder-of-a-timestamp": ("false", ["2026-01-02T03:04:05Z"]),
    "regex-case-folding-beyond-ascii": ("evidence.size.matches('(?i)k')", ["\u212a", "K"]),
}


@pytest.fixture(scope="module")
def trigger_rules(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Rule]]:
    """A rule of the tests' own kind (test_batch.Gauge, its field `size` of any type) for each trigger."""
    KINDS[Gauge.KIND] = Gauge
    try:
        yield _trigger_rules(tmp_path_factory.mktemp("celpy-rules"))
    finally:
        KINDS.pop(Gauge.KIND, None)


def _trigger_rules(tmp: Path) -> dict[str, Rule]:
    (tmp / "rules").mkdir()
    for n, (name, (condition, _)) in enumerate(sorted(TRIGGERS.items())):
        message = "at {timestamp(evidence.size)}" if name == "placeholder-of-a-timestamp" else "m {evidence.size}"
        _rule_file(tmp / "rules", f"T-{n:03}", condition, message.replace("evidence.a", "evidence.size"))
    (tmp / "packs").mkdir()
    (tmp / "packs" / "p.yaml").write_text("id: p\ntitle: P\nselect: [{area: certificates}]\n")
    resolved = Catalog.load([tmp / "rules"], [tmp / "packs"], builtin=False).resolve(["p"])
    by_id = {effective.rule.id: effective.rule for effective in resolved.rules}
    return {name: by_id[f"T-{n:03}"] for n, name in enumerate(sorted(TRIGGERS))}


@pytest.mark.parametrize("name", sorted(TRIGGERS))
def test_each_trigger_falls_back_to_the_program(trigger_rules: dict[str, Rule], name: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The first value of each trigger makes the Python function refuse (or RecordBatch not call
    it), so the group is decided by the rule's CEL program, exactly as without the compiler; the
    second value (a record alone) is decided in Python."""
    rule = trigger_rules[name]
    odd, *plain = TRIGGERS[name][1]
    assert batch._python(rule) is not None  # compiled: the refusal happens on the values
    params = {rule.id: dict(rule.params)}
    first = {"size": odd, "label": "s"} if odd is not MISSING else {"size": 1}
    records = [first] + [{"size": value, "label": f"s{i}"} for value in plain for i in range(3)]

    def decide(python: bool, group: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, int]]:
        monkeypatch.setattr(batch, "PYTHON", python)
        decided = _spy(monkeypatch)
        found = batch.RecordBatch(group, [rule], rule_params=params, target=TARGET, now=NOW).decided
        monkeypatch.undo()
        return found, decided

    with_python, used = decide(True, records)
    assert not used  # refused: the program decided
    assert with_python == decide(False, records)[0]
    if plain:
        plain_only, used = decide(True, records[1:])
        assert used == {rule.id: 1}, "the other values are decided in Python"
        assert plain_only == decide(False, records[1:])[0]


def test_refusals_are_raised_not_guessed() -> None:
    """The helpers refuse rather than answer where Python and CEL part ways."""
    for call in (lambda: celpy._eq(2**53 + 1, 1.0), lambda: celpy._lt(True, 1), lambda: celpy._add(2**63 - 1, 1),
                 lambda: celpy._ts("2026-01-02T03:04:05.1234567Z"), lambda: celpy._b(1),
                 lambda: celpy._matches("a\n", "a$"), lambda: celpy._size(1), lambda: celpy._index([1], -1),
                 lambda: celpy._out(NOW)):
        with pytest.raises(Exception):  # noqa: B017 - Refused or the error the runtime gives too
            call()
    assert celpy._eq(1, 1.0) and not celpy._eq(True, 1) and not celpy._eq(None, 0)
    assert celpy._ts("2026-01-02T03:04:05.5+01:00") == dt.datetime(2026, 1, 2, 2, 4, 5, 500000, tzinfo=dt.UTC)


def test_plain_ok_refuses_what_the_runtime_converts_otherwise() -> None:
    for value in POISON:
        assert not celpy.plain_ok([{"v": value}])
    deep: Any = 1
    for _ in range(celpy._DEPTH + 2):
        deep = [deep]
    assert not celpy.plain_ok(deep)
    assert celpy.plain_ok([{"a": [1, 2.5, None, True, {"b": "é😀"}], "c": -(2**63)}])


class _Text(str):
    """A string of another type: the runtime may convert it otherwise (refused)."""


def _spec(value: Any, depth: int = 0) -> bool:
    """What plain_ok accepts, spelt out one value at a time: strings of valid Unicode without NUL,
    ints within int64, doubles, bools, nulls, and lists and maps with string keys holding the
    same, a container at most _DEPTH - 1 deep (its items at most _DEPTH)."""
    kind = type(value)
    if kind is str:
        return "\0" not in value and celpy._utf8(value)
    if kind is int:
        return bool(-(2**63) <= value < 2**63)
    if kind in (float, bool, type(None)):
        return True
    if kind is list:
        return depth < celpy._DEPTH and all(_spec(item, depth + 1) for item in value)
    if kind is dict:
        return depth < celpy._DEPTH and all(type(k) is str and _spec(k) and _spec(v, depth + 1) for k, v in value.items())
    return False


_ODD_SCALARS = st.sampled_from([2**63, -(2**63) - 1, 2**64, "\ud800", "a\0", b"x", (1,), _Text("a"), 1.5, True, 0])
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False),
                     st.text(max_size=3), _ODD_SCALARS)
_KEYS = st.one_of(st.sampled_from(["a", "b", "c", "d"]), st.sampled_from([1, _Text("a"), "\0", "\udc00"]))
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                        st.dictionaries(_KEYS, inner, max_size=4)), max_leaves=10)


@settings(max_examples=300, deadline=None)
@example([{"a": 1, "b": 2, "c": 3}] * 8 + [{"a": 1, "b": 2, "c": 3, "d": 2**64}], {"a", "d"})  # one more key
@example([{"a": 1, "b": 2, "c": 3}] * 8 + [{"a": 1, "b": 2, "d": "\0"}], {"c", "d"})  # as many keys, another
@example([{"a": {"x": 1}}] * 8 + [{"a": {_Text("x"): 1}}], {"a"})  # an equal key of another type
@given(st.lists(st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), _VALUES, min_size=3, max_size=4),
                max_size=12), st.sets(st.sampled_from(["a", "b", "c", "d", "e"])))
def test_the_value_check_by_columns_is_the_value_by_value_check(records: list[dict[str, Any]], wanted: set[str]) -> None:
    """celpy's value check, done by columns of records' fields at C speed, accepts exactly what
    a plain recursive definition of it does: over whole records, over the fields a batch reads,
    over records of the same keys (a kind's; from celpy._COLUMNS of them, a run for each key) and
    of different ones, with odd values at any depth."""
    assert celpy.plain_ok(records) == _spec(records)
    projected = [[data[k] for k in sorted(wanted) if k in data] for data in records]
    assert batch._python_ok(records, frozenset(wanted)) == _spec(projected)
    columns = [[data[k] for data in records if k in data] for k in sorted(wanted)]
    assert celpy.plain_columns_ok(columns) == _spec([v for column in columns for v in column])


@pytest.mark.parametrize("empty", [True, False])
@pytest.mark.parametrize("container", [list, dict])
def test_the_value_check_stops_at_the_depth_limit(container: type, empty: bool) -> None:
    """Containers nested up to _DEPTH - 1 deep pass, one deeper does not; empty or not, lists or
    maps, alone or beside a shallow record (the check goes level by level over both)."""
    def nest(depth: int) -> Any:
        value: Any = container() if empty else container([("k", 1)]) if container is dict else [1]
        for _ in range(depth):
            value = {"k": value} if container is dict else [value]
        return value

    for depth in (celpy._DEPTH - 2, celpy._DEPTH - 1, celpy._DEPTH, celpy._DEPTH + 1):
        value = nest(depth)
        assert celpy.plain_ok(value) == _spec(value) == (depth <= celpy._DEPTH - 1), depth
        records = [{"a": value}, {"a": 1}]
        assert celpy.plain_ok(records) == _spec(records) == (depth <= celpy._DEPTH - 3), depth


# ---------------------------------------------------------------- generated expressions


GEN_VALUES: tuple[Any, ...] = (
    *ODD_VALUES, "^a", "[a-c]", "a|", "(", "[z-a]", "a\n", "A B", "a.b", "*.b", "1.2", "abc…(hmac:12)",
    "2026-11-23T12:00:00.000001Z", "2026-11-23T12:00:00+23:59", "2024-02-29T00:00:00Z", 3037000500, -3037000500,
    2.0**53, -math.inf, 1e300, [1, 1.0, True], ["é", "e\u0301"], {"ab": 1, "b": 2, "c": 3}, [[], [1.0]],
    "AB", "a_B", "x-b", "K", "\u212a", "\u017f", "A\nb", "(?i)a", "[-_.]",
    ["2026-01-02T03:04:05Z"],
)
GEN_LITERALS = ("0", "1", "-1", "2", "1.0", "2.5", "-0.0", "'a'", "''", "'é'", "null", "true", "false", "[]",
                "[1, 2]", "['a', 'b']", "[1, 'a']", "[1.0]", "9007199254740993", "9223372036854775807",
                "'2026-01-02T03:04:05Z'", "'*.b'", "'10.0.0.0/8'")
GEN_ATOMS = ("evidence.a", "evidence.b", "evidence.c", "evidence.m", "params.n", "params.l", "target.name",
             "target.vars", "now")
GEN_REGEXES = ("'^a'", "'a|b'", "'[a-c]'", "'(a)'", "'a.b'", "''", "'^[0-9]'", "evidence.b", "params.l",
               "'(?i)a|B'", "'(?i)^(x|é)?[-_.]?b'", "'(a)?b'", "'[-_.]'", "'a??'", "'(?i)k'", "'(?s)a'")


def _generated(rng: random.Random, depth: int, bound: tuple[str, ...]) -> str:
    """A CEL expression over a record's fields a, b, c and m, of any type (most do not type-check
    or fail on some values: those are what the compiler must refuse)."""
    if depth <= 0 or rng.random() < 0.25:  # a leaf: mostly a value of any type (the checker takes it)
        return rng.choice(GEN_LITERALS if rng.random() < 0.3 else (*GEN_ATOMS, *bound * 3))

    def sub() -> str:
        return _generated(rng, depth - 1, bound)

    def bind() -> tuple[str, str]:
        name = rng.choice(("x", "y"))
        return name, _generated(rng, depth - 1, (*bound, name))

    def macro() -> str:
        name, inner = bind()
        which = rng.choice(("all", "exists", "map", "filter", "exists_one"))
        if which == "map" and rng.random() < 0.3:
            return f"{sub()}.map({name}, {_generated(rng, depth - 1, (*bound, name))}, {inner})"
        return f"{sub()}.{which}({name}, {inner})"

    def binary() -> str:
        return f"({sub()} {rng.choice(('==', '!=', '<', '<=', '>', '>=', '+', '-', '*', 'in', '&&', '||'))} {sub()})"

    def let() -> str:
        name, inner = bind()
        return f"cel.bind({name}, {sub()}, {inner})"

    unary = ("size", "double", "string", "type", "timestamp", "days", "wholeDays", "isLoopback", "secretId")
    pairs = ("globMatch", "dnsCovers", "versionAtLeast", "ipInNetwork", "natsSubjectSubset")
    kinds = ("int", "double", "string", "bool", "list", "map", "null_type", "type(now)")
    shapes: tuple[Callable[[], str], ...] = (
        lambda: f"{rng.choice(('-', '!'))}{sub()}",
        lambda: f"{rng.choice(unary)}({sub()})",
        binary, binary, binary,
        lambda: f"({sub()} ? {sub()} : {sub()})",
        lambda: f"{sub()}.{rng.choice(('startsWith', 'endsWith', 'contains'))}({sub()})",
        lambda: f"{sub()}.matches({rng.choice(GEN_REGEXES)})",
        macro, macro, let,
        lambda: f"{rng.choice(pairs)}({sub()}, {sub()})",
        lambda: f"{sub()}[{sub()}]",
        lambda: f"has({rng.choice(('evidence', 'evidence.m', 'target', 'params'))}.{rng.choice('abmz')})",
        lambda: f"{sub()}.{rng.choice('ab')}",
        lambda: f"({sub()} - now)",
        lambda: f"[{sub()}, {sub()}]",
        lambda: f"type({sub()}) == {rng.choice((*kinds, f'type({sub()})'))}",
        lambda: f"({sub()} {rng.choice(('==', '!=', 'in'))} {rng.choice(GEN_LITERALS)})",
        lambda: f"timestamp({sub()}) {rng.choice(('<', '>', '=='))} now",
    )
    return rng.choice(shapes)()


@pytest.mark.parametrize("seed", range(4))
def test_generated_expressions_yield_what_the_runtime_yields(seed: int) -> None:
    """Expressions beyond the shipped rules' (operators, conversions, macros, the project's
    functions, over values of every type): wherever the compiled function gives a placeholder's
    value, the CEL runtime gives that value (types included) and no error."""
    from auditor._policy.cel import activation, compile_expression, evaluate

    def compiled(text: str, want_bool: bool = True) -> Any:
        return compile_expression(text, mode="each", file="t", line=1, field="f", rule_id="G", want_bool=want_bool)

    rng = random.Random(seed)
    never = compiled("false")
    answered = 0
    for _ in range(4000):
        text = _generated(rng, rng.randint(1, 4), ())
        try:
            expression = compiled(text, want_bool=False)
        except Exception:  # noqa: S112 - ill-typed: the checker refuses it at load
            continue
        decide = celpy.compile_rule("G", None, None, never, [expression])
        if decide is None:
            continue
        for _ in range(4):
            evidence = {name: rng.choice(GEN_VALUES) for name in "abcm" if rng.random() < 0.9}
            rule_params = {"G": {"n": rng.choice(GEN_VALUES), "l": rng.choice(GEN_VALUES)}}
            target = {"name": rng.choice(["node-1", "a", ""]), "vars": rng.choice([{}, {"a": "b"}, {"z": 1}])}
            try:
                mine = decide([evidence], rule_params, target, NOW)[0][2]
            except Exception:  # noqa: S112 - refused: the program decides
                continue
            answered += 1
            act = activation("each", evidence, rule_params=rule_params, target=target, now=NOW)
            assert _typed(evaluate(expression, act)) == _typed(mine), (text, evidence, rule_params, target)
    assert answered > 5000


# ---------------------------------------------------------------- mode all


def _all_rules() -> list[Any]:
    """The shipped rules of mode all (as resolved policies apply them) that celpy compiles."""
    resolved = Catalog.load().resolve(["cim-production", "cim-staging", "pss-baseline", "pss-restricted"])
    return [e for e in resolved.rules if e.rule.mode == "all" and batch._all_function(e.rule) is not None]


ALL_RULES = _all_rules()
ALL_STATS: dict[str, int] = {}


def test_every_mode_all_rule_compiles() -> None:
    assert {"CERT-008", "PKI-005"} <= {e.rule.id for e in ALL_RULES}


def _over_all(effective: Any, items: list[dict[str, Any]], rule_params: dict[str, Any], target: dict[str, Any],
              now: dt.datetime, python: bool, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The engine's findings of a rule of mode all over records holding `items` (with or without celpy)."""
    from types import SimpleNamespace

    from auditor import _engine

    monkeypatch.setattr(batch, "PYTHON", python)
    context = _engine._Context(rule_params=rule_params, target=target, now=now)
    records: list[Any] = [SimpleNamespace(plain=data, id=f"r{i}", resource=f"res{i}") for i, data in enumerate(items)]
    found = _engine._RuleRun(effective).over_all([(r, None) for r in records], context, str(target.get("name", "")))
    return [(f.id, f.status.value, f.resource, f.message, f.correlation, f.evidence, f.always_blocks) for f in found]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(st.integers(0, 2**32), st.integers(0, 12), st.sampled_from([0.0, 0.02, 0.1, 0.4]), st.booleans(),
       st.integers(0, 9))
@pytest.mark.parametrize("at", range(len(ALL_RULES)))
def test_mode_all_in_python_gives_the_engines_findings(bases: dict[str, list[dict[str, Any]]], at: int,
                                                       monkeypatch: pytest.MonkeyPatch, seed: int,
                                                       size: int, rate: float, odd_params: bool, poisoned: int) -> None:
    """A rule of mode all over items (well-typed records of its kind, fields changed at `rate`,
    a poisoned value now and then), odd params, targets and `now`s: the same findings whether
    celpy judges it or the CEL runtime does."""
    rng = random.Random(seed)  # choices spread evenly (a hypothesis Random leans to the first)
    effective = ALL_RULES[at]
    rule = effective.rule
    base = bases.get(rule.kind) or [{}]
    items = [_mutated(rng.choice(base), rng, rate) if rate and rng.random() < 0.5 else rng.choice(base)
             for _ in range(size)]
    wanted = batch.item_fields(rule)
    if wanted is not None:
        items = batch.projected(items, wanted)
    if poisoned == 0 and items:
        items[rng.randrange(len(items))] = {**items[0], rng.choice(sorted(wanted or {"x"})): rng.choice(POISON)}
    rule_params = _params([rule], rng, odd_params)
    names = rng.choice([["node-1.example.com"], [], ["x.example.com", "10.1.2.3", "127.0.0.1"], [1], None,
                        ["*.example.com", "node-2.example.com"], [rng.choice(ODD_VALUES)]])
    target = dict(TARGET, names=names) if names is not None else {"name": rng.choice(["n", 1])}
    now = rng.choice([NOW, NOW.astimezone(dt.timezone(dt.timedelta(hours=5))), dt.datetime(2400, 1, 1, tzinfo=dt.UTC)])
    monkeypatch.setattr(batch, "PYTHON", True)  # (the fixture is undone after all examples only)
    decided = batch.judge_all(rule, items, rule_params, target, now)
    ALL_STATS["python" if decided is not None else "refused"] = ALL_STATS.get("python" if decided else "refused", 0) + 1
    if decided is not None:
        ALL_STATS[f"code {decided[0]}"] = ALL_STATS.get(f"code {decided[0]}", 0) + 1
    mine = _over_all(effective, items, rule_params, target, now, True, monkeypatch)
    assert mine == _over_all(effective, items, rule_params, target, now, False, monkeypatch), rule.id


def test_the_mode_all_test_saw_every_outcome() -> None:
    """Run after the test above: passes, failures and refusals all occurred."""
    if not ALL_STATS:
        pytest.skip("run with the mode-all differential test")
    assert ALL_STATS.get("python", 0) > 40 and ALL_STATS.get("refused", 0) > 10, ALL_STATS
    assert ALL_STATS.get(f"code {batch.PASS}", 0) > 5 and ALL_STATS.get(f"code {batch.FAIL}", 0) > 5, ALL_STATS


def test_mode_all_refuses_beyond_its_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """Items on which the CEL runtime exhausts its budget (the message's placeholder: 30 names,
    none covered by 400 certificates, 24,000 iterations) are judged by the runtime, never in Python."""
    effective = next(e for e in ALL_RULES if e.rule.id == "CERT-008")
    target = dict(TARGET, names=[f"n{i}.example.com" for i in range(30)])
    items = [{"san": {"dns": ["a.example.org"], "ip": []}} for _ in range(400)]
    params: dict[str, dict[str, Any]] = {effective.rule.id: {}}
    assert batch.judge_all(effective.rule, items, params, target, NOW) is None
    assert batch.judge_all(effective.rule, items[:10], params, target, NOW) is not None
    found = _over_all(effective, items, params, target, NOW, True, monkeypatch)
    assert found == _over_all(effective, items, params, target, NOW, False, monkeypatch)
    assert [f[1] for f in found] == ["fail"] and "resource limit" in found[0][3], found


def test_generated_kubernetes_manifests_give_the_same_findings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Kubernetes benchmark's manifests (fewer of them), under the restricted and baseline
    packs and every container rule: byte-identical findings with and without the compiler, the
    workloads' instances decided in Python."""
    from auditor._inventory.adhoc import path_target
    from auditor._scan import collect
    from tests.benchmarks.test_bench_kubernetes import generate

    (tmp_path / "m").mkdir()
    generate(tmp_path / "m", 300, seed=9)
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "containers.yaml").write_text("id: containers\ntitle: every container rule\nselect:\n"
                                                    "  - area: containers\n")
    packs = ["containers", "pss-restricted", "pss-baseline"]
    bundle = collect(path_target([str(tmp_path / "m")], packs), now=NOW)
    catalog = Catalog.load([], [tmp_path / "p"])
    decided = _spy(monkeypatch)
    with_python = _run([bundle], True, monkeypatch, packs, catalog)
    workload = {r.id for r in COMPILED["kubernetes.workload"] if batch.instanced(r)}
    assert len(workload & set(decided)) >= 10, sorted(workload - set(decided))
    assert with_python == _run([bundle], False, monkeypatch, packs, catalog)
    assert sum(len(findings) for _, findings in with_python) > 2000


REGEX_TOKENS = ("a", "B", "k", "s", "i", "0", " ", "_", "-", "|", "^", "(", ")", "?", "[a-c]", "[-_.]", "[0-9x]", ".",
                "$", "*", "(?i)", "[^a]", "\\d", "é")
REGEX_TEXTS = ("", "a", "A", "ab", "B", "k", "K", "\u212a", "s", "S", "\u017f", "a-b", "x_b", "a.b", "0", "a\n",
               "é", "É", " a", "(?i)", "aBk0-_. ", "\u0130", "\u0131", "i", "I")


@pytest.mark.parametrize("seed", range(3))
def test_regexes_match_as_the_runtime_matches(seed: int) -> None:
    """Generated patterns (letters, groups, classes, `?`, `(?i)` and tokens beyond the common
    syntax) on texts with letters whose case folds differently in RE2 and Python: wherever
    celpy answers, the runtime's `matches` gives that answer."""
    from auditor._policy.cel import activation, compile_expression, evaluate

    expression = compile_expression("evidence.t.matches(evidence.p)", mode="each", file="t", line=1, field="f",
                                    rule_id="R")
    rng = random.Random(seed)
    answered = 0
    for _ in range(1500):
        pattern = "".join(rng.choice(REGEX_TOKENS) for _ in range(rng.randint(1, 6)))
        if rng.random() < 0.3:
            pattern = "(?i)" + pattern
        for text in rng.sample(REGEX_TEXTS, 6):
            try:
                mine = celpy._matches(text, pattern)
            except Exception:  # noqa: S112 - refused: the runtime decides
                continue
            answered += 1
            act = activation("each", {"t": text, "p": pattern}, rule_params={"R": {}}, target={}, now=NOW)
            assert evaluate(expression, act) is mine, (pattern, text)
    assert answered > 1000
