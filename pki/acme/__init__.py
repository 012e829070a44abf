"""An ACME server (RFC 8555) for a CA folder: `auditor pki acme serve`.

- :mod:`pki.acme.problems`: ACME error documents (RFC 7807 problem+json).
- :mod:`pki.acme.policy`: which names, profiles and key types an account may obtain, the
  lifetime and the rate limits, as data in `CA/acme/policy.yaml`.
- :mod:`pki.acme.store`: the server's state in SQLite (`CA/acme/state.sqlite`): external
  account binding keys, accounts, nonces, orders, authorizations, challenges.
- :mod:`pki.acme.issuer`: the one place that calls the CA (issue from a CSR, revoke, chains).
- :mod:`pki.acme.signed`: checking the JWS of a request (RFC 8555 section 6.2), and EAB.
- :mod:`pki.acme.validation`: http-01, tls-alpn-01, dns-01 (a hook command) and
  device-attest-01 (a YubiKey's PIV attestation).
- :mod:`pki.acme.server`: the protocol, as a function from a request to a response.
- :mod:`pki.acme.asgi`: the ASGI application and its HTTP server (uvicorn).

The protocol's messages and JWS come from the `acme` and `josepy` packages (certbot's
project); they and uvicorn are imported only by the modules that need them.
"""
