"""Subject permissions with the server's exact semantics (server/client.go, server/opts.go).

- Publish: with an allow list (even an empty one) a subject must match an allow entry; then
  any deny entry that matches refuses it: deny wins. No allow list means everything is
  allowed unless denied. `allow_responses` lets the user publish to the reply subject of a
  request it received (at most `max` replies within `expires`), and turns the blanket publish
  allow off: without a publish allow list every other publish is refused.
- Subscribe: the subscription's subject is looked up in the allow entries *as text* (the
  server's Match): `*` and `>` in an entry match any token of the subject, including a `*` or
  `>` token of a wildcard subscription. So `allow: foo.*` admits `foo.>`, and `allow: *`
  admits `>` (observed on the real server). Entries with a queue group (`"foo.> workers"`)
  admit only subscriptions in a matching queue. An accepted wildcard subscription that
  overlaps a deny entry is kept, and the server filters the denied subjects at delivery.
- An empty allow list in the config (`publish: []`, `subscribe: {allow: []}`) is no allow
  list: everything is allowed.
- `permissions: {}` is permissions (allowing everything): `default_permissions` do not apply.
- With `allow_responses`, a publish entry without an allow list (`publish: {deny: [..]}`,
  `publish: []`, or none at all) gets an empty allow list when the server sets up the users
  (server/auth.go validateResponsePermissions): every publish but replies is refused.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from auditor._nats.subjects import (
    Sublist,
    collide,
    has_wildcard,
    is_subset,
    is_valid_subject,
    meet,
    queue_matches,
    tokens,
)
from auditor.errors import ConfigError

WATCHED = (">", "$SYS.>", "$JS.API.>")
"""Patterns whose reach every user's evidence records."""


@dataclass(frozen=True)
class SubjectPermission:
    allow: tuple[str, ...] | None
    """None: no allow list (everything not denied); () only via allow_responses: nothing."""
    deny: tuple[str, ...] = ()


@dataclass(frozen=True)
class ResponsePermission:
    max_msgs: int
    """Replies allowed per request; negative: unlimited."""
    expires: float
    """Seconds a reply subject stays allowed; negative: unlimited."""

    @property
    def unlimited(self) -> bool:
        return self.max_msgs < 0 or self.expires < 0


@dataclass(frozen=True)
class Permissions:
    publish: SubjectPermission | None
    subscribe: SubjectPermission | None
    responses: ResponsePermission | None = None

    @classmethod
    def from_config(
        cls,
        publish: SubjectPermission | None,
        subscribe: SubjectPermission | None,
        responses: ResponsePermission | None,
    ) -> Permissions:
        if responses is not None and (publish is None or publish.allow is None):
            # allow_responses turns the blanket publish allow off
            publish = SubjectPermission((), publish.deny if publish else ())
        return cls(publish, subscribe, responses)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    filtered: tuple[str, ...] = ()
    """Deny entries whose subjects an accepted wildcard subscription will not deliver."""

    @property
    def verdict(self) -> str:
        return "allow" if self.allowed else "deny"


class BadSubject(ConfigError):
    """A subject or queue the server would refuse outright; `subject` is it."""

    def __init__(self, message: str, subject: str) -> None:
        super().__init__(message)
        self.subject = subject


@functools.lru_cache(maxsize=4096)
def _sublist(entries: tuple[str, ...]) -> Sublist:
    return Sublist(entries)


def _quote(entries: tuple[str, ...]) -> str:
    return "[" + ", ".join(f"'{e}'" for e in entries) + "]"


def check_publish_subject(subject: str) -> None:
    if not is_valid_subject(subject) or any(c.isspace() for c in subject):
        raise BadSubject(f"'{subject}' is not a valid subject", subject)
    if has_wildcard(subject):
        raise BadSubject(f"'{subject}' has wildcards; publish subjects are literal", subject)


def check_subscribe_subject(subject: str, queue: str | None) -> None:
    if not is_valid_subject(subject) or any(c.isspace() for c in subject):
        raise BadSubject(f"'{subject}' is not a valid subject", subject)
    if queue is not None and (not queue or any(c.isspace() for c in queue)):
        raise BadSubject(f"'{queue}' is not a valid queue group name", queue)


def _publish_once(pub: SubjectPermission | None, subject: str) -> tuple[bool, str]:
    if pub is None or (pub.allow is None and not pub.deny):
        return True, "no publish permissions: every subject is allowed"
    reason = ""
    allowed = True
    if pub.allow is not None:
        hits = _sublist(pub.allow).match(subject).plain
        allowed = bool(hits)
        if not pub.allow:
            reason = "the publish allow list is empty: every publish is refused"
        elif hits:
            reason = f"allowed by publish allow '{hits[0]}'"
        else:
            reason = f"no publish allow entry matches (allow: {_quote(pub.allow)})"
    else:
        reason = "no publish allow list"
    if allowed and pub.deny:
        hits = _sublist(pub.deny).match(subject).plain
        if hits:
            return False, f"denied by publish deny '{hits[0]}' (deny wins over allow)" if pub.allow else f"denied by publish deny '{hits[0]}'"
    if allowed and pub.allow is None:
        reason = "no publish allow list and no deny entry matches"
    return allowed, reason


def can_publish(perms: Permissions | None, subject: str) -> Decision:
    check_publish_subject(subject)
    if perms is None:
        return Decision(True, "the user has no permissions: everything is allowed")
    allowed, reason = _publish_once(perms.publish, subject)
    if not allowed and perms.responses is not None:
        r = perms.responses
        reason += (
            "; unless it is the reply subject of a request this user received "
            f"(allow_responses: max {_limit(r.max_msgs)}, expires {_limit(r.expires, 's')})"
        )
    return Decision(allowed, reason)


def _limit(value: float, unit: str = "") -> str:
    if value < 0:
        return "unlimited"
    return f"{value:g}{unit}"


def can_subscribe(perms: Permissions | None, subject: str, queue: str | None = None) -> Decision:
    check_subscribe_subject(subject, queue)
    if perms is None or perms.subscribe is None:
        why = "the user has no permissions" if perms is None else "no subscribe permissions"
        return Decision(True, f"{why}: every subscription is allowed")
    sub = perms.subscribe
    allowed = True
    reason = "no subscribe allow list"
    if sub.allow:
        m = _sublist(sub.allow).match(subject)
        allowed = bool(m.plain)
        if queue and m.queues:
            allowed = queue_matches(queue, m.queues)
            entries = [e for es in m.queues.values() for e in es]
            reason = (
                f"queue '{queue}' matches subscribe allow {_quote(tuple(entries))}"
                if allowed
                else f"subscribe allow entries for this subject name other queues ({_quote(tuple(entries))})"
            )
        elif m.plain:
            hit = m.plain[0]
            reason = f"allowed by subscribe allow '{hit}'"
            if not any(is_subset(subject, e) for e in m.plain):
                reason += (
                    f" (the server matches the subscription's wildcard tokens as text, so "
                    f"'{hit}' admits '{subject}', which receives more than '{hit}' covers)"
                )
        elif m.queues:
            entries = [e for es in m.queues.values() for e in es]
            reason = f"subscribe allow entries for this subject require a queue group ({_quote(tuple(entries))})"
        else:
            reason = f"no subscribe allow entry matches (allow: {_quote(sub.allow)})"
    if allowed and sub.deny:
        m = _sublist(sub.deny).match(subject)
        if m.plain:
            return Decision(False, f"denied by subscribe deny '{m.plain[0]}' (deny wins over allow)")
        if queue and m.queues and queue_matches(queue, m.queues):
            entries = [e for es in m.queues.values() for e in es]
            return Decision(False, f"denied by subscribe deny {_quote(tuple(entries))} for queue '{queue}'")
    filtered: tuple[str, ...] = ()
    if allowed and (queue or has_wildcard(subject)):
        filtered = tuple(d for d in sub.deny if collide(d.split()[0], subject))
        if filtered:
            reason += f"; messages on {_quote(filtered)} are filtered out at delivery"
    return Decision(allowed, reason, filtered)


# -------------------------------------------------------------------------------- reach


def _fresh(entries: list[str]) -> str:
    used = {t for e in entries for t in tokens(e.split()[0])}
    name = "w"
    while name in used:
        name += "w"
    return name


def _witnesses(pattern: str, max_len: int, fresh: str) -> list[str]:
    """Literal subjects standing for every length-slice of `pattern` (fresh tokens at wildcards)."""
    toks = [fresh if t == "*" else t for t in tokens(pattern)]
    if toks[-1] != ">":
        return [".".join(toks)]
    base = toks[:-1]
    return [".".join(base + [fresh] * extra) for extra in range(1, max(1, max_len - len(base) + 1) + 1)]


def _reach(allow: tuple[str, ...] | None, deny: tuple[str, ...], pattern: str) -> str:
    """Whether all, some or none of the literal subjects matching `pattern` are allowed."""
    entries = [*(allow or ()), *deny, pattern]
    fresh = _fresh(entries)
    max_len = max(len(tokens(e.split()[0])) for e in entries) + 1
    deny_list = _sublist(deny) if deny else None

    def denied(s: str) -> bool:
        return deny_list is not None and bool(deny_list.match(s).plain)

    if allow is None:
        parts = [pattern]
    else:
        parts = [p for p in (meet(pattern, a.split()[0]) for a in allow) if p is not None]
    some = any(not denied(w) for p in parts for w in _witnesses(p, max_len, fresh))
    if not some:
        return "none"
    allow_list = _sublist(tuple(a.split()[0] for a in allow)) if allow is not None else None
    covered = all(allow_list is None or allow_list.match(w).plain for w in _witnesses(pattern, max_len, fresh))
    if covered and not any(collide(d, pattern) for d in deny):
        return "all"
    return "some"


def publish_reach(perms: Permissions | None, pattern: str) -> str:
    if perms is None:
        return "all"
    pub = perms.publish
    return "all" if pub is None else _reach(pub.allow, pub.deny, pattern)


def subscribe_reach(perms: Permissions | None, pattern: str) -> str:
    """`all` if a subscription to `pattern` is accepted unfiltered; `some` if any part is reachable."""
    if perms is None or perms.subscribe is None:
        return "all"
    decision = can_subscribe(perms, pattern)
    if decision.allowed and not decision.filtered:
        return "all"
    sub = perms.subscribe
    plain_deny = tuple(d for d in sub.deny if len(d.split()) == 1)
    if decision.allowed:
        return "some"
    return "some" if _reach(sub.allow or None, plain_deny, pattern) != "none" else "none"
