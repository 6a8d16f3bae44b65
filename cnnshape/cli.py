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


class Dtype(str, Enum):
    float32 = "float32"
    float16 = "float16"
    bfloat16 = "bfloat16"
    float64 = "float64"
    int8 = "int8"


def _parse_shape(text: Optional[str]) -> Optional[tuple[int, ...]]:
    """`1,3,224,224` (or `1x3x224x224`) -> (1, 3, 224, 224); anything else is a usage error."""
    if text is None:
        return None
    parts = [part.strip() for part in text.replace("x", ",").split(",")]
    if not all(part.isdigit() and int(part) > 0 for part in parts):
        raise typer.BadParameter(
            f"expected positive integers separated by commas, like 1,3,224,224; got {text!r}", param_hint="'--input'"
        )
    return tuple(int(part) for part in parts)


def _console(stderr: bool = False):
    from rich.console import Console

    width = None
    if not (sys.stderr if stderr else sys.stdout).isatty():
        width = int(os.environ.get("COLUMNS", "0") or 0) or 160
    return Console(stderr=stderr, width=width, highlight=False, soft_wrap=False)


def _fail(problems: list) -> None:
    """Print every problem, one located line each, and exit 1."""
    for problem in problems:
        typer.echo(problem.format(), err=True)
    errors = sum(1 for p in problems if p.severity == "error")
    if errors > 1:
        typer.echo(f"found {errors} errors", err=True)
    raise typer.Exit(1)


@app.command()
def summary(
    spec: Annotated[Path, typer.Argument(help="The network spec (YAML).", show_default=False)],
    input: Annotated[Optional[str], typer.Option("--input", "-i", help="Override the input shape, e.g. 1,3,299,299.")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", "-s", help="Override a network arg: NAME=VALUE (repeatable).")] = None,
    depth: Annotated[Optional[int], typer.Option("--depth", "-d", min=1, help="Show N levels of the layer tree; deeper blocks fold into one row with summed numbers.")] = None,
    format: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
    dtype: Annotated[Dtype, typer.Option("--dtype", help="Element type for memory figures.")] = Dtype.float32,
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
        typer.echo(f"cnnshape lint: {exc}", err=True)
        raise typer.Exit(2) from None
    config.budgets.update(given.budgets)
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
        output.write_text(text, encoding="utf-8")


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


def main() -> None:
    # One short run builds many small objects and frees them all at exit: the cyclic
    # collector only costs time here (3x on a 100k-layer spec), so it stays off.
    import gc

    gc.disable()
    app()
