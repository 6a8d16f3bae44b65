"""`sweep`: one row per setting, as a rich table, Markdown, CSV or JSON. Formats only."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from cnnshape.render import escape, units
from cnnshape.render.json import receptive_field
from cnnshape.sweep import Point, Sweep

HEADER = ("Params", "MACs", "FLOPs", "Activations", "Output", "RF")


def title(sweep: Sweep) -> str:
    fixed = ", ".join(f"{key}={value}" for key, value in sweep.fixed.items())
    return f"{sweep.name}  ({sweep.file}{'; ' + fixed if fixed else ''})"


def _problem(point: Point) -> str:
    return point.problems[0].message if point.problems else "failed"


def cells(point: Point, exact: bool = True) -> list[str]:
    """Params, MACs, FLOPs, activations, output shape, receptive field as text; the
    parameters exact, MACs and FLOPs exact or to three figures."""
    if point.report is None:
        return ["error", "", "", "", "", ""]
    t = point.report.totals
    output = point.report.outputs[0] if point.report.outputs else None
    return [
        f"{t.params:,}",
        f"{t.macs:,}" if exact else units.count(t.macs),
        f"{t.flops:,}" if exact else units.count(t.flops),
        units.size(t.activation_bytes),
        units.shape(output.shape) if output else "-",
        units.receptive_field(output.receptive_field) if output else "-",
    ]


def render(sweep: Sweep, console: Any) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, title=Text(escape.terminal(title(sweep))), title_justify="left")
    for axis in sweep.axes:
        table.add_column(Text(escape.terminal(axis.name)), no_wrap=True, style="cyan")
    for name in HEADER:
        table.add_column(name, justify="right" if name != "Output" else "left", no_wrap=True)
    failed = bool(sweep.failed)
    if failed:
        table.add_column("Problem")
    for point in sweep.points:
        row = [point.setting[axis.name] for axis in sweep.axes] + cells(point, exact=False)
        if failed:
            row.append(_problem(point) if point.report is None else "")
        style = "red" if point.report is None else ""
        table.add_row(*(Text(escape.terminal(cell), style=style) for cell in row))
    console.print(table)


def markdown(sweep: Sweep) -> str:
    from cnnshape.render.markdown import code, table, text

    failed = bool(sweep.failed)
    header = [text(axis.name) for axis in sweep.axes] + [text(name) for name in HEADER] + (["Problem"] if failed else [])
    rows = []
    for point in sweep.points:
        values = cells(point)
        row = [code(point.setting[axis.name]) for axis in sweep.axes]
        row += [text(value) for value in values[:4]] + [code(values[4]) if values[4] else "", text(values[5])]
        if failed:
            row.append(text(_problem(point)) if point.report is None else "")
        rows.append(row)
    align = "l" * len(sweep.axes) + "rrrrlr" + ("l" if failed else "")
    return f"**{text(sweep.name)}** ({code(sweep.file, in_table=False)})\n\n" + table(header, rows, align) + "\n"


CSV_COLUMNS = (
    "params", "buffers", "macs", "flops", "param_bytes", "activation_bytes", "input_shape",
    "output_shape", "receptive_field", "layers", "error",
)


def csv(sweep: Sweep) -> str:
    from cnnshape.render.csv import shape, write

    rows: list[Sequence[object]] = []
    for point in sweep.points:
        setting = [point.setting[axis.name] for axis in sweep.axes]
        report = point.report
        if report is None:
            rows.append(setting + [""] * (len(CSV_COLUMNS) - 1) + [_problem(point)])
            continue
        t = report.totals
        output = report.outputs[0] if report.outputs else None
        rows.append(setting + [
            t.params, t.buffers, t.macs, t.flops, t.param_bytes, t.activation_bytes,
            shape(report.input_shape), shape(output.shape) if output else "",
            units.receptive_field(output.receptive_field) if output else "", t.layers, "",
        ])
    return write([axis.name for axis in sweep.axes] + list(CSV_COLUMNS), rows)


def to_dict(sweep: Sweep) -> dict[str, Any]:
    points = []
    for point in sweep.points:
        report = point.report
        entry: dict[str, Any] = {"setting": point.setting, "overrides": point.overrides}
        if report is None:
            entry["problems"] = [
                {"file": p.file, "line": p.line, "column": p.col, "code": p.code, "message": p.message} for p in point.problems
            ]
        else:
            t = report.totals
            output = report.outputs[0] if report.outputs else None
            entry.update({
                "input": list(report.input_shape),
                "params": t.params,
                "buffers": t.buffers,
                "macs": t.macs,
                "flops": t.flops,
                "param_bytes": t.param_bytes,
                "activation_bytes": t.activation_bytes,
                "layers": t.layers,
                "output_shape": list(output.shape) if output else None,
                "receptive_field": receptive_field(output.receptive_field) if output else None,
            })
        points.append(entry)
    return {
        "schema_version": 1,
        "name": sweep.name,
        "file": sweep.file,
        "dtype": sweep.dtype,
        "axes": [{"name": axis.name, "values": axis.values} for axis in sweep.axes],
        "fixed": sweep.fixed,
        "points": points,
    }


def render_json(sweep: Sweep) -> str:
    return json.dumps(to_dict(sweep), indent=2)
