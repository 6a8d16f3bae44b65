"""CSV for spreadsheets: `summary --format csv` (one row per layer) and the helper the
sweep renderer uses. Numbers are exact integers; shapes are written 1x64x56x56."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Optional

from cnnshape import escape
from cnnshape.render import units
from cnnshape.report import DTYPE_BYTES, Report, leaf_rows, rows_at_depth

COLUMNS = (
    "name",
    "kind",
    "block",
    "depth",
    "parent",
    "inputs",
    "output_shape",
    "params",
    "buffers",
    "macs",
    "flops",
    "training_macs",
    "activation_bytes",
    "receptive_field",
    "network_outputs",
)


# One training step's memory by layer (cnnshape.memory.LayerTraining); `peak_bytes` is their sum.
TRAINING_COLUMNS = (
    "param_bytes",
    "gradient_bytes",
    "optimizer_bytes",
    "saved_bytes",
    "weight_copy_bytes",
    "peak_bytes",
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
    With --count a `macs_NAME` column follows for each convention but the default; --share
    adds each row's shares (0..1); --memory the bytes alive while a row runs (the largest is
    the inference peak) and its part of one training step (the columns add up to the
    training figures); --device its roofline FLOPs, bytes moved and bound (they add up to
    the total bound)."""
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

    def add(column: str, values: Mapping[str, object]) -> None:
        columns.append(column)
        for cells, row in zip(rows, shown, strict=True):
            cells.append(values[row.name])

    c = report.counting
    if c is not None:
        for counted in c.counted:
            if counted.convention != c.default.convention:
                add(f"macs_{counted.convention}", c.row_macs[counted.convention])
        if c.share:
            add("params_share", {name: f"{float(share[0]):.6f}" for name, share in c.shares.items()})
            add("macs_share", {name: f"{float(share[1]):.6f}" for name, share in c.shares.items()})
    if report.memory is not None:
        add("alive_bytes", report.memory.inference.alive_bytes)
        parts = report.memory.training.row(report)
        for key in TRAINING_COLUMNS:
            add(f"training_{key}", {name: getattr(part, key) for name, part in parts.items()})
    if report.roofline is not None:
        bounds = report.roofline.rows(report)
        add("roofline_flops", {name: bound.flops for name, bound in bounds.items()})
        add("roofline_bytes", {name: bound.bytes for name, bound in bounds.items()})
        add("roofline_seconds", {name: repr(float(bound.seconds)) for name, bound in bounds.items()})
        add("roofline_bound_by", {name: bound.bound_by for name, bound in bounds.items()})
    return write(columns, rows)
