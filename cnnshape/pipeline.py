"""The one-way flow, wired once: file -> Source -> NetworkSpec -> Graph -> Report."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from cnnshape.report import Report


def analyze_file(
    path: str | Path,
    overrides: Optional[dict[str, Any]] = None,
    input_shape: Optional[tuple[int, ...]] = None,
    dtype: str = "float32",
) -> Report:
    """Analyse one spec file; raises SpecError with every problem found."""
    from cnnshape.source import load_file

    return analyze_source(load_file(path), overrides, input_shape, dtype)


def analyze_text(text: str, path: str = "<string>", **options: Any) -> Report:
    """Analyse spec text (tests, editors); same errors as analyze_file."""
    from cnnshape.source import load_text

    return analyze_source(load_text(text, path), **options)


def analyze_source(
    source: Any,
    overrides: Optional[dict[str, Any]] = None,
    input_shape: Optional[tuple[int, ...]] = None,
    dtype: str = "float32",
) -> Report:
    return analyze_stages(source, overrides, input_shape, dtype)[-1]


def analyze_stages(
    source: Any,
    overrides: Optional[dict[str, Any]] = None,
    input_shape: Optional[tuple[int, ...]] = None,
    dtype: str = "float32",
) -> tuple:
    """(spec, graph, report): every stage's result, for tools that look past the report (lint)."""
    from cnnshape.analysis import analyze
    from cnnshape.dialects import settle
    from cnnshape.graph import build
    from cnnshape.spec import parse_network

    source, overrides = settle(source, overrides)
    spec = parse_network(source)
    graph = build(spec, source, overrides, input_shape)
    report = analyze(graph, source, dtype)
    view = getattr(source, "view", None)  # a dialect's own view of its rows (Ultralytics)
    if view is not None:
        report.source_view = view(report)
    return spec, graph, report
