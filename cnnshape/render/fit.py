"""Fitting a table to the terminal's width without ever cutting a number.

A table is a list of columns. Numbers and shapes are never shortened or wrapped; names
may be shortened in the middle (`layer1.ba…conv2d_1`), down to a floor; when that is not
enough, whole columns are left out in the order the table states, and the caller says
under the table which ones. If even the columns that must stay are wider than the
terminal, the table is printed wider than the terminal (the terminal wraps the line;
no value is cut).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

ELLIPSIS = "…"
Justify = Literal["left", "right"]  # how a column aligns its cells

# The keys `--columns` takes, per command, in table order (the first column of summary and
# compare, the layer, and sweep's settings always show).
KEYS = {
    "summary": (
        "index",
        "from",
        "n",
        "arguments",
        "layer",
        "kind",
        "shape",
        "params",
        "macs",
        "rf",
        "params-share",
        "macs-share",
    ),
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
    return text[: (keep + 1) // 2] + ELLIPSIS + text[len(text) - keep // 2 :]


@dataclass
class Column:
    """One column: its key (for `--columns`), header, cells and how it may give way.

    `cells` are (prefix, text) pairs: only `text` of a `name` column is ever shortened (the
    prefix is tree indentation or a marker). `drop` is the column's place in the order of
    leaving out (1 goes first; 0 never goes). `natural` (characters) and `width` (terminal
    cells: a wide character takes two) are measured once, when the column is made."""

    key: str
    header: str
    cells: list[tuple[str, str]]
    name: bool = False  # a name: may be shortened in the middle
    drop: int = 0
    justify: Justify = "left"
    floor: int = 8  # a name column's narrowest text
    comfort: int = 18  # narrower than this only once no column is left to leave out
    styles: list[str] = field(default_factory=list)  # per cell, optional
    style: str = ""  # the whole column's (rich style name)
    natural: int = field(init=False)  # the widest line of header and cells, in characters
    width: int = field(init=False)  # the same in terminal cells, never less than `natural`

    def __post_init__(self) -> None:
        # A cell may hold two lines (`A` over `→ B`); most hold one, and most are ASCII,
        # whose width in cells is its length: rich's cell_len only for the others.
        natural = width = len(self.header)
        if not self.header.isascii():
            width = max(width, _cell_len(self.header))
        for prefix, text in self.cells:
            lines = text.split("\n") if "\n" in text else (text,)
            for index, line in enumerate(lines):
                natural = max(natural, len(prefix) + len(line))
                if not line.isascii() or not prefix.isascii():
                    width = max(width, _cell_len(prefix + line if index == 0 else line))
        self.natural = natural
        self.width = max(natural, width)

    def shortened(self, width: int) -> Column:
        if not self.name:
            return self
        cells = [
            (
                prefix,
                "\n".join(middle_ellipsis(line, max(width - len(prefix), self.floor)) for line in text.split("\n")),
            )
            for prefix, text in self.cells
        ]
        return replace(self, cells=cells, header=middle_ellipsis(self.header, max(width, self.floor)))


def _cell_len(text: str) -> int:
    from rich.cells import cell_len

    return cell_len(text)


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


def fit(columns: Sequence[Column], width: int, can_drop: bool = True) -> Fitted:
    """Shorten names, then leave out columns by their `drop` order, until the table is at
    most `width` wide."""
    order = sorted((column for column in columns if column.drop), key=lambda column: column.drop) if can_drop else []
    dropped: list[Column] = []
    while True:
        kept = [column for column in columns if column not in dropped]
        last = not order
        shown = _shorten_names(kept, width, hard=last)
        needed = table_width(shown)
        if needed <= width:
            return Fitted(shown, dropped, width)
        if last:
            return Fitted(shown, dropped, needed)
        dropped.append(order.pop(0))


def table_width(shown: Sequence[Column]) -> int:
    """The width of the drawn table (see `Drawn`): the columns, one space of padding on
    each inner side of a cell, a one-space divider between columns and an edge on each
    side; what rich's Table measures for box.SIMPLE_HEAD without edge padding."""
    return sum(column.width for column in shown) + 3 * len(shown) - 1 if shown else 0


def _shorten_names(columns: list[Column], width: int, hard: bool) -> list[Column]:
    """Names shortened, widest first, by the overflow, until the table fits or every name
    is at its floor: while columns can still be left out, only the names that always show,
    and only down to a comfortable width; then every name, down to its floor."""
    shown = list(columns)
    for _ in range(4 * len(columns) + 4):
        over = table_width(shown) - width
        if over <= 0:
            return shown
        names = [
            (index, column)
            for index, column in enumerate(shown)
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


# --- drawing ------------------------------------------------------------------------------


class Drawn:
    """The fitted columns as a rich renderable, drawn as rich draws a `Table` with
    `box.SIMPLE_HEAD` and `pad_edge=False` (same characters, same styles), but straight
    from the column widths measured once: rich's Table measures every cell again on every
    print, which cost 30 s at 50,000 rows. A title above and a caption below, as rich's.

    Where rich would draw something else (a table wider than the space given, which rich
    squeezes; an ASCII-only or legacy Windows terminal, which gets another box), it is
    drawn by rich's Table itself. Headers are plain text, as cells are: never markup."""

    def __init__(self, shown: Sequence[Column], title: str = "", caption: str = "") -> None:
        self.shown = list(shown)
        self.title = title
        self.caption = caption
        self.width = table_width(self.shown)

    def rich_table(self) -> Any:
        """The same table built with rich's Table (the fallback, and what tests compare with)."""
        from rich import box
        from rich.table import Table
        from rich.text import Text

        table = Table(
            box=box.SIMPLE_HEAD,
            pad_edge=False,
            title=self.title or None,
            title_justify="left",
            caption=self.caption or None,
            caption_justify="left",
        )
        for column in self.shown:
            table.add_column(
                Text(column.header), justify=column.justify, no_wrap=True, min_width=column.natural, style=column.style
            )
        for index in range(len(self.shown[0].cells) if self.shown else 0):
            table.add_row(
                *(
                    Text("".join(column.cells[index]), style=column.styles[index] if column.styles else "")
                    for column in self.shown
                )
            )
        return table

    def __rich_measure__(self, console: Any, options: Any) -> Any:
        from rich.measure import Measurement

        return (
            Measurement(self.width, self.width)
            if self._drawable(options)
            else Measurement.get(console, options, self.rich_table())
        )

    def _drawable(self, options: Any) -> bool:
        return (
            bool(self.shown)
            and self.width <= options.max_width
            and not options.ascii_only
            and not options.legacy_windows
        )

    def __rich_console__(self, console: Any, options: Any) -> Any:
        yield from self._draw(console, options, 0, len(self.shown[0].cells) if self.shown else 0, True, True)

    def pieces(self, rows: int) -> list[Any]:
        """The table as renderables of at most `rows` rows each, to print one after another
        (the same lines as the whole): rich holds all of a print's output until it ends, and
        a 250,000-row table would be whole in memory, as segments, then as text."""
        count = len(self.shown[0].cells) if self.shown else 0
        starts = list(range(0, count, rows)) or [0]
        return [_Piece(self, start, min(start + rows, count), start == 0, start == starts[-1]) for start in starts]

    def _draw(self, console: Any, options: Any, start: int, end: int, head: bool, tail: bool) -> Any:
        from rich.segment import Segment

        if not self._drawable(options):
            if head:  # rich's Table, whole, in the first piece
                yield self.rich_table()
            return
        around = options.update(width=self.width, highlight=False, height=None, justify="left")
        get_style = console.get_style
        null = get_style("")
        new_line = Segment.line()
        edge = Segment(" ", null)
        last = len(self.shown) - 1
        pads = [(0 if index == 0 else 1, 0 if index == last else 1) for index in range(len(self.shown))]
        if head:
            if self.title:
                yield from console.render(console.render_str(self.title, style="table.title", highlight=False), around)
            yield Segment(" " * self.width, null)
            yield new_line
            header_style = get_style("table.header")
            for index, column in enumerate(self.shown):
                yield edge if index == 0 else Segment(" ", null)
                yield from _cell(
                    Segment, column.header, column.width, pads[index], header_style, header_style, column.justify
                )
            yield edge
            yield new_line
            yield Segment(" " + "─" * (self.width - 2) + " ", null)
            yield new_line

        # One segment per run of one style on a line (rich's own work is per segment): equal
        # styles are made the same object, so a run is found by identity.
        same: dict[Any, Any] = {null: null}
        column_styles = [same.setdefault(get_style(column.style), get_style(column.style)) for column in self.shown]
        text_styles: dict[tuple[int, str], Any] = {}
        for row in range(start, end):
            texts = ["".join(column.cells[row]) for column in self.shown]
            if any("\n" in text for text in texts):
                yield from _tall_row(Segment, self.shown, texts, row, pads, column_styles, get_style, edge, new_line)
                continue
            run: list[str] = [" "]
            run_style = null
            for index, column in enumerate(self.shown):
                name = column.styles[row] if column.styles else ""
                text_style = text_styles.get((index, name))
                if text_style is None:
                    combined = column_styles[index] + get_style(name)
                    text_style = text_styles[(index, name)] = same.setdefault(combined, combined)
                text = texts[index]
                room = column.width - (len(text) if text.isascii() else _cell_len(text))
                left, right = pads[index]
                cell_style = column_styles[index]
                for piece, style in (
                    (" " if index else "", null),
                    (" " * left, cell_style),
                    (text + " " * room if column.justify == "left" else " " * room + text, text_style),
                    (" " * right, cell_style),
                ):
                    if not piece:
                        continue
                    if style is not run_style:
                        yield Segment("".join(run), run_style)
                        run, run_style = [], style
                    run.append(piece)
            if run_style is not null:
                yield Segment("".join(run), run_style)
                run, run_style = [], null
            run.append(" ")
            yield Segment("".join(run), run_style)
            yield new_line
        if not tail:
            return
        yield Segment(" " * self.width, null)
        yield new_line
        if self.caption:
            yield from console.render(console.render_str(self.caption, style="table.caption", highlight=False), around)


class _Piece:
    """Rows [start, end) of a drawn table; the first piece has the title and header, the
    last the bottom edge and caption."""

    def __init__(self, drawn: Drawn, start: int, end: int, head: bool, tail: bool) -> None:
        self.drawn, self.start, self.end, self.head, self.tail = drawn, start, end, head, tail

    def __rich_console__(self, console: Any, options: Any) -> Any:
        yield from self.drawn._draw(console, options, self.start, self.end, self.head, self.tail)


def _cell(
    segment: Any, text: str, width: int, pad: tuple[int, int], cell_style: Any, text_style: Any, justify: str
) -> Any:
    """One line of one cell: its padding in the cell's style, the text justified in its own."""
    room = width - (len(text) if text.isascii() else _cell_len(text))
    if pad[0]:
        yield segment(" " * pad[0], cell_style)
    yield segment(text + " " * room if justify == "left" else " " * room + text, text_style)
    if pad[1]:
        yield segment(" " * pad[1], cell_style)


def _tall_row(
    segment: Any,
    shown: list[Column],
    texts: list[str],
    row: int,
    pads: list[tuple[int, int]],
    column_styles: list[Any],
    get_style: Any,
    edge: Any,
    new_line: Any,
) -> Any:
    """A row whose cells hold several lines: shorter cells end in blank lines of their style."""
    lines = [text.split("\n") for text in texts]
    for line_no in range(max(len(cell) for cell in lines)):
        for index, column in enumerate(shown):
            yield edge if index == 0 else segment(" ", get_style(""))
            style = column_styles[index]
            if line_no < len(lines[index]):
                text_style = style + get_style(column.styles[row] if column.styles else "")
                yield from _cell(
                    segment, lines[index][line_no], column.width, pads[index], style, text_style, column.justify
                )
            else:
                yield segment(" " * (column.width + sum(pads[index])), style)
        yield edge
        yield new_line
