"""Dashboard sessions, one-time sign-in codes and `?host=`: the pieces under the browser tests, tested directly."""

from __future__ import annotations

import asyncio

import httpx
import redis
import redis.asyncio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.web.api import Credential
from bot.web.dashboard import signin_codes
from bot.web.dashboard.session import LIFETIME, SessionKeys, matching
from bot.web.on_host import OnHost, host_words
from bot.wire.signing import HmacKey, SigningKey, generate, parse_signing_key

ADMIN = Credential("default", b"admin-token-0123456789", "admin")
VIEWER = Credential("dashboard", b"viewer-token-0123456789", "viewer")
NOW = 1_800_000_000.0


def keys() -> SessionKeys:
    return SessionKeys.derived(parse_signing_key("K", generate()[0]))


def test_a_cookie_reads_back_as_its_session_until_it_expires() -> None:
    """The cookie names the credential it was made with, and is refused once its lifetime is over."""
    k = keys()
    value, session = k.issue(VIEWER, NOW)
    assert k.read(value, NOW + 60) == session and session.credential == "dashboard"
    assert k.owner(session, [ADMIN, VIEWER]) == VIEWER
    assert k.read(value, NOW + LIFETIME + 1) is None


def flip_last(text: str) -> str:
    """The text with its last character changed: always a different string (a fixed '0' was not, 1 in 16)."""
    return text[:-1] + ("1" if text[-1] == "0" else "0")


def test_a_forged_or_altered_cookie_is_refused() -> None:
    """Another key's cookie, a changed payload or a changed signature reads as no session at all."""
    k, other = keys(), keys()
    value, _ = other.issue(ADMIN, NOW)
    assert k.read(value, NOW) is None
    mine, _ = k.issue(VIEWER, NOW)
    body, _, mac = mine.partition(".")
    assert k.read(flip_last(body) + "." + mac, NOW) is None
    assert k.read(body + "." + flip_last(mac), NOW) is None
    assert k.read("", NOW) is None and k.read("no-dot-at-all", NOW) is None


def test_the_session_key_is_the_same_in_every_web_process_with_the_job_key() -> None:
    """Derived from the web's signing key (Ed25519 or legacy HMAC): two processes agree, another key does not."""
    text = generate()[0]
    one, two = (SessionKeys.derived(parse_signing_key("K", text)) for _ in range(2))
    value, session = one.issue(ADMIN, NOW)
    assert two.read(value, NOW) == session
    legacy = SessionKeys.derived(HmacKey(b"x" * 32))
    assert legacy.read(value, NOW) is None
    assert SessionKeys.derived(HmacKey(b"x" * 32)).read(legacy.issue(ADMIN, NOW)[0], NOW) is not None


def test_a_changed_token_ends_its_sessions() -> None:
    """A session is the token's only while the web holds that token with the same value."""
    k = keys()
    _, session = k.issue(ADMIN, NOW)
    assert k.owner(session, [Credential("default", b"rotated-token-0123456789", "admin")]) is None
    assert k.owner(session, [VIEWER]) is None


def test_csrf_tokens_belong_to_one_session() -> None:
    """The CSRF token of one session is wrong for another; a missing one is wrong too."""
    k = keys()
    _, one = k.issue(ADMIN, NOW)
    _, two = k.issue(ADMIN, NOW)
    assert k.csrf_ok(one, k.csrf(one)) and not k.csrf_ok(two, k.csrf(one)) and not k.csrf_ok(one, None)


def test_sign_in_matches_a_token_to_its_credential() -> None:
    """The token typed in (spaces around it ignored) picks its credential; any other picks none."""
    assert matching([ADMIN, VIEWER], " viewer-token-0123456789\n") == VIEWER
    assert matching([ADMIN, VIEWER], "admin-token-012345678") is None


def test_a_one_time_code_signs_in_once(redis_url: str) -> None:
    """A minted code is taken once; then, or when forged or unknown, it gives nothing."""
    signer = parse_signing_key("K", generate()[0])
    conn = redis.Redis.from_url(redis_url)
    code = signin_codes.mint(conn, signer)
    stored = conn.keys(signin_codes.PREFIX + "*")
    assert len(stored) == 1 and code.encode() not in stored[0] and 0 < conn.ttl(stored[0]) <= signin_codes.TTL
    forged = signin_codes.mint(conn, parse_signing_key("K", generate()[0]))

    async def take_all() -> list[str | None]:
        client = redis.asyncio.Redis.from_url(redis_url)
        try:
            return [await signin_codes.take(client, signer, c) for c in (code, code, forged, "x" * 32, "short")]
        finally:
            await client.aclose()

    assert asyncio.run(take_all()) == ["default", None, None, None, None]
    conn.close()


def test_the_up_banner_line_carries_a_code_only_with_an_api_token(redis_url: str) -> None:
    """`dockerverse up` prints a working one-time link when the web has an API token, else how to get one."""
    private, public = generate()
    env = {"DOCKERVERSE_SIGNING_KEY": private, "DOCKERVERSE_VERIFY_KEY": public}
    assert "set DOCKERVERSE_API_TOKEN" in signin_codes.signin_line(env, redis_url, "http://127.0.0.1:8000")
    line = signin_codes.signin_line({**env, "DOCKERVERSE_API_TOKEN": "t" * 24}, redis_url, "http://127.0.0.1:8000")
    code = line.split("#signin=", 1)[1].split()[0]
    signer = parse_signing_key("K", private)
    assert isinstance(signer, SigningKey)

    async def take() -> str | None:
        client = redis.asyncio.Redis.from_url(redis_url)
        try:
            return await signin_codes.take(client, signer, code)
        finally:
            await client.aclose()

    assert asyncio.run(take()) == "default"


def _host_answers(*paths: str) -> list[httpx.Response]:
    """What a one-route app behind OnHost answers: the host words its command would get."""

    async def words(request: Request) -> JSONResponse:
        return JSONResponse(host_words())

    app = Starlette(routes=[Route("/api/x", words), Route("/other", words)], middleware=[Middleware(OnHost)])

    async def ask() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            return [await client.get(path) for path in paths]

    return asyncio.run(ask())


def test_host_query_parameter_becomes_the_commands_host() -> None:
    """`?host=H` on /api/* adds `--host H` to the command; none adds nothing; elsewhere it is ignored."""
    named, plain, other = _host_answers("/api/x?host=web-1.eu", "/api/x", "/other?host=web1")
    assert named.json() == ["--host", "web-1.eu"] and plain.json() == [] and other.json() == []


def test_a_host_that_reads_as_an_option_is_refused() -> None:
    """A host that is not a host name (`--all`, spaces) is a 400 before any command is built."""
    for resp in _host_answers("/api/x?host=--all-hosts", "/api/x?host=a%20b", "/api/x?host=-x"):
        assert resp.status_code == 400 and "`host` must be a Docker host name" in resp.json()["error"]
