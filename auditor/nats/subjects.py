"""NATS subjects as the server treats them (server/sublist.go).

Tokens are separated by `.`; `*` matches exactly one token and `>` one or more trailing
tokens, each only as a whole token. :class:`Sublist` is the server's subscription trie, used
for permission checks: a subject is looked up token by token, and pattern wildcards match any
token of the subject *including* a `*` or `>` token of a wildcard subscription, which is why
`subscribe allow: foo.*` admits a subscription to `foo.>` (observed on the real server).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

PWC = "*"
FWC = ">"


def tokens(subject: str) -> list[str]:
    return subject.split(".")


def is_valid_subject(subject: str) -> bool:
    """The server's IsValidSubject: no empty token, nothing after `>`, no blanks in a token."""
    if not subject:
        return False
    after_fwc = False
    for t in subject.split("."):
        if not t or after_fwc:
            return False
        if len(t) > 1:
            if any(c in t for c in "\t\n\f\r "):
                return False
            continue
        if t == FWC:
            after_fwc = True
        elif t in " \t\n\r\f":
            return False
    return True


def has_wildcard(subject: str) -> bool:
    return any(t in (PWC, FWC) for t in subject.split("."))


def is_literal(subject: str) -> bool:
    return not has_wildcard(subject)


def is_subset(subject: str, test: str) -> bool:
    """Whether every subject `subject` matches is matched by `test` (subjectIsSubsetMatch)."""
    return _is_subset_tokens(tokens(subject), tokens(test))


def _is_subset_tokens(toks: list[str], test: list[str]) -> bool:
    for i, t2 in enumerate(test):
        if i >= len(toks) or not t2:
            return False
        if t2 == FWC:
            return True
        t1 = toks[i]
        if not t1 or t1 == FWC:
            return False
        if t1 == PWC:
            if t2 != PWC:
                return False
            continue
        if t2 != PWC and t1 != t2:
            return False
    return len(toks) == len(test)


def collide(a: str, b: str) -> bool:
    """Whether some literal subject matches both `a` and `b` (SubjectsCollide)."""
    if a == b:
        return True
    t1, t2 = tokens(a), tokens(b)
    w1, w2 = has_wildcard(a), has_wildcard(b)
    if not w1 and not w2:
        return False
    if not w1:
        return _is_subset_tokens(t1, t2)
    if not w2:
        return _is_subset_tokens(t2, t1)
    f1, f2 = FWC in t1, FWC in t2
    if not f1 and not f2 and len(t1) != len(t2):
        return False
    if (len(t1) < len(t2) and not f1) or (len(t2) < len(t1) and not f2):
        return False
    for x, y in zip(t1, t2, strict=False):
        if not x or not y:
            return False
        if x[0] not in (PWC, FWC) and y[0] not in (PWC, FWC) and x != y:
            return False
    return True


def meet(a: str, b: str) -> str | None:
    """A pattern matching exactly the subjects both patterns match, or None if they are disjoint."""
    t1, t2 = tokens(a), tokens(b)
    out: list[str] = []
    for i in range(max(len(t1), len(t2))):
        x = t1[i] if i < len(t1) else None
        y = t2[i] if i < len(t2) else None
        if x == FWC:
            return ".".join(out + t2[i:]) if y is not None else None
        if y == FWC:
            return ".".join(out + t1[i:]) if x is not None else None
        if x is None or y is None:
            return None
        if x == PWC:
            out.append(y)
        elif y == PWC or x == y:
            out.append(x)
        else:
            return None
    return ".".join(out)


@dataclass
class _Node:
    next: _Level | None = None
    plain: list[str] = field(default_factory=list)
    queues: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class _Level:
    nodes: dict[str, _Node] = field(default_factory=dict)
    pwc: _Node | None = None
    fwc: _Node | None = None


@dataclass
class Match:
    """What a lookup found: the plain entries and, per queue name, the queue entries."""

    plain: list[str] = field(default_factory=list)
    queues: dict[str, list[str]] = field(default_factory=dict)

    def add(self, node: _Node) -> None:
        self.plain.extend(node.plain)
        for q, entries in node.queues.items():
            self.queues.setdefault(q, []).extend(entries)


class Sublist:
    """The server's subscription trie, holding permission entries (`subject` or `subject queue`)."""

    def __init__(self, entries: Iterable[str] = ()) -> None:
        self.root = _Level()
        self.count = 0
        for entry in entries:
            self.insert(entry)

    def insert(self, entry: str) -> None:
        subject, _, queue = entry.strip().partition(" ")
        queue = queue.strip()
        level = self.root
        node: _Node | None = None
        for t in subject.split("."):
            if t == PWC:
                node = level.pwc = level.pwc or _Node()
            elif t == FWC:
                node = level.fwc = level.fwc or _Node()
            else:
                node = level.nodes.setdefault(t, _Node())
            if node.next is None:
                node.next = _Level()
            level = node.next
        assert node is not None
        if queue:
            node.queues.setdefault(queue, []).append(entry)
        else:
            node.plain.append(entry)
        self.count += 1

    def match(self, subject: str) -> Match:
        """The entries matching `subject` (literal or not: its tokens are looked up as text)."""
        result = Match()
        toks = subject.split(".")
        if any(not t for t in toks):
            return result
        _match_level(self.root, toks, result)
        return result


def _match_level(level: _Level | None, toks: list[str], result: Match) -> None:
    pwc: _Node | None = None
    node: _Node | None = None
    for i, t in enumerate(toks):
        if level is None:
            return
        if level.fwc is not None:
            result.add(level.fwc)
        pwc = level.pwc
        if pwc is not None:
            _match_level(pwc.next, toks[i + 1 :], result)
        node = level.nodes.get(t)
        level = node.next if node is not None else None
    if node is not None:
        result.add(node)
    if pwc is not None:
        result.add(pwc)


def queue_matches(queue: str, queues: dict[str, list[str]]) -> bool:
    """The server's queueMatches: a queue entry names the queue, or a wildcard covering it."""
    if not queues:
        return True
    return any(queue == q or (has_wildcard(q) and is_subset(queue, q)) for q in queues)
