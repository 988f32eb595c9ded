"""Signature checks for CI webhooks: Standard Webhooks and GitHub's scheme.

Pure functions over the raw bytes, with ``now`` passed in; every comparison is
constant-time. Each returns None when the request is genuine, else the reason
(for the log and the 401, never containing the secret).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

TOLERANCE = 300  # seconds, both ways: Standard Webhooks' window for stale or future timestamps
WHSEC = "whsec_"


def standard_key(secret: str) -> bytes:
    """Standard Webhooks: `whsec_<base64>` is that base64's bytes; any other secret its UTF-8 bytes.

    Raises ValueError when the part after `whsec_` is not base64. (The reference package's
    own decoding skips characters that are not base64, so `whsec_...` becomes an empty key.)
    """
    if not secret.startswith(WHSEC):
        return secret.encode()
    text = secret[len(WHSEC) :]
    try:
        # Senders often drop the `=` padding; anything else that is not base64 is refused.
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except binascii.Error as exc:
        raise ValueError(f"the part after `{WHSEC}` is not base64 ({exc})") from None


def github_key(secret: str) -> bytes:
    """GitHub: the secret as typed into the webhook's settings, as UTF-8 (never base64-decoded)."""
    return secret.encode()


def secret_bytes(secret: str) -> bytes:
    """`whsec_<base64>` is base64-decoded, as the Standard Webhooks spec says; anything else is UTF-8."""
    if secret.startswith(WHSEC):
        try:
            return base64.b64decode(secret[len(WHSEC) :] + "==")
        except binascii.Error:
            return secret.encode()
    return secret.encode()


def standard_signature(key: bytes, msg_id: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify_standard(key: bytes, msg_id: str, timestamp: str, signatures: str, body: bytes, now: float) -> str | None:
    """Standard Webhooks: `webhook-signature` holds space-separated `v1,<base64>`; one must match."""
    if not (msg_id and timestamp and signatures):
        return "missing webhook-id, webhook-timestamp or webhook-signature"
    if not (timestamp.isascii() and timestamp.isdigit()):
        return "webhook-timestamp is not a Unix time in seconds"
    if abs(now - int(timestamp)) > TOLERANCE:
        return f"webhook-timestamp is more than {TOLERANCE // 60} minutes from now (stale, replayed or a skewed clock)"
    expected = standard_signature(key, msg_id, timestamp, body).encode()
    if any(hmac.compare_digest(expected, given.encode()) for given in signatures.split(" ") if given):
        return None
    return "no webhook-signature matches the body (wrong secret, or the body was changed)"


def github_signature(key: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify_github(key: bytes, signature: str, body: bytes) -> str | None:
    """GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`."""
    if not signature:
        return "missing X-Hub-Signature-256"
    if hmac.compare_digest(github_signature(key, body).encode(), signature.strip().encode()):
        return None
    return "X-Hub-Signature-256 does not match the body (wrong secret, or the body was changed)"
