"""Shared test fixtures: golden output files with an update flag, and the one way tests
run the command line (`cli`) and a layer's formulas (`infer`).

    pytest --update-golden                  # rewrite tests/golden/*.txt from the current output
    CNNSHAPE_UPDATE_GOLDEN=1 pytest         # the same, where adding a flag is awkward

Golden files guard layout only; every number a test asserts comes from a hand
calculation or a published figure, never from a golden file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

import pytest

if TYPE_CHECKING:
    from click.testing import Result

    from cnnshape.layers.base import Result as LayerResult

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).parent / "golden"
WIDTH = "100"  # the console width every golden table is rendered at


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden", action="store_true", default=False, help="rewrite tests/golden/*.txt from the current output"
    )


def _normal(text: str) -> str:
    """Trailing spaces (rich pads table lines to the console width) do not count."""
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Callable[[str, str], None]:
    """golden(name, text): text must equal tests/golden/<name>.txt (or rewrites it)."""
    update = request.config.getoption("--update-golden") or os.environ.get("CNNSHAPE_UPDATE_GOLDEN") == "1"

    def check(name: str, text: str) -> None:
        path = GOLDEN / f"{name}.txt"
        actual = _normal(text)
        if update:
            GOLDEN.mkdir(exist_ok=True)
            path.write_text(actual, encoding="utf-8")
            return
        assert path.exists(), f"{path} is missing; create it with `pytest --update-golden`"
        expected = path.read_text(encoding="utf-8")
        assert actual == expected, (
            f"output differs from {path}; if the change is intended, run `pytest --update-golden` and review the diff"
        )

    return check


@pytest.fixture
def repo_root(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from the repository root, so specs are named `specs/x.yaml` in the output
    (golden files must not depend on where the clone is)."""
    monkeypatch.chdir(ROOT)
    return ROOT


def cli(
    *args: str, width: Union[int, str] = WIDTH, env: Optional[dict[str, str]] = None, cwd: Optional[Path] = None
) -> Result:
    """`cnnshape ARGS...` run in this process (Typer's CliRunner) with the console `width`
    columns wide, extra environment `env`, from the folder `cwd` (default: where it is)."""
    from typer.testing import CliRunner

    from cnnshape.cli import app

    here = os.getcwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        return CliRunner().invoke(app, list(args), env={"COLUMNS": str(width), **(env or {})})
    finally:
        os.chdir(here)


def infer(kind: str, args: dict[str, Any], *shapes: tuple[int, ...]) -> LayerResult:
    """One layer of `kind` with `args` on input `shapes`: what its formulas give."""
    from cnnshape.layers import REGISTRY

    return REGISTRY[kind].model_validate(args).infer(list(shapes))


def _hypothesis_profiles() -> None:
    """CI runs the property-based tests on a fixed sequence of examples (a red CI must be
    reproducible); a developer's run explores new random ones each time."""
    from hypothesis import settings

    settings.register_profile("ci", derandomize=True, database=None)
    if os.environ.get("CI"):
        settings.load_profile("ci")


_hypothesis_profiles()
