"""From one Docker event to the alerts the policy's `notify:` asks for, posted once.

A channel gets one root message per incident with a container: its death (with the last log
lines in the thread and Logs and Restart buttons), running out of memory, turning unhealthy, or
a restart loop. What follows the root goes in its thread or edits it: a container Docker keeps
restarting is not posted at every death; when its restarts reach the rule's count within its
minutes, the root becomes the restart-loop alert, and a note follows in the thread once it has
gone that long without a restart. Deaths the bot caused itself (stop, restart, rm) are quiet.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

import redis

from bot.core.errors import DockerverseError, NotFound
from bot.core.notify import NotifyRule, rules_for
from bot.wire.signing import Verifier
from workers.alerts import messages as msg
from workers.alerts import quiet
from workers.alerts.incidents import Incidents
from workers.alerts.messages import Facts
from workers.docker.gateway import DockerGateway
from workers.slack.reply import SlackReplier

log = logging.getLogger(__name__)
LOG_LINES = 20  # last log lines put in an alert's thread
LONG = 24 * 3600  # seconds an unhealthy or looping incident stays open without news
STALE_BEGIN = 60.0  # seconds a loop alert may take to be posted before its claim is dropped


class Alerter:
    def __init__(
        self,
        conn: redis.Redis,
        gateway: DockerGateway,
        replier: SlackReplier,
        host: str,
        rules: Sequence[NotifyRule],
        seal_key: Verifier,
    ) -> None:
        self.conn, self.gw, self.slack, self.host, self.rules = conn, gateway, replier, host, tuple(rules)
        self.seal_key = seal_key  # checks the quiet marks the bot's own stops leave
        self.state = Incidents(conn, host)
        # Restarts are kept as long as the longest window any rule looks at.
        self.keep = max((r.restart_loop.seconds for r in self.rules), default=300.0)

    def handle(self, event: dict[str, Any]) -> None:
        action = str(event.get("Action") or event.get("status") or "")
        container_id = str((event.get("Actor") or {}).get("ID") or event.get("id") or "")
        if not container_id:
            return
        if action == "die":
            self._die(event, container_id)
        elif action == "oom":
            self._oom(event, container_id)
        elif action == "start":
            self._start(event, container_id)
        elif action.startswith("health_status"):
            self._health(event, container_id, action.partition(":")[2].strip())

    # --- Docker and Slack --------------------------------------------------------------------------

    def _inspect(self, container_id: str) -> dict[str, Any] | None:
        try:
            return self.gw.inspect(container_id)
        except NotFound:
            return None  # removed already (`docker run --rm`): the event's own attributes must do
        except DockerverseError as exc:
            log.warning("alert without details: %s", exc.message)
            return None

    def _logs(self, container_id: str) -> list[str] | None:
        try:
            return self.gw.logs(container_id, tail=LOG_LINES, since=None)[1]
        except DockerverseError:
            return None

    def _post(self, channel: str, message: msg.Message, f: Facts, logs: bool) -> str | None:
        text, blocks = message
        ts = self.slack.post(channel, text, blocks)
        if ts and logs:
            self.slack.post(channel, msg.log_lines(f.name, self._logs(f.id), LOG_LINES), thread_ts=ts)
        return ts

    # --- events --------------------------------------------------------------------------------------

    def _die(self, event: dict[str, Any], container_id: str) -> None:
        if quiet.take(self.conn, self.seal_key, self.host, container_id):
            log.info("container %s was stopped by the bot: no alert", container_id[:12])
            return
        info = self._inspect(container_id)
        f = msg.facts(self.host, event, info)
        self.state.died(container_id, f.at, f.exit_code)
        if not f.exit_code and not f.oom_killed:
            return  # a clean exit is no news
        labels = msg.labels_of(event, info)
        told: set[str] = set()
        if f.oom_killed:  # the `oom` event may have been posted already (cgroup v2 may not send one)
            for channel, rule in rules_for(self.rules, "oom", f.name, labels).items():
                told.add(channel)
                incident = self.state.incident(channel, container_id)
                if incident is None:
                    self._open(channel, rule, f, msg.out_of_memory(f), "oom")
                elif incident.kind == "oom" and not incident.noted and not f.will_restart:
                    self.slack.post(channel, msg.exited_after(f), thread_ts=incident.ts)
                    self.state.update(channel, container_id, rule.restart_loop.seconds, noted="1")
        for channel, rule in rules_for(self.rules, "die", f.name, labels).items():
            if channel in told:
                continue
            incident = self.state.incident(channel, container_id)
            if incident is not None and incident.kind in ("die", "loop", "oom"):
                # Docker is restarting it: counted, not posted again (the root is edited into a loop alert).
                self.state.update(channel, container_id, LONG if incident.kind == "loop" else rule.restart_loop.seconds)
                continue
            self._open(channel, rule, f, msg.died(f), "die")

    def _open(self, channel: str, rule: NotifyRule, f: Facts, message: msg.Message, kind: str) -> None:
        ts = self._post(channel, message, f, logs=True)
        # Only a container that comes back (restart policy) or still runs can have a sequel worth a thread.
        if ts and (f.will_restart or kind == "oom"):
            self.state.open(channel, f.id, ts, kind, rule.restart_loop.seconds)

    def _oom(self, event: dict[str, Any], container_id: str) -> None:
        info = self._inspect(container_id)
        f = msg.facts(self.host, event, info)
        for channel, rule in rules_for(self.rules, "oom", f.name, msg.labels_of(event, info)).items():
            incident = self.state.incident(channel, container_id)
            if incident is not None and incident.kind in ("oom", "die", "loop"):
                self.state.update(channel, container_id, LONG if incident.kind == "loop" else rule.restart_loop.seconds)
                continue
            self._open(channel, rule, f, msg.out_of_memory(f), "oom")

    def _start(self, event: dict[str, Any], container_id: str) -> None:
        f = msg.facts(self.host, event, None)
        restarted, last_exit = self.state.restarted(container_id, f.at, self.keep)
        if not restarted:
            return
        labels = msg.labels_of(event, None)
        for channel, rule in rules_for(self.rules, "restart_loop", f.name, labels).items():
            loop = rule.restart_loop
            count = self.state.restarts_since(container_id, f.at - loop.seconds)
            begun = {"name": f.name, "begun": f.at}
            if count < loop.count or not self.state.begin_loop(channel, container_id, begun):
                continue
            info = self._inspect(container_id)
            facts = dataclasses.replace(msg.facts(self.host, event, info), exit_code=last_exit)
            text, blocks = msg.restart_loop(facts, count, loop.minutes)
            incident = self.state.incident(channel, container_id)
            if incident is not None and self.slack.update(channel, incident.ts, text, blocks):
                ts: str | None = incident.ts  # the death it began with becomes the loop alert
            else:
                ts = self._post(channel, (text, blocks), facts, logs=True)
            self.state.set_loop(channel, container_id, {"name": f.name, "ts": ts, "minutes": loop.minutes, "at": f.at})
            if ts:
                self.state.open(channel, container_id, ts, "loop", LONG)

    def _health(self, event: dict[str, Any], container_id: str, status: str) -> None:
        if status not in ("healthy", "unhealthy"):
            return
        info = self._inspect(container_id) if status == "unhealthy" else None
        f = msg.facts(self.host, event, info)
        for channel in rules_for(self.rules, "unhealthy", f.name, msg.labels_of(event, info)):
            incident = self.state.incident(channel, container_id)
            if status == "healthy":
                if incident is not None and incident.kind == "unhealthy":
                    self.slack.post(channel, msg.healthy_again(f), thread_ts=incident.ts)
                    self.state.close(channel, container_id)
                continue
            ts = self._post(channel, msg.unhealthy(f), f, logs=False)
            if ts and (incident is None or incident.kind != "loop"):
                self.state.open(channel, container_id, ts, "unhealthy", LONG)

    # --- time passing -------------------------------------------------------------------------------

    def tick(self, now: float) -> None:
        """Restart loops that have gone their window without a restart: one note each, in their thread."""
        for (channel, container_id), loop in self.state.loops().items():
            if "minutes" not in loop:  # being started right now, unless its starter failed half-way:
                if now - float(loop.get("begun") or 0) > STALE_BEGIN:  # then free it for the next loop
                    self.state.end_loop(channel, container_id)
                continue
            minutes = float(loop["minutes"])
            last = self.state.last_restart(container_id) or float(loop.get("at") or 0)
            if now - last < minutes * 60:
                continue
            info = self._inspect(container_id)
            if info is not None and (info.get("State") or {}).get("Restarting"):
                continue  # Docker's back-off between restarts grew longer than the window: still looping
            if not self.state.end_loop(channel, container_id):
                continue
            event = {"Actor": {"ID": container_id, "Attributes": {"name": loop.get("name", "")}}, "time": now}
            note = msg.loop_ended(msg.facts(self.host, event, info), minutes)
            self.slack.post(channel, note, thread_ts=loop.get("ts") or None)
            self.state.close(channel, container_id)
