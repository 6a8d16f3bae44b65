"""Shared test fixtures: golden output files with an update flag.

    pytest --update-golden                  # rewrite tests/golden/*.txt from the current output
    CNNSHAPE_UPDATE_GOLDEN=1 pytest         # the same, where adding a flag is awkward

Golden files guard layout only; every number a test asserts comes from a hand
calculation or a published figure, never from a golden file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).parent / "golden"
WIDTH = "100"  # the console width every golden table is rendered at


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", default=False, help="rewrite tests/golden/*.txt from the current output")


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
        assert actual == expected, f"output differs from {path}; if the change is intended, run `pytest --update-golden` and review the diff"

    return check


@pytest.fixture
def repo_root(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from the repository root, so specs are named `specs/x.yaml` in the output
    (golden files must not depend on where the clone is)."""
    monkeypatch.chdir(ROOT)
    return ROOT


def _hypothesis_profiles() -> None:
    """CI runs the property-based tests on a fixed sequence of examples (a red CI must be
    reproducible); a developer's run explores new random ones each time."""
    from hypothesis import settings

    settings.register_profile("ci", derandomize=True, database=None)
    if os.environ.get("CI"):
        settings.load_profile("ci")


_hypothesis_profiles()
