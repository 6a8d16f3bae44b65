"""The spec file format as pydantic models (strict: unknown keys are errors).

This module checks the document's structure. Layer arguments are checked later, per
kind, once `$` substitutions are known (graph.py), by the layer's own model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Optional, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
)

from cnnshape.errors import Issue, Loc, SpecError, close_matches, did_you_mean
from cnnshape.source import Source

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails

RESERVED = ("name", "from", "repeat", "if", "else", "training_only", "share", "trainable")
_RESERVED_SET = frozenset(RESERVED)
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")  # \Z: `$` would let a trailing newline through

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


def _quantity(value: object) -> object:
    from cnnshape.quantity import parse_quantity

    return None if value is None else parse_quantity(value)


Quantity = Annotated[Optional[Union[StrictInt, StrictStr]], AfterValidator(_quantity)]


class Expect(StrictModel):
    """What the network must stay: checked by `cnnshape lint` (budgets take 25M, 4.1G, 200MiB)."""

    output_shape: Optional[list[StrictInt]] = None
    shapes: dict[str, list[StrictInt]] = Field(default_factory=dict)
    max_params: Quantity = None
    max_macs: Quantity = None
    max_flops: Quantity = None
    max_param_bytes: Quantity = None
    max_activation_bytes: Quantity = None
    min_receptive_field: Optional[Annotated[StrictInt, Field(ge=1)]] = None


class NetworkSpec(StrictModel):
    """A whole spec file."""

    name: str
    description: str | None = None
    # One shape, or several named inputs: {image: [1, 3, 224, 224], extra: [1, 16]}.
    input: Union[
        Annotated[list[Union[StrictInt, StrictStr]], Field(min_length=1)],
        Annotated[dict[str, Annotated[list[Union[StrictInt, StrictStr]], Field(min_length=1)]], Field(min_length=1)],
    ]
    args: dict[str, ArgValue] = Field(default_factory=dict)
    blocks: dict[str, BlockDef] = Field(default_factory=dict)
    layers: list[Any] = Field(min_length=1)
    outputs: list[str] | None = None
    expect: Optional[Expect] = None


@dataclass(eq=False)  # nothing compares calls; an __eq__ would only cost import time
class LayerCall:
    """One parsed layer entry: a kind (layer or block) with its arguments and reserved keys."""

    kind: str
    args: dict[str, Any]
    loc: Loc  # loc of the entry in the document
    name: Any = None
    from_: Any = None
    repeat: Any = 1
    if_: Any = True
    else_: Any = None  # what a skipped entry stands for (references, like `from`)
    share: Any = None  # an earlier layer or block use whose weights this entry reuses
    trainable: Any = True
    training_only: Any = False
    present: set[str] = field(default_factory=set)  # reserved keys written explicitly

    @property
    def args_loc(self) -> Loc:
        return self.loc + (self.kind,)


def _real_loc(loc: tuple, data: Any, missing: bool) -> tuple:
    """Drop pydantic's union-member tags ('constrained-int', 'tuple[...]') from a loc by
    keeping only the steps that exist in the validated data (and a missing key's name)."""
    real = []
    for i, step in enumerate(loc):
        if (
            isinstance(data, dict)
            and step in data
            or isinstance(data, list)
            and isinstance(step, int)
            and 0 <= step < len(data)
        ):
            data = data[step]
        elif not (missing and i == len(loc) - 1):
            continue
        real.append(step)
    return tuple(real)


def pydantic_issues(
    error: ValidationError,
    base: Loc,
    what: str = "key",
    fields: Any = (),
    data: Any = None,
) -> list[Issue]:
    """Turn pydantic's errors into Issues located at `base + loc`: one per bad value, with
    did-you-mean hints for unknown keys and no echo of what one mistake implies."""

    located = []
    for item in error.errors(include_url=False):
        missing = item["type"] == "missing"
        rel = _real_loc(tuple(item["loc"]), data, missing) if data is not None else tuple(item["loc"])
        located.append((rel, item))
    # A union member that got inside the value (`stride: [2, 0]` fails at the 0) says more
    # than one that rejected it whole ("not an integer").
    deeper = {rel[:i] for rel, item in located if item["type"] != "missing" for i in range(len(rel))}
    by_loc: dict[tuple, list[ErrorDetails]] = {}
    for rel, item in located:
        if item["type"] == "missing" or rel not in deeper:
            by_loc.setdefault(rel, []).append(item)

    fields_for = fields if callable(fields) else (lambda rel: list(fields) if len(rel) == 1 else [])
    suggested: set[str] = set()
    issues: list[Issue] = []
    for rel, items in by_loc.items():
        loc = base + rel
        kind = items[0]["type"]
        field_name = rel[-1] if rel else ""
        if kind == "extra_forbidden":
            message = f"unknown {what} {field_name!r}"
            known = fields_for(rel)
            close = close_matches(str(field_name), known)
            if close:
                message += did_you_mean(str(field_name), known)
                suggested.update(close)
            elif known:
                message += f"; expected one of: {', '.join(known)}"
            issues.append(Issue(loc, "unknown-argument", message, at_key=True))
        elif kind == "missing":
            # Point at the key of the mapping that lacks it (the layer's kind), not its body.
            issues.append(
                Issue(
                    base + rel[:-1],
                    "missing-argument",
                    f"missing required {what} {field_name!r}",
                    at_key=True,
                    extra={"missing": field_name},
                )
            )
        else:
            issues.append(Issue(loc, "bad-value" if base else "schema", _value_message(rel, items)))
    # `kernal_size` (did you mean 'kernel_size'?) already says that kernel_size is missing.
    return [issue for issue in issues if issue.extra.get("missing") not in suggested]


def _value_message(rel: tuple, items: list[ErrorDetails]) -> str:
    """One message for a bad value; the failures of a union's members are combined when
    each only says "wrong type", else the first specific one ("greater than or equal to 1") wins."""
    specific = [item for item in items if not item["type"].endswith("_type") and item["type"] != "literal_error"]
    if specific and specific[0]["type"] == "too_short":
        item = specific[0]
        need = item.get("ctx", {}).get("min_length", 1)
        message = f"needs at least {need} item{'s' if need != 1 else ''}"
    elif specific:
        item = specific[0]
        message = item["msg"].removeprefix("Value error, ")
    else:
        item = items[0]
        wants = [i["msg"].removeprefix("Input should be ").replace("a valid tuple", "a list") for i in items]
        message = "should be " + ", or ".join(dict.fromkeys(wants))
    message = message.replace("Input should be", "should be")
    if (
        item["type"] not in ("value_error", "assertion_error")
        and "input" in item
        and not isinstance(item["input"], dict)
    ):
        message += f", got {item['input']!r}"
    names = [step for step in rel if isinstance(step, str)]
    if names:
        label = repr(names[-1]) + "".join(f"[{step}]" for step in rel[rel.index(names[-1]) + 1 :])
        message = f"{label}: {message}"
    return message


def parse_network(source: Source) -> NetworkSpec:
    """Validate the document's top-level structure."""
    data = source.data
    if not isinstance(data, dict):
        raise SpecError(
            source.pending
            + source.problems([Issue((), "schema", "a spec is a mapping with `name`, `input` and `layers`")])
        )
    try:
        return NetworkSpec.model_validate(data)
    except ValidationError as exc:
        issues = pydantic_issues(exc, (), fields=_known_keys, data=data)
        raise SpecError(source.pending + source.problems(issues)) from None


def _known_keys(rel: tuple) -> list[str]:
    """The keys allowed where an unknown key was found: top level or a block definition."""
    if len(rel) == 1:
        return list(NetworkSpec.model_fields)
    if len(rel) == 3 and rel[0] == "blocks":
        return list(BlockDef.model_fields)
    if len(rel) == 2 and rel[0] == "expect":
        return list(Expect.model_fields)
    return []


def parse_layer_entry(raw: Any, loc: Loc) -> LayerCall | Issue:
    """Read one `layers:` item: `Kind` or `{Kind: {arguments}}`."""
    if isinstance(raw, str):
        if not NAME_RE.match(raw):
            return Issue(loc, "bad-layer", f"{raw!r} is not a layer kind name")
        return LayerCall(raw, {}, loc)
    if not isinstance(raw, dict) or len(raw) != 1:
        if isinstance(raw, dict):
            found = f"a mapping with {len(raw)} keys; indent the arguments under the kind"
        else:
            found = "an empty entry" if raw is None else f"a {_yaml_type(raw)}"
        return Issue(
            loc, "bad-layer", f"a layer is a kind name or a one-key mapping `Kind: {{arguments}}`, found {found}"
        )
    ((kind, body),) = raw.items()
    if not isinstance(kind, str) or not NAME_RE.match(kind):
        return Issue(loc, "bad-layer", f"{kind!r} is not a layer kind name")
    if body is None:
        body = {}
    if not isinstance(body, dict):
        return Issue(
            loc + (kind,), "bad-layer", f"the arguments of {kind} must be a mapping, found a {_yaml_type(body)}"
        )
    if _RESERVED_SET.isdisjoint(body):  # most entries: arguments only
        return LayerCall(kind, dict(body), loc)
    args = {key: value for key, value in body.items() if key not in _RESERVED_SET}
    call = LayerCall(kind, args, loc)
    call.present = body.keys() & _RESERVED_SET
    call.name = body.get("name")
    call.from_ = body.get("from")
    call.repeat = body.get("repeat", 1)
    call.if_ = body.get("if", True)
    call.else_ = body.get("else")
    call.share = body.get("share")
    call.trainable = body.get("trainable", True)
    call.training_only = body.get("training_only", False)
    return call


def _yaml_type(value: Any) -> str:
    """What a YAML value is, in the user's words rather than Python's."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    names: dict[type, str] = {list: "list", dict: "mapping", str: "string"}
    return names.get(type(value), type(value).__name__)
