"""CSV for spreadsheets: `summary --format csv` (one row per layer) and the helper the
sweep renderer uses. Numbers are exact integers; shapes are written 1x64x56x56."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Optional

from cnnshape.render import escape, units
from cnnshape.report import DTYPE_BYTES, Report, leaf_rows, rows_at_depth

COLUMNS = (
    "name", "kind", "block", "depth", "parent", "inputs", "output_shape", "params", "buffers",
    "macs", "flops", "training_macs", "activation_bytes", "receptive_field", "network_outputs",
)


def shape(dims: Sequence[int]) -> str:
    return "x".join(str(d) for d in dims)


def write(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([escape.csv_cell(cell) for cell in header])
    writer.writerows([escape.csv_cell(cell) for cell in row] for row in rows)
    return out.getvalue()


def outputs_of(report: Report, row_name: str) -> list[str]:
    """The network outputs a row gives: its own tensor, or (a folded block) one inside it."""
    found = []
    for output in report.outputs:
        layer = output.tensor or output.name
        head, _, index = layer.rpartition(".")
        if head and index.isdigit():
            layer = head  # `pool.1`: the second output of layer `pool`
        if layer == row_name or layer.startswith(row_name + "."):
            found.append(output.name)
    return found


def render(report: Report, depth: Optional[int] = None) -> str:
    """The rows --depth shows, each layer counted once: the columns add up to the totals.
    With --count NAME a `macs_NAME` column follows; --share adds each row's shares (0..1)."""
    dtype_bytes = DTYPE_BYTES[report.dtype]
    shown = leaf_rows(rows_at_depth(report, depth), depth)
    rows: list[list[object]] = [
        [
            row.name,
            row.kind,
            "true" if row.is_block else "false",
            row.depth,
            row.parent or "",
            " ".join(row.inputs),
            " ".join(shape(s) for s in row.output_shapes),
            row.params,
            row.buffers,
            row.macs,
            row.flops,
            row.training_macs,
            row.activation_elements * dtype_bytes,
            units.receptive_field(row.receptive_field),
            " ".join(outputs_of(report, row.name)),
        ]
        for row in shown
    ]
    columns = list(COLUMNS)
    c = report.counting
    if c is not None:
        if c.shown != c.default.convention:
            columns.append(f"macs_{c.shown}")
            for cells, row in zip(rows, shown):
                cells.append(c.layer_macs[row.name])
        if c.share:
            columns += ["params_share", "macs_share"]
            for cells, row in zip(rows, shown):
                cells += [f"{float(share):.6f}" for share in c.shares[row.name]]
    return write(columns, rows)
