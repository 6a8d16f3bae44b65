"""The rich table of `summary`: the layer tree, then a totals panel."""

from __future__ import annotations

from typing import Optional

from rich import box
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from cnnshape.render import escape, units
from cnnshape.report import DTYPE_BYTES, Report, Row, is_folded, rows_at_depth


def _label(row: Row, depth: Optional[int], markers: tuple[str, str]) -> Text:
    indent = "  " * row.depth
    local = row.name.rsplit(".", 1)[-1]
    folded = is_folded(row, depth)
    marker = (markers[0] if folded else markers[1]) if row.is_block else ""
    return Text(indent + marker + escape.terminal(local), style="bold" if row.is_block else "")


def build_table(report: Report, depth: Optional[int] = None, unicode: bool = True) -> Table:
    markers = ("▸ ", "▾ ") if unicode else ("> ", "v ")
    counting = report.counting
    other = counting is not None and counting.shown != counting.default.convention
    share = counting is not None and counting.share
    cells = []
    for row in rows_at_depth(report, depth):
        expanded_block = row.is_block and not is_folded(row, depth)
        style = "dim" if expanded_block else ""
        params = units.count(row.params) if row.params else "-"
        row_macs = counting.layer_macs[row.name] if counting is not None and other else row.macs
        macs = units.count(row_macs) if row_macs else "-"
        if row.training_macs and not row.macs:
            macs, style = f"train {units.count(row.training_macs)}", "dim"
        if expanded_block:
            params, macs = f"({params})", f"({macs})"
        cells.append((
            _label(row, depth, markers),
            Text(escape.terminal(row.kind)),
            Text(" ".join(units.shape(s) for s in row.output_shapes)),
            Text(params, style=style),
            Text(macs, style=style),
            Text(units.receptive_field(row.receptive_field)),
            *((Text(units.percent(counting.shares[row.name][0]), style=style),
               Text(units.percent(counting.shares[row.name][1]), style=style)) if counting is not None and share else ()),
        ))
    table = Table(
        box=box.SIMPLE_HEAD, pad_edge=False, title=Text(escape.terminal(f"{report.name}  ({report.file})")), title_justify="left",
        caption="RF: receptive field size, sSTRIDE, pPADDING per spatial axis (global: the whole input; "
        "~ approximate; ! unaligned merge)",
        caption_justify="left",
    )
    # On a narrow terminal the names and shapes wrap; numbers are never cut short.
    table.add_column("Layer", overflow="fold")
    table.add_column("Kind", style="cyan", overflow="fold")
    table.add_column("Output shape", overflow="fold")
    headers = [(3, "Params"), (4, f"MACs ({counting.shown})" if counting is not None and other else "MACs"), (5, "RF")]
    if share:
        headers += [(6, "% params"), (7, "% MACs")]
    for index, header in headers:
        widest = max((len(str(cell[index])) for cell in cells), default=0)
        table.add_column(header, justify="right", no_wrap=True, min_width=max(widest, len(header)))
    for cell in cells:
        table.add_row(*cell)
    return table


def build_totals(report: Report) -> Panel:
    t = report.totals
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()

    def exact(value: int) -> str:
        return f"{value:,} ({units.count(value)})" if value >= 1000 else f"{value:,}"

    grid.add_row("Parameters", f"{exact(t.params)}  trainable {t.trainable_params:,}, non-trainable {t.non_trainable_params:,}")
    grid.add_row("Buffers", f"{exact(t.buffers)}  (batch-norm running statistics, not parameters)")
    grid.add_row("MACs", f"{exact(t.macs)}  (torchvision convention: conv + linear/matmul weights)")
    grid.add_row("FLOPs", f"{exact(t.flops)}  (= 2 x MACs)")
    if t.training_only_macs:
        grid.add_row("Training only", f"{exact(t.training_only_macs)} MACs in layers that run only in training (not in MACs above)")
    bytes_each = DTYPE_BYTES[report.dtype]
    grid.add_row("Memory", (
        f"params {units.size(t.param_bytes)}, buffers {units.size(t.buffer_bytes)}, input {units.size(t.input_bytes)}"
        f"  ({report.dtype}, {bytes_each} B/element)"
    ))
    grid.add_row("Activations", f"{units.size(t.activation_bytes)}  (every layer's output, none freed)")
    grid.add_row("Input", units.shape(report.input_shape))
    for output in report.outputs:
        grid.add_row(
            "Output" if len(report.outputs) == 1 else Text(escape.terminal(f"Output {output.name}")),
            f"{units.shape(output.shape)}  receptive field {units.receptive_field(output.receptive_field)}",
        )
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
        conventions = _plain_table("Counting conventions (MACs as each tool counts them; FLOPs = 2 x MACs)",
                                   counting.CONVENTION_HEADER, counting.convention_rows(report))
        conventions.columns[-1].justify = "left"
        parts += [conventions, _plain_table("MACs by operation family", counting.family_header(report),
                                                  counting.family_rows(report, short=True))]
    if c.top:
        parts.append(_plain_table(f"Heaviest {len(c.top)} layers by MACs ({c.shown})", counting.TOP_HEADER,
                                  counting.top_rows(report), right_from=3))
    return parts


def render(report: Report, console: Console, depth: Optional[int] = None) -> None:
    unicode = console.encoding.lower().replace("-", "").startswith("utf")
    console.print(Group(build_table(report, depth, unicode), build_totals(report), *build_counting(report)))
