"""Ed25519 job keys: the web signs, workers only verify, keys rotate, malformed keys stop the process (pure)."""

from __future__ import annotations

import re

import pytest

from bot.cli.main import main
from bot.core import commands as c
from bot.core.errors import DockerverseError
from bot.core.policy import Actor
from bot.core.settings import Settings
from bot.wire.job_keys import IGNORED, LEGACY_WARNING, describe, web_keys, worker_keys
from bot.wire.payload import ReplyTo, Unsigned, envelope, new_payload, open_envelope
from bot.wire.signing import HmacKey, generate, parse_signing_key, parse_verify_keys

OLD, OLD_PUB = generate()
NEW, NEW_PUB = generate()
LEGACY = "legacy-job-key-0123456789abcdef0123"


def test_a_job_signed_by_the_web_verifies_with_only_the_public_key() -> None:
    """A worker holding the public key accepts the web's signature, and the public key has no way to sign."""
    web = parse_signing_key("DOCKERVERSE_SIGNING_KEY", OLD)
    worker = parse_verify_keys("DOCKERVERSE_VERIFY_KEY", OLD_PUB)
    p = new_payload("job1", "help", c.Help(), Actor("U1", "shell"), ReplyTo(), "local")
    assert open_envelope(worker, envelope(web, p), "job1") == p
    assert not hasattr(worker, "sign")


def test_a_job_signed_with_another_key_or_changed_is_refused() -> None:
    """A wrong Ed25519 key, a shared HMAC key, or one changed byte: the worker refuses the payload."""
    worker = parse_verify_keys("DOCKERVERSE_VERIFY_KEY", OLD_PUB)
    p = new_payload("job1", "help", c.Help(), Actor("U1", "shell"), ReplyTo(), "local", admin=True)
    for key in (parse_signing_key("K", NEW), HmacKey(LEGACY.encode())):
        with pytest.raises(Unsigned):
            open_envelope(worker, envelope(key, p), "job1")
    good = envelope(parse_signing_key("K", OLD), p)
    with pytest.raises(Unsigned):
        open_envelope(worker, {**good, "payload": {**good["payload"], "host": "prod"}}, "job1")
    with pytest.raises(Unsigned):
        open_envelope(worker, {**good, "sig": good["sig"][:-2] + "!!"}, "job1")


def test_rotation_old_and_new_verify_keys_accept_both_signers() -> None:
    """With "old,new" a worker accepts jobs signed by either key; with "new" alone, only the new one."""
    both = parse_verify_keys("DOCKERVERSE_VERIFY_KEY", f"{OLD_PUB}, {NEW_PUB}")
    only_new = parse_verify_keys("DOCKERVERSE_VERIFY_KEY", NEW_PUB)
    old_sig = parse_signing_key("K", OLD).sign(b"job")
    new_sig = parse_signing_key("K", NEW).sign(b"job")
    assert both.verify(b"job", old_sig) and both.verify(b"job", new_sig)
    assert only_new.verify(b"job", new_sig) and not only_new.verify(b"job", old_sig)


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("DOCKERVERSE_SIGNING_KEY", OLD_PUB, "holds a public key"),
        ("DOCKERVERSE_SIGNING_KEY", "ed25519sk_tooShort", "is not an Ed25519 private key"),
        ("DOCKERVERSE_SIGNING_KEY", "0" * 64, "is not an Ed25519 private key"),
        ("DOCKERVERSE_VERIFY_KEY", OLD, "holds a private key"),
        ("DOCKERVERSE_VERIFY_KEY", OLD_PUB + "x", "is not an Ed25519 public key"),
        ("DOCKERVERSE_VERIFY_KEY", f"{OLD_PUB},{NEW_PUB},{OLD_PUB}", "lists 3 keys"),
        ("DOCKERVERSE_VERIFY_KEY", " , ", "is empty"),
    ],
)
def test_a_malformed_key_is_refused_naming_its_variable(variable: str, value: str, says: str) -> None:
    """Each malformed key stops the process with the variable's name and how to make a pair."""
    env = {"DOCKERVERSE_SIGNING_KEY": OLD} if variable == "DOCKERVERSE_VERIFY_KEY" else {}
    with pytest.raises(DockerverseError) as err:
        web_keys(Settings(**{**env, variable: value}))
    assert err.value.message.startswith(f"{variable} ") and says in err.value.message
    assert "dockerverse keygen" in err.value.message or "Drop the keys" in err.value.message


def test_the_web_refuses_only_a_verify_key_and_a_worker_refuses_a_signing_key() -> None:
    """The web needs the private key; a worker holding it could mint jobs, so it does not start."""
    with pytest.raises(DockerverseError, match="DOCKERVERSE_VERIFY_KEY is set but DOCKERVERSE_SIGNING_KEY is not"):
        web_keys(Settings(DOCKERVERSE_VERIFY_KEY=OLD_PUB))
    with pytest.raises(DockerverseError, match="DOCKERVERSE_SIGNING_KEY is set for this worker"):
        worker_keys(Settings(DOCKERVERSE_SIGNING_KEY=OLD, DOCKERVERSE_VERIFY_KEY=OLD_PUB))
    assert worker_keys(Settings(DOCKERVERSE_VERIFY_KEY=OLD_PUB)).warnings == ()


def test_the_legacy_shared_key_still_works_with_a_warning() -> None:
    """With only DOCKERVERSE_JOB_KEY both sides use it, warning that workers can mint; beside new keys it is ignored."""
    web, worker = web_keys(Settings(DOCKERVERSE_JOB_KEY=LEGACY)), worker_keys(Settings(DOCKERVERSE_JOB_KEY=LEGACY))
    assert web.warnings == worker.warnings == (LEGACY_WARNING,) and worker.legacy
    assert "every worker that holds it can also sign jobs" in LEGACY_WARNING
    assert worker.verifier.verify(b"m", web.signer.sign(b"m"))
    assert web_keys(Settings(DOCKERVERSE_JOB_KEY=LEGACY, DOCKERVERSE_SIGNING_KEY=OLD)).warnings == (IGNORED,)
    assert describe(Settings(DOCKERVERSE_JOB_KEY=LEGACY)) == (False, LEGACY_WARNING)


def test_doctor_says_when_the_verify_keys_miss_the_webs_own_public_key() -> None:
    """A web whose verify keys do not hold its own public key would have every job refused: doctor says so."""
    ok, what = describe(Settings(DOCKERVERSE_SIGNING_KEY=OLD, DOCKERVERSE_VERIFY_KEY=NEW_PUB))
    assert not ok and OLD_PUB in what
    ok, what = describe(Settings(DOCKERVERSE_SIGNING_KEY=OLD, DOCKERVERSE_VERIFY_KEY=f"{OLD_PUB},{NEW_PUB}"))
    assert ok and "2 public key(s)" in what


def test_keygen_prints_env_lines_that_parse_as_a_matching_pair(capsys: pytest.CaptureFixture[str]) -> None:
    """`dockerverse keygen` prints the two variables as env-file lines; the pair signs and verifies."""
    assert main(["keygen"]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln and not ln.startswith("#")]
    env = dict(ln.split("=", 1) for ln in lines)
    assert set(env) == {"DOCKERVERSE_SIGNING_KEY", "DOCKERVERSE_VERIFY_KEY"}
    assert re.fullmatch(r"ed25519sk_[A-Za-z0-9_-]{43}", env["DOCKERVERSE_SIGNING_KEY"])
    assert re.fullmatch(r"ed25519pk_[A-Za-z0-9_-]{43}", env["DOCKERVERSE_VERIFY_KEY"])
    signer = web_keys(Settings(**env)).signer
    assert worker_keys(Settings(DOCKERVERSE_VERIFY_KEY=env["DOCKERVERSE_VERIFY_KEY"])).verifier.verify(
        b"m", signer.sign(b"m")
    )
