"""Strict YAML sections, and their mistakes as lines a person can act on. Pure.

Every section of the policy file is a ``Strict`` model: an unknown key or a wrong type is a
refusal, never a silent default (``image:`` for ``images:`` used to leave every image allowed).
``problems`` turns pydantic's errors into ``<key path>: <what is wrong>`` lines, with the nearest
valid key for a misspelt one.
"""

from __future__ import annotations

import difflib
import json
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

from bot.core.errors import DockerverseError

Loc = tuple[str | int, ...]
Text = Annotated[str, StringConstraints(min_length=1)]  # a name or pattern: empty would match nothing or all


class Strict(BaseModel):
    """A section of a configuration file: no unknown keys, no type coercion (a list is never text)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def refuse(message: str) -> PydanticCustomError:
    """A validator's refusal, shown as it is (pydantic would prefix "Value error, ")."""
    return PydanticCustomError("refused", message)


def refusal(where: str, lines: Iterable[str]) -> DockerverseError:
    """The error a configuration mistake stops the process with: each line names the file."""
    return DockerverseError("\n".join(f"{where}: {line}" for line in lines))


def suggestion(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"; did you mean {close[0]}?" if close else ""


def one_of(kind: str, choices: Sequence[str]) -> Callable[[str], str]:
    """A validator for a name out of a fixed set: `unknown <kind> `x`: the <kind>s are ...; did you mean y?`."""

    def check(value: str) -> str:
        if value not in choices:
            raise refuse(f"unknown {kind} `{value}`: the {kind}s are {', '.join(choices)}{suggestion(value, choices)}")
        return value

    return check


def shown(value: Any) -> str:
    """A YAML value as the person wrote it, or the kind of thing it is."""
    if value is None:
        return "an empty value"
    if isinstance(value, bool):  # before int: YAML's yes/no/true/false
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "a list"
    return "a mapping" if isinstance(value, dict) else type(value).__name__


def path(loc: Loc, scalar: bool = False) -> str:
    """`hooks.ci.role`; a list entry counts from 1 (`notify entry 2: events`). A ``scalar``'s position in
    a list is left out: its message quotes the value (`permissions.viewer: unknown command `lsit``)."""
    out = ""
    for i, seg in enumerate(loc):
        after = loc[i + 1] if i + 1 < len(loc) else None
        if seg == "[key]" or (isinstance(seg, int) and after is None and scalar):
            continue
        if isinstance(seg, int) and after != "[key]":
            out += f" entry {seg + 1}:"
        else:
            out += (" " if out.endswith(":") else "." if out else "") + str(seg)
    return out.strip().rstrip(":")


def _plain(tp: Any) -> Any:
    """The type under Annotated and `X | None`."""
    if get_origin(tp) is Annotated:
        return _plain(get_args(tp)[0])
    if get_origin(tp) in (Union, types.UnionType):
        rest = [a for a in get_args(tp) if a is not type(None)]
        return _plain(rest[0]) if len(rest) == 1 else tp
    return tp


def _model(tp: Any) -> type[BaseModel] | None:
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def type_at(root: Any, loc: Loc) -> Any:
    """The type expected at ``loc`` of a value of type ``root``; None where no field is."""
    tp = _plain(root)
    for seg in loc:
        model = _model(tp)
        if model is not None:
            field = model.model_fields.get(str(seg))
            tp = _plain(field.annotation) if field else None
        elif get_origin(tp) in (list, dict) and seg != "[key]":
            tp = _plain(get_args(tp)[-1])
        else:
            return None
    return tp


def keys_at(root: Any, loc: Loc) -> list[str]:
    """The keys the model at ``loc`` takes; [] if no model is there."""
    model = _model(type_at(root, loc))
    return list(model.model_fields) if model else []


def _problem(error: ErrorDetails, root: Any) -> str:
    kind, value, ctx = error["type"], error.get("input"), error.get("ctx") or {}
    got = f"not {shown(value)}"
    if kind == "extra_forbidden":
        keys, key = keys_at(root, error["loc"][:-1]), str(error["loc"][-1])
        listed = f"; the keys here are {', '.join(keys)}" if keys else ""
        return "unknown key" + (suggestion(key, keys) or listed)
    if kind == "missing":
        return "required but missing"
    if kind == "list_type":
        return f"must be a list, {got}" + (
            f" (write [{json.dumps(value, ensure_ascii=False)}])" if isinstance(value, str) else ""
        )
    messages = {
        "string_type": f"must be text, {got}" + (" (quote it)" if isinstance(value, int | float) else ""),
        "dict_type": f"must be a mapping (key: value), {got}",
        "model_type": f"must be a mapping (key: value), {got}",
        "int_type": f"must be a whole number, {got}",
        "float_type": f"must be a number, {got}",
        "too_short": "must not be empty",
        "string_too_short": "must not be empty",
        "greater_than": f"must be more than {ctx.get('gt')}, {got}",
        "greater_than_equal": f"must be {ctx.get('ge')} or more, {got}",
        "less_than_equal": f"must be {ctx.get('le')} or less, {got}",
    }
    return messages.get(kind) or str(error["msg"])


def problems(exc: ValidationError, root: Any, prefix: Loc = (), examples: Mapping[str, str] | None = None) -> list[str]:
    """One `<key path>: <what is wrong>` line per mistake. ``root`` is the type validated (for the keys a
    misspelt one could have meant); ``prefix`` is where it sits in the file; ``examples`` maps a top-level
    section to an example appended, once, to that section's last line."""
    found = [
        (prefix + tuple(e["loc"]), _problem(e, root), _model(type_at(root, tuple(e["loc"]))) is None)
        for e in exc.errors()
    ]
    lines = [f"{path(loc, scalar)}: {what}" if path(loc, scalar) else what for loc, what, scalar in found]
    for section, example in (examples or {}).items():
        last = max((i for i, (loc, _, _) in enumerate(found) if loc[:1] == (section,)), default=None)
        if last is not None:
            lines[last] += ("" if lines[last].endswith(("?", ".")) else ".") + f" Example: {example}"
    return lines
