"""pki: certificate facts, chain verification and (in later modules) a CA that issues them.

A separate package from `auditor`: it never imports it, so it can be used and tested alone.
"""

from pki.errors import PKIError

__all__ = ["PKIError"]
