"""The Typer app (`cnnshape.cli.app`): every command registered in the order `--help` lists them. Commands
live in one module per group (analyze, lint, reference; the bridge's export, verify and
import register themselves through `register(app)`); heavy modules are imported inside
commands so start-up stays fast."""

from __future__ import annotations

import io
import sys
from typing import Annotated, Optional

import typer

from cnnshape.cli import analyze, lint, reference
from cnnshape.cli.console import done

app = typer.Typer(
    name="cnnshape",
    help="Analyze CNN architectures written as YAML: shapes, parameters, MACs/FLOPs, receptive fields.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for command in (
    analyze.summary,
    lint.lint,
    reference.schema,
    analyze.compare,
    analyze.sweep,
    analyze.explain,
):
    app.command()(command)
app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(reference.calc)
app.command()(analyze.graph)
app.command()(analyze.report)
app.command()(analyze.convert)
app.command()(reference.layers)


def _version(value: bool) -> None:
    if value:
        from cnnshape import __version__

        typer.echo(f"cnnshape {__version__}")
        done()


@app.callback()
def _root(
    version: Annotated[
        Optional[bool], typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = None,
) -> None:
    """cnnshape: understand a network before you write or train it."""


# Command groups outside this package add their commands through one hook each.
COMMAND_HOOKS = ("cnnshape.bridge.cli",)  # export, verify, import (torch extra)


def _register_hooks() -> None:
    import importlib

    for module in COMMAND_HOOKS:
        importlib.import_module(module).register(app)


_register_hooks()


def _app_for(args: list[str]) -> typer.Typer:
    """The app with only the command that `args` name, when they name one: Typer builds
    the parameters of every registered command before it parses the command line (about
    15 ms for fourteen commands), and one run needs one. Anything else (no command,
    `--help`, `--version`, a misspelt command) gets the whole app."""
    import copy

    from typer.main import get_command_name

    if not args:
        return app
    chosen = [
        info
        for info in app.registered_commands
        if args[0] == (info.name or get_command_name(getattr(info.callback, "__name__", "")))
    ]
    if len(chosen) != 1:
        return app
    one = copy.copy(app)
    one.registered_commands = chosen
    return one


def main() -> None:
    # One short run builds many small objects and frees them all at exit: the cyclic
    # collector only costs time here (3x on a 100k-layer spec), so it stays off.
    import gc

    gc.disable()
    for stream in (sys.stdout, sys.stderr):
        # A legacy encoding (cp1252 when redirecting on Windows, LC_ALL=C) must not turn a
        # layer name or a tree marker into a traceback.
        utf = (getattr(stream, "encoding", "") or "").lower().replace("-", "").startswith("utf")
        if not utf and isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="replace")
    _app_for(sys.argv[1:])()
