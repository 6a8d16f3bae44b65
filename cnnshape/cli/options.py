"""The command line's shared options, declared once, and the readers that turn their text
into values (a value that cannot be read is a usage error, exit 2)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from cnnshape.cli.console import usage_error


class Dtype(str, Enum):
    float32 = "float32"
    float16 = "float16"
    bfloat16 = "bfloat16"
    float64 = "float64"
    int8 = "int8"


SpecArgument = Annotated[Path, typer.Argument(help="The network spec (YAML).", show_default=False)]
InputOption = Annotated[
    Optional[str],
    typer.Option(
        "--input", "-i", help="Override the input shape, e.g. 1,3,299,299 (several inputs: NAME=SHAPE;NAME=SHAPE)."
    ),
]
SetOption = Annotated[
    Optional[list[str]], typer.Option("--set", "-s", help="Override a network arg: NAME=VALUE (repeatable).")
]
DtypeOption = Annotated[Dtype, typer.Option("--dtype", help="Element type for memory figures.")]
DepthOption = Annotated[
    Optional[int],
    typer.Option(
        "--depth",
        "-d",
        min=1,
        help="Show N levels of the layer tree; deeper blocks fold into one row with summed numbers.",
    ),
]
ScaleOption = Annotated[
    Optional[str],
    typer.Option("--scale", help="The scale of an Ultralytics model YAML (n, s, m, l, x): the same as --set scale=..."),
]
OutputOption = Annotated[Optional[Path], typer.Option("--output", "-o", help="Write to this file instead of stdout.")]


def shape(text: Optional[str], option: str = "'--input'") -> Any:
    """An `--input` shape (`1,3,224,224`, `1x3x224x224`, `[1,3,224,224]`), or named inputs
    (`x1=1,3,64,64;x2=1,16`, a dict); None if not given."""
    from cnnshape.overrides import parse_inputs

    if text is None:
        return None
    try:
        return parse_inputs(text)
    except ValueError as exc:
        usage_error(str(exc), option)


def overrides(pairs: Optional[list[str]], option: str = "--set", scale: Optional[str] = None) -> dict[str, Any]:
    """`--set NAME=VALUE` pairs as network args (and `--scale`, an Ultralytics file's scale)."""
    from cnnshape.overrides import parse_overrides

    try:
        given = parse_overrides(pairs or [])
    except ValueError as exc:
        usage_error(str(exc), option)
    if scale is not None:
        given["scale"] = scale
    return given


ColumnsOption = Annotated[
    Optional[str],
    typer.Option(
        "--columns",
        help="The table's columns, comma-separated (e.g. shape,params,macs); none are then left out on a narrow terminal.",
    ),
]


def columns(text: Optional[str], command: str) -> Optional[list[str]]:
    """`--columns kind,params` as keys of `command`'s table; an unknown key is a usage error."""
    if text is None:
        return None
    from cnnshape.render.fit import KEYS

    keys = [key.strip().lower() for key in text.split(",") if key.strip()]
    known = KEYS[command]
    for key in keys:
        if key not in known:
            usage_error(f"unknown column {key!r}; the columns are {', '.join(known)}", "'--columns'")
    return keys
