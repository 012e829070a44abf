"""Deciding a rule for many records of one kind in one CEL evaluation: an optimisation of the
engine, never a change of outcome.

Evaluating a rule record by record costs a conversion of each record into CEL values and a
call into the CEL runtime (over 10 microseconds even for `true`) per expression and record.
Here the records of one kind are converted once, into one activation (`batch_records`: chunks
of `{"e": data, "i": index}`, the data holding only the fields the kind's rules read), and
each rule is one program that yields, for each record that does not simply pass, its index
and a code: skipped by the filter, failing, or undecided because `error_when` holds. The
program is the rule's own filter, `error_when` and condition, with the same `params`,
`target` and `now`.

The engine takes from a batch what it decides completely (see engine._settled): records the
filter leaves out; in mode `each`, for a rule without `resource`, `applies_to.each` or
`always_blocks`, a pass, and a failure with its message and correlation key (the batch yields
the values of their placeholders, rendered as Template.render renders them). Every other
record (an undecided one, the selected records of a rule with `applies_to.each`, a failure
whose placeholders failed somewhere) is evaluated one by one as before, by the same code.
Whenever a program does not yield a code for every record (a filter,
`error_when` or condition that fails or is not true or false for some record) the whole rule
is evaluated record by record, so errors and their messages are exactly those of that path.
Where every rule a batch decides for a kind compiles into Python (auditor._policy.celpy: the
same filter, error_when, condition and placeholders, an `instanced` rule's `where` and
per-element outcomes too, yielding what the program yields or refusing), a group whose values
the runtime would take as they are is decided by those functions, without an activation; a
rule whose function refuses for the group is decided by its program, as above. A rule of mode
all is judged over its selected records by celpy too (`judge_all`, for the engine), where
every evaluation the engine makes gives a value.
Chunks keep the CEL runtime's list building (quadratic in a list's length) short, and groups of
at most GROUP records (one activation each) keep a program's iterations within the runtime's
iteration budget (10,000), so a kind with 100,000 records is decided in batches too.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import itertools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditor._models import canonical_plain_json
from auditor._policy import celpy
from auditor._policy.cel import Expression, compile_program, environment, remembered
from auditor._policy.celast import DecodeError, Expr

if TYPE_CHECKING:
    import datetime as dt

    from auditor._policy.rule import Rule
    from auditor.evidence.record import Evidence

PASS, SKIP, FAIL, UNDECIDED, INSTANCES = 0, 1, 2, 3, celpy.INSTANCES
"""What a rule decides for one record: passes, is skipped (the filter is not true), fails, or
cannot be decided (error_when holds); for a rule with applies_to.each, INSTANCES: the outcome
of each element of the list it iterates (`Outcome.items`)."""


@dataclass(frozen=True)
class Outcome:
    """What a batch decided for one record that does not simply pass."""

    code: int
    message: str | None = None
    """A failure's message, rendered; None: render it from the record."""
    correlation: str = ""
    """A failure's correlation key, rendered (with its message)."""
    items: tuple[Outcome, ...] | None = None
    """With code INSTANCES: each element's outcome (PASS, SKIP by `where`, or a rendered FAIL)."""


CHUNK = 16
GROUP = 2048
"""Records per activation: a program iterates about twice per record and once per chunk, within
the CEL runtime's budget of 10,000 iterations per evaluation."""
INSTANCES_GROUP = 128
"""Records per activation when a rule's instances are decided: its program iterates over each
record's list and within each element (a record that still exceeds the budget sends the rule
back to the engine's one-by-one path)."""
MIN_RECORDS = 32
"""Fewer records of a kind than this are evaluated one by one (a program costs a compilation)."""


def _wrap(expr: Expression) -> str:
    return "(\n" + expr.source + "\n)"


def _code(rule: Rule) -> str:
    """The CEL expression of a record's code, with `evidence` bound to the record."""
    decide = _wrap(rule.condition) + " ? 0 : 2"
    if not _judged(rule):
        decide = "0"  # mode all, applies_to.each: only the filter is decided per record
    elif rule.error_when is not None and rule.error_message is not None:
        decide = _wrap(rule.error_when) + " ? 3 : (" + decide + ")"
    if rule.filter is not None:
        return _wrap(rule.filter) + " ? (" + decide + ") : 1"
    return decide


def _judged(rule: Rule) -> bool:
    """Whether a batch evaluates the rule's condition (mode each, one finding per record),
    not only its filter."""
    return rule.mode == "each" and rule.each is None


def instanced(rule: Rule) -> bool:
    """Whether a batch decides each instance of a rule with applies_to.each: its `where`,
    condition, failure message and correlation key (not for a `resource` template or
    `always_blocks`, which the engine evaluates on the instance)."""
    return rule.mode == "each" and rule.each is not None and rule.resource is None and rule.always_blocks is None


def _instances_source(rule: Rule) -> str:
    """The program of an `instanced` rule: for each record, `[index, code]`, and with code 0
    `[index, INSTANCES, [outcome of each element]]` where an element's outcome is 0 (passes),
    1 (not selected by `where`) or `[2, placeholder values...]` (fails)."""
    assert rule.each is not None
    parts = ", ".join(_wrap(p) for p in _placeholders(rule))
    judged = f"{_wrap(rule.condition)} ? dyn(0) : dyn([dyn(2){', ' + parts if parts else ''}])"
    if rule.where is not None:
        judged = f"{_wrap(rule.where)} ? ({judged}) : dyn(1)"
    per_item = f"{rule.each.text}.map(item, {judged})"
    code = "0"
    if rule.error_when is not None and rule.error_message is not None:
        code = _wrap(rule.error_when) + " ? 3 : 0"
    if rule.filter is not None:
        code = _wrap(rule.filter) + " ? (" + code + ") : 1"
    item = f"batch_code == 0 ? [batch_item.i, dyn({INSTANCES}), {per_item}] : [batch_item.i, batch_code]"
    decided = f"cel.bind(evidence, batch_item.e, cel.bind(batch_code, {code}, {item}))"
    return (
        f'cel.bind(params, rule_params["{rule.id}"], batch_records.map(batch_chunk, '
        f"batch_chunk.map(batch_item, {decided})))"
    )


def _placeholders(rule: Rule) -> list[Expression]:
    """The expressions of a failure's message, then of its correlation key."""
    return [*rule.message.placeholders, *(rule.correlation.placeholders if rule.correlation is not None else ())]


def source(rule: Rule, *, messages: bool) -> str:
    """The rule's batch program: for each chunk, `[index, code]` of its records that do not pass,
    with messages: followed, for a failure, by the values of the placeholders of its message and
    correlation key. An `instanced` rule's program yields every record's outcome, its elements'
    included (with their messages always)."""
    if instanced(rule):
        return _instances_source(rule)
    item = "[batch_item.i, batch_code]"
    if messages and _judged(rule):
        parts = ", ".join(_wrap(p) for p in _placeholders(rule))
        item = f"{item} + (batch_code == 2 ? [{parts}] : [])"
    decided = f"cel.bind(evidence, batch_item.e, cel.bind(batch_code, {_code(rule)}, {item}))"
    return (
        f'cel.bind(params, rule_params["{rule.id}"], batch_records.map(batch_chunk, '
        f"batch_chunk.map(batch_item, {decided}).filter(batch_pair, batch_pair[1] != 0)))"
    )


_PROGRAMS: dict[str, Any] = {}


def program(rule: Rule, *, messages: bool) -> Any | None:
    """The rule's batch program, compiled once per text; None where it cannot be made."""
    text = source(rule, messages=messages)
    if text not in _PROGRAMS:
        try:
            _PROGRAMS[text] = compile_program("batch", text)
        except Exception:  # any failure to compile means: evaluate one by one
            _PROGRAMS[text] = None
    return _PROGRAMS[text]


def _expressions(rule: Rule) -> list[Expression]:
    """The rule's expressions a batch evaluates with `evidence` bound."""
    found = [rule.filter] if rule.filter is not None else []
    if instanced(rule):
        if rule.error_when is not None and rule.error_message is not None:
            found.append(rule.error_when)
        found += [rule.condition, *([rule.where] if rule.where is not None else []), *_placeholders(rule)]
    elif _judged(rule):
        found.append(rule.condition)
        if rule.error_when is not None and rule.error_message is not None:
            found.append(rule.error_when)
        found += _placeholders(rule)
    return found


_FIELDS: dict[tuple[str, ...], frozenset[str] | None] = {}


def fields_read(rules: Sequence[Rule]) -> frozenset[str] | None:
    """The top-level fields of `evidence` the rules' batched expressions read, or None when one
    of them may read the record as a whole (then a batch holds whole records)."""
    lists = {r.each.path[0] for r in rules if instanced(r) and r.each is not None}
    key = (*(e.compiled for r in rules for e in _expressions(r)), *sorted(lists))
    if key not in _FIELDS:
        expressions = [e for r in rules for e in _expressions(r)]
        _FIELDS[key] = _remembered("fields", expressions, sorted(lists), _reads)
    return _FIELDS[key]


def _remembered(what: str, expressions: Sequence[Expression], extra: Sequence[str],
                reads: Callable[[Expr, set[str]], bool]) -> frozenset[str] | None:
    """The fields `expressions` read (`extra` and what `reads` adds for each checked form), or
    None when one of them may read a record whole; kept between runs beside the compiled
    programs: it follows from their checked forms (loading and decoding them is most of a
    scan's fixed cost after the rules') and from the code of this module and celast, which the
    key names."""

    def read() -> frozenset[str] | None:
        names: set[str] = set(extra)
        try:
            whole = any(not reads(e.checked().expr, names) for e in expressions)
        except DecodeError:  # pragma: no cover - only if the CEL runtime changes its encoding
            whole = True
        return None if whole else frozenset(names)

    parts = [what, _code_digest(), *(f"{e.mode}\1{e.compiled}" for e in expressions), "\2", *extra]
    raw = remembered("\0".join(parts), lambda: canonical_plain_json(_plain(read())))
    try:
        found = json.loads(raw)
    except ValueError:
        found = False
    if found is None:
        return None
    if isinstance(found, list) and all(isinstance(name, str) for name in found):
        return frozenset(found)
    return read()  # a damaged entry: the cache is only an optimisation


def _plain(names: frozenset[str] | None) -> list[str] | None:
    return None if names is None else sorted(names)


@functools.cache
def _code_digest() -> str:
    """A digest of the code that says which fields an expression reads (this module, celast)."""
    from auditor._policy import celast

    digest = hashlib.sha256(Path(__file__).read_bytes())
    digest.update(Path(celast.__file__).read_bytes())
    return digest.hexdigest()[:16]


def projected(records: Sequence[Mapping[str, Any]], fields: frozenset[str]) -> list[dict[str, Any]]:
    """Each record's plain data with only `fields` (fields_read, item_fields): converting the
    fields nothing reads into CEL values is most of a batch's cost. Keys in sorted order."""
    names = sorted(fields)
    return [{k: d[k] for k in names if k in d} for d in records]


def _reads(node: Expr, names: set[str]) -> bool:
    """Add to `names` the fields of `evidence` that `node` reads; False if it uses `evidence`
    other than by reading a field by a constant name (passed whole, iterated, compared...)."""
    if node.kind == "ident":
        return node.name != "evidence"
    if node.kind == "select" and node.operand is not None and node.operand.kind == "ident" \
            and node.operand.name == "evidence":
        names.add(node.name)
        return True
    if node.kind == "call" and node.name in ("_[_]", "_[?_]", "_?._") and len(node.args) == 2 \
            and node.args[0].kind == "ident" and node.args[0].name == "evidence" and node.args[1].kind == "const" \
            and node.args[1].string is not None:
        names.add(node.args[1].string)
        return True
    if node.kind == "comprehension" and "evidence" in (node.name, node.iter_var2, node.accu_var):
        return False  # a variable of that name: be conservative
    return all(_reads(child, names) for child in node.children())


_ITEM_FIELDS: dict[tuple[str, ...], frozenset[str] | None] = {}


def item_fields(rule: Rule) -> frozenset[str] | None:
    """For a rule of mode all: the top-level fields of the records in `items` that its
    expressions read, or None when one of them may use a record as a whole (then `items` holds
    whole records). Converting records into CEL values is most of the cost of such a rule, and
    a field nothing reads cannot change its outcome (as for a batch, see fields_read)."""
    expressions = [rule.condition, *(e for e in (rule.error_when, rule.always_blocks) if e is not None)]
    for template in (rule.message, rule.resource, rule.error_message, rule.correlation):
        if template is not None:
            expressions += template.placeholders
    key = tuple(e.compiled for e in expressions)
    if key not in _ITEM_FIELDS:
        _ITEM_FIELDS[key] = _remembered("item-fields", expressions, (), _reads_top_items)
    return _ITEM_FIELDS[key]


def _is_items(node: Expr | None) -> bool:
    return node is not None and node.kind == "ident" and node.name == "items"


def _reads_top_items(node: Expr, names: set[str]) -> bool:
    """_reads_items with no comprehension over `items` in scope yet."""
    return _reads_items(node, names, ())


def _reads_items(node: Expr, names: set[str], elements: tuple[str, ...]) -> bool:
    """Add to `names` the fields of the records of `items` that `node` reads, where `elements`
    are the variables of comprehensions over `items` in scope; False if it uses `items` other
    than by iterating it (one variable) or taking its size, or an element other than by reading
    a field by a constant name."""
    if node.kind == "ident":
        return node.name != "items" and node.name not in elements
    if node.kind == "select" and node.operand is not None and node.operand.kind == "ident" \
            and node.operand.name in elements:
        names.add(node.name)
        return True
    if node.kind == "call" and node.name in ("_[_]", "_[?_]", "_?._") and len(node.args) == 2 \
            and node.args[0].kind == "ident" and node.args[0].name in elements and node.args[1].kind == "const" \
            and node.args[1].string is not None:
        names.add(node.args[1].string)
        return True
    if node.kind == "call" and node.name == "size" and (
            (node.operand is None and len(node.args) == 1 and _is_items(node.args[0]))
            or (_is_items(node.operand) and not node.args)):
        return True
    if node.kind == "comprehension":
        bound = {node.name, node.iter_var2, node.accu_var} - {""}
        if "items" in bound or bound & set(elements):
            return False  # a variable shadowing another: be conservative
        inner = elements
        if _is_items(node.iter_range) and not node.iter_var2:
            inner = (*elements, node.name)
        elif node.iter_range is not None and not _reads_items(node.iter_range, names, elements):
            return False
        body = (node.accu_init, node.loop_condition, node.loop_step, node.result)
        return all(_reads_items(part, names, elements if part is node.accu_init else inner)
                   for part in body if part is not None)
    return all(_reads_items(child, names, elements) for child in node.children())


class RecordBatch:
    """The decisions of many records of one kind, made group by group: each group of at most
    GROUP records is converted into CEL values once (one activation), every rule of the kind is
    evaluated on it, and the group is let go, so a kind of 100,000 records never has all of
    their plain data in memory at once."""

    def __init__(
        self,
        data: Sequence[Mapping[str, Any]] | Callable[[int], Mapping[str, Any]],
        rules: Sequence[Rule],
        *,
        size: int | None = None,
        rule_params: Mapping[str, Mapping[str, Any]],
        target: Mapping[str, Any],
        now: dt.datetime,
    ) -> None:
        """`data`: the records' plain data, or a function giving record i's (with `size`)."""
        self.size = len(data) if size is None else size  # type: ignore[arg-type]
        get = data if callable(data) else data.__getitem__
        wanted = fields_read(rules)
        self.decided: dict[str, dict[int, Outcome] | None] = {}
        """Each rule's outcomes ({record index: outcome} of the records that do not pass), or None
        where the rule must be evaluated record by record."""
        todo = [rule for rule in rules if self._batched(rule)]
        rendered = {rule.id: True for rule in todo}
        for rule in todo:
            self.decided[rule.id] = {}
        python = {rule.id: decide for rule in todo if (decide := _python(rule)) is not None}
        if len(python) < len(todo) or not _bindings_ok(rule_params, target, now):
            python = {}  # an activation is made anyway (then checking the group's values would cost more than it saves)
        step = INSTANCES_GROUP if any(instanced(rule) for rule in todo) else GROUP
        for first in range(0, self.size, step):
            last = min(first + step, self.size)
            group: Sequence[Mapping[str, Any]] = [get(i) for i in range(first, last)]
            pending = todo
            if python and _python_ok(group, wanted):  # the functions read no other field than the programs
                pending = [rule for rule in todo if not self._in_python(rule, python[rule.id], group, first,
                                                                        rendered[rule.id], rule_params, target, now)]
            if not pending:
                continue  # no activation: converting the group into CEL values is most of its cost
            if wanted is not None:  # the programs read no other field, and none by its place in a record
                group = projected(group, wanted)
            try:
                activation = activation_of(group, rule_params, target, now)
            except Exception:  # then every rule is evaluated record by record
                self.decided = {rule.id: None for rule in todo}
                return
            for rule in pending:
                found = self.decided[rule.id]
                if found is None:
                    continue
                if instanced(rule):
                    items = _eval(activation, program(rule, messages=True))
                    if items is None:
                        self.decided[rule.id] = None
                    else:
                        found.update((first + int(item[0]), _instances(rule, item)) for item in items)
                    continue
                for messages in (True, False) if rendered[rule.id] else (False,):
                    items = _eval(activation, program(rule, messages=messages))
                    if items is not None:
                        shown = messages and _judged(rule)
                        found.update((first + int(item[0]), _outcome(rule, item, shown)) for item in items)
                        break
                    rendered[rule.id] = False  # a failure left unrendered is judged one by one
                else:
                    self.decided[rule.id] = None

    def _in_python(self, rule: Rule, decide: celpy.Decide, group: Sequence[Mapping[str, Any]], first: int,
                   rendered: bool, rule_params: Mapping[str, Mapping[str, Any]], target: Mapping[str, Any],
                   now: dt.datetime) -> bool:
        """Decide `rule` for the group by its Python function (auditor._policy.celpy) if it yields a
        value: what the rule's CEL program yields. False: the program decides."""
        found = self.decided[rule.id]
        if found is None:
            return True  # left to the engine's record-by-record path already
        try:
            items = decide(group, rule_params, target, now.astimezone(datetime.UTC))
        except Exception:  # Refused, or any error the runtime would give: its program decides
            return False
        if instanced(rule):
            found.update((first + item[0], _instances(rule, item)) for item in items)
            return True
        shown = rendered and _judged(rule)  # as the program with messages yields them, or without
        found.update((first + item[0], _outcome(rule, item, shown)) for item in items)
        return True

    @staticmethod
    def _batched(rule: Rule) -> bool:
        if instanced(rule):
            return True
        return not (rule.each is not None and rule.filter is None) and (rule.mode == "each" or rule.filter is not None)

    def outcomes(self, rule: Rule) -> dict[int, Outcome] | None:
        """{record index: outcome} for the records that do not pass (absent: PASS), or None when
        the rule must be evaluated record by record."""
        if rule.mode != "each" and rule.filter is None:
            return {}  # nothing to decide per record
        if rule.each is not None and rule.filter is None and not instanced(rule):
            return None  # every record is judged instance by instance
        return self.decided.get(rule.id)


def activation_of(group: Sequence[Mapping[str, Any]], rule_params: Mapping[str, Mapping[str, Any]],
                  target: Mapping[str, Any], now: dt.datetime) -> Any:
    """The activation of a group of records' plain data, in chunks (see CHUNK), for the programs."""
    chunks = [
        [{"e": group[i], "i": i} for i in range(start, min(start + CHUNK, len(group)))]
        for start in range(0, len(group), CHUNK)
    ]
    variables = {"batch_records": chunks, "rule_params": rule_params, "target": target, "now": now}
    return environment("batch").Activation(variables)


PYTHON = True
"""Whether rules are decided in Python where auditor._policy.celpy compiles them (tests turn it off
to compare with the CEL programs)."""


def _python(rule: Rule) -> celpy.Decide | None:
    """The rule's batch decisions as a Python function (celpy), or None: its CEL program decides."""
    if not PYTHON:
        return None
    error_when = rule.error_when is not None and rule.error_message is not None
    return celpy.rule_function(rule, _judged(rule), error_when, _placeholders(rule), instanced=instanced(rule))


_ALL: dict[int, tuple[Rule, celpy.AllDecide | None]] = {}


def _all_function(rule: Rule) -> celpy.AllDecide | None:
    """celpy.compile_all for a rule of mode all (once per rule object); None for a rule with
    `always_blocks` (evaluated on the activation) or beyond what celpy compiles."""
    found = _ALL.get(id(rule))
    if found is None or found[0] is not rule:
        decide = None
        if rule.mode == "all" and rule.each is None and rule.always_blocks is None:
            error_when = rule.error_when if rule.error_message is not None else None

            def parts(template: Any) -> Sequence[Expression]:
                return template.placeholders if template is not None else ()

            decide = celpy.compile_all(rule.id, error_when, parts(rule.error_message), rule.condition,
                                       parts(rule.resource), parts(rule.message), parts(rule.correlation))
        if len(_ALL) >= 4096:
            _ALL.clear()
        found = _ALL[id(rule)] = (rule, decide)
    return found[1]


def judge_all(rule: Rule, items: Sequence[Mapping[str, Any]], rule_params: Mapping[str, Mapping[str, Any]],
              target: Mapping[str, Any], now: dt.datetime) -> tuple[int, str | None, str, str] | None:
    """A rule of mode all judged over `items` in Python (auditor._policy.celpy), where that is what
    the engine's evaluations with the CEL runtime give: (PASS, FAIL or UNDECIDED (`error_when`
    holds), its resource rendered (None: the rule has no resource template), its message (the
    error message with UNDECIDED, none with PASS), its correlation key). None: the engine
    evaluates the rule with the CEL runtime."""
    decide = _all_function(rule) if PYTHON else None
    if decide is None or not (_bindings_ok(rule_params, target, now) and type(items) is list
                              and _python_ok(items, None)):
        return None
    try:
        code, resource, shown, key = decide(items, rule_params, target, now.astimezone(datetime.UTC))
    except Exception:  # Refused, or any error the runtime would give: the engine evaluates
        return None
    place = rule.resource.fill(resource) if rule.resource is not None else None
    if code == PASS:
        return PASS, place, rule.title, ""
    if code == UNDECIDED:
        assert rule.error_message is not None
        return UNDECIDED, place, rule.error_message.fill(shown), ""
    return FAIL, place, rule.message.fill(shown), rule.correlation.fill(key) if rule.correlation is not None else ""


def _python_ok(group: Sequence[Mapping[str, Any]], wanted: frozenset[str] | None) -> bool:
    """Whether the records are maps whose values (of the fields `wanted`, or all) the runtime
    would take as celpy computes with them (the values of the group's activation)."""
    if not all(type(data) is dict for data in group):
        return False
    if wanted is None:
        return celpy.plain_ok(group)
    if not wanted or not group:
        return True  # no value is read
    names = sorted(wanted)
    # the values read, by field (a column of a field's values is mostly of one type)
    columns = celpy.by_key(group, names)
    if columns is None:  # a record without one of the fields
        columns = [[data[k] for data in group if k in data] for k in names]
    return celpy.plain_columns_ok(columns)


def _bindings_ok(rule_params: Mapping[str, Mapping[str, Any]], target: Mapping[str, Any], now: dt.datetime) -> bool:
    """Whether the bindings besides the records are values the runtime takes as celpy computes
    with them (plain data; `now` a datetime with its offset)."""
    return type(now) is datetime.datetime and now.utcoffset() is not None and type(rule_params) is dict \
        and celpy.plain_ok(rule_params) and celpy.plain_ok(target)


def _eval(activation: Any, compiled: Any) -> list[Any] | None:
    """[index in the group, code, ...] of every record of the group that does not pass; None when
    the program cannot be evaluated on it."""
    if compiled is None:
        return None
    try:
        value = compiled.eval(activation)
        if str(value.type()) == "ERROR":
            return None
        return [item for chunk in value.plain_value() for item in chunk]
    except Exception:  # a runtime failure: evaluate one by one
        return None


def _outcome(rule: Rule, item: Sequence[Any], rendered: bool) -> Outcome:
    """The outcome a batch program yielded for a record: `[index, code]`, followed for a failure
    by the values of its placeholders when the program `rendered` them."""
    code = int(item[1])
    if code != FAIL or not rendered:
        return _BARE.get(code) or Outcome(code)  # most are records the filter skips: shared
    values = item[2:]
    cut = len(rule.message.placeholders)
    correlation = rule.correlation.fill(values[cut:]) if rule.correlation is not None else ""
    return Outcome(code, rule.message.fill(values[:cut]), correlation)


def _instances(rule: Rule, item: Sequence[Any]) -> Outcome:
    """A record's outcome from an `instanced` rule's program (see _instances_source)."""
    code = int(item[1])
    if code != INSTANCES:
        return Outcome(code)
    return Outcome(INSTANCES, items=tuple(
        _ELEMENT[element] if type(element) is int else _outcome(rule, [None, *element], True)
        for element in item[2]
    ))


class Batches:
    """The batches of one evaluation: one per evidence kind (per set of records still to decide),
    made when a rule first needs it.

    What a batch decides for a record depends on nothing but the rule's program, the record's
    data, `rule_params`, `target` and `now` (and a failure's message on the rule's message and
    correlation texts); so outcomes are kept (in this process, up to KEPT of them) by rule
    program and texts, those bindings and the record's canonical data, and a record
    whose data was decided before (the same facts in another bundle of a fleet, or twice in one
    bundle) is not evaluated again."""

    def __init__(
        self,
        rules: Sequence[Rule],
        *,
        rule_params: Mapping[str, Mapping[str, Any]],
        target: Mapping[str, Any],
        now: dt.datetime,
    ) -> None:
        self.rules = rules
        self.bindings: dict[str, Any] = {"rule_params": rule_params, "target": target, "now": now}
        self.by_kind: dict[tuple[str, tuple[int, ...]], RecordBatch] = {}
        self._context: bytes | bool | None = False
        self._records: dict[int, tuple[Sequence[Evidence], list[bytes], dict[bytes, int]]] = {}

    def context(self) -> bytes | None:
        """The bindings besides the records, as canonical JSON; None if they have no JSON form."""
        if self._context is False:
            b = self.bindings
            try:
                self._context = canonical_plain_json([b["rule_params"], b["target"], b["now"].isoformat()])
            except (TypeError, ValueError, OverflowError):
                self._context = None
        return self._context if isinstance(self._context, bytes) else None

    def outcomes(self, rule: Rule, records: Sequence[Evidence]) -> dict[int, Outcome] | None:
        """What `rule` decides for each of `records` (the kind's evidence, in order): see
        RecordBatch.outcomes; None also when there are too few records to be worth a batch."""
        if len(records) < MIN_RECORDS:
            return None
        if rule.mode != "each" and rule.filter is None:
            return {}  # nothing to decide per record
        if rule.each is not None and rule.filter is None and not instanced(rule):
            return None  # every record is judged instance by instance
        context = self.context()
        if context is None:
            return self._decide(rule, records, tuple(range(len(records))))
        key = (_kept_key(rule), context)
        known = _KEPT.get(key)
        if known is None:
            known = _KEPT[key] = {}
        datas, first = self._datas(records)
        if not first.keys() <= known.keys():  # else every record was decided before (a fleet's common case)
            todo = {data: i for data, i in first.items() if data not in known} if known else first
            tried = frozenset(todo)
            if tried in _UNDECIDED.get(key, ()):
                return None  # these records made the rule's batch fail before
            decided = self._decide(rule, records, tuple(todo.values()))
            if decided is None:
                if len(_UNDECIDED) > KEPT_FAILURES:
                    _UNDECIDED.clear()
                _UNDECIDED.setdefault(key, set()).add(tried)
                return None
            global _KEPT_COUNT
            if _KEPT_COUNT + len(todo) > KEPT:
                kept = {data: known[data] for data in first if data in known}  # these records' outcomes stay
                _KEPT.clear()
                known = _KEPT[key] = kept
                _KEPT_COUNT = len(kept)
            _KEPT_COUNT += len(todo)
            known.update(zip(todo, map(decided.get, todo.values(), itertools.repeat(_PASS)), strict=True))
            if len(todo) == len(datas):  # every record decided now, each by its own index: the outcomes as they are
                return {i: outcome for i, outcome in decided.items() if outcome.code != PASS}
        return {i: outcome for i, outcome in enumerate(map(known.__getitem__, datas)) if outcome.code != PASS}

    def _datas(self, records: Sequence[Evidence]) -> tuple[list[bytes], dict[bytes, int]]:
        """The canonical data of each record, and where each distinct one is first (made once per
        list of records: every rule of a kind is given the same)."""
        found = self._records.get(id(records))
        if found is None or found[0] is not records:
            datas = [record.canonical_data for record in records]
            first: dict[bytes, int] = {}
            for i, data in enumerate(datas):
                first.setdefault(data, i)
            found = self._records[id(records)] = (records, datas, first)
        return found[1], found[2]

    def _decide(self, rule: Rule, records: Sequence[Evidence], which: tuple[int, ...]) -> dict[int, Outcome] | None:
        """RecordBatch.outcomes for the records at indices `which`, by their index in `records`."""
        found = self.by_kind.get((rule.kind, which))
        if found is None:
            found = self.by_kind[(rule.kind, which)] = RecordBatch(
                lambda j: records[which[j]].transient_plain(), [r for r in self.rules if r.kind == rule.kind],
                size=len(which), **self.bindings)
        decided = found.outcomes(rule)
        if decided is None:
            return None
        if len(which) == len(records):  # which is range(len(records)): the indices are the records'
            return dict(decided)
        return {which[j]: outcome for j, outcome in decided.items()}


def _kept_key(rule: Rule) -> str:
    """The text outcomes of `rule` are kept by: its batch program with messages and the texts its
    failures are rendered with (message and correlation key); made once per rule object."""
    found = _KEYS.get(id(rule))
    if found is None or found[0] is not rule:
        texts = (rule.message.source, rule.correlation.source if rule.correlation is not None else "")
        if len(_KEYS) >= 4096:
            _KEYS.clear()
        found = _KEYS[id(rule)] = (rule, "\0".join((source(rule, messages=True), *texts)))
    return found[1]


_KEYS: dict[int, tuple[Rule, str]] = {}
"""_kept_key's texts by the id of a rule it holds (a frozen Rule: its texts cannot change)."""
_PASS = Outcome(PASS)
_ELEMENT = {PASS: _PASS, SKIP: Outcome(SKIP)}
"""The outcomes of an element that passes or that `where` leaves out (shared: there are many)."""
_BARE = {PASS: _PASS, SKIP: _ELEMENT[SKIP], FAIL: Outcome(FAIL), UNDECIDED: Outcome(UNDECIDED)}
"""The outcomes that carry nothing but their code (frozen: one of each serves every record)."""
KEPT = 500_000
"""How many outcomes of batches this process keeps, over every rule and evaluation."""
_KEPT: dict[tuple[str, bytes], dict[bytes, Outcome]] = {}
_KEPT_COUNT = 0
_UNDECIDED: dict[tuple[str, bytes], set[frozenset[bytes]]] = {}
"""The sets of records (by data) for which a rule's batch could not decide every record."""
KEPT_FAILURES = 1_000


def forget() -> None:
    """Drop the outcomes kept so far (tests; a process that changes its rules in place)."""
    global _KEPT_COUNT
    _KEPT.clear()
    _UNDECIDED.clear()
    _KEPT_COUNT = 0
