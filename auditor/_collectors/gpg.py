"""GnuPG keys: keyrings (GNUPGHOME folders) and exported key files, listed through python-gnupg.

The audited home is never handed to gpg, which writes to the home it uses (trust database,
locks, migrations) and may start an agent there: its public keyring and trust database are
copied into a private temporary home, listed there with `--no-autostart`, and the copy is
removed. Secret key material is never read: whether a key's secret is on the node is
answered by the presence of `private-keys-v1.d/<keygrip>.key` (a file name, not its
content), so an offline primary key with subkeys on the node shows as such.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from auditor._collectors._untrusted import text, text_or_none, texts
from auditor._collectors.interface import Collector
from auditor._timeutil import rfc3339
from auditor.evidence.kinds.gpg import Capability, GpgKey, Subkey, Validity
from auditor.evidence.record import Record

KIND = "gpg.key"
PUBLIC_FILES = ("pubring.kbx", "pubring.gpg", "trustdb.gpg")
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


def key_facts(raw: Mapping[str, Any], secret_grips: set[str] | None, location: str) -> GpgKey:
    """The evidence of one key (found at `location`) from a python-gnupg listing entry;
    `secret_grips` are the keygrips with a secret in the home (None: a key file, which lists a
    key with its secret as 'sec'). A value of the wrong type raises ValueError."""
    in_file_secret = raw.get("type") == "sec" if secret_grips is None else None

    def common(entry: Mapping[str, Any], where: str, fingerprint: object) -> Subkey:
        grip = entry.get("keygrip") or ""
        secret = (grip in secret_grips) if secret_grips is not None and grip else None
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
        )

    subkeys = [common({"keyid": keyid, **info}, f"subkeys[{i}].", info.get("fingerprint", ""))
               for i, (keyid, info) in enumerate((raw.get("subkey_info") or {}).items())]
    primary = common(raw, "", raw.get("fingerprint", ""))
    cap = str(raw.get("cap", ""))
    return GpgKey(
        keyid=primary.keyid, fingerprint=primary.fingerprint, algorithm=primary.algorithm, size=primary.size,
        curve=primary.curve, created=primary.created, expires=primary.expires, capabilities=primary.capabilities,
        validity=primary.validity, secret_present=primary.secret_present,
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

        def gpg(home: str) -> Any:
            return gnupg.GPG(gpgbinary=binary, gnupghome=home, options=["--no-autostart"])

        for home in ctx.source.path_option(ctx.root, "homes"):
            yield from self._home(gpg, home)
        for file in ctx.source.path_option(ctx.root, "keyfiles"):
            yield from self._keyfile(gpg, file)

    def _listed(self, shown: str, list_in: Callable[[str], Any], grips: set[str] | None, copies: Sequence[Path] = ()) -> Iterator[Record]:
        """Run a listing in a private scratch home (holding `copies`); gpg never sees the node's.

        The scratch home has a short path: gpg puts sockets in its home, and socket paths are
        limited to about 100 bytes.
        """
        work = Path(tempfile.mkdtemp(prefix="auditor-gpg-"))
        try:
            for path in copies:
                shutil.copyfile(self.context.real(path), work / path.name)
            yield from self._list(list_in(str(work)), shown, grips)
        except OSError as exc:
            yield self.context.error(KIND, shown, f"cannot run gpg: {exc}")
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _home(self, gpg: Callable[[str], Any], home: Path) -> Iterator[Record]:
        ctx = self.context
        shown = ctx.display(home)
        if not ctx.real(home).is_dir():
            yield ctx.error(KIND, shown, "no such GnuPG home folder")
            return
        present = [home / n for n in PUBLIC_FILES if ctx.real(home / n).is_file()]  # where the node's links lead
        if not any(p.name.startswith("pubring") for p in present):
            odd = [n for n in PUBLIC_FILES if n.startswith("pubring") and ctx.real(home / n).exists()]  # a folder, a FIFO: never opened
            yield ctx.error(KIND, shown, f"{odd[0]} is not a regular file: not read" if odd else
                            "no public keyring (pubring.kbx or pubring.gpg) in this GnuPG home")
            return
        secret_dir = ctx.real(home / "private-keys-v1.d")
        grips = {p.stem.upper() for p in secret_dir.glob("*.key")} if secret_dir.is_dir() else set()
        yield from self._listed(shown, lambda work: gpg(work).list_keys(), grips, present)

    def _keyfile(self, gpg: Callable[[str], Any], file: Path) -> Iterator[Record]:
        shown = self.context.display(file)
        real = self.context.real(file)
        if not real.is_file():
            yield self.context.error(KIND, shown, "no such key file")
            return
        yield from self._listed(shown, lambda work: gpg(work).scan_keys(str(real)), None)

    def _list(self, listing: Any, shown: str, grips: set[str] | None) -> Iterator[Record]:
        """Records of a listing; `grips` are the keygrips with a secret (None: a key file)."""
        ctx = self.context
        if getattr(listing, "returncode", 0) not in (0, None) and not len(listing):
            last = [ln for ln in str(getattr(listing, "stderr", "")).splitlines() if ln.startswith("gpg:")]
            yield ctx.error(KIND, shown, f"gpg failed: {last[-1] if last else 'exit status ' + str(listing.returncode)}")
            return
        if not len(listing):
            yield ctx.error(KIND, shown, "holds no OpenPGP key")
            return
        first_uids = [(raw.get("uids") or [""])[0] for raw in listing]
        for raw in listing:
            try:
                facts = key_facts(raw, grips, shown)
            except (ValueError, TypeError) as exc:
                yield ctx.error(KIND, f"{shown}#{raw.get('fingerprint', '?')}", f"unreadable key listing: {exc}")
                continue
            # named by the primary user id, which people recognise; by fingerprint if not unique
            uid = facts.user_ids[0] if facts.user_ids else ""
            name = uid if uid and first_uids.count(uid) == 1 else facts.fingerprint
            yield ctx.record(f"{shown}#{name}", facts)
