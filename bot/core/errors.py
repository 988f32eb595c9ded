"""One error family whose messages are fit to show the person who asked.

Every message says what went wrong and what to do about it. Adapters (Slack, the
shell, the HTTP API) show ``str(error)`` as it is; ``status`` is the HTTP status an
HTTP adapter answers with. Messages are masked as they are made (``bot.core.masking``): one that
quotes the user's input or Docker's words never carries a password or token onward.
"""

from __future__ import annotations

from bot.core.masking import mask_text


class DockerverseError(Exception):
    """Base class: a user-ready message and the HTTP status that fits it."""

    status: int = 400

    def __init__(self, message: str) -> None:
        message = mask_text(message)
        super().__init__(message)
        self.message = message


class CommandError(DockerverseError):
    """The command text does not parse: which argument, what was expected, an example."""


class PolicyError(DockerverseError):
    """The actor may not do this: names the rule that refused and who can grant it."""

    status = 403


class QueueUnavailable(DockerverseError):
    """Redis cannot be reached, or no worker serves the Docker host."""

    status = 503


class NotFound(DockerverseError):
    """A container, image or job that does not exist."""

    status = 404


class DockerUnavailable(DockerverseError):
    """The worker cannot reach its Docker daemon."""

    status = 503


class DockerFailure(DockerverseError):
    """Docker refused or failed the operation; the message says why in plain words."""

    status = 409
