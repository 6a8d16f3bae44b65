"""Shared by the zoo tests: each bundled spec analysed once per test run, and a row by name."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from cnnshape.pipeline import analyze_file
from cnnshape.report import Report, Row

SPECS = Path(__file__).resolve().parent.parent / "specs"


@cache
def _cached(name: str, overrides: tuple) -> Report:
    return analyze_file(SPECS / f"{name}.yaml", dict(overrides) or None)


def report(name: str, **overrides: object) -> Report:
    """specs/<name>.yaml analysed (with `--set`-style overrides); cached, so treat it as read-only."""
    return _cached(name, tuple(sorted(overrides.items())))


def row(report: Report, name: str) -> Row:
    """The one row with this qualified name."""
    matches = [r for r in report.rows if r.name == name]
    assert len(matches) == 1, f"expected one row named {name!r}, found {len(matches)}"
    return matches[0]
