"""The smallest program on cnnshape's stack that does the same kind of job, for bench.py.

A Typer app with two commands; `summary FILE --format json` reads the YAML file with
PyYAML's C loader, validates two of its fields with one pydantic model and prints JSON.
It analyses nothing: whatever it costs, every CLI built on Typer + PyYAML + pydantic v2
pays before doing any work of its own. The import floor (`import typer, rich, yaml,
pydantic`) leaves out the two biggest parts of that: Typer's runtime (it coerces every
option through a pydantic TypeAdapter) and pydantic's model machinery (`import pydantic`
is lazy; the first model and validator import most of the library).

    python bench/stack_floor.py summary specs/resnet50.yaml --format json
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
import yaml
from pydantic import BaseModel, ConfigDict

app = typer.Typer(add_completion=False)


class Spec(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    input: list[int]


@app.command()
def summary(
    spec: Annotated[Path, typer.Argument()],
    format: Annotated[str, typer.Option("--format")] = "table",
) -> None:
    data = yaml.load(spec.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    typer.echo(json.dumps(Spec.model_validate(data).model_dump()))


@app.command()
def other() -> None:
    """A second command, so that Typer parses a subcommand as cnnshape's CLI does."""


if __name__ == "__main__":
    app()
