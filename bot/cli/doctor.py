"""`dockerverse doctor`: checks the configuration, Redis, every Docker host and Slack, and says
what is wrong and how to fix it. Exit status 1 when anything is broken."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

import redis

from bot.core.errors import DockerverseError
from bot.core.keys import key_problem
from bot.core.masking import mask_text
from bot.core.notify import describe, watcher_key
from bot.core.policy import Actor, Policy, load_policy
from bot.core.settings import Settings
from bot.dispatch.dispatcher import Dispatcher
from bot.wire import job_keys
from bot.wire.hosts import workers
from bot.wire.job_state import as_str
from bot.wire.payload import ReplyTo
from bot.wire.queues import LANES, connect

OK, WARN, FAIL = "✅", "⚠️ ", "❌"


# What a host lacks without a worker on a lane (the quick lane's absence is a failure of its own).
LANE_GAPS = {
    "slow": "no slow-lane worker: stop, restart and rm --force run on the quick lane and hold up list meanwhile",
    "stream": "no stream-lane worker: log follows and pulls are refused",
}


class Doctor:
    def __init__(self, settings: Settings, out: TextIO) -> None:
        self.settings, self.out, self.failed = settings, out, False

    def say(self, mark: str, what: str) -> None:
        """Every line passes the masking module: a URL, an exception's words or a token never print."""
        self.failed |= mark == FAIL
        print(f"{mark} {mask_text(what)}", file=self.out, flush=True)

    def run(self, slack_check: Callable[[Settings], str] | None) -> int:
        policy = self.check_config()
        conn = self.check_redis()
        if conn is not None and policy is not None:
            self.check_hosts(policy, conn)
        self.check_slack(slack_check)
        print("All good." if not self.failed else "Some checks failed: fix the ❌ lines above.", file=self.out)
        return 1 if self.failed else 0

    def check_config(self) -> Policy | None:
        s = self.settings
        try:
            policy = load_policy(s.config_path)
        except DockerverseError as exc:
            for problem in exc.message.splitlines():  # one ❌ a mistake
                self.say(FAIL, f"Policy: {problem}")
            return None
        if s.config_path:
            self.say(OK, f"Policy: {s.config_path} ({len(policy.roles)} roles, {len(policy.hooks)} hooks)")
        else:
            self.say(
                WARN,
                "Policy: built-in defaults (every Slack user a viewer, nobody may change anything). "
                "Set DOCKERVERSE_CONFIG to a policy file to grant more.",
            )
        try:
            ed25519, what = job_keys.describe(s)
            self.say(OK if ed25519 else WARN, f"Job keys: {what}")
        except DockerverseError as exc:
            self.say(FAIL, f"Job keys: {exc.message}")
        for rule in policy.notify:
            self.say(OK, f"Alerts: {describe(rule)}")
        for hook in policy.hooks.values():
            secret = s.lookup(hook.secret_env)
            bad = key_problem(hook.secret_env, secret, hook.schemes) if secret else None
            if not secret:
                self.say(FAIL, f"Hook `{hook.name}`: {hook.secret_env} is not set; the hook answers 503 until it is.")
            elif bad:
                self.say(FAIL, f"Hook `{hook.name}`: {bad} The web refuses to start until it is fixed.")
            else:
                self.say(OK, f"Hook `{hook.name}`: {hook.secret_env} is set (accepts {', '.join(hook.schemes)})")
        for token in policy.tokens.values():
            if not s.lookup(token.token_env):
                self.say(FAIL, f"API token `{token.name}`: {token.token_env} is not set; that token is refused.")
        try:
            s.api_token_key()
        except DockerverseError as exc:
            self.say(FAIL, f"REST API: {exc.message} The web refuses to start until it is fixed.")
        if not s.api_token and not policy.tokens:
            self.say(WARN, "REST API: no token (DOCKERVERSE_API_TOKEN), so /api/* answers 503.")
        try:
            s.docker_environment()
        except DockerverseError as exc:
            self.say(FAIL, f"Docker: {exc.message}")
        return policy

    def check_redis(self) -> redis.Redis | None:
        url = self.settings.redis_url  # `say` masks its password
        try:
            conn = connect(self.settings.redis_url)
            info = conn.info("server")
        except (redis.RedisError, ValueError) as exc:
            self.say(
                FAIL,
                f"Redis at {url}: {type(exc).__name__}: {exc}. Check REDIS_URL (password, host, port; "
                "rediss:// for TLS, redis+sentinel://host:26379/master for Sentinel) and that Redis runs.",
            )
            return None
        self.say(OK, f"Redis at {url}: answers (Redis {info.get('redis_version', '?')})")
        return conn

    def check_hosts(self, policy: Policy, conn: redis.Redis) -> None:
        live = workers(conn)
        if not live:
            self.say(
                FAIL,
                "Docker hosts: no worker is running, so every command is refused. Start "
                "`dockerverse worker --docker-host-name NAME` on each Docker host.",
            )
            return
        if self.settings.verify_key and not self.settings.signing_key:
            self.say(
                WARN,
                "Docker hosts: not asked: only the web holds DOCKERVERSE_SIGNING_KEY, so doctor here cannot send "
                "them a job. Run `dockerverse doctor` where the web runs to ask them.",
            )
            return
        try:
            dispatcher = Dispatcher(self.settings, policy, conn)
            sub = dispatcher.submit("hosts", Actor("doctor", "shell"), ReplyTo())
            state = dispatcher.wait(sub.job_id, 30, sub.start_by)
        except DockerverseError as exc:
            self.say(FAIL, f"Docker hosts: {exc.message}")
            return
        answers = {h["name"]: h for h in ((state or {}).get("result") or {}).get("data", {}).get("hosts", [])}
        for host in sorted({w.host for w in live}):
            mine = [w for w in live if w.host == host]
            lanes = {lane: sum(1 for w in mine if lane in w.lanes) for lane in LANES}
            facts = answers.get(host) or {}
            if not lanes["quick"]:
                self.say(
                    FAIL,
                    f"Host `{host}`: no quick-lane worker; commands for it are refused. Start "
                    f"`dockerverse worker --docker-host-name {host}` there.",
                )
            elif not facts.get("docker"):
                self.say(
                    FAIL,
                    f"Host `{host}`: its worker answers but Docker does not (or did not in time); "
                    "check the daemon there, and DOCKER_HOST / DOCKER_CERT_PATH on its worker.",
                )
            else:
                missing = "; ".join(why for lane, why in LANE_GAPS.items() if not lanes[lane])
                counts = " + ".join(f"{lanes[lane]} {lane}" for lane in LANES)
                self.say(
                    WARN if missing else OK,
                    f"Host `{host}`: Docker {facts['docker']}, {counts} workers" + (f" ({missing})" if missing else ""),
                )
            if policy.notify:
                self.check_watcher(conn, host)

    def check_watcher(self, conn: redis.Redis, host: str) -> None:
        holder = conn.get(watcher_key(host))
        if holder:
            self.say(OK, f"Host `{host}`: Docker events watched for alerts by {as_str(holder)}")
        else:
            self.say(
                FAIL,
                f"Host `{host}`: no worker watches its Docker events, so no alerts are posted. Its quick-lane "
                "worker starts the watcher: check that it has SLACK_BOT_TOKEN, and its log for why not.",
            )

    def check_slack(self, slack_check: Callable[[Settings], str] | None) -> None:
        s = self.settings
        if not s.slack_bot_token and not s.slack_signing_secret:
            self.say(
                WARN,
                "Slack: not configured (SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET); the console, hooks and "
                "the API still work.",
            )
            return
        # Slack reaches the bot over HTTP (signing secret) or Socket Mode (app token); replies need the bot token.
        if not (s.slack_bot_token and (s.slack_signing_secret or s.slack_app_token)):
            missing = (
                "SLACK_SIGNING_SECRET (or SLACK_APP_TOKEN for Socket Mode)" if s.slack_bot_token else "SLACK_BOT_TOKEN"
            )
            self.say(FAIL, f"Slack: {missing} is not set; Slack cannot reach the bot until it is.")
            return
        if s.slack_app_token and not s.slack_app_token.startswith("xapp-"):
            self.say(FAIL, "Slack: SLACK_APP_TOKEN is not an app-level token (xapp-...); Socket Mode stays off.")
        if slack_check is None:
            return
        try:
            self.say(OK, f"Slack: {slack_check(s)}")
        except Exception as exc:  # any failure of auth.test is the answer we report
            self.say(
                FAIL,
                f"Slack: {exc}. Check SLACK_BOT_TOKEN (an xoxb- bot token of the installed app), "
                "SLACK_APP_TOKEN if set (an xapp- token with connections:write) and SLACK_API_URL.",
            )


def run_doctor(settings: Settings, out: TextIO = sys.stdout) -> int:
    from bot.web.slack_app import auth_test

    return Doctor(settings, out).run(auth_test)
