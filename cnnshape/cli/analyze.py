"""Commands that analyse a spec: summary, compare, sweep, explain, graph. Thin wiring:
read the options, run the core, show the result with the renderer its format names."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from cnnshape.cli.console import Renderer, echo, fail, show, usage_error, warn, write_output
from cnnshape.cli.options import (
    ColumnsOption,
    DepthOption,
    Dtype,
    DtypeOption,
    InputOption,
    OutputOption,
    ScaleOption,
    SetOption,
    SpecArgument,
    columns,
    overrides,
    shape,
)

if TYPE_CHECKING:
    from cnnshape.compare import Side
    from cnnshape.report import Report


def analyze(
    spec: Path, given: dict[str, Any], input_shape: Optional[tuple[int, ...]], dtype: str = "float32"
) -> Report:
    """The report, or every problem printed and exit 1."""
    from cnnshape.errors import SpecError
    from cnnshape.pipeline import analyze_file

    try:
        return analyze_file(spec, given, input_shape, dtype)
    except SpecError as exc:
        fail(exc.problems)


def analyze_sides(settings: list[tuple[Path, dict[str, Any], Optional[tuple[int, ...]]]], dtype: str) -> list[Side]:
    """Each (spec, overrides, input shape) analysed as one side of a comparison; every
    problem of every spec printed at once, exit 1."""
    from cnnshape.compare import Side
    from cnnshape.errors import Problem, SpecError
    from cnnshape.pipeline import analyze_file

    sides = []
    problems: list[Problem] = []
    for spec, given, input_shape in settings:
        try:
            sides.append(Side(analyze_file(spec, given, input_shape, dtype), given, input_shape))
        except SpecError as exc:
            problems += exc.problems
    if problems:
        fail(problems)
    return sides


class Optimizer(str, Enum):
    sgd = "sgd"
    momentum = "momentum"
    adam = "adam"
    adamw = "adamw"


class Precision(str, Enum):
    fp32 = "fp32"
    fp16_mixed = "fp16-mixed"
    bf16_mixed = "bf16-mixed"


def spec_input(spec: Path) -> tuple[int, ...]:
    """The input shape the spec declares (to change only its batch)."""
    return analyze(spec, {}, None).input_shape


def with_roofline(report: Report, name: str) -> Report:
    """The report with its roofline on the named device; an unknown device or a bad
    [tool.cnnshape.devices] entry is a usage error."""
    from dataclasses import replace

    from cnnshape.errors import did_you_mean
    from cnnshape.roofline import DeviceError, known_devices, roofline

    try:
        devices = known_devices()
    except DeviceError as exc:
        usage_error(str(exc), "--device")
    if name not in devices:
        usage_error(
            f"unknown device {name!r}{did_you_mean(name, devices)} (one of {', '.join(devices)}; "
            "add one under [tool.cnnshape.devices] in pyproject.toml)",
            "--device",
        )
    return replace(report, roofline=roofline(report, devices[name]))


def with_counting(report: Report, name: Optional[str], top: Optional[int], share: bool) -> Report:
    """The report with its counting in the named convention ('all': every one); an unknown
    name is a usage error with the closest names."""
    from dataclasses import replace

    from cnnshape.count import CONVENTIONS, DEFAULT, count_report
    from cnnshape.errors import did_you_mean

    known = [*CONVENTIONS, "all"]
    if name is not None and name not in known:
        usage_error(f"unknown convention {name!r}{did_you_mean(name, known)} (one of {', '.join(known)})", "--count")
    return replace(report, counting=count_report(report, [name or DEFAULT], top, share))


class Format(str, Enum):
    table = "table"
    json = "json"
    markdown = "markdown"
    csv = "csv"


SUMMARY = {
    "table": Renderer("cnnshape.render.table", "render"),
    "json": Renderer("cnnshape.render.json", "chunks"),
    "markdown": Renderer("cnnshape.render.markdown", "render"),
    "csv": Renderer("cnnshape.render.csv", "render"),
}


def summary(
    spec: SpecArgument,
    input: InputOption = None,
    set_: SetOption = None,
    depth: DepthOption = None,
    format: Annotated[
        Format, typer.Option("--format", "-f", help="table, json, markdown (a GitHub table, for PR comments) or csv.")
    ] = Format.table,
    dtype: DtypeOption = Dtype.float32,
    count: Annotated[
        Optional[str],
        typer.Option(
            "--count",
            help=(
                "Count MACs as a peer tool does: torchvision (default), fvcore, ptflops, ptflops-aten, thop, torchinfo, ultralytics, deepspeed; "
                "'all' lists every convention side by side with a breakdown by operation (docs/conventions.md)."
            ),
        ),
    ] = None,
    share: Annotated[bool, typer.Option("--share", help="Add each layer's share of the parameters and MACs.")] = False,
    top: Annotated[
        Optional[int], typer.Option("--top", min=1, help="List the N heaviest layers by MACs, with their shares.")
    ] = None,
    columns_: ColumnsOption = None,
    memory: Annotated[
        bool,
        typer.Option("--memory", help="Inference peak with liveness, and one training step's memory (docs/memory.md)."),
    ] = False,
    batch: Annotated[
        Optional[int], typer.Option("--batch", min=1, help="Analyse at this batch size (implies --memory).")
    ] = None,
    optimizer: Annotated[
        Optimizer, typer.Option("--optimizer", help="Optimizer state for training memory.")
    ] = Optimizer.adam,
    precision: Annotated[
        Precision, typer.Option("--precision", help="fp32, or autocast's fp16/bf16 activations.")
    ] = Precision.fp32,
    device: Annotated[
        Optional[str],
        typer.Option(
            "--device",
            help=(
                "A roofline lower bound on latency for this device profile (docs/roofline.md; add yours under "
                "[tool.cnnshape.devices] in pyproject.toml)."
            ),
        ),
    ] = None,
    scale: ScaleOption = None,
) -> None:
    """Per-layer output shapes, parameters, MACs and receptive fields, with totals."""
    input_shape = shape(input)
    chosen = columns(columns_, "summary")
    if batch is not None:
        input_shape = (batch, *(input_shape or spec_input(spec))[1:])
    report = analyze(spec, overrides(set_, scale=scale), input_shape, dtype.value)
    if count is not None or share or top is not None:
        report = with_counting(report, count, top, share)
    if memory or batch is not None:
        from dataclasses import replace

        from cnnshape.memory import memory_report

        report = replace(report, memory=memory_report(report, optimizer.value, precision.value))
    if device is not None:
        report = with_roofline(report, device)
    show(SUMMARY, format.value, report, depth=depth, columns=chosen)
    warn(report.warnings)


class CompareFormat(str, Enum):
    table = "table"
    json = "json"
    markdown = "markdown"


COMPARE = {
    "table": Renderer("cnnshape.render.compare", "render"),
    "json": Renderer("cnnshape.render.compare", "render_json"),
    "markdown": Renderer("cnnshape.render.compare", "markdown"),
}


def compare(
    spec_a: Annotated[Path, typer.Argument(help="Spec A (YAML).", show_default=False)],
    spec_b: Annotated[
        Path, typer.Argument(help="Spec B (YAML); may be the same file at other settings.", show_default=False)
    ],
    input: Annotated[
        Optional[str], typer.Option("--input", "-i", help="Input shape for both, e.g. 1,3,224,224.")
    ] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", "-s", help="NAME=VALUE for both (repeatable).")] = None,
    input_a: Annotated[Optional[str], typer.Option("--input-a", help="Input shape for A only.")] = None,
    input_b: Annotated[Optional[str], typer.Option("--input-b", help="Input shape for B only.")] = None,
    set_a: Annotated[Optional[list[str]], typer.Option("--set-a", help="NAME=VALUE for A only (repeatable).")] = None,
    set_b: Annotated[Optional[list[str]], typer.Option("--set-b", help="NAME=VALUE for B only (repeatable).")] = None,
    depth: Annotated[
        Optional[int],
        typer.Option(
            "--depth", "-d", min=1, help="Compare N levels of the layer tree; deeper blocks fold into one row."
        ),
    ] = None,
    changed_only: Annotated[
        bool, typer.Option("--changed-only", help="Leave out the layers that are the same (table and markdown).")
    ] = False,
    format: Annotated[
        CompareFormat, typer.Option("--format", "-f", help="table, json or markdown.")
    ] = CompareFormat.table,
    dtype: DtypeOption = Dtype.float32,
    columns_: ColumnsOption = None,
    scale: ScaleOption = None,
    scale_a: Annotated[
        Optional[str], typer.Option("--scale-a", help="The scale of A only (an Ultralytics model YAML).")
    ] = None,
    scale_b: Annotated[
        Optional[str], typer.Option("--scale-b", help="The scale of B only (an Ultralytics model YAML).")
    ] = None,
) -> None:
    """Two specs (or one at two settings) side by side: totals with differences, then the layers aligned."""
    chosen = columns(columns_, "compare")
    from cnnshape.compare import compare as compare_reports

    both = overrides(set_, scale=scale)
    sides = analyze_sides(
        [
            (spec, {**both, **overrides(pairs, hint, scale=own_scale)}, shape(shape_text) or shape(input))
            for spec, shape_text, pairs, hint, own_scale in (
                (spec_a, input_a, set_a, "--set-a", scale_a),
                (spec_b, input_b, set_b, "--set-b", scale_b),
            )
        ],
        dtype.value,
    )
    comparison = compare_reports(sides[0], sides[1], depth)
    show(COMPARE, format.value, comparison, changed_only=changed_only, columns=chosen)
    for side in sides:
        warn(side.report.warnings)


SWEEP = {
    "table": Renderer("cnnshape.render.sweep", "render"),
    "json": Renderer("cnnshape.render.sweep", "render_json"),
    "markdown": Renderer("cnnshape.render.sweep", "markdown"),
    "csv": Renderer("cnnshape.render.sweep", "csv"),
}


def sweep(
    spec: SpecArgument,
    more: Annotated[
        Optional[list[str]],
        typer.Argument(
            help="Values the shell split off a brace list: shapes for --input, NAME=VALUE for --set.",
            show_default=False,
        ),
    ] = None,
    input: Annotated[
        Optional[list[str]],
        typer.Option(
            "--input", "-i", help="Input shapes: 1,3,{224,256,320} (quote the braces, or let the shell expand them)."
        ),
    ] = None,
    set_: Annotated[
        Optional[list[str]],
        typer.Option("--set", "-s", help="NAME=VALUE or NAME={A,B}; repeatable; several make a grid."),
    ] = None,
    format: Annotated[Format, typer.Option("--format", "-f", help="table, json, markdown or csv.")] = Format.table,
    dtype: DtypeOption = Dtype.float32,
    columns_: ColumnsOption = None,
    batch: Annotated[
        Optional[str],
        typer.Option("--batch", help="Training batch sizes, {16,32,64,128}: the largest that fits --memory-budget."),
    ] = None,
    memory_budget: Annotated[
        Optional[str], typer.Option("--memory-budget", help="Memory to fit in, e.g. 24GiB or 16GB (with --batch).")
    ] = None,
    optimizer: Annotated[
        Optimizer, typer.Option("--optimizer", help="Optimizer state for training memory (with --batch).")
    ] = Optimizer.adam,
    precision: Annotated[
        Precision, typer.Option("--precision", help="fp32, or autocast's fp16/bf16 activations (with --batch).")
    ] = Precision.fp32,
    scale: Annotated[
        Optional[str],
        typer.Option(
            "--scale",
            help="The scale of an Ultralytics model YAML, or several: '{n,s,m}' (the same as --set scale=...).",
        ),
    ] = None,
) -> None:
    """One spec at many settings, one row each: brace lists like 1,3,{224,320} or width_mult={0.5,1.0} make a grid."""
    chosen = columns(columns_, "sweep")
    from cnnshape.errors import SpecError
    from cnnshape.sweep import SweepError, looks_like_shape, plan, run

    if batch is not None:
        # the shell may have expanded {16,32} into --batch 16 32
        batch_fit(
            spec,
            "{" + ",".join([batch, *more]) + "}" if more else batch,
            memory_budget,
            optimizer,
            precision,
            set_,
            format,
            scale,
        )
        return

    inputs, sets = list(input or []), list(set_ or []) + ([f"scale={scale}"] if scale is not None else [])
    for value in more or []:
        if "=" in value:
            sets.append(value)
        elif looks_like_shape(value):
            inputs.append(value)
        else:
            usage_error(f"expected a shape (for --input) or NAME=VALUE (for --set), got {value!r}", "'MORE'")
    try:
        axes = plan(inputs, sets)
        result = run(spec, axes, dtype.value)
    except SweepError as exc:
        usage_error(str(exc), "--input/--set")
    except SpecError as exc:
        fail(exc.problems)
    show(SWEEP, format.value, result, columns=chosen)
    if result.failed:
        fail(sorted({problem for point in result.failed for problem in point.problems}))


class ExplainFormat(str, Enum):
    text = "text"
    markdown = "markdown"
    json = "json"


EXPLAIN = {
    "text": Renderer("cnnshape.render.explain", "render"),
    "json": Renderer("cnnshape.render.explain", "json_pieces"),
    "markdown": Renderer("cnnshape.render.explain", "markdown"),
}


def explain(
    spec: SpecArgument,
    layer: Annotated[
        Optional[list[str]],
        typer.Option("--layer", "-l", help="Only this layer, or the layers of this block use (repeatable)."),
    ] = None,
    input: InputOption = None,
    set_: SetOption = None,
    format: Annotated[
        ExplainFormat, typer.Option("--format", "-f", help="text, markdown or json.")
    ] = ExplainFormat.text,
    scale: ScaleOption = None,
) -> None:
    """How every number was reached: each layer's formulas with the numbers put in."""
    from cnnshape.explain import UnknownLayer
    from cnnshape.explain import explain as explain_report

    report = analyze(spec, overrides(set_, scale=scale), shape(input))
    try:
        explanation = explain_report(report, layer)
    except UnknownLayer as exc:
        # a name on the command line that the spec does not have
        fail(messages=[f"cnnshape explain: {exc}"], code=2)
    show(EXPLAIN, format.value, explanation)
    warn(report.warnings)


class GraphFormat(str, Enum):
    mermaid = "mermaid"
    dot = "dot"


def graph(
    spec: SpecArgument,
    format: Annotated[
        GraphFormat, typer.Option("--format", "-f", help="mermaid (renders in GitHub Markdown) or dot (Graphviz).")
    ] = GraphFormat.mermaid,
    depth: Annotated[
        Optional[int],
        typer.Option("--depth", "-d", min=1, help="Open N levels of blocks; deeper block uses become one node."),
    ] = None,
    input: InputOption = None,
    set_: SetOption = None,
    scale: ScaleOption = None,
) -> None:
    """The network as a diagram: shapes on the edges, block uses as subgraphs."""
    from cnnshape.diagram import build as build_diagram
    from cnnshape.render import graph as render_graph

    report = analyze(spec, overrides(set_, scale=scale), shape(input))
    diagram = build_diagram(report, depth)
    text = render_graph.dot(diagram) if format is GraphFormat.dot else render_graph.mermaid(diagram)
    echo(text)
    warn(report.warnings)
    limits = render_graph.MERMAID_LIMITS
    if format is GraphFormat.mermaid and (len(diagram.edges) >= limits["edges"] or len(text) > limits["chars"]):
        typer.echo(
            f"warning: {len(diagram.edges):,} edges, {len(text):,} characters: past what Mermaid renders by default "
            f"(fewer than {limits['edges']} edges, {limits['chars']:,} characters, as on GitHub); fold blocks with --depth 1 or 2",
            err=True,
        )


def report(
    specs: Annotated[list[Path], typer.Argument(help="One spec, or two to compare (A and B).", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="The HTML file to write.", show_default=False)],
    input: InputOption = None,
    set_: SetOption = None,
    depth: Annotated[
        Optional[int], typer.Option("--depth", "-d", min=1, help="Align N levels of the layer tree (two specs).")
    ] = None,
    dtype: DtypeOption = Dtype.float32,
    scale: ScaleOption = None,
) -> None:
    """One self-contained HTML page (works offline): totals, the network as a diagram, charts and the layer table; for two specs, where they differ."""
    from cnnshape.render import html

    if len(specs) > 2:
        usage_error(f"give one spec, or two to compare; got {len(specs)}", "'SPECS'")
    given, input_shape = overrides(set_, scale=scale), shape(input)
    if len(specs) == 1:
        from cnnshape.reportview import network_view

        one = analyze(specs[0], given, input_shape, dtype.value)
        write_output(output, html.network_page(network_view(one)))
        warn(one.warnings)
        return
    from cnnshape.reportview import comparison_view

    sides = analyze_sides([(spec, given, input_shape) for spec in specs], dtype.value)
    write_output(output, html.comparison_page(comparison_view(sides[0], sides[1], depth)))
    for side in sides:
        warn(side.report.warnings)


def batch_fit(
    spec: Path,
    batch: str,
    memory_budget: Optional[str],
    optimizer: Optimizer,
    precision: Precision,
    set_: Optional[list[str]],
    format: Format,
    scale: Optional[str] = None,
) -> None:
    """sweep --batch: one training step's peak per batch size, and the largest that fits the budget."""
    import json as json_module

    from cnnshape.memory import largest_batch, parse_size
    from cnnshape.render import units
    from cnnshape.sweep import SweepError, expand_braces

    try:
        budget = parse_size(memory_budget or "0")
    except ValueError as exc:
        usage_error(str(exc), "--memory-budget")
    try:
        sizes = [int(text) for text in expand_braces(batch.replace(" ", ""))]
    except (SweepError, ValueError):
        usage_error(f"expected batch sizes like {{16,32,64}} or 16..128..16, got {batch!r}", "--batch")
    if not sizes or min(sizes) < 1:
        usage_error("batch sizes must be at least 1", "--batch")
    if memory_budget is None:
        usage_error("give the memory to fit in, e.g. --memory-budget 24GiB", "--memory-budget")
    given = overrides(set_, scale=scale)
    rest = analyze(spec, given, None).input_shape[1:]
    reports = [analyze(spec, given, (size, *rest)) for size in sizes]
    rows, best = largest_batch(reports, budget, optimizer.value, precision.value)
    if format.value == "json":
        echo(
            json_module.dumps(
                {
                    "budget_bytes": budget,
                    "optimizer": optimizer.value,
                    "precision": precision.value,
                    "largest_batch": best,
                    "batches": [{"batch": r.batch, "peak_bytes": r.peak_bytes, "fits": r.fits} for r in rows],
                },
                indent=2,
            )
        )
        return
    for r in rows:
        echo(f"batch {r.batch:>6}  peak {units.size(r.peak_bytes):>10}  {'fits' if r.fits else 'too big'}")
    echo(
        f"largest batch that fits {units.size(budget)}: {best if best is not None else 'none'}"
        f" ({optimizer.value}, {precision.value}; training peak estimate, docs/memory.md)"
    )


def convert(
    spec: Annotated[
        Path, typer.Argument(help="A model in another format (an Ultralytics model YAML).", show_default=False)
    ],
    scale: ScaleOption = None,
    output: OutputOption = None,
) -> None:
    """Write the native cnnshape spec that a file in another format stands for (an Ultralytics
    model YAML at one scale): the same numbers, in a file you can edit."""
    from cnnshape.dialects import native_yaml
    from cnnshape.errors import SpecError
    from cnnshape.source import load_file

    try:
        text = native_yaml(load_file(spec), overrides(None, scale=scale))
    except SpecError as exc:
        fail(exc.problems)
    except ValueError as exc:
        fail(messages=[f"cnnshape convert: {exc}"], code=1)
    if output is None:
        echo(text)
    else:
        write_output(output, text)
