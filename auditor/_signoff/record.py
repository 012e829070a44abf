"""`auditor signoff`: sign a findings document for one role and record it beside the document."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from auditor._fsutil import atomic_write, read_user_bytes
from auditor._resultfile import read_result
from auditor._signoff.gpg import Keyring, normalise_fingerprint
from auditor._signoff.model import (
    DECISIONS,
    ROLES,
    SignoffFiles,
    make_statement,
    parse_statement,
    recorded_roles,
    signoff_dir,
)
from auditor._timeutil import rfc3339, utcnow
from auditor.errors import ConfigError

MAX_COMMENT = 2000


class AlreadySigned(ConfigError):
    """The role has signed the document already (and replacing its sign-off was not asked for)."""

    def __init__(self, message: str, *, file: str | Path, role: str) -> None:
        super().__init__(message, file=file)
        self.role = role


def record_signoff(
    result_path: Path,
    *,
    role: str,
    key: str,
    decision: str = "approve",
    comment: str = "",
    replace: bool = False,
    now: dt.datetime | None = None,
    gnupghome: str | None = None,
) -> SignoffFiles:
    """Sign `result_path` for `role` with the secret key `key`; return the files written.

    Refuses a role already signed (unless `replace`) and a document that changed since another
    role signed it: every sign-off of one document must be over the same bytes.
    """
    if role not in ROLES:
        raise ConfigError(f"unknown role '{role}' (roles: {', '.join(ROLES)})", field="role")
    if decision not in DECISIONS:
        raise ConfigError(f"unknown decision '{decision}' (decisions: {', '.join(DECISIONS)})", field="decision")
    if len(comment) > MAX_COMMENT:
        raise ConfigError(f"the comment is {len(comment)} characters; at most {MAX_COMMENT}", field="comment")
    fingerprint = normalise_fingerprint(key)
    loaded = read_result(result_path)
    folder = signoff_dir(result_path)
    files = SignoffFiles.of(folder, role)
    if files.statement.exists() and not replace:
        raise AlreadySigned(f"{role} has signed this document already ({files.statement})", file=result_path, role=role)
    for other in recorded_roles(result_path):
        if other == role:
            continue
        statement = parse_statement(read_user_bytes(SignoffFiles.of(folder, other).statement, what="sign-off statement"))
        signed_sha = statement["result"].get("sha256") if statement else None
        if signed_sha != loaded.sha256:
            raise ConfigError(
                f"the document changed since {other} signed it (run `auditor verify {result_path}`); "
                "sign a fresh result instead",
                file=result_path,
            )
    keyring = Keyring(gnupghome)
    signing_key = keyring.secret_key(fingerprint)
    statement_bytes = make_statement(
        role=role,
        decision=decision,
        comment=comment,
        fingerprint=signing_key.fingerprint,
        signed_at=rfc3339(now or utcnow()),
        result_sha256=loaded.sha256,
        document=loaded.document,
    )
    signature = keyring.sign_detached(statement_bytes, fingerprint)
    public_key = keyring.export_public(signing_key.fingerprint)
    folder.mkdir(mode=0o755, exist_ok=True)
    # the statement last: a sign-off exists once its statement does, and then it is whole
    atomic_write(files.public_key, public_key.encode())
    atomic_write(files.signature, signature.encode())
    atomic_write(files.statement, statement_bytes)
    return files
