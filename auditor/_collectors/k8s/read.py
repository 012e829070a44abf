"""Reading manifests: files and folders of multi-document YAML or JSON, `List` kinds, and stdin.

Each document is parsed on its own (the stream is split at `---` lines first), so a syntax
error in one document does not hide the documents after it. Every document that cannot be read
as a Kubernetes object yields a :class:`ManifestError` naming its file, index and line.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from auditor import _limits as limits
from auditor._collectors._files import Skipped, Unreadable, folder_files, read_bounded
from auditor._collectors.k8s.objects import ManifestError, ManifestObject, Origin, is_list_kind
from auditor._loader.jsonfile import load_json
from auditor._loader.yamlfile import Document, load_yaml_documents
from auditor.errors import ConfigError

SUFFIXES = (".yaml", ".yml", ".json")
STDIN = "-"
STDIN_NAME = "<stdin>"

_SEPARATOR = re.compile(r"^---(?:[ \t]|$)")
_HELM_SOURCE = re.compile(r"^#\s*Source:\s*(\S.*?)\s*$")

Item = ManifestObject | ManifestError


def manifest_files(folder: Path, exclude: Sequence[str] = ()) -> tuple[list[Path], list[Skipped]]:
    """The manifest files under a folder, sorted; hidden folders and `exclude` globs skipped;
    and the manifest names that are not regular files (FIFOs, sockets, devices: never opened)."""
    return folder_files(folder, SUFFIXES, exclude=exclude, hidden=False)


def read_file(path: Path, display: str) -> Iterator[Item]:
    try:
        data = read_bounded(path)
    except Unreadable as exc:
        message = "no such file or folder" if exc.why == "missing" else f"not read: {exc}"
        yield ManifestError(Origin(display), message)
        return
    yield from read_bytes(data, display, is_json=path.suffix.lower() == ".json")


def read_stdin(read: Callable[[], bytes]) -> Iterator[Item]:
    """Rendered manifests on stdin (e.g. `helm template ... | auditor scan --path -`)."""
    try:
        data = read()
    except Unreadable as exc:
        yield ManifestError(Origin(STDIN_NAME), f"not read: {exc}")
        return
    yield from read_bytes(data, STDIN_NAME, is_json=False)


def read_bytes(data: bytes, display: str, *, is_json: bool) -> Iterator[Item]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        yield ManifestError(Origin(display), f"not UTF-8 text (byte {exc.start})")
        return
    in_force = limits.current()  # once for the file's documents (it reads the environment)
    as_yaml = len(text) <= in_force.get("yaml-bytes")
    if is_json:
        yield from _json_document(text, display, as_yaml=as_yaml)
        return
    if not as_yaml:  # this file is not read: the others still are
        yield ManifestError(Origin(display), limits.exceeded("yaml-bytes", "the manifest is too large"))
        return
    index = 0
    for offset, chunk in split_documents(text):
        helm = _helm_source(chunk)
        for item in load_yaml_documents(display, text=chunk, in_force=in_force, kubernetes=True):
            if isinstance(item, ConfigError):
                line = item.line + offset if item.line is not None else offset + 1
                yield ManifestError(Origin(display, index, None, line, helm), item.message)
                index += 1
                continue
            if item.value is None:  # an empty document (Helm renders many): nothing to check
                continue
            doc = Document(item.value, display, index, {k: v + offset for k, v in item.lines.items()})
            yield from _objects(doc, Origin(display, index, None, doc.line_of(()), helm))
            index += 1


def split_documents(text: str) -> list[tuple[int, str]]:
    """[(line offset, text)] of each `---`-separated part of a YAML stream."""
    parts: list[tuple[int, str]] = []
    start = 0
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if i > start and _SEPARATOR.match(line):
            parts.append((start, "".join(lines[start:i])))
            start = i
    parts.append((start, "".join(lines[start:])))
    return [(offset, chunk) for offset, chunk in parts if chunk.strip()]


def _helm_source(chunk: str) -> str | None:
    for line in chunk.splitlines():
        match = _HELM_SOURCE.match(line)
        if match:
            return match.group(1)
        if line.strip() and not line.startswith(("#", "---")):
            return None
    return None


def _json_document(text: str, display: str, *, as_yaml: bool = True) -> Iterator[Item]:
    """A JSON file: parsed as YAML for line numbers, else (or when `as_yaml` is False: over the
    yaml-bytes limit) as JSON, within the json limits (YAML 1.1 is not a superset)."""
    items = list(load_yaml_documents(display, text=text, kubernetes=True)) if as_yaml else []
    docs = [i for i in items if isinstance(i, Document)]
    if len(items) == 1 and docs:
        doc = Document(docs[0].value, display, 0, docs[0].lines)
        yield from _objects(doc, Origin(display, 0, None, doc.line_of(())))
        return
    try:
        value = load_json(text)
    except ConfigError as exc:
        yield ManifestError(Origin(display, 0, None, exc.line), exc.message)
        return
    yield from _objects(Document(value, display, 0, {}), Origin(display, 0))


def _objects(doc: Document, origin: Origin) -> Iterator[Item]:
    value = doc.value
    if not isinstance(value, Mapping):
        what = "a list" if isinstance(value, list) else f"a {type(value).__name__} value"
        yield ManifestError(origin, f"document is {what}, not a Kubernetes object (a mapping)")
        return
    kind = value.get("kind")
    if isinstance(kind, str) and is_list_kind(kind) and "items" in value:
        items = value["items"]
        if not isinstance(items, list):
            yield ManifestError(origin, f"field items: a {kind} holds a list of objects")
            return
        for i, item in enumerate(items):
            at = Origin(origin.file, origin.document, i, doc.line_of(("items", i)), origin.helm_source)
            if not isinstance(item, Mapping):
                yield ManifestError(at, f"item {i} of the {kind} is not a Kubernetes object (a mapping)")
            elif isinstance(item.get("kind"), str) and is_list_kind(item["kind"]) and "items" in item:
                yield ManifestError(at, f"item {i} of the {kind} is itself a list")
            else:
                if "kind" not in item and kind != "List":  # API list responses omit the items' kind
                    item = {**item, "kind": kind[:-4], "apiVersion": item.get("apiVersion") or value.get("apiVersion")}
                yield ManifestObject(at, item, doc, ("items", i))
        return
    yield ManifestObject(origin, value, doc)
