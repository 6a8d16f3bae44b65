"""The layer kinds as plain data, read from the registry: family, arguments with their
types and defaults, inputs, and the docstring's summary and YAML example. What
`cnnshape layers` and docs/layers.md show.
"""

from __future__ import annotations

import re
import typing
from dataclasses import dataclass, field
from typing import Any, Optional

# What a null default means, where it means more than "not set".
NULL_MEANS = {
    ("pool", "stride"): "null (= kernel_size)",
    ("activation", "dim"): "null (PyTorch's implicit dim; warns)",
}

FAMILY_TITLES = {
    "conv": "Convolution",
    "pool": "Pooling",
    "linear": "Fully connected",
    "norm": "Normalisation",
    "activation": "Activation, dropout, identity",
    "merge": "Merge (several inputs)",
    "reshape": "Reshape and reduce",
    "resample": "Resampling and padding",
    "recurrent": "Recurrent and embedding",
    "split": "Split and select (several outputs)",
    "attention": "Attention",
    "learned": "Learned tensors",
}

_EXAMPLE = re.compile(r"```yaml\n(.*?)```", re.DOTALL)


@dataclass
class Argument:
    name: str
    type: str  # "int ≥ 1 or list of int ≥ 1"
    default: Optional[str]  # as YAML would write it; None when required
    required: bool = False
    inferred: bool = False  # an input-side size: read from the input when left out


@dataclass
class KindInfo:
    kind: str
    family: str
    summary: str  # the docstring's first line
    description: str  # the rest of the docstring, before the example
    example: str  # the docstring's YAML example
    inputs: str  # "1", "2+", "1-3"
    arguments: list[Argument] = field(default_factory=list)


def type_text(annotation: Any) -> str:
    """A field's type for people: `int ≥ 1 or list of int ≥ 1`, `` `zeros` / `reflect` ``."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        text = type_text(args[0])
        for meta in args[1:]:
            for item in getattr(meta, "metadata", None) or [meta]:
                if getattr(item, "ge", None) is not None:
                    text += f" ≥ {item.ge}"
        return text
    if origin is typing.Union:
        parts: list[str] = []
        for arg in args:
            if arg is not type(None) and type_text(arg) not in parts:
                parts.append(type_text(arg))
        if "float" in parts and "int" in parts:  # a float argument accepts ints
            parts.remove("int")
        if "list of float" in parts and "list of int" in parts:
            parts.remove("list of int")
        return " or ".join(parts)
    if origin is typing.Literal:
        return " / ".join(f"`{arg}`" for arg in args)
    if origin is tuple:
        items = [arg for arg in args if arg is not Ellipsis]
        inner = type_text(items[0])
        if typing.get_origin(items[0]) is typing.Union and type(None) in typing.get_args(items[0]):
            inner = f"({inner} or null)"
        return f"list of {inner}" if args[-1] is Ellipsis else f"list of {len(items)} {inner}"
    return {int: "int", float: "float", bool: "bool", str: "string"}.get(annotation, str(annotation))


def inferred_arguments(cls: Any) -> set[str]:
    """Input-side sizes PyTorch needs but a spec leaves out: read from the input, checked
    when given (what the kind's PyTorch side declares)."""
    return cls.pytorch.inferred_args() if cls.pytorch is not None else set()


def default_text(family: str, name: str, value: Any, inferred: bool = False) -> str:
    """A default as YAML would write it (`true`, `1.0e-5`, `[1, 1]`)."""
    if inferred:
        return "inferred"
    if value is None:
        return NULL_MEANS.get((family, name), "null")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and "e" in repr(value):
        mantissa, exponent = repr(value).split("e")
        return f"{mantissa if '.' in mantissa else mantissa + '.0'}e{int(exponent):+d}"  # YAML 1.1 needs the dot
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)


def argument(family: str, name: str, info: Any, inferred: bool = False) -> Argument:
    kind = type_text(info.annotation)
    for item in info.metadata:
        if getattr(item, "ge", None) is not None:
            kind += f" ≥ {item.ge}"
    annotation = info.annotation
    nullable = typing.get_origin(annotation) is typing.Union and type(None) in typing.get_args(annotation)
    if nullable and info.default is not None and not inferred:
        kind += " or null"
    if info.is_required():
        return Argument(name, kind, None, required=True)
    return Argument(name, kind, default_text(family, name, info.default, inferred), inferred=inferred)


def arguments_of(cls: Any, family: str) -> list[Argument]:
    """A kind's arguments, in field order, inferred ones marked."""
    inferred = inferred_arguments(cls)
    return [argument(family, name, info, name in inferred) for name, info in cls.model_fields.items()]


def inputs_text(cls: Any) -> str:
    if cls.max_inputs is None:
        return f"{cls.min_inputs}+"
    return str(cls.min_inputs) if cls.min_inputs == cls.max_inputs else f"{cls.min_inputs}-{cls.max_inputs}"


def family_of(cls: Any, module: Any) -> str:
    return cls.family or module.__name__.rsplit(".", 1)[-1]


def describe(cls: Any, family: str) -> KindInfo:
    doc = (cls.__doc__ or "").strip()
    example = _EXAMPLE.search(doc)
    body = doc[: example.start()] if example else doc
    lines = [line.strip() for line in body.splitlines()]
    summary_end = lines.index("") if "" in lines else len(lines)
    summary = " ".join(lines[:summary_end])
    description = "\n".join(lines[summary_end:]).strip()
    snippet = "\n".join(line.strip() for line in example.group(1).strip().splitlines()) if example else ""
    return KindInfo(
        kind=cls.kind(),
        family=family,
        summary=summary,
        description=description,
        example=snippet,
        inputs=inputs_text(cls),
        arguments=arguments_of(cls, family),
    )


def kinds() -> list[KindInfo]:
    """Every registered kind, family by family in the registry's order."""
    from cnnshape.layers import FAMILIES

    return [describe(cls, family_of(cls, module)) for module in FAMILIES for cls in module.KINDS]


class UnknownKind(LookupError):
    """A kind name that is not registered; the message has a did-you-mean hint."""

    def __str__(self) -> str:
        return str(self.args[0])


def resolve(name: str) -> str:
    """The registered kind for `name`, ignoring case; UnknownKind with a hint if none."""
    from cnnshape.layers import REGISTRY

    lowered = {kind.lower(): kind for kind in REGISTRY}
    if name.lower() in lowered:
        return lowered[name.lower()]
    from cnnshape.errors import did_you_mean

    hint = did_you_mean(name, REGISTRY, n=3) or "; `cnnshape layers` lists them"
    raise UnknownKind(f"unknown layer kind {name!r}{hint}")


def lookup(name: str) -> KindInfo:
    kind = resolve(name)
    return next(info for info in kinds() if info.kind == kind)


def family(name: str) -> list[KindInfo]:
    """The kinds of family `name` (conv, pool, ...; any case); empty if there is none."""
    return [info for info in kinds() if info.family == name.lower()]
