"""The bridge's commands, added to the main app by `register(app)`: thin wiring, lazy
imports. Importing this module never imports torch; without torch installed the commands
say how to install it and exit 1."""

from __future__ import annotations

import importlib.util
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from cnnshape.bridge import INSTALL_HINT


class Target(str, Enum):
    pytorch = "pytorch"


class Device(str, Enum):
    meta = "meta"
    cpu = "cpu"


def _require_torch(command: str) -> None:
    if importlib.util.find_spec("torch") is None:
        typer.echo(f"cnnshape {command} needs PyTorch, which is not installed; install the extra: {INSTALL_HINT}", err=True)
        raise typer.Exit(1)


def _shape(text: Optional[str], hint: str = "'--input'") -> Optional[tuple[int, ...]]:
    if text is None:
        return None
    parts = [part.strip() for part in text.replace("x", ",").split(",")]
    if not all(part.isdigit() and int(part) > 0 for part in parts):
        raise typer.BadParameter(f"expected positive integers separated by commas, like 1,3,224,224; got {text!r}", param_hint=hint)
    return tuple(int(part) for part in parts)


def _overrides(pairs: Optional[list[str]]) -> dict:
    from cnnshape.graph import parse_overrides

    try:
        return parse_overrides(pairs or [])
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--set") from None


def _console():
    from rich.console import Console

    width = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", "0") or 0) or 160
    return Console(width=width, highlight=False, soft_wrap=False)


def _analyse(spec: Path, set_: Optional[list[str]], input: Optional[str]):
    """The analysed spec, or every problem printed and exit 1."""
    from cnnshape.bridge.export import analyse_file
    from cnnshape.errors import SpecError

    input_shape, overrides = _shape(input), _overrides(set_)
    try:
        return analyse_file(spec, overrides, input_shape)
    except SpecError as exc:
        for problem in exc.problems:
            typer.echo(problem.format(), err=True)
        errors = sum(1 for p in exc.problems if p.severity == "error")
        if errors > 1:
            typer.echo(f"found {errors} errors", err=True)
        raise typer.Exit(1) from None


def _export_text(analysed) -> str:
    from cnnshape.bridge.export import ExportError, export_analysed

    try:
        return export_analysed(analysed)
    except ExportError as exc:
        typer.echo(f"{analysed.report.file}: cannot export: {exc}", err=True)
        raise typer.Exit(1) from None


def export(
    spec: Annotated[Path, typer.Argument(help="The network spec (YAML).", show_default=False)],
    to: Annotated[Target, typer.Option("--to", help="The framework to write code for.")] = Target.pytorch,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write to this file instead of stdout.")] = None,
    input: Annotated[Optional[str], typer.Option("--input", "-i", help="Override the input shape, e.g. 1,3,299,299.")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", "-s", help="Override a network arg: NAME=VALUE (repeatable).")] = None,
) -> None:
    """Write the spec as PyTorch code: one nn.Module class per block, build() for the model."""
    _require_torch("export")
    text = _export_text(_analyse(spec, set_, input))
    if output is None:
        typer.echo(text, nl=False)
    else:
        from cnnshape.cli import write_output

        write_output(output, text)
        typer.echo(f"wrote {output}", err=True)


def verify(
    spec: Annotated[Path, typer.Argument(help="The network spec (YAML).", show_default=False)],
    input: Annotated[Optional[str], typer.Option("--input", "-i", help="Override the input shape, e.g. 1,3,299,299.")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", "-s", help="Override a network arg: NAME=VALUE (repeatable).")] = None,
    device: Annotated[Device, typer.Option("--device", help="meta: shapes only, no memory; cpu: a real forward pass on zeros.")] = Device.meta,
) -> None:
    """Build the spec in PyTorch and compare every layer and the totals with the analysis; exit 1 on a mismatch.

    Compares each layer's and block's output shapes, parameters and buffers, and the
    totals: parameters, buffers and MACs (counted by hooks on the torch side)."""
    _require_torch("verify")
    analysed = _analyse(spec, set_, input)
    _export_text(analysed)  # an unexportable spec fails here, with its reason
    from cnnshape.bridge._torch import torch
    from cnnshape.bridge.render import render_verify
    from cnnshape.bridge.verify import verify_analysed

    result = verify_analysed(analysed, device.value)
    render_verify(result, _console(), torch.__version__)
    if not result.ok:
        raise typer.Exit(1)


def import_(
    target: Annotated[str, typer.Argument(help="pkg.module:attr or path/to/file.py:attr: an nn.Module instance, class or zero-argument factory.", show_default=False)],
    input: Annotated[str, typer.Option("--input", "-i", help="The input shape to trace with, e.g. 1,3,224,224.", show_default=False)],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write the spec to this file instead of stdout.")] = None,
    name: Annotated[Optional[str], typer.Option("--name", help="The spec's name (default: the model's class name).")] = None,
) -> None:
    """Trace a PyTorch model with torch.fx and write it as a spec; exit 1 on an unmappable operation.

    Each operation without a cnnshape layer kind is reported with its module path."""
    _require_torch("import")
    input_shape = _shape(input)
    from cnnshape.bridge.fx_import import TargetError, import_target
    from cnnshape.bridge.render import render_import

    from rich.console import Console

    try:
        result = import_target(target, input_shape, name)
    except TargetError as exc:
        typer.echo(f"{target}: {exc}", err=True)
        raise typer.Exit(1) from None
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    if not result.ok:
        render_import(result, err, target)
        raise typer.Exit(1)
    if output is None:
        typer.echo(result.text, nl=False)
    else:
        from cnnshape.cli import write_output

        write_output(output, result.text)
    render_import(result, err, target)


def register(app: typer.Typer) -> None:
    """Add `export`, `verify` and `import` to the cnnshape app."""
    app.command("export")(export)
    app.command("verify")(verify)
    app.command("import")(import_)
