"""Readers of other model formats into native specs.

A dialect turns a loaded YAML document into the native spec it stands for, keeping every
value's position in the user's file, so each command (summary, lint, compare, sweep,
explain, graph, export, convert) reads it like a native spec. Two hooks, both here:
`recognise` when a file is loaded, `settle` when its settings (`--set scale=s`) are known.
"""

from __future__ import annotations

from typing import Any

from cnnshape.source import Source


def recognise(source: Source) -> Source:
    """The native form of a loaded document in a known dialect, else the document itself."""
    if isinstance(source.data, dict) and "layers" in source.data:
        return source  # native (`layers:`): no dialect is loaded, which spares start-up its import
    from cnnshape.dialects.ultralytics import looks_like

    if looks_like(source.data):
        from cnnshape.dialects.ultralytics import read

        return read(source)
    return source


def is_dialect(source: Source) -> bool:
    """Whether `source` was translated from another format (it takes that format's settings)."""
    return getattr(source, "settle", None) is not None


def settle(source: Source, overrides: dict[str, Any] | None) -> tuple[Source, dict[str, Any]]:
    """Apply the settings only a dialect understands (an Ultralytics `scale`), returning the
    source to analyse and the overrides left for the native network args."""
    overrides = dict(overrides or {})
    settle_with = getattr(source, "settle", None)
    if settle_with is None:
        return source, overrides
    return settle_with(overrides)


def native_yaml(source: Source, overrides: dict[str, Any] | None = None) -> str:
    """The native spec a dialect file stands for, as YAML text (`cnnshape convert`)."""
    source, _ = settle(source, overrides)
    describe = getattr(source, "describe", None)
    if describe is None:
        raise ValueError(f"{source.path} is already a native cnnshape spec; there is nothing to convert")
    import yaml

    header = "".join(f"# {line}\n" for line in describe())
    return header + yaml.safe_dump(
        source.data, sort_keys=False, default_flow_style=None, width=100_000, allow_unicode=True
    )
