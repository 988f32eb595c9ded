"""`redeploy`: a fresh image into a running container's place, proven healthy, or rolled back.

The order keeps a working container at every step:
1. pull the image (the container's own reference again when no --image: a moving tag like
   `:main` picks up the new build); the old container keeps serving meanwhile;
2. create the new container under a temporary name, configured like the old one;
3. stop the old one and rename it aside (it is not deleted), give the new one the name, start it;
4. prove it: running, and `healthy` when it has a health check, within --health-timeout; with
   none, still running (not restarting) after a short settle time;
5. proven: the old container is removed. Not proven: the new one is removed, the old one gets
   its name back and is started again, and the job fails saying why.

One redeploy per container at a time: a Redis key (SET NX, with the job's timeout) is both the
lock and the journal of what was done. A worker killed half-way leaves that journal behind; any
worker of the host finds it once the dead worker's liveness key lapses and reverts (`recover`).
The journal is sealed (bot/wire/sealed.py): a forged one is ignored, and recovery removes only a new
container carrying the job's own label, and an old one only once that new one holds the name.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

import redis

from bot.core import commands as c
from bot.core.errors import DockerFailure, DockerverseError, PolicyError
from bot.core.policy import check_image_allowed
from bot.core.slack_text import code, escape, unescape
from bot.core.units import format_duration
from bot.wire.job_state import as_str
from bot.wire.payload import Payload
from bot.wire.sealed import seal, unseal
from bot.wire.signing import Signer
from workers.alerts import quiet
from workers.commands.handlers import ownership
from workers.docker import privileges
from workers.docker.gateway import LABEL_JOB, DockerGateway
from workers.runtime import progress
from workers.runtime.reaper import ALIVE_PREFIX
from workers.slack.render import Outcome, code_block

log = logging.getLogger(__name__)

PREFIX = "dockerverse:redeploy:"
CLAIM_PREFIX = "dockerverse:redeploy-recovering:"  # apart from PREFIX, so scans never see claims
SETTLE = 5.0  # seconds a container without a health check must keep running to count as up
POLL = 0.5
LOG_LINES = 15
MARGIN = 60.0  # seconds of the job's timeout kept for a rollback after the health gate

# The journal is changed or deleted only by the job that holds it (a recovering worker may have
# taken it over meanwhile): compare the job id and act in one step.
_IF_OURS = """
local raw = redis.call('GET', KEYS[1])
if not raw or cjson.decode(raw)['d']['job'] ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL') end
return 1
"""


def journal_key(host: str, name: str) -> str:
    return f"{PREFIX}{host}:{name}"


class TakenOver(DockerFailure):
    """The journal is no longer this job's: another worker judged it dead and put the old container back."""


@dataclass
class Journal:
    """The lock and the record of a redeploy in flight, kept in Redis."""

    conn: redis.Redis
    seal_key: Signer
    key: str
    data: dict[str, Any]
    expires: float

    def sealed(self) -> str:
        return seal(self.seal_key, self.key, self.data, ttl=max(1.0, self.expires - time.time()))

    def note(self, **changes: Any) -> bool:
        """Record progress; False when the journal is not ours any more."""
        self.data.update(changes)
        return bool(self.conn.eval(_IF_OURS, 1, self.key, self.data["job"], self.sealed()))

    def release(self) -> None:
        self.conn.eval(_IF_OURS, 1, self.key, self.data["job"], "")


def acquire(conn: redis.Redis, seal_key: Signer, host: str, name: str, data: dict[str, Any], ttl: int) -> Journal:
    key = journal_key(host, name)
    journal = Journal(conn, seal_key, key, data, time.time() + ttl)
    if conn.set(key, journal.sealed(), nx=True, ex=ttl):
        return journal
    held = _load(seal_key, key, conn.get(key)) or {}
    since = format_duration(time.time() - float(held.get("since", time.time())))
    raise DockerFailure(
        f"{code(name)} on {code(host)} is already being redeployed by {held.get('actor', 'someone')} "
        f"(job {code(str(held.get('job', '?'))[:12])}, started {since} ago). Wait for it to finish, then try again."
    )


def _load(seal_key: Signer, key: str, raw: Any) -> dict[str, Any] | None:
    data = unseal(seal_key, key, raw)
    return data if isinstance(data, dict) else None


def redeploy(
    gw: DockerGateway, cmd: c.Redeploy, p: Payload, conn: redis.Redis, seal_key: Signer, worker: str, ttl: int
) -> Outcome:
    began = time.monotonic()
    old = gw.inspect(cmd.target)
    name = str(old.get("Name", "")).lstrip("/")
    row = gw.container(old["Id"])
    ask = ownership(row, "redeploy", p)  # refuses outright, or asks an admin to confirm below
    image = cmd.image or str((old.get("Config") or {}).get("Image") or "")
    if not image or image.startswith("sha256:"):
        raise DockerFailure(
            f"{code(name)} was created from an image id, not a name, so there is no tag to pull again: "
            f"say which image with {code(f'redeploy {name} --image REPO:TAG')}."
        )
    try:
        check_image_allowed(image, cmd.allow, "the policy")
    except PolicyError as exc:
        raise PolicyError(f"{exc.message} Nothing was changed.") from None
    if (old.get("HostConfig") or {}).get("AutoRemove"):
        raise DockerFailure(
            f"{code(name)} was started with auto-remove (`--rm`): stopping it would delete it, so it could not be "
            "kept for a rollback. Nothing was changed. Recreate it without `--rm`, then redeploy."
        )
    question = privileges.gate(name, privileges.found(old), cmd.inherit_privileges, p)
    if ask or question:  # one confirmation covers both
        return Outcome(True, " ".join(q for q in (question, ask.summary if ask else None) if q), confirm=True)

    journal = acquire(
        conn,
        seal_key,
        gw.host_name,
        name,
        {
            "job": p.id,
            "worker": worker,
            "actor": p.actor.display,
            "since": time.time(),
            "name": name,
            "old_id": old["Id"],
            "phase": "pulling",
        },
        ttl,
    )
    try:
        outcome = _swap(gw, cmd, p, old, name, image, journal, began, ttl)
    except DockerverseError as exc:
        if journal.data.get("phase") in ("pulling", "restored"):
            journal.release()
            raise
        _hand_over(journal)
        raise type(exc)(
            f"{exc.message} The redeploy of {code(name)} stopped half-way: a worker of {code(gw.host_name)} puts the "
            "previous container back as soon as Docker answers (within about 20 s of that)."
        ) from None
    except BaseException:
        # Whatever escaped (Docker gone mid-way, the job's timeout, a shutdown) leaves the journal to
        # `recover` unless nothing had been touched yet or the old container is back already.
        if journal.data.get("phase") in ("pulling", "restored"):
            journal.release()
        else:
            _hand_over(journal)
        raise
    journal.release()
    return outcome


def _hand_over(journal: Journal) -> None:
    """Leave a half-done swap to `recover`, which takes journals whose worker is not alive."""
    with contextlib.suppress(Exception):
        journal.note(worker="")


def _swap(
    gw: DockerGateway,
    cmd: c.Redeploy,
    p: Payload,
    old: dict[str, Any],
    name: str,
    image: str,
    journal: Journal,
    began: float,
    ttl: int,
) -> Outcome:
    steps: list[str] = []

    def step(text: str) -> None:
        steps.append(f"{format_duration(time.monotonic() - began):>6}  {text}")
        progress.report(f"Redeploying {code(name)} on {code(gw.host_name)}: {escape(text)}")

    step(f"pulling {image}")
    try:
        digest = gw.pull(image, lambda text: progress.report(f"Redeploying {code(name)}: {text}"))
    except DockerverseError as exc:
        raise type(exc)(f"{exc.message} Nothing was changed: {code(name)} still runs as before.") from None
    step(f"pulled {digest}")

    suffix = p.id[:8]
    aside, fresh = f"{name}-previous-{suffix}", f"{name}-next-{suffix}"
    try:
        new_id = gw.create_like(old, image, fresh, {LABEL_JOB: p.id})
    except DockerverseError as exc:
        raise type(exc)(f"{exc.message} Nothing was changed: {code(name)} still runs as before.") from None
    old_id = str(old["Id"])
    was_running = bool((old.get("State") or {}).get("Running"))
    if not journal.note(phase="swapping", new_id=new_id, aside=aside, was_running=was_running):
        gw.discard(new_id)
        raise TakenOver(f"The redeploy of {code(name)} lost its lock before the swap. Nothing was changed; try again.")
    try:
        step("stopping the old container")
        with quiet.ours(gw.host_name, old_id):  # the stop is ours: no alert
            gw.stop(old_id, int((old.get("Config") or {}).get("StopTimeout") or 10))
        gw.rename(old_id, aside)
        gw.rename(new_id, name)
        step("starting the new container")
        gw.start(new_id)
        journal.note(phase="proving")
        # The job's own timeout must leave room to roll back.
        budget = max(SETTLE, min(cmd.health_timeout, began + ttl - MARGIN - time.monotonic()))
        proven, reason = prove(gw, new_id, budget, step)
    except DockerverseError as exc:
        # `reason` is plain text (it also goes in a ``` block and the JSON): the message back to characters.
        proven, reason = False, f"Docker failed during the swap: {unescape(exc.message)}"
    except BaseException:
        with contextlib.suppress(Exception):
            if restore(gw, name, old_id, new_id, p.id, was_running):
                journal.data["phase"] = "restored"
        raise
    if not proven:
        return _rollback(gw, p, name, image, old_id, new_id, was_running, reason, steps, journal, began)

    if not journal.note(phase="committed"):
        raise TakenOver(
            f"{code(name)} proved healthy, but meanwhile another worker judged this one dead and put the previous "
            "container back. Check `list --all`, then redeploy again."
        )
    lines = _last_lines(gw, new_id)
    leftover = ""
    try:
        gw.discard(old_id)
        step("removed the old container")
    except DockerverseError as exc:
        leftover = f" The old container could not be removed ({exc.message}): remove {code(aside)} by hand."
    took = format_duration(time.monotonic() - began)
    thread = (code_block(steps),) + ((f"Last lines of {code(name)}:\n" + code_block(lines),) if lines else ())
    return Outcome(
        True,
        f"Redeployed {code(name)} on {code(gw.host_name)} to {code(image)} in {took}: {escape(reason)}",
        f"Digest {code(digest)}." + (leftover or " The old container is removed."),
        thread=thread,
        data={"name": name, "id": new_id, "image": image, "digest": digest, "rolled_back": False},
    )


def prove(gw: DockerGateway, cid: str, timeout: float, step: Any) -> tuple[bool, str]:
    """Running, and healthy if it has a health check (else still up after SETTLE), within `timeout`."""
    started = time.monotonic()
    deadline = started + timeout
    has_check = bool(
        ((gw.inspect(cid).get("Config") or {}).get("Healthcheck") or {}).get("Test") not in (None, [], ["NONE"])
    )
    shown = -1
    while True:
        state: dict[str, Any] = gw.inspect(cid).get("State") or {}
        if state.get("Restarting") or int(state.get("RestartCount") or 0) > 0 or state.get("Status") == "restarting":
            return False, "it keeps restarting (crash loop)"
        if not state.get("Running"):
            return False, f"it exited with code {state.get('ExitCode')}{_oom(state)}"
        if has_check:
            health: dict[str, Any] = state.get("Health") or {}
            checks = health.get("Log") or []
            passed = sum(1 for h in checks if h.get("ExitCode") == 0)
            if len(checks) != shown:
                shown = len(checks)
                step(
                    f"health checks: {passed} of {len(checks)} passed"
                    if checks
                    else "waiting for its first health check"
                )
            if health.get("Status") == "healthy":
                return True, f"healthy after {len(checks)} check{'s' if len(checks) != 1 else ''}"
            if health.get("Status") == "unhealthy":
                return False, f"its health check failed: {_health_output(checks)}"
        elif time.monotonic() - started >= min(SETTLE, timeout):
            return True, f"up for {format_duration(time.monotonic() - started)} (it has no health check)"
        if time.monotonic() >= deadline:
            last = _health_output((state.get("Health") or {}).get("Log") or []) if has_check else ""
            return False, f"not healthy within {format_duration(timeout)}" + (f"; last check: {last}" if last else "")
        time.sleep(POLL)


def _oom(state: dict[str, Any]) -> str:
    return " (out of memory)" if state.get("OOMKilled") else ""


def _health_output(checks: list[dict[str, Any]]) -> str:
    if not checks:
        return "no check has run yet"
    last = checks[-1]
    output = str(last.get("Output") or "").strip() or "(no output)"
    return f"exit code {last.get('ExitCode')}: {output[:300]}"


def _last_lines(gw: DockerGateway, cid: str) -> list[str]:
    try:
        return gw.logs(cid, tail=LOG_LINES, since=None)[1]
    except DockerverseError:
        return []


def _rollback(
    gw: DockerGateway,
    p: Payload,
    name: str,
    image: str,
    old_id: str,
    new_id: str,
    was_running: bool,
    reason: str,
    steps: list[str],
    journal: Journal,
    began: float,
) -> Outcome:
    journal.note(phase="rolling back")
    lines = _last_lines(gw, new_id)
    steps.append(f"{format_duration(time.monotonic() - began):>6}  not proven: {reason}; rolling back")
    progress.report(f"Rolling back {code(name)} on {code(gw.host_name)}: {escape(reason)}")
    back = restore(gw, name, old_id, new_id, p.id, was_running)
    journal.data["phase"] = "restored"
    after = (
        "The previous container is running again."
        if back
        else f"The previous container is gone, so the new one was kept as {code(name)}: "
        f"check it with {code('logs ' + name)}."
    )
    steps.append(f"{format_duration(time.monotonic() - began):>6}  {after}")
    thread = (code_block(steps),) + (("Last lines of the new container:\n" + code_block(lines),) if lines else ())
    return Outcome(
        False,
        f"Rolled back {code(name)} on {code(gw.host_name)}: the new container from {code(image)} "
        f"did not prove healthy: {escape(reason)}. {after}",
        thread=thread,
        data={"name": name, "id": old_id if back else new_id, "image": image, "rolled_back": back, "reason": reason},
    )


def _made_by(gw: DockerGateway, cid: str | None, job: str) -> dict[str, Any] | None:
    """The container's inspect when it carries ``job``'s label (the redeploy made it), else None."""
    found = gw.find(cid) if cid else None
    labels = ((found or {}).get("Config") or {}).get("Labels") or {}
    return found if labels.get(LABEL_JOB) == job else None


def restore(gw: DockerGateway, name: str, old_id: str, new_id: str | None, job: str, was_running: bool = True) -> bool:
    """Back to the old container from any point of a swap: the new one goes, the old one gets its name back
    (and runs, if it ran). Idempotent. False when the old container is gone: the new one is then kept.
    Only a new container carrying the job's own label is ever removed."""
    if new_id and _made_by(gw, new_id, job) is None:
        new_id = None  # not the one this job made (or gone already): never touched
    old = gw.find(old_id)
    if old is None:
        log.error("redeploy of %s: the old container %s is gone; keeping the new one", name, old_id[:12])
        if new_id and (new := gw.find(new_id)) is not None:
            if str(new.get("Name", "")).lstrip("/") != name:
                gw.rename(new_id, name)
            if not (new.get("State") or {}).get("Running"):
                gw.start(new_id)
        return False
    if new_id:
        quiet.mark(gw.host_name, new_id)
        gw.discard(new_id)
    if str(old.get("Name", "")).lstrip("/") != name:
        gw.rename(old_id, name)
    if was_running and not (old.get("State") or {}).get("Running"):
        gw.start(old_id)
    return True


def recover(conn: redis.Redis, seal_key: Signer, gw: DockerGateway) -> int:
    """Finish the redeploys on this host whose worker died mid-way (its liveness key lapsed): revert
    them, or, once the new container had proved itself (`committed`), just remove the old one."""
    done = 0
    for raw in conn.scan_iter(match=journal_key(gw.host_name, "*"), count=100):
        key = as_str(raw)
        data = _load(seal_key, key, conn.get(key))  # a forged or tampered journal is logged and ignored
        if data is None or not data.get("job") or conn.exists(ALIVE_PREFIX + str(data.get("worker"))):
            continue  # gone meanwhile, or its worker is still at it
        claim = CLAIM_PREFIX + key.removeprefix(PREFIX)
        if not conn.set(claim, b"1", nx=True, ex=120):
            continue  # another worker of this host is on it
        try:
            phase = data.get("phase")
            job, old_id = str(data["job"]), str(data["old_id"])
            if phase == "committed":
                _finish_committed(gw, data, job, old_id)
            elif phase not in ("pulling", "restored"):  # before the swap nothing was touched
                restore(gw, str(data["name"]), old_id, data.get("new_id"), job, bool(data.get("was_running")))
            conn.eval(_IF_OURS, 1, key, str(data["job"]), "")
            done += 1
            log.warning(
                "finished the redeploy of %s (job %s, phase %s) left half-done by dead worker %s",
                data.get("name"),
                data.get("job"),
                phase,
                data.get("worker"),
            )
        except DockerverseError as exc:
            log.error("could not finish the redeploy of %s yet: %s", data.get("name"), exc.message)
        finally:
            conn.delete(claim)
    return done


def _finish_committed(gw: DockerGateway, data: dict[str, Any], job: str, old_id: str) -> None:
    """The new container proved itself: remove the old one, but only while the job's own new container
    holds the name and the old one is still the one it set aside."""
    new = _made_by(gw, data.get("new_id"), job)
    old = gw.find(old_id)
    if old is None:
        return
    if new is None or str(new.get("Name", "")).lstrip("/") != data.get("name"):
        log.error(
            "redeploy journal of %s says committed, but the job's new container does not hold the name: "
            "leaving %s alone",
            data.get("name"),
            old_id[:12],
        )
        return
    if str(old.get("Name", "")).lstrip("/") != data.get("aside"):
        log.error("redeploy of %s: %s is not the container set aside: leaving it alone", data.get("name"), old_id[:12])
        return
    quiet.mark(gw.host_name, old_id)
    gw.discard(old_id)
