"""Fitting a table to the terminal's width without ever cutting a number.

A table is a list of columns. Numbers and shapes are never shortened or wrapped; names
may be shortened in the middle (`layer1.ba…conv2d_1`), down to a floor; when that is not
enough, whole columns are left out in the order the table states, and the caller says
under the table which ones. If even the columns that must stay are wider than the
terminal, the table is printed wider than the terminal (the terminal wraps the line;
no value is cut).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

ELLIPSIS = "…"

# The keys `--columns` takes, per command, in table order (the first column of summary and
# compare, the layer, and sweep's settings always show).
KEYS = {
    "summary": ("index", "from", "n", "arguments", "layer", "kind", "shape", "params", "macs", "rf", "params-share", "macs-share"),
    "compare": ("kind", "shape", "params", "macs", "rf"),
    "sweep": ("params", "macs", "flops", "activations", "output", "rf"),
}


def middle_ellipsis(text: str, width: int) -> str:
    """`text` at most `width` characters, cut in the middle: `layer1.ba…conv2d_1`."""
    if len(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    keep = width - 1
    return text[: (keep + 1) // 2] + ELLIPSIS + text[len(text) - keep // 2:]


@dataclass
class Column:
    """One column: its key (for `--columns`), header, cells and how it may give way.

    `cells` are (prefix, text) pairs: only `text` of a `name` column is ever shortened (the
    prefix is tree indentation or a marker). `drop` is the column's place in the order of
    leaving out (1 goes first; 0 never goes)."""

    key: str
    header: str
    cells: list[tuple[str, str]]
    name: bool = False  # a name: may be shortened in the middle
    drop: int = 0
    justify: str = "left"
    floor: int = 8  # a name column's narrowest text
    comfort: int = 18  # narrower than this only once no column is left to leave out
    styles: list[str] = field(default_factory=list)  # per cell, optional
    options: dict[str, Any] = field(default_factory=dict)  # extra rich add_column options

    @property
    def natural(self) -> int:
        """The widest line of the header and the cells (a cell may hold two lines: `A` over `→ B`)."""
        return max([len(self.header)] + [len(prefix) + len(line) for prefix, text in self.cells for line in text.split("\n")])

    def shortened(self, width: int) -> Column:
        if not self.name:
            return self
        cells = [
            (prefix, "\n".join(middle_ellipsis(line, max(width - len(prefix), self.floor)) for line in text.split("\n")))
            for prefix, text in self.cells
        ]
        return replace(self, cells=cells, header=middle_ellipsis(self.header, max(width, self.floor)))


@dataclass
class Fitted:
    columns: list[Column]
    dropped: list[Column]
    width: int  # the width to print at: the terminal's, or more when nothing else fits


def choose(columns: Sequence[Column], keys: Sequence[str] | None) -> list[Column]:
    """The columns `--columns` names, in the table's order; unknown keys raise ValueError."""
    if keys is None:
        return list(columns)
    known = [column.key for column in columns]
    unknown = [key for key in keys if key not in known]
    if unknown:
        raise ValueError(f"unknown column {unknown[0]!r}; the columns are {', '.join(known)}")
    return [column for column in columns if column.key in keys]


def fit(columns: Sequence[Column], width: int, measure: Callable[[list[Column]], int], can_drop: bool = True) -> Fitted:
    """Shorten names, then leave out columns by their `drop` order, until `measure` (the
    rendered table's width) is at most `width`."""
    order = sorted((column for column in columns if column.drop), key=lambda column: column.drop) if can_drop else []
    dropped: list[Column] = []
    while True:
        kept = [column for column in columns if column not in dropped]
        last = not order
        shown = _shorten_names(kept, width, measure, hard=last)
        needed = measure(shown)
        if needed <= width:
            return Fitted(shown, dropped, width)
        if last:
            return Fitted(shown, dropped, needed)
        dropped.append(order.pop(0))


def _shorten_names(columns: list[Column], width: int, measure: Callable[[list[Column]], int], hard: bool) -> list[Column]:
    """Names shortened, widest first, by the overflow, until the table fits or every name
    is at its floor: while columns can still be left out, only the names that always show,
    and only down to a comfortable width; then every name, down to its floor."""
    shown = list(columns)
    for _ in range(4 * len(columns) + 4):
        over = measure(shown) - width
        if over <= 0:
            return shown
        names = [
            (index, column) for index, column in enumerate(shown)
            if column.name and (hard or not column.drop) and column.natural > _floor(column, hard)
        ]
        if not names:
            return shown
        index, widest = max(names, key=lambda item: item[1].natural)
        shown[index] = widest.shortened(max(widest.natural - over, _floor(widest, hard)))
    return shown


def _floor(column: Column, hard: bool) -> int:
    prefix = max((len(prefix) for prefix, _ in column.cells), default=0)
    return prefix + (column.floor if hard else max(column.floor, column.comfort))


def dropped_note(dropped: Sequence[Column], width: int, choosable: bool = True) -> str:
    """The line under a table that says what it left out, and how to see it."""
    if not dropped:
        return ""
    names = ", ".join(column.header for column in dropped)
    how = "a wider terminal, or --columns, shows them" if choosable else "a wider terminal shows them"
    return f"Not shown at {width} columns: {names} ({how})"


# --- rich ---------------------------------------------------------------------------------


def fill(table: Any, shown: Sequence[Column]) -> Any:
    """Add `shown` to a rich Table: no cell ever wraps or is cut (the widths were fitted)."""
    from rich.text import Text

    for column in shown:
        table.add_column(column.header, justify=column.justify, no_wrap=True, min_width=column.natural, **column.options)
    for index in range(len(shown[0].cells) if shown else 0):
        table.add_row(*(
            Text("".join(column.cells[index]), style=column.styles[index] if column.styles else "") for column in shown
        ))
    return table


def measure(console: Any, table: Any) -> int:
    """The width a rich table takes when nothing in it is squeezed."""
    from rich.measure import Measurement

    return Measurement.get(console, console.options.update(width=10_000), table).maximum
