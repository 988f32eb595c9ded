"""Who may sign jobs and who may only check them: Ed25519 keys, and the legacy shared HMAC key.

A job is an order to a worker with the Docker socket. With one shared HMAC key every worker could
also sign, so whoever owns one worker's host could mint admin jobs for every host. With Ed25519
the web alone holds the private key (DOCKERVERSE_SIGNING_KEY); workers hold public keys
(DOCKERVERSE_VERIFY_KEY, one or two comma-separated so a key can be rotated without downtime) that
check a signature but cannot make one.

Keys are plain text to paste into an env file: ``ed25519sk_`` or ``ed25519pk_`` and the 32 raw
key bytes in unpadded base64url. Pure: no I/O.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from bot.core.errors import DockerverseError

SECRET_PREFIX = "ed25519sk_"
PUBLIC_PREFIX = "ed25519pk_"
KEY_BYTES = 32
MAKE_PAIR = "Make a pair with `dockerverse keygen`"


class Verifier(Protocol):
    def verify(self, message: bytes, signature: str) -> bool: ...


class Signer(Verifier, Protocol):
    """Signs, and checks its own signatures (the web re-reads what it wrote)."""

    def sign(self, message: bytes) -> str: ...


@dataclass(frozen=True)
class HmacKey:
    """A symmetric key: the legacy DOCKERVERSE_JOB_KEY, or a worker's own key for records only it reads."""

    key: bytes

    def sign(self, message: bytes) -> str:
        return hmac.new(self.key, message, hashlib.sha256).hexdigest()

    def verify(self, message: bytes, signature: str) -> bool:
        return hmac.compare_digest(self.sign(message), signature)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    if not text or any(ch not in _ALPHABET for ch in text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@dataclass(frozen=True)
class VerifyKeys:
    """One or more Ed25519 public keys: a signature by any of them is good (rotation)."""

    keys: tuple[Ed25519PublicKey, ...]

    def verify(self, message: bytes, signature: str) -> bool:
        try:
            raw = _unb64(signature)
        except (ValueError, binascii.Error):
            return False
        for key in self.keys:
            try:
                key.verify(raw, message)
                return True
            except InvalidSignature:
                continue
        return False

    def texts(self) -> list[str]:
        return [public_text(k) for k in self.keys]


@dataclass(frozen=True)
class SigningKey:
    """The web's Ed25519 private key; it checks with its own public key and any others it is told to trust."""

    private: Ed25519PrivateKey
    also: VerifyKeys = VerifyKeys(())

    def sign(self, message: bytes) -> str:
        return _b64(self.private.sign(message))

    def verify(self, message: bytes, signature: str) -> bool:
        return VerifyKeys((self.private.public_key(), *self.also.keys)).verify(message, signature)

    @property
    def public(self) -> str:
        return public_text(self.private.public_key())


def public_text(key: Ed25519PublicKey) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return PUBLIC_PREFIX + _b64(key.public_bytes(Encoding.Raw, PublicFormat.Raw))


def generate() -> tuple[str, str]:
    """A fresh pair as text: (``ed25519sk_...``, ``ed25519pk_...``)."""
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    private = Ed25519PrivateKey.generate()
    raw = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return SECRET_PREFIX + _b64(raw), public_text(private.public_key())


def _raw(variable: str, text: str, prefix: str, what: str) -> bytes:
    text = text.strip()
    other = PUBLIC_PREFIX if prefix == SECRET_PREFIX else SECRET_PREFIX
    if text.startswith(other):
        swapped = "a public key" if other == PUBLIC_PREFIX else "a private key"
        raise DockerverseError(f"{variable} holds {swapped} (`{other}...`), but it takes {what}. {MAKE_PAIR}.")
    try:
        if not text.startswith(prefix):
            raise ValueError
        raw = _unb64(text.removeprefix(prefix))
    except (ValueError, binascii.Error):
        raw = b""
    if len(raw) != KEY_BYTES:
        raise DockerverseError(
            f"{variable} is not {what}: expected `{prefix}` and {KEY_BYTES} bytes in base64url "
            f"(43 characters), got `{text[:12]}...`. {MAKE_PAIR}."
        )
    return raw


def parse_signing_key(variable: str, text: str, also: VerifyKeys = VerifyKeys(())) -> SigningKey:
    """The private key in ``text``; a DockerverseError naming ``variable`` when it is not one."""
    raw = _raw(variable, text, SECRET_PREFIX, "an Ed25519 private key")
    return SigningKey(Ed25519PrivateKey.from_private_bytes(raw), also)


def parse_verify_keys(variable: str, text: str) -> VerifyKeys:
    """One or two comma-separated public keys (old,new while rotating)."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise DockerverseError(f"{variable} is empty. {MAKE_PAIR}, or unset it.")
    if len(parts) > 2:
        raise DockerverseError(
            f"{variable} lists {len(parts)} keys; it takes one, or two (old,new) while rotating. "
            "Drop the keys no web signs with any more."
        )
    return VerifyKeys(
        tuple(
            Ed25519PublicKey.from_public_bytes(_raw(variable, p, PUBLIC_PREFIX, "an Ed25519 public key")) for p in parts
        )
    )
