"""A job's signed payload, checked once per job in this worker.

The payload is checked where the job is admitted, where its function is resolved and where it runs:
each of those reads the job's arguments afresh (RQ may have read the job again in between), so each
must know they are the ones signed. Checking the signature each time cost three Ed25519 checks and
three parses a job; arguments equal to those already checked reuse the first check's payload.
"""

from __future__ import annotations

import copy
from typing import Any

from rq.job import Job

from bot.wire.payload import Payload, open_envelope
from bot.wire.signing import Verifier

_CHECKED = "_dockerverse_checked"  # (a copy of the payload checked, its signature, the Payload)


def payload_of(job: Job, key: Verifier, payload: Any, sig: Any) -> Payload:
    """The Payload of these arguments of ``job`` if signed for it; else ``Unsigned`` is raised."""
    checked = getattr(job, _CHECKED, None)
    if checked is not None and checked[1] == sig and checked[0] == payload:
        return checked[2]  # type: ignore[no-any-return]
    p = open_envelope(key, {"payload": payload, "sig": sig}, job.id)
    setattr(job, _CHECKED, (copy.deepcopy(payload), sig, p))
    return p
