"""The API's OpenAPI 3.1 document (GET /openapi.json), generated from the models in bot.wire.shapes.

The shapes are the models' own JSON Schemas (the same ones the web validates answers with); this
module adds only what a model cannot say: the routes, their parameters and which statuses they use.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from bot.wire import shapes

REF = "#/components/schemas/{model}"
ERRORS = {
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
COMMON = (400, 401, 403, 404, 409, 429, 500, 503, 504)


def _path(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": schema}


def _query(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": schema}


CONTAINER_ID = _path(
    "id",
    "a container id, unique id prefix or name",
    {"type": "string", "pattern": shapes.NAME_PATTERN, "maxLength": 128},
)
IMAGE_ID = _path(
    "id", "an image id, unique id prefix or reference", {"type": "string", "minLength": 1, "maxLength": 255}
)
TAG = _path("tag", "the tag, or REPOSITORY:TAG when several repositories share it", {"type": "string", "minLength": 1})
JOB_ID = _path("id", "the job id a hook or an earlier call named", {"type": "string"})
TAIL = _query("tail", {"type": "integer", "minimum": 1, "maximum": 10000})
SINCE = _query("since", {"type": "string", "description": "e.g. 10m"})
LIMIT = _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000})
FRESH = _query("fresh", {"type": "string", "enum": ["1"], "description": "ask the workers now"})
HOST = _query("host", {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"})
TEXT = {"text/plain": {"schema": {"type": "string"}}}


class Op(NamedTuple):
    """One operation: its answer is a model (or, for logs, plain text)."""

    method: str
    path: str
    summary: str
    answer: type[BaseModel] | None
    params: tuple[dict[str, Any], ...] = ()
    errors: tuple[int, ...] = COMMON
    body: type[BaseModel] | None = None
    status: int = 200


ROUTES = (
    Op("get", "/api/containers", "List all containers", shapes.ContainerList),
    Op(
        "post",
        "/api/containers",
        "Create and start a container (with the policy's labels and limits)",
        shapes.Created,
        body=shapes.ContainerCreate,
        status=201,
    ),
    Op("delete", "/api/containers/{id}", "Stop and remove a container", shapes.Deleted, (CONTAINER_ID,)),
    *(
        Op(
            "post",
            f"/api/containers/{{id}}/{action}",
            f"{action.capitalize()} a container",
            shapes.Container,
            (CONTAINER_ID,),
        )
        for action in ("start", "stop", "restart")
    ),
    Op("get", "/api/containers/{id}/logs", "The last log lines as text/plain", None, (CONTAINER_ID, TAIL, SINCE)),
    Op("get", "/api/images", "List images, one entry per repository with its tags", shapes.ImageList),
    Op("delete", "/api/images/{id}", "Remove an image, as `docker rmi` does", shapes.ImageDeleted, (IMAGE_ID,)),
    Op(
        "delete",
        "/api/images/{id}/tags/{tag}",
        "Remove one tag: the image goes only with its last tag",
        shapes.TagDeleted,
        (IMAGE_ID, TAG),
    ),
    Op("get", "/api/jobs/{id}", "A job's state and result", shapes.JobState, (JOB_ID,), (401, 404, 503)),
    Op(
        "get",
        "/api/audit",
        "The audit log, newest first (the top role only)",
        shapes.AuditLog,
        (LIMIT,),
        (400, 401, 403, 503),
    ),
    # The dashboard's (bot/web/api_actions.py); `?host=H` picks the Docker host on any route that runs a command.
    Op("get", "/api/fleet", "Every host's containers, asked of the workers every few seconds", shapes.Fleet, (FRESH,)),
    Op("get", "/api/hosts", "Every Docker host: workers, Docker, containers, last heartbeat", shapes.HostList),
    Op("get", "/api/jobs", "Recent jobs: everyone's for the top role, else the caller's", shapes.RecentJobs, (LIMIT,)),
    Op(
        "post",
        "/api/images/pull",
        "Start a pull; its progress and result show at status_url",
        shapes.Accepted,
        (HOST,),
        body=shapes.PullRequest,
        status=202,
    ),
)


def models() -> list[tuple[type[BaseModel], JsonSchemaMode]]:
    """Every model the document names: request bodies as validated, answers as serialised."""
    found: dict[type[BaseModel], JsonSchemaMode] = {shapes.Error: "serialization"}
    for op in ROUTES:
        if op.answer is not None:
            found[op.answer] = "serialization"
        if op.body is not None:
            found[op.body] = "validation"
    return list(found.items())


def _ref(model: type[BaseModel]) -> dict[str, Any]:
    return {"$ref": REF.format(model=model.__name__)}


def _operation(op: Op) -> dict[str, Any]:
    content = TEXT if op.answer is None else {"application/json": {"schema": _ref(op.answer)}}
    ok = "log lines" if op.answer is None else {201: "Created", 202: "Accepted"}.get(op.status, "OK")
    error = {"application/json": {"schema": _ref(shapes.Error)}}
    out: dict[str, Any] = {
        "summary": op.summary,
        "security": [{"bearer": []}],
        "responses": {
            str(op.status): {"description": ok, "content": content},
            **{str(code): {"description": ERRORS[code], "content": error} for code in op.errors},
        },
    }
    if op.params:
        out["parameters"] = list(op.params)
    if op.body is not None:
        out["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(op.body)}}}
    return out


def document() -> dict[str, Any]:
    _, schemas = models_json_schema(models(), ref_template=REF)
    paths: dict[str, dict[str, Any]] = {}
    for op in ROUTES:
        paths.setdefault(op.path, {})[op.method] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Dockerverse API",
            "version": "1",
            "description": "Docker through signed jobs; the web "
            "process never touches Docker. Every call waits for its job (at most 30 s, then 504). "
            "`?host=H` on any route that runs a command runs it on Docker host H.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas["$defs"],
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


DOCUMENT = document()
