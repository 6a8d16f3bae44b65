"""The library face: `analyze`, `compare`, `sweep` and `lint` with typed results.

Each function runs the same pipeline as its command (pipeline.py, compare.py, sweep.py,
lint) and returns the core result extended with `to_dict()` / `to_json()` (the command's
`--format json`, from the same renderer) and a display: `print(result)` gives the plain
text table, Jupyter shows it as HTML, rich shows it as itself. Nothing here computes a
number. rich is imported only when a result is displayed; Typer never.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Optional, TypeVar, Union

from cnnshape import report as _report
from cnnshape.errors import Problem, SpecError

if TYPE_CHECKING:
    from rich.console import Console, ConsoleRenderable

    from cnnshape.api_results import Comparison, LintResult, Sweep
    from cnnshape.source import Source

__all__ = [
    "Comparison",
    "LintResult",
    "Problem",
    "Report",
    "SpecError",
    "Sweep",
    "analyze",
    "compare",
    "lint",
    "sweep",
]

SpecLike = Union[str, "os.PathLike[str]", Mapping[str, Any]]
"""A spec: a path (`str` without a newline, or `os.PathLike`), YAML text (a `str` with a
newline) or a mapping shaped like the YAML document."""

ShapeLike = Union[str, Sequence[int]]
"""An input shape: `(1, 3, 224, 224)` or the command line's text `"1,3,224,224"`."""

DEFAULT_WIDTH = 100  # columns of `str(result)` when the terminal's width is unknown


# --- display ------------------------------------------------------------------------------


def _width(width: Optional[int]) -> int:
    if width is not None:
        return width
    import shutil

    return shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns


def _console(width: Optional[int], record: bool = False) -> Console:
    """A plain-text console writing to a string: no colour, no terminal codes."""
    import io

    from rich.console import Console

    return Console(
        file=io.StringIO(),
        width=_width(width),
        color_system=None,
        force_terminal=False,
        force_jupyter=False,
        highlight=False,
        soft_wrap=False,
        record=record,
        emoji=False,
    )


def _text(draw: Callable[[Console], None], width: Optional[int]) -> str:
    console = _console(width)
    draw(console)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    return "\n".join(line.rstrip() for line in text.splitlines()).rstrip("\n")


def _html(draw: Callable[[Console], None], width: Optional[int]) -> str:
    """The table as HTML for Jupyter: rich's export (text escaped) in a <pre>."""
    console = _console(width, record=True)
    draw(console)
    return console.export_html(inline_styles=True, code_format='<pre style="font-family:monospace">{code}</pre>')


class _Displayed:
    """Display for a result: `str()` is the plain text table, `_repr_html_` the same table
    for Jupyter, `__rich__` the rich renderable (in a rich console or a rich-enabled
    notebook). Subclasses say how to draw themselves."""

    def _draw(self, console: Console) -> None:
        raise NotImplementedError

    def table(self, width: Optional[int] = None) -> str:
        """The command's table as plain text (no trailing newline), `width` columns (default:
        the terminal's, else 100)."""
        return _text(self._draw, width)

    def __str__(self) -> str:
        return self.table()

    def _repr_html_(self) -> str:
        return _html(self._draw, DEFAULT_WIDTH)

    def __rich_console__(self, console: Console, options: Any) -> Iterable[Any]:
        from rich.text import Text

        yield Text(self.table(options.max_width))


# --- results ------------------------------------------------------------------------------


# Not decorated again: a subclass that adds no field inherits the dataclass's __init__,
# __eq__ (same class only), __repr__ and fields; decorating it would compile them anew at
# import (0.3 ms of every start-up).
class Report(_Displayed, _report.Report):
    """The analysis of one spec (what `cnnshape summary` shows).

    Fields: `name`, `file`, `input_shape`, `dtype`, `args`, `rows` (every layer and block
    use in tree order), `outputs`, `totals` (exact integers: `params`, `macs`, `flops`,
    bytes, ...) and `warnings` (`Problem`s). `layers` lists the layers without block rows.
    """

    @property
    def layers(self) -> list[_report.Row]:
        """Every layer, in order, without the block rows (the rows the totals add up)."""
        return _report.leaf_rows(self.rows, None)

    def to_dict(self, depth: Optional[int] = None) -> dict[str, Any]:
        """`cnnshape summary --format json [--depth N]`, as Python data (docs/json.md)."""
        from cnnshape.render import json

        return json.to_dict(self, depth)

    def to_json(self, depth: Optional[int] = None) -> str:
        """`cnnshape summary --format json [--depth N]`, the same text (without the final newline)."""
        from cnnshape.render import json

        return json.render(self, depth)

    def to_markdown(self, depth: Optional[int] = None) -> str:
        """`cnnshape summary --format markdown`: a GitHub table, for PR comments."""
        from cnnshape.render import markdown

        return markdown.render(self, depth)

    def to_csv(self, depth: Optional[int] = None) -> str:
        """`cnnshape summary --format csv`: one row per layer, exact integers."""
        from cnnshape.render import csv

        return csv.render(self, depth)

    def table(self, width: Optional[int] = None, depth: Optional[int] = None) -> str:
        """The summary table and totals as plain text, `width` columns (default: the
        terminal's), `depth` levels of the layer tree (default: all)."""
        from cnnshape.render import table

        return _text(lambda console: table.render(self, console, depth), width)

    def _draw(self, console: Console) -> None:
        from cnnshape.render import table

        table.render(self, console)

    def __rich__(self) -> ConsoleRenderable:
        from rich.console import Group

        from cnnshape.render import table

        return Group(table.build_table(self), table.build_totals(self))

    def __repr__(self) -> str:
        t = self.totals
        return f"<Report {self.name!r}: {t.params:,} params, {t.macs:,} MACs, {t.layers:,} layers>"


_Result = TypeVar("_Result")


def _promote(cls: type[_Result], core: Any, **extra: Any) -> _Result:
    """The core result as the API's subclass (same fields, shared values: no copy)."""
    values = {field.name: getattr(core, field.name) for field in dataclasses.fields(core)}
    return cls(**values, **extra)


def __getattr__(name: str) -> Any:
    # compare's, sweep's and lint's results load with their modules, on first use, so that
    # `analyze` alone never imports them.
    if name in ("Comparison", "Sweep", "LintResult"):
        from cnnshape import api_results

        return getattr(api_results, name)
    raise AttributeError(f"module 'cnnshape.api' has no attribute {name!r}")


# --- inputs -------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """Tuples as lists, recursively, so that a mapping spec dumps as plain YAML."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _source(spec: SpecLike) -> Source:
    """Load a spec given as a path, YAML text or a mapping; SpecError on problems.

    A mapping is written out as YAML (`yaml.safe_dump`, keys in order) and read back as
    `<mapping>`, so it is checked exactly like a file; line:column of its problems point
    into that YAML text (`Problem.message` names the key)."""
    from cnnshape.source import load_file, load_text

    if isinstance(spec, Mapping):
        import yaml

        try:
            text = yaml.safe_dump(_plain(spec), sort_keys=False)
        except yaml.YAMLError as exc:
            raise TypeError(
                f"a spec mapping holds only str, int, float, bool, None, lists and mappings: {exc}"
            ) from None
        return load_text(text, "<mapping>")
    if isinstance(spec, str) and "\n" in spec:
        return load_text(spec, "<string>")
    if isinstance(spec, (str, os.PathLike)):
        return load_file(os.fspath(spec))
    raise TypeError(f"spec must be a path, YAML text or a mapping, not {type(spec).__name__}")


def _shape(shape: Optional[ShapeLike]) -> Optional[tuple[int, ...]]:
    if shape is None:
        return None
    if isinstance(shape, str):
        from cnnshape.overrides import parse_shape

        return parse_shape(shape)
    dims = tuple(shape)
    if not dims or not all(type(dim) is int and dim > 0 for dim in dims):
        raise ValueError(f"input expects positive integers, like (1, 3, 224, 224); got {shape!r}")
    return dims


def _overrides(values: Optional[Mapping[str, Any]]) -> dict[str, Any]:
    """`set=` values: Python values as they would be read from YAML (`{"num_classes": 10}`)."""
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise TypeError(f"set expects a mapping of network args to values, not {type(values).__name__}")
    return {str(key): _plain(value) for key, value in values.items()}


def _dtype(dtype: str) -> str:
    if dtype not in _report.DTYPE_BYTES:
        raise ValueError(f"dtype must be one of {', '.join(_report.DTYPE_BYTES)}; got {dtype!r}")
    return dtype


# --- the functions ------------------------------------------------------------------------


def analyze(
    spec: SpecLike,
    *,
    input: Optional[ShapeLike] = None,
    set: Optional[Mapping[str, Any]] = None,
    dtype: str = "float32",
) -> Report:
    """Analyse one spec: what `cnnshape summary` computes.

    `spec` is a path, YAML text (a string with a newline) or a mapping; `input` overrides
    the input shape; `set` overrides network args (`{"num_classes": 10}`); `dtype` is the
    element type of the memory figures. Raises `SpecError` with every problem when the
    spec has errors; warnings are in `report.warnings`."""
    from cnnshape.pipeline import analyze_source

    core = analyze_source(_source(spec), _overrides(set), _shape(input), _dtype(dtype))
    return _promote(Report, core)


def compare(
    a: SpecLike,
    b: SpecLike,
    *,
    input: Optional[ShapeLike] = None,
    set: Optional[Mapping[str, Any]] = None,
    input_a: Optional[ShapeLike] = None,
    input_b: Optional[ShapeLike] = None,
    set_a: Optional[Mapping[str, Any]] = None,
    set_b: Optional[Mapping[str, Any]] = None,
    depth: Optional[int] = None,
    dtype: str = "float32",
) -> Comparison:
    """Two specs, or one at two settings, side by side: what `cnnshape compare` shows.

    `input` and `set` apply to both; `input_a`/`set_a` and `input_b`/`set_b` to one side
    (over the shared ones); `depth` folds blocks as in `summary`. Raises `SpecError` with
    the problems of both sides."""
    from cnnshape.api_results import Comparison
    from cnnshape.compare import Side
    from cnnshape.compare import compare as compare_reports
    from cnnshape.pipeline import analyze_source

    sides: list[Side] = []
    problems: list[Problem] = []
    for spec, side_input, side_set in ((a, input_a, set_a), (b, input_b, set_b)):
        overrides = {**_overrides(set), **_overrides(side_set)}
        input_shape = _shape(side_input) or _shape(input)
        try:
            core = analyze_source(_source(spec), overrides, input_shape, _dtype(dtype))
        except SpecError as exc:
            problems += exc.problems
            continue
        sides.append(Side(_promote(Report, core), overrides, input_shape))
    if problems:
        raise SpecError(problems)
    if depth is not None and depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth}")
    return _promote(Comparison, compare_reports(sides[0], sides[1], depth))


def _axis_text(value: Any) -> str:
    """A sweep value as the command line writes it (`0.5`, `true`, `[1, 2]`, `1,3,224`)."""
    import json

    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)) and all(type(item) is int for item in value):
        return ",".join(str(item) for item in value)
    return json.dumps(_plain(value))


def sweep(
    spec: SpecLike,
    *,
    input: Union[ShapeLike, Sequence[ShapeLike], None] = None,
    set: Optional[Mapping[str, Any]] = None,
    dtype: str = "float32",
) -> Sweep:
    """One spec at many settings, one analysis per point: what `cnnshape sweep` shows.

    `input` is one shape or a list of shapes (`["1,3,224", "1,3,320"]`, or the command
    line's brace form `"1,3,{224,320}"`); a shape shorter than the spec's input repeats its
    last size. `set` maps each arg to a value or a list of values (`{"num_classes": [10,
    1000]}`, or `"{10,1000}"`; a list-valued arg takes a list of lists). Several lists
    make the grid of every combination. A point
    whose analysis fails keeps its `problems` (see `Sweep.failed`)."""
    from cnnshape.api_results import Sweep
    from cnnshape.sweep import plan, run

    inputs: list[str] = []
    if isinstance(input, str) or (isinstance(input, Sequence) and input and all(type(d) is int for d in input)):
        inputs = [_axis_text(input)]
    elif input is not None:
        inputs = [_axis_text(shape) for shape in input]
    sets: list[str] = []
    for name, values in _overrides(set).items():
        choices = values if isinstance(values, list) else [values]
        sets += [f"{name}={_axis_text(choice)}" for choice in choices]
    axes = plan(inputs, sets)
    source = _source(spec)
    core = run(source.path, axes, _dtype(dtype), source=source)
    return _promote(Sweep, core)


def lint(
    paths: Union[str, os.PathLike[str], Sequence[Union[str, os.PathLike[str]]]],
    *,
    strict: bool = False,
    select: Optional[Iterable[str]] = None,
    ignore: Optional[Iterable[str]] = None,
    budgets: Optional[Mapping[str, Union[int, str]]] = None,
    config: bool = True,
) -> LintResult:
    """Check spec files as `cnnshape lint` does: every file, directory (its *.yaml, *.yml)
    or glob in `paths`, every problem found; nothing is raised for a spec's problems.

    `select`/`ignore` take rule codes (docs/rules.md); `budgets` maps budget keys to limits
    (`{"max-params": "25M", "max-macs": 4_100_000_000}`); `config=False` ignores
    `[tool.cnnshape]` in pyproject.toml (as `--no-config`). A bad option raises
    `ValueError` (the command's usage error)."""
    from cnnshape.api_results import LintResult
    from cnnshape.lint import ConfigError, configure, lint_paths

    given: dict[str, Any] = dict(budgets or {})
    if select is not None:
        given["select"] = list(select)
    if ignore is not None:
        given["ignore"] = list(ignore)
    targets = [os.fspath(paths)] if isinstance(paths, (str, os.PathLike)) else [os.fspath(path) for path in paths]
    try:
        settings = configure(given, "the lint() call", use_pyproject=config, strict=strict)
        result = lint_paths(targets, settings)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
    return _promote(LintResult, result, strict=settings.strict)
