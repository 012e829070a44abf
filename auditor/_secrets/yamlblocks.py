"""Which lines of a YAML file are shell scripts: the text of a block scalar (`|`, `>`) under a
key that holds one (a CI step's `run`, GitLab's `script` and its `- |` items, Ansible's
`shell`, a container's `args`). A line there is a command, whatever it starts with
(`PGPASSWORD=x psql -h db`), not an env-file entry. And, for the lines of any other block
scalar under a key, that key: a file's name where the block is a file's text (a ConfigMap's
`application.properties: |`, `app.env: |`), which says how its values are read.

A block holds every line after its header indented more than the header's key (or dash, for
a list item `- |`), headers written in its text included; one pass over the file finds them
(held to PyYAML by the tests).
"""

from __future__ import annotations

import re

SHELL_KEYS = frozenset({b"run", b"script", b"before_script", b"after_script", b"shell", b"cmd", b"command",
                        b"commands", b"args", b"entrypoint"})
"""YAML keys whose block scalars are shell scripts: a CI step's (`run`, GitLab's `script`,
Drone's `commands`), Ansible's `shell` and `cmd`, a container's `command` and `args`."""

_KEY = rb"(?P<key>[A-Za-z_][A-Za-z0-9_.-]*)[ \t]*:[ \t]*"
"""A mapping's key and its colon (a dotted key too: `ansible.builtin.shell`)."""
_HEADER = re.compile(rb"[ \t]*(?P<item>-[ \t]+)?(?:" + _KEY + rb")?[|>][0-9+-]{0,2}[ \t]*(?:#[^\n]*)?")
_KEY_LINE = re.compile(rb"[ \t]*(?:-[ \t]+)?" + _KEY + rb"(?:#[^\n]*)?")

_LAST: tuple[bytes, frozenset[int], dict[int, bytes]] | None = None
"""The last buffer read, its script lines and its other block lines' keys: a file's assignments
ask about it line by line."""


def _blocks(data: bytes) -> tuple[bytes, frozenset[int], dict[int, bytes]]:
    global _LAST
    if _LAST is None or _LAST[0] is not data:
        _LAST = (data, *_block_lines(data))
    return _LAST


def in_shell_block(data: bytes, line: int) -> bool:
    """Whether the line starting at offset `line` of `data` is a line of a shell script."""
    return line in _blocks(data)[1]


def block_key(data: bytes, line: int) -> bytes:
    """The key of the block scalar (not a shell script's) the line starting at offset `line` of
    `data` is in (`application.properties` for the lines under `application.properties: |`);
    empty where the line is in none, or in a list item's."""
    return _blocks(data)[2].get(line, b"")


def _shell_key(key: bytes) -> bool:
    """Whether a YAML key names a shell script (its last dotted part: `ansible.builtin.shell`)."""
    return key.rsplit(b".", 1)[-1] in SHELL_KEYS


def _block_lines(data: bytes) -> tuple[frozenset[int], dict[int, bytes]]:
    """The offsets of the non-blank lines of `data` inside a block scalar under a shell key, and
    those of the lines of other block scalars under a key, with the key."""
    found: set[int] = set()
    keys: dict[int, bytes] = {}
    parents: list[tuple[int, bool, bytes]] = []  # the lines outside blocks a list item's key may be on: (indent, an item?, text)
    column, shell = -1, False  # the open block's key (or dash) column, and whether it is a script
    key = b""  # the open block's key, where it is not a script's
    at, size = 0, len(data)
    while at < size:
        end = data.find(b"\n", at)
        end = size if end < 0 else end
        text = data[at:end].rstrip(b"\r")
        depth = len(text) - len(text.lstrip(b" \t"))
        if depth == len(text):
            pass  # blank: in a block or not, it says nothing
        elif column >= 0 and depth > column:
            if shell:
                found.add(at)
            elif key:
                keys[at] = key
        else:
            column, key = -1, b""
            header = _HEADER.fullmatch(text)
            if header is not None and header.group("key"):
                column, shell = header.start("key"), _shell_key(header.group("key"))
                key = b"" if shell else header.group("key")
            elif header is not None and header.group("item"):
                column, shell = depth, _list_of_scripts(parents, depth)
            item = text[depth:depth + 1] == b"-"
            while parents and (parents[-1][0] > depth or (parents[-1][0] == depth and (parents[-1][1] or not item))):
                parents.pop()
            parents.append((depth, item, text))
        at = end + 1
    return frozenset(found), keys


def _list_of_scripts(parents: list[tuple[int, bool, bytes]], dash: int) -> bool:
    """Whether the list a `- |` item at indent `dash` is in is a shell key's (`script:` above
    it, at a lesser indent or at the same one, the list's other items aside)."""
    for depth, item, text in reversed(parents):
        if depth > dash or (depth == dash and item):
            continue
        key = _KEY_LINE.fullmatch(text)
        return key is not None and _shell_key(key.group("key"))
    return False
