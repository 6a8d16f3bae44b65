"""How every number of a report was reached, layer by layer: the result `explain` and
`calc` render.

The layers wrote their own working (output size per axis, parameters, MACs); the
receptive-field step comes from analysis. This module only gathers them per layer, with
the shapes that went in.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Optional

from cnnshape.report import ReceptiveField, Report, Row


@dataclass
class Step:
    """One layer, explained."""

    name: str
    kind: str
    parent: Optional[str]
    inputs: list[str]
    input_shapes: list[tuple[int, ...]]
    output_shapes: list[tuple[int, ...]]
    params: int
    buffers: int
    macs: int
    training_macs: int  # MACs of a layer that runs only in training (not in `macs`)
    training_only: bool
    working: list[str]  # the layer's own: output size per axis, parameters, MACs
    rf_working: list[str]  # the receptive-field step, from analysis
    receptive_field: Optional[ReceptiveField]


@dataclass
class Explanation:
    name: str
    file: str
    input_shape: tuple[int, ...]
    steps: list[Step] = field(default_factory=list)


class UnknownLayer(ValueError):
    """`--layer NAME` names no layer or block use of the report."""


def explain(report: Report, names: Optional[list[str]] = None) -> Explanation:
    """Every layer's working, or only the layers named (a block use stands for its layers)."""
    from cnnshape.analysis import input_field, receptive_field_working

    layers = [row for row in report.rows if not row.is_block]
    by_name = {row.name: row for row in layers}
    chosen = _select(report, layers, names) if names else layers
    start = input_field(report.input_shape)
    steps = []
    for row in chosen:
        producers = [_producer(by_name, ref) for ref in row.inputs]
        shapes = [_tensor_shape(report, by_name, ref) for ref in row.inputs]
        fields = [start if producer is None else producer.receptive_field for producer in producers]
        steps.append(Step(
            name=row.name,
            kind=row.kind,
            parent=row.parent,
            inputs=list(row.inputs),
            input_shapes=shapes,
            output_shapes=list(row.output_shapes),
            params=row.params,
            buffers=row.buffers,
            macs=row.macs,
            training_macs=row.training_macs,
            training_only=row.training_only,
            working=list(row.working),
            rf_working=receptive_field_working(fields, row.receptive_field),
            receptive_field=row.receptive_field,
        ))
    return Explanation(report.name, report.file, report.input_shape, steps)


def _select(report: Report, layers: list[Row], names: list[str]) -> list[Row]:
    wanted: set[str] = set()
    known = [row.name for row in report.rows]
    for name in names:
        matches = [row.name for row in report.rows if row.name == name]
        if not matches:
            # A local name ("conv2d_1" inside one block use) is enough when it is unique.
            matches = [row.name for row in report.rows if row.name.rsplit(".", 1)[-1] == name]
            if len(matches) > 1:
                raise UnknownLayer(f"layer name {name!r} is ambiguous: {', '.join(matches[:5])}{' ...' if len(matches) > 5 else ''}")
        if not matches:
            close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise UnknownLayer(f"no layer or block use named {name!r} in {report.name}{hint}")
        wanted.update(matches)
    prefixes = tuple(f"{name}." for name in wanted)
    return [row for row in layers if row.name in wanted or row.name.startswith(prefixes)]


def _producer(by_name: dict[str, Row], ref: str) -> Optional[Row]:
    """The row that made tensor `ref` (`name` or `name.N`); None for the network input.

    Every layer kind with several outputs gives them all the same receptive field, so the
    producer's (first-output) field stands for any of its outputs.
    """
    if ref in by_name:
        return by_name[ref]
    head, _, index = ref.rpartition(".")
    return by_name.get(head) if index.isdigit() else None


def _tensor_shape(report: Report, by_name: dict[str, Row], ref: str) -> tuple[int, ...]:
    row = by_name.get(ref)
    if row is not None:
        return row.output_shape
    head, _, index = ref.rpartition(".")
    if index.isdigit() and head in by_name:
        return by_name[head].output_shapes[int(index)]
    return report.input_shape
