"""What a user sets from outside a spec: an input shape (`--input 1,3,224,224`) and network
args (`--set width=64`). One reader for each, shared by the command line, the bridge's
commands, sweep and the library; both raise ValueError with a message fit for the user."""

from __future__ import annotations

from typing import Any

# `--input` sizes are written by hand: 18 digits is past any real tensor and keeps a huge
# number from reaching int() (Python refuses to read more than 4,300 digits).
MAX_DIM_DIGITS = 18


def parse_shape(text: str) -> tuple[int, ...]:
    """`1,3,224,224`, `1x3x224x224` or `[1, 3, 224, 224]` -> (1, 3, 224, 224)."""
    bare = text.strip().removeprefix("[").removesuffix("]").removeprefix("(").removesuffix(")")
    parts = [part.strip() for part in bare.replace("x", ",").split(",")]
    if not all(part.isascii() and part.isdigit() and len(part) <= MAX_DIM_DIGITS and int(part) > 0 for part in parts):
        raise ValueError(f"expected positive integers separated by commas, like 1,3,224,224; got {text!r}")
    return tuple(int(part) for part in parts)


def parse_inputs(text: str) -> tuple[int, ...] | dict[str, tuple[int, ...]]:
    """`--input`: one shape (`1,3,224,224`), or named inputs `x1=1,1,88,88;x2=1,1,88,88`."""
    if "=" not in text:
        return parse_shape(text)
    from cnnshape.spec import NAME_RE

    shapes: dict[str, tuple[int, ...]] = {}
    for part in text.split(";"):
        name, sep, shape = part.partition("=")
        if not sep or not NAME_RE.match(name.strip()):
            raise ValueError(
                f"expected NAME=SHAPE pairs separated by ';', like x1=1,3,224,224;x2=1,16; got {part.strip()!r}"
            )
        shapes[name.strip()] = parse_shape(shape)
    return shapes


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """`--set k=v` pairs; values read as in a spec (10, 0.5, 1e-3, true, relu, [1, 2])."""
    from cnnshape.source import load_scalar
    from cnnshape.spec import NAME_RE

    result: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not NAME_RE.match(key.strip()):
            raise ValueError(f"--set expects NAME=VALUE, got {pair!r}")
        value = load_scalar(text) if text.strip() else ""
        if isinstance(value, dict):
            value = text  # a mapping is not a value an arg can take: kept as the text written
        result[key.strip()] = value
    return result
