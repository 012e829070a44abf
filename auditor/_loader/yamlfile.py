"""Safe YAML loading that remembers where every value came from.

Only the safe loader is used (no Python objects from tags). Duplicate keys and alias bombs are
errors, and every error names the file and line. Each loaded document keeps a map from the
path of every value (a tuple of keys and indexes) to its 1-based line, so that schema errors
and rule errors can point at the line the user must edit.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from auditor import _limits as limits
from auditor._fsutil import path_text, read_user_file
from auditor._loader.kubeyaml import PLAIN, make_loader, plain_scalar, values_by_key
from auditor.errors import ConfigError

try:  # libyaml is much faster; fall back to the pure-Python safe loader where it is missing
    _Loader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment,misc,unused-ignore]
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _Loader = yaml.SafeLoader



class _TagCachingLoader(_Loader):  # type: ignore[valid-type,misc]
    """The loader, with each plain scalar's implicit tag (PyYAML resolves it in Python, trying
    its regular expressions on every scalar) kept by the scalar's text: the tag depends on the
    text and its style alone (this loader has no path resolvers)."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode and len(value) <= 64 and not self.yaml_path_resolvers:
            key = (value, implicit)
            tag = _TAGS.get(key)
            if tag is None:
                tag = super().resolve(kind, value, implicit)
                if len(_TAGS) >= 20_000:
                    _TAGS.clear()
                _TAGS[key] = tag
            return tag
        return super().resolve(kind, value, implicit)


_TAGS: dict[tuple[str, Any], str] = {}
_Loader = _TagCachingLoader
_KubernetesLoader = make_loader(_Loader)

# The largest YAML file read and the most values a document may expand to once aliases are
# resolved are the limits yaml-bytes and yaml-values (auditor._limits).

PathKey = tuple[str | int, ...]


@dataclass(frozen=True)
class Document:
    """One YAML document: its value, the file it came from and the line of every value."""

    value: Any
    file: str
    index: int = 0
    lines: dict[PathKey, int] = field(default_factory=dict)

    def line_of(self, path: PathKey | list[str | int] | tuple[Any, ...]) -> int | None:
        """The line of the value at `path`, or of its nearest ancestor that has one."""
        key = tuple(path)
        while True:
            normalized = tuple(k if isinstance(k, int) else str(k) for k in key)
            if normalized in self.lines:
                return self.lines[normalized]
            if not key:
                return None
            key = key[:-1]

    def error(
        self, message: str, path: PathKey | tuple[Any, ...] = (), *, cls: type[ConfigError] = ConfigError
    ) -> ConfigError:
        """An error located at the value at `path` (file, line and dotted field)."""
        dotted = dotted_path(path)
        return cls(message, file=self.file, line=self.line_of(path), field=dotted or None)


def text_position(file: str, line: int | None, value: str, offset: int) -> tuple[int | None, int | None]:
    """The 1-based line and column in `file` of character `offset` of the string `value`, a
    scalar whose text starts on `line` (plain, quoted, literal or folded: folding and quoting
    change whitespace and escapes, never the order of the other characters). Falls back to
    (`line`, None) where the file cannot be matched (or read again: the file is reread as it was
    read first, a regular file of at most the yaml-bytes limit)."""
    try:
        text = read_user_file(file, limit="yaml-bytes", what="YAML file")
    except ConfigError:
        return line, None
    rows = text.split("\n")
    if line is None or not 0 < line <= len(rows):
        return line, None
    start = sum(len(r) + 1 for r in rows[: line - 1])
    head = value.lstrip().split("\n")[0][:24].rstrip()
    at = -1
    while head and at < 0:
        at = text.find(head, start, start + len(rows[line - 1]) + 1)
        head = head[: len(head) // 2] if at < 0 and len(head) > 1 else ("" if at < 0 else head)
    if at < 0:
        return line, None
    pos = at
    chars = value.lstrip()
    target = max(0, offset - (len(value) - len(chars)))
    for i, ch in enumerate(chars):
        if ch.isspace():
            continue
        found = text.find(ch, pos)
        if found < 0:
            return line, None
        if i >= target:
            pos = found
            break
        pos = found + 1
    row = text.count("\n", 0, pos)
    return row + 1, pos - (text.rfind("\n", 0, pos) + 1) + 1


def dotted_path(path: PathKey | tuple[Any, ...] | list[Any]) -> str:
    """`rules[3].condition` for ("rules", 3, "condition")."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _yaml_error(exc: yaml.YAMLError, file: str) -> ConfigError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    text = f"invalid YAML: {problem}" + (f" ({context})" if context else "")
    return ConfigError(text, file=file, line=(mark.line + 1) if mark is not None else None)


class _Walker:
    """Records the line of every node and rejects duplicate keys and alias bombs."""

    def __init__(self, file: str, max_values: int | None = None) -> None:
        self.file = file
        self.lines: dict[PathKey, int] = {}
        self._sizes: dict[int, int] = {}
        self.max_values = limits.get("yaml-values") if max_values is None else max_values
        self.count = 0
        """The nodes walked (keys and the parts walk skips included): size() of the root, for a
        document without aliases."""

    def size(self, node: yaml.Node) -> int:
        key = id(node)
        if key in self._sizes:
            return self._sizes[key]
        self._sizes[key] = 1  # guards against recursive aliases
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(self.size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(self.size(k) + self.size(v) for k, v in node.value)
        self._sizes[key] = total
        if total > self.max_values:
            raise ConfigError(
                limits.exceeded("yaml-values", "the document expands to too many values (an alias bomb?)"),
                file=self.file,
                line=node.start_mark.line + 1,
            )
        return total

    def walk(self, node: yaml.Node, path: PathKey, depth: int = 0) -> None:
        if depth > 200:
            raise ConfigError(
                "document is nested more than 200 levels deep",
                file=self.file,
                line=node.start_mark.line + 1,
            )
        if path in self.lines:  # an alias seen before: its children are recorded already
            return
        line = node.start_mark.line + 1
        if isinstance(node, yaml.ScalarNode) and node.style in ("|", ">"):
            line += 1  # a block scalar's text starts on the line after its indicator
        self.lines[path] = line
        self.count += 1
        if isinstance(node, yaml.SequenceNode):
            for i, child in enumerate(node.value):
                self.walk(child, (*path, i), depth + 1)
        elif isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key_node, value_node in node.value:
                self.count += 1 if isinstance(key_node, yaml.ScalarNode) else _Walker(self.file, self.max_values).size(key_node)
                if key_node.tag == "tag:yaml.org,2002:merge":
                    self.count += _Walker(self.file, self.max_values).size(value_node)
                    continue
                key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else repr(key_node)
                line = key_node.start_mark.line + 1
                if key in seen:
                    raise ConfigError(
                        f"duplicate key '{key}' (first at line {seen[key]})",
                        file=self.file,
                        line=line,
                    )
                seen[key] = line
                self.walk(value_node, (*path, key), depth + 1)


def _checked(node: yaml.Node, file: str, max_values: int | None = None, *, aliases: bool = True) -> _Walker:
    """Walk a composed document: alias bombs, depth and duplicate keys are errors; lines recorded.

    The document's size is checked first. Without `aliases` (no `*` in the text) every node is
    walked once, so the walk counts them: only a document past the limit, or one the walk
    refuses, has its size checked on its own (whose error comes first, as it always does)."""
    walker = _Walker(file, max_values)
    if aliases:
        walker.size(node)
        walker.walk(node, ())
        return walker
    try:
        walker.walk(node, ())
    except (ConfigError, RecursionError):
        _Walker(file, max_values).size(node)
        raise
    if walker.count > walker.max_values:
        _Walker(file, max_values).size(node)
    return walker


_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"


class _Unusual(Exception):
    """A document the plain construction leaves to PyYAML's constructor (merge keys, a key
    that is not hashable, a value PyYAML cannot construct)."""


def _construct(loader: yaml.SafeLoader, node: yaml.Node, kubernetes: bool = False) -> Any:
    """`loader.construct_document(node)` for a checked document (see _checked: no recursion),
    without PyYAML's pure-Python constructor for the plain strings, mappings and sequences most
    documents are made of: other scalars and collections with other tags are still constructed
    by it. Whatever this cannot construct as PyYAML would, PyYAML constructs (and reports).
    `kubernetes`: keys as JSON writes them (auditor._loader.kubeyaml.values_by_key: a later
    key wins over an earlier one that became the same text)."""
    try:
        return _build(node, {}, loader.construct_object, kubernetes)
    except Exception:  # anything unusual: PyYAML's own construction, its errors included
        loader.constructed_objects, loader.recursive_objects = {}, {}
        loader.state_generators, loader.deep_construct = [], False
        return loader.construct_document(node)
    finally:
        loader.constructed_objects, loader.recursive_objects = {}, {}
        loader.state_generators, loader.deep_construct = [], False


def _build(node: yaml.Node, made: dict[int, Any], other: Any, kubernetes: bool) -> Any:
    """The value of `node` (see _construct); `made` holds the values of the nodes built so far
    by their ids, `other` constructs any other node. A function of the module rather than a
    closure calling itself, which would be a reference cycle (holding `made` and the loader)
    that only the cyclic collector frees, once per document (a one-shot scan runs without it:
    auditor._gcpause.one_shot)."""
    key = id(node)
    if key in made:
        return made[key]  # an alias: the same object, as PyYAML gives
    tag = node.tag
    value: Any
    if tag == _STR and type(node) is yaml.ScalarNode:
        value = node.value
    elif tag == PLAIN:
        value = plain_scalar(node.value)
    elif tag == _MAP and type(node) is yaml.MappingNode:
        value = {}
        if kubernetes:  # keys as JSON writes them, the last of one text wins
            if any(kn.tag == _MERGE for kn, _ in node.value):
                raise _Unusual
            for k, value_node in values_by_key(node.value, lambda kn: _build(kn, made, other, True)).items():
                value[k] = _build(value_node, made, other, True)
        else:
            for key_node, value_node in node.value:
                if key_node.tag == _MERGE:
                    raise _Unusual
                k = _build(key_node, made, other, False)
                if isinstance(k, list | dict):
                    raise _Unusual  # PyYAML's error: an unhashable key
                value[k] = _build(value_node, made, other, False)
    elif tag == _SEQ and type(node) is yaml.SequenceNode:
        value = [_build(child, made, other, kubernetes) for child in node.value]
    else:
        value = other(node, deep=True)
    made[key] = value
    return value


def _unlink(node: yaml.Node) -> None:
    """Empty the collections of `node`'s graph once its document is built or refused: a
    recursive anchor (`a: &x [*x]`, refused as nested too deep) makes the graph a reference
    cycle, which only the cyclic collector frees (a one-shot scan runs without it:
    auditor._gcpause.one_shot), about 0.9 KB for each such document of a few bytes."""
    seen: set[int] = set()
    stack: list[Any] = [node]
    while stack:
        current = stack.pop()
        if not isinstance(current, yaml.CollectionNode) or id(current) in seen:
            continue
        seen.add(id(current))
        children, current.value = current.value, []
        for child in children:
            stack.extend(child if isinstance(child, tuple) else (child,))


def _documents(text: str, file: str, max_values: int, kubernetes: bool = False) -> Iterator[Document | ConfigError]:
    loader = (_KubernetesLoader if kubernetes else _Loader)(text)
    aliases = "*" in text
    index = 0
    try:
        while True:
            start: int | None = None  # the document's first line
            try:
                if not loader.check_node():
                    break
                node = loader.get_node()
                if node is None:  # pragma: no cover - check_node said there was one
                    break
                start = node.start_mark.line + 1
                try:
                    walker = _checked(node, file, max_values, aliases=aliases)
                    value = _construct(loader, node, kubernetes)
                finally:
                    if aliases:
                        _unlink(node)
            except yaml.YAMLError as exc:
                yield _yaml_error(exc, file)
                return  # the stream cannot be resynchronised after a parse error
            except ConfigError as exc:
                yield exc
                index += 1
                continue
            except (ValueError, TypeError, OverflowError) as exc:
                # e.g. an out-of-range date that the safe constructor cannot build
                yield ConfigError(f"invalid YAML value: {exc}", file=file, line=start)
                index += 1
                continue
            except (LookupError, AttributeError):
                # PyYAML's constructors fail so on a value its explicit tag cannot hold
                # (`!!bool maybe`: KeyError; `!!timestamp nope`: AttributeError)
                yield ConfigError("invalid YAML value: a value its tag (!!bool, !!timestamp, ...) cannot hold",
                                  file=file, line=start)
                index += 1
                continue
            yield Document(value=value, file=file, index=index, lines=walker.lines)
            index += 1
    finally:
        loader.dispose()


def load_yaml_documents(source: str | Path, *, text: str | None = None, in_force: limits.Limits | None = None,
                        kubernetes: bool = False) -> Iterator[Document | ConfigError]:
    """Every document of a YAML stream, or a located error in its place.

    A syntax error ends the stream (YAML cannot resynchronise after one); an invalid document
    (a duplicate key, an alias bomb) yields its error and the next documents are still read.
    `in_force`: the limits (limits.current(), which reads the environment: a reader of many
    streams, such as the manifests' documents, reads them once). `kubernetes`: read as
    Kubernetes reads a manifest (auditor._loader.kubeyaml: `privileged: Y` is true, keys are
    strings), not as PyYAML reads YAML 1.1.
    """
    file = path_text(source)
    current = in_force if in_force is not None else limits.current()  # read once for the stream
    if text is None:
        text = read_user_file(Path(source), limit="yaml-bytes", what="YAML file")
    elif len(text) > current.get("yaml-bytes"):
        raise ConfigError(limits.exceeded("yaml-bytes", "the YAML text is too large"), file=file)
    return _documents(text, file, current.get("yaml-values"), kubernetes)


def load_yaml(source: str | Path, *, text: str | None = None) -> Document:
    """Exactly one YAML document from a file (or from `text`, named `source` in errors)."""
    docs: list[Document] = []
    for item in load_yaml_documents(source, text=text):
        if isinstance(item, ConfigError):
            raise item
        docs.append(item)
    if not docs:
        raise ConfigError("file is empty; expected a YAML document", file=str(source))
    if len(docs) > 1:
        line = docs[1].line_of(())
        raise ConfigError(
            "expected one YAML document, found several ('---' separators)",
            file=str(source),
            line=line,
        )
    return docs[0]


def compose_yaml_nodes(text: str, file: str) -> list[yaml.Node]:
    """The node trees of every document (tags, raw scalar text and marks), nothing constructed.

    For readers that must see a scalar as it was written (sops values, whose MAC depends on
    Go's YAML typing): same safe loader, same alias-bomb and depth limits; errors name the file.
    """
    loader = _Loader(text)
    nodes: list[yaml.Node] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:  # pragma: no cover - check_node said there was one
                break
            _checked(node, file)
            nodes.append(node)
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, file) from None
    finally:
        loader.dispose()
    return nodes
