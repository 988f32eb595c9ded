"""The `dockerverse` command: web, worker, up, shell, doctor, send, keygen, worker-health."""

from __future__ import annotations

import argparse
import logging
import re
import sys

from bot.cli.running_up import RunningUp, find, settings_following_up
from bot.core.errors import DockerverseError
from bot.core.masking import mask_text
from bot.core.settings import Settings


def hook_name(text: str) -> str:
    """`up --hook NAME`: a name that fits a URL path and a variable's name."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a hook name: letters, digits, - and _ (e.g. ci)")
    return text


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dockerverse", description="ChatOps for Docker.")
    sub = parser.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    for name, about in (
        ("web", "the HTTP app (Slack, API, health) under uvicorn"),
        ("up", "web + worker (+ embedded Redis when REDIS_URL is unset) on this machine"),
    ):
        p = sub.add_parser(name, help=about)
        p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
        p.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    sub.choices["up"].add_argument(
        "--hook",
        action="append",
        default=[],
        type=hook_name,
        metavar="NAME",
        help="also serve POST /hooks/NAME with a fresh secret, printed for `dockerverse send` (repeatable)",
    )
    w = sub.add_parser("worker", help="an RQ worker with Docker access, serving one Docker host")
    w.add_argument(
        "--docker-host-name", default=None, help="the host's name (default DOCKERVERSE_HOST_NAME, else local)"
    )
    w.add_argument("--burst", action="store_true", help="one worker on every lane; exit when the queues are empty")
    w.add_argument(
        "--lane",
        choices=("quick", "slow", "stream"),  # bot/wire/queues.py's LANES, without importing redis for --help
        help="run one worker on this lane only (the supervisor starts these)",
    )
    w.add_argument(
        "--stream-workers",
        type=int,
        default=None,
        help="workers for log follows and pulls (default DOCKERVERSE_STREAM_WORKERS, else 3)",
    )
    h = sub.add_parser("worker-health", help="exit 0 when this machine's workers for its Docker host are up")
    h.add_argument(
        "--docker-host-name", default=None, help="the host to check (default DOCKERVERSE_HOST_NAME, else local)"
    )
    s = sub.add_parser("shell", help="a local chat console on the same queues (acts as admin)")
    s.add_argument("-c", "--command", action="append", help="run this command and exit (repeatable)")
    s.add_argument("--wait", type=float, default=120.0, help="seconds to wait for each result")
    sub.add_parser("doctor", help="check the configuration, Redis, every Docker host and Slack")
    sub.add_parser("keygen", help="print a fresh Ed25519 job-signing pair as env-file lines")
    d = sub.add_parser("send", help="sign and send a command to a hook (for CI); exit 1 when the job failed")
    d.add_argument("url", help="the hook's URL, e.g. https://dockerverse.example.com/hooks/ci")
    d.add_argument("command", help='the command, quoted: "run ghcr.io/acme/app:main --name app"')
    d.add_argument("--secret", default=None, help="the hook's secret (default: DOCKERVERSE_HOOK_SECRET)")
    d.add_argument("--channel", default=None, help="Slack channel for the result (default: the hook's)")
    d.add_argument("--thread-ts", default=None, help="post the result in this Slack thread")
    d.add_argument("--wait", type=float, default=0, help="wait up to this many seconds (at most 60) for the result")
    return parser


def _settings(cmd: str) -> tuple[Settings, RunningUp | None]:
    """shell and doctor follow a running `dockerverse up` unless REDIS_URL says otherwise; the rest do not."""
    if cmd not in ("shell", "doctor"):
        return Settings(), None
    settings, running = settings_following_up()
    if running is None and cmd == "shell" and "redis_url" not in settings.model_fields_set:
        raise DockerverseError(
            "nothing to talk to: no `dockerverse up` is running from this checkout and REDIS_URL is not set. "
            "Start `dockerverse up` in another terminal, or set REDIS_URL and DOCKERVERSE_SIGNING_KEY (the web's) "
            "to reach a deployment."
        )
    return settings, running


class MaskedRecord(logging.LogRecord):
    """Every log line of the process (ours, rq's, uvicorn's, slack_sdk's) passes the masking module."""

    def getMessage(self) -> str:
        return mask_text(super().getMessage())


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.cmd == "keygen":
        from bot.wire.signing import generate

        signing, verify = generate()
        print(f"# the web only:\nDOCKERVERSE_SIGNING_KEY={signing}\n# every worker:\nDOCKERVERSE_VERIFY_KEY={verify}")
        return 0
    try:
        settings, running = _settings(args.cmd)
    except DockerverseError as exc:
        print(f"dockerverse {args.cmd}: {exc.message}", file=sys.stderr)
        return 2
    logging.setLogRecordFactory(MaskedRecord)
    # The switches of logging's documented "Optimization" list: our format shows no caller, thread or
    # process, and finding them was about half of each line's cost (two lines a job in a worker).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        if args.cmd in ("worker", "up"):
            from bot.core.policy import load_policy

            # A mistyped policy stops them here, before any child starts (the web's create_app reads it too).
            load_policy(settings.config_path)
        if args.cmd == "web":
            import uvicorn

            from bot.web.app import create_app

            uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="warning")
            return 0
        if args.cmd == "worker":
            # Checked here too, not only in each worker: the supervisor would restart failing workers forever.
            from bot.wire.job_keys import worker_keys

            for warning in worker_keys(settings).warnings:
                logging.getLogger("dockerverse.worker").warning("%s", warning)
            host = args.docker_host_name or settings.host_name
            if args.burst or args.lane:
                from bot.wire.queues import LANES
                from workers.runtime.main import run_worker

                run_worker(settings, host, (args.lane,) if args.lane else LANES, burst=args.burst)
                return 0
            from workers.runtime.supervisor import supervise

            return supervise(host, args.stream_workers if args.stream_workers is not None else settings.stream_workers)
        if args.cmd == "worker-health":
            from bot.cli.worker_health import run_worker_health

            return run_worker_health(settings, args.docker_host_name or settings.host_name)
        if args.cmd == "up":
            from bot.cli.up import run_up

            return run_up(settings, args.host, args.port, args.hook)
        if args.cmd == "doctor":
            from bot.cli.doctor import run_doctor

            if running is not None:
                print(f"Checking {running.describe()}.")
            elif "redis_url" not in settings.model_fields_set:
                print("No `dockerverse up` runs from this checkout: checking this environment's settings.")
            return run_doctor(settings)
        if args.cmd == "send":
            from bot.cli.send import send

            up = find()
            secret = args.secret or settings.lookup("DOCKERVERSE_HOOK_SECRET") or (up and up.hook_secret(args.url))
            if not secret:
                raise DockerverseError(
                    "no secret: pass --secret or set DOCKERVERSE_HOOK_SECRET (a hook of a `dockerverse up` "
                    "running from this checkout needs neither)."
                )
            wait = min(args.wait, 60.0)
            return send(args.url, args.command, secret, args.channel, args.thread_ts, wait, up=up)
        from bot.cli.shell import run_shell

        return run_shell(settings, args.command, wait=args.wait)
    except DockerverseError as exc:
        print(f"dockerverse {args.cmd}: {exc.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
