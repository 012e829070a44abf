"""GnuPG keys: keyrings (GNUPGHOME folders) and exported key files, listed through python-gnupg.

The audited home is never handed to gpg, which writes to the home it uses (trust database,
locks, migrations) and may start an agent there: its public keyrings and trust database are
copied (each within the file-bytes limit) into a private temporary home and each keyring is
listed there on its own with `--no-autostart` (pubring.kbx and pubring.gpg both, though gpg
uses one of them, and the keyrings the home's gpg.conf adds), then the copy is removed.

Secret key material is never kept: whether a key's secret is on the node is answered by the
presence of `private-keys-v1.d/<keygrip>.key`, and of that file only its first bytes are read,
to tell a smartcard's stub (the secret on a YubiKey or other OpenPGP card) from a secret; so an
offline primary key with subkeys on the node, or on a card, shows as such.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from auditor._collectors._files import Unreadable, read_bounded
from auditor._collectors._untrusted import text, text_or_none, texts
from auditor._collectors.interface import Collector
from auditor._timeutil import rfc3339
from auditor.evidence.kinds.gpg import Capability, GpgKey, Subkey, Validity
from auditor.evidence.record import Record
from pki.fsutil import ReadError, open_regular

KIND = "gpg.key"
DEFAULT_KEYRINGS = ("pubring.kbx", "pubring.gpg")
ALGORITHMS = {
    "1": "rsa", "2": "rsa", "3": "rsa", "16": "elgamal", "17": "dsa", "18": "ecdh",
    "19": "ecdsa", "20": "elgamal", "22": "eddsa",
}  # RFC 4880 section 9.1 and RFC 6637; gpg's colon listings give the numbers
CAPABILITIES: dict[str, Capability] = {"c": "certify", "s": "sign", "e": "encrypt", "a": "authenticate"}
VALIDITY: dict[str, Validity] = {
    "o": "unknown", "i": "invalid", "d": "disabled", "r": "revoked", "e": "expired",
    "-": "unknown", "q": "undefined", "n": "never", "m": "marginal", "f": "full", "u": "ultimate",
}


def _time(epoch: str) -> str | None:
    if not epoch:
        return None
    try:
        return rfc3339(dt.datetime.fromtimestamp(int(epoch), dt.UTC))
    except (OverflowError, OSError) as exc:
        raise ValueError(f"time {epoch[:20]} out of range") from exc


def _caps(cap: str) -> tuple[Capability, ...]:
    return tuple(name for letter, name in CAPABILITIES.items() if letter in cap)


def key_facts(raw: Mapping[str, Any], secret_grips: Mapping[str, bool] | None, location: str, found_in: str = "") -> GpgKey:
    """The evidence of one key (listed from `location`, of the home or key file `found_in`,
    default `location`) from a python-gnupg listing entry;
    `secret_grips` are the keygrips with a key file in the home, each True when the file is a
    smartcard's stub (None: a key file, which lists a key with its secret as 'sec'). A value of
    the wrong type raises ValueError."""
    in_file_secret = raw.get("type") == "sec" if secret_grips is None else None

    def common(entry: Mapping[str, Any], where: str, fingerprint: object) -> Subkey:
        grip = entry.get("keygrip") or ""
        secret = on_card = None
        if secret_grips is not None and grip:
            on_card = secret_grips.get(grip, False)
            secret = grip in secret_grips and not on_card
        return Subkey(
            keyid=text(entry.get("keyid", ""), f"{where}keyid"),
            fingerprint=text(fingerprint, f"{where}fingerprint"),
            algorithm=ALGORITHMS.get(str(entry.get("algo", "")), f"algo-{entry.get('algo', '')}"),
            size=int(entry.get("length") or 0),
            curve=text_or_none(entry.get("curve") or None, f"{where}curve"),
            created=_time(str(entry.get("date", ""))),
            expires=_time(str(entry.get("expires", ""))),
            capabilities=_caps(str(entry.get("cap", ""))),
            validity=VALIDITY.get(str(entry.get("trust", "")), "unknown"),
            secret_present=secret if in_file_secret is None else in_file_secret,
            secret_on_card=on_card,
        )

    subkeys = [common({"keyid": keyid, **info}, f"subkeys[{i}].", info.get("fingerprint", ""))
               for i, (keyid, info) in enumerate((raw.get("subkey_info") or {}).items())]
    primary = common(raw, "", raw.get("fingerprint", ""))
    cap = str(raw.get("cap", ""))
    return GpgKey(
        keyid=primary.keyid, fingerprint=primary.fingerprint, algorithm=primary.algorithm, size=primary.size,
        curve=primary.curve, created=primary.created, expires=primary.expires, capabilities=primary.capabilities,
        validity=primary.validity, secret_present=primary.secret_present, secret_on_card=primary.secret_on_card,
        found_in=found_in or location,
        location=location,
        usable_capabilities=_caps(cap.swapcase() if cap else ""),
        revoked=primary.validity == "revoked",
        user_ids=texts(list(raw.get("uids") or []), "user_ids"),
        subkeys=tuple(sorted(subkeys, key=lambda s: (s.created or "", s.keyid))),
    )


class GpgCollector(Collector):
    name = "gpg"
    kinds = (KIND,)

    def collect(self) -> Iterator[Record]:
        ctx = self.context
        try:
            import gnupg
        except ImportError:  # pragma: no cover - a runtime dependency
            yield ctx.error(KIND, ctx.source.name, "python-gnupg is not installed")
            return
        binary = str(ctx.source.options.get("gpg_binary", "gpg"))

        def gpg(home: str, keyring: str | None = None) -> Any:
            """python-gnupg's GPG in the scratch `home`; with `keyring`, that keyring alone."""
            return gnupg.GPG(gpgbinary=binary, gnupghome=home, keyring=keyring, options=["--no-autostart"])

        for home in ctx.source.path_option(ctx.root, "homes"):
            yield from self._home(gpg, home)
        for file in ctx.source.path_option(ctx.root, "keyfiles"):
            yield from self._keyfile(gpg, file)

    def _listed(self, shown: str, listings: Sequence[tuple[str, Callable[[Path], Any]]], grips: Mapping[str, bool] | None,
                files: Sequence[tuple[str, bytes]] = ()) -> Iterator[Record]:
        """Run `listings` (each a keyring's or key file's name as findings show it and a listing
        made with the gpg of a scratch home) in a private scratch home holding `files` (name and
        bytes); gpg never sees the node's home.

        The scratch home has a short path: gpg puts sockets in its home, and socket paths are
        limited to about 100 bytes.
        """
        work = Path(tempfile.mkdtemp(prefix="auditor-gpg-"))
        try:
            for name, data in files:
                (work / name).write_bytes(data)
            yield from self._list([(where, list_in(work)) for where, list_in in listings], shown, grips)
        except OSError as exc:
            yield self.context.error(KIND, shown, f"cannot run gpg: {exc}")
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _home(self, gpg: Callable[..., Any], home: Path) -> Iterator[Record]:
        """Every public keyring of the home, each listed on its own: pubring.kbx and pubring.gpg
        (gpg uses one of them when both are there; a key in the other is on the node all the same)
        and the keyrings its gpg.conf adds (`keyring`, `primary-keyring`)."""
        ctx = self.context
        shown = ctx.display(home)
        if not ctx.real(home).is_dir():
            yield ctx.error(KIND, shown, "no such GnuPG home folder")
            return
        rings, problems = self._keyrings(home)
        for problem in problems:
            yield ctx.error(KIND, shown, problem)
        if not rings:
            if not problems:
                yield ctx.error(KIND, shown, _no_keyring(home, ctx.real))
            return
        files: list[tuple[str, bytes]] = []
        listings: list[tuple[str, Callable[[Path], Any]]] = []

        def listing(name: str) -> Callable[[Path], Any]:
            return lambda work: gpg(str(work), str(work / name)).list_keys()

        trustdb = home / "trustdb.gpg"  # the keys' validity ("unknown" without it)
        read = [*rings, trustdb] if ctx.real(trustdb).is_file() else rings
        for at, ring in enumerate(read):
            try:
                data = read_bounded(ring)
            except Unreadable as exc:
                yield ctx.error(KIND, shown, f"{ctx.display(ring)}: {exc}")
                continue
            name = "trustdb.gpg" if ring is trustdb else f"keyring-{at}"
            files.append((name, data))
            if ring is not trustdb:
                listings.append((ctx.display(ring), listing(name)))
        if listings:
            secrets = home / "private-keys-v1.d"
            found = sorted(ctx.real(secrets).glob("*.key")) if ctx.real(secrets).is_dir() else []
            grips = {p.stem.upper(): is_stub(ctx.real(secrets / p.name)) for p in found}
            yield from self._listed(shown, listings, grips, files)

    def _keyrings(self, home: Path) -> tuple[list[Path], list[str]]:
        """The home's public keyrings that are regular files (as the node names them, each once),
        and why any other it names is not read."""
        ctx = self.context
        rings = [home / name for name in DEFAULT_KEYRINGS if ctx.real(home / name).is_file()]
        problems: list[str] = []
        conf = home / "gpg.conf"
        if ctx.real(conf).exists():
            try:
                lines = read_bounded(conf).decode("utf-8", "replace").splitlines()
            except Unreadable as exc:
                return rings, [f"{ctx.display(conf)}: {exc}"]
            for number, line in enumerate(lines, 1):
                named = configured_keyring(line)
                if named is None:
                    continue
                where = f"{ctx.display(conf)}, line {number}"
                if named.startswith("~"):
                    problems.append(f"{where}: keyring {named!r} is under the node's $HOME: not read")
                    continue
                if named.startswith("/"):
                    ring = ctx.root / named.lstrip("/") if ctx.tree_root is not None else Path(named)
                elif "/" in named:
                    problems.append(f"{where}: keyring {named!r} is relative to gpg's working folder: not read")
                    continue
                else:
                    ring = home / named
                if not ctx.real(ring).is_file():
                    problems.append(f"{where}: keyring {named!r} is not a regular file: not read")
                elif ctx.real(ring) not in {ctx.real(r) for r in rings}:
                    rings.append(ring)
        return rings, problems

    def _keyfile(self, gpg: Callable[..., Any], file: Path) -> Iterator[Record]:
        shown = self.context.display(file)
        if not self.context.real(file).is_file():
            yield self.context.error(KIND, shown, "no such key file")
            return
        try:
            data = read_bounded(file)
        except Unreadable as exc:
            yield self.context.error(KIND, shown, str(exc))
            return
        yield from self._listed(shown, [(shown, lambda work: gpg(str(work)).scan_keys(str(work / "keys")))], None,
                                [("keys", data)])

    def _list(self, listings: Sequence[tuple[str, Any]], shown: str, grips: Mapping[str, bool] | None) -> Iterator[Record]:
        """Records of the listings of one home's keyrings or of one key file (each with its name
        as findings show it); `grips` are the keygrips with a secret (None: a key file)."""
        ctx = self.context
        keys: list[tuple[str, Any]] = []
        for where, listing in listings:
            said = "" if where == shown else f"{where}: "
            if getattr(listing, "returncode", 0) not in (0, None) and not len(listing):
                last = [ln for ln in str(getattr(listing, "stderr", "")).splitlines() if ln.startswith("gpg:")]
                yield ctx.error(KIND, shown, f"{said}gpg failed: {last[-1] if last else 'exit status ' + str(listing.returncode)}")
            keys += [(where, raw) for raw in listing]
        if not keys:
            if all(getattr(listing, "returncode", 0) in (0, None) for _, listing in listings):
                yield ctx.error(KIND, shown, "holds no OpenPGP key")
            return
        holders: dict[str, set[str]] = {}
        for _, raw in keys:
            holders.setdefault((raw.get("uids") or [""])[0], set()).add(str(raw.get("fingerprint", "")))
        for where, raw in keys:
            try:
                facts = key_facts(raw, grips, where, shown)
            except (ValueError, TypeError) as exc:
                yield ctx.error(KIND, f"{shown}#{raw.get('fingerprint', '?')}", f"unreadable key listing: {exc}")
                continue
            # named by the primary user id, which people recognise; by fingerprint if another
            # key has it too (the same key in two keyrings keeps its name); its findings' ids
            # come from the home or file and the fingerprint (GpgKey.IDENTITY), whatever its name
            uid = facts.user_ids[0] if facts.user_ids else ""
            name = uid if uid and len(holders.get(uid, ())) == 1 else facts.fingerprint
            yield ctx.record(f"{shown}#{name}", facts)


STUB_BYTES = 4096
"""How much of a key file is read to tell a smartcard's stub: its kind comes first."""
_STUB = re.compile(rb"\A\s*\((?:20:)?shadowed-private-key[\s(]|^key:[ \t]*\((?:20:)?shadowed-private-key[\s(]",
                   re.IGNORECASE | re.MULTILINE)
"""A stub's first element: in canonical or advanced form (`(20:shadowed-private-key`), or as
the Key: header of gpg-agent's extended key format (`Key: (shadowed-private-key ...`)."""


def is_stub(path: Path) -> bool:
    """Whether the private-keys-v1.d file `path` (here) is a smartcard's stub (a
    `shadowed-private-key`: the secret is on the card, the file names the card), from its first
    STUB_BYTES. False for a key whose secret is in the file, and for a file that cannot be read
    or whose kind is not in those bytes (counted as a secret: the safe side). Nothing read is
    kept."""
    try:
        with open_regular(path) as file:
            head = file.read(STUB_BYTES)
    except ReadError:
        return False
    return _STUB.search(head) is not None


def configured_keyring(line: str) -> str | None:
    """The keyring a gpg.conf line adds (`keyring NAME`, `primary-keyring NAME`, the name
    quoted or not), or None."""
    words = line.strip().split(None, 1)
    if len(words) != 2 or words[0] not in ("keyring", "primary-keyring"):
        return None
    value = words[1].strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    return value or None


def _no_keyring(home: Path, real: Callable[[Path], Path]) -> str:
    """Why a GnuPG home (its files where `real` says they are) gave no keyring to read."""
    odd = [n for n in DEFAULT_KEYRINGS if real(home / n).exists()]  # a folder, a FIFO: never opened
    if odd:
        return f"{odd[0]} is not a regular file: not read"
    if real(home / "public-keys.d" / "pubring.db").exists():
        return ("its keys are kept by keyboxd (public-keys.d/pubring.db, GnuPG 2.4's `use-keyboxd`), which is not "
                "read: export them to a key file (`gpg --export > keys.gpg`) and list it under `keyfiles`")
    return "no public keyring (pubring.kbx or pubring.gpg) in this GnuPG home"
