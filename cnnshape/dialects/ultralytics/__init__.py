"""Ultralytics model YAMLs (`yolov8.yaml`, `yolo11.yaml`, ...) read as they are shipped.

rules.py holds parse_model's channel and depth rules; modules.yaml the module library
(Ultralytics' modules written as cnnshape blocks). `read` turns a loaded Ultralytics file
into a native spec whose values are located in the user's file; errors inside a library
block are located in modules.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

from cnnshape.dialects.ultralytics.rules import Row, looks_like, translate
from cnnshape.errors import Issue, Problem, SpecError
from cnnshape.source import Source

__all__ = ["looks_like", "read", "UltralyticsSource", "Row", "LIBRARY_PATH"]

LIBRARY_PATH = Path(__file__).with_name("modules.yaml")


@lru_cache(maxsize=1)
def library() -> Source:
    """The module library, loaded once (positions kept for errors inside its blocks)."""
    from cnnshape.source import load_text

    return load_text(LIBRARY_PATH.read_text(encoding="utf-8"), str(LIBRARY_PATH))


@dataclass
class UltralyticsSource(Source):
    """The native spec of an Ultralytics file at one scale; positions point into that file
    (and into modules.yaml for the library's blocks)."""

    original: Optional[Source] = None
    rows: list[Row] = field(default_factory=list)
    scale: Optional[str] = None
    scales: list[str] = field(default_factory=list)
    notes: list[Problem] = field(default_factory=list)

    def locate(self, loc: Any, at_key: bool = False) -> tuple[int, int]:
        _, line, col = self._where(tuple(loc), at_key)
        return line, col

    def _where(self, loc: tuple, at_key: bool) -> tuple[str, int, int]:
        """File, line and column: the library's blocks are located in modules.yaml."""
        if loc[:1] == ("blocks",):
            lib = library()
            return (lib.path, *lib.locate(loc, at_key))
        return (self.path, *Source.locate(self, loc, at_key))

    def problem(self, issue: Issue) -> Problem:
        path, line, col = self._where(tuple(issue.loc), issue.at_key)
        return Problem(path, line, col, issue.severity, issue.code, issue.message)

    def problems(self, issues: list[Issue]) -> list[Problem]:
        # A library block left unused at this scale (the DWConv class branch of a legacy
        # head) is no mistake of the user's.
        return [
            self.problem(issue)
            for issue in issues
            if not (issue.code == "unused-block" and tuple(issue.loc)[:1] == ("blocks",))
        ]

    def view(self, report: Any) -> Any:
        """Ultralytics' own view of each row (as parse_model prints it), and the detection
        levels whose receptive field and stride are worth naming."""
        from cnnshape.dialects.ultralytics.rules import HEADS
        from cnnshape.report import SourceView

        names = [row.name for row in report.rows]
        cells = {row.name: [str(row.index), _text(row.from_), str(row.repeats), _text(row.args)] for row in self.rows}
        highlights = []
        for row in self.rows:
            if row.module not in HEADS and row.module != "v10Detect":
                continue
            sources = row.from_ if isinstance(row.from_, list) else [row.from_]
            for k, source in enumerate(sources):
                # the box branch of level k: its shape, stride and receptive field
                branch = next(
                    (
                        name
                        for name in names
                        if name.startswith(row.name + ".") and name.endswith(f"head.level_{k}.cv2")
                    ),
                    None,
                )
                if branch is not None:
                    highlights.append((f"level {k} (row {source % row.index if source < 0 else source})", branch))
        notes = [f"scale {self.scale}" + (f" of {', '.join(self.scales)}" if self.scales else "")] if self.scale else []
        from cnnshape.count import CONVENTIONS, count

        counted = count(report, CONVENTIONS["ultralytics"])
        figures = [("as Ultralytics' model.info() prints it (--count ultralytics)", counted.flops)]
        # each row's FLOPs as Ultralytics counts them: its layers' (a row's layers are named model_i.*)
        row_macs = dict.fromkeys((row.name for row in self.rows), 0)
        for name, macs in counted.by_layer.items():
            top = name.split(".", 1)[0]
            if top in row_macs:
                row_macs[top] += macs
        records = [
            {
                "name": row.name,
                "index": row.index,
                "from": row.from_,
                "repeats": row.repeats,
                "module": row.module,
                "args": row.args,
                "flops": 2 * row_macs[row.name],
            }
            for row in self.rows
        ]
        return SourceView("Ultralytics", ["#", "from", "n", "arguments"], cells, highlights, notes, figures, records)

    def describe(self) -> list[str]:
        """Header lines for the converted file."""
        from cnnshape import __version__

        return [
            f"Written by cnnshape {__version__} (`cnnshape convert`) from the Ultralytics model YAML",
            f"{self.path}" + (f" at scale {self.scale}" if self.scale else "") + ".",
            "The blocks are cnnshape's Ultralytics module library (cnnshape/dialects/ultralytics/modules.yaml).",
        ]

    def settle(self, overrides: dict[str, Any]) -> tuple[Source, dict[str, Any]]:
        """`--set scale=s`: the same file translated at that scale."""
        if "scale" not in overrides:
            return self, overrides
        rest = {key: value for key, value in overrides.items() if key != "scale"}
        assert self.original is not None
        return read(self.original, str(overrides["scale"])), rest


def read(original: Source, scale: Optional[str] = None) -> UltralyticsSource:
    """Translate a loaded Ultralytics file; raises SpecError with every located problem."""
    lib = library()
    blocks = lib.data["blocks"]
    result = translate(original.data, original.path, blocks, scale)
    source = UltralyticsSource(
        original.path, result.data, text=original.text, original=original, rows=result.rows, scale=result.scale
    )
    # Every value of the native spec is located where the user wrote what it comes from.
    source.value_pos = {loc: original.locate(user) for loc, user in result.positions.items()}
    source.key_pos = {loc: original.locate(user, at_key=True) for loc, user in result.key_positions.items()}
    scales = original.data.get("scales")
    source.scales = [str(key) for key in scales] if isinstance(scales, dict) else []
    located = [original.problem(issue) for issue in result.issues]
    if located or original.pending:
        raise SpecError(original.pending + located)
    source.pending = [original.problem(note) for note in result.notes]
    return source


def _text(value: Any) -> str:
    """A value as Ultralytics prints it (Python's repr: True, None, [64, 3, 2])."""
    return repr(value)
