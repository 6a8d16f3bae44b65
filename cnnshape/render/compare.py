"""`compare`: the totals side by side with their differences, then the aligned layers,
as a rich table, GitHub Markdown or JSON. Formats a Comparison; computes nothing."""

from __future__ import annotations

import json
from typing import Any, Optional

from cnnshape.compare import Comparison, Metric, RowPair, Side
from cnnshape.render import escape, units
from cnnshape.render.json import receptive_field, row_to_dict
from cnnshape.report import DTYPE_BYTES, Row

MARKS = {"same": " ", "changed": "~", "added": "+", "removed": "-"}
STYLES = {"changed": "yellow", "added": "green", "removed": "red"}
ARROW = " → "


def side_label(side: Side) -> str:
    """`resnet18 (specs/resnet18.yaml)` with the overrides that made this side."""
    report = side.report
    given = [f"{key}={value}" for key, value in side.overrides.items()]
    if side.input_override is not None:
        given.insert(0, f"input {units.shape(side.input_override)}")
    return f"{report.name} ({report.file}{', ' + ', '.join(given) if given else ''})"


def value_text(metric: Metric, value: Any) -> str:
    if value is None and metric.kind == "shape":
        return "-"  # an output only the other side has
    if metric.kind == "count":
        return f"{value:,}"
    if metric.kind == "bytes":
        return units.size(value)
    if metric.kind == "shape":
        return units.shape(value)
    return units.receptive_field(value)


def delta_text(metric: Metric) -> str:
    if not metric.changed:
        return "="
    if metric.delta is None:
        return "changed"
    if metric.kind == "bytes":
        return ("+" if metric.delta > 0 else "-") + units.size(abs(metric.delta))
    return f"{metric.delta:+,}"


def percent_text(metric: Metric) -> str:
    """The change as a percentage of A: one decimal, or two significant digits for a change
    below 0.05% (`-0.028%`, `+1.2e-08%`: a real change never reads as -0.0%)."""
    if not metric.changed or metric.ratio is None:
        return ""
    percent = float(metric.ratio) * 100
    return f"{percent:+.2g}%" if percent and abs(percent) < 0.05 else f"{percent:+.1f}%"


def cell_text(row: Row, cell: str) -> str:
    if cell == "name":
        return row.name
    if cell == "kind":
        return row.kind
    if cell == "output_shapes":
        return " ".join(units.shape(s) for s in row.output_shapes)
    if cell in ("params", "macs"):
        value = getattr(row, cell)
        return units.count(value) if value else "-"
    return units.receptive_field(row.receptive_field)


def pair_cells(pair: RowPair) -> list[tuple[str, bool]]:
    """(text, changed) for Layer, Kind, Output shape, Params, MACs, RF."""
    out = []
    for cell in ("name", "kind", "output_shapes", "params", "macs", "receptive_field"):
        if pair.a is not None and pair.b is not None and cell in pair.changed:
            out.append((cell_text(pair.a, cell) + ARROW + cell_text(pair.b, cell), True))
        else:
            out.append((cell_text(pair.row, cell), False))
    return out


def counts_text(comparison: Comparison, changed_only: bool = False) -> str:
    counts = comparison.counts
    shown = "layers and folded blocks" if comparison.depth is not None else "layers"
    hidden = " (same rows not shown)" if changed_only and counts["same"] else ""
    return (
        f"{len(comparison.rows):,} {shown}: {counts['same']:,} same{hidden}, {counts['changed']:,} changed, "
        f"{counts['added']:,} added (+), {counts['removed']:,} removed (-)"
    )


def shown_pairs(comparison: Comparison, changed_only: bool) -> list[RowPair]:
    return [pair for pair in comparison.rows if not (changed_only and pair.status == "same")]


# --- rich table ---------------------------------------------------------------------------


def render(comparison: Comparison, console: Any, changed_only: bool = False) -> None:
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    heading = Text()
    heading.append("A  ", style="bold")
    heading.append(escape.terminal(side_label(comparison.a)) + "\n")
    heading.append("B  ", style="bold")
    heading.append(escape.terminal(side_label(comparison.b)))

    totals = Table(box=box.SIMPLE_HEAD, pad_edge=False, title="Totals", title_justify="left")
    totals.add_column("")
    totals.add_column("A", justify="right", no_wrap=True)
    totals.add_column("B", justify="right", no_wrap=True)
    totals.add_column("B - A", justify="right", no_wrap=True)
    totals.add_column("%", justify="right", no_wrap=True)
    for metric in comparison.metrics:
        style = "yellow" if metric.changed else ""
        totals.add_row(
            Text(metric.label, style="bold"),
            Text(value_text(metric, metric.a)),
            Text(value_text(metric, metric.b)),
            Text(delta_text(metric), style=style),
            Text(percent_text(metric), style=style),
        )

    layers = Table(box=box.SIMPLE_HEAD, pad_edge=False, title="Layers", title_justify="left")
    layers.add_column(" ", no_wrap=True)
    for name, justify in (("Layer", "left"), ("Kind", "left"), ("Output shape", "left"), ("Params", "right"), ("MACs", "right"), ("RF (size stride pad)", "right")):
        layers.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for pair in shown_pairs(comparison, changed_only):
        row_style = STYLES.get(pair.status, "") if pair.status != "changed" else ""
        # A changed cell is two lines, "A" over "→ B", so the table stays narrow.
        cells = [
            Text(escape.terminal(text).replace(ARROW, "\n→ "), style="bold yellow") if changed
            else Text(escape.terminal(text), style=row_style)
            for text, changed in pair_cells(pair)
        ]
        layers.add_row(Text(MARKS[pair.status], style=STYLES.get(pair.status, "")), *cells)
    console.print(Group(heading, Text(""), totals, layers, Text(counts_text(comparison, changed_only))))


# --- Markdown -----------------------------------------------------------------------------


def markdown(comparison: Comparison, changed_only: bool = False) -> str:
    from cnnshape.render.markdown import code, table, text

    totals = [
        [
            text(metric.label),
            text(value_text(metric, metric.a)),
            text(value_text(metric, metric.b)),
            ("**" + text(delta_text(metric)) + "**") if metric.changed else text(delta_text(metric)),
            text(percent_text(metric)),
        ]
        for metric in comparison.metrics
    ]
    layers = []
    for pair in shown_pairs(comparison, changed_only):
        cells = []
        for index, (value, changed) in enumerate(pair_cells(pair)):
            shown = code(value) if index == 0 else text(value)  # escaped: spec text
            cells.append(f"**{shown}**" if changed else shown)
        layers.append([MARKS[pair.status].strip() or " ", *cells])  # our own marks, not spec text
    parts = [
        f"**A** {text(side_label(comparison.a))}  \n**B** {text(side_label(comparison.b))}",
        table(["Totals", "A", "B", "B - A", "%"], totals, "lrrrr"),
        table(["", "Layer", "Kind", "Output shape", "Params", "MACs", "RF (size stride pad)"], layers, "clllrrr"),
        text(counts_text(comparison, changed_only)),
    ]
    return "\n\n".join(parts) + "\n"


# --- JSON ---------------------------------------------------------------------------------


def _json_value(metric: Metric, value: Any) -> Any:
    if metric.kind == "shape":
        return None if value is None else list(value)
    if metric.kind == "field":
        return receptive_field(value)
    return value


def _side(side: Side) -> dict[str, Any]:
    report = side.report
    return {
        "name": report.name,
        "file": report.file,
        "input": list(report.input_shape),
        "args": report.args,
        "overrides": side.overrides,
        "dtype": report.dtype,
    }


def _row(row: Optional[Row], dtype: str) -> Optional[dict[str, Any]]:
    return None if row is None else row_to_dict(row, DTYPE_BYTES[dtype])


def to_dict(comparison: Comparison) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "a": _side(comparison.a),
        "b": _side(comparison.b),
        "depth": comparison.depth,
        "totals": {
            metric.key: {
                "a": _json_value(metric, metric.a),
                "b": _json_value(metric, metric.b),
                "changed": metric.changed,
                "delta": metric.delta,
                "percent": None if metric.ratio is None else round(float(metric.ratio) * 100, 4),
            }
            for metric in comparison.metrics
        },
        "counts": comparison.counts,
        "layers": [
            {
                "status": pair.status,
                "changed": list(pair.changed),
                "a": _row(pair.a, comparison.a.report.dtype),
                "b": _row(pair.b, comparison.b.report.dtype),
            }
            for pair in comparison.rows
        ],
    }


def render_json(comparison: Comparison) -> str:
    """Indented, with one compact line per layer pair (as summary's JSON)."""
    data = to_dict(comparison)
    layers = data.pop("layers")
    head = json.dumps(data, indent=2)
    body = ",\n    ".join(json.dumps(item, separators=(", ", ": ")) for item in layers)
    tail = f',\n  "layers": [\n    {body}\n  ]\n}}' if layers else ',\n  "layers": []\n}'
    return head[: head.rstrip().rfind("}")].rstrip() + tail
