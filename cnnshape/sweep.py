"""One spec at many settings: brace lists expanded into a grid, one analysis per point.

`--input 1,3,{224,256,320}` is three inputs (a shape shorter than the spec's input
repeats its last size, so these are 224x224, 256x256 and 320x320); `--set width_mult={0.5,1.0}` two values of an
arg; several of them make the grid of every combination. Values may also arrive already
expanded by the shell (`--input 1,3,224 1,3,256 ...`): they are grouped by what they set.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from cnnshape.errors import Problem
from cnnshape.report import Report

if TYPE_CHECKING:
    from cnnshape.source import Source

BRACE = re.compile(r"\{([^{}]*)\}")
RANGE = re.compile(r"^\s*(-?\d+)\s*\.\.\s*(-?\d+)\s*(?:\.\.\s*(\d+)\s*)?$")
MAX_POINTS = 1000


class SweepError(ValueError):
    """A sweep option that cannot be read (a usage error)."""


def _choices(inner: str) -> int:
    """How many values one brace group gives, counted without making them."""
    ranged = RANGE.match(inner)
    if ranged:
        if any(len(bound or "") > 18 for bound in ranged.groups()):
            raise SweepError(f"a brace range takes numbers of at most 18 digits; got {{{inner[:40]}...}}")
        start, stop, step = int(ranged.group(1)), int(ranged.group(2)), int(ranged.group(3) or 1)
        return abs(stop - start) // max(step, 1) + 1
    return inner.count(",") + 1


def expand_braces(text: str) -> list[str]:
    """`1,3,{224,256}` -> ['1,3,224', '1,3,256']; `{224..320..32}` is a range (ends
    included); several braces in one value give every combination, left to right. A
    value that would give more than MAX_POINTS is refused before anything is expanded."""
    count = 1
    for group in BRACE.finditer(text):
        count *= _choices(group.group(1))
        if count > MAX_POINTS:
            raise SweepError(
                f"{text[:80]!r} expands to more than {MAX_POINTS:,} values; a sweep has at most {MAX_POINTS:,} points"
            )
    depth = 0
    for char in text:
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth > 1:
            raise SweepError(f"nested braces are not supported: {text!r}")
    match = BRACE.search(text)
    if match is None:
        if "{" in text or "}" in text:
            raise SweepError(f"unbalanced or nested braces in {text!r}")
        return [text]
    inner = match.group(1)
    ranged = RANGE.match(inner)
    if ranged:
        start, stop, step = int(ranged.group(1)), int(ranged.group(2)), int(ranged.group(3) or 1)
        if step <= 0:
            raise SweepError(f"a range step must be positive, got {step} in {text!r}")
        direction = 1 if stop >= start else -1
        choices = [str(v) for v in range(start, stop + direction, step * direction)]
    else:
        choices = [part.strip() for part in inner.split(",")]
        if ".." in inner and len(choices) == 1:
            raise SweepError(
                f"a brace range takes integers, like {{224..320..32}}; list other values: "
                f"{{0.5,0.75,1.0}}; got {{{inner}}} in {text!r}"
            )
        if len(choices) < 2 or any(not choice for choice in choices):
            raise SweepError(
                f"a brace list needs two or more values separated by commas, like {{224,256}}; got {{{inner}}} in {text!r}"
            )
    head, tail = text[: match.start()], text[match.end() :]
    return [expanded for choice in choices for expanded in expand_braces(head + choice + tail)]


@dataclass
class Axis:
    """One thing that varies: `input`, or an arg name; its values as the user wrote them."""

    name: str
    values: list[str]


@dataclass
class Point:
    """One setting of the grid and what the analysis gave (or the problems it hit)."""

    setting: dict[str, str]  # axis name -> value text, for the axes that vary
    overrides: dict[str, Any]
    input_shape: Optional[tuple[int, ...]]
    report: Optional[Report] = None
    problems: list[Problem] = field(default_factory=list)


@dataclass
class Sweep:
    name: str
    file: str
    dtype: str
    axes: list[Axis]  # the ones with more than one value, in the order given
    fixed: dict[str, str]  # settings that do not vary
    points: list[Point]

    @property
    def failed(self) -> list[Point]:
        return [point for point in self.points if point.report is None]


def plan(inputs: list[str], sets: list[str]) -> list[Axis]:
    """The axes, from the --input and --set values (brace lists expanded, shell-expanded
    values grouped by the arg they set). A single value is an axis of one."""
    axes: dict[str, list[str]] = {}
    for text in inputs:
        axes.setdefault("input", []).extend(expand_braces(text))
    for text in sets:
        for expanded in expand_braces(text):
            key, sep, value = expanded.partition("=")
            if not sep or not key.strip():
                raise SweepError(f"--set expects NAME=VALUE, got {expanded!r}")
            axes.setdefault(key.strip(), []).append(value)
    found = []
    for name, values in axes.items():
        unique = list(dict.fromkeys(values))
        found.append(Axis(name, unique))
    size = 1
    for axis in found:
        size *= len(axis.values)
    if size > MAX_POINTS:
        raise SweepError(f"the grid has {size:,} points; at most {MAX_POINTS:,}")
    return found


def run(path: str | Path, axes: list[Axis], dtype: str = "float32", source: Optional[Source] = None) -> Sweep:
    """Analyse the spec at every point of the grid; a point's problems are kept with it.
    `source`: the spec already loaded (the library's YAML text or mapping), else `path` is read."""
    from cnnshape.errors import SpecError
    from cnnshape.overrides import parse_overrides, parse_shape
    from cnnshape.pipeline import analyze_source
    from cnnshape.source import load_file

    source = source if source is not None else load_file(path)
    written = source.data.get("input") if isinstance(source.data, dict) else None
    rank = len(written) if isinstance(written, list) else None
    varying = [axis for axis in axes if len(axis.values) > 1]
    fixed = {axis.name: axis.values[0] for axis in axes if len(axis.values) == 1}
    points = []
    for combo in itertools.product(*(axis.values for axis in axes)):
        chosen = dict(zip((axis.name for axis in axes), combo, strict=True))
        text_input = chosen.pop("input", None)
        try:
            input_shape = square(parse_shape(text_input), rank) if text_input is not None else None
        except ValueError as exc:
            raise SweepError(f"--input: {exc}") from None
        try:
            overrides = parse_overrides([f"{key}={value}" for key, value in chosen.items()])
        except ValueError as exc:
            raise SweepError(str(exc)) from None
        point = Point(
            {axis.name: dict(zip((a.name for a in axes), combo, strict=True))[axis.name] for axis in varying},
            overrides,
            input_shape,
        )
        try:
            point.report = analyze_source(source, overrides, input_shape, dtype)
        except SpecError as exc:
            point.problems = [problem for problem in exc.problems if problem.severity == "error"]
        points.append(point)
    name = next((point.report.name for point in points if point.report is not None), Path(path).stem)
    return Sweep(name, str(path), dtype, varying, fixed, points)


def square(shape: tuple[int, ...], rank: Optional[int]) -> tuple[int, ...]:
    """A shape shorter than the spec's input repeats its last size over the missing
    spatial dims: 1,3,224 is 1,3,224,224 for an image network."""
    if rank is None or len(shape) < 3 or len(shape) >= rank:
        return shape
    return shape + (shape[-1],) * (rank - len(shape))


def looks_like_shape(text: str) -> bool:
    """A stray value the shell split off an --input brace list (digits, commas, x, braces)."""
    return bool(re.fullmatch(r"[0-9,x{}. ]+", text)) and any(ch.isdigit() for ch in text)
