"""`cnnshape lint`: options into a configuration, every file checked, one reporter."""

from __future__ import annotations

import os
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from cnnshape.cli.console import Renderer, fail, show

if TYPE_CHECKING:
    from cnnshape.lint import ConfigError


class LintFormat(str, Enum):
    auto = "auto"
    text = "text"
    github = "github"
    json = "json"
    sarif = "sarif"


REPORTERS = {
    "text": Renderer("cnnshape.render.lint", "text"),
    "github": Renderer("cnnshape.render.lint", "github"),
    "json": Renderer("cnnshape.render.lint", "as_json"),
    "sarif": Renderer("cnnshape.render.lint", "sarif"),
}


def lint(
    paths: Annotated[
        list[str],
        typer.Argument(help="Spec files, directories (searched for *.yaml, *.yml) or globs.", show_default=False),
    ],
    format: Annotated[
        LintFormat,
        typer.Option(
            "--format",
            "-f",
            help="text, github (Actions annotations), json, sarif; auto = github under GitHub Actions.",
        ),
    ] = LintFormat.auto,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 on warnings too.")] = False,
    max_params: Annotated[Optional[str], typer.Option("--max-params", help="Budget, e.g. 25M.")] = None,
    max_macs: Annotated[Optional[str], typer.Option("--max-macs", help="Budget, e.g. 4.1G.")] = None,
    max_flops: Annotated[Optional[str], typer.Option("--max-flops", help="Budget, e.g. 8.2G.")] = None,
    max_param_bytes: Annotated[Optional[str], typer.Option("--max-param-bytes", help="Budget, e.g. 100MiB.")] = None,
    max_activation_bytes: Annotated[
        Optional[str], typer.Option("--max-activation-bytes", help="Budget, e.g. 200MiB.")
    ] = None,
    select: Annotated[Optional[list[str]], typer.Option("--select", help="Only these rules (repeatable).")] = None,
    ignore: Annotated[Optional[list[str]], typer.Option("--ignore", help="Skip these rules (repeatable).")] = None,
    no_config: Annotated[bool, typer.Option("--no-config", help="Ignore [tool.cnnshape] in pyproject.toml.")] = False,
    scale: Annotated[
        Optional[str],
        typer.Option("--scale", help="The scale of the Ultralytics model YAMLs among the files (n, s, m, l, x)."),
    ] = None,
) -> None:
    """Check specs for CI: errors, rule findings, budgets and expectations; exit 1 on errors."""
    from cnnshape.lint import config as lint_config
    from cnnshape.lint import configure, lint_paths

    options = {
        "max-params": max_params,
        "max-macs": max_macs,
        "max-flops": max_flops,
        "max-param-bytes": max_param_bytes,
        "max-activation-bytes": max_activation_bytes,
        "select": select,
        "ignore": ignore,
    }
    chosen = format.value
    if chosen == "auto":
        chosen = "github" if os.environ.get("GITHUB_ACTIONS") == "true" else "text"
    try:
        config = configure(options, "the command line", use_pyproject=not no_config, strict=strict)
        result = lint_paths(paths, config, {"scale": scale} if scale is not None else None)
    except lint_config.ConfigError as exc:
        fail(messages=[_config_error(error, github=chosen == "github") for error in exc.errors], code=2)
    show(REPORTERS, chosen, result)
    if result.failed(config.strict):
        fail()


def _config_error(error: ConfigError, github: bool) -> str:
    """A configuration or usage error as a line of text; under GitHub Actions an annotation
    on the pyproject.toml line (or a plain log line), escaped like every other line there."""
    text = str(error) if error.located else f"cnnshape lint: {error}"
    if not github:
        return text
    from cnnshape.escape import workflow

    if error.line:
        return workflow(error.detail, "error", file=error.file, line=error.line, col=error.col, title="config")
    return workflow(text)
