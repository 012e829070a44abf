"""NATS subjects as the server treats them (server/sublist.go).

Tokens are separated by `.`; `*` matches exactly one token and `>` one or more trailing
tokens, each only as a whole token. :class:`Sublist` is the server's subscription trie, used
for permission checks: a subject is looked up token by token, and pattern wildcards match any
token of the subject *including* a `*` or `>` token of a wildcard subscription, which is why
`subscribe allow: foo.*` admits a subscription to `foo.>` (observed on the real server).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

PWC = "*"
FWC = ">"


def tokens(subject: str) -> list[str]:
    return subject.split(".")


@functools.lru_cache(maxsize=65536)
def tokens_of(subject: str) -> tuple[str, ...]:
    """A subject's tokens, cached (permission entries are looked up again and again)."""
    return tuple(subject.split("."))


_VALID_SUBJECT = re.compile(r"(?:[^.\t\n\f\r ]+\.)*[^.\t\n\f\r ]+")
_FWC_NOT_LAST = re.compile(r"(?:^|\.)>\.")


def is_valid_subject(subject: str) -> bool:
    """The server's IsValidSubject: no empty token, nothing after `>`, no blanks in a token."""
    return _VALID_SUBJECT.fullmatch(subject) is not None and (">." not in subject or not _FWC_NOT_LAST.search(subject))


def all_valid_subjects(subjects: list[str]) -> bool:
    """Whether is_valid_subject holds for every one of `subjects`, in one pass over them all:
    joined one a line, no subject holds a blank, none is empty, starts or ends with `.` or
    holds `..` (string searches, much faster than a pattern over each)."""
    if not subjects:
        return True
    lines = "\n" + "\n".join(subjects) + "\n"
    if lines.count("\n") != len(subjects) + 1:  # a subject holds a new line
        return False
    if " " in lines or "\t" in lines or "\r" in lines or "\f" in lines:
        return False
    if ".." in lines.replace("\n", "."):  # an empty token: `..`, or `.` or nothing between new lines
        return False
    return ">." not in lines or all(is_valid_subject(s) for s in subjects)


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
    t1, t2 = tokens_of(a), tokens_of(b)
    if t1[0] != t2[0] and PWC not in (t1[0], t2[0]) and FWC not in (t1[0], t2[0]):
        return None
    out: list[str] = []
    for i in range(max(len(t1), len(t2))):
        x = t1[i] if i < len(t1) else None
        y = t2[i] if i < len(t2) else None
        if x == FWC:
            return ".".join(out + list(t2[i:])) if y is not None else None
        if y == FWC:
            return ".".join(out + list(t1[i:])) if x is not None else None
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
class Match:
    """What a lookup found: the plain entries and, per queue name, the queue entries."""

    plain: list[str] = field(default_factory=list)
    queues: dict[str, list[str]] = field(default_factory=dict)


class Sublist:
    """Permission entries (`subject` or `subject queue`) looked up as the server's trie does.

    The server's Match walks its trie token by token: an entry token `>` matches one or more
    remaining tokens, `*` matches any one token, and any other entry token must equal the
    subject's token as text, so a subject token `*` or `>` is matched only by a wildcard
    entry token. Entry lists are short (a user's permissions), so the entries are checked one
    by one with exactly that rule (tests/auditor/_nats/test_subjects.py checks it against
    brute force, the differential test against the server).
    """

    def __init__(self, entries: Iterable[str] = ()) -> None:
        self.entries: list[tuple[tuple[str, ...], str, str]] = []
        for entry in entries:
            subject, _, queue = entry.strip().partition(" ")
            self.entries.append((tokens_of(subject), queue.strip(), entry))
        self.count = len(self.entries)

    def match(self, subject: str) -> Match:
        """The entries matching `subject` (literal or not: its tokens are looked up as text)."""
        result = Match()
        toks = tokens_of(subject)
        if "" in toks:
            return result
        n = len(toks)
        for pattern, queue, entry in self.entries:
            for i, t in enumerate(pattern):
                if t == FWC:
                    ok = n > i
                    break
                if i >= n or (t != PWC and t != toks[i]):
                    ok = False
                    break
            else:
                ok = len(pattern) == n
            if ok:
                if queue:
                    result.queues.setdefault(queue, []).append(entry)
                else:
                    result.plain.append(entry)
        return result


def queue_matches(queue: str, queues: dict[str, list[str]]) -> bool:
    """The server's queueMatches: a queue entry names the queue, or a wildcard covering it."""
    if not queues:
        return True
    return any(queue == q or (has_wildcard(q) and is_subset(queue, q)) for q in queues)
