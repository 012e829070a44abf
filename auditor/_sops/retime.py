"""Move a sops file's dates (`lastmodified`, recipients' `created_at`) and re-seal its MAC.

The stored MAC is encrypted with `lastmodified` as its additional data, so changing the date
means decrypting the MAC with the data key (unwrapped with an age identity) and encrypting it
again under the new date. The values and their MAC are untouched: the file stays what sops
made, only older or younger. Used by the demo so its sops files keep their age relative to today.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from pathlib import Path

from auditor._fsutil import atomic_write, read_user_file
from auditor._sops.crypto import data_key_from_age, decrypt_value, encrypt_value
from auditor._sops.document import parse
from auditor.errors import ConfigError

_STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[-+]\d\d:\d\d)"


def retime(path: Path, identities: Sequence[str], lastmodified: dt.datetime,
           created_at: dt.datetime | None = None) -> None:
    text = read_user_file(path, what="sops file")
    doc = parse(path, text)
    md = doc.metadata or {}
    if not doc.is_sops:
        raise ConfigError("not a sops file", file=path)
    key = data_key_from_age(doc, identities)
    if key is None:
        raise ConfigError("none of the age identities can unwrap this file's data key", file=path)
    old_stamp, old_mac = str(md["lastmodified"]), str(md["mac"])
    new_stamp = lastmodified.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    mac = decrypt_value(old_mac, key, old_stamp.encode())
    new_mac = encrypt_value(mac, key, new_stamp.encode())
    text = text.replace(old_mac, new_mac)
    text = re.sub(r"(lastmodified\W{1,8})" + _STAMP, lambda m: m.group(1) + new_stamp, text)
    if created_at is not None:
        stamp = created_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        text = re.sub(r"(created_at\W{1,8})" + _STAMP, lambda m: m.group(1) + stamp, text)
    atomic_write(path, text.encode(), mode=path.stat().st_mode & 0o777)
