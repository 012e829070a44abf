"""URLs without their user-info: credentials kept apart, as a secret, never shown or stored.

`http://user:pw@host/` is split where the URL enters (the inventory, a command-line option,
AUDITOR_DB) into the URL `http://host/`, which is what is used, stored and printed, and
:class:`Credentials`, which only the code that must authenticate reads (HTTP basic auth,
NATS user/password or token, a PostgreSQL login). A URL with user-info is never handed to
a client library or the resolver as it is.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^/?#\s]*@")
"""`scheme://user:pw@`: the user-info runs to the last @ before the path (a password may hold
an unescaped @)."""


@dataclass(frozen=True)
class Credentials:
    """The user-info of a URL. Never printed: its repr shows neither part."""

    username: str = field(repr=False)
    password: str | None = field(default=None, repr=False)
    """None when the URL gave a user name alone (`nats://TOKEN@host`: a token)."""

    def __repr__(self) -> str:
        return "Credentials(<redacted>)"

    def basic_auth(self) -> str:
        """The value of an HTTP `Authorization` header for these credentials."""
        raw = f"{self.username}:{self.password or ''}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")


def strip_userinfo(text: str) -> str:
    """`text` with the user-info of every URL in it removed (for text that may quote a URL)."""
    return _USERINFO.sub(r"\g<scheme>", text) if "@" in text else text


def split_url(url: str) -> tuple[str, Credentials | None]:
    """The URL without its user-info, and that user-info (None when it had none)."""
    if "@" not in url:
        return url, None
    try:
        parts = urlsplit(url)
    except ValueError:  # unparseable: nothing in it can be used, and nothing secret is kept
        return strip_userinfo(url), None
    if "@" not in parts.netloc:
        return url, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, colon, password = userinfo.partition(":")
    credentials = Credentials(unquote(user), unquote(password) if colon else None)
    return urlunsplit(parts._replace(netloc=hostport)), credentials


def join_url(url: str, credentials: Credentials) -> str:
    """`url` with `credentials` as its user-info again: split_url's inverse, for the one place a
    URL must travel whole (a source's definition sent to the remote auditor over SSH)."""
    parts = urlsplit(url)
    userinfo = quote(credentials.username, safe="")
    if credentials.password is not None:
        userinfo += ":" + quote(credentials.password, safe="")
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{parts.netloc}"))


Path = tuple[str | int, ...]


def split_tree(value: Any, path: Path = ()) -> tuple[Any, dict[Path, Credentials]]:
    """A copy of a JSON-like value with user-info taken out of every URL in it, and the
    credentials found, by the path of the string they came from."""
    found: dict[Path, Credentials] = {}
    if isinstance(value, str):
        if "://" not in value or "@" not in value:
            return value, found
        clean, credentials = split_url(value)
        if credentials is not None:
            found[path] = credentials
        return strip_userinfo(clean), found
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            out[key], inner = split_tree(item, (*path, key))
            found.update(inner)
        return out, found
    if isinstance(value, list | tuple):
        items = []
        for i, item in enumerate(value):
            clean_item, inner = split_tree(item, (*path, i))
            items.append(clean_item)
            found.update(inner)
        return items, found
    return value, found
