"""YAML for pki's own documents (certificate profiles, the ACME policy): safe, bounded, and
never an internal error (pki never imports auditor, whose loader does the same for its files).

libyaml (when PyYAML has it) refuses nesting deeper than 1000 levels before anything is built;
an alias bomb (a few lines that expand to millions of values) is refused by counting what the
document expands to before it is constructed.
"""

from __future__ import annotations

from typing import Any

import yaml

try:  # libyaml: fast, and its parser bounds nesting
    _Loader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment,misc,unused-ignore]
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _Loader = yaml.SafeLoader

MAX_VALUES = 100_000
"""The most values a pki YAML document may expand to once aliases are resolved."""


class YamlProblem(Exception):
    """Why a text is not a YAML document pki reads: `why`, at 1-based `line` (or None)."""

    def __init__(self, why: str, line: int | None = None) -> None:
        super().__init__(why)
        self.why = why
        self.line = line


def load(text: str) -> tuple[Any, yaml.Node | None]:
    """The value of the one YAML document in `text` and its composed node (for line numbers),
    (None, None) for an empty text; YamlProblem when it is not valid YAML, holds more than one
    document, nests too deep or expands to more than MAX_VALUES values."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        _check_size(node)
        return loader.construct_document(node), node
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise YamlProblem("not valid YAML", mark.line + 1 if mark is not None else None) from None
    except RecursionError:
        raise YamlProblem("nested too deep") from None
    except (ValueError, TypeError, OverflowError) as exc:  # a value the safe constructor cannot build
        raise YamlProblem(f"invalid YAML value: {exc}") from None
    except (LookupError, AttributeError):  # what PyYAML raises for `!!bool maybe`, `!!timestamp nope`
        raise YamlProblem("invalid YAML value: a value its tag (!!bool, !!timestamp, ...) cannot hold") from None
    finally:
        loader.dispose()


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _check_size(root: yaml.Node) -> None:
    """The values `root` expands to, counted without recursion (alias chains can be long)."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if children_done:
            total = 1 + sum(sizes.get(id(child), 1) for child in _children(node))
            sizes[id(node)] = total
            if total > MAX_VALUES:
                raise YamlProblem(f"expands to more than {MAX_VALUES:,} values (an alias bomb?)",
                                  node.start_mark.line + 1)
        elif id(node) not in sizes:
            sizes[id(node)] = 1  # in progress: a recursive alias counts once
            stack.append((node, True))
            stack.extend((child, False) for child in _children(node) if id(child) not in sizes)
