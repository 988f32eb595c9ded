"""Signature checks for CI webhooks: Standard Webhooks and GitHub's scheme.

Pure functions over the raw bytes, with ``now`` passed in; every comparison is
constant-time. Each returns None when the request is genuine, else the reason
(for the log and the 401, never containing the secret).

Keys per scheme: Standard Webhooks decodes `whsec_<base64>` as its spec says (strictly: a
typo is an error, never a different key), any other secret is its UTF-8 bytes; GitHub
signs with the secret exactly as typed into its settings, so always its UTF-8 bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook

TOLERANCE = 300  # seconds, both ways: Standard Webhooks' window for stale or future timestamps
WHSEC = "whsec_"
NO_KEY = "the hook has no key to check with"


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


def standard_signature(key: bytes, msg_id: str, timestamp: str, body: bytes) -> str:
    """`v1,<base64>` as the reference package signs `msg_id.timestamp.body` (the body must be UTF-8)."""
    return Webhook(key).sign(msg_id, datetime.fromtimestamp(int(timestamp), UTC), body.decode())


def verify_standard(key: bytes, msg_id: str, timestamp: str, signatures: str, body: bytes, now: float) -> str | None:
    """Standard Webhooks: `webhook-signature` holds space-separated `v1,<base64>`; one must match.

    The reference package signs, but does not verify here: measured on standardwebhooks 1.1.0,
    its `Webhook.verify` reads the real clock (no `now`, so the spec's example cannot be checked
    at its own time: "Message timestamp too old"), raises ValueError rather than its own error
    on headers like `v1` or `a  b` or a body that is not UTF-8, and takes `1614265330.9` or
    `+1614265330` as the timestamp while checking the signature over the integer instead.
    """
    if not key:  # HMAC takes an empty key, and anyone can sign with it
        return NO_KEY
    if not (msg_id and timestamp and signatures):
        return "missing webhook-id, webhook-timestamp or webhook-signature"
    if not (timestamp.isascii() and timestamp.isdigit() and str(int(timestamp)) == timestamp):
        return "webhook-timestamp is not a Unix time in seconds"
    if abs(now - int(timestamp)) > TOLERANCE:
        return f"webhook-timestamp is more than {TOLERANCE // 60} minutes from now (stale, replayed or a skewed clock)"
    try:
        expected = standard_signature(key, msg_id, timestamp, body).encode()
    except (UnicodeDecodeError, OverflowError, ValueError, OSError):  # a body not UTF-8, a year past 9999
        return "the body is not UTF-8 JSON, or webhook-timestamp is out of range"
    if any(hmac.compare_digest(expected, given.encode()) for given in signatures.split(" ") if given):
        return None
    return "no webhook-signature matches the body (wrong secret, or the body was changed)"


def github_signature(key: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify_github(key: bytes, signature: str, body: bytes) -> str | None:
    """GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`."""
    if not key:
        return NO_KEY
    if not signature:
        return "missing X-Hub-Signature-256"
    if hmac.compare_digest(github_signature(key, body).encode(), signature.strip().encode()):
        return None
    return "X-Hub-Signature-256 does not match the body (wrong secret, or the body was changed)"
