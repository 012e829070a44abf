"""Reaching the fleet: node agents and evaluation workers on NATS JetStream, SSH for agentless scans.

- :mod:`auditor._remote.envelope`: signed evidence (a DSSE envelope holding an in-toto Statement
  whose subject is the bundle's digest, with the node's certificate chain), sealed by agents and
  opened (verified) by workers.
- :mod:`auditor._remote.wire`: subjects, the stream and consumer, message encoding and events.
- :mod:`auditor._remote.connection`: NATS connection settings (credentials file or mTLS).
- :mod:`auditor._remote.agent`: `auditor agent`, collecting on request or on schedule and publishing.
- :mod:`auditor._remote.worker`: `auditor worker`, verifying, evaluating and storing.
- :mod:`auditor._remote.control`: `auditor fleet collect|status` from a workstation.
- :mod:`auditor._remote.ssh`: the SSH transport, and agentless collection over it.

See docs/fleet.md.
"""
