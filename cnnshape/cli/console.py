"""Where the command line's output goes: one console factory, one writer for results,
warnings and `--output` files, and `fail()`, the one place that ends a command with a
nonzero exit."""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn, TextIO, cast

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from cnnshape.errors import Problem


class TrimmedLines:
    """A text stream that drops the trailing spaces rich pads table lines with, for output
    that goes to a file or a pipe (plain text, easy to diff)."""

    def __init__(self, target: TextIO):
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


def console(stderr: bool = False, soft_wrap: bool = False) -> Console:
    """A rich console on stdout (or stderr): the terminal's own on a TTY; else plain text
    `$COLUMNS` wide (160 by default) without trailing spaces."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(stderr=stderr, highlight=False, soft_wrap=soft_wrap)
    width = int(os.environ.get("COLUMNS", "0") or 0) or 160
    # rich only writes, flushes and asks isatty/encoding: the part of IO[str] TrimmedLines has.
    trimmed = cast("IO[str]", TrimmedLines(stream))
    return Console(file=trimmed, width=width, highlight=False, soft_wrap=soft_wrap)


def echo(text: str, err: bool = False) -> None:
    """Text as it is, with a final newline if it has none."""
    typer.echo(text, nl=not text.endswith("\n"), err=err)


def echo_pieces(pieces: Iterable[str]) -> None:
    """Text made in pieces, written about a megabyte at a time, with a final newline: a
    result too large to hold whole (a 250,000-layer JSON document) never is."""
    batch: list[str] = []
    size = 0
    for piece in pieces:
        batch.append(piece)
        size += len(piece)
        if size >= 1 << 20:
            typer.echo("".join(batch), nl=False)
            batch.clear()
            size = 0
    echo("".join(batch))


def warn(problems: Iterable[Problem]) -> None:
    """A result's warnings, after the result, on stderr."""
    for problem in problems:
        typer.echo(problem.format(), err=True)


def fail(problems: Sequence[Problem] = (), *, messages: Sequence[str] = (), code: int = 1) -> NoReturn:
    """Print every problem (one located line each, errors before warnings, file order
    within each) and then any plain messages on stderr, and exit with `code` (1: the
    input is wrong; 2: the command line is)."""
    for problem in sorted(problems, key=lambda p: p.severity != "error"):  # stable: file order within each
        typer.echo(problem.format(), err=True)
    errors = sum(1 for p in problems if p.severity == "error")
    if errors > 1:
        typer.echo(f"found {errors} errors", err=True)
    for message in messages:
        typer.echo(message, err=True)
    raise typer.Exit(code)


def done() -> NoReturn:
    """End the command successfully now (`--version`)."""
    raise typer.Exit(0)


def usage_error(message: str, option: str) -> NoReturn:
    """A value on the command line that cannot be used: Typer's usage message, exit 2."""
    raise typer.BadParameter(message, param_hint=option)


def write_output(path: Path, text: str) -> None:
    """Write a command's `--output` file; a path that cannot be written is a usage error
    (exit 2) naming the path, not a traceback."""
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        reason = "it is a directory" if path.is_dir() else (exc.strerror or str(exc)).lower()
        if isinstance(exc, FileNotFoundError):
            reason = f"the folder {str(path.parent)!r} does not exist"
        usage_error(f"cannot write {str(path)!r}: {reason}", "'--output' / '-o'")


@dataclass(frozen=True)
class Renderer:
    """One output format of one kind of result: the function that renders it, imported
    only when chosen. A function with a `console` parameter draws on a rich console;
    any other returns the text, or yields it in pieces (written as they come). It receives the result and the options it names."""

    module: str
    function: str

    def __call__(self, result: Any, **options: Any) -> None:
        render = getattr(importlib.import_module(self.module), self.function)
        wanted = inspect.signature(render).parameters
        given = {name: value for name, value in options.items() if name in wanted}
        if "console" in wanted:
            render(result, console=console(), **given)
        else:
            text = render(result, **given)
            if isinstance(text, str):
                echo(text)
            else:
                echo_pieces(text)


def show(renderers: Mapping[str, Renderer], name: str, result: Any, **options: Any) -> None:
    """Render `result` in the format called `name`, from the command's table of renderers."""
    renderers[name](result, **options)
