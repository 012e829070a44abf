"""Secrets base64-encoded: a Kubernetes Secret's `data`, a kubeconfig's `client-key-data`, a
`TOKEN_B64=` value, a whole `.creds` file encoded.

Each detector names texts its matches start with (`Detector.starts`: `ghp_`, `hvs.`) or hold
(`Detector.words`: `-----BEGIN`, `password`). Encoded, such a text is a fixed run of base64
characters for each of the three places it can fall in the encoding's 3-byte groups (less the
characters it shares with its neighbours): a start is looked for where an encoding starts (a
value that is the secret encoded), a word at all three places (a whole file encoded). The
prefilter looks for those runs with the detectors' own anchors, in the same pass over the
bytes; only where one is found is the base64 around it decoded (BACK characters before it,
REACH after) and scanned with every detector. So no Python runs per byte, and base64 that
encodes none of these texts is never decoded.

The forms are kept few (FORMS_BUDGET): past about a hundred and ten literals Hyperscan's
literal matcher changes strategy and the prefilter costs a third more on every byte scanned.

A secret found in decoded text is reported where its encoded form lies in the file, under its
own rule (a GitHub token, not a generic secret), with its fingerprint: that of the secret
itself, the one the same secret in plain text gets.

gzip's magic as base64 spells it is looked for the same way (GZIP_STARTS); the runs that start
so are decoded whole (gzip_in_base64) for the scanner to unpack, as it unpacks a gzip file.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace

from auditor._secrets.detectors import Hit
from auditor._secrets.unpack import GZIP_MAGIC

BACK = 12 * 1024
"""How many base64 characters are decoded before an encoded form: what a detector reads before
the text it names (a key before its value, a .creds file's JWT before its seed: 8 KiB)."""
REACH = 48 * 1024
"""How many base64 characters are decoded after an encoded form: a Secret's value, a kubeconfig's
key, a small file encoded whole, with the secrets that follow the word that opened it."""
TAIL = 24 * 1024
"""How far past its form a secret may reach in base64 characters (a JWT: 17.5 KiB, encoded): a
form that close to where REACH cut the run decoded before is decoded again, with what follows
it. So a run full of forms is decoded at most (BACK + REACH) / (REACH - TAIL) times over. What a
window of a streamed file sees on either side of its own part holds BACK + REACH + TAIL (a test
checks), so a window decodes what a whole read decodes."""
DEPTH = 2
"""How many encodings deep a secret is looked for (base64 inside decoded base64: a Secret's
manifest itself encoded)."""
GLUE = 64
"""How many base64 characters before a form that opens an encoding (`abcZ2hwX…`) make it decoded
from its own start as well."""
FORMS_BUDGET = 100
"""The most encoded forms the built-in detectors may have (a test checks; see the module)."""
_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_"
_IN_VALUE = bytes(0 if b in _ALPHABET else 1 for b in range(256))
"""A `bytes.translate` table: 0 for base64 characters (both alphabets), 1 for every other byte."""
_URLSAFE = bytes.maketrans(b"-_", b"+/")
"""The URL-safe alphabet's two characters as the standard one spells them (to decode either)."""
_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")


GZIP_STARTS = (GZIP_MAGIC, b"H4sI")
"""What gzip data encoded in base64 starts with, once and twice encoded: the scanner's prefilter
looks for them as base64 spells them (GZIP_BASE64), among the detectors' own encoded starts."""
GZIP_BASE64 = (b"H4sI", b"SDRzS")
"""gzip's magic as base64 spells it where an encoding starts (`H4sI`: a ConfigMap's binaryData,
a `CONFIG_GZ_B64=` value), and that spelling encoded again (`SDRzS`: a Helm release Secret,
base64 of Helm's base64 of the gzipped release, as `kubectl get secret -o yaml` prints it)."""


def gzip_in_base64(data: bytes, starts: Iterable[int]) -> Iterator[tuple[int, bytes]]:
    """Each run of base64 in `data` that encodes gzip data (once or twice encoded; on one line, or
    wrapped over lines from a line of its own: `gzip -c | base64` wraps at 76 characters, a
    cloud-init `gz+b64` file's content in a YAML block) and starts at one of `starts` (where the
    prefilter saw GZIP_BASE64): where it starts, and the gzip data. Runs that only look so (they
    decode to no gzip) are left."""
    done = 0
    for at in sorted(set(starts)):
        if at < done or (at and not _IN_VALUE[data[at - 1]]):
            continue  # inside a run read already, or not where a run starts
        spans = _run_spans(data, at)
        done = spans[-1][1]
        decoded = _decoded(b"".join(data[lo:hi] for lo, hi in spans) if len(spans) > 1 else data[at:done])
        if decoded is not None and data.startswith(GZIP_BASE64[1], at):
            decoded = _decoded(decoded.rstrip(b"=")) if decoded.startswith(GZIP_BASE64[0]) else None
        if decoded is not None and decoded.startswith(GZIP_STARTS[0]):
            yield at, decoded


def reaches_end(data: bytes, at: int) -> bool:
    """Whether the run of base64 from `at` (with the lines below it that gzip_in_base64 would
    join) goes on to the end of `data`: cut short where `data` is part of a file."""
    return len(data) - _run_spans(data, at)[-1][1] <= 2  # at most a line break after it


def _run_spans(data: bytes, at: int) -> list[tuple[int, int]]:
    """The spans of the run of base64 from `at`: to its end on its line, and, when it is its
    line's only content, the base64 lines of the block below it too."""
    spans = [(at, _run_end(data, at))]
    if _whole_line(data, *spans[0]):
        _lines_below(data, spans, 0, len(data))
    return spans


def _run_end(data: bytes, at: int) -> int:
    """Where the run of base64 characters from `at` ends."""
    step = 4096
    while True:
        stop = data[at:at + step].translate(_IN_VALUE).find(b"\1")
        if stop >= 0:
            return at + stop
        if at + step >= len(data):
            return len(data)
        at += step


def _decoded(body: bytes) -> bytes | None:
    """Base64 characters (either alphabet, no padding) decoded; a lone last character, which
    encodes no byte, left out; None when they do not decode."""
    if len(body) % 4 == 1:
        body = body[:-1]
    try:
        return binascii.a2b_base64(body.translate(_URLSAFE) + b"=" * (-len(body) % 4))
    except binascii.Error:
        return None


@dataclass(frozen=True)
class Form:
    """A text of a detector's, as base64 spells it: where its first character falls in a group
    of four base64 characters (0, 2 or 3), and so where that group starts."""

    text: bytes
    phase: int


def forms_of(text: bytes, anywhere: bool = True) -> list[Form]:
    """The base64 runs `text` encodes to: where an encoding starts (the whole text encoded
    begins with it) and, when `anywhere`, at the two other places in the 3-byte groups, each
    less the characters a neighbouring byte shares; in the standard and the URL-safe alphabet;
    those shorter than four characters (too short to mean anything) left out."""
    out: list[Form] = []
    for skip in range(3 if anywhere else 1):
        encoded = base64.b64encode(b"\0" * skip + text)
        first = -(-8 * skip // 6)  # the first character with no bit of a byte before the text
        last = 8 * (skip + len(text)) // 6  # past the last with no bit of a byte after it
        spelt = encoded[first:last]
        if len(spelt) < 4:
            continue
        for form in sorted({spelt, spelt.translate(_TO_URLSAFE)}):
            out.append(Form(form, first))
    return out


def form_table(starts: Iterable[bytes], words: Iterable[bytes]) -> dict[bytes, list[Form]]:
    """The encoded forms of `starts` (where an encoding starts) and `words` (anywhere), by their
    last four characters (what tells, at a prefilter hit's end, which of them ended there)."""
    table: dict[bytes, list[Form]] = {}
    seen: set[bytes] = set()
    forms = [*(f for w in starts for f in forms_of(w, False)), *(f for w in words for f in forms_of(w))]
    for form in forms:
        if form.text not in seen:
            seen.add(form.text)
            table.setdefault(form.text[-4:], []).append(form)
    return table


def anchor(table: Mapping[bytes, list[Form]]) -> bytes:
    """One prefilter pattern for every encoded form, the longest first."""
    texts = sorted({form.text for forms in table.values() for form in forms}, key=lambda t: (-len(t), t))
    return b"|".join(re.escape(t) for t in texts)


Scan = Callable[[bytes, int], list[tuple[Hit, int]]]
"""Scans decoded text `depth` encodings deep: its hits and their priorities."""

VALUE_KEYS = rb"\.docker(?:configjson|cfg)"
"""The keys whose value is a whole file base64-encoded, decoded where they stand whatever it
holds (one more prefilter pattern, in plain text: the key alone, the cheapest to look for): a
Kubernetes image pull Secret's `.dockerconfigjson` (`.dockercfg`, the older type). Its registry
config's `auth` values (base64 of user:password) name no word the encoded forms look for, and
a config.json put in a Secret as it is (`kubectl create secret generic --from-file
=.dockerconfigjson=config.json`, as Kubernetes' documentation shows) holds nothing else."""
_VALUE_OPENS = re.compile(rb"[\"']?[ \t]*:[ \t]*[\"']?")
"""What lies between such a key and its value, in YAML and in JSON."""


def value_hits(data: bytes, ends: list[int], scan: Scan, depth: int) -> list[tuple[Hit, int]]:
    """The hits in the base64 value of each VALUE_KEYS key that ends at one of `ends`, each
    placed where its encoded form lies in `data`; a key with no value, or a value that is no
    base64, gives nothing."""
    found: list[tuple[Hit, int]] = []
    for end in sorted(set(ends)):
        opens = _VALUE_OPENS.match(data, end, end + 64)
        if opens is None or len(data) - opens.end() < 4 or \
                data[opens.end():opens.end() + 4].translate(_IN_VALUE).strip(b"\0"):
            continue  # no run of base64 opens a value here
        at = opens.end()
        for region in _Region.around(data, at, at + 4, own=False):
            found.extend(region.hits(scan, depth))
    return found


def decoded_hits(data: bytes, ends: list[int], table: Mapping[bytes, list[Form]], scan: Scan,
                 depth: int) -> list[tuple[Hit, int]]:
    """The hits in the base64 around each prefilter hit (`ends`: where an encoded form ended),
    each placed where its encoded form lies in `data`. A form that opens an encoding (phase 0,
    `Z2hwX` for `ghp_`) is also decoded from where it starts: a value glued to base64-like
    characters before it (`abcZ2hwX…`) would otherwise decode behind bytes that are none of it."""
    found: list[tuple[Hit, int]] = []
    decoded: list[_Region] = []
    for end in sorted(set(ends)):
        for form in table.get(data[max(0, end - 4):end], ()):
            start = end - len(form.text)
            if start < 0 or not data.startswith(form.text, start):
                continue
            group = start - form.phase  # where the group of four the form starts in starts
            if group < 0 or data[group:start].translate(_IN_VALUE).strip(b"\0"):
                continue
            if any(region.covers(group, end) for region in decoded[-2:]):
                continue  # decoded already, with what follows it (dense hits in one long run)
            for region in _Region.around(data, group, end, own=form.phase == 0):
                decoded.append(region)
                found.extend(region.hits(scan, depth))
    return found


@dataclass(frozen=True)
class _Region:
    """A run of base64 characters, perhaps wrapped over lines, decoded from a group boundary."""

    pieces: tuple[tuple[int, int], ...]
    """Where each line's part of the run starts in the data, and in `text`."""
    text: bytes
    """The run's characters, without the line breaks and blanks between its lines."""
    phase: int
    """Where in `text` the groups of four start (the characters before that belong to a group
    that started before the run)."""
    end: int
    """Where the run ends in the data."""
    cut: bool
    """Whether REACH ended the run (not a byte that is no base64)."""

    def covers(self, group: int, end: int) -> bool:
        """Whether a group starting at `group`, ending a form at `end`, was decoded as part of
        this region, with all a secret starting there may hold after it (TAIL)."""
        if not self.pieces[0][0] <= group < end <= self.end or (self.cut and self.end - end < TAIL):
            return False
        at = bisect.bisect_right([p[0] for p in self.pieces], group) - 1
        lo, first = self.pieces[at]
        return (first + group - lo - self.phase) % 4 == 0

    @classmethod
    def around(cls, data: bytes, group: int, end: int, *, own: bool) -> list[_Region]:
        """The run holding `data[group:end]` (at most BACK characters before it and REACH after),
        and, with `own`, the same from `group` on when the run starts up to GLUE before it."""
        lo = max(0, group - BACK)
        start = lo + data[lo:group].translate(_IN_VALUE).rfind(b"\1") + 1
        hi = min(len(data), end + REACH)
        stop = data[end:hi].translate(_IN_VALUE).find(b"\1")
        stop = hi if stop < 0 else end + stop
        spans = [(start, stop)]
        cut = stop == hi < len(data)
        if not cut and _whole_line(data, start, stop):  # a line of a wrapped block: the lines around it too
            cut, pem = _wrapped(data, spans, group - start, stop - end)
            if pem:
                return []  # a PEM block's body: DER (a certificate's, a key's), read by its header's detector
        regions = [cls._of(data, spans, group, cut)]
        if own and spans[0][0] < group <= spans[0][0] + GLUE and group <= spans[0][1]:
            regions.append(cls._of(data, [(group, spans[0][1]), *spans[1:]], group, cut))
        return regions

    @classmethod
    def _of(cls, data: bytes, spans: list[tuple[int, int]], group: int, cut: bool) -> _Region:
        pieces: list[tuple[int, int]] = []
        parts: list[bytes] = []
        at = before = 0
        for lo, hi in spans:
            pieces.append((lo, at))
            parts.append(data[lo:hi])
            if lo <= group <= hi:
                before = at + group - lo
            at += hi - lo
        return cls(tuple(pieces), b"".join(parts), before % 4, spans[-1][1], cut)

    def position(self, index: int) -> int:
        """Where the character at `index` of `text` lies in the data."""
        if len(self.pieces) == 1:
            return self.pieces[0][0] + index
        at = bisect.bisect_right([p[1] for p in self.pieces], index) - 1
        lo, first = self.pieces[max(0, at)]
        return lo + index - first

    def hits(self, scan: Scan, depth: int) -> list[tuple[Hit, int]]:
        """The hits in what the run decodes to, placed in the data (nothing when it does not
        decode: a run of base64 characters that is no base64)."""
        body = self.text[self.phase:]
        decoded = _decoded(body) if len(body) - (len(body) % 4 == 1) >= 4 else None
        if decoded is None:
            return []
        out: list[tuple[Hit, int]] = []
        for hit, priority in scan(decoded, depth + 1):
            details = {**hit.details, "encoding": "base64"}
            start, end = self._placed(hit.start, hit.end)
            span = self._placed(*hit.span) if hit.span is not None else None
            out.append((replace(hit, start=start, end=end, span=span, details=details), priority))
        return out

    def _placed(self, start: int, end: int) -> tuple[int, int]:
        """Decoded bytes `start` to `end` as the span of the characters that encode them."""
        first = self.phase + 4 * start // 3
        last = self.phase + -(-4 * end // 3)
        return self.position(first), self.position(max(first, last - 1)) + 1


def _whole_line(data: bytes, start: int, stop: int) -> bool:
    """Whether the run from `start` to `stop` is its line's only content (blanks aside)."""
    line_start = data.rfind(b"\n", 0, start) + 1
    line_end = data.find(b"\n", stop)
    line_end = len(data) if line_end < 0 else line_end
    return not data[line_start:start].strip(b" \t") and not data[stop:line_end].strip(b" \t\r=")


def _wrapped(data: bytes, spans: list[tuple[int, int]], back: int, on: int) -> tuple[bool, bool]:
    """Adds to `spans` the lines of base64 above and below the one it holds (a block wrapped at
    76 or 64 characters, indented in YAML), up to BACK characters before and REACH after. Whether
    REACH ended it below, and whether it is a PEM block's body (a `-----BEGIN` line above it)."""
    start = spans[0][0]
    while back < BACK and start > 0:
        above_end = data.rfind(b"\n", 0, start)
        if above_end <= 0:
            break
        above = data.rfind(b"\n", 0, above_end) + 1
        body = _line_run(data, above, above_end)
        if body is None and data[above:above_end].lstrip(b" \t").startswith(b"-----BEGIN "):
            return False, True
        if body is None or data[body[1]:above_end].strip(b" \t\r"):  # padding ends a block: not above one
            break
        spans.insert(0, body)
        back += body[1] - body[0]
        start = body[0]
    return _lines_below(data, spans, on, REACH), False


def _lines_below(data: bytes, spans: list[tuple[int, int]], on: int, reach: int) -> bool:
    """Adds to `spans` the lines of base64 below its last one (a block wrapped over lines) until
    one is not, or the run is `reach` characters long (`on` are counted already): whether that
    ended it. A line padded with `=`, or holding more than base64, is a block's last."""
    stop = spans[-1][1]
    while on < reach:
        below = data.find(b"\n", stop) + 1
        if below <= 0 or data[stop:below].strip(b" \t\r\n"):  # padding or more on the line: the block ends
            break
        below_end = data.find(b"\n", below)
        below_end = len(data) if below_end < 0 else below_end
        body = _line_run(data, below, below_end)
        if body is None:
            break
        spans.append(body)
        on += body[1] - body[0]
        stop = body[1]
    return on >= reach


def _line_run(data: bytes, lo: int, hi: int) -> tuple[int, int] | None:
    """The span of the base64 characters that are the line from `lo` to `hi` (blanks, a CR and
    `=` padding around them aside), or None when it is anything else."""
    if hi - lo > REACH:
        return None
    line = data[lo:hi]
    body = line.lstrip(b" \t")
    first = lo + len(line) - len(body)
    body = body.rstrip(b" \t\r=")
    if not body or body.translate(_IN_VALUE).strip(b"\0"):
        return None
    return first, first + len(body)
