"""Redaction: the only form in which a secret value may be printed or stored.

Its one home: values (:func:`redact`), free text (:func:`scrub`) and whole scan results
(:func:`redact_result`, the only maker of :class:`auditor._models.RedactedResult`).

A secret is known by its fingerprint: HMAC-SHA-256 of the value under a key kept in a file
readable by its owner only (`hmac:` and 32 hex digits, 128 bits). Without the key a
fingerprint cannot be turned back into the value, not even a short password by trying
candidates; with the same key file on every machine of a fleet, fingerprints compare across
machines. The key file is `$AUDITOR_FINGERPRINT_KEY_FILE`, else
`$XDG_CONFIG_HOME/auditor/fingerprint.key` (`~/.config/auditor/fingerprint.key`), created
on first use (32 random bytes, hex, mode 0600).

A redacted value is a short prefix and the fingerprint: at most four characters, and none
for values shorter than 16 characters (`SUAI…(hmac:…)` for a NATS user seed, `…(hmac:…)`
for a password), so two findings about the same secret can be matched without revealing it.
Fingerprints written before (`sha256:` and 12 hex digits of the bare value) are still
recognised as redacted text; `legacy_fingerprint` computes them to match old baselines.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import itertools
import operator
import os
import re
import stat
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

from auditor.errors import ConfigError
from pki.errors import PKIError
from pki.fsutil import make_folder

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (see auditor._cli._replay)

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar

    from auditor._models import Checklist, Finding, RedactedResult, RuleInfo, ScanResult, Waiver

    _Given = TypeVar("_Given")
    _Made = TypeVar("_Made")

KEY_ENV = "AUDITOR_FINGERPRINT_KEY_FILE"
TAG = "hmac:"
DIGITS = 32
"""Hex digits kept of the HMAC: 128 bits."""
LEGACY_TAG = "sha256:"
_LEGACY_DIGITS = 12
_LEGACY_FINGERPRINT = re.escape(LEGACY_TAG) + f"[0-9a-f]{{{_LEGACY_DIGITS}}}"
"""A legacy fingerprint (legacy_fingerprint) as a pattern's text."""
_MAX_PREFIX = 4
_MIN_FOR_PREFIX = 16
_KEY_BYTES = 32


def key_path() -> Path:
    """Where this installation's fingerprint key lives (see the module's docstring)."""
    return Path(_key_location(os.environ.get(KEY_ENV), os.environ.get("XDG_CONFIG_HOME"), os.environ.get("HOME")))


@functools.lru_cache(maxsize=8)
def _key_location(explicit: str | None, xdg: str | None, home: str | None) -> str:
    if explicit:
        return explicit
    base = Path(xdg) if xdg else (Path(home) if home else Path.home()) / ".config"
    return str(base / "auditor" / "fingerprint.key")


def _parse_key(raw: bytes, path: Path) -> bytes:
    text = raw.decode("ascii", "replace").strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) < 16:
        raise ConfigError("not a fingerprint key (expected at least 32 hex digits on one line)", file=path)
    return key


def _read_key(path: Path) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ConfigError(f"cannot read the fingerprint key: {exc.strerror or exc}", file=path) from None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError("the fingerprint key is not a regular file", file=path)
        if st.st_mode & 0o077:
            raise ConfigError(
                f"the fingerprint key is readable by others (mode {stat.S_IMODE(st.st_mode):04o}); "
                "make it 0600 (chmod 600) and consider it disclosed", file=path)
        return _parse_key(fh.read(4096), path)


def _create_key(path: Path) -> bytes:
    """A new key, written 0600 before any byte; if another process won the race, its key."""
    import secrets  # here: reading the key (every run but the first) needs no random numbers

    try:
        try:
            make_folder(path.parent, parents=True, exist_ok=True)
        except PKIError as exc:
            raise OSError(str(exc)) from None
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(secrets.token_bytes(_KEY_BYTES).hex().encode() + b"\n")
                fh.flush()
                os.fsync(fh.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)  # never replaces a key another process just made
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
    except OSError as exc:
        raise ConfigError(
            f"cannot create the fingerprint key: {exc.strerror or exc} (set {KEY_ENV} to a writable "
            "path, or install the fleet's key file there)", file=path) from None
    return _read_key(path)


@functools.lru_cache(maxsize=8)
def _key_at(path: str) -> bytes:
    p = Path(path)
    try:
        return _read_key(p)
    except FileNotFoundError:
        return _create_key(p)


def fingerprint_key() -> bytes:
    """This installation's fingerprint key (created on first use)."""
    return _key_at(os.environ.get(KEY_ENV) or _default_location())


@functools.lru_cache(maxsize=1)
def _default_location() -> str:
    return _key_location(None, os.environ.get("XDG_CONFIG_HOME"), os.environ.get("HOME"))


@functools.lru_cache(maxsize=8)
def _hmac_base(key: bytes) -> hmac.HMAC:
    return hmac.new(key, digestmod=hashlib.sha256)


def key_id() -> str:
    """A name for the key that reveals nothing of it: equal ids, comparable fingerprints."""
    return hmac.new(fingerprint_key(), b"auditor fingerprint key id", hashlib.sha256).hexdigest()[:16]


def fingerprint(value: str | bytes) -> str:
    """The fingerprint of a secret: `hmac:` and 32 hex digits of HMAC-SHA-256 under the key."""
    return _fingerprint_under(_hmac_base(fingerprint_key()), value.encode() if isinstance(value, str) else value)


def fingerprinter() -> Callable[[bytes], str]:
    """`fingerprint` of bytes under the key in force now, the key looked up once: for the many
    secrets of one file (a hostile log of 300,000 tokens looked the key up 600,000 times)."""
    return functools.partial(_fingerprint_under, _hmac_base(fingerprint_key()))


def _fingerprint_under(base: hmac.HMAC, raw: bytes) -> str:
    mac = base.copy()
    mac.update(raw)
    return TAG + mac.hexdigest()[:DIGITS]


def legacy_fingerprint(value: str | bytes) -> str:
    """The fingerprint auditor wrote before HMAC (`sha256:` + 12 hex digits): only to match old
    baselines and allowlists in memory, never to be printed or stored again."""
    raw = value.encode() if isinstance(value, str) else value
    return LEGACY_TAG + hashlib.sha256(raw).hexdigest()[:_LEGACY_DIGITS]


def is_legacy_fingerprint(text: str) -> bool:
    return re.fullmatch(_LEGACY_FINGERPRINT, text) is not None


def redact(value: str | bytes, prefix: int = _MAX_PREFIX, *, fingerprint_of: Callable[[bytes], str] | None = None) -> str:
    """`prefix…(hmac:…)`: at most four leading characters, none for values under 16 characters
    (`fingerprint_of`: a `fingerprinter()` already made, for many values)."""
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    keep = 0 if len(text) < _MIN_FOR_PREFIX else max(0, min(prefix, _MAX_PREFIX))
    return f"{text[:keep]}…({(fingerprint_of or fingerprint)(value.encode() if isinstance(value, str) else value)})"


def is_redacted(text: str) -> bool:
    return text.endswith(")") and ("…(" + TAG in text or "…(" + LEGACY_TAG in text)


# Secret-looking values a report must never show, whatever a collector or rule let through.
# Each match is replaced by its redacted form; already-redacted text is left alone.
_SECRET_PATTERNS = (
    # PEM private keys (any algorithm, encrypted or not)
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)",
    r"-----BEGIN PGP PRIVATE KEY BLOCK-----.*?(?:-----END PGP PRIVATE KEY BLOCK-----|\Z)",
    r"\bS[OAUNCXP][A-Z2-7]{56}\b",  # NATS nkey seeds
    r"\beyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}",  # JWTs (bearer tokens)
    r"\bAGE-SECRET-KEY-1[0-9A-Z]{20,}\b",  # age identities
    r"\bhv[sbr]\.[A-Za-z0-9_-]{20,}",  # Vault / OpenBao tokens
    r"\bs\.[A-Za-z0-9]{24}\b",  # legacy Vault tokens
    r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",  # AWS access key ids
    r"\bgh[pousr]_[A-Za-z0-9]{30,}\b",  # GitHub tokens
    r"\bxox[abprs]-[A-Za-z0-9-]{10,}",  # Slack tokens
    # key = value / key: value where the key names a secret (values with a digit, or long)
    r"(?P<key>(?i:password|passwd|passphrase|secret|token|api[_-]?key|private[_-]?key)[\"']?\s{0,3}[:=]\s{0,3}[\"']?)(?P<value>[^\s\"',;]{6,})",
)
# A part that every match of the patterns above contains, one or more per pattern, in the
# same order. Searching for these is several times cheaper than the patterns (no word
# boundaries, short literals), and most text a report holds has none of them.
_CANDIDATE_PATTERNS = (
    r"-----BEGIN ",
    r"[A-Z2-7]{20}",  # nkey seeds, AWS key ids, age identities: long upper-case runs
    r"eyJ",
    r"AGE-SECRET",
    r"hv[sbr]\.",
    r"s\.[A-Za-z0-9]{24}",
    r"AKIA|ASIA",
    r"gh[pousr]_",
    r"xox[abprs]-",
    r"(?i:passw|passphrase|secret|token|api|private)",
)


@functools.cache
def _secret_re() -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in _SECRET_PATTERNS), re.DOTALL)


@functools.cache
def _candidate_re() -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in _CANDIDATE_PATTERNS), re.DOTALL)


_CASED = re.compile(r"-----BEGIN |eyJ|AGE-SECRET|hv[sbr]\.|AKIA|ASIA|gh[pousr]_|xox[abprs]-|s\.[A-Za-z0-9]{24}")
_CASED_LITERALS = ("-----BEGIN ", "eyJ", "AGE-SECRET", "AKIA", "ASIA")
"""The parts of _CASED that are plain text (spelt out in _has_candidate)."""
_CASED_STARTS = ("hv", "gh", "xox", "s.")
"""What each other part of _CASED starts with: where none is in a text, _CASED finds nothing."""
_WORDS = ("passw", "passphrase", "secret", "token", "api", "private")
"""The candidate words (any case): found in the lower-cased text (spelt out in _has_candidate)."""
_UPPER = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", b"U" * 32)
"""A character of an upper-case run ([A-Z2-7]) made `U` (as `U` is itself): twenty in a row in
the translated text are a run of twenty in the text."""
_UPPER_RUN = b"U" * 20
_UPPER_RUN_RE = re.compile(r"[A-Z2-7]{20}")
_SHORT = 48
"""Shorter text is searched for an upper-case run by _UPPER_RUN_RE: quicker there than translating
it (the search slows with every upper-case letter and digit in the text, translating does not)."""


def _has_candidate(text: str) -> bool:
    """Whether `text` holds a candidate part (a match of _candidate_re), several times faster:
    in ASCII text, the words are searched in the lower-cased text (where ASCII folds exactly as
    the pattern's (?i) does), the other parts as plain text where they are, an upper-case run in
    the text with each of its characters made `U`, and the rest by _CASED where it could match;
    other text goes to _candidate_re itself."""
    if not text.isascii():
        return _candidate_re().search(text) is not None
    low = text.lower()
    if "passw" in low or "passphrase" in low or "secret" in low or "token" in low or "api" in low \
            or "private" in low:  # _WORDS, spelt out: a loop costs more than the searches in short text
        return True
    if "-----BEGIN " in text or "eyJ" in text or "AGE-SECRET" in text or "AKIA" in text or "ASIA" in text:
        return True  # _CASED_LITERALS
    if ("hv" in text or "gh" in text or "xox" in text or "s." in text) and _CASED.search(text) is not None:
        return True  # _CASED_STARTS, then _CASED where it could match
    if len(text) < _SHORT:
        return _UPPER_RUN_RE.search(text) is not None
    return _UPPER_RUN in text.encode().translate(_UPPER)


_FINGERPRINT = re.compile(re.escape(TAG) + f"[0-9a-f]{{{DIGITS}}}|" + _LEGACY_FINGERPRINT)
"""A fingerprint as auditor writes one (secret_fingerprint, legacy_fingerprint): what redacting a
secret leaves of it, not a secret. A correlation key names a secret by it (`secret:hmac:…`,
secretId in the rules): redacted again, the key was a fingerprint of the fingerprint
(`secret:hmac…(hmac:…)`), and every finding of a secrets scan was copied to change it."""


@functools.lru_cache(maxsize=131072)  # a bundle brings thousands of new ids and resources
def scrub(text: str) -> str:
    """`text` with every secret-looking value in it redacted (see :func:`redact`).

    Cached: reports repeat the same titles, remediations and resources many times."""
    if not text or not _has_candidate(text):
        return text

    def replace(match: re.Match[str]) -> str:
        key = match.group("key") or ""
        value = match.group("value") if key else match.group(0)
        if "…(" + TAG in match.group(0) or "…(" + LEGACY_TAG in match.group(0):
            return match.group(0)
        if _FINGERPRINT.fullmatch(value):  # a fingerprint already (`secret:hmac:…`, a correlation key)
            return match.group(0)
        if key and len(value) < 16 and not any(c.isdigit() for c in value):
            return match.group(0)  # prose ("secret: none"), not a value
        return key + redact(value)

    return _secret_re().sub(replace, text)


def scrub_tree(value: Any) -> Any:
    """A copy of a JSON-like value with every string in it scrubbed (keys included)."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {scrub(k): scrub_tree(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_tree(v) for v in value]
    return value


def redact_result(result: ScanResult) -> RedactedResult:
    """`result` with every secret-looking string redacted: the only maker of a RedactedResult.

    Defence in depth (collectors and rules redact already). Findings are done one by one
    (there may be tens of thousands, most of them unchanged, and a rule's findings share
    its texts and references); the rest through its JSON form."""
    import dataclasses  # here: fingerprints alone (a secrets scan) need none of it

    from auditor._models import RedactedResult, ScanResult, Waiver

    rest = ScanResult.from_dict(scrub_tree(dataclasses.replace(result, findings=(), rules=(), checklist=None).to_dict()))
    findings = _redact_findings(result.findings, Waiver)
    fields = {f.name: getattr(rest, f.name) for f in dataclasses.fields(ScanResult)}
    rules = _redact_rules(result.rules)
    checklist = _redact_checklist(result.checklist)
    made = object.__new__(RedactedResult)  # RedactedResult(...) refuses: only this function makes one
    ScanResult.__init__(made, **{**fields, "findings": findings, "rules": rules, "checklist": checklist})
    return made


def _redact_checklist(checklist: Checklist | None) -> Checklist | None:
    """The checklist redacted as the rest of a result is (through its JSON form); the last
    answer again for the same checklist (a resolved policy's, the same for every result of a
    fleet's bundles; it is frozen, its items too)."""
    if checklist is None:
        return None
    from auditor._models import Checklist

    return _again("checklist", checklist, lambda c: Checklist.from_dict(scrub_tree(c.to_dict())))


@functools.lru_cache(maxsize=4096)  # a policy's rules are the same in every result
def _redact_rule(rule: RuleInfo) -> RuleInfo:
    """A rule's description (RuleInfo) redacted as the rest of a result is: through its JSON form."""
    return type(rule).from_dict(scrub_tree(rule.to_dict()))


def _redact_rules(rules: tuple[RuleInfo, ...]) -> tuple[RuleInfo, ...]:
    """Each rule redacted (_redact_rule); the last answer again for the same tuple (a resolved
    policy's, the same for every result of a fleet's bundles)."""
    return _again("rules", rules, lambda given: tuple([_redact_rule(r) for r in given]))


def _again(name: str, value: _Given, make: Callable[[_Given], _Made]) -> _Made:
    """`make(value)`, or the answer made last under `name` when `value` is the very object it
    was made for (a resolved policy's rules and checklist: one for every result of a fleet)."""
    last = _LAST.get(name)
    if last is not None and last[0] is value:
        kept: _Made = last[1]
        return kept
    made = make(value)
    _LAST[name] = (value, made)
    return made


_LAST: dict[str, tuple[Any, Any]] = {}


_RECORD_ID = re.compile(r"ev-[0-9a-f]{16}")
"""An evidence record id as auditor makes them: 16 hex digits cannot hold a secret."""


def _redact_findings(findings: Sequence[Finding], waiver_type: type[Waiver]) -> tuple[Finding, ...]:
    """`findings` with every string scrubbed, each finding itself when nothing in it changed:
    all of them as they are when every string of every finding is proven clean (_all_clean),
    else one by one (_each_redacted)."""
    if _all_clean(findings):
        return tuple(findings)
    return _each_redacted(findings, waiver_type)


_CLEAN: set[str] = set()
"""Strings proven left as they are by scrub (a function of the string alone), kept between
results: the resources, messages and ids of a fleet's bundles come back bundle after bundle."""
_CLEAN_KEPT = 200_000


def _all_clean(findings: Sequence[Finding]) -> bool:
    """Whether scrubbing leaves every string of every finding as it is and none has a waiver:
    then redacting changes no finding. Finding ids and record ids are proven all at once by
    their shape (_all_plain_ids, _prefixed_hex; a fleet's bundles bring thousands of new ones);
    each other distinct string is looked at once per result (a set of each field's values: the
    quickest pass over tens of thousands of findings) and proven clean once per process (_CLEAN,
    bounded): those new to it together (_none_has_candidate), else each by its shape or by scrub."""
    if [f.waiver for f in findings].count(None) != len(findings):
        return False
    strings = {f.resource for f in findings}
    if not _all_plain_ids([f.id for f in findings]):
        for rule_id, group in itertools.groupby(findings, _RULE_ID):  # a rule's findings come together
            ids = [f.id for f in group]
            if not _plain_ids(rule_id, ids):
                strings.update(ids)
    for values in (
        {f.message for f in findings}, {f.correlation for f in findings},
        {f.owner for f in findings}, {f.due for f in findings}, {f.rule_id for f in findings},
        {f.title for f in findings}, {f.area for f in findings}, {f.pointer for f in findings},
        {f.remediation for f in findings},
    ):
        strings.update(values)
    records = {e for evidence in {f.evidence for f in findings} for e in evidence}
    if not _prefixed_hex("ev-", records):  # all record ids auditor made (_RECORD_ID), else each looked at
        strings.update(records)
    last: Any = None
    for f in findings:  # each rule's references, once (its findings come together and share them)
        refs = f.references
        if refs is not last:
            last = refs
            strings.update(refs)
            for texts in refs.values():
                strings.update(texts)
    unknown = strings.difference(_CLEAN)
    if not _none_has_candidate(unknown):
        for text in unknown:
            if type(text) is not str or not _proven_clean(text):
                return False
    if len(_CLEAN) + len(unknown) > _CLEAN_KEPT:
        _CLEAN.clear()
    _CLEAN.update(unknown)
    return True


def _none_has_candidate(texts: set[str]) -> bool:
    """Whether no text of `texts` (each a str) holds a candidate part, so scrubbing leaves each as
    it is: all at once, searching their ASCII text joined (a candidate part of one is one of the
    joined text; what a fleet's bundle brings new, its resources and correlation keys, has
    none). False when any has one, or is not ASCII (each is then looked at alone)."""
    if set(map(type, texts)) != {str}:
        return False
    joined = "\n".join(texts)
    return joined.isascii() and not _has_candidate(joined)


def _proven_clean(text: str) -> bool:
    """Whether scrub(text) is text: by its shape first (cheapest), else by scrub."""
    if _RECORD_ID.fullmatch(text) is not None:
        return True
    n = len(text) - 17  # a finding id: a rule id, a colon and 16 lower-case hex digits (_plain_finding_id)
    if n > 0 and text[n] == ":" and _plain_finding_id(text, text[:n]):
        return True
    return not _has_candidate(text) or scrub(text) == text


def _each_redacted(findings: Sequence[Finding], waiver_type: type[Waiver]) -> tuple[Finding, ...]:
    """`findings` with every string scrubbed, one by one.

    The texts a rule's findings share (title, remediation, references, ...) are scrubbed once
    per rule, and a record id auditor made (ev- and 16 hex digits) once per result; so a finding
    costs the (cached) scrubbing of its resource, message, id and correlation key only."""
    per_rule: dict[Any, Any] = {}
    records: set[str] = set()
    out: list[Finding] = []
    last: Any = None
    rule_unchanged = False
    for finding in findings:
        title = finding.title
        if last is None or finding.rule_id is not last[0] or title is not last[1] or finding.area is not last[2] \
                or finding.pointer is not last[3] or finding.remediation is not last[4] \
                or finding.references is not last[5]:
            last = (finding.rule_id, title, finding.area, finding.pointer, finding.remediation, finding.references)
            rule_unchanged = _rule_texts(finding, per_rule)[2]
        message = finding.message
        owner, due = finding.owner, finding.due
        if not rule_unchanged or finding.waiver is not None or (owner and scrub(owner) != owner) \
                or (due and scrub(due) != due) or (message is not title and scrub(message) != message):
            out.append(_redact_finding(finding, per_rule, waiver_type))
            continue
        resource, fid, correlation = finding.resource, finding.id, finding.correlation
        if scrub(resource) != resource or (not _plain_finding_id(fid, finding.rule_id) and scrub(fid) != fid) \
                or (correlation and scrub(correlation) != correlation):
            out.append(_redact_finding(finding, per_rule, waiver_type))
            continue
        for record in finding.evidence:
            if record not in records:
                if not _RECORD_ID.fullmatch(record):
                    out.append(_redact_finding(finding, per_rule, waiver_type))
                    break
                records.add(record)
        else:
            out.append(finding)
    return tuple(out)


def _plain_finding_id(fid: str, rule_id: str) -> bool:
    """Whether `fid` is `rule_id`, a colon and 16 lower-case hex digits (auditor._models.finding_id),
    with no candidate part in the rule id: then scrubbing leaves it as it is, so it need not be
    scrubbed (a finding's id is new in every finding: scrubbing it was a sixth of redacting a
    large result). No candidate pattern matches a colon, nor only 16 hex digits or fewer
    (tests/auditor/test_redact.py holds every pattern to that), so a candidate part of the id
    would lie in the rule id."""
    n = len(rule_id)
    return len(fid) == n + 17 and fid[n] == ":" and fid.startswith(rule_id) and not fid[n + 1:].strip(_HEX) \
        and _clean_rule_id(rule_id)


_HEX = "0123456789abcdef"
_RULE_ID = operator.attrgetter("rule_id")
_HEX_BYTES = _HEX.encode()


def _plain_ids(rule_id: str, ids: list[str]) -> bool:
    """Whether each of `ids` is a plain finding id of `rule_id` (_plain_finding_id), all proven at
    once at C speed: every id as long as one (the rule id, a colon and 16 digits), then their
    text joined read column by column (every id's first character, every id's second ...):
    the rule id's characters and the colon, then hex digits (a fleet's bundles bring thousands
    of new ids: proving each on its own was most of redacting a result)."""
    return _clean_rule_id(rule_id) and _prefixed_hex(rule_id + ":", ids)


def _prefixed_hex(prefix: str, texts: Collection[str]) -> bool:
    """Whether each of `texts` is `prefix` and 16 lower-case hex digits, all proven at once at C
    speed: every text as long as one, then their text joined read column by column (every text's
    first character, every text's second ...): the prefix's characters, then hex digits."""
    width = len(prefix) + 16
    count = len(texts)
    try:
        if any(map(width.__ne__, map(len, texts))):
            return False
        joined = "".join(texts)
    except TypeError:  # not a str among them: looked at otherwise
        return False
    for at, char in enumerate(prefix):
        if joined[at::width] != char * count:
            return False
    digits = "".join([joined[at::width] for at in range(width - 16, width)])
    return digits.isascii() and not digits.encode().translate(None, _HEX_BYTES)


def _all_plain_ids(ids: list[str]) -> bool:
    """Whether each of `ids` is a plain finding id: a part with no candidate (its rule id), a
    colon and 16 lower-case hex digits; then scrubbing leaves it as it is (see _plain_finding_id).
    All of a result's ids at once at C speed, whatever their rules: their last 17 characters
    joined (a colon every 17th, hex digits between), then each distinct rest (a few hundred rule
    ids) without a candidate part (_plain_ids proved a rule's ids at a time: its calls, one for
    each rule of a result, most with one finding, cost most of it)."""
    count = len(ids)
    try:
        tails = "".join(map(_TAIL, ids))
        rests = set(map(_REST, ids))
    except TypeError:  # not a str among them: looked at otherwise
        return False
    return len(tails) == 17 * count and tails[::17] == ":" * count and tails.count(":") == count \
        and tails.isascii() and not tails.encode().translate(None, _HEX_BYTES + b":") \
        and all(map(_clean_rule_id, rests))


_TAIL = operator.itemgetter(slice(-17, None))
_REST = operator.itemgetter(slice(None, -17))


@functools.lru_cache(maxsize=4096)
def _clean_rule_id(rule_id: str) -> bool:
    return not _has_candidate(rule_id)


def _rule_texts(finding: Finding, per_rule: dict[Any, Any]) -> tuple[tuple[str, ...], Mapping[str, Sequence[str]], bool]:
    """The scrubbed texts of a finding's rule (rule id, title, area, pointer, remediation), its
    references, and whether nothing of them changed; once per rule of a result."""
    key = (finding.rule_id, finding.title, finding.area, finding.pointer, finding.remediation, id(finding.references))
    shared = per_rule.get(key)
    if shared is None:
        shared = per_rule[key] = _shared_texts(key[:5], finding.references)
    return shared


def _shared_texts(texts: tuple[str, ...], references: Mapping[str, Sequence[str]]) -> tuple[
        tuple[str, ...], Mapping[str, Sequence[str]], bool]:
    """What _rule_texts gives for a rule's texts and references: scrubbed once per process for
    references of hashable values (by their value: a result's rules are those of the last), as
    scrubbing is a function of the text; the references themselves when they are unchanged."""
    try:
        value: Any = (texts, tuple(references.items()))
        known = _SHARED_TEXTS.get(value)
    except TypeError:  # a list among the references: not kept
        value, known = None, None
    if known is None:
        refs: Mapping[str, Sequence[str]] = {scrub(k): tuple(scrub(x) for x in v) for k, v in references.items()}
        same = refs == {k: tuple(v) for k, v in references.items()}
        clean = tuple(scrub(t) for t in texts)
        known = (clean, None if same else refs, clean == texts and same)
        if value is not None:
            if len(_SHARED_TEXTS) >= 4096:
                _SHARED_TEXTS.clear()
            _SHARED_TEXTS[value] = known
    clean, changed, unchanged = known
    return clean, references if changed is None else changed, unchanged


_SHARED_TEXTS: dict[Any, tuple[tuple[str, ...], Mapping[str, Sequence[str]] | None, bool]] = {}
"""_shared_texts's answers by (texts, references' items): (scrubbed texts, scrubbed references or
None when unchanged, whether nothing changed)."""


def _redact_finding(finding: Finding, per_rule: dict[Any, Any], waiver_type: type[Waiver]) -> Finding:
    """`finding` with every string scrubbed; itself when nothing changed. `per_rule` memoizes
    what the findings of one rule share (title, remediation, references, ...) across a result,
    so each finding costs the scrubbing of its resource and message only."""
    clean, refs, rule_unchanged = _rule_texts(finding, per_rule)
    resource, message, evidence = scrub(finding.resource), finding.message, finding.evidence
    correlation, fid = scrub(finding.correlation), scrub(finding.id)
    owner, due = (scrub(finding.owner) if finding.owner else ""), (scrub(finding.due) if finding.due else "")
    if message is not finding.title:  # a pass's message is its rule's title, scrubbed with the rule
        message = scrub(message)
    for record in evidence:
        if not _RECORD_ID.fullmatch(record):
            evidence = tuple(scrub(e) for e in evidence)
            break
    if rule_unchanged and finding.waiver is None and resource == finding.resource and message == finding.message \
            and evidence == finding.evidence and correlation == finding.correlation and fid == finding.id \
            and owner == finding.owner and due == finding.due:
        return finding
    rule_id, title, area, pointer, remediation = clean
    return finding.replaced({
        "rule_id": rule_id,
        "title": title,
        "area": area,
        "resource": resource,
        "message": scrub(message),
        "evidence": evidence,
        "pointer": pointer,
        "remediation": remediation,
        "references": refs,
        "correlation": correlation,
        "id": fid,
        "owner": owner,
        "due": due,
        "waiver": waiver_type.from_dict(scrub_tree(finding.waiver.to_dict())) if finding.waiver else None,
    })
