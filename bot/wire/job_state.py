"""A job's state as the API shows it, from RQ's job hash and result stream."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rq.job import Job, JobStatus
from rq.results import Result

from bot.wire.shapes import JobState


def result_stream(job_id: str) -> str:
    """The Redis stream RQ appends a job's result to, done or failed: what waiters block on."""
    return str(Result.get_key(job_id))  # type: ignore[no-untyped-call]


def describe(job: Job, result: Result | None, answer: tuple[dict[str, Any], float] | None = None) -> dict[str, Any]:
    """The API's job shape: {id, status, command, result, error, createdAt, endedAt}. Without RQ's result
    yet, the job's early ``answer`` (bot/wire/answers.py: its result and when it ended) stands for it."""
    status = job.get_status(refresh=False)
    value = result.return_value if result is not None and result.type == Result.Type.SUCCESSFUL else None
    ended_at = job.ended_at.timestamp() if job.ended_at else None
    if result is None and answer is not None:  # the worker answered and is posting to Slack meanwhile
        status, (value, ended_at) = JobStatus.FINISHED, answer
    error = None
    if status == JobStatus.FAILED:
        error = (job.meta or {}).get("error") or "The job failed on the worker; see its log."
    elif isinstance(value, dict) and not value.get("ok", True):
        status, error = JobStatus.FAILED, value.get("summary")
    return JobState(
        id=job.id,
        status=str(status.value if status else "unknown"),
        command=job.description,
        result=value,
        error=error,
        created_at=ms(job.created_at.timestamp() if job.created_at else None),
        ended_at=ms(ended_at),
        progress=(job.meta or {}).get("progress"),  # a pull's layer totals while it runs
    ).dump()


def ms(ts: float | None) -> int | None:
    return int(ts * 1000) if ts is not None else None


@dataclass(frozen=True)
class Line:
    """One log line of a follow; its Docker timestamp is the SSE event id and where a reconnect resumes."""

    stamp: str
    text: str


@dataclass(frozen=True)
class End:
    reason: str


def line_batch(stamps: list[str], lines: list[str]) -> dict[str, str]:
    """One follow stream entry holding many lines (newline-joined, with their Docker timestamps beside
    them): a chatty container costs one entry per batch, for the worker writing and the web reading.
    Lines never hold a newline (the follow splits on it), so the join is exact."""
    return {"stamps": "\n".join(stamps), "lines": "\n".join(lines)}


def follow_entries(found: Any) -> list[tuple[str, list[Line] | End | None]]:
    """A follow stream's XREAD answer as (entry id, its lines or end) pairs; None for markers a reader
    skips. Reads both a batch (`line_batch`) and the one-line entries {ts, line} older workers wrote."""
    if not found:
        return []
    entries = next(iter(found.values())) if isinstance(found, dict) else found[0][1]
    out: list[tuple[str, list[Line] | End | None]] = []
    for entry_id, raw in entries:
        fields = {as_str(k): as_str(v) for k, v in raw.items()}
        item: list[Line] | End | None = None
        if "end" in fields:
            item = End(fields["end"])
        elif "lines" in fields:
            texts, stamps = fields["lines"].split("\n"), fields.get("stamps", "").split("\n")
            stamps += [""] * (len(texts) - len(stamps))  # never drop a line for want of its stamp
            item = [Line(stamp, text) for stamp, text in zip(stamps, texts, strict=False)]
        elif "line" in fields:
            item = [Line(fields.get("ts", ""), fields["line"])]
        out.append((as_str(entry_id), item))
    return out


def as_str(value: Any) -> str:
    """A value as Redis hands it back (bytes, str or None) as text; None is empty."""
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else str(value)
