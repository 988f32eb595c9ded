"""The docker-py client behind the gateway, and its errors turned into ours.

The client is made on first use and kept open across jobs; when the daemon goes away the next
call reconnects, so a restarted Docker needs no worker restart. Every call the gateway makes goes
through ``errors``, so no docker-py or requests exception reaches a reply.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import docker
import docker.errors
import docker.utils
import docker.utils.decorators
import requests

from bot.core.errors import DockerFailure, DockerUnavailable, NotFound
from bot.core.slack_text import code, escape
from workers.docker.lean_reads import LeanReads


class _APIClient(docker.APIClient):  # type: ignore[misc]
    _lean: LeanReads | None = None  # set once the daemon's address is known (version negotiation reads first)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Over a unix socket no proxy or CA bundle from the environment applies, and requests would read
        # (and parse) every proxy variable again on each call: a fifth of a `list`'s CPU in the worker.
        if self.base_url.startswith("http+docker://"):
            self.trust_env = False
        # A unix socket (docker-py's adapter knows its path) or plain TCP; TLS and SSH keep docker-py's transport.
        socket_path = getattr(getattr(self, "_custom_adapter", None), "socket_path", None)
        if socket_path or self.base_url.startswith("http://"):
            self._lean = LeanReads(self.base_url, socket_path=socket_path, user_agent=self.headers["User-Agent"])

    @docker.utils.decorators.update_headers  # type: ignore[untyped-decorator]
    def _get(self, url: str, **kwargs: Any) -> requests.Response:
        # Whole-body reads (list, inspect, logs --tail) skip requests' per-call work: workers/docker/lean_reads.py.
        lean = self._lean
        if lean is not None and not kwargs.get("stream") and kwargs.keys() <= {"params", "headers", "timeout"}:
            return lean.get(url, kwargs.get("params"), kwargs.get("headers"), kwargs.get("timeout", self.timeout))
        response: requests.Response = super()._get(url, **kwargs)
        return response

    def close(self) -> None:
        if self._lean is not None:
            self._lean.close()
        super().close()

    def _retrieve_server_version(self) -> Any:
        # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE replace the session's own CA, so with either
        # set (common on managed machines) the daemon's TLS certificate would be checked against the
        # wrong CA. The daemon's CA is DOCKER_CERT_PATH/ca.pem; proxies do not apply either.
        if self.verify not in (True, False, None):
            self.trust_env = False
        return super()._retrieve_server_version()


def client_from_env(environment: dict[str, str] | None) -> docker.DockerClient:
    """docker-py's from_env (DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH), with the CA it was given."""
    client = docker.DockerClient.__new__(docker.DockerClient)
    client.api = _APIClient(timeout=60, **docker.utils.kwargs_from_env(environment=environment or None))
    return client


def _sentence(text: object) -> str:
    """Docker's explanations often lack a full stop; ours add advice after them."""
    text = str(text).strip()
    return text if text.endswith((".", "!", "?")) else f"{text}."


class Connection:
    def __init__(
        self,
        host_name: str,
        factory: Callable[[], docker.DockerClient] | None = None,
        environment: dict[str, str] | None = None,
    ) -> None:
        self.host_name = host_name
        # docker-py's from_env: DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH (mutual TLS over tcp://).
        self._factory = factory or (lambda: client_from_env(environment))
        self._client: docker.DockerClient | None = None

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            with self.errors("connect"):
                self._client = self._factory()
        return self._client

    def reconnect(self) -> None:
        """Drop the client: the next call makes a new one (the daemon went away or cut a stream)."""
        self._client = None

    @contextmanager
    def errors(self, what: str, target: str | None = None) -> Iterator[None]:
        """Turn docker-py's and requests' exceptions into our user-ready ones."""
        try:
            yield
        except docker.errors.NotFound as exc:
            raise NotFound(self.not_found(what, target, exc)) from None
        except docker.errors.APIError as exc:
            why = escape(_sentence(exc.explanation or exc))
            raise DockerFailure(f"Docker on {code(self.host_name)} refused {code(what)}: {why}") from None
        except requests.exceptions.Timeout:
            raise DockerUnavailable(
                f"Docker on host {code(self.host_name)} did not answer {code(what)} in time; it may be overloaded. "
                "Check `docker info` on that host, then try again."
            ) from None
        except (requests.exceptions.ConnectionError, docker.errors.DockerException) as exc:
            self.reconnect()
            raise DockerUnavailable(
                f"Docker on host {code(self.host_name)} cannot be reached ({type(exc).__name__}). Nothing was done. "
                "Check that the Docker daemon is running; the worker reconnects by itself."
            ) from None

    def not_found(self, what: str, target: str | None, exc: docker.errors.NotFound) -> str:
        """What to tell a user whose image or container Docker does not know."""
        if what in ("rmi", "pull") or (what == "run" and "image" in str(exc.explanation).lower()):
            return (
                f"No image {code(target)} on host {code(self.host_name)}: `images` lists what is there. "
                f"({escape(exc.explanation)})"
            )
        return f"No container {code(target)} on host {code(self.host_name)}: `list --all` shows the containers there."

    def ping(self) -> bool:
        with self.errors("ping"):
            return bool(self.client.ping())

    def version(self) -> dict[str, Any]:
        with self.errors("version"):
            return dict(self.client.version())
