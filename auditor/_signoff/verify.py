"""`auditor verify`: every sign-off's signature, its signer's right to the role, that the document
is byte for byte what was signed, and (given the bundle) that its findings follow from the evidence."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditor._collectors._files import Unreadable, read_bounded
from auditor._fsutil import path_text, read_user_bytes
from auditor._loader.jsonfile import load_json
from auditor._models import sha256_hex
from auditor._resultfile import parse_document
from auditor._signoff.allowed import AllowedSigners
from auditor._signoff.diff import describe
from auditor._signoff.gpg import VerifyKeyring, verify_keyring
from auditor._signoff.model import (
    ROLES,
    SignoffCheck,
    SignoffFiles,
    parse_statement,
    recorded_roles,
    signoff_dir,
)
from auditor.errors import AuditorError, ConfigError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from auditor._policy.catalog import Catalog
    from auditor.evidence.bundle import Bundle


@dataclass(frozen=True)
class CurrentDocument:
    """The findings document as it is now: its bytes, and its content when it still parses."""

    path: Path
    raw: bytes
    document: dict[str, Any] | None
    problem: str
    """Why it no longer parses as a findings document ('' when it does)."""

    @property
    def sha256(self) -> str:
        return sha256_hex(self.raw)


def read_current(path: Path) -> CurrentDocument:
    """Read RESULT.json for checking: a missing file is an error, a broken one is a finding."""
    raw = read_user_bytes(path, limit="result-bytes", what="findings document")
    try:  # readable but no longer valid (an edit broke it): a finding, not an error
        doc = parse_document(raw, file=path_text(path))
    except ConfigError as exc:
        try:  # still JSON? then a diff can say what changed
            loose = load_json(raw)
        except ConfigError:
            loose = None
        return CurrentDocument(path, raw, loose if isinstance(loose, dict) else None, exc.diagnostics())
    return CurrentDocument(path, raw, doc, "")


def _what_changed(signed: dict[str, Any], current: CurrentDocument) -> str:
    if current.document is None:
        return f"it is no longer a valid findings document ({current.problem})"
    changes = describe(signed, current.document)
    if changes:
        return changes + (f" (and it is no longer a valid findings document: {current.problem})" if current.problem else "")
    return (
        f"its bytes differ (sha256 {current.sha256[:16]}…) but not its content: "
        "a formatting-only edit"
    )


def check_one(
    files: SignoffFiles, current: CurrentDocument, keyring: VerifyKeyring, allowed: AllowedSigners | None
) -> SignoffCheck:
    role = files.role
    try:
        data = read_bounded(files.statement)
    except Unreadable as exc:
        return SignoffCheck(role, problems=(f"cannot read {files.statement.name}: {exc}",))
    statement = parse_statement(data)
    if statement is None:
        return SignoffCheck(role, problems=(f"{files.statement.name} is not an auditor sign-off statement",))
    decision = str(statement.get("decision", ""))
    comment = str(statement.get("comment", ""))
    signed_at = str(statement.get("signed_at", ""))
    claimed = str(statement["signer"].get("fingerprint", "")).upper()
    problems: list[str] = []
    try:
        signature = read_bounded(files.signature)
        public_key = read_bounded(files.public_key)
    except Unreadable as exc:
        return SignoffCheck(role, decision, comment, signed_at, claimed,
                            problems=(f"missing or unreadable signature or key file: {exc}",))
    keyring.add_key(public_key)
    sig = keyring.verify(data, signature)
    if not sig.valid:
        problems.append(
            f"the signature does not verify ({sig.status}): {files.statement.name} or its signature was edited after signing"
        )
    elif sig.fingerprint != claimed:
        problems.append(f"signed by key {sig.fingerprint}, but the statement names key {claimed}")
    if statement.get("role") != role:
        problems.append(f"the statement is for role '{statement.get('role')}', but is stored as {files.statement.name}")
    if role not in ROLES:
        problems.append(f"'{role}' is not a sign-off role ({', '.join(ROLES)})")
    if statement["result"].get("sha256") != current.sha256:
        problems.append(f"{current.path.name} changed since {role} signed it: {_what_changed(statement['findings'], current)}")
    authorised: bool | None = None
    fingerprint = sig.fingerprint if sig.valid else ""
    if allowed is not None and sig.valid:
        authorised = allowed.allows(sig.fingerprint, role)
        if not authorised:
            who = ", ".join(allowed.allowed_for(role)) or "nobody"
            problems.append(f"key {sig.fingerprint} is not allowed to sign for {role} (allowed: {who}; {allowed.file})")
    signer = sig.uid
    if allowed is not None and fingerprint and allowed.name_of(fingerprint):
        signer = allowed.name_of(fingerprint)
    return SignoffCheck(role, decision, comment, signed_at, fingerprint or claimed, signer, tuple(problems), authorised)


def check_signoffs(path: Path, allowed: AllowedSigners | None = None) -> tuple[CurrentDocument, tuple[SignoffCheck, ...]]:
    """Every sign-off recorded beside `path`, checked against the document as it is now."""
    current = read_current(path)
    roles = recorded_roles(path)
    if not roles:
        return current, ()
    folder = signoff_dir(path)
    with verify_keyring() as keyring:
        checks = tuple(check_one(SignoffFiles.of(folder, role), current, keyring, allowed) for role in roles)
    return current, checks


@dataclass(frozen=True)
class Verification:
    current: CurrentDocument
    checks: tuple[SignoffCheck, ...]
    problems: tuple[str, ...]
    """Problems of the whole document (no sign-offs, bundle mismatch)."""
    notes: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems and all(c.ok for c in self.checks)


Judge = Callable[["Bundle"], tuple["Mapping[str, Any] | None", str]]
"""The description to judge a bundle by (None: its own) and a note ('' if none):
auditor._bundle_runs.judged_target over the inventory, as `auditor evaluate` judges it."""


def check_bundle(current: CurrentDocument, bundle_path: Path, catalog: Callable[[], Catalog],
                 judge: Judge | None = None, notes: list[str] | None = None) -> list[str]:
    """Problems found re-evaluating the bundle at the result's time (by the description `judge`
    gives, its note added to `notes`) and comparing the findings."""
    from auditor._models import ScanResult, Severity
    from auditor._scan import EvaluateOptions, evaluate_bundle
    from auditor._timeutil import parse_time
    from auditor.evidence.bundle import read_bundle

    if current.document is None or current.problem:
        return [f"cannot compare with the bundle: {current.problem}"]
    doc = current.document
    try:
        bundle = read_bundle(bundle_path)
    except AuditorError as exc:
        return [f"the evidence bundle does not check out: {exc.diagnostics()}"]
    if bundle.digest != doc["bundle_digest"]:
        return [
            f"{bundle_path} is not the evidence this result was evaluated from "
            f"(bundle digest {bundle.digest[:16]}…, the result names {doc['bundle_digest'][:16]}…)"
        ]
    result = ScanResult.from_dict(doc)
    options = EvaluateOptions(
        policies=result.policies,
        now=parse_time(result.evaluated_at, what="evaluated_at"),
        fail_on=Severity(doc.get("fail_on", "high")),
    )
    target, note = judge(bundle) if judge is not None else (None, "")
    if note and notes is not None:
        notes.append(note)
    try:
        again = evaluate_bundle(bundle, options, catalog=catalog(), target=target)
    except AuditorError as exc:
        return [f"cannot re-evaluate the bundle: {exc.diagnostics()}"]
    expected = again.to_dict()
    changes = describe(expected, doc)
    if changes:
        return [f"the findings do not follow from the evidence bundle (re-evaluated, then compared): {changes}"]
    return []


def verify(
    path: Path,
    *,
    allowed: AllowedSigners | None = None,
    bundle: Path | None = None,
    catalog: Callable[[], Catalog] | None = None,
    judge: Judge | None = None,
) -> Verification:
    current, checks = check_signoffs(path, allowed)
    problems: list[str] = []
    notes: list[str] = []
    if not checks:
        problems.append(f"no sign-offs recorded (expected them in {signoff_dir(path)})")
    if current.problem and not checks:
        problems.append(current.problem)
    if bundle is not None:
        from auditor._policy.catalog import Catalog

        found = check_bundle(current, bundle, catalog or Catalog.load, judge, notes)
        problems.extend(found)
        if not found:
            notes.append(f"the findings follow from the evidence in {bundle} (re-evaluated at {current.document and current.document.get('evaluated_at')})")
    else:
        notes.append("findings not compared with the evidence (no bundle given)")
    if allowed is None and checks:
        notes.append("signers not checked against an allowed-signers file (none given)")
    return Verification(current, checks, tuple(problems), tuple(notes))


def summary_lines(v: Verification) -> list[str]:
    """What `auditor verify` prints."""
    doc = v.current.document or {}
    head = f"{v.current.path}: sha256 {v.current.sha256}"
    if doc:
        head += f" ({doc.get('target', {}).get('name', '')}, evaluated {doc.get('evaluated_at', '')})"
    lines = [head]
    for c in v.checks:
        state = "OK" if c.ok else "FAILED"
        who = f"{c.signer} " if c.signer else ""
        lines.append(f"  {c.label:<20} {c.decision or '?':<8} {who}[{c.fingerprint or 'no valid signature'}] {c.signed_at}  {state}")
        lines.extend(f"      {p}" for p in c.problems)
    lines.extend(f"  problem: {p}" for p in v.problems)
    lines.extend(f"  note: {n}" for n in v.notes)
    signed = {c.role for c in v.checks if c.ok}
    missing = [r for r in ROLES if r not in signed]
    approvals = sum(1 for c in v.checks if c.ok and c.decision == "approve")
    rejections = [c.role for c in v.checks if c.ok and c.decision == "reject"]
    verdict = "verified" if v.ok else "NOT VERIFIED"
    tail = f"{verdict}: {len(v.checks)} sign-off{'s' if len(v.checks) != 1 else ''}, {approvals} approve"
    if rejections:
        tail += f", rejected by {', '.join(rejections)}"
    if missing:
        tail += f"; no valid sign-off yet from: {', '.join(missing)}"
    lines.append(tail)
    return lines

