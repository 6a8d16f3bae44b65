"""Commands that need no spec file: schema, calc (one layer), layers (the registry)."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Optional

import typer

from cnnshape.cli.console import Renderer, echo, fail, show, write_output
from cnnshape.cli.options import Dtype, DtypeOption, OutputOption, shape


def schema(output: OutputOption = None) -> None:
    """Print the spec format's JSON Schema (for yaml-language-server and other editors)."""
    import json

    from cnnshape.schema import spec_schema

    text = json.dumps(spec_schema(), indent=2) + "\n"
    if output is None:
        echo(text)
    else:
        write_output(output, text)


class CalcFormat(str, Enum):
    text = "text"
    json = "json"


CALC = {
    "text": Renderer("cnnshape.render.explain", "render_calc"),
    "json": Renderer("cnnshape.render.explain", "json_pieces"),
}


def calc(
    ctx: typer.Context,
    kind: Annotated[
        str, typer.Argument(help="A layer kind, any case: conv2d, MaxPool2d, linear, ...", show_default=False)
    ],
    input: Annotated[str, typer.Option("--input", "-i", help="The input shape, e.g. 1,128,40,50.", show_default=False)],
    format: Annotated[CalcFormat, typer.Option("--format", "-f", help="text or json.")] = CalcFormat.text,
    dtype: DtypeOption = Dtype.float32,
) -> None:
    """One layer without a spec: `calc conv2d --input 1,128,40,50 --out-channels 64 --kernel-size 3 --padding 1`.

    The layer's arguments are its PyTorch argument names as options (--out-channels,
    --kernel-size, ...), with values read like YAML: 3, [1,7], false, same.
    """
    from cnnshape.calc import CalcError, CalcUsageError, parse_arguments
    from cnnshape.calc import calc as calc_layer
    from cnnshape.explain import explain as explain_report

    input_shape = shape(input)
    assert input_shape is not None  # --input is required
    try:
        report = calc_layer(kind, parse_arguments(ctx.args), input_shape, dtype.value)
    except CalcError as exc:
        fail(
            messages=[f"cnnshape calc: {line}" for line in str(exc).splitlines()],
            code=2 if isinstance(exc, CalcUsageError) else 1,
        )
    show(CALC, format.value, explain_report(report), report=report)
    for warning in report.warnings:
        typer.echo(f"cnnshape calc: warning: {warning.message}", err=True)


class LayersFormat(str, Enum):
    table = "table"
    markdown = "markdown"
    json = "json"


LAYERS = {
    "table": Renderer("cnnshape.render.layers", "render"),
    "one": Renderer("cnnshape.render.layers", "render_one"),  # the table of one kind
    "markdown": Renderer("cnnshape.render.layers", "markdown"),
    "json": Renderer("cnnshape.render.layers", "render_json"),
}


def layers(
    kind: Annotated[
        Optional[str],
        typer.Argument(
            help="One kind (any case) to show in full, or a family (conv, pool, norm, ...) to list.", show_default=False
        ),
    ] = None,
    format: Annotated[
        LayersFormat, typer.Option("--format", "-f", help="table, markdown (docs/layers.md) or json.")
    ] = LayersFormat.table,
) -> None:
    """Every layer kind with its family, arguments and defaults, from the registry."""
    from cnnshape import catalog

    members = catalog.family(kind) if kind else catalog.kinds()
    if kind and members:
        kind = None  # a family: list it like the whole registry
    try:
        chosen = [catalog.lookup(kind)] if kind else members
    except catalog.UnknownKind as exc:
        fail(messages=[f"cnnshape layers: {exc}"], code=2)
    if kind and format is LayersFormat.table:
        show(LAYERS, "one", chosen[0])
    else:
        show(LAYERS, format.value, chosen)
