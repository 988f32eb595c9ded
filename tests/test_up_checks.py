"""What `dockerverse up` checks and makes before it starts anything: its port, its own web's answer,
its instance folder, and the token, hooks and policy it gives its web."""

from __future__ import annotations

import http.server
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bot.cli.up import check_port, own_web_answers
from bot.cli.up_launch import plan
from bot.core.errors import DockerverseError
from bot.core.local_state import CHECKOUT, claimed_instance, instance_dir
from bot.core.policy import load_policy
from bot.core.settings import Settings


def healthz_server(answer: dict[str, object]) -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def other_web() -> Iterator[str]:
    yield from healthz_server({"ok": True, "instance": "someone-else"})


@pytest.fixture
def own_web() -> Iterator[str]:
    yield from healthz_server({"ok": True, "instance": "mine"})


def test_another_web_on_the_port_is_not_taken_for_ours(other_web: str) -> None:
    """A /healthz that answers with another instance's nonce (or none) never counts as up."""
    assert not own_web_answers(other_web, "mine", lambda: True, timeout=1.0)


def test_our_own_web_is_recognised_by_its_nonce(own_web: str) -> None:
    """The web that echoes up's nonce is up."""
    assert own_web_answers(own_web, "mine", lambda: True, timeout=10.0)


def test_a_web_that_died_is_not_waited_for(own_web: str) -> None:
    """Once the web process is gone, up stops waiting, whatever answers on the port."""
    assert not own_web_answers(own_web, "mine", lambda: False, timeout=10.0)


def test_a_busy_port_is_refused_naming_the_flag() -> None:
    """Something listening on the port: refused with `--port` and a free port to try."""
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        with pytest.raises(DockerverseError) as refused:
            check_port("127.0.0.1", port)
    assert f"port {port} on 127.0.0.1 is already in use" in refused.value.message
    assert "dockerverse up --port " in refused.value.message


def test_a_free_port_passes() -> None:
    """A port nothing listens on is fine (and left free for the web)."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    check_port("127.0.0.1", port)
    check_port("127.0.0.1", port)  # the check itself does not keep it


def test_the_instance_folder_is_beside_the_checkout(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without DOCKERVERSE_STATE_DIR, up's folder is `.dockerverse/` in the checkout this code runs from."""
    monkeypatch.delenv("DOCKERVERSE_STATE_DIR", raising=False)
    assert instance_dir() == CHECKOUT / ".dockerverse"
    monkeypatch.setenv("DOCKERVERSE_STATE_DIR", str(tmp_path))
    assert instance_dir() == tmp_path


def test_one_up_at_a_time_holds_an_instance(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A second `up` on the same folder is refused while the first holds it, and may start once it is gone."""
    monkeypatch.setenv("DOCKERVERSE_STATE_DIR", str(tmp_path / "state"))
    refused = pytest.raises(DockerverseError, match="another `dockerverse up` is already running")
    with claimed_instance(), refused, claimed_instance():
        pass
    with claimed_instance() as folder:
        assert folder == tmp_path / "state"


def test_up_makes_an_admin_token_and_a_hook_with_a_fresh_secret(tmp_path: Path) -> None:
    """No token and no policy: a fresh API token, and `--hook ci` as an operator hook in a generated policy."""
    launch = plan(Settings(), load_policy(None), "http://127.0.0.1:8000", ["ci"], tmp_path)
    assert launch.api_token_made_here and len(launch.api_token) >= 32
    assert launch.web_env["DOCKERVERSE_API_TOKEN"] == launch.api_token
    assert launch.worker_env["DOCKERVERSE_API_TOKEN"] == ""
    [hook] = launch.hooks
    assert (hook.url, hook.role, hook.made_here) == ("http://127.0.0.1:8000/hooks/ci", "operator", True)
    assert launch.web_env[hook.secret_env] == hook.secret and len(hook.secret) == 64
    assert launch.policy_file is not None
    assert load_policy(str(launch.policy_file)).hooks["ci"].secret_env == hook.secret_env
    assert launch.web_env["DOCKERVERSE_CONFIG"] == str(launch.policy_file)
    assert launch.state(42)["hooks"] == {"ci": hook.secret_env}


def test_up_keeps_the_users_own_token_policy_and_hook_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A token, policy and hook secret the user set are used as they are, and never printed as made here."""
    policy = tmp_path / "mine.yaml"
    policy.write_text(yaml.safe_dump({"hooks": {"ci": {"secret_env": "MY_CI_SECRET", "role": "viewer"}}}))
    monkeypatch.setenv("MY_CI_SECRET", "a" * 40)
    settings = Settings(DOCKERVERSE_API_TOKEN="t" * 40, DOCKERVERSE_CONFIG=str(policy))
    launch = plan(settings, load_policy(str(policy)), "http://127.0.0.1:8000", ["ci", "deploy"], tmp_path)
    assert (launch.api_token, launch.api_token_made_here) == ("t" * 40, False)
    ci, deploy = launch.hooks
    assert (ci.secret_env, ci.secret, ci.role, ci.made_here) == ("MY_CI_SECRET", "a" * 40, "viewer", False)
    assert deploy.made_here and deploy.role == "operator"
    assert launch.policy_file is not None
    merged = load_policy(str(launch.policy_file))
    assert set(merged.hooks) == {"ci", "deploy"} and merged.hooks["ci"].role == "viewer"
    assert launch.policy_file.read_text().startswith(
        f"# Made by `dockerverse up --hook` and removed when it stops: edit {policy}"
    )
