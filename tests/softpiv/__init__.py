"""A software PIV card (TEST DOUBLE of a YubiKey) at yubikit's SmartCardConnection seam.

See card.py for what it models and what it does not. Used by the PKI's YubiKey backend tests
and meant for any code that talks to a YubiKey through yubikit (e.g. evidence collectors).
"""

from tests.softpiv.card import DEFAULT_MANAGEMENT_KEY, DEFAULT_PIN, SoftPivCard, SoftPivConnection

__all__ = ["DEFAULT_MANAGEMENT_KEY", "DEFAULT_PIN", "SoftPivCard", "SoftPivConnection"]
