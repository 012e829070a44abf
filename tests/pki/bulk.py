"""Many certificates in a CA's records at once, for benchmarks: log entries written in one
go (an intent and a completion each, and a revocation for an entry whose status is `revoked`,
hash-chained as `pki.log.append` would), then the inventory rebuilt from the log: the log is
the source of truth, so an entry's status is what its events make it. The certificates are
copies of one real certificate under other serials (the records keep the row fields; the bytes
are not parsed again)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from cryptography import x509

from pki import log as issuance_log
from pki import records
from pki.ca import CA
from pki.inventory import Entry


def bulk_records(ca: CA, entries: Sequence[Entry], template: x509.Certificate) -> None:
    last = issuance_log.last_entry(ca.log_path)
    assert last is not None
    seq, prev = int(last["seq"]), str(last["hash"])
    der = records.certificate_b64(template)
    lines = []
    for e in entries:
        if e.status not in ("valid", "revoked"):
            raise ValueError(f"bulk_records writes no event that makes an entry {e.status}")
        events: list[tuple[str, dict[str, object]]] = [
            ("intent", {"for": "issue", "issuer_serial": e.issuer_serial, "not_after": e.not_after, "sans": e.sans}),
            ("issue", {**{k: getattr(e, k) for k in records.ROW_DETAILS}, "certificate": der, "intent": seq + 1}),
        ]
        if e.status == "revoked":  # as CA.revoke logs it (no CRL is written)
            events.append(("revoke", {"reason": e.revocation_reason or "unspecified",
                                      "revoked_at": e.revoked_at or e.issued_at, "issuer_serial": e.issuer_serial}))
        for event, details in events:
            seq += 1
            entry: dict[str, object] = {"seq": seq, "time": e.issued_at, "event": event, "serial": e.serial, "node": e.node,
                     "profile": e.profile, "subject": e.subject, "details": details, "prev": prev}
            prev = issuance_log.entry_hash(entry)
            entry["hash"] = prev
            lines.append(json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False))
    with ca.log_path.open("a", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    ca.rebuild_inventory()
