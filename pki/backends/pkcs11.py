"""CA keys on a PKCS#11 token (SoftHSM2, an HSM, OpenSC, Yubico's ykcs11) via python-pkcs11.

The key pair is generated on the token as sensitive and not extractable; signing sends the
hash (ECDSA), the message (Ed25519) or the data with a hash-and-sign mechanism (RSA) to the
token. Only the public key ever leaves it. The PIN comes from the secret source.
"""

from __future__ import annotations

import os
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes

from pki.backends.interface import (
    BackendSettings,
    GeneratedKey,
    KeyBackend,
    SecretSource,
    hardware_key,
)
from pki.errors import BackendError, KeyAccessError

_CURVES = {"ecdsa-p256": "secp256r1", "ecdsa-p384": "secp384r1"}
_ED25519_PARAMS = bytes.fromhex("06032b6570")  # OID 1.3.101.112


def _pkcs11() -> Any:
    try:
        import pkcs11
    except ImportError:  # pragma: no cover - a declared dependency
        raise BackendError("the PKCS#11 backend needs python-pkcs11 (pip install python-pkcs11)") from None
    return pkcs11


class Pkcs11Backend(KeyBackend):
    name = "pkcs11"

    def __init__(self, module: str, token_label: str, secrets: SecretSource) -> None:
        self.module = module
        self.token_label = token_label
        self.secrets = secrets
        self._session: Any = None

    @classmethod
    def from_settings(cls, settings: BackendSettings) -> Pkcs11Backend:
        if not settings.module or not settings.token:
            raise BackendError("a PKCS#11 key needs the module's path and the token's label")
        return cls(settings.module, settings.token, settings.secrets)

    def _open_session(self) -> Any:
        if self._session is not None:
            return self._session
        p11 = _pkcs11()
        if not self.module or not os.path.isfile(self.module):
            raise BackendError(f"PKCS#11 module '{self.module}' not found")
        try:
            lib = p11.lib(self.module)
        except Exception as exc:
            raise BackendError(f"{self.module}: cannot load the PKCS#11 module ({exc})") from None
        try:
            token = lib.get_token(token_label=self.token_label)
        except p11.exceptions.NoSuchToken:
            raise BackendError(f"no PKCS#11 token labelled '{self.token_label}' in {self.module}") from None
        except p11.exceptions.MultipleTokensReturned:
            raise BackendError(f"several PKCS#11 tokens are labelled '{self.token_label}'") from None
        pin = self.secrets("pin", f"PKCS#11 token '{self.token_label}'")
        try:
            self._session = token.open(user_pin=pin, rw=True)
        except p11.exceptions.PinIncorrect:
            raise KeyAccessError(f"PKCS#11 token '{self.token_label}': wrong PIN") from None
        except p11.exceptions.UserAlreadyLoggedIn:
            # this process already logged in to the token (PKCS#11 login is per application)
            self._session = token.open(rw=True)
        except p11.exceptions.PinLocked:
            raise KeyAccessError(f"PKCS#11 token '{self.token_label}': the PIN is locked") from None
        except p11.exceptions.PKCS11Error as exc:
            raise BackendError(f"PKCS#11 token '{self.token_label}': cannot log in ({type(exc).__name__})") from None
        return self._session

    def close(self) -> None:
        if self._session is not None:
            try:
                self._session.close()
            finally:
                self._session = None

    def generate(self, key_type: str, label: str) -> GeneratedKey:
        p11 = _pkcs11()
        from pkcs11 import Attribute, KeyType, Mechanism

        session = self._open_session()
        key_id = os.urandom(8)
        key_label = f"auditor-pki {label} {key_id.hex()}"
        private = {Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False, Attribute.SIGN: True,
                   Attribute.TOKEN: True, Attribute.PRIVATE: True}
        public = {Attribute.VERIFY: True, Attribute.TOKEN: True}
        try:
            if key_type in _CURVES:
                from pkcs11.util.ec import encode_named_curve_parameters

                params = session.create_domain_parameters(
                    KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters(_CURVES[key_type])}, local=True
                )
                params.generate_keypair(store=True, label=key_label, id=key_id,
                                        public_template=public, private_template=private)
            elif key_type == "ed25519":
                params = session.create_domain_parameters(
                    KeyType.EC_EDWARDS, {Attribute.EC_PARAMS: _ED25519_PARAMS}, local=True
                )
                params.generate_keypair(store=True, label=key_label, id=key_id, mechanism=Mechanism.EC_EDWARDS_KEY_PAIR_GEN,
                                        public_template=public, private_template=private)
            elif key_type.startswith("rsa-"):
                session.generate_keypair(KeyType.RSA, int(key_type[4:]), store=True, label=key_label, id=key_id,
                                         public_template=public, private_template=private)
            else:
                raise BackendError(f"key type {key_type} is not offered on PKCS#11 tokens")
        except p11.exceptions.PKCS11Error as exc:
            raise BackendError(f"PKCS#11 token '{self.token_label}' cannot make a {key_type} key ({type(exc).__name__})") from None
        ref = {"backend": "pkcs11", "module": self.module, "token": self.token_label, "label": key_label,
               "id": key_id.hex(), "key_type": key_type}
        return GeneratedKey(ref, self._signer(session, ref))

    def open(self, ref: dict[str, Any]) -> CertificateIssuerPrivateKeyTypes:
        return self._signer(self._open_session(), ref)

    def _signer(self, session: Any, ref: dict[str, Any]) -> CertificateIssuerPrivateKeyTypes:
        p11 = _pkcs11()
        from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass

        key_type = str(ref.get("key_type", ""))
        try:
            key_id = bytes.fromhex(str(ref.get("id", "")))
            priv = session.get_key(object_class=ObjectClass.PRIVATE_KEY, id=key_id)
            pub = session.get_key(object_class=ObjectClass.PUBLIC_KEY, id=key_id)
        except (ValueError, p11.exceptions.NoSuchKey, p11.exceptions.MultipleObjectsReturned):
            raise BackendError(f"PKCS#11 token '{self.token_label}' has no single key with id {ref.get('id')}") from None
        if key_type in _CURVES:
            from pkcs11.util.ec import encode_ec_public_key, encode_ecdsa_signature

            public_key: Any = serialization.load_der_public_key(encode_ec_public_key(pub))

            def sign_ec(data: bytes, algorithm: hashes.HashAlgorithm | None) -> bytes:
                assert algorithm is not None
                digest = hashes.Hash(algorithm)
                digest.update(data)
                raw = _call(p11, lambda: priv.sign(digest.finalize(), mechanism=Mechanism.ECDSA))
                return bytes(encode_ecdsa_signature(raw))

            return hardware_key(public_key, sign_ec)
        if key_type == "ed25519":
            point = bytes(pub[Attribute.EC_POINT])
            raw_point = point[2:] if len(point) == 34 and point[0] == 0x04 else point
            ed_public = ed25519.Ed25519PublicKey.from_public_bytes(raw_point)
            return hardware_key(ed_public, lambda data, _alg: bytes(_call(p11, lambda: priv.sign(data, mechanism=Mechanism.EDDSA))))
        if key_type.startswith("rsa-") and pub.key_type == KeyType.RSA:
            from pkcs11.util.rsa import encode_rsa_public_key

            rsa_public: Any = serialization.load_der_public_key(encode_rsa_public_key(pub))
            mechanisms = {"sha256": Mechanism.SHA256_RSA_PKCS, "sha384": Mechanism.SHA384_RSA_PKCS,
                          "sha512": Mechanism.SHA512_RSA_PKCS}

            def sign_rsa(data: bytes, algorithm: hashes.HashAlgorithm | None) -> bytes:
                assert algorithm is not None
                return bytes(_call(p11, lambda: priv.sign(data, mechanism=mechanisms[algorithm.name])))

            return hardware_key(rsa_public, sign_rsa)
        raise BackendError(f"ca.json: unsupported PKCS#11 key type '{key_type}'")


def _call(p11: Any, fn: Any) -> Any:
    try:
        return fn()
    except p11.exceptions.PKCS11Error as exc:
        raise BackendError(f"the PKCS#11 token refused to sign ({type(exc).__name__})") from None
