"""The rich table of `summary`: the layer tree, then a totals panel."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

from rich import box
from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from cnnshape import escape
from cnnshape.render import units
from cnnshape.render.fit import Column, Drawn, choose, dropped_note, fit
from cnnshape.render.markdown import SHOWN_OUTPUTS
from cnnshape.report import DTYPE_BYTES, Report, is_folded, rows_at_depth


def summary_columns(report: Report, depth: Optional[int] = None, unicode: bool = True) -> list[Column]:
    """The summary's columns. Left out on a narrow terminal in this order: Kind, RF, MACs,
    Output shape, Params; the layer names are shortened (in the middle) before any goes."""
    markers = ("▸ ", "▾ ") if unicode else ("> ", "v ")
    counting = report.counting
    other = counting is not None and counting.shown != counting.default.convention
    share = counting is not None and counting.share
    view = report.source_view
    origin: list[list[tuple[str, str]]] = [[] for _ in (view.columns if view is not None else [])]
    names, kinds, shapes, params, macs, fields = [], [], [], [], [], []
    param_shares: list[tuple[str, str]] = []
    mac_shares: list[tuple[str, str]] = []
    name_styles, number_styles = [], []
    for row in rows_at_depth(report, depth):
        if view is not None:  # the file's own view of each top-level row (an Ultralytics YAML's rows)
            texts = view.cells.get(row.name, []) if row.depth == 0 else []
            for cells, text in zip(origin, texts or [""] * len(view.columns), strict=True):
                cells.append(("", escape.terminal(text)))
        expanded_block = row.is_block and not is_folded(row, depth)
        style = "dim" if expanded_block else ""
        param_text = "shared" if row.shared_with else units.count(row.params) if row.params else "-"
        if not row.trainable and row.params and not row.shared_with:
            param_text = f"frozen {param_text}"  # `trainable: false`: non-trainable parameters
        row_macs = counting.layer_macs[row.name] if counting is not None and other else row.macs
        mac_text = units.count(row_macs) if row_macs else "-"
        if row.training_macs and not row.macs:
            mac_text, style = f"train {units.count(row.training_macs)}", "dim"
        if expanded_block:
            param_text, mac_text = f"({param_text})", f"({mac_text})"
        marker = (markers[0] if is_folded(row, depth) else markers[1]) if row.is_block else ""
        names.append(("  " * row.depth + marker, escape.terminal(row.name.rsplit(".", 1)[-1])))
        name_styles.append("bold" if row.is_block else "")
        kinds.append(("", escape.terminal(row.kind)))
        shapes.append(("", " ".join(units.shape(shape) for shape in row.output_shapes)))
        params.append(("", param_text))
        macs.append(("", mac_text))
        fields.append(("", units.receptive_field(row.receptive_field)))
        number_styles.append(style)
        if counting is not None and share:
            param_shares.append(("", units.percent(counting.shares[row.name][0])))
            mac_shares.append(("", units.percent(counting.shares[row.name][1])))
    mac_header = f"MACs ({counting.shown})" if counting is not None and other else "MACs"
    found = [
        *(
            Column(
                key,
                escape.terminal(header),
                cells,
                drop=1,
                justify="right" if key in ("index", "n") else "left",
                style="green",
            )
            for key, header, cells in zip(
                ("index", "from", "n", "arguments"),
                view.columns if view is not None else [],
                origin,
                strict=False,  # no source view: no origin columns
            )
        ),
        Column("layer", "Layer", names, name=True, styles=name_styles),
        Column("kind", "Kind", kinds, name=True, drop=1, style="cyan"),
        Column("shape", "Output shape", shapes, drop=4),
        Column("params", "Params", params, drop=5, justify="right", styles=number_styles),
        Column("macs", mac_header, macs, drop=3, justify="right", styles=number_styles),
        Column("rf", "RF", fields, drop=2, justify="right"),
    ]
    if counting is not None and share:  # asked for: they stay while Kind and RF go
        found += [
            Column("params-share", "% params", param_shares, drop=3, justify="right", styles=number_styles),
            Column("macs-share", "% MACs", mac_shares, drop=3, justify="right", styles=number_styles),
        ]
    return found


CAPTION = (
    "RF: receptive field size, sSTRIDE, pPADDING per spatial axis (global: the whole input; "
    "~ approximate; ! unaligned merge)"
)


def build_table(report: Report, shown: Optional[list[Column]] = None, note: str = "") -> Drawn:
    """The layer table with these columns (all of them by default, at full depth)."""
    if shown is None:
        shown = summary_columns(report)
    caption = "\n".join(line for line in (CAPTION if any(column.key == "rf" for column in shown) else "", note) if line)
    return Drawn(shown, caption=caption)


def build_totals(report: Report) -> Panel:
    t = report.totals
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()

    def exact(value: int) -> str:
        return f"{value:,} ({units.count(value)})" if value >= 1000 else f"{value:,}"

    grid.add_row(
        "Parameters", f"{exact(t.params)}  trainable {t.trainable_params:,}, non-trainable {t.non_trainable_params:,}"
    )
    grid.add_row("Buffers", f"{exact(t.buffers)}  (batch-norm running statistics, not parameters)")
    grid.add_row("MACs", f"{exact(t.macs)}  (torchvision convention: conv + linear/matmul weights)")
    grid.add_row("FLOPs", f"{exact(t.flops)}  (= 2 x MACs)")
    for label, flops in report.source_view.figures if report.source_view is not None else []:
        grid.add_row("", f"{exact(flops)} = {flops / 1e9:.1f} GFLOPs  {escape.terminal(label)}")
    if t.training_only_macs:
        grid.add_row(
            "Training only",
            f"{exact(t.training_only_macs)} MACs in layers that run only in training (not in MACs above)",
        )
    bytes_each = DTYPE_BYTES[report.dtype]
    grid.add_row(
        "Memory",
        (
            f"params {units.size(t.param_bytes)}, buffers {units.size(t.buffer_bytes)}, input {units.size(t.input_bytes)}"
            f"  ({report.dtype}, {bytes_each} B/element)"
        ),
    )
    grid.add_row("Activations", f"{units.size(t.activation_bytes)}  (every layer's output, none freed)")
    grid.add_row(
        "Input",
        ", ".join(f"{escape.terminal(name)} {units.shape(shape)}" for name, shape in report.inputs.items())
        if len(report.inputs) > 1
        else units.shape(report.input_shape),
    )
    for output in report.outputs[:SHOWN_OUTPUTS]:
        grid.add_row(
            "Output" if len(report.outputs) == 1 else Text(escape.terminal(f"Output {output.name}")),
            Text(f"{units.shape(output.shape)}  receptive field {units.receptive_field(output.receptive_field)}"),
        )
    if len(report.outputs) > SHOWN_OUTPUTS:
        more = len(report.outputs) - SHOWN_OUTPUTS
        grid.add_row("Outputs", f"{more:,} more, {len(report.outputs):,} in all (--format json lists every one)")
    grid.add_row("Layers", f"{t.layers:,}")
    return Panel(grid, title="Totals", title_align="left", box=box.ROUNDED, expand=False)


def _plain_table(title: str, header: list[str], rows: list[list[str]], right_from: int = 1) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, title=Text(title), title_justify="left")
    for index, name in enumerate(header):
        if index >= right_from:  # numbers are never cut short
            table.add_column(name, justify="right", no_wrap=True)
        else:
            table.add_column(name, overflow="fold")
    for row in rows:
        table.add_row(*(Text(escape.terminal(cell)) for cell in row))
    return table


def build_counting(report: Report) -> list[Table]:
    """--count: the conventions side by side and by operation family; --top: the heaviest layers."""
    from cnnshape.render import counting

    c = report.counting
    if c is None:
        return []
    parts = []
    if len(c.counted) > 1 or c.counted[0].convention != c.default.convention:
        conventions = _plain_table(
            "Counting conventions (MACs as each tool counts them; FLOPs = 2 x MACs, or the tool's own)",
            counting.CONVENTION_HEADER,
            counting.convention_rows(report),
        )
        conventions.columns[-1].justify = "left"
        parts += [conventions, _plain_table("MACs by operation family", *counting.family_columns(report))]
    if c.top:
        parts.append(
            _plain_table(
                f"Heaviest {len(c.top)} layers by MACs ({c.shown})",
                counting.TOP_HEADER,
                counting.top_rows(report),
                right_from=3,
            )
        )
    return parts


def _panel(title: str, lines: list[tuple[str, str]]) -> list[Panel]:
    if not lines:
        return []
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for label, value in lines:
        grid.add_row(Text(escape.terminal(label)), Text(escape.terminal(value)))
    return [Panel(grid, title=title, title_align="left", box=box.ROUNDED, expand=False)]


def build_memory(report: Report) -> list[Panel]:
    """--memory/--batch: inference peak with liveness, one training step's memory;
    --device: the roofline bound."""
    from cnnshape.render import memory, roofline

    return _panel("Memory", memory.rows(report)) + _panel("Roofline (a lower bound)", roofline.rows(report))


def render(
    report: Report, console: Console, depth: Optional[int] = None, columns: Optional[Sequence[str]] = None
) -> None:
    """The layer table fitted to the console (see render/fit.py), then the totals.
    `columns`: the keys of the columns to show (as torchinfo's col_names); none left out then."""
    unicode = console.encoding.lower().replace("-", "").startswith("utf")
    chosen = choose(summary_columns(report, depth, unicode), None if columns is None else ["layer", *columns])
    fitted = fit(chosen, console.width, can_drop=columns is None)
    table = build_table(report, fitted.columns, dropped_note(fitted.dropped, console.width))
    # The title is a line of its own, wrapped at the terminal's width, not the table's.
    title = Text(escape.terminal(f"{report.name}  ({report.file})"))
    highlights = build_highlights(report)
    parts: list[RenderableType] = [
        *([highlights] if highlights is not None else []),
        build_totals(report),
        *build_memory(report),
        *build_counting(report),
    ]
    console.print(title, width=fitted.width)
    for piece in table.pieces(ROWS_PER_PRINT):
        console.print(piece, width=fitted.width)
    console.print(Group(*parts), width=fitted.width)


ROWS_PER_PRINT = 2000  # rich keeps a print's output until it ends: the table goes out in pieces


def build_highlights(report: Report) -> Optional[Table]:
    """The outputs a source format names (detection levels): shape and receptive field."""
    view = report.source_view
    if view is None or not view.highlights:
        return None
    rows = {row.name: row for row in report.rows}
    table = Table(
        box=box.SIMPLE_HEAD, pad_edge=False, title=Text(escape.terminal(f"{view.title} outputs")), title_justify="left"
    )
    table.add_column("Output")
    table.add_column("Layer", overflow="fold")
    table.add_column("Shape", no_wrap=True)
    table.add_column("RF", justify="right", no_wrap=True)
    for label, name in view.highlights:
        row = rows.get(name)
        if row is not None:
            table.add_row(
                escape.terminal(label),
                escape.terminal(name),
                units.shape(row.output_shape),
                units.receptive_field(row.receptive_field),
            )
    return table
