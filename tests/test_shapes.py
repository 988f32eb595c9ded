"""The API's shapes have one source: the worker's JSON fits the models, the document is the models'."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import docker
import jsonschema_rs
from pydantic import BaseModel

from bot.core import commands as c
from bot.core.policy import Actor
from bot.web.openapi import DOCUMENT, REF, models
from bot.wire import shapes
from bot.wire.payload import Payload, ReplyTo, new_payload
from tests.support.services import TEST_LABEL
from workers.commands import containers, images
from workers.commands.context import Context

SCHEMAS: dict[str, Any] = DOCUMENT["components"]["schemas"]


def _refs(node: Any) -> Iterator[str]:
    """Every $ref anywhere in a JSON document."""
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _published(name: str) -> jsonschema_rs.Draft202012Validator:
    """A validator for one component of the served document, its $refs resolved within it."""
    return jsonschema_rs.Draft202012Validator({"$ref": REF.format(model=name), "components": DOCUMENT["components"]})


def _payload(command: c.Command, text: str) -> Payload:
    return new_payload(
        uuid.uuid4().hex, text, command, Actor("shell:t", "shell"), ReplyTo(), "local", admin=True, read_unmanaged=True
    )


def _fits(model: type[BaseModel], data: dict[str, Any]) -> None:
    """The data, as JSON after crossing Redis, is the model exactly (strict) and the published schema."""
    as_sent = json.dumps(data)
    assert model.model_validate_json(as_sent, strict=True).model_dump(mode="json") == data
    _published(model.__name__).validate(json.loads(as_sent))


def test_document_schemas_are_the_models_schemas() -> None:
    """Each component of /openapi.json is exactly its model's JSON Schema, so the two cannot drift."""
    expected: dict[str, Any] = {}
    for model, mode in models():
        schema = model.model_json_schema(mode=mode, ref_template=REF)
        expected.update(schema.pop("$defs", {}))
        expected[model.__name__] = schema
    assert expected == SCHEMAS
    assert {"Container", "Created", "Image", "JobState", "AuditEntry", "Deleted", "Error"} <= set(SCHEMAS)


def test_document_names_shapes_only_by_reference() -> None:
    """Operations point at components (no shape written inline), and every reference resolves."""
    for path, methods in DOCUMENT["paths"].items():
        for method, op in methods.items():
            bodies = [r["content"] for r in op["responses"].values()]
            bodies += [op["requestBody"]["content"]] if "requestBody" in op else []
            for content in bodies:
                schema = content.get("application/json", {}).get("schema")
                assert schema is None or set(schema) == {"$ref"}, (method, path, schema)
    for ref in _refs(DOCUMENT):
        assert ref.removeprefix("#/components/schemas/") in SCHEMAS, ref


def test_contract_field_names_are_published() -> None:
    """The contract's names (createdAt, job_id, ...) are what the document promises, required."""
    required = {name: set(SCHEMAS[name]["required"]) for name in SCHEMAS}
    assert {"id", "name", "image", "status", "createdAt", "ports"} <= required["Container"]
    assert {"id", "name", "status", "logs"} <= required["Created"]
    assert {"id", "name", "tags"} <= required["Image"]
    assert {"success", "id"} == required["Deleted"]
    assert {"id", "status", "command", "result", "error", "createdAt", "endedAt"} <= required["JobState"]
    assert {"at", "actor", "origin", "command", "decision", "job_id", "outcome"} <= required["AuditEntry"]
    assert required["Error"] == {"error"}


def test_errors_carry_a_job_only_when_one_ran() -> None:
    """An error is {"error"} alone, with job_id / status_url added only when there is a job to name."""
    assert shapes.Error(error="No container x").dump() == {"error": "No container x"}
    late = shapes.Error(error="still running", job_id="j1", status_url="/api/jobs/j1").dump()
    assert late == {"error": "still running", "job_id": "j1", "status_url": "/api/jobs/j1"}
    _published("Error").validate(late)


def test_image_is_named_by_id_prefix_or_reference() -> None:
    """An image answers to its id, a unique hex prefix (sha256: or not), its repository or REPOSITORY:TAG."""
    image = shapes.Image(id="sha256:" + "ab12" * 16, name="web", tags=["1.0", "latest"], size=1, created_at=0)
    assert all(image.named(w) for w in ("ab12ab", "sha256:ab12", "web", "web:1.0", "web:latest"))
    assert not any(image.named(w) for w in ("ab1", "cd34", "web:2.0", "other"))


def test_worker_json_for_list_and_images_fits_the_models(
    ctx: Context, docker_cleanup: docker.DockerClient, test_image: str
) -> None:
    """The `list --all` and `images` jobs' data, from a real Docker, is what the models and document say."""
    name = f"dvtest-shape-{uuid.uuid4().hex[:8]}"
    docker_cleanup.containers.run(
        test_image, ["sleep", "300"], name=name, labels={TEST_LABEL: "1"}, ports={"80/tcp": None}, detach=True
    )
    command = c.ListContainers(all=True, filter=name)
    listed = containers.list_containers(ctx, command, _payload(command, f"list --all {name}"))
    assert listed.data is not None
    [container] = listed.data["containers"]
    assert container["name"] == name and container["status"] == "running" and container["ports"]
    _fits(shapes.ContainerList, listed.data)

    listed_images = images.images(ctx, c.Images(), _payload(c.Images(), "images"))
    assert listed_images.data is not None
    assert any(f"{i['name']}:{t}" == test_image for i in listed_images.data["images"] for t in i["tags"])
    _fits(shapes.ImageList, listed_images.data)


def test_worker_json_for_start_fits_container(
    ctx: Context, docker_cleanup: docker.DockerClient, test_image: str
) -> None:
    """`start` answers with one container in the list's shape."""
    name = f"dvtest-shape-{uuid.uuid4().hex[:8]}"
    docker_cleanup.containers.create(test_image, ["sleep", "300"], name=name, labels={TEST_LABEL: "1"})
    command = c.Lifecycle(action="start", target=name)
    done = containers.lifecycle(ctx, command, _payload(command, f"start {name}"))
    assert done.ok and done.data is not None and done.data["status"] == "running"
    _fits(shapes.Container, done.data)
