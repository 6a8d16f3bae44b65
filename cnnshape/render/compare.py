"""`compare`: the totals side by side with their differences, then the aligned layers,
as a rich table, GitHub Markdown or JSON. Formats a Comparison; computes nothing."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Optional

from cnnshape import escape
from cnnshape.compare import Comparison, Metric, RowPair, Side
from cnnshape.render import units
from cnnshape.render.fit import Column, Drawn, Justify, choose, dropped_note, fit
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


def value_short(metric: Metric, value: Any) -> str:
    """As `value_text`, counts to three figures (`1.81 G`): for a terminal too narrow for exact ones."""
    return units.count(value) if metric.kind == "count" and value is not None else value_text(metric, value)


def delta_short(metric: Metric) -> str:
    if metric.kind == "count" and metric.changed and metric.delta is not None:
        return ("+" if metric.delta > 0 else "-") + units.count(abs(metric.delta))
    return delta_text(metric)


def totals_columns(comparison: Comparison, exact: bool = True) -> list[Column]:
    value, delta = (value_text, delta_text) if exact else (value_short, delta_short)
    metrics = comparison.metrics
    styles = ["yellow" if metric.changed else "" for metric in metrics]
    return [
        Column(
            "total", "", [("", escape.terminal(metric.label)) for metric in metrics], styles=["bold"] * len(metrics)
        ),
        Column("a", "A", [("", value(metric, metric.a)) for metric in metrics], justify="right"),
        Column("b", "B", [("", value(metric, metric.b)) for metric in metrics], justify="right"),
        Column("delta", "B - A", [("", delta(metric)) for metric in metrics], justify="right", styles=styles),
        Column(
            "percent", "%", [("", percent_text(metric)) for metric in metrics], drop=1, justify="right", styles=styles
        ),
    ]


# The layer table's columns: key, header, justify, order of leaving out (Kind first).
LAYER_COLUMNS: tuple[tuple[str, str, Justify, int], ...] = (
    ("mark", " ", "left", 0),
    ("layer", "Layer", "left", 0),
    ("kind", "Kind", "left", 1),
    ("shape", "Output shape", "left", 3),
    ("params", "Params", "right", 5),
    ("macs", "MACs", "right", 4),
    ("rf", "RF", "right", 2),
)


def layer_columns(comparison: Comparison, changed_only: bool = False) -> list[Column]:
    pairs = shown_pairs(comparison, changed_only)
    texts: list[list[tuple[str, str]]] = [[] for _ in LAYER_COLUMNS]
    styles: list[list[str]] = [[] for _ in LAYER_COLUMNS]
    for pair in pairs:
        row_style = STYLES.get(pair.status, "") if pair.status != "changed" else ""
        texts[0].append(("", MARKS[pair.status]))
        styles[0].append(STYLES.get(pair.status, ""))
        # A changed cell is two lines, "A" over "→ B", so the table stays narrow.
        for index, (text, changed) in enumerate(pair_cells(pair), start=1):
            texts[index].append(("", escape.terminal(text).replace(ARROW, "\n→ ")))
            styles[index].append("bold yellow" if changed else row_style)
    return [
        Column(
            key, header, texts[index], name=key in ("layer", "kind"), drop=drop, justify=justify, styles=styles[index]
        )
        for index, (key, header, justify, drop) in enumerate(LAYER_COLUMNS)
    ]


def render(
    comparison: Comparison, console: Any, changed_only: bool = False, columns: Sequence[str] | None = None
) -> None:
    """Totals (exact, or to three figures when the terminal is too narrow for exact
    figures), then the aligned layers, fitted to the console (render/fit.py)."""
    from rich.console import Group
    from rich.text import Text

    heading = Text()
    heading.append("A  ", style="bold")
    heading.append(escape.terminal(side_label(comparison.a)) + "\n")
    heading.append("B  ", style="bold")
    heading.append(escape.terminal(side_label(comparison.b)))

    width = console.width
    fitted = fit(totals_columns(comparison), width)
    rounded = ""
    if fitted.width > width:
        fitted = fit(totals_columns(comparison, exact=False), width)
        rounded = f"Counts to three figures at {width} columns (exact: a wider terminal, or --format json)"
    totals = Drawn(
        fitted.columns,
        "Totals",
        "\n".join(line for line in (rounded, dropped_note(fitted.dropped, width, choosable=False)) if line),
    )
    keep = None if columns is None else ["mark", "layer", *columns]
    chosen = choose(layer_columns(comparison, changed_only), keep)
    laid = fit(chosen, width, can_drop=columns is None)
    caption = (
        "RF: receptive field size, sSTRIDE, pPADDING" if any(column.key == "rf" for column in laid.columns) else ""
    )
    layers = Drawn(
        laid.columns, "Layers", "\n".join(line for line in (caption, dropped_note(laid.dropped, width)) if line)
    )
    console.print(
        Group(heading, Text(""), totals, layers, Text(counts_text(comparison, changed_only))),
        width=max(fitted.width, laid.width),
    )


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
