"""Sign-off: leads sign a findings document with OpenPGP; `auditor verify` checks the signatures.

model.py holds the roles, the signed statement and where sign-offs are stored; gpg.py talks to
GnuPG (python-gnupg); allowed.py reads the allowed-signers file; verify.py checks everything;
diff.py says what changed in a document since it was signed.
"""
