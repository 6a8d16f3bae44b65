"""`sweep`: one row per setting, as a rich table, Markdown, CSV or JSON. Formats only."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from cnnshape import escape
from cnnshape.render import units
from cnnshape.render.fit import Column, Drawn, Justify, choose, dropped_note, fit
from cnnshape.render.json import receptive_field
from cnnshape.sweep import Point, Sweep

TOTALS = ("Params", "MACs", "FLOPs", "Activations")


def output_names(sweep: Sweep) -> list[str]:
    """The network's outputs, as the first point that analysed names them."""
    for point in sweep.points:
        if point.report is not None:
            return [output.name for output in point.report.outputs]
    return []


def header(sweep: Sweep) -> list[str]:
    """Params, MACs, FLOPs, Activations, then Output and RF: once for a network with one
    output, `Output NAME` and `RF NAME` for each when it has several."""
    names = output_names(sweep)
    if len(names) <= 1:
        return [*TOTALS, "Output", "RF"]
    return [*TOTALS] + [f"{label} {name}" for name in names for label in ("Output", "RF")]


def title(sweep: Sweep) -> str:
    fixed = ", ".join(f"{key}={value}" for key, value in sweep.fixed.items())
    return f"{sweep.name}  ({sweep.file}{'; ' + fixed if fixed else ''})"


def _problem(point: Point) -> str:
    return point.problems[0].message if point.problems else "failed"


def cells(point: Point, names: Sequence[str], exact: bool = True) -> list[str]:
    """Params, MACs, FLOPs, activations, then each output's shape and receptive field as
    text; the parameters exact, MACs and FLOPs exact or to three figures."""
    shown = max(len(names), 1)
    if point.report is None:
        return ["error"] + [""] * (3 + 2 * shown)
    t = point.report.totals
    outputs = {output.name: output for output in point.report.outputs}
    found = [outputs.get(name) for name in names] or [None]
    return [
        f"{t.params:,}",
        f"{t.macs:,}" if exact else units.count(t.macs),
        f"{t.flops:,}" if exact else units.count(t.flops),
        units.size(t.activation_bytes),
    ] + [
        text
        for output in found
        for text in (
            (units.shape(output.shape), units.receptive_field(output.receptive_field)) if output else ("-", "-")
        )
    ]


# Left out on a narrow terminal in this order (1 first); the settings never go.
DROP = {"FLOPs": 1, "Activations": 2, "RF": 3, "Output": 4, "MACs": 5, "Params": 6}


def sweep_columns(sweep: Sweep) -> list[Column]:
    names = output_names(sweep)
    rows = []
    for point in sweep.points:
        row = [point.setting[axis.name] for axis in sweep.axes] + cells(point, names, exact=False)
        if sweep.failed:
            row.append(_problem(point) if point.report is None else "")
        rows.append(row)
    styles = ["red" if point.report is None else "" for point in sweep.points]
    heads: list[tuple[str, str, int, Justify]] = [
        (escape.terminal(axis.name), axis.name, 0, "left") for axis in sweep.axes
    ]
    for head in header(sweep):
        kind = head.split(" ", 1)[0]
        key = kind.lower()  # every output's Output (or RF) column answers to one key
        heads.append((escape.terminal(head), key, DROP[kind], "left" if kind == "Output" else "right"))
    if sweep.failed:
        heads.append(("Problem", "problem", 0, "left"))
    return [
        Column(
            key,
            text,
            [("", escape.terminal(row[index])) for row in rows],
            name=key == "problem",
            drop=drop,
            justify=justify,
            styles=styles,
            style="cyan" if index < len(sweep.axes) else "",
        )
        for index, (text, key, drop, justify) in enumerate(heads)
    ]


def render(sweep: Sweep, console: Any, columns: Sequence[str] | None = None) -> None:
    from rich.text import Text

    every = sweep_columns(sweep)
    keep = None if columns is None else [column.key for column in every[: len(sweep.axes)]] + list(columns)
    chosen = choose(every, keep)
    fitted = fit(chosen, console.width, can_drop=columns is None)
    from rich.console import Group

    # The title is a line of its own, wrapped at the terminal's width, not the table's.
    table = Drawn(fitted.columns, caption=dropped_note(fitted.dropped, console.width))
    console.print(Group(Text(escape.terminal(title(sweep))), table), width=fitted.width)


def markdown(sweep: Sweep) -> str:
    from cnnshape.render.markdown import code, table, text

    failed = bool(sweep.failed)
    names = output_names(sweep)
    columns = header(sweep)
    head = [text(axis.name) for axis in sweep.axes] + [text(name) for name in columns] + (["Problem"] if failed else [])
    rows = []
    for point in sweep.points:
        values = cells(point, names)
        row = [code(point.setting[axis.name]) for axis in sweep.axes]
        row += [text(value) for value in values[:4]]
        row += [(code(value) if value else "") if i % 2 == 0 else text(value) for i, value in enumerate(values[4:])]
        if failed:
            row.append(text(_problem(point)) if point.report is None else "")
        rows.append(row)
    align = "l" * len(sweep.axes) + "rrrr" + "lr" * ((len(columns) - 4) // 2) + ("l" if failed else "")
    return f"**{text(sweep.name)}** ({code(sweep.file, in_table=False)})\n\n" + table(head, rows, align) + "\n"


CSV_COLUMNS = (
    "params",
    "buffers",
    "macs",
    "flops",
    "param_bytes",
    "activation_bytes",
    "input_shape",
    "output_shape",
    "receptive_field",
    "layers",
    "error",
)


def csv(sweep: Sweep) -> str:
    from cnnshape.render.csv import shape, write

    names = output_names(sweep)
    more = names[1:]  # the first output keeps the columns it always had
    extra_columns = [f"{column}.{name}" for name in more for column in ("output_shape", "receptive_field")]
    rows: list[Sequence[object]] = []
    for point in sweep.points:
        setting = [point.setting[axis.name] for axis in sweep.axes]
        report = point.report
        if report is None:
            rows.append(setting + [""] * (len(CSV_COLUMNS) - 1) + [_problem(point)] + [""] * len(extra_columns))
            continue
        t = report.totals
        outputs = {output.name: output for output in report.outputs}
        output = report.outputs[0] if report.outputs else None
        extra: list[object] = []
        for name in more:
            other = outputs.get(name)
            extra += [shape(other.shape), units.receptive_field(other.receptive_field)] if other else ["", ""]
        rows.append(
            setting
            + [
                t.params,
                t.buffers,
                t.macs,
                t.flops,
                t.param_bytes,
                t.activation_bytes,
                shape(report.input_shape),
                shape(output.shape) if output else "",
                units.receptive_field(output.receptive_field) if output else "",
                t.layers,
                "",
            ]
            + extra
        )
    return write([axis.name for axis in sweep.axes] + list(CSV_COLUMNS) + extra_columns, rows)


def to_dict(sweep: Sweep) -> dict[str, Any]:
    points = []
    for point in sweep.points:
        report = point.report
        entry: dict[str, Any] = {"setting": point.setting, "overrides": point.overrides}
        if report is None:
            entry["problems"] = [
                {"file": p.file, "line": p.line, "column": p.col, "code": p.code, "message": p.message}
                for p in point.problems
            ]
        else:
            t = report.totals
            output = report.outputs[0] if report.outputs else None
            entry.update(
                {
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
                    "outputs": [
                        {
                            "name": out.name,
                            "shape": list(out.shape),
                            "receptive_field": receptive_field(out.receptive_field),
                        }
                        for out in report.outputs
                    ],
                }
            )
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
