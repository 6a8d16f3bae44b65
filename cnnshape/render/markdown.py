"""GitHub-flavoured Markdown: `summary --format markdown` (for PR comments), and the
table helpers the other Markdown renderers share."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

from cnnshape import escape
from cnnshape.render import units
from cnnshape.report import DTYPE_BYTES, Report, leaf_rows, rows_at_depth

SHOWN_OUTPUTS = 100  # the totals list this many outputs (a spec may list 200,000); JSON has all


def text(value: object) -> str:
    """Plain text safe in a table cell or a line: literal under CommonMark and GFM."""
    return escape.markdown(value)


def code(value: object, in_table: bool = True) -> str:
    """`value` as a code span, safe in a table cell (GFM needs | escaped even in code)."""
    return escape.markdown_code(value, in_table)


def table(header: Sequence[str], rows: Sequence[Sequence[str]], align: Optional[str] = None) -> str:
    """A GFM table; `align` is one letter per column: l(eft), r(ight), c(entre).
    Cells must already be escaped (text(), code())."""
    align = align or "l" * len(header)
    marks = {"l": ":---", "r": "---:", "c": ":---:"}
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(marks[a] for a in align) + " |"]
    lines += ["| " + " | ".join(cell if cell else " " for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def exact(value: int) -> str:
    return f"{value:,} ({units.count(value)})" if abs(value) >= 1000 else f"{value:,}"


def totals_rows(report: Report) -> list[list[str]]:
    t = report.totals
    bytes_each = DTYPE_BYTES[report.dtype]
    rows = [
        [
            "Parameters",
            text(f"{exact(t.params)}; trainable {t.trainable_params:,}, non-trainable {t.non_trainable_params:,}"),
        ],
        ["Buffers", text(f"{exact(t.buffers)} (batch-norm running statistics, not parameters)")],
        ["MACs", text(f"{exact(t.macs)} (torchvision convention: conv + linear/matmul weights)")],
        ["FLOPs", text(f"{exact(t.flops)} (= 2 x MACs)")],
    ]
    if t.training_only_macs:
        rows.append(["Training only", text(f"{exact(t.training_only_macs)} MACs in layers that run only in training")])
    rows += [
        [
            "Memory",
            text(
                f"params {units.size(t.param_bytes)}, buffers {units.size(t.buffer_bytes)}, "
                f"input {units.size(t.input_bytes)} ({report.dtype}, {bytes_each} B/element)"
            ),
        ],
        ["Activations", text(f"{units.size(t.activation_bytes)} (every layer's output, none freed)")],
        ["Input", code(units.shape(report.input_shape))],
    ]
    for output in report.outputs[:SHOWN_OUTPUTS]:
        label = "Output" if len(report.outputs) == 1 else f"Output {output.name}"
        rf = units.receptive_field(output.receptive_field)
        rows.append([text(label), f"{code(units.shape(output.shape))} receptive field {text(rf)}"])
    if len(report.outputs) > SHOWN_OUTPUTS:
        more = len(report.outputs) - SHOWN_OUTPUTS
        rows.append(["Outputs", text(f"{more:,} more, {len(report.outputs):,} in all (--format json lists every one)")])
    rows.append(["Layers", f"{t.layers:,}"])
    return rows


def render(report: Report, depth: Optional[int] = None) -> str:
    """The layers (as many as --depth shows, each counted once) and the totals."""
    from cnnshape.render import counting

    shown = leaf_rows(rows_at_depth(report, depth), depth)
    c = report.counting
    other = c is not None and c.shown != c.default.convention
    share = c is not None and c.share
    rows = []
    for row in shown:
        row_macs = c.layer_macs[row.name] if c is not None and other else row.macs
        macs = (
            units.count(row_macs)
            if row_macs
            else ("train " + units.count(row.training_macs) if row.training_macs else "-")
        )
        shares = [units.percent(value) for value in c.shares[row.name]] if c is not None and share else []
        rows.append(
            [
                code(row.name),
                text(row.kind + (" (block)" if row.is_block else "")),
                code(" ".join(units.shape(s) for s in row.output_shapes)),
                text(units.count(row.params)) if row.params else "-",
                text(macs),
                text(units.receptive_field(row.receptive_field)),
                *shares,
            ]
        )
    header = [
        "Layer",
        "Kind",
        "Output shape",
        "Params",
        f"MACs ({c.shown})" if c is not None and other else "MACs",
        "RF (size stride pad)",
    ] + (["% params", "% MACs"] if share else [])
    parts = [
        f"**{text(report.name)}** ({code(report.file, in_table=False)})",
        table(header, rows, "lllrrr" + ("rr" if share else "")),
        table(["Totals", ""], totals_rows(report)),
    ]
    if report.memory is not None:
        from cnnshape.render import memory

        parts.append(
            table(["Memory", ""], [[text(label.strip()), text(value)] for label, value in memory.rows(report)])
        )
    if report.roofline is not None:
        from cnnshape.render import roofline

        parts.append(
            table(
                ["Roofline (a lower bound)", ""],
                [[text(label.strip()), text(value)] for label, value in roofline.rows(report)],
            )
        )
    if c is not None and (len(c.counted) > 1 or other):
        parts.append(
            table(
                counting.CONVENTION_HEADER,
                [[text(cell) for cell in row] for row in counting.convention_rows(report)],
                "lrrrl",
            )
        )
        header = counting.family_header(report)
        parts.append(
            table(
                header,
                [[text(cell) for cell in row] for row in counting.family_rows(report)],
                "l" + "r" * (len(header) - 1),
            )
        )
    if c is not None and c.top:
        parts.append(
            table(counting.TOP_HEADER, [[text(cell) for cell in row] for row in counting.top_rows(report)], "lllrrrr")
        )
    return "\n\n".join(parts) + "\n"
