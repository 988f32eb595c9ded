"""The only Docker client: docker-py behind one class, its errors turned into ours.

``DockerGateway`` is the one object the rest of the workers hold. Its calls live by concern in
the modules beside it: the connection and error translation (connection.py), images (images.py),
containers (containers.py), logs and events (streams.py), and recreating a container on another
image (recreate.py); what they return is in rows.py. docker-py is imported nowhere else.
"""

from __future__ import annotations

from workers.docker.recreate import RecreateCalls
from workers.docker.streams import StreamCalls


class DockerGateway(StreamCalls, RecreateCalls):
    """One Docker host's client, made on first use and kept across jobs; it reconnects by itself."""
