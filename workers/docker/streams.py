"""The gateway's reads of what containers say: a log tail, a live log stream, Docker's event stream."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import docker.errors
import requests
from docker.types import CancellableStream

from bot.core.errors import DockerUnavailable
from bot.core.slack_text import code, escape
from workers.docker.containers import ContainerCalls
from workers.docker.rows import ContainerRow

READ_SIZE = 65_536  # bytes a follow reads at most at once: what Docker has sent, up to this
FRAME_HEADER = 8
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")  # an HTTP chunk size, as RFC 9112 writes it


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
        from another thread; the chunks then end.

        Read as docker-py's `logs(stream=True)` reads it, but a chunk is all Docker had sent by then,
        not one frame (one line) each: docker-py's two reads a frame let a chatty container's lines
        reach us at about a third of the rate `docker logs -f` reads them (bench/sse.py)."""
        row = self.container(target)
        api = self.client.api
        params: dict[str, Any] = {"stdout": 1, "stderr": 1, "follow": 1, "timestamps": 1, "tail": tail}
        if since_epoch is not None:
            params["since"] = since_epoch
        with self.errors("logs", target):
            tty = bool(api.inspect_container(row.id)["Config"].get("Tty"))
            url = f"{api.base_url}/v{api.api_version}/containers/{row.id}/logs"
            response = api.get(url, params=params, stream=True, timeout=(api.timeout, None))  # reads may wait
            try:
                response.raise_for_status()
            except requests.exceptions.HTTPError as exc:
                raise docker.errors.create_api_error_from_http_exception(exc) from None
        chunks = body(response)
        stream = CancellableStream(chunks if tty else demux(chunks), response)  # its close unblocks a read
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


def body(response: requests.Response) -> Iterator[bytes]:
    """A streamed response's body as it comes, up to READ_SIZE a read.

    Docker flushes each log frame as its own HTTP chunk and http.client hands back one chunk a read,
    which at tens of thousands of lines a second was most of the worker's CPU. So when the body is
    chunked, the chunking is undone here over the buffered socket reader http.client reads from (the
    same internals docker-py's own CancellableStream.close reaches into); else http.client reads it."""
    inner = getattr(response.raw, "_fp", None)  # urllib3's http.client.HTTPResponse
    buffered = getattr(inner, "fp", None)
    if getattr(inner, "chunked", False) and getattr(inner, "chunk_left", 0) is None and hasattr(buffered, "read1"):
        return dechunk(iter(lambda: buffered.read1(READ_SIZE), b""))  # type: ignore[union-attr]
    return iter(lambda: response.raw.read1(READ_SIZE), b"")


def dechunk(reads: Iterator[bytes]) -> Iterator[bytes]:
    """HTTP/1.1 chunked transfer coding undone: the data of each read's chunks (or parts of one) as one."""
    buf, left, skip = b"", 0, 0  # data bytes of the current chunk still to come; CRLF bytes after it
    for read in reads:
        buf += read
        out: list[bytes] = []
        pos, end = 0, len(buf)
        while pos < end:
            if skip:
                step = min(skip, end - pos)
                pos, skip = pos + step, skip - step
            elif left:
                step = min(left, end - pos)
                out.append(buf[pos : pos + step])
                pos, left = pos + step, left - step
                skip = 0 if left else 2
            else:
                eol = buf.find(b"\r\n", pos)
                if eol < 0:
                    break
                size = buf[pos:eol].split(b";", 1)[0].strip()
                if not _HEX.fullmatch(size):  # int() would take `-5` or `+5`, and a negative size loops
                    raise DockerUnavailable(
                        f"Docker's log stream is malformed (chunk size {escape(size[:20].decode('latin-1'))!r}); "
                        "the follow stopped. Check the socket proxy between the worker and Docker, then retry."
                    )
                left = int(size, 16)
                pos = eol + 2
                if not left:  # the last chunk: the body is over (trailers, if any, are not ours)
                    yield b"".join(out)
                    return
        buf = buf[pos:]
        if out:
            yield b"".join(out)


def demux(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The payloads of Docker's multiplexed stream (frames of an 8-byte header, whose last four bytes are
    the size, then the payload; stdout and stderr alike), all the whole frames of a chunk as one."""
    rest = b""
    for chunk in chunks:
        buf = rest + chunk
        out: list[bytes] = []
        pos, end = 0, len(buf)
        while end - pos >= FRAME_HEADER:
            size = int.from_bytes(buf[pos + 4 : pos + FRAME_HEADER], "big")
            if end - pos - FRAME_HEADER < size:
                break
            out.append(buf[pos + FRAME_HEADER : pos + FRAME_HEADER + size])
            pos += FRAME_HEADER + size
        rest = buf[pos:]
        if out:
            yield b"".join(out)
