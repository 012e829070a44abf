"""NATS: the nats.conf parser, the configuration model, subject permissions, credentials.

- :mod:`auditor._nats.conf`: the nats.conf lexer and parser (the server's whole syntax).
- :mod:`auditor._nats.config`: what the server makes of a parsed config (users, accounts, ...),
  and :mod:`auditor._nats.settings`, the typed values of the rest (listeners, TLS, JetStream).
- :mod:`auditor._nats.subjects` and :mod:`auditor._nats.permissions`: the server's subject
  matching and permission checks, and `can()` behind `auditor nats can`.
- :mod:`auditor._nats.creds`: .creds files, JWTs and nkey seeds.
- :mod:`auditor._nats.monitoring`: the read-only client of the monitoring API.
"""
