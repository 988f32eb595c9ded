"""Dashboard sessions: a browser proves an API token once and then holds a signed, expiring cookie.

The cookie names the token (by its name in the API's credentials, and a fingerprint of its value, so
a changed token ends the sessions made with it), an expiry and a random session id. It is signed
with a key derived from the web's job-signing key, which every web process holds and nobody else
does. Mutations also need the session's CSRF token in a header: SameSite=Strict keeps the cookie
off cross-site requests in today's browsers, the header also stops a same-site page that is not ours.
Pure: no I/O (signing out is remembered in Redis by bot/web/dashboard/auth.py).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from bot.web.api import Credential
from bot.wire.signing import Signer

COOKIE = "dockerverse_session"
CSRF_HEADER = "x-csrf-token"
LIFETIME = 8 * 3600  # seconds a sign-in lasts; then the page asks for the token again
_DERIVE = b"dockerverse dashboard session key v1"


@dataclass(frozen=True)
class Session:
    sid: str
    credential: str  # the API token's name ("default" is DOCKERVERSE_API_TOKEN)
    fingerprint: str  # of the token's value
    expires: float  # Unix time


class SessionKeys:
    def __init__(self, key: bytes) -> None:
        self._key = key

    @classmethod
    def derived(cls, signer: Signer) -> SessionKeys:
        """From the web's job key: Ed25519 and HMAC signatures are deterministic, so every web process that
        holds the key derives the same one, and a rotated job key ends every session."""
        return cls(hashlib.sha256(signer.sign(_DERIVE).encode()).digest())

    def _mac(self, purpose: str, message: bytes) -> str:
        return hmac.new(self._key, purpose.encode() + b"\0" + message, hashlib.sha256).hexdigest()

    def fingerprint(self, secret: bytes) -> str:
        return self._mac("token", secret)[:32]

    def issue(self, credential: Credential, now: float) -> tuple[str, Session]:
        """A new session for the credential: (the cookie's value, the session)."""
        fingerprint = self.fingerprint(credential.secret)
        session = Session(secrets.token_urlsafe(18), credential.name, fingerprint, now + LIFETIME)
        body = json.dumps([session.sid, session.credential, session.fingerprint, session.expires]).encode()
        encoded = base64.urlsafe_b64encode(body).decode().rstrip("=")
        return f"{encoded}.{self._mac('cookie', encoded.encode())}", session

    def read(self, value: str, now: float) -> Session | None:
        """The session a cookie holds, or None when it is forged, altered or expired."""
        encoded, _, mac = value.partition(".")
        if not hmac.compare_digest(self._mac("cookie", encoded.encode()), mac):
            return None
        try:
            raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
            sid, credential, fingerprint, expires = json.loads(raw)
            session = Session(str(sid), str(credential), str(fingerprint), float(expires))
        except (ValueError, TypeError, binascii.Error):
            return None  # signed by us, so only an older format could get here
        return session if session.expires > now else None

    def csrf(self, session: Session) -> str:
        """The token the page sends in X-CSRF-Token with every mutation: tied to this session only."""
        return self._mac("csrf", session.sid.encode())[:40]

    def csrf_ok(self, session: Session, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(self.csrf(session), given)

    def owner(self, session: Session, credentials: Sequence[Credential]) -> Credential | None:
        """The credential the session was made with, if this web still holds it with the same value."""
        for cred in credentials:
            same = hmac.compare_digest(self.fingerprint(cred.secret), session.fingerprint)
            if cred.name == session.credential and same:
                return cred
        return None


def matching(credentials: Sequence[Credential], given: str) -> Credential | None:
    """The credential whose token this is; compared with every one, so the time taken tells nothing."""
    found = [c for c in credentials if hmac.compare_digest(c.secret, given.strip().encode())]
    return found[0] if found else None
