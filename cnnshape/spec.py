"""The spec file format as pydantic models (strict: unknown keys are errors).

This module checks the document's structure. Layer arguments are checked later, per
kind, once `$` substitutions are known (graph.py), by the layer's own model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Union

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr, ValidationError

from cnnshape.errors import Issue, Loc, SpecError
from cnnshape.source import Source

RESERVED = ("name", "from", "repeat", "if")
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

Scalar = Union[StrictBool, StrictInt, StrictFloat, StrictStr, None]
ArgValue = Union[Scalar, list[Any]]


class StrictModel(BaseModel):
    """Base of every user-facing model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class BlockDef(StrictModel):
    """A reusable group of layers, used like a layer kind."""

    description: str | None = None
    args: dict[str, ArgValue] = Field(default_factory=dict)
    layers: list[Any] = Field(min_length=1)
    outputs: list[str] | None = None


class NetworkSpec(StrictModel):
    """A whole spec file."""

    name: str
    description: str | None = None
    input: list[Union[StrictInt, StrictStr]] = Field(min_length=1)
    args: dict[str, ArgValue] = Field(default_factory=dict)
    blocks: dict[str, BlockDef] = Field(default_factory=dict)
    layers: list[Any] = Field(min_length=1)
    outputs: list[str] | None = None


@dataclass
class LayerCall:
    """One parsed layer entry: a kind (layer or block) with its arguments and reserved keys."""

    kind: str
    args: dict[str, Any]
    loc: Loc  # loc of the entry in the document
    name: Any = None
    from_: Any = None
    repeat: Any = 1
    if_: Any = True
    present: set[str] = field(default_factory=set)  # reserved keys written explicitly

    @property
    def args_loc(self) -> Loc:
        return self.loc + (self.kind,)


def _real_loc(loc: tuple, data: Any, missing: bool) -> tuple:
    """Drop pydantic's union-member tags ('constrained-int', 'tuple[...]') from a loc by
    keeping only the steps that exist in the validated data (and a missing key's name)."""
    real = []
    for i, step in enumerate(loc):
        if isinstance(data, dict) and step in data:
            data = data[step]
        elif isinstance(data, list) and isinstance(step, int) and 0 <= step < len(data):
            data = data[step]
        elif not (missing and i == len(loc) - 1):
            continue
        real.append(step)
    return tuple(real)


def pydantic_issues(
    error: ValidationError, base: Loc, what: str = "key", fields: list[str] = (), data: Any = None,
) -> list[Issue]:
    """Turn pydantic's errors into Issues located at `base + loc`, one per location,
    with did-you-mean hints for unknown keys."""
    import difflib

    issues: dict[tuple, Issue] = {}
    for item in error.errors(include_url=False):
        missing = item["type"] == "missing"
        rel = _real_loc(tuple(item["loc"]), data, missing) if data is not None else tuple(item["loc"])
        loc = base + rel
        if loc in issues:
            continue  # the first failing member of a union says enough
        kind = item["type"]
        field_name = rel[-1] if rel else ""
        if kind == "extra_forbidden":
            message = f"unknown {what} {field_name!r}"
            close = difflib.get_close_matches(str(field_name), list(fields), n=1) if len(rel) == 1 else []
            if close:
                message += f"; did you mean {close[0]!r}?"
            elif fields and len(rel) == 1:
                message += f"; expected one of: {', '.join(fields)}"
            issues[loc] = Issue(loc, "unknown-argument", message, at_key=True)
        elif kind == "missing":
            issues[loc] = Issue(base + rel[:-1], "missing-argument", f"missing required {what} {field_name!r}")
        else:
            message = item["msg"]
            if kind not in ("value_error", "assertion_error") and "input" in item and not isinstance(item["input"], dict):
                message += f", got {item['input']!r}"
            if kind == "value_error":
                message = message.removeprefix("Value error, ")
            if field_name != "":
                message = f"{field_name!r}: {message}"
            issues[loc] = Issue(loc, "bad-value" if base else "schema", message)
    return list(issues.values())


def parse_network(source: Source) -> NetworkSpec:
    """Validate the document's top-level structure."""
    data = source.data
    if not isinstance(data, dict):
        raise SpecError(source.problems([Issue((), "schema", "a spec is a mapping with `name`, `input` and `layers`")]))
    try:
        return NetworkSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(source.problems(pydantic_issues(exc, (), fields=list(NetworkSpec.model_fields), data=data))) from None


def parse_layer_entry(raw: Any, loc: Loc) -> LayerCall | Issue:
    """Read one `layers:` item: `Kind` or `{Kind: {arguments}}`."""
    if isinstance(raw, str):
        if not NAME_RE.match(raw):
            return Issue(loc, "bad-layer", f"{raw!r} is not a layer kind name")
        return LayerCall(kind=raw, args={}, loc=loc)
    if not isinstance(raw, dict) or len(raw) != 1:
        found = f"a mapping with {len(raw)} keys" if isinstance(raw, dict) else type(raw).__name__
        return Issue(
            loc, "bad-layer",
            f"a layer is a kind name or a one-key mapping `Kind: {{arguments}}`, found {found}; "
            "indent the arguments under the kind",
        )
    ((kind, body),) = raw.items()
    if not isinstance(kind, str) or not NAME_RE.match(kind):
        return Issue(loc, "bad-layer", f"{kind!r} is not a layer kind name")
    if body is None:
        body = {}
    if not isinstance(body, dict):
        return Issue(loc + (kind,), "bad-layer", f"the arguments of {kind} must be a mapping, found {type(body).__name__}")
    args = {key: value for key, value in body.items() if key not in RESERVED}
    call = LayerCall(kind=kind, args=args, loc=loc)
    call.present = {key for key in RESERVED if key in body}
    call.name = body.get("name")
    call.from_ = body.get("from")
    call.repeat = body.get("repeat", 1)
    call.if_ = body.get("if", True)
    return call
