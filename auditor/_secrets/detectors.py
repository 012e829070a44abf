"""The detectors: what a CIM node holds that must not leak, each confirmed by its structure.

A detector has an *anchor* (a short pattern the multi-pattern prefilter looks for in one pass
over the file), a full regular expression run only in a window around each anchor hit, and a
`confirm` step that checks the structure (checksums, decoding, parsing) or weighs the context
(the key a value is assigned to, its entropy, whether it is a placeholder). Anchors use the
syntax Hyperscan and Python `re` share (no look-around, no back-references).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
import sys
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from auditor._secrets import commands, putty, structure, yamlblocks

AnyStr = TypeVar("AnyStr", str, bytes)


class LazyPattern(Generic[AnyStr]):
    """A regular expression compiled when first used: importing the detectors compiles nothing."""

    __slots__ = ("_args", "_compiled")

    def __init__(self, pattern: AnyStr, flags: int = 0) -> None:
        self._args: tuple[AnyStr, int] = (pattern, flags)
        self._compiled: re.Pattern[AnyStr] | None = None

    @property
    def compiled(self) -> re.Pattern[AnyStr]:
        if self._compiled is None:
            self._compiled = re.compile(*self._args)
        return self._compiled

    def search(self, text: AnyStr, pos: int = 0, endpos: int = sys.maxsize) -> re.Match[AnyStr] | None:
        return self.compiled.search(text, pos, endpos)

    def match(self, text: AnyStr) -> re.Match[AnyStr] | None:
        return self.compiled.match(text)

    def fullmatch(self, text: AnyStr) -> re.Match[AnyStr] | None:
        return self.compiled.fullmatch(text)

    def sub(self, repl: AnyStr, text: AnyStr) -> AnyStr:
        return self.compiled.sub(repl, text)

CATEGORIES = (
    "nkey-seed", "nats-creds", "private-key", "age-identity", "vault-token", "cloud-token",
    "password", "url-credential", "jwt", "generic-secret", "sops-plaintext", "custom",
)


@dataclass(frozen=True, slots=True, init=False)
class Hit:
    """A confirmed secret in a buffer: the span of the secret and non-secret facts about it.

    Made by `__new__`, which stores each field into its slot on an object of a plain class of
    the same layout and then makes it a Hit, not by a generated `__init__` setting each field
    through the frozen check: a scan makes one for every match it confirms (300,000 in a log
    repeating one token), about five times faster (tests hold it to the fields, their defaults
    and frozenness)."""

    rule: str
    category: str
    start: int
    end: int
    secret: bytes
    confidence: str
    details: Mapping[str, Any]
    span: tuple[int, int] | None
    """The whole structure the secret sits in (a .creds block around its seed), if larger."""

    def __new__(cls, rule: str, category: str, start: int, end: int, secret: bytes, confidence: str = "high",
                details: Mapping[str, Any] | None = None, span: tuple[int, int] | None = None) -> Hit:
        made: Any = _RawHit()
        made.rule = rule
        made.category = category
        made.start = start
        made.end = end
        made.secret = secret
        made.confidence = confidence
        made.details = {} if details is None else details
        made.span = span
        made.__class__ = cls
        return made  # type: ignore[no-any-return]

    def __getnewargs__(self) -> tuple[Any, ...]:
        """What pickle and copy give `__new__` (every field, in order)."""
        return (self.rule, self.category, self.start, self.end, self.secret, self.confidence, self.details, self.span)

    @property
    def cover(self) -> tuple[int, int]:
        """The span that hides smaller hits inside it (see `Scanner.hits`)."""
        return self.span or (self.start, self.end)


_RawHit = type("_RawHit", (), {"__slots__": Hit.__slots__})
"""A plain class with Hit's slots (see Hit.__new__)."""


@dataclass(frozen=True)
class FileContext:
    """What a detector knows about the buffer it confirms a hit in."""

    path: str
    code: bool
    """Source code: only quoted literals count as assigned values (not bare identifiers)."""
    shell: bool = False
    """Shell commands (a script, a shell's history, a Dockerfile): an unquoted value ends at a
    blank, as the shell splits words (`PGPASSWORD=x psql -h db`: the value is `x`)."""
    values: str = ""
    """How the file's format reads an unquoted value (reading_of, by the file's name),
    where _BARE reads it up to a `;`, `,`, `}` or `]` (a flow mapping's or a list's end
    elsewhere): `env`, an env file or an INI file (`.env`, `*.env`, `.env.*`, `*.ini`): the rest
    of its line, as systemd's EnvironmentFile, docker's --env-file and Python's configparser read
    it, up to a comment after a blank (`# ...`, as dotenv and compose read it, or `; ...`);
    `properties`, a Java properties file: the rest of its line, which no comment ends (as
    java.util.Properties reads it); `yaml`, a YAML file: the rest of the line up to a comment
    after a blank (`# ...`), where the value is a plain scalar in block context (its key begins
    its line, or a list item's: `password: a,b;c}d`, `- DB_PASSWORD=a,b`), as a YAML parser reads
    it, or as the file a block scalar holds reads it (_line_value). Empty: as _BARE reads it, but
    after an INI section's header (_line_value)."""
    gzip_at: list[int] = field(default_factory=list)
    """Where the prefilter saw gzip's magic as base64 spells it (filled by the scan of the
    buffer itself, not of what it decodes): gzip encoded in base64, to be unpacked."""
    taken: set[int] = field(default_factory=set)
    """Where secrets that detectors of a higher priority confirmed start, in the buffer being
    searched (`Scanner._found` fills it, detector by detector in order of priority): a hit
    of a lower priority starting there would be dropped as the same secret read another way,
    so a detector need not confirm one (`token=ghp_...`: the GitHub token, not a generic
    secret as well, 300,000 times in a hostile log)."""


Confirm = Callable[["Detector", re.Match[bytes], FileContext], Hit | None]


@dataclass(frozen=True)
class Detector:
    """One kind of secret: its anchor for the prefilter, its full expression and its confirmation."""

    id: str
    category: str
    description: str
    anchor: bytes
    expression: bytes | re.Pattern[bytes]
    """The full regular expression (compiled when first used: `regex`)."""
    confirm: Confirm
    before: int = 16
    """How far before an anchor hit's end the full match may start."""
    after: int = 256
    """How far after an anchor hit's end the full match may end."""
    priority: int = 0
    """When two hits overlap, the higher priority one is kept (a .creds block over its seed)."""
    walk_back: frozenset[int] = frozenset()
    """If set, the full match is tried only at one place: from the anchor's end (just after the
    `=` or `:` of an assignment) back over the operator, blanks and a quote, then over the run
    of these bytes (the whole key of `db_password = ...`)."""
    key_filter: Callable[[bytes], bool] | None = None
    """With `walk_back`: whether the key found is worth the full expression (cheap, cached)."""
    flags: int = 0
    """Of `expression`, when it is not compiled yet."""
    starts: tuple[bytes, ...] = ()
    """Texts its matches start with (`ghp_`, `hvs.`): the prefilter also looks for them
    base64-encoded where an encoding starts (a Kubernetes Secret's value), and decodes the base64
    there (see encoded.py)."""
    words: tuple[bytes, ...] = ()
    """Texts its matches hold (`-----BEGIN`, `password`): looked for base64-encoded anywhere in
    base64 (a whole file encoded), and the base64 around them decoded."""

    @functools.cached_property
    def regex(self) -> re.Pattern[bytes]:
        """`expression` compiled, once, when a scan first needs it: a run that reads nothing
        new (its findings known from the cache) compiles nothing."""
        return re.compile(self.expression, self.flags) if self.flags else re.compile(self.expression)

    @functools.cached_property
    def walk_table(self) -> bytes:
        """A `bytes.translate` table: 0 for the bytes of `walk_back`, 1 for every other."""
        return bytes(0 if b in self.walk_back else 1 for b in range(256))

    @property
    def source(self) -> str:
        """The full expression and its flags as text (what a cache of findings is keyed on)."""
        raw = self.expression if isinstance(self.expression, bytes) else self.expression.pattern
        flags = self.flags if isinstance(self.expression, bytes) else self.expression.flags
        return f"{raw.decode('latin-1')}/{flags}"


def _text(b: bytes) -> str:
    return b.decode("utf-8", "replace")


def _simple(check: Callable[[str], Mapping[str, Any] | None], group: str = "secret", confidence: str = "high") -> Confirm:
    def confirm(det: Detector, m: re.Match[bytes], ctx: FileContext) -> Hit | None:
        secret = m.group(group)
        facts = check(_text(secret))
        if facts is None:
            return None
        return Hit(det.id, det.category, m.start(group), m.end(group), secret, confidence, dict(facts))

    return confirm


# Values vendors publish in their documentation and SDKs: reported as examples, never as leaks.
VENDOR_EXAMPLES = frozenset({
    # AWS documentation (docs.aws.amazon.com, "example" access key pair)
    "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    # Firebase SDK example keys (github.com/firebase/firebase-android-sdk), as listed in gitleaks'
    # gcp-api-key allowlist (gitleaks/gitleaks cmd/generate/config/rules/gcp.go, MIT)
    "AIzaSyabcdefghijklmnopqrstuvwxyz1234567", "AIzaSyAnLA7NfeLquW1tJFpx_eQCxoX-oo6YyIs",
    "AIzaSyCkEhVjf3pduRDt6d1yKOMitrUEke8agEM", "AIzaSyDMAScliyLx7F0NPDEJi1QmyCgHIAODrlU",
    "AIzaSyD3asb-2pEZVqMkmL6M9N6nHZRR_znhrh0", "AIzayDNSXIbFmlXbIE6mCzDLQAqITYefhixbX4A",
    "AIzaSyAdOS2zB6NCsk1pCdZ4-P6GBdi_UUPwX7c", "AIzaSyASWm6HmTMdYWpgMnjRBjxcQ9CKctWmLd4",
    "AIzaSyANUvH9H9BsUccjsu2pCmEkOPjjaXeDQgY", "AIzaSyA5_iVawFQ8ABuTZNUdcwERLJv_a_p4wtM",
    "AIzaSyA4UrcGxgwQFTfaI3no3t7Lt1sjmdnP5sQ", "AIzaSyDSb51JiIcB6OJpwwMicseKRhhrOq1cS7g",
    "AIzaSyBF2RrAIm4a0mO64EShQfqfd2AFnzAvvuU", "AIzaSyBcE-OOIbhjyR83gm4r2MFCu4MJmprNXsw",
    "AIzaSyB8qGxt4ec15vitgn44duC5ucxaOi4FmqE", "AIzaSyA8vmApnrHNFE0bApF4hoZ11srVL_n0nvY",
})
_EXAMPLE_SHAPE = LazyPattern(r"(?i)example|x{6,}|#{3,}|\*{3,}|0{12,}|your[_-]?(?:api|token|key)|placeholder|"
                            r"abc123|abcdefg|hijklmn|klmnopq|qrstuvw|0123456789|9876543210")


_EXAMPLE_PARTS = ("example", "xxxxxx", "###", "***", "000000000000", "your", "placeholder", "abc123", "abcdefg",
                  "hijklmn", "klmnopq", "qrstuvw", "0123456789", "9876543210")
"""A part of every match of _EXAMPLE_SHAPE in lower-case ASCII: an ASCII token holding none
of them has no such shape, told by a few substring tests instead of the case-blind search of
14 alternatives at each of its places (a scan asks this of every token it confirms)."""


def example_reason(token: str, following: bytes = b"") -> str:
    """Why a token of a known format is an example rather than a leak; empty if it is not one."""
    if token in VENDOR_EXAMPLES:
        return "published by the vendor as an example"
    if following[:1] in (b"#", b"*") or following[:2].lower() == b"xx":
        return "a placeholder in the token's format"
    if token.isascii():
        lower = token.lower()
        if not any(part in lower for part in _EXAMPLE_PARTS):
            return ""
    return "a placeholder in the token's format" if _EXAMPLE_SHAPE.search(token) else ""


def _example_hit(det: Detector, m: re.Match[bytes], group: str, reason: str) -> Hit:
    return Hit(det.id, "example", m.start(group), m.end(group), m.group(group), "low",
               {"example_of": det.category, "reason": reason})


def _format_only(min_entropy: float = 3.0) -> Confirm:
    """Tokens with a distinctive prefix: the format is the structure; a run of one character is not.
    Vendor-published examples and placeholders in the format are reported as examples."""

    judged: dict[tuple[bytes, bytes], str | None] = {}  # (token, the 2 bytes after it) -> example reason, '', or None

    def confirm(det: Detector, m: re.Match[bytes], ctx: FileContext) -> Hit | None:
        secret = m.group("secret")
        end = m.end("secret")
        seen = (secret, m.string[end:end + 2])
        if seen not in judged:  # (a log repeating one token judges it once, not on each line)
            if len(judged) >= _JUDGED_KEPT:
                judged.clear()
            body = _text(secret)
            judged[seen] = example_reason(body, seen[1]) or (
                None if structure.shannon_entropy(body) < min_entropy or _placeholder(body) else "")
        reason = judged[seen]
        if reason is None:
            return None
        if reason:
            return _example_hit(det, m, "secret", reason)
        return Hit(det.id, det.category, m.start("secret"), end, secret, "high", {})

    return confirm


_JUDGED_KEPT = 4096
"""Tokens a detector of a known format keeps its judgement of (then forgets them all)."""


PEM_MAX = 65536
"""The longest private key block looked for (an RSA-16384 or OpenPGP key with subkeys fits)."""


def _private_key(det: Detector, m: re.Match[bytes], ctx: FileContext) -> Hit | None:
    """The BEGIN line matched; the END line is found with a plain search (no backtracking)."""
    data, label = m.string, m.group("label")
    end_marker = b"-----END " + label + b"-----"
    stop = data.find(end_marker, m.end(), m.end() + PEM_MAX)
    if stop < 0:
        return None
    body = data[m.end():stop]
    facts = structure.private_key(_text(label), _text(body))
    if facts is None:
        return None
    secret = re.sub(rb"\s|\\n", b"", body)
    return Hit(det.id, det.category, m.start(), stop + len(end_marker), secret, "high", facts)


_HEADER_LINE = re.compile(rb"[A-Za-z][A-Za-z0-9_-]*:[^\n]*|[ \t][^\n]*|")
"""A line of gpg-agent's extended key format: `Name: value`, a continuation, or blank."""
HEADER_REACH = 4096
"""How far before its Key: line the headers of an extended-format key are looked for."""


def _gnupg_key(det: Detector, m: re.Match[bytes], ctx: FileContext) -> Hit | None:
    """A gpg-agent key's S-expression; its span the whole extended-format record around it when
    it is the value of a `Key:` line (`Created:`, `Token:` and the like read as the key file's)."""
    data = m.string
    found = structure.gnupg_key(data, m.start())
    if found is None:
        return None
    secret, facts, end = found
    first = data.rfind(b"\n", 0, m.start()) + 1
    if re.fullmatch(rb"[Kk]ey:[ \t]*", data[first:m.start()]) is None:
        return Hit(det.id, det.category, m.start(), end, secret, "high", facts)
    floor = max(0, first - HEADER_REACH)
    while first > floor:  # the header lines before it
        before = data.rfind(b"\n", 0, first - 1) + 1
        line = data[before:first - 1]
        if before < floor or not line.strip() or _HEADER_LINE.fullmatch(line) is None:
            break
        first = before
    last = data.find(b"\n", end)
    last = len(data) if last < 0 or data[end:last].strip() else last  # the rest of its line
    while 0 <= last < len(data) and last - end < HEADER_REACH:  # the header lines after it
        stop = data.find(b"\n", last + 1)
        stop = len(data) if stop < 0 else stop
        line = data[last + 1:stop]
        if not line.strip() or _HEADER_LINE.fullmatch(line) is None:
            break
        last = stop
    return Hit(det.id, det.category, m.start(), end, secret, "high", facts, span=(first, max(end, last)))


def _putty_key(det: Detector, m: re.Match[bytes], ctx: FileContext) -> Hit | None:
    """A PuTTY key file (putty.py), its span the whole file's structure (a .ppk holding only
    the key is a key file)."""
    found = putty.putty_key(m.string, m.start())
    if found is None:
        return None
    secret, facts, end = found
    return Hit(det.id, det.category, m.start(), end, secret, "high", facts)


def _creds(det: Detector, m: re.Match[bytes], ctx: FileContext) -> Hit | None:
    seed = _text(m.group("seed"))
    facts = structure.nkey_seed(seed)
    if facts is None:
        return None
    jwt = m.group("jwt")
    details = dict(facts)
    if jwt:
        jf = structure.jwt_facts(_text(jwt))
        details["jwt"] = bool(jf)
        if jf:
            details.update({"nats_type": jf["nats_type"], "expired": jf["expired"]})
    block = m.start("jwtblock") if m.group("jwtblock") else m.start("seedblock")
    # the finding points at the seed itself; the block hides the seed's and the JWT's own hits
    return Hit(det.id, det.category, m.start("seed"), m.end("seed"), m.group("seed"), "high", details,
               span=(block, m.end()))


def _jwt(det: Detector, m: re.Match[bytes], ctx: FileContext) -> Hit | None:
    facts = structure.jwt_facts(_text(m.group("secret")))
    if facts is None:
        return None
    confidence = "high" if facts["signed"] and not facts["expired"] else "medium"
    return Hit(det.id, det.category, m.start("secret"), m.end("secret"), m.group("secret"), confidence, facts)


def _vault_legacy(det: Detector, m: re.Match[bytes], ctx: FileContext) -> Hit | None:
    token = _text(m.group("secret"))
    if structure.shannon_entropy(token[2:]) < 3.5 or structure.char_classes(token[2:]) < 2:
        return None
    return Hit(det.id, det.category, m.start("secret"), m.end("secret"), m.group("secret"), "medium",
               {"format": "legacy (s.)"})


# ---------------------------------------------------------------- assignments


_CREDENTIAL_NAMES = (
    r"(?:pass(?:word|wd|phrase)?|pwd|psk|secret|token|api_?key|apikey|access_?key|auth_?key|private_?key|shared_?key|client_?secret|credentials?|creds)"
)
KEY_WALK = 168
"""The most bytes of a key read back from an assignment's operator (auditor._secrets.scanner):
the longest key the assignment pattern takes (128 before a secret's name, 24 after it), a
NixOS attribute path such as `services.home-assistant.config.homeassistant.auth_providers...`."""
_TYPE = rb"(?:[ \t]*:?[ \t]*(?:string|String|str)(?![A-Za-z0-9_]))?"
"""A type between a name and its `=` (Go `var token string = ...`, Kotlin `val token: String = ...`)."""
_QUOTED = (
    rb"\"(?P<qv>(?:[^\"\\\r\n]|\\[^\r\n]){0,512}?)\""
    rb"|'(?P<sq>(?:[^'\r\n]|''){0,512}?)'(?!')"
    rb"|\\(?P<eq_q>[\"'])(?P<eq>[^\"'\\\r\n]{0,512}?)\\(?P=eq_q)"
)
"""A quoted value, its text in one of three groups: `qv` in double quotes, where a backslash
escapes the next character (`"it's \\"quoted\\""`); `sq` in single quotes, where `''` is a quote
(YAML's `'it''s'`; it holds a `"` as is); `eq` between escaped quotes (`\\"...\\"`: JSON inside
a string)."""
QUOTED_GROUPS = ("qv", "sq", "eq")
_BARE_MOST = 513
"""The most characters an unquoted value is read to (its first and 512 more)."""
_BARE_FIRST = rb"(?:[^\s\"'#;,}\]]|(?:(?<==)|(?<==[ \t]))[#;,}\]]|(?<=:[ \t]);)"
"""An unquoted value's first character: not a blank, a quote, a comment's `#` or a `;`, `,`, `}` or
`]`, unless right after `=` (and a blank), or a `;` after `: ` (a YAML plain scalar may start so):
`DB_PASSWORD=;6a2B...` (a generated password, which _assignment asks a value starting so to
be: one in twenty of them starts with one of those five)."""
_BARE = (_BARE_FIRST + rb"(?:[^\r\n#;,}\] \t&]|(?![ \t]+[\"']?[A-Za-z_][A-Za-z0-9_.-]*=)[ \t]"
         rb"|(?!&[A-Za-z_][A-Za-z0-9_.%\[\]-]*=)&|(?<![ \t])#){0," + str(_BARE_MOST - 1).encode() + rb"}")
"""An unquoted value: up to a comment (a `#` after a blank: `Xy#12ab` is one value, as YAML,
dotenv and INI read it), a `;`, `,`, `}` or `]`, the next of a line's blank-separated
assignments (systemd's `Environment=A=x B=y`, an Ansible inventory's `host ansible_password=x
ansible_become_pass=y`, a logfmt line's `password=x user=y`) or of a query string's
parameters (`password=x&user=y`), or the line's end; where the file's format reads it otherwise
(an env, INI, properties or YAML file, a unit's Environment= line), as that reads it
(FileContext.values, _assignment).

Each of its characters after the first is one of four kinds, told by the character itself: the
look-aheads are asked only of a blank and of `&`, the characters where they can hold (a scan
matches this against every `token=`-like assignment it reads: asking them of every character
made a log of such lines a fifth slower; tests hold it to the form that asks them of every
character, which matches the same text)."""
_OPS = rb"(?P<op>:{1,3}=|\?\?=|[?+.]=|=>|=|:)"
"""Assignment operators: Makefile `?=`, `::=`, `:::=`, `+=`, PHP `.=`, `??=`, Perl/Ruby `=>`."""
ASSIGNMENT_ANCHOR = (
    rb"(?i:" + _CREDENTIAL_NAMES.encode() + rb")[A-Za-z0-9_.-]*\\?[\"']?(?:[ \t]*:?[ \t]*(?:[Ss]tring|str))?"
    rb"[ \t]*(:{1,3}=?|\?\?=|[?+.]?=>?)"
)
"""Anchors are prefilters: they may match more than the full expression, and use unbounded
repeats where they can (bounded ones make the Hyperscan database slow to compile)."""
_ASSIGNMENT = (
    rb"(?<![A-Za-z0-9_.-])(?P<key>[A-Za-z0-9_.-]{0,128}?" + _CREDENTIAL_NAMES.encode() + rb"[A-Za-z0-9_.-]{0,24})"
    rb"(?P<kq>\\?[\"']?)" + _TYPE + rb"[ \t]*" + _OPS + rb"[ \t]*"
    rb"(?:" + _QUOTED + rb"|`(?P<bt>[^`\r\n]{0,512}?)`"
    rb"|(?P<block>[|>][+-]?[0-9]?[ \t]*\r?\n[ \t]+)(?P<bv>[^\s#][^\r\n]{0,511})"
    rb"|(?P<bare>" + _BARE + rb"))")
XML_ANCHOR = rb"(?i:" + _CREDENTIAL_NAMES.encode() + rb")[A-Za-z0-9_.:-]*>"
_XML = (
    rb"<(?P<key>[A-Za-z_][A-Za-z0-9_.:-]{0,80})>[ \t\r\n]*(?P<qv>[^<>\s][^<>\r\n]{0,511}?)[ \t\r\n]*</(?P=key)>"
)
NAME_VALUE_ANCHOR = (
    rb"(?i:name|key)[\"']?[ \t]*[:=][ \t]*[\"']?[A-Za-z0-9_.-]*(?i:" + _CREDENTIAL_NAMES.encode() + rb")"
)
_NAME_VALUE = (
    rb"(?<![A-Za-z0-9_.-])(?P<nq>[\"']?)(?:name|key)(?P=nq)[ \t]*[:=][ \t]*(?P<kq>[\"']?)"
    rb"(?P<key>[A-Za-z0-9_.-]{0,40}?" + _CREDENTIAL_NAMES.encode() + rb"[A-Za-z0-9_.-]{0,24})(?P=kq)"
    rb"[ \t]*[,;]?[ \t]*(?:\r?\n[ \t]*)?(?P<vq>[\"']?)value(?P=vq)[ \t]*[:=][ \t]*"
    rb"(?:" + _QUOTED + rb"|(?P<bare>" + _BARE + rb"))"
)
"""A secret-named variable given as a name and a value: a Kubernetes container's `env` entry
(`- name: DB_PASSWORD` then `value: ...`), an ECS task definition's `{"name": ..., "value": ...}`,
a Terraform or CloudFormation `name`/`value` pair, a .NET config's `<add key="..." value="..."/>`
(NuGet.Config's `ClearTextPassword`, an app.config's appSettings). The name comes first, as
these formats write it."""
CALL_ANCHOR = rb"(?i:" + _CREDENTIAL_NAMES.encode() + rb")[A-Za-z0-9_.-]*[\"'][ \t]*,"
_CALL = (
    rb"\([ \t]*(?P<kq>[\"'])(?P<key>[A-Za-z0-9_.-]{1,80})(?P=kq)[ \t]*,[ \t]*(?:" + _QUOTED
    + rb"|`(?P<bt>[^`\r\n]{1,512}?)`)[ \t]*[,)]"
)
"""A name and a literal as a call's first two arguments: Java `System.setProperty("X_TOKEN", "...")`,
`os.environ.setdefault("API_KEY", "...")`, `getenv("PASSWORD", "...")` (a default value)."""
_PASSWORD_KEY = LazyPattern(r"(?i)(pass(word|wd|phrase)?|pwd|psk)$|(pass(word|wd)|pwd)[_.-]|^(db|database|admin|root|user|redis|smtp|mysql|postgres|nats|ldap|mail|basic|auth)?_?pass")
_KEY_NAME_ENDINGS = (
    r"(file|path|dir|hash|hashed|digest|env|var|cmd|command|length|len|policy|prompt|field|name|"
    r"id|expiry|expires?|ttl|timeout|min|max|required|reset|regex|pattern|label|placeholder|header|"
    r"type|url|uri|endpoint|ref|mode|enabled?|count|format|store|provider|source|method|size|"
    r"algorithm|version|key_?id|public_?key|pub_?key|_at|_in|secretkeyref|secretref|secretname|"
    r"tokenurl|auth_?type|kind|output|input|limit|rotation|validity|issuer|prefix|suffix|"
    r"public_?token|csrf[_-]?token|jsonwebtoken)"
)
_NOT_SECRET_KEY = LazyPattern(r"(?i)" + _KEY_NAME_ENDINGS + "$")
_PSK = LazyPattern(r"(?i)psk")
_WHOLE_PSK = LazyPattern(r"(?:^|[_.-])(?:psk|PSK)$")
"""A pre-shared key's name: `psk`, `wpa_psk`, `WIFI_PSK`, a segment of its own."""
_PASS_WORD = LazyPattern(r"[pP]ass(?!word|wd|phrase|wort)[a-z]+|PASS(?!WORD|WD|PHRASE|WORT)[A-Z]+")
"""`pass` starting another word, in the same case: `Passed`, `passive`, `passthrough`, `PASSED`
(`PassEnvironment` and `DB_PASS` are two words, the first or last a pass)."""
_CREDENTIAL_NAME = LazyPattern(r"(?i)" + _CREDENTIAL_NAMES)
NOT_SECRET_ANCHOR = (rb"(?i:" + _CREDENTIAL_NAMES.encode() + rb")[A-Za-z0-9_.-]*(?i:" + _KEY_NAME_ENDINGS.encode()
                     + rb")[\"']?[ \t]*(:{1,3}=?|\?\?=|[?+.]?=>?)")
"""Ends where a key about a secret (`password_file:`, `token_url =`) is assigned: an assignment
anchor that ends at the same offset is skipped without reading the key (`key_kind` says "")."""
_WHOLE_FORMS = (
    r"\$\(.*|\{\{.*\}\}|<[^>]*>|%\(.*\)s|%[sd]|\*+|x+|\.+|"
    r"changeme|change[_-]?me|changeit|replace[_-]?me|your[_-].*|example.*|dummy.*|sample.*|test|testing|"
    r"password|passwd|secret|token|none|null|nil|true|false|undefined|empty|redacted|hidden|"
    r"todo|tbd|fixme|\.\.\.|enc\[.*|vault:.*|ref\+.*|sops:.*|env:.*|file:.*|"
    r".*\$\{.*\}.*|.*\$\{[A-Za-z_][A-Za-z0-9_.]*(?:[:?+-].*)?"
)
"""Placeholders judged whole. An interpolation is one written whole (`${VAR}` anywhere), or cut
short at its closing brace (`${DB_PASSWORD`, `${DB_PASSWORD:-/run/pw`, where a value ends at
`}`), not any `${` in a value (`kG(qA^&${Crfv<9Q`, a generated password)."""
_LOOSE_FORMS = r"\$[A-Za-z_].*|!.*|@[A-Za-z_].*|[A-Za-z_][A-Za-z0-9_]*\(.*\).*|xxx.*"
"""The placeholder forms judged by how a value starts (a variable, a YAML tag, an `@name`, a
call with its parenthesis closed, `xxx`), which a generated password may start with too
(_generated_password asks that none of _WHOLE_FORMS match). A `name(` never closed is no call
(`t(GoJuK/Ee9eSVOh`: about one random 16-character password of pwgen's alphabet in a hundred
was dropped so)."""
_PLACEHOLDER = LazyPattern(rf"(?i)^({_WHOLE_FORMS}|{_LOOSE_FORMS})$")
_WHOLE_PLACEHOLDER = LazyPattern(rf"(?i)^({_WHOLE_FORMS})$")
_HASHED = LazyPattern(r"^(\$2[abxy]?\$\d{2}\$|\$[156]\$|\$argon2|\$scrypt\$|\$pbkdf2|\{SSHA\}|\{SHA\}|\$y\$|"
                     r"SCRAM-SHA-256\$|md5[0-9a-f]{32}$)")
_RESTATED = frozenset({"password", "passwd", "pass", "pwd", "secret", "token", "key", "apikey", "test", "testing",
                       "dummy", "fake", "sample", "example", "changeme", "placeholder", "credential", "credentials"})


_NOT_ALNUM = LazyPattern(r"[^a-z0-9]")
_WORD_DIGITS = LazyPattern(r"([A-Za-z]+)[_-]?[0-9]{0,3}")
_PROSE_WORD = LazyPattern(r"(?i)\b(?:password|passphrase|secret|token)\b")


def _restates_the_name(key: str, value: str) -> bool:
    """A label or an obvious test literal: `challengePassword: "challengePassword"`, `password_1 = 'password1'`,
    `token = "test123"`: the value is the key's name again, or a credential word with a few digits."""
    norm_value = _NOT_ALNUM.sub("", value.lower())
    if norm_value and norm_value == _NOT_ALNUM.sub("", key.lower()):
        return True
    m = _WORD_DIGITS.fullmatch(value)
    if m and m.group(1).lower() in _RESTATED:
        return True
    # prose naming the thing ("A challenge password", "your secret token here")
    return (" " in value or "\t" in value) and bool(_PROSE_WORD.search(value))
_FILE_PATH = LazyPattern(r"[\w.@-]*(?:/[\w.@-]+)+\.(?:creds|pem|key|crt|cer|der|nk|jwt|json|ya?ml|toml|ini|conf|cfg|"
                         r"txt|env|p12|pfx|jks|kbx|gpg|asc|age|enc)")
"""A relative path to a file of credentials (`creds/ADMIN/admin.creds` after `--creds=`), which
names where a secret is, as an absolute one does (_REFERENCE)."""
_REFERENCE = LazyPattern(r"^(/|\./|~/|[A-Za-z]:\\|config\.|self\.|this\.|os\.|process\.env|env\.|secrets?\.|cfg\.|settings\.)")
_CODE_CALL = LazyPattern(r"[()\[\]]")
_WRITTEN_CODE_FORM = r"[A-Za-z_@][\w.]*(?:\(.*\)|\[.*\])"
_WRITTEN_CODE = LazyPattern(_WRITTEN_CODE_FORM)
"""A call or a subscript written whole (`get_password(name)`, `settings[DB_PASSWORD]`,
`@Microsoft.KeyVault(SecretUri=...)`)."""
_BASE64_RUN = LazyPattern(r"[A-Za-z0-9+=]{16,}")
_BASE64 = LazyPattern(r"[A-Za-z0-9+/]{19,}={0,2}")
_HEX = LazyPattern(r"[0-9a-fA-F]+")


def _reference(value: str) -> bool:
    """Whether `value` names where a secret is (a path, a variable, a setting) rather than being
    one. A value that starts with `/` is a path unless it is base64 by its shape: base64 starts
    with `/` once in 64, and such a secret (a WireGuard key, `/kiVFz4me1u...bDD4=`) was taken
    for a path. Base64, not a path: a part between slashes is a run of
    16 base64 characters or more that passes as a secret by its shape (at least 3.5 bits a
    character, two classes of character, not hex), or the whole is base64 with a `+` or padding
    (which a path's names seldom hold) and random (_random: `/usr/include/c++/12` is not)."""
    if not _REFERENCE.match(value):
        return False
    if value[0] != "/":
        return True
    if any(_BASE64_RUN.fullmatch(part) and not _HEX.fullmatch(part) and structure.char_classes(part) >= 2
           and structure.shannon_entropy(part) >= 3.5 for part in value.split("/")):
        return False
    return not (_BASE64.fullmatch(value) and ("+" in value or value.endswith("="))
                and _random(value.replace("/", "").rstrip("=")))


def _random(text: str) -> bool:
    """Upper and lower case letters, at least 3.5 bits a character."""
    return any(c.isupper() for c in text) and any(c.islower() for c in text) and structure.shannon_entropy(text) >= 3.5


def _placeholder(value: str) -> bool:
    return bool(_PLACEHOLDER.match(value.strip()))


_FORMED = LazyPattern(r".*(?:\$\{[^}]*\}|\{\{.*\}\}|\$\(.*\)).*|" + _WRITTEN_CODE_FORM
                      + r"|\$[A-Za-z_][A-Za-z0-9_]*(?:[/.:-].*)?")
"""An interpolation, a call, a subscript or a variable written whole (`${VAR}`, `{{ x }}`,
`$(cmd)`, _WRITTEN_CODE, `$HOME/.pw`)."""
_SCATTERED = frozenset("!#%&*;<>?[]{}|^~")
"""Characters a generated password holds and a path, a variable or a call seldom does."""


def _generated_password(value: str) -> bool:
    """Whether a password or a secret (any secret's name) that starts as a placeholder, a path or
    another value's end would (`$`, `!`, `@`, `x(`, `xxx`, `/`; `#`, `;`, `,`, `}`, `]`:
    _NO_BARE_START), or holds brackets that otherwise mean code, is a generated one: 12
    characters or more, no blank, random (_random: upper and lower case, at least 3.5 bits a
    character), two of _SCATTERED, and no interpolation, call or variable written whole
    (_FORMED), no placeholder judged whole. Such passwords (`pwgen -sy`, a password manager's)
    were dropped: one in twenty of them."""
    return len(value) >= 12 and len(_SCATTERED.intersection(value)) >= 2 and not any(c.isspace() for c in value) \
        and _random(value) and _FORMED.fullmatch(value) is None and _WHOLE_PLACEHOLDER.match(value) is None


def assigned_value_is_secret(key: str, value: str, *, password: bool) -> tuple[bool, str]:
    """Whether a value assigned to a secret-named key is a real secret, and the confidence."""
    v = value.strip()
    if not v or ((_placeholder(v) or _reference(v)) and not _generated_password(v)) \
            or _HASHED.match(v) or _restates_the_name(key, v) \
            or _FILE_PATH.fullmatch(v):
        return False, ""
    if v.isdigit() or re.fullmatch(r"[0-9.]+", v):
        return False, ""
    if " " in v and not password:
        return False, ""
    if len(v.split()) > 3:  # prose, not a credential
        return False, ""
    if " " in v and ('"' in v or "'" in v):  # prose quoting a word (`The "pass" statement`)
        return False, ""
    entropy = structure.shannon_entropy(v)
    classes = structure.char_classes(v)
    if password:
        if len(v) < 6:
            return False, ""
        if classes >= 2 and len(v) >= 8:
            return True, "high"
        return (True, "medium") if entropy >= 2.5 else (False, "")
    # generic secret/token/key: entropy is a signal, weighed with the key name and the length
    if len(v) >= 16 and entropy >= 3.5 and classes >= 2:
        return True, "high" if entropy >= 4.0 else "medium"
    if len(v) >= 20 and entropy >= 3.0 and classes >= 2 and _HEX.fullmatch(v):
        # hex holds 4 bits a character at most: 3.5 missed one random 32-digit key in five
        # (an API key, a client secret); random hex of 20 digits or more has 3.0 almost always
        return True, "medium"
    return False, ""


@functools.lru_cache(maxsize=4096)
def key_kind(leaf: str) -> str:
    """`password`, `secret` or `` (not a secret's name) for the last part of a key; keys repeat, so cached."""
    if _NOT_SECRET_KEY.search(leaf):  # `password_file`, `token_url`, `secret_name`: about a secret, not one
        return ""
    if _PASS_WORD.search(leaf) and not _CREDENTIAL_NAME.search(_PASS_WORD.sub("", leaf)):
        return ""  # `Passed: test`, `PassEnvironment=`: another word that starts with `pass`
    if "psk" in leaf.lower() and not _WHOLE_PSK.search(leaf) and not _CREDENTIAL_NAME.search(_PSK.sub("", leaf)):
        return ""  # `psK`, `upskill`: three letters in another word, not a pre-shared key
    return "password" if _PASSWORD_KEY.search(leaf) else "secret"


@functools.lru_cache(maxsize=4096)
def secret_named(key: bytes) -> bool:
    """Whether a dotted key's last part names a secret (`db.password` yes, `password_file` no)."""
    return bool(key_kind(key.rsplit(b".", 1)[-1].decode("latin-1")))


def quoted_group(m: re.Match[bytes]) -> str | None:
    """The group holding a match's quoted value (see _QUOTED), if it has one."""
    groups = m.re.groupindex
    for name in QUOTED_GROUPS:
        if name in groups and m.group(name) is not None:
            return name
    return None


_TYPED = bytes(range(0x20, 0x7F))
"""Printable ASCII: what a value typed on a keyboard holds."""
_TEXT_BYTES = b"\t" + _TYPED + bytes(range(0x80, 0x100))
"""What a typed value holds: a tab, printable ASCII and (UTF-8) the bytes above; not other
control bytes."""


def _assignment(det: Detector, m: re.Match[bytes], ctx: FileContext) -> Hit | None:
    """A literal assigned to a secret-named key (assignments, XML elements, call arguments)."""
    groups = m.re.groupindex
    quoted = quoted_group(m)
    if quoted is not None:
        group = quoted
    elif "bt" in groups and m.group("bt") is not None:
        group = "bt"  # a backtick string (Go raw string, JS template, shell command substitution in code)
    elif "bv" in groups and m.group("bv") is not None:
        group = "bv"  # a YAML block scalar's first line: literal text
    else:
        group = "bare"
        if ctx.code:
            return None
    if m.start(group) in ctx.taken:
        return None  # a secret a detector of a higher priority confirmed already (asked first: it costs least)
    key = _text(m.group("key"))
    leaf = key.rsplit(".", 1)[-1].rsplit(":", 1)[-1]
    kind = key_kind(leaf)
    if not kind:
        return None
    raw = m.group(group)
    assert raw is not None
    if group == "bare" and _in_pkcs11_uri(m):
        return None  # `pkcs11:token=PIV_II;object=...`: a token's label, not a token
    if group == "bare" and m.string[max(0, m.start("key") - 2):m.start("key")] in (b":+", b":-", b":!"):
        return None  # `NORMAL:+PSK:+SRP`: an item of a GnuTLS priority or OpenSSL cipher list, not a key
    in_query = group == "bare" and _in_query(m)
    reading = _line_value(m, ctx) if group == "bare" and not in_query else ""  # "": not to the line's end
    environment = group == "bare" and not reading and _unit_environment(m)
    start = m.start(group)
    if (reading or environment) and "op" in groups and m.group("op") == b"=>":
        start = m.start("op") + 1  # `=` and a value that starts with `>`, not Perl's `=>`
    if environment:  # a word of a unit's Environment= line, or the rest of the quotes around its assignment
        rest = _line_rest(m.string, start)
        in_quotes = m.string[m.start("key") - 1:m.start("key")] == b'"'
        raw = rest.split(b'"', 1)[0] if in_quotes else _GAP.split(rest, 1)[0]
    if reading:  # the rest of the line, but a comment the format has
        rest = _line_rest(m.string, start)
        comment = _LINE_COMMENTS[reading]
        found = comment.search(rest) if comment is not None else None
        raw = (rest if found is None else rest[:found.start()]).rstrip(b" \t\r")
    if in_query:  # a URL's query or a form's parameter: up to the next one, or the URL's end
        raw = _QUERY_VALUE_END.split(raw, 1)[0]
    elif group == "bare" and not environment and (ctx.shell or _in_command(m)):
        # the shell's word: the command after it is no part of it
        raw = _SHELL_WORD.split(raw, 1)[0]
        if not ctx.shell and _prose_word(raw):
            return None  # in a file of another kind: `* New option --use-askpass=COMMAND. Fetch ...`
    if raw.translate(None, _TEXT_BYTES):
        return None  # control bytes: binary (a certificate's DER, an executable), not a value typed in
    value = _text(raw).rstrip()
    read = _unescaped(group, value, ctx)
    if read is not None:  # the string as its reader reads it: the secret, as anywhere else
        value = read
    is_password = kind == "password"
    if group == "bare" and raw and raw[0] in _NO_BARE_START and not _generated_password(value):
        return None  # `password=,host=db`, `password = # set me`: a value starting so is a generated password or none
    if group == "bare" and key == "PASS" and "op" in groups and m.group("op") == b":":
        return None  # `PASS: test-name`: a test's result, as Automake, DejaGnu and jtreg logs write them
    if group == "bare" and (
            _WRITTEN_CODE.fullmatch(value) if reading or environment  # text: code only if written whole
            else _CODE_CALL.search(value) or value.endswith(("{", "[", "(")) or value.startswith(("{", "["))) \
            and not _generated_password(value):  # asked only of what looks like code: every bare value comes here
        return None  # code, not a value
    details = {"key": key[-64:]}
    text, encoding = _encoded(value, query=in_query, xml=det.id == "xml-element")
    if text is not None:  # the secret is what the value encodes
        value, details["encoding"] = text, encoding
    ok, confidence = assigned_value_is_secret(leaf, value, password=is_password)
    if not ok:
        return None
    written = raw.rstrip()
    secret = written if text is None and read is None else value.encode()
    rule, category = ("password", "password") if is_password else ("generic-secret", "generic-secret")
    return Hit(rule, category, start, start + len(written), secret, confidence, details)


def _unescaped(group: str, value: str, ctx: FileContext) -> str | None:
    """A quoted value as its reader reads it, where that is not as it is written (else None):
    in double quotes, backslash escapes (`\\"`, `\\\\`, `\\/`, `\\u00e9`, as JSON, YAML, TOML,
    Nix and dotenv read them) where the whole is a JSON string; in single quotes in a YAML file,
    `''` for `'`. So `"p\\/w"` (PHP's json_encode) is the password `p/w`, fingerprinted as it is
    anywhere else."""
    if group == "qv" and "\\" in value:
        try:
            read = json.loads(f'"{value}"')
        except ValueError:
            return None  # escapes JSON has not (a shell's `\\$`): as written
        return read if isinstance(read, str) and read != value else None
    if group == "sq" and ctx.values == "yaml" and "''" in value:
        return value.replace("''", "'")
    if group == "sq" and ctx.code and "\\\\" in value:
        return value.replace("\\\\", "\\")  # `\\` in code's single quotes (Python, JavaScript, PHP, Ruby)
    return None


def _encoded(value: str, *, query: bool, xml: bool) -> tuple[str | None, str]:
    """What a value encodes and how, or (None, "") where it is the secret itself: a URL's query
    parameter percent-encoded (`url`, as the server reads it), an XML element's text with
    references (`xml`: `a&amp;b` is `a&b`, as an XML parser reads it), the base64 of typed text
    (`base64`: a Kubernetes Secret's `data`)."""
    if query and ("%" in value or "+" in value):
        return urllib.parse.unquote_plus(value), "url"
    if xml and "&" in value:
        unescaped = _XML_REFERENCE.sub(_xml_character, value)
        if unescaped != value:
            return unescaped, "xml"
    text = _base64_text(value)
    return (text, "base64") if text is not None else (None, "")


_XML_REFERENCE = re.compile(r"&(?:(lt|gt|amp|quot|apos)|#([0-9]{1,7})|#x([0-9A-Fa-f]{1,6}));")
_XML_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}


def _xml_character(m: re.Match[str]) -> str:
    """The character an XML reference stands for (XML's five entities, a character reference);
    one beyond Unicode is left as written."""
    if m.group(1):
        return _XML_ENTITIES[m.group(1)]
    code = int(m.group(2)) if m.group(2) else int(m.group(3), 16)
    return chr(code) if 0 < code <= 0x10FFFF else m.group(0)


def _line_rest(data: bytes, start: int) -> bytes:
    """The rest of the line from `start`, read no further than _BARE reads (no line is copied
    whole per hit)."""
    end = data.find(b"\n", start, start + _BARE_MOST)
    return data[start:start + _BARE_MOST if end < 0 else end].rstrip(b"\r")


_UNIT_HEAD = re.compile(rb"[ \t]*Environment=")
_UNIT_WORD = re.compile(rb"\"[^\"\n]*\"|[^\s\"]+")
_GAP = re.compile(rb"[ \t]+")
_UNIT_LINE: tuple[bytes, int, int, frozenset[int]] | None = None
"""The last line asked about: its buffer, start, end and where its assignments' keys may start
(_unit_keys): a line's assignments ask about it one by one."""


def _unit_environment(m: re.Match[bytes]) -> bool:
    """Whether an assignment is one of a systemd unit's `Environment=` line, whose value is a
    word (a `#`, `;`, `,`, `}` or `]` in it is its own, as is a word of letters alone:
    `Environment=DB_PASSWORD=enLaGAUsTHanxFCRsBcM`), or the rest of its quotes
    (`Environment="DB_PASSWORD=a b"`)."""
    if not _tight(m, (b"=", b"=>")):
        return False
    global _UNIT_LINE
    data, start = m.string, m.start("key")
    if _UNIT_LINE is None or _UNIT_LINE[0] is not data or not _UNIT_LINE[1] <= start < _UNIT_LINE[2]:
        line, end = data.rfind(b"\n", 0, start) + 1, data.find(b"\n", start)
        end = len(data) if end < 0 else end
        _UNIT_LINE = (data, line, end, _unit_keys(data, line, end))
    return start in _UNIT_LINE[3]


def _unit_keys(data: bytes, line: int, end: int) -> frozenset[int]:
    """Where an assignment's key may start on a unit's `Environment=` line (none on another
    line): after `Environment=` and each blank-separated word, each quoted whole or not, and
    inside an opening quote (systemd.exec(5)); found in one pass, so a line of 20,000
    assignments is read once, not once for each."""
    head = _UNIT_HEAD.match(data, line, end)
    if head is None:
        return frozenset()
    starts: list[int] = []
    at = head.end()
    while True:
        starts += (at, at + 1) if data[at:at + 1] == b'"' else (at,)
        word = _UNIT_WORD.match(data, at, end)
        gap = _GAP.match(data, word.end(), end) if word is not None else None
        if gap is None:
            return frozenset(starts)
        at = gap.end()


_NO_BARE_START = frozenset(b"#;,}]")
"""The characters an unquoted value starts with only right after `=` or `: ` (_BARE_FIRST), and
then only a generated password or secret (_generated_password)."""
_LINE_COMMENTS: dict[str, re.Pattern[bytes] | None] = {
    "env": re.compile(rb"[ \t][#;]"), "properties": None, "yaml": re.compile(rb"[ \t]#")}
"""Where a comment starts in an unquoted value read to its line's end, by the file's format
(FileContext.values): none in a Java properties file (a `#` or `!` starts one only at a line's
start)."""
_YAML_PLAIN_LEAD = re.compile(rb"[ \t]*(?:-[ \t]+)*[\"']?")
"""What may come before a key, on its line, in a YAML block mapping: indentation, list items'
dashes, the key's quote."""
_YAML_ITEM_LEAD = re.compile(rb"[ \t]*-[ \t]+")
_BLANKS = re.compile(rb"[ \t]*")
_YAML_INDICATORS = frozenset(b"[{!&*|>%@`")
"""Characters a YAML plain scalar cannot start with (a flow collection, a tag, an anchor, an
alias, a block scalar, reserved ones)."""


def reading_of(name: str) -> str:
    """How a file's format reads an unquoted value (FileContext.values), by the file's own name:
    `env` for an env file or an INI file (`.env`, `*.env`, `.env.*`, `*.ini`), `properties` for
    `*.properties`, `yaml` for `*.yaml` and `*.yml`; else empty."""
    name = name.lower()
    if name == ".env" or name.startswith(".env.") or name.endswith((".env", ".ini")):
        return "env"
    if name.endswith(".properties"):
        return "properties"
    return "yaml" if name.endswith((".yaml", ".yml")) else ""


def _line_value(m: re.Match[bytes], ctx: FileContext) -> str:
    """How an unquoted value is read to the rest of its line (a key of _LINE_COMMENTS), or ""
    where it is not: always in an env, INI or properties file; in a file of no format its name
    says, for a key that begins its line after an INI section's header; in a YAML file, in a
    block scalar that is a file's text, as that file's name says (a ConfigMap's
    `application.properties: |`, `app.env: |`), and where it is a plain scalar in block
    context: the value of a key that begins its line (`key: value`, a blank after the colon) or
    a list item that is an assignment (`- KEY=value`, a compose file's `environment`), not
    starting with an indicator."""
    if ctx.values not in ("yaml", ""):
        return ctx.values
    if "op" not in m.re.groupindex:
        return ""
    data, start, op = m.string, m.start("key"), m.group("op")
    if not ctx.values and (op != b"=" or ctx.code or ctx.shell):
        return ""
    line = data.rfind(b"\n", 0, start) + 1  # what comes before the key is matched in place: a long line is not copied per hit
    if not ctx.values:  # a file of no format known by its name: INI's, after a section's header
        ini = _section_before(data, line) and _BLANKS.fullmatch(data, line, start) is not None
        return "env" if ini else ""
    if data[line:line + 1] in (b" ", b"\t"):  # indented: perhaps a line of a file's text in a block scalar
        inner = reading_of(yamlblocks.block_key(data, line).decode("latin-1"))
        if inner in ("env", "properties"):
            return inner
    if op == b":":  # the scalar is the value
        plain = m.end("op") < m.start("bare") and data[m.start("bare")] not in _YAML_INDICATORS \
            and _YAML_PLAIN_LEAD.fullmatch(data, line, start) is not None
    else:  # the scalar is the assignment, starting with its key
        plain = op in (b"=", b"=>") and m.end("key") == m.start("op") \
            and _YAML_ITEM_LEAD.fullmatch(data, line, start) is not None
    return "yaml" if plain else ""


_SECTION = re.compile(rb"^[ \t]*\[[^\]\r\n]{1,200}\][ \t]*\r?$", re.MULTILINE)
"""An INI section's header, alone on its line (`[client]`, `[default]`, `[wifi-security]`)."""
_FIRST_SECTION: tuple[bytes, int] | None = None
"""The last buffer asked about and where its first section header is (-1: none): a file's
assignments ask about it line by line."""


def _section_before(data: bytes, line: int) -> bool:
    """Whether an INI section's header comes before the line starting at `line`: a file of INI's
    form whatever its name (`.my.cnf`, `.pypirc`, `pg_service.conf`, an `.nmconnection`,
    `~/.aws/credentials`, `.s3cfg`, a unit file), where a key that begins its line is assigned
    the rest of it, as configparser, MySQL's and NetworkManager's readers read it."""
    global _FIRST_SECTION
    if _FIRST_SECTION is None or _FIRST_SECTION[0] is not data:
        found = _SECTION.search(data)
        _FIRST_SECTION = (data, -1 if found is None else found.start())
    return 0 <= _FIRST_SECTION[1] < line


_SHELL_WORD = re.compile(rb"[ \t`\"']")
"""Where a shell's word ends in a value written inside a command: a blank, or the quote or
backtick that closes the string or the code span around the command (`"PGPASSWORD=x"`)."""


def _prose_word(text: str | bytes) -> bool:
    """Whether a value is a word of a sentence (letters alone, and the punctuation after them;
    as bytes, ASCII letters): what follows a flag or a `NAME=` named in prose, not a value
    typed in."""
    if isinstance(text, bytes):
        return text.rstrip(b".,;:)").isalpha()
    return text.rstrip(".,;:)").isalpha()


_QUERY_VALUE_END = re.compile(rb"[ \t\"'&<>`]")
"""Where a query parameter's value ends: the next parameter, or the end of the URL (a blank,
the quote, bracket or backtick around it)."""


def _in_query(m: re.Match[bytes]) -> bool:
    """Whether an assignment is a parameter of a URL's query or a form's body (`?password=x`,
    `&api_key=x`): its key right after `?` or `&`, `=` right after it."""
    start = m.start("key")
    return (start > 0 and m.string[start - 1] in b"?&" and "op" in m.re.groupindex and m.group("op") == b"="
            and m.start("op") == m.end("key"))


_PKCS11_URI_START = re.compile(rb"pkcs11:", re.IGNORECASE)


def _in_pkcs11_uri(m: re.Match[bytes]) -> bool:
    """Whether an assignment is an attribute of a PKCS#11 URI (RFC 7512: `pkcs11:token=NAME;
    object=...`) that names things, not one that holds a secret: every attribute but the PIN
    (`?pin-value=...`). The key right after `;` or the scheme, in a word holding `pkcs11:`
    before it (`PKCS11_URI=pkcs11:...`, `key_file pkcs11:...`)."""
    data, start = m.string, m.start("key")
    if start < 7 or data[start - 1] not in b":;" or m.group("key").lower() == b"pin-value":
        return False
    word = max(data.rfind(sep, max(0, start - 1024), start) for sep in (b" ", b"\t", b"\n", b'"', b"'")) + 1
    uri = _PKCS11_URI_START.search(data, word, start)
    return uri is not None and b"?" not in data[uri.end():start]


def _tight(m: re.Match[bytes], ops: tuple[bytes, ...]) -> bool:
    """Whether an assignment is `NAME=value` written tight: its operator one of `ops`, no blank
    before or after it, the value unquoted (a shell's, an Environment= line's)."""
    return "op" in m.re.groupindex and m.group("op") in ops and m.start("op") == m.end("key") \
        and m.end("op") == m.start("bare")


def _in_command(m: re.Match[bytes]) -> bool:
    """Whether an assignment is a shell's, written inside a command in a file of another kind:
    `NAME=value` with no blank around `=`, after other text on its line (`sh -c "PGPASSWORD=x
    psql ..."` in a manifest's `command`, `run: PGPASSWORD=x psql` in a CI file). One at the
    start of a line, or of a YAML list item, is a dotenv or env-file entry, whose unquoted value
    may hold blanks (`- PASSWORD=a b c` in a compose file's `environment`)."""
    if not _tight(m, (b"=",)):
        return False
    data, start = m.string, m.start("key")
    line = data.rfind(b"\n", 0, start) + 1
    before = data[line:start].strip(b" \t")
    if before == b"":  # a line of a script in a YAML block (a block's lines are indented: a dotenv file's are not)
        return start > line and yamlblocks.in_shell_block(data, line)
    return before != b"-"


_BASE64_VALUE = LazyPattern(r"(?:[A-Za-z0-9+/]{4}){2,}(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")


def _base64_text(value: str) -> str | None:
    """What a value that is the base64 of typed text decodes to (`DB_PASSWORD: WHE5LXZU…` in a
    Kubernetes Secret's `data`, `echo -n … | base64`; one newline after it, `echo`'s, dropped),
    so that it is judged (a placeholder, `Y2hhbmdlbWU=`, is `changeme`) and fingerprinted as the
    secret it is; None for any other value. A password made as random base64 (`openssl rand
    -base64`) is no such value: its bytes are not printable text (12 characters and more: the
    chance they are is under 1 in 7,000)."""
    if len(value) < 12 or _BASE64_VALUE.fullmatch(value) is None:
        return None
    raw = base64.b64decode(value)
    raw = raw[:-1] if raw.endswith(b"\n") else raw
    if not raw or raw.translate(None, _TYPED):
        return None
    return raw.decode("ascii")


_SQL_CONTEXT = LazyPattern(rb"(?i)\b(?:(?:ALTER|CREATE)\s+(?:USER|ROLE|LOGIN)|GRANT|SET\s+PASSWORD)\b")


def _sql_password(det: Detector, m: re.Match[bytes], ctx: FileContext) -> Hit | None:
    """A password in an SQL statement, wherever the statement is written (a Nix string, a YAML
    block, a heredoc, a .sql file): the statement must create or alter a user or role."""
    data = m.string
    stmt = max(data.rfind(b";", 0, m.start()), data.rfind(b"\n\n", 0, m.start()), m.start() - 300)
    if not _SQL_CONTEXT.search(data, max(stmt, 0), m.start() + 1):
        return None
    value = _text(m.group("secret"))
    ok, confidence = assigned_value_is_secret("password", value.replace("''", "'"), password=True)
    if not ok:
        return None
    return Hit("password", "password", m.start("secret"), m.end("secret"), m.group("secret"), confidence,
               {"key": "SQL PASSWORD"})


def _command_password(det: Detector, m: re.Match[bytes], ctx: FileContext) -> Hit | None:
    """A password given to a command on its command line (`mysql -pX`, `--password=X`, `sshpass -p X`)."""
    value = _text(m.group("secret"))
    if value.startswith(("$", "%", "{", "<", "`", "-")) or value in ("-", "stdin"):
        return None  # a reference, a placeholder, or the next option (`--ask-password -user=foo`)
    if not m.group("flag").endswith(b"=") and _prose_word(value):
        return None  # a word after a flag named in prose (`the --ftp-password command`), not typed as its value
    ok, confidence = assigned_value_is_secret("password", value, password=True)
    if not ok:
        return None
    return Hit("password", "password", m.start("secret"), m.end("secret"), m.group("secret"), confidence,
               {"key": _text(m.group("flag"))[-32:]})


def _tool_password(det: Detector, m: re.Match[bytes], ctx: FileContext) -> Hit | None:
    """A password given to a program that takes it as an argument of its own (commands.py:
    `docker login -p X`, `ldapsearch -w X`, `mosquitto_pub -P X`, `influx -password X`,
    `htpasswd -b FILE USER X`); not a variable, a command's output, a placeholder or a word of
    a sentence."""
    read = commands.password_argument(m)
    if read is None:
        return None
    (start, end, raw), program = read
    value = _text(raw)
    if value.startswith(("$", "%", "{", "<", "[", "`", "-")) or "$(" in value or "${" in value or _prose_word(value):
        return None
    ok, confidence = assigned_value_is_secret("password", value, password=True)
    if not ok:
        return None
    return Hit("password", "password", start, end, raw, confidence, {"key": program})


_DEFAULT_PINS = frozenset({"0000", "1111", "1234", "000000", "111111", "123456", "12345678", "pin", "PIN"})
"""PINs no token should still have: the defaults of YubiKey's PIV application (123456, and
12345678 its PUK) and of token set-up guides."""


def _pkcs11_pin(det: Detector, m: re.Match[bytes], ctx: FileContext) -> Hit | None:
    """The PIN of a PKCS#11 URI (RFC 7512: `pkcs11:token=cim;object=ca?pin-value=PIN`), which
    unlocks the token's keys for whoever reads it: percent-encoding decoded, as GnuTLS and
    OpenSSL's pkcs11 engine read it; a PIN may be digits alone. Not a reference, a placeholder
    or a default PIN."""
    raw = m.group("secret")
    value = urllib.parse.unquote(_text(raw))
    if len(value) < 4 or value in _DEFAULT_PINS or value.startswith(("$", "{", "<", "%")) or _placeholder(value):
        return None
    return Hit("password", "password", m.start("secret"), m.end("secret"), value.encode(), "high",
               {"key": "pkcs11 pin-value", **({"encoding": "url"} if value != _text(raw) else {})})


_NETRC_VALUE = rb'(?:"(?:[^"\\\n]|\\.)*"|[^\s"]+)'
_NETRC_ENTRY = (rb"(?<![^\s])(?:machine[ \t\r\n]+[^\s\"]{1,255}|default)"
                rb"(?:[ \t\r\n]+(?:login|user|account)[ \t\r\n]+" + _NETRC_VALUE + rb"){0,3}"
                rb"[ \t\r\n]+password[ \t\r\n]+(?P<secret>" + _NETRC_VALUE + rb")")
"""A netrc entry up to its password, in netrc's grammar (Python's netrc module's): `machine
HOST` or `default`, then only `login` (or `user`) and `account` with their values, then
`password` and its value, over one line or several."""


_NETRC_WORDS = frozenset({b"machine", b"default", b"login", b"user", b"password", b"account", b"macdef"})


def _netrc_password(det: Detector, m: re.Match[bytes], ctx: FileContext) -> Hit | None:
    """The password of a netrc entry (~/.netrc: curl's and ftp's, git's and pip's credentials for
    a host; see _NETRC_ENTRY), a quoted value unquoted. The anchor is the entry's opening, so an
    auth log's million `Failed password for ...` lines cost no call."""
    words = m.group(0).split(None, 2)
    if words[0] == b"machine" and words[1] in _NETRC_WORDS:  # `machine login ...`: no host
        return None
    raw = m.group("secret")
    value = re.sub(rb"\\(.)", rb"\1", raw[1:-1]) if raw.startswith(b'"') and raw.endswith(b'"') and len(raw) > 1 else raw
    ok, confidence = assigned_value_is_secret("password", _text(value), password=True)
    if not ok:
        return None
    return Hit("password", "password", m.start("secret"), m.end("secret"), value, confidence, {"key": "netrc password"})


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def registry_auth(value: bytes) -> bytes | None:
    """The password in a container registry credential as `docker login` and podman keep it
    (config.json, auth.json: `"auth": base64 of USER:PASSWORD`), or None."""
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    user, colon, password = decoded.partition(":")
    if not colon or not user or not password or _CONTROL.search(decoded):
        return None
    return password.encode()


def _registry_auth(det: Detector, m: re.Match[bytes], ctx: FileContext) -> Hit | None:
    return _basic_password(m, "registry auth")


def _basic_password(m: re.Match[bytes], key: str) -> Hit | None:
    """The password of the match's `secret`, base64 of USER:PASSWORD (registry_auth: HTTP Basic
    credentials, as docker keeps them and an Authorization header sends them), with the
    fingerprint the same password gets anywhere else; None for no such text or a placeholder."""
    password = registry_auth(m.group("secret"))
    if password is None:
        return None
    ok, confidence = assigned_value_is_secret("password", _text(password), password=True)
    if not ok:
        return None
    return Hit("password", "password", m.start("secret"), m.end("secret"), password, confidence,
               {"key": key, "encoding": "base64"})


def _url_credential(det: Detector, m: re.Match[bytes], ctx: FileContext) -> Hit | None:
    password = _text(m.group("secret"))
    if _placeholder(password) or password.startswith(("$", "%", "{")) or len(password) < 3:
        return None
    if not m.group("user") and ":" in password:
        return None  # `cvs://:pserver:anoncvs@host`: CVS's method and user, no password
    if password.lower() in {"pass", "pwd", "user", "username", "port"}:
        return None
    return Hit(det.id, det.category, m.start("secret"), m.end("secret"), m.group("secret"), "high",
               {"scheme": _text(m.group("scheme")).lower()})


def _auth_header(det: Detector, m: re.Match[bytes], ctx: FileContext) -> Hit | None:
    """The credentials of an HTTP `Authorization` header (curl's `-H`, a script's, an nginx
    `proxy_set_header`'s): `Basic` base64 of USER:PASSWORD, its password (the fingerprint the
    same password gets anywhere else); a `Bearer` or `Token` token, as a generic secret (a
    token of a known form keeps its own rule: this detector ranks below the patterns)."""
    if m.group("scheme").lower() == b"basic":
        return _basic_password(m, "Authorization: Basic")
    return _header_token(m, f"Authorization: {_text(m.group('scheme')).title()}", ctx)


def _header_token(m: re.Match[bytes], key: str, ctx: FileContext) -> Hit | None:
    """The token of an HTTP header (the match's `secret`), as a generic secret: one that looks
    random (entropy, two kinds of characters) and is no placeholder; not judged where a
    detector of a higher priority found a secret already (the scanner would drop this hit: a
    `Bearer` JWT is the jwt detector's, judged once, not twice more here)."""
    if m.start("secret") in ctx.taken:
        return None
    value = m.group("secret")
    token = _text(value)
    if structure.shannon_entropy(token) < 3.0 or structure.char_classes(token) < 2:
        return None
    ok, confidence = assigned_value_is_secret("token", token, password=False)
    if not ok:
        return None
    return Hit("generic-secret", "generic-secret", m.start("secret"), m.end("secret"), value, confidence, {"key": key})


def _key_header(det: Detector, m: re.Match[bytes], ctx: FileContext) -> Hit | None:
    """The token of a header named as a key or token (`X-Api-Key`, `Private-Token`) given to a
    command's `-H`/`--header` (curl's, wget's)."""
    return _header_token(m, _text(m.group("name")), ctx)


def _curl_user(det: Detector, m: re.Match[bytes], ctx: FileContext) -> Hit | None:
    """The password of curl's `-u`/`--user USER:PASSWORD` (what curl sends as HTTP Basic
    credentials), quoted or not; not a variable, a command's output or a placeholder."""
    group = next(g for g in ("sp", "dp", "bsq", "bdq", "bp") if m.group(g) is not None)
    password = _text(m.group(group))
    if password.startswith(("$", "<", "[", "{")) or "${" in password or "$(" in password or "{{" in password:
        return None
    ok, confidence = assigned_value_is_secret("password", password, password=True)
    if not ok:
        return None
    return Hit("password", "password", m.start(group), m.end(group), m.group(group), confidence, {"key": "curl --user"})


_CURL_USER = (
    rb"\bcurl\b(?:[^\r\n]|\\\r?\n){0,600}?[ \t](?:-u|--user)(?:=|[ \t]{1,5})"
    rb"(?:'[^'\r\n:]*:(?P<sp>[^'\r\n]{1,256})'|\"[^\"\r\n:]*:(?P<dp>[^\"\r\n]{1,256})\""
    rb"|[^\s'\":]*:(?:'(?P<bsq>[^'\r\n]{1,256})'|\"(?P<bdq>[^\"\r\n]{1,256})\"|(?P<bp>[^\s'\"]{1,256})))"
    rb"(?=[\s;|&)]|$)"
)
"""curl's `-u`/`--user` with a password (USER:PASSWORD), on the command's line or a line it
continues with a backslash: curl first, as its options come after it (`-u` alone is many
commands' user name: `docker run -u 1000:1000`, `sudo -u`)."""
_AUTH_HEADER = (
    rb"(?i:authorization)[\"']?[ \t]*[:=,]?[ \t]*[\"']?(?P<scheme>(?i:basic|bearer|token))[ \t]+"
    rb"(?P<secret>[A-Za-z0-9._~+/=-]{8,2048})(?![A-Za-z0-9._~+/=$-])"
)
"""An HTTP Authorization header's scheme and credentials, however a file writes the header:
`Authorization: Bearer ...` (curl `-H`, a request dump), `"Authorization": "Basic ..."` (JSON, a
Python dict), `proxy_set_header Authorization "Basic ..."` (nginx)."""
_KEY_HEADER = (
    rb"(?:-H|--header)(?:=|[ \t]{1,5})(?P<q>[\"'])(?P<name>[A-Za-z0-9-]{0,40}(?i:key|token)|(?i:authorization))"
    rb"[ \t]*:[ \t]*(?P<secret>[A-Za-z0-9._~@+/=:-]{8,512})(?P=q)"
)
"""A header named as a key or token, quoted whole after `-H`/`--header`: `-H "X-Api-Key: ..."`,
and an Authorization header whose credentials name no scheme (`-H "Authorization: TOKEN"`)."""


# ---------------------------------------------------------------- the catalogue

KEY_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")


def _d(id: str, category: str, description: str, anchor: bytes, regex: bytes, confirm: Confirm, *,
       before: int = 16, after: int = 256, priority: int = 0, flags: int = 0,
       walk_back: frozenset[int] = frozenset(), key_filter: Callable[[bytes], bool] | None = None,
       starts: str = "", words: str = "") -> Detector:
    return Detector(id, category, description, anchor, regex, confirm, before, after, priority, walk_back, key_filter,
                    flags, tuple(w.encode() for w in starts.split()), tuple(w.encode() for w in words.split()))


_B32 = rb"[A-Z2-7]"


def _free(chars: bytes) -> bytes:
    """Where a token starts: after none of `chars` (its own characters: not the tail of a longer
    word), or after a percent-encoded byte (`x%3Aghp_…` in a URL encoded in another's query,
    whose hex digits would otherwise glue to the token)."""
    return rb"(?:(?<![" + chars + rb"])|(?<=%[0-9A-Fa-f]{2}))"


_CREDENTIAL_WORDS = "password Password PASSWORD secret SECRET token TOKEN"
"""The names most secrets are assigned to, as the assignment detectors' `words`."""


def builtin_detectors() -> tuple[Detector, ...]:
    return (
        _d("nkey-seed", "nkey-seed", "NATS nkey seed (S + type, base32, CRC-16 checked)",
           rb"S[ACNOPUX]" + _B32 + rb"{20}",
           _free(rb"A-Z2-7") + rb"(?P<secret>S[ACNOPUX][A-Z2-7]{56})(?![A-Z2-7])",
           _simple(structure.nkey_seed), before=64, after=40, starts='SUA SAA SOA SNA SCA SPA SXA', words='SEED seed'),
        _d("nats-creds", "nats-creds", "NATS .creds block: user JWT and nkey seed",
           rb"-----BEGIN USER NKEY SEED-----",
           rb"(?P<jwtblock>-{3,}BEGIN NATS USER JWT-{3,}\s*(?P<jwt>[A-Za-z0-9_.=-]+)\s*-{3,}END NATS USER JWT-{3,}[^\n]*\n(?:[^\n]*\n){0,12}?)?"
           rb"(?P<seedblock>-{3,}BEGIN USER NKEY SEED-{3,}\s*(?P<seed>S[A-Z2-7]{57})\s*-{3,}END USER NKEY SEED-{3,})",
           _creds, before=8192, after=256, priority=10, words='-----BEGIN'),
        _d("private-key", "private-key", "PEM, PKCS#8, OpenSSH or OpenPGP private key (parsed); a PKCS#12 file's key",
           rb"-----BEGIN [A-Z0-9 ]{0,30}PRIVATE KEY",
           rb"-----BEGIN (?P<label>(?:[A-Z0-9]+ ){0,4}PRIVATE KEY(?: BLOCK)?)-----",
           _private_key, before=64, after=16, priority=10, words='-----BEGIN'),
        _d("putty-key", "private-key", "PuTTY private key file (.ppk, formats 2 and 3; an unencrypted key's MAC checked)",
           rb"PuTTY-User-Key-File-[23]: ", rb"PuTTY-User-Key-File-[23]: ", _putty_key, before=32, after=8, priority=10),
        _d("gnupg-key", "private-key", "GnuPG secret key as gpg-agent keeps it (private-keys-v1.d): "
           "`(private-key ...)` in the clear or `(protected-private-key ...)`, canonical or advanced form (parsed)",
           rb"\((11:|21:)?(protected-)?private-key",
           rb"\((?:11:private-key\(|21:protected-private-key\(|(?:protected-)?private-key[ \t\r\n]*\()",
           _gnupg_key, before=32, after=16, priority=10),
        _d("age-identity", "age-identity", "age secret key (Bech32 checksum checked)",
           rb"AGE-SECRET-KEY-(PQ-)?1[02-9AC-HJ-NP-Z]{20}",
           rb"(?P<secret>AGE-SECRET-KEY-(?:PQ-)?1[02-9AC-HJ-NP-Z]{58,4000})(?![02-9AC-HJ-NP-Z])",
           _simple(structure.age_identity), before=64, after=4096, priority=5, words='AGE-SECRET-KEY-'),
        _d("vault-token", "vault-token", "HashiCorp Vault / OpenBao token (hvs., hvb., hvr.)",
           rb"hv[sbr]\.[A-Za-z0-9_-]{24}",
           _free(rb"A-Za-z0-9_.-") + rb"(?P<secret>hv[sbr]\.[A-Za-z0-9_-]{24,400})(?![A-Za-z0-9_-])",
           _format_only(3.5), before=40, after=400, starts='hvs. hvb. hvr.'),
        _d("vault-token-legacy", "vault-token", "Vault/OpenBao service token `s.` next to VAULT_TOKEN/BAO_TOKEN/X-Vault-Token, or in `.vault-token`",
           rb"(?i)(vault|bao)[A-Za-z0-9_-]{0,12}token[\"']?[ \t]*[:=][ \t]*[\"']?s\.",
           rb"(?i:(?:vault|bao)[A-Za-z0-9_-]{0,12}token)[\"']?[ \t]*[:=][ \t]*[\"']?(?P<secret>s\.[A-Za-z0-9]{24})(?![A-Za-z0-9])",
           _vault_legacy, before=48, after=40),
        _d("aws-access-key", "cloud-token", "AWS access key id",
           rb"(AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}",
           _free(rb"A-Z0-9") + rb"(?P<secret>(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})(?![A-Z0-9])",
           _format_only(3.0), before=24, after=4, starts='ASIA ABIA ACCA', words='AKIA'),
        _d("aws-secret-key", "cloud-token", "AWS secret access key (assigned to aws_secret_access_key)",
           rb"(?i)aws_?secret_?(access_?)?key[\"']?[ \t]*[:=]",
           rb"(?i:aws_?secret_?(?:access_?)?key)[\"']?[ \t]*[:=]>?[ \t]*[\"']?(?P<secret>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])",
           _format_only(4.0), before=40, after=64),
        _d("github-token", "cloud-token", "GitHub token (ghp_, gho_, ghu_, ghs_, ghr_, github_pat_)",
           rb"(gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{30})",
           _free(rb"A-Za-z0-9_") + rb"(?P<secret>gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{82})(?![A-Za-z0-9])",
           _format_only(3.0), before=48, after=64, starts='ghp_ gho_ ghu_ ghs_ ghr_ github_pat_'),
        _d("gitlab-token", "cloud-token", "GitLab token (personal, pipeline trigger, runner, deploy, ... glpat-, glptt-, glrt-, GR1348941)",
           rb"(gl(pat|ptt|rt|dt|cbt|imt|soat|ffct|agent|wt|oas)-[A-Za-z0-9_-]{20}|GR1348941[A-Za-z0-9_-]{20})",
           _free(rb"A-Za-z0-9_-") + rb"(?P<secret>gl(?:pat|ptt|rt|dt|cbt|imt|soat|ffct|agent|wt|oas)-[A-Za-z0-9_-]{20,80}"
           rb"|GR1348941[A-Za-z0-9_-]{20,40})(?![A-Za-z0-9_-])", _format_only(3.0), before=40, after=80, starts='glpat- glptt- glrt- gldt- glcbt- GR1348941'),
        _d("slack-token", "cloud-token", "Slack token (xoxb-, xoxp-, xoxe-, legacy xoxa-/xoxr-/xoxo-/xoxs-, xapp-)",
           rb"(xox[abeoprs]-[0-9A-Za-z]|xoxe\.xox[bp]-[0-9]-|xapp-[0-9]-)",
           _free(rb"0-9A-Za-z") + rb"(?P<secret>xoxe\.xox[bp]-[0-9]-[0-9A-Za-z]{100,200}|xapp-[0-9]-[A-Za-z0-9]+-[0-9]+-[A-Za-z0-9]{16,}"
           rb"|xox[ar]-(?:[0-9]-)?[0-9A-Za-z]{8,48}(?:-[0-9A-Za-z]{1,48}){0,4}"
           rb"|xoxe-[0-9]-[0-9A-Za-z]{140,150}"
           rb"|xox[bpeos]-(?:[0-9]{1,3}-)?(?=[0-9A-Za-z]{8,15}-)[0-9A-Za-z]*[0-9][0-9A-Za-z]*-[0-9A-Za-z]{6,34}"
           rb"(?:-[0-9A-Za-z-]{6,140})?)"
           rb"(?![0-9A-Za-z])",
           _format_only(2.5), before=24, after=260, starts='xoxb- xoxp- xoxa- xoxe- xapp-'),
        _d("slack-webhook", "cloud-token", "Slack incoming webhook or workflow URL",
           rb"hooks\.slack\.com/(services|workflows|triggers)/",
           rb"(?P<secret>hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/]{30,80})(?![A-Za-z0-9+/])",
           _format_only(3.0), before=48, after=100),
        _d("stripe-key", "cloud-token", "Stripe secret or restricted key (live, test, prod)",
           rb"[sr]k_(live|test|prod)_[0-9a-zA-Z]{10}",
           _free(rb"0-9a-zA-Z") + rb"(?P<secret>[sr]k_(?:live|test|prod)_[0-9a-zA-Z]{10,247})(?![0-9a-zA-Z])",
           _format_only(3.0), before=32, after=260, starts='sk_live_ rk_live_ sk_test_'),
        _d("google-api-key", "cloud-token", "Google API key",
           rb"AIza[0-9A-Za-z_-]{35}",
           _free(rb"0-9A-Za-z_-") + rb"(?P<secret>AIza[0-9A-Za-z_-]{35})(?![0-9A-Za-z_-])", _format_only(3.0), before=40, after=4, starts='AIza'),
        _d("openai-key", "cloud-token", "OpenAI API key",
           rb"T3BlbkFJ",
           _free(rb"A-Za-z0-9_-") + rb"(?P<secret>sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{16,240}T3BlbkFJ[A-Za-z0-9_-]{16,240})",
           _format_only(3.0), before=280, after=260, starts='sk-proj- sk-svcacct- sk-admin-'),
        _d("anthropic-key", "cloud-token", "Anthropic API key",
           rb"sk-ant-(api|admin)[0-9]{2,3}-",
           rb"(?P<secret>sk-ant-(?:api|admin)[0-9]{2,3}-[A-Za-z0-9_-]{80,120})", _format_only(3.0), before=24, after=140, starts='sk-ant-'),
        _d("npm-token", "cloud-token", "npm access token",
           rb"npm_[A-Za-z0-9]{36}",
           _free(rb"A-Za-z0-9_") + rb"(?P<secret>npm_[A-Za-z0-9]{36})(?![A-Za-z0-9])", _format_only(3.0), before=40, after=4, starts='npm_'),
        _d("pypi-token", "cloud-token", "PyPI API token",
           rb"pypi-AgEIcHlwaS5vcmc",
           rb"(?P<secret>pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,300})", _format_only(3.0), before=24, after=320, starts='pypi-AgEIcHlwaS5vcmc'),
        _d("sendgrid-key", "cloud-token", "SendGrid API key",
           rb"SG\.[A-Za-z0-9_=-]{20}",
           _free(rb"A-Za-z0-9_=.-") + rb"(?P<secret>SG\.[A-Za-z0-9_=-]{22}\.?[A-Za-z0-9_=-]{43,44})(?![A-Za-z0-9_=.-])",
           _format_only(3.0), before=28, after=60, starts='SG.'),
        _d("digitalocean-token", "cloud-token", "DigitalOcean token",
           rb"do[opr]_v1_[a-f0-9]{64}",
           rb"(?P<secret>do[opr]_v1_[a-f0-9]{64})", _format_only(3.0), before=72, after=4, starts='dop_v1_'),
        _d("tailscale-key", "cloud-token", "Tailscale auth or API key",
           rb"tskey-(auth|api|client)-[A-Za-z0-9]{8}",
           rb"(?P<secret>tskey-(?:auth|api|client)-[A-Za-z0-9]{8,20}-[A-Za-z0-9]{16,64})", _format_only(3.0), before=32, after=100, starts='tskey-'),
        _d("azure-storage-key", "cloud-token", "Azure storage account key in a connection string",
           rb"AccountKey=[A-Za-z0-9+/]{20}",
           rb"AccountKey=(?P<secret>[A-Za-z0-9+/]{86}==)", _format_only(4.0), before=40, after=100, starts='DefaultEndpointsProtocol='),
        _d("jwt", "jwt", "JSON Web Token (decoded: alg, expiry, NATS claim type)",
           rb"eyJ[A-Za-z0-9_-]{5,}\.eyJ",
           _free(rb"A-Za-z0-9_-") + rb"(?P<secret>eyJ[A-Za-z0-9_-]{5,4096}\.eyJ[A-Za-z0-9_-]{0,16384}\.[A-Za-z0-9_-]{0,1024})",
           _jwt, before=4200, after=17500, starts='eyJ', words='eyJhbGci eyJ0eXAi'),
        _d("netrc-password", "password", "password of a netrc entry (machine HOST login USER password PASSWORD)",
           rb"(machine[ \t\r\n]+[^ \t\r\n]+|default)[ \t\r\n]+(login|user|account|password)[ \t\r\n]",
           _NETRC_ENTRY, _netrc_password, before=320, after=800),
        _d("registry-auth", "password", "container registry password (docker/podman config.json `auth`: base64 of user:password)",
           rb"\"auth\"[ \t]*:[ \t]*\"[A-Za-z0-9+/]{4}",
           rb"\"auth\"[ \t]*:[ \t]*\"(?P<secret>[A-Za-z0-9+/]{4,1024}={0,2})\"",
           _registry_auth, before=24, after=1040),
        _d("curl-user", "password", "password of curl's -u/--user USER:PASSWORD (HTTP Basic credentials on a command line)",
           rb"[ \t](-u|--user)(=|[ \t]+)[\"']?[^\s\"':]*:[\"']?[^\s\"'$<\[{]",
           _CURL_USER, _curl_user, before=640, after=300, priority=-4),
        _d("auth-header", "generic-secret", "HTTP Authorization header credentials (Basic USER:PASSWORD, Bearer or Token)",
           rb"(?i)authorization[\"']?[ \t]*[:=,]?[ \t]*[\"']?(basic|bearer|token)[ \t]+[A-Za-z0-9._~+/=-]{8}",
           _AUTH_HEADER, _auth_header, before=40, after=2100, priority=-4),
        _d("key-header", "generic-secret", "a key or token header given to -H/--header (X-Api-Key, Private-Token, Authorization with no scheme)",
           rb"(?i)(-H|--header)(=|[ \t]+)[\"'][A-Za-z0-9-]*(key|token|authorization)[ \t]*:",
           _KEY_HEADER, _key_header, before=60, after=560, priority=-4),
        _d("pkcs11-pin", "password", "the PIN of a PKCS#11 URI (pkcs11:token=...?pin-value=PIN), digits alone too",
           rb"(?i)pkcs11:[^ \t\r\n\"'<>]*[?&]pin-value=",
           rb"(?i)pkcs11:[^\s\"'<>?]{0,512}\?(?:[^\s\"'<>&]{0,256}&)*?pin-value=(?P<secret>[^\s\"'<>&;]{1,128})",
           _pkcs11_pin, before=900, after=140, priority=-3),
        _d("url-credential", "url-credential", "password in a URL (scheme://user:password@host, scheme://:password@host)",
           rb"[a-z0-9+.-]://[^/\s:@\"']{0,64}:[^/\s@\"']{1,128}@",
           rb"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]{1,20})://(?P<user>[^/\s:@\"'`]{0,64}):(?P<secret>[^/\s@\"'`]{1,128})@(?P<host>[A-Za-z0-9.\[\]-]+)",
           _url_credential, before=220, after=80, starts='https:// http:// postgres:// postgresql:// mysql:// mongodb:// mongodb+srv:// redis:// rediss:// amqp:// amqps:// nats://'),
        _d("assignment", "password", "password, secret, token or key assigned a literal value (Nix, YAML, dotenv, JSON, INI, NATS conf, Makefile, code)",
           ASSIGNMENT_ANCHOR, _ASSIGNMENT, _assignment, before=80, after=620, priority=-5,
           flags=re.IGNORECASE, walk_back=KEY_BYTES, key_filter=secret_named, words=_CREDENTIAL_WORDS),
        _d("xml-element", "password", "password, secret, token or key as an XML element's text (<apiToken>...</apiToken>)",
           XML_ANCHOR, _XML, _assignment, before=130, after=640, priority=-5, words=_CREDENTIAL_WORDS),
        _d("call-argument", "password", "a secret-named key and a literal as a call's arguments (System.setProperty, setenv, getenv defaults)",
           CALL_ANCHOR, _CALL, _assignment, before=130, after=560, priority=-5, words=_CREDENTIAL_WORDS),
        _d("name-value", "password", "a secret-named variable given as a name and a literal value (a Kubernetes env entry, an ECS or Terraform name/value pair, a .NET config key/value)",
           NAME_VALUE_ANCHOR, _NAME_VALUE, _assignment, before=80, after=640, priority=-5, flags=re.IGNORECASE, words=_CREDENTIAL_WORDS),
        _d("sql-password", "password", "password in an SQL statement (ALTER/CREATE USER|ROLE ... PASSWORD '...', IDENTIFIED BY '...'), in any file",
           rb"(?i)(password|identified[ \t]+by)([ \t]+|[ \t]*=[ \t]*)(password[ \t]*\([ \t]*)?'",
           rb"(?i)(?:\bPASSWORD|\bIDENTIFIED[ \t]+BY)[ \t]*(?:=[ \t]*)?(?:PASSWORD[ \t]*\([ \t]*)?'(?P<secret>(?:[^'\r\n]|''){1,256})'",
           _sql_password, before=60, after=300, priority=-4),
        _d("tool-password", "password", "password given to a program as its own argument (docker/podman/skopeo login -p, "
           "ldapsearch -w, mosquitto_pub -P, influx -password, htpasswd -b FILE USER PASSWORD)",
           commands.ANCHOR, commands.PATTERN, _tool_password, before=140, after=640, priority=-3),
        _d("command-password", "password", "password on a command line (mysql -p..., --password=..., --db-password ..., the next item of an argument list, sshpass -p, redis-cli -a, keytool -storepass)",
           rb"(?i)(--([a-z0-9]+-)*pass(word|wd)?([= ]|[\"']?[ \t]*,|[\"']?[ \t]*\r?\n[ \t]*-[ \t])|mysql|mysqldump|mysqladmin|mariadb|sshpass|redis-cli"
           rb"|[ \t]-(src|dest)?(store|key)pass[ \t])",
           rb"(?P<flag>--(?:[a-z0-9]+-){0,4}pass(?:word|wd)?"
           rb"(?:[= ]|(?P<lq>[\"'])?[ \t]*(?:,|\r?\n[ \t]*-)[ \t]*(?P=lq)?(?=[\"']?[^\s\"']))"
           rb"|\b(?:mysql|mysqldump|mysqladmin|mariadb)\b[^\n|;&]{0,120}?[ \t]-p(?=[^ \t\n])"
           rb"|\bsshpass[ \t]+-p[ \t]*|\bredis-cli\b[^\n|;&]{0,120}?[ \t]-a[ \t]+"
           rb"|(?<=[ \t])-(?:src|dest)?(?:store|key)pass[ \t]+)"
           rb"(?P<q>['\"]?)(?P<secret>[^\s'\"|;&`]{4,128})(?P=q)",
           _command_password, before=160, after=300, priority=-3, flags=re.IGNORECASE),
    )


SOPS_ANCHOR = rb"(mac: ENC\[AES256_GCM|\"mac\": \"ENC\[AES256_GCM|sops_mac=ENC\[AES256_GCM|mac[ \t]*= ENC\[AES256_GCM)"
"""A sops file's MAC line: the whole file is then parsed by the sops-plaintext check."""
