"""The demo node's NATS credentials, made with real nkeys when the demo is materialised.

- `etc/nats/leaf.creds` (0600): the leafnode's user JWT and seed, issued by the fleet account
  `CIM-LEAF`, itself issued by the operator `CIM`. The user JWT has no expiry, as `nsc add
  user` makes them by default: a planted problem (NATS-030).
- `etc/nats/trust/operator.jwt`, `etc/nats/trust/account.jwt`: the hub's operator and
  account JWTs, kept beside the leaf credentials so the signing chain can be verified.
- `etc/nats/nkeys/cim-sensor.nk` (0600): the sensor user's nkey seed; its public key replaces
  the `CIM_SENSOR_NKEY` placeholder in `etc/nats/users.conf`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from auditor._fsutil import atomic_write
from auditor._nats.creds import encode_jwt, format_creds, new_seed, seed_public_key

PLACEHOLDER = "CIM_SENSOR_NKEY"


def build_nats(node: Path, now: dt.datetime) -> None:
    nats = node / "etc/nats"
    for folder in ("trust", "nkeys"):
        (nats / folder).mkdir(parents=True, exist_ok=True)
    issued = int((now - dt.timedelta(days=30)).timestamp())
    operator, account, user, sensor = (new_seed(k) for k in ("operator", "account", "user", "user"))
    op_pub, acc_pub, user_pub = (seed_public_key(s)[1] for s in (operator, account, user))
    operator_jwt = encode_jwt({"sub": op_pub, "name": "CIM", "iat": issued,
                               "nats": {"type": "operator", "version": 2}}, operator)
    account_jwt = encode_jwt({"sub": acc_pub, "name": "CIM-LEAF", "iat": issued, "nats": {
        "type": "account", "version": 2,
        "exports": [{"name": "events", "subject": "events.>", "type": "stream", "token_req": True}],
        "limits": {"subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1, "wildcards": True,
                   "conn": -1, "leaf": -1, "mem_storage": -1, "disk_storage": -1},
    }}, operator)
    user_jwt = encode_jwt({"sub": user_pub, "name": "cim-prod-001-leaf", "iat": issued, "nats": {
        "type": "user", "version": 2, "subs": -1, "data": -1, "payload": -1,
        "pub": {"allow": ["agent.>", "workflow.>", "events.>", "$JS.API.>", "_INBOX.>"]},
        "sub": {"allow": ["commands.>", "events.>", "_INBOX.>", "$JS.API.>"]},
        "allowed_connection_types": ["LEAFNODE"],
    }}, account)
    atomic_write(nats / "leaf.creds", format_creds(user_jwt, user).encode(), mode=0o600)
    atomic_write(nats / "trust/operator.jwt", (operator_jwt + "\n").encode())
    atomic_write(nats / "trust/account.jwt", (account_jwt + "\n").encode())
    atomic_write(nats / "nkeys/cim-sensor.nk", (sensor + "\n").encode(), mode=0o600)
    users = nats / "users.conf"
    atomic_write(users, users.read_text().replace(PLACEHOLDER, seed_public_key(sensor)[1]).encode())
