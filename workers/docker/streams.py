"""The gateway's reads of what containers say: a log tail, a live log stream, Docker's event stream."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import requests

from bot.core.errors import DockerUnavailable
from bot.core.slack_text import code, escape
from workers.docker.containers import ContainerCalls
from workers.docker.rows import ContainerRow


class StreamCalls(ContainerCalls):
    def logs(self, target: str, tail: int, since: float | None) -> tuple[ContainerRow, list[str]]:
        row = self.container(target)
        kwargs: dict[str, Any] = {"tail": tail, "stdout": True, "stderr": True}
        if since is not None:
            kwargs["since"] = int(datetime.now().timestamp() - since)
        with self.errors("logs", target):
            raw: bytes = self.client.api.logs(row.id, **kwargs)
        return row, raw.decode("utf-8", errors="replace").splitlines()

    def follow(
        self, target: str, tail: int | str, since_epoch: int | None
    ) -> tuple[ContainerRow, Iterator[bytes], Callable[[], None]]:
        """A live log stream with Docker timestamps: (container, chunks, close). Close may be called
        from another thread; the chunks then end."""
        row = self.container(target)
        kwargs: dict[str, Any] = {"stream": True, "follow": True, "timestamps": True, "tail": tail}
        if since_epoch is not None:
            kwargs["since"] = since_epoch
        with self.errors("logs", target):
            stream = self.client.api.logs(row.id, **kwargs)
        return row, iter(stream), stream.close

    def events(
        self, since: str | None, filters: dict[str, list[str]]
    ) -> tuple[Iterator[dict[str, Any]], Callable[[], None]]:
        """Docker's event stream, decoded: (events, close). `since` is Docker's "seconds.nanoseconds" (the
        daemon replays what it still holds from then on); None: from now. The events end when the
        connection drops or close() is called, from any thread."""
        with self.errors("events"):
            stream = self.client.api.events(since=since, filters=filters, decode=True)

        def read() -> Iterator[dict[str, Any]]:
            try:
                yield from stream
            except requests.exceptions.RequestException as exc:  # e.g. a chunk cut short by a restart
                self.reconnect()
                raise DockerUnavailable(
                    f"Docker on host {code(self.host_name)} dropped its event stream: {escape(exc)}"
                ) from None

        return read(), stream.close
