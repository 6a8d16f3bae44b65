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
        return self._where(tuple(loc), at_key)[1:]

    def _where(self, loc: tuple, at_key: bool) -> tuple[str, int, int]:
        if loc[:1] == ("blocks",):
            lib = library()
            return (lib.path, *lib.locate(loc, at_key))
        assert self.original is not None
        table = self.key_pos if at_key and loc in self.key_pos else self.value_pos
        probe = loc
        while probe and probe not in table:
            probe = probe[:-1]
        target = table.get(probe, ())
        return (self.original.path, *self.original.locate(target, at_key and probe in self.key_pos))

    def problem(self, issue: Issue) -> Problem:
        path, line, col = self._where(tuple(issue.loc), issue.at_key)
        return Problem(path, line, col, issue.severity, issue.code, issue.message)

    def problems(self, issues: list[Issue]) -> list[Problem]:
        # A library block left unused at this scale (the DWConv class branch of a legacy
        # head) is no mistake of the user's.
        return [self.problem(issue) for issue in issues
                if not (issue.code == "unused-block" and tuple(issue.loc)[:1] == ("blocks",))]

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
    source = UltralyticsSource(original.path, result.data, text=original.text, original=original, rows=result.rows,
                               scale=result.scale)
    source.value_pos = result.positions
    source.key_pos = result.key_positions
    scales = original.data.get("scales")
    source.scales = [str(key) for key in scales] if isinstance(scales, dict) else []
    located = [original.problem(issue) for issue in result.issues]
    if located or original.pending:
        raise SpecError(original.pending + located)
    source.pending = [original.problem(note) for note in result.notes]
    return source
