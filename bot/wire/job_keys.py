"""Which job keys this process holds, from its settings: the web signs, a worker only checks.

The web needs DOCKERVERSE_SIGNING_KEY (and refuses to start with only a verify key: it could
enqueue nothing a worker would run). A worker takes DOCKERVERSE_VERIFY_KEY and refuses to start
when DOCKERVERSE_SIGNING_KEY is in its environment: a worker never signs, so the key could only
be there by mistake, and a mistake that lets whoever owns this host mint admin jobs for every
host is one to stop at, not to log and carry on with. With neither variable set, the legacy
shared DOCKERVERSE_JOB_KEY is used for both, with a warning.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.core.errors import DockerverseError
from bot.core.keys import hook_variable, key_problem
from bot.core.settings import Settings
from bot.wire.signing import HmacKey, Signer, SigningKey, Verifier, VerifyKeys, parse_signing_key, parse_verify_keys

if TYPE_CHECKING:
    from bot.core.policy import Policy

SIGNING = "DOCKERVERSE_SIGNING_KEY"
VERIFY = "DOCKERVERSE_VERIFY_KEY"
LEGACY_WARNING = (
    "DOCKERVERSE_JOB_KEY is a shared secret: every worker that holds it can also sign jobs, so whoever owns "
    "one worker's host can mint admin jobs for every host. Switch to Ed25519: run `dockerverse keygen`, give "
    "DOCKERVERSE_SIGNING_KEY to the web only and DOCKERVERSE_VERIFY_KEY to the workers, then unset "
    "DOCKERVERSE_JOB_KEY."
)
IGNORED = (
    "DOCKERVERSE_JOB_KEY is set too and is ignored: unset it, so no process holds a key any worker could sign with."
)


@dataclass(frozen=True)
class WebKeys:
    signer: Signer  # jobs, and the records the web writes for workers (follow keep-alives, Stop)
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class WorkerKeys:
    verifier: Verifier  # checks jobs and the web's records
    legacy: bool  # True: the shared DOCKERVERSE_JOB_KEY (then it also seals the worker's own records)
    warnings: tuple[str, ...] = ()


def web_keys(settings: Settings) -> WebKeys:
    """The web's signer; a DockerverseError naming the variable when it has none or a malformed one."""
    also = parse_verify_keys(VERIFY, settings.verify_key) if settings.verify_key else VerifyKeys(())
    if settings.signing_key:
        key = parse_signing_key(SIGNING, settings.signing_key, also)
        return WebKeys(key, (IGNORED,) if settings.job_key else ())
    if settings.verify_key:
        raise DockerverseError(
            f"{VERIFY} is set but {SIGNING} is not: the web signs jobs and needs the private key (workers take "
            f"the public one). Set {SIGNING} to the `ed25519sk_...` line `dockerverse keygen` printed with it."
        )
    return WebKeys(HmacKey(settings.require_job_key()), (LEGACY_WARNING,))


def worker_keys(settings: Settings) -> WorkerKeys:
    """What a worker checks jobs with; a DockerverseError when it holds the private key or nothing usable."""
    if settings.signing_key:
        raise DockerverseError(
            f"{SIGNING} is set for this worker: workers must hold only the public key, or whoever owns this host "
            f"can mint jobs for every host. Remove it from this worker's environment and .env, and set {VERIFY}="
            "ed25519pk_... instead. If it has been on this host, make a new pair with `dockerverse keygen` and rotate."
        )
    if settings.verify_key:
        keys = parse_verify_keys(VERIFY, settings.verify_key)
        return WorkerKeys(keys, legacy=False, warnings=(IGNORED,) if settings.job_key else ())
    return WorkerKeys(HmacKey(settings.require_job_key()), legacy=True, warnings=(LEGACY_WARNING,))


def describe(settings: Settings) -> tuple[bool, str]:
    """For `doctor`: (ok, what this environment holds), without saying which process reads it."""
    if settings.signing_key or settings.verify_key:
        parts, public = [], ""
        if settings.signing_key:
            key = web_keys(settings).signer
            public = key.public if isinstance(key, SigningKey) else "?"
            parts.append(f"{SIGNING} set (its public key: {public}): for the web only")
        if settings.verify_key:
            texts = parse_verify_keys(VERIFY, settings.verify_key).texts()
            parts.append(f"{VERIFY}: {len(texts)} public key(s)")
            if settings.signing_key and public not in texts:
                return False, (
                    f"{VERIFY} does not hold the public half of {SIGNING} ({public}): workers given it refuse "
                    "every job this web signs. Put that key in the workers' DOCKERVERSE_VERIFY_KEY (old,new)."
                )
        return True, "Ed25519, " + "; ".join(parts)
    settings.require_job_key()
    return False, LEGACY_WARNING


def local_sealer(settings: Settings) -> Signer:
    """What a worker seals the records only its own machine's workers read (quiet marks, redeploy journals).

    Not the web's key: a worker has only the public half, which cannot sign. A shared secret among
    workers would let one machine forge another's journal (and have it remove a container), so each
    machine makes its own (bot/local_state.worker_secret), kept in DOCKERVERSE_STATE_DIR. The price: a
    journal outlives a worker only on the same machine (keep the state directory on a volume when
    the worker runs in a container). Legacy mode keeps sealing with the shared job key, as before.
    """
    keys = worker_keys(settings)
    if keys.legacy:
        return HmacKey(settings.require_job_key())
    from bot.core.local_state import worker_secret  # file I/O, only for workers

    return HmacKey(worker_secret())


def secret_problems(settings: Settings, policy: Policy) -> list[str]:
    """What is wrong with the web's secrets: the job signing key, the API token, each hook's secret.

    Unset optional secrets are fine: /api/* or that hook answers 503 until they are set.
    """
    found = []
    for check in (lambda: web_keys(settings), settings.api_token_key):
        try:
            check()
        except DockerverseError as exc:
            found.append(exc.message)
    for hook in policy.hooks.values():
        secret = settings.lookup(hook.secret_env)
        problem = key_problem(hook_variable(hook), secret, hook.schemes) if secret else None
        if problem:
            found.append(problem)
    return found
