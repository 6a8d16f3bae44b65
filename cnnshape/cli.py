"""The command line: thin commands that wire the pipeline to renderers. The only place
that exits. Heavy modules are imported inside commands so start-up stays fast."""

from __future__ import annotations

import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(
    name="cnnshape",
    help="Analyze CNN architectures written as YAML: shapes, parameters, MACs/FLOPs, receptive fields.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class Format(str, Enum):
    table = "table"
    json = "json"
    markdown = "markdown"
    csv = "csv"


class Dtype(str, Enum):
    float32 = "float32"
    float16 = "float16"
    bfloat16 = "bfloat16"
    float64 = "float64"
    int8 = "int8"


# Options several commands share, declared once.
InputOption = Annotated[Optional[str], typer.Option("--input", "-i", help="Override the input shape, e.g. 1,3,299,299.")]
SetOption = Annotated[Optional[list[str]], typer.Option("--set", "-s", help="Override a network arg: NAME=VALUE (repeatable).")]
DtypeOption = Annotated[Dtype, typer.Option("--dtype", help="Element type for memory figures.")]


def _parse_shape(text: Optional[str]) -> Optional[tuple[int, ...]]:
    """`1,3,224,224` (or `1x3x224x224`, `[1, 3, 224, 224]`) -> (1, 3, 224, 224); anything
    else is a usage error."""
    if text is None:
        return None
    bare = text.strip().removeprefix("[").removesuffix("]").removeprefix("(").removesuffix(")")
    parts = [part.strip() for part in bare.replace("x", ",").split(",")]
    if not all(part.isdigit() and int(part) > 0 for part in parts):
        raise typer.BadParameter(
            f"expected positive integers separated by commas, like 1,3,224,224; got {text!r}", param_hint="'--input'"
        )
    return tuple(int(part) for part in parts)


class _TrimmedLines:
    """A text stream that drops the trailing spaces rich pads table lines with, for output
    that goes to a file or a pipe (plain text, easy to diff)."""

    def __init__(self, target):
        self.target = target
        self.pending = ""

    @property
    def encoding(self) -> str:
        return getattr(self.target, "encoding", None) or "utf-8"

    def isatty(self) -> bool:
        return False

    def write(self, text: str) -> int:
        *lines, self.pending = (self.pending + text).split("\n")
        for line in lines:
            self.target.write(line.rstrip() + "\n")
        return len(text)

    def flush(self) -> None:
        if self.pending:
            self.target.write(self.pending)
            self.pending = ""
        self.target.flush()


def _console(stderr: bool = False):
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(stderr=stderr, highlight=False, soft_wrap=False)
    width = int(os.environ.get("COLUMNS", "0") or 0) or 160
    return Console(file=_TrimmedLines(stream), width=width, highlight=False, soft_wrap=False)


def write_output(path: Path, text: str) -> None:
    """Write a command's `--output` file; a path that cannot be written is a usage error
    (exit 2) naming the path, not a traceback."""
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        reason = "it is a directory" if path.is_dir() else (exc.strerror or str(exc)).lower()
        if isinstance(exc, FileNotFoundError):
            reason = f"the folder {str(path.parent)!r} does not exist"
        raise typer.BadParameter(f"cannot write {str(path)!r}: {reason}", param_hint="'--output' / '-o'") from None


def _fail(problems: list) -> None:
    """Print every problem, one located line each, errors before warnings, and exit 1."""
    for problem in sorted(problems, key=lambda p: p.severity != "error"):  # stable: file order within each
        typer.echo(problem.format(), err=True)
    errors = sum(1 for p in problems if p.severity == "error")
    if errors > 1:
        typer.echo(f"found {errors} errors", err=True)
    raise typer.Exit(1)


@app.command()
def summary(
    spec: Annotated[Path, typer.Argument(help="The network spec (YAML).", show_default=False)],
    input: InputOption = None,
    set_: SetOption = None,
    depth: Annotated[Optional[int], typer.Option("--depth", "-d", min=1, help="Show N levels of the layer tree; deeper blocks fold into one row with summed numbers.")] = None,
    format: Annotated[Format, typer.Option("--format", "-f", help="table, json, markdown (a GitHub table, for PR comments) or csv.")] = Format.table,
    dtype: DtypeOption = Dtype.float32,
) -> None:
    """Per-layer output shapes, parameters, MACs and receptive fields, with totals."""
    from cnnshape.errors import SpecError
    from cnnshape.graph import parse_overrides
    from cnnshape.pipeline import analyze_file

    input_shape = _parse_shape(input)
    try:
        overrides = parse_overrides(set_ or [])
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--set") from None
    try:
        report = analyze_file(spec, overrides, input_shape, dtype.value)
    except SpecError as exc:
        _fail(exc.problems)
        return
    if format is Format.json:
        from cnnshape.render import json as json_render

        typer.echo(json_render.render(report, depth))
    elif format is Format.markdown:
        from cnnshape.render import markdown

        typer.echo(markdown.render(report, depth), nl=False)
    elif format is Format.csv:
        from cnnshape.render import csv

        typer.echo(csv.render(report, depth), nl=False)
    else:
        from cnnshape.render import table

        table.render(report, _console(), depth)
    for warning in report.warnings:
        typer.echo(warning.format(), err=True)


class LintFormat(str, Enum):
    auto = "auto"
    text = "text"
    github = "github"
    json = "json"
    sarif = "sarif"


@app.command()
def lint(
    paths: Annotated[list[str], typer.Argument(help="Spec files, directories (searched for *.yaml, *.yml) or globs.", show_default=False)],
    format: Annotated[LintFormat, typer.Option("--format", "-f", help="text, github (Actions annotations), json, sarif; auto = github under GitHub Actions.")] = LintFormat.auto,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 on warnings too.")] = False,
    max_params: Annotated[Optional[str], typer.Option("--max-params", help="Budget, e.g. 25M.")] = None,
    max_macs: Annotated[Optional[str], typer.Option("--max-macs", help="Budget, e.g. 4.1G.")] = None,
    max_flops: Annotated[Optional[str], typer.Option("--max-flops", help="Budget, e.g. 8.2G.")] = None,
    max_param_bytes: Annotated[Optional[str], typer.Option("--max-param-bytes", help="Budget, e.g. 100MiB.")] = None,
    max_activation_bytes: Annotated[Optional[str], typer.Option("--max-activation-bytes", help="Budget, e.g. 200MiB.")] = None,
    select: Annotated[Optional[list[str]], typer.Option("--select", help="Only these rules (repeatable).")] = None,
    ignore: Annotated[Optional[list[str]], typer.Option("--ignore", help="Skip these rules (repeatable).")] = None,
    no_config: Annotated[bool, typer.Option("--no-config", help="Ignore [tool.cnnshape] in pyproject.toml.")] = False,
) -> None:
    """Check specs for CI: errors, rule findings, budgets and expectations; exit 1 on errors."""
    from cnnshape.lint import Config, ConfigError, config_from_table, lint_paths, load_config
    from cnnshape.render.lint import REPORTERS

    options = {
        "max-params": max_params, "max-macs": max_macs, "max-flops": max_flops,
        "max-param-bytes": max_param_bytes, "max-activation-bytes": max_activation_bytes,
        "select": select, "ignore": ignore,
    }
    try:
        config = Config() if no_config else load_config()
        given = config_from_table({k: v for k, v in options.items() if v is not None}, "the command line")
    except ConfigError as exc:
        typer.echo(str(exc) if exc.located else f"cnnshape lint: {exc}", err=True)
        raise typer.Exit(2) from None
    config.budgets.update(given.budgets)
    config.budget_origins.update(given.budget_origins)
    config.select = given.select if given.select is not None else config.select
    config.ignore |= given.ignore
    config.strict = config.strict or strict
    try:
        result = lint_paths(paths, config)
    except ConfigError as exc:
        typer.echo(f"cnnshape lint: {exc}", err=True)
        raise typer.Exit(2) from None
    chosen = format.value
    if chosen == "auto":
        chosen = "github" if os.environ.get("GITHUB_ACTIONS") == "true" else "text"
    output = REPORTERS[chosen](result)
    if output:
        typer.echo(output)
    if result.failed(config.strict):
        raise typer.Exit(1)


@app.command()
def schema(
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write to this file instead of stdout.")] = None,
) -> None:
    """Print the spec format's JSON Schema (for yaml-language-server and other editors)."""
    import json

    from cnnshape.schema import spec_schema

    text = json.dumps(spec_schema(), indent=2) + "\n"
    if output is None:
        typer.echo(text, nl=False)
    else:
        write_output(output, text)


# --- compare, sweep, explain, calc, graph, layers ----------------------------------------


def _overrides(pairs: Optional[list[str]], hint: str = "--set") -> dict:
    from cnnshape.graph import parse_overrides

    try:
        return parse_overrides(pairs or [])
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=hint) from None


def _analyze(spec: Path, overrides: dict, input_shape: Optional[tuple[int, ...]], dtype: str = "float32"):
    """The report, or every problem printed and exit 1."""
    from cnnshape.errors import SpecError
    from cnnshape.pipeline import analyze_file

    try:
        return analyze_file(spec, overrides, input_shape, dtype)
    except SpecError as exc:
        _fail(exc.problems)


def _warn(report) -> None:
    for warning in report.warnings:
        typer.echo(warning.format(), err=True)


class CompareFormat(str, Enum):
    table = "table"
    json = "json"
    markdown = "markdown"


@app.command()
def compare(
    spec_a: Annotated[Path, typer.Argument(help="Spec A (YAML).", show_default=False)],
    spec_b: Annotated[Path, typer.Argument(help="Spec B (YAML); may be the same file at other settings.", show_default=False)],
    input: Annotated[Optional[str], typer.Option("--input", "-i", help="Input shape for both, e.g. 1,3,224,224.")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", "-s", help="NAME=VALUE for both (repeatable).")] = None,
    input_a: Annotated[Optional[str], typer.Option("--input-a", help="Input shape for A only.")] = None,
    input_b: Annotated[Optional[str], typer.Option("--input-b", help="Input shape for B only.")] = None,
    set_a: Annotated[Optional[list[str]], typer.Option("--set-a", help="NAME=VALUE for A only (repeatable).")] = None,
    set_b: Annotated[Optional[list[str]], typer.Option("--set-b", help="NAME=VALUE for B only (repeatable).")] = None,
    depth: Annotated[Optional[int], typer.Option("--depth", "-d", min=1, help="Compare N levels of the layer tree; deeper blocks fold into one row.")] = None,
    changed_only: Annotated[bool, typer.Option("--changed-only", help="Leave out the layers that are the same (table and markdown).")] = False,
    format: Annotated[CompareFormat, typer.Option("--format", "-f", help="table, json or markdown.")] = CompareFormat.table,
    dtype: DtypeOption = Dtype.float32,
) -> None:
    """Two specs (or one at two settings) side by side: totals with differences, then the layers aligned."""
    from cnnshape.compare import Side, compare as compare_reports
    from cnnshape.errors import SpecError
    from cnnshape.pipeline import analyze_file

    both = _overrides(set_)
    sides = []
    problems: list = []
    for spec, shape_text, pairs, hint in ((spec_a, input_a, set_a, "--set-a"), (spec_b, input_b, set_b, "--set-b")):
        overrides = {**both, **_overrides(pairs, hint)}
        input_shape = _parse_shape(shape_text) or _parse_shape(input)
        try:
            sides.append(Side(analyze_file(spec, overrides, input_shape, dtype.value), overrides, input_shape))
        except SpecError as exc:
            problems += exc.problems
    if problems:
        _fail(problems)
    comparison = compare_reports(sides[0], sides[1], depth)
    if format is CompareFormat.json:
        from cnnshape.render.compare import render_json

        typer.echo(render_json(comparison))
    elif format is CompareFormat.markdown:
        from cnnshape.render.compare import markdown

        typer.echo(markdown(comparison, changed_only), nl=False)
    else:
        from cnnshape.render.compare import render

        render(comparison, _console(), changed_only)
    for side in sides:
        _warn(side.report)


class SweepFormat(str, Enum):
    table = "table"
    json = "json"
    markdown = "markdown"
    csv = "csv"


@app.command()
def sweep(
    spec: Annotated[Path, typer.Argument(help="The network spec (YAML).", show_default=False)],
    more: Annotated[Optional[list[str]], typer.Argument(help="Values the shell split off a brace list: shapes for --input, NAME=VALUE for --set.", show_default=False)] = None,
    input: Annotated[Optional[list[str]], typer.Option("--input", "-i", help="Input shapes: 1,3,{224,256,320} (quote the braces, or let the shell expand them).")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", "-s", help="NAME=VALUE or NAME={A,B}; repeatable; several make a grid.")] = None,
    format: Annotated[SweepFormat, typer.Option("--format", "-f", help="table, json, markdown or csv.")] = SweepFormat.table,
    dtype: DtypeOption = Dtype.float32,
) -> None:
    """One spec at many settings, one row each: brace lists like 1,3,{224,320} or width_mult={0.5,1.0} make a grid."""
    from cnnshape.errors import SpecError
    from cnnshape.sweep import SweepError, looks_like_shape, plan, run

    inputs, sets = list(input or []), list(set_ or [])
    for value in more or []:
        if "=" in value:
            sets.append(value)
        elif looks_like_shape(value):
            inputs.append(value)
        else:
            raise typer.BadParameter(f"expected a shape (for --input) or NAME=VALUE (for --set), got {value!r}", param_hint="'MORE'")
    try:
        axes = plan(inputs, sets)
        result = run(spec, axes, dtype.value)
    except SweepError as exc:
        raise typer.BadParameter(str(exc), param_hint="--input/--set") from None
    except SpecError as exc:
        _fail(exc.problems)
        return
    if format is SweepFormat.json:
        from cnnshape.render.sweep import render_json

        typer.echo(render_json(result))
    elif format is SweepFormat.markdown:
        from cnnshape.render.sweep import markdown

        typer.echo(markdown(result), nl=False)
    elif format is SweepFormat.csv:
        from cnnshape.render.sweep import csv

        typer.echo(csv(result), nl=False)
    else:
        from cnnshape.render.sweep import render

        render(result, _console())
    if result.failed:
        problems = sorted({problem for point in result.failed for problem in point.problems})
        _fail(problems)


class ExplainFormat(str, Enum):
    text = "text"
    markdown = "markdown"
    json = "json"


@app.command()
def explain(
    spec: Annotated[Path, typer.Argument(help="The network spec (YAML).", show_default=False)],
    layer: Annotated[Optional[list[str]], typer.Option("--layer", "-l", help="Only this layer, or the layers of this block use (repeatable).")] = None,
    input: InputOption = None,
    set_: SetOption = None,
    format: Annotated[ExplainFormat, typer.Option("--format", "-f", help="text, markdown or json.")] = ExplainFormat.text,
) -> None:
    """How every number was reached: each layer's formulas with the numbers put in."""
    from cnnshape.explain import UnknownLayer, explain as explain_report

    report = _analyze(spec, _overrides(set_), _parse_shape(input))
    try:
        explanation = explain_report(report, layer)
    except UnknownLayer as exc:
        typer.echo(f"cnnshape explain: {exc}", err=True)
        raise typer.Exit(2) from None  # a name on the command line that the spec does not have
    from cnnshape.render import explain as render_explain

    if format is ExplainFormat.json:
        typer.echo(render_explain.render_json(explanation))
    elif format is ExplainFormat.markdown:
        typer.echo(render_explain.markdown(explanation), nl=False)
    else:
        render_explain.render(explanation, _console())
    _warn(report)


class CalcFormat(str, Enum):
    text = "text"
    json = "json"


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def calc(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(help="A layer kind, any case: conv2d, MaxPool2d, linear, ...", show_default=False)],
    input: Annotated[str, typer.Option("--input", "-i", help="The input shape, e.g. 1,128,40,50.", show_default=False)],
    format: Annotated[CalcFormat, typer.Option("--format", "-f", help="text or json.")] = CalcFormat.text,
    dtype: DtypeOption = Dtype.float32,
) -> None:
    """One layer without a spec: `calc conv2d --input 1,128,40,50 --out-channels 64 --kernel-size 3 --padding 1`.

    The layer's arguments are its PyTorch argument names as options (--out-channels,
    --kernel-size, ...), with values read like YAML: 3, [1,7], false, same.
    """
    from cnnshape.calc import CalcError, CalcUsageError, calc as calc_layer, parse_arguments
    from cnnshape.explain import explain as explain_report

    input_shape = _parse_shape(input)
    try:
        report = calc_layer(kind, parse_arguments(ctx.args), input_shape, dtype.value)
    except CalcError as exc:
        for line in str(exc).splitlines():
            typer.echo(f"cnnshape calc: {line}", err=True)
        raise typer.Exit(2 if isinstance(exc, CalcUsageError) else 1) from None
    explanation = explain_report(report)
    from cnnshape.render import explain as render_explain

    if format is CalcFormat.json:
        typer.echo(render_explain.render_json(explanation))
    else:
        render_explain.render_calc(explanation, report, _console())
    for warning in report.warnings:
        typer.echo(f"cnnshape calc: warning: {warning.message}", err=True)


class GraphFormat(str, Enum):
    mermaid = "mermaid"
    dot = "dot"


@app.command()
def graph(
    spec: Annotated[Path, typer.Argument(help="The network spec (YAML).", show_default=False)],
    format: Annotated[GraphFormat, typer.Option("--format", "-f", help="mermaid (renders in GitHub Markdown) or dot (Graphviz).")] = GraphFormat.mermaid,
    depth: Annotated[Optional[int], typer.Option("--depth", "-d", min=1, help="Open N levels of blocks; deeper block uses become one node.")] = None,
    input: InputOption = None,
    set_: SetOption = None,
) -> None:
    """The network as a diagram: shapes on the edges, block uses as subgraphs."""
    from cnnshape.diagram import build as build_diagram
    from cnnshape.render import graph as render_graph

    report = _analyze(spec, _overrides(set_), _parse_shape(input))
    diagram = build_diagram(report, depth)
    text = render_graph.dot(diagram) if format is GraphFormat.dot else render_graph.mermaid(diagram)
    typer.echo(text, nl=False)
    _warn(report)
    limits = render_graph.MERMAID_LIMITS
    if format is GraphFormat.mermaid and (len(diagram.edges) >= limits["edges"] or len(text) > limits["chars"]):
        typer.echo(
            f"warning: {len(diagram.edges):,} edges, {len(text):,} characters: past what Mermaid renders by default "
            f"(fewer than {limits['edges']} edges, {limits['chars']:,} characters, as on GitHub); fold blocks with --depth 1 or 2",
            err=True,
        )


class LayersFormat(str, Enum):
    table = "table"
    markdown = "markdown"
    json = "json"


@app.command()
def layers(
    kind: Annotated[Optional[str], typer.Argument(help="One kind (any case) to show in full, or a family (conv, pool, norm, ...) to list.", show_default=False)] = None,
    format: Annotated[LayersFormat, typer.Option("--format", "-f", help="table, markdown (docs/layers.md) or json.")] = LayersFormat.table,
) -> None:
    """Every layer kind with its family, arguments and defaults, from the registry."""
    from cnnshape import catalog
    from cnnshape.render import layers as render_layers

    members = catalog.family(kind) if kind else catalog.kinds()
    if kind and members:
        kind = None  # a family: list it like the whole registry
    try:
        chosen = [catalog.lookup(kind)] if kind else members
    except catalog.UnknownKind as exc:
        typer.echo(f"cnnshape layers: {exc}", err=True)
        raise typer.Exit(2) from None
    if format is LayersFormat.json:
        typer.echo(render_layers.render_json(chosen))
    elif format is LayersFormat.markdown:
        typer.echo(render_layers.markdown(chosen), nl=False)
    elif kind:
        render_layers.render_one(chosen[0], _console())
    else:
        render_layers.render(chosen, _console())


def _version(value: bool) -> None:
    if value:
        from cnnshape import __version__

        typer.echo(f"cnnshape {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[Optional[bool], typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")] = None,
) -> None:
    """cnnshape: understand a network before you write or train it."""


from cnnshape.bridge.cli import register as _register_bridge  # noqa: E402  (export, verify, import; torch extra)

_register_bridge(app)


def main() -> None:
    # One short run builds many small objects and frees them all at exit: the cyclic
    # collector only costs time here (3x on a 100k-layer spec), so it stays off.
    import gc

    gc.disable()
    for stream in (sys.stdout, sys.stderr):
        # A legacy encoding (cp1252 when redirecting on Windows, LC_ALL=C) must not turn a
        # layer name or a tree marker into a traceback.
        if not (getattr(stream, "encoding", "") or "").lower().replace("-", "").startswith("utf"):
            try:
                stream.reconfigure(errors="replace")
            except (AttributeError, ValueError):
                pass
    app()
