"""The bridge's commands, added to the main app by `register(app)`: thin wiring, lazy
imports. Importing this module never imports torch; without torch installed the commands
say how to install it and exit 1."""

from __future__ import annotations

import importlib.util
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from cnnshape.bridge import INSTALL_HINT
from cnnshape.cli.console import console, echo, fail, write_output
from cnnshape.cli.options import InputOption, OutputOption, ScaleOption, SetOption, SpecArgument, overrides, shape


class Target(str, Enum):
    pytorch = "pytorch"


class Device(str, Enum):
    meta = "meta"
    cpu = "cpu"


def _require_torch(command: str) -> None:
    if importlib.util.find_spec("torch") is None:
        fail(messages=[f"cnnshape {command} needs PyTorch, which is not installed; install the extra: {INSTALL_HINT}"])


def _analyse(spec: Path, set_: Optional[list[str]], input: Optional[str], scale: Optional[str] = None) -> Any:
    """The analysed spec, or every problem printed and exit 1."""
    from cnnshape.bridge.analysed import analyse_file
    from cnnshape.errors import SpecError

    input_shape, given = shape(input), overrides(set_, scale=scale)
    try:
        return analyse_file(spec, given, input_shape)
    except SpecError as exc:
        fail(exc.problems)


def _export_text(analysed: Any) -> str:
    from cnnshape.bridge.export import ExportError, export_analysed

    try:
        return export_analysed(analysed)
    except ExportError as exc:
        fail(messages=[f"{analysed.report.file}: cannot export: {exc}"])


def export(
    spec: SpecArgument,
    to: Annotated[Target, typer.Option("--to", help="The framework to write code for.")] = Target.pytorch,
    output: OutputOption = None,
    input: InputOption = None,
    set_: SetOption = None,
    scale: ScaleOption = None,
) -> None:
    """Write the spec as PyTorch code: one nn.Module class per block, build() for the model."""
    _require_torch("export")
    text = _export_text(_analyse(spec, set_, input, scale))
    if output is None:
        echo(text)
    else:
        write_output(output, text)
        typer.echo(f"wrote {output}", err=True)


def verify(
    spec: SpecArgument,
    input: InputOption = None,
    set_: SetOption = None,
    device: Annotated[
        Device, typer.Option("--device", help="meta: shapes only, no memory; cpu: a real forward pass on zeros.")
    ] = Device.meta,
    scale: ScaleOption = None,
) -> None:
    """Build the spec in PyTorch and compare every layer and the totals with the analysis; exit 1 on a mismatch.

    Compares each layer's and block's output shapes, parameters and buffers, and the
    totals: parameters, buffers and MACs (counted by hooks on the torch side)."""
    _require_torch("verify")
    analysed = _analyse(spec, set_, input, scale)
    _export_text(analysed)  # an unexportable spec fails here, with its reason
    from cnnshape.bridge._torch import torch
    from cnnshape.bridge.render import render_verify
    from cnnshape.bridge.verify import verify_analysed

    result = verify_analysed(analysed, device.value)
    render_verify(result, console(), torch.__version__)
    if not result.ok:
        fail()


def import_(
    target: Annotated[
        str,
        typer.Argument(
            help="pkg.module:attr or path/to/file.py:attr: an nn.Module instance, class or zero-argument factory; timm:NAME for timm.create_model(NAME, pretrained=False); or a model.onnx file.",
            show_default=False,
        ),
    ],
    input: Annotated[
        Optional[str],
        typer.Option(
            "--input",
            "-i",
            help="The input shape to trace with, e.g. 1,3,224,224; a forward() of several tensors takes each by name, x1=1,3,64,64;x2=1,16 (for .onnx: the file's own input unless given).",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        Optional[Path], typer.Option("--output", "-o", help="Write the spec to this file instead of stdout.")
    ] = None,
    name: Annotated[
        Optional[str], typer.Option("--name", help="The spec's name (default: the model's class name).")
    ] = None,
    path: Annotated[
        Optional[list[str]],
        typer.Option(
            "--path",
            help="A folder to import TARGET's module from, first on sys.path (repeatable); the current folder only with --path .",
        ),
    ] = None,
) -> None:
    """Trace a PyTorch model with torch.fx (or read an .onnx file) and write it as a spec; exit 1 on an unmappable operation.

    This imports TARGET's module and calls the factory it names: it runs that code, so
    import only code you trust. Each operation without a cnnshape layer kind is reported
    with its module path (for ONNX, its node name and op type)."""
    input_shape = shape(input)
    if target.lower().endswith(".onnx") and ":" not in Path(target).name:
        if isinstance(input_shape, dict):
            fail(messages=[f"{target}: an .onnx file is imported with one --input shape (e.g. 1,3,224,224)"])
        _import_onnx(target, input_shape, output, name)
        return
    _require_torch("import")
    if input_shape is None:
        fail(messages=["cnnshape import needs --input for a PyTorch model (the shape to trace with, e.g. 1,3,224,224)"])
    from cnnshape.bridge.fx_import import TargetError, import_target

    # A spec that PyTorch and cnnshape disagree on is still written, under a name that
    # says so, next to the requested output: every file:line:col then points into it.
    rejected = _rejected_path(output)
    try:
        result = import_target(target, input_shape, name, path or [], str(rejected))
    except TargetError as exc:
        fail(messages=[f"{target}: {exc}"])
    _write_import(result, target, output, rejected, "PyTorch")


def _rejected_path(output: Optional[Path]) -> Path:
    return (
        output.with_name(output.stem + ".rejected" + (output.suffix or ".yaml"))
        if output is not None
        else Path("cnnshape-import.rejected.yaml")
    )


def _import_onnx(
    target: str, input_shape: Optional[tuple[int, ...]], output: Optional[Path], name: Optional[str]
) -> None:
    if importlib.util.find_spec("onnx") is None:
        fail(messages=["cnnshape import of an .onnx file needs onnx, which is not installed: pip install onnx"])
    from cnnshape.bridge.onnx_import import OnnxError, import_onnx

    rejected = _rejected_path(output)
    try:
        result = import_onnx(target, input_shape, name, str(rejected))
    except OnnxError as exc:
        fail(messages=[f"{target}: {exc}"])
    _write_import(result, target, output, rejected, "the ONNX file")


def _write_import(result: Any, target: str, output: Optional[Path], rejected: Path, source: str) -> None:
    from cnnshape.bridge.render import render_import

    err = console(stderr=True, soft_wrap=True)
    if not result.ok:
        if result.text:
            write_output(rejected, result.text)
            result.problems.append(f"wrote the rejected spec to {rejected}")
        render_import(result, err, target, source)
        fail()
    if output is None:
        echo(result.text)
    else:
        write_output(output, result.text)
    render_import(result, err, target, source)


def register(app: typer.Typer) -> None:
    """Add `export`, `verify` and `import` to the cnnshape app."""
    app.command("export")(export)
    app.command("verify")(verify)
    app.command("import")(import_)
