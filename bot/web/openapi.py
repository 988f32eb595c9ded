"""The API's OpenAPI 3.1 document (GET /openapi.json), written out so it is the contract we test."""

from __future__ import annotations

from typing import Any

ERROR = {"$ref": "#/components/schemas/Error"}
IMAGE_PATTERN = (
    r"^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$"
)
NAME_PATTERN = "^[a-zA-Z0-9][a-zA-Z0-9_.-]*$"
PORT_PATTERN = "^[0-9]{1,5}:[0-9]{1,5}(/(tcp|udp|sctp))?$"
MEMORY_PATTERN = "^[0-9]+(\\.[0-9]+)?[bkmgBKMG]?[bB]?$"


def _errors(*codes: int) -> dict[str, Any]:
    words = {
        400: "bad input",
        401: "missing or wrong token",
        403: "refused by policy",
        404: "unknown",
        409: "Docker refused (e.g. a name in use, an image in use)",
        413: "too large",
        429: "rate limited",
        500: "the worker failed",
        503: "not configured, or Redis / the host's worker down",
        504: "still running after the wait; see the job",
    }
    return {str(c): {"description": words[c], "content": {"application/json": {"schema": ERROR}}} for c in codes}


COMMON = (400, 401, 403, 404, 409, 429, 500, 503, 504)
ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "description": "a container id, unique id prefix or name",
    "schema": {"type": "string", "pattern": "^[a-zA-Z0-9][a-zA-Z0-9_.-]*$", "maxLength": 128},
}
IMAGE_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "description": "an image id, unique id prefix or reference",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


CONTAINER = {
    "type": "object",
    "required": ["id", "name", "image", "status", "createdAt", "ports"],
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string", "description": "without Docker's leading slash"},
        "image": {"type": "string"},
        "status": {"type": "string", "description": "running, exited, created, ..."},
        "createdAt": {"type": "integer", "description": "milliseconds since the epoch"},
        "ports": {"type": "array", "items": {"type": "string"}, "description": "published only, HOST:CONTAINER"},
        "statusText": {"type": "string", "description": "Docker's words: Up 5 minutes (unhealthy), Exited (1) ..."},
    },
}
SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
    "Container": CONTAINER,
    "ContainerCreate": {
        "type": "object",
        "required": ["image"],
        "additionalProperties": False,
        "properties": {
            "image": {
                "type": "string",
                "minLength": 1,
                "maxLength": 255,
                "pattern": IMAGE_PATTERN,
                "description": "an image reference the policy allows, e.g. nginx:1.27",
            },
            "name": {"type": "string", "maxLength": 128, "pattern": NAME_PATTERN},
            "ports": {
                "type": "array",
                "maxItems": 32,
                "items": {"type": "string", "pattern": PORT_PATTERN},
                "description": "HOST:CONTAINER[/tcp|udp|sctp], ports 1-65535",
            },
            "env": {
                "type": "object",
                "maxProperties": 64,
                "additionalProperties": {"type": "string"},
                "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
            },
            "command": {"type": "array", "maxItems": 64, "items": {"type": "string"}},
            "memory": {
                "type": "string",
                "maxLength": 16,
                "pattern": MEMORY_PATTERN,
                "description": "at least 6m and at most the policy's cap, e.g. 256m",
            },
            "cpus": {"type": "number", "minimum": 0.01, "maximum": 256, "description": "at most the policy's cap"},
        },
    },
    "Created": {
        "allOf": [
            CONTAINER,
            {
                "type": "object",
                "required": ["logs"],
                "properties": {
                    "logs": {"type": "array", "items": {"type": "string"}, "description": "what it printed so far"}
                },
            },
        ]
    },
    "Image": {
        "type": "object",
        "required": ["id", "name", "tags"],
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string", "description": "the repository"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "size": {"type": "integer"},
            "createdAt": {"type": "integer"},
        },
    },
    "Deleted": {
        "type": "object",
        "required": ["success", "id"],
        "properties": {
            "success": {"type": "boolean"},
            "id": {"type": "string"},
            "deleted": {"type": "boolean"},
            "untagged": {"type": "string"},
        },
    },
    "Job": {
        "type": "object",
        "required": ["id", "status", "command", "result", "error", "createdAt", "endedAt"],
        "properties": {
            "id": {"type": "string"},
            "status": {"type": "string"},
            "command": {"type": ["string", "null"]},
            "result": {},
            "error": {"type": ["string", "null"]},
            "createdAt": {"type": ["integer", "null"]},
            "endedAt": {"type": ["integer", "null"]},
            "progress": {"type": ["string", "null"], "description": "a pull's layer totals while it runs"},
        },
    },
    "AuditEntry": {
        "type": "object",
        "required": ["at", "actor", "origin", "command", "decision", "job_id", "outcome"],
        "properties": {
            "at": {"type": "number"},
            "actor": {"type": "string"},
            "origin": {"type": "string"},
            "command": {"type": "string"},
            "decision": {"type": "string"},
            "job_id": {"type": ["string", "null"]},
            "outcome": {"type": "string"},
            "channel": {"type": ["string", "null"]},
            "duration": {"type": ["number", "null"]},
        },
    },
}


def _op(summary: str, ok: dict[str, Any], *errors: int, **extra: Any) -> dict[str, Any]:
    return {"summary": summary, "security": [{"bearer": []}], "responses": {**ok, **_errors(*errors)}, **extra}


PATHS: dict[str, Any] = {
    "/api/containers": {
        "get": _op(
            "List all containers",
            {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["containers"],
                        "properties": {"containers": {"type": "array", "items": _ref("Container")}},
                    }
                )
            },
            *COMMON,
        ),
        "post": _op(
            "Create and start a container (with the policy's labels and limits)",
            {"201": _json(_ref("Created"), "Created")},
            *COMMON,
            requestBody={"required": True, "content": {"application/json": {"schema": _ref("ContainerCreate")}}},
        ),
    },
    "/api/containers/{id}": {
        "delete": _op("Stop and remove a container", {"200": _json(_ref("Deleted"))}, *COMMON, parameters=[ID]),
    },
    **{
        f"/api/containers/{{id}}/{action}": {
            "post": _op(
                f"{action.capitalize()} a container", {"200": _json(_ref("Container"))}, *COMMON, parameters=[ID]
            )
        }
        for action in ("start", "stop", "restart")
    },
    "/api/containers/{id}/logs": {
        "get": _op(
            "The last log lines as text/plain",
            {"200": {"description": "log lines", "content": {"text/plain": {"schema": {"type": "string"}}}}},
            *COMMON,
            parameters=[
                ID,
                {"name": "tail", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 10000}},
                {"name": "since", "in": "query", "schema": {"type": "string", "description": "e.g. 10m"}},
            ],
        ),
    },
    "/api/images": {
        "get": _op(
            "List images, one entry per repository with its tags",
            {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["images"],
                        "properties": {"images": {"type": "array", "items": _ref("Image")}},
                    }
                )
            },
            *COMMON,
        ),
    },
    "/api/images/{id}": {
        "delete": _op(
            "Remove an image, as `docker rmi` does", {"200": _json(_ref("Deleted"))}, *COMMON, parameters=[IMAGE_ID]
        ),
    },
    "/api/images/{id}/tags/{tag}": {
        "delete": _op(
            "Remove one tag: the image goes only with its last tag",
            {"200": _json(_ref("Deleted"))},
            *COMMON,
            parameters=[
                IMAGE_ID,
                {"name": "tag", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}},
            ],
        ),
    },
    "/api/jobs/{id}": {
        "get": _op(
            "A job's state and result",
            {"200": _json(_ref("Job"))},
            401,
            404,
            503,
            parameters=[{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
        ),
    },
    "/api/audit": {
        "get": _op(
            "The audit log, newest first (the top role only)",
            {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["entries"],
                        "properties": {"entries": {"type": "array", "items": _ref("AuditEntry")}},
                    }
                )
            },
            400,
            401,
            403,
            503,
            parameters=[{"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}],
        ),
    },
}

# The dashboard's routes (bot/web/api_actions.py); `?host=H` names the Docker host on any /api route.
HOST = {"name": "host", "in": "query", "schema": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"}}


def _object(*required: str) -> dict[str, Any]:
    return {"200": _json({"type": "object", "required": list(required)})}


PULL = {
    "type": "object",
    "required": ["image"],
    "additionalProperties": False,
    "properties": {"image": IMAGE_ID["schema"]},
}
PATHS |= {
    "/api/fleet": {
        "get": _op(
            "Every host's containers (as Container, each with its `host`), the hosts that answered, silent and down",
            _object("containers", "hosts", "silent", "down", "at"),
            *COMMON,
            parameters=[{"name": "fresh", "in": "query", "schema": {"type": "string", "enum": ["1"]}}],
        ),
    },
    "/api/hosts": {
        "get": _op("Every Docker host: workers, Docker, containers, last heartbeat", _object("hosts"), *COMMON)
    },
    "/api/jobs": {
        "get": _op(
            "Recent jobs as audit entries: everyone's for the top role, the caller's own otherwise",
            _object("entries", "scope"),
            400,
            401,
            503,
            parameters=[{"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}}],
        ),
    },
    "/api/images/pull": {
        "post": _op(
            "Start a pull: 202 with the job's status_url, where its progress and result show",
            {"202": _json({"type": "object", "required": ["job_id", "status_url"]}, "Accepted")},
            *COMMON,
            parameters=[HOST],
            requestBody={"required": True, "content": {"application/json": {"schema": PULL}}},
        ),
    },
}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Dockerverse API",
        "version": "1",
        "description": "Docker through signed jobs; the web "
        "process never touches Docker. Every call waits for its job (at most 30 s, then 504). "
        "`?host=H` on any route runs its command on Docker host H.",
    },
    "paths": PATHS,
    "components": {"schemas": SCHEMAS, "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
}
