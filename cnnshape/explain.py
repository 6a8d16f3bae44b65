"""How every number of a report was reached, layer by layer: the result `explain` and
`calc` render.

The layers wrote their own working (output size per axis, parameters, MACs); the
receptive-field step is written here, from the fields analysis reported before and after
each layer. This module gathers them per layer, with the shapes that went in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Optional

from cnnshape.errors import did_you_mean
from cnnshape.layers.base import axis_names, group_axes
from cnnshape.report import AxisField, ReceptiveField, Report, Row


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
    rf_working: list[str]  # the receptive-field step, from the fields before and after
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
    from cnnshape.analysis import input_field

    layers = [row for row in report.rows if not row.is_block]
    by_name = {row.name: row for row in layers}
    chosen = _select(report, layers, names) if names else layers
    start = input_field(report.input_shape)
    steps = []
    for row in chosen:
        producers = [_producer(by_name, ref) for ref in row.inputs]
        shapes = [_tensor_shape(report, by_name, ref) for ref in row.inputs]
        fields = [start if producer is None else producer.receptive_field for producer in producers]
        steps.append(
            Step(
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
            )
        )
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
                raise UnknownLayer(
                    f"layer name {name!r} is ambiguous: {', '.join(matches[:5])}{' ...' if len(matches) > 5 else ''}"
                )
        if not matches:
            hint = did_you_mean(name, known, n=3)
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


# --- receptive-field working -------------------------------------------------------------


def receptive_field_working(inputs: list[Optional[ReceptiveField]], out: Optional[ReceptiveField]) -> list[str]:
    """How a layer's receptive field follows from its inputs', as text: per spatial axis
    the google-research/receptive_field recurrence with the numbers put in,
    `r = r_prev + (k_eff-1)*S_prev`, `S = S_prev*s`, `P = P_prev + p*S_prev`.

    The layer's step (k_eff, s, p) is read back from the fields before and after it. Every
    axis gets its line once the field changes, a kernel-1 axis too (its S and P still follow
    the recurrence). After a fractional stride the size was rounded up, so k_eff is shown
    only where one kernel size fits the rounded sizes.
    """
    known = [field for field in inputs if field is not None]
    if out is None or not known:
        return []
    if len(known) > 1:
        return _merge_working(known, out)
    before = known[0]
    if out == before:
        return ["RF: unchanged"]
    if out.kind == "global" and before.kind != "global":
        return ["RF: global (every output depends on the whole input)"]
    if out.kind == "flat" and before.kind == "spatial":
        return ["RF: flattened (spatial positions become features; the field so far is kept)"]
    if out.kind != "spatial" or before.kind != "spatial" or len(out.axes) != len(before.axes):
        return [f"RF: {_field_text(out)}"]
    texts = [
        (name, _axis_step(a, b)) for name, a, b in zip(axis_names(len(out.axes)), before.axes, out.axes, strict=True)
    ]
    return _grouped(texts) or ["RF: unchanged"]


def _axis_step(a: AxisField, b: AxisField) -> str:
    stride_prev = Fraction(a.stride)
    s = Fraction(b.stride) / stride_prev
    p = (Fraction(b.padding) - Fraction(a.padding)) / stride_prev
    mark = "" if b.exact else " (approximate)"
    kernel = _kernel_read_back(a, b)
    k_text = "k_eff" if kernel is None else str(kernel)
    sum_text = f"{a.size} + ({k_text}-1)*{_num(a.stride)}"
    if stride_prev.denominator == 1:
        r_text = f"r = r_prev + (k_eff-1)*S_prev = {sum_text} = {b.size}"
    else:
        # A fractional S_prev: the sum was rounded up to whole input pixels.
        r_text = f"r = ceil(r_prev + (k_eff-1)*S_prev) = ceil({sum_text}) = {b.size}"
    return (
        f"{r_text}; "
        f"S = S_prev*s = {_num(a.stride)}*{_num(s)} = {_num(b.stride)}; "
        f"P = P_prev + p*S_prev = {_num(a.padding)} + {_num(p)}*{_num(a.stride)} = {_num(b.padding)}{mark}"
    )


def _kernel_read_back(a: AxisField, b: AxisField) -> Optional[int]:
    """The one k_eff >= 1 with ceil(r_prev + (k_eff-1)*S_prev) = r, or None when several fit
    (after a fractional S_prev the rounded sizes cannot tell them apart)."""
    stride_prev = Fraction(a.stride)
    above = (b.size - 1 - a.size) / stride_prev  # k_eff-1 is above this and at most `high`
    high = (b.size - a.size) / stride_prev
    first = max(0, above.numerator // above.denominator + 1)
    last = high.numerator // high.denominator
    return first + 1 if first == last else None


def _merge_working(inputs: list[ReceptiveField], out: ReceptiveField) -> list[str]:
    lines: list[str] = []
    if out.kind == "global":
        lines.append("RF: global (a merged path already depends on the whole input)")
    elif out.kind == "flat":
        lines.append("RF: flattened (a merged path has its spatial positions as features)")
    elif all(
        field.kind == "spatial" and len(field.axes) == len(out.axes) for field in inputs if field.kind != "global"
    ):
        texts = [
            (
                name,
                f"r = max({', '.join(str(field.axes[i].size) for field in inputs if field.kind != 'global')}) = {axis.size} "
                "(the largest of the merged paths)",
            )
            for i, (name, axis) in enumerate(zip(axis_names(len(out.axes)), out.axes, strict=True))
        ]
        lines += _grouped(texts)
    else:
        lines.append(f"RF: {_field_text(out)}")
    if out.global_context and any(field.kind == "global" for field in inputs):
        lines.append(
            "RF: a merged path sees the whole input (an SE gate, a pooled branch): the field shown is the "
            "local one of the other paths, marked +g"
        )
    if out.unaligned and not any(field.unaligned for field in inputs):
        lines.append("RF: the merged paths are not aligned (different stride or centre)")
    return lines


def _grouped(texts: list[tuple[str, str]]) -> list[str]:
    """One line per distinct step: 'RF H, W: ...' when the axes agree."""
    return [f"RF {axes}: {text}" for axes, text in group_axes(texts)]


def _field_text(field: ReceptiveField) -> str:
    if field.kind == "global":
        return "global"
    axes = " by ".join(f"(r {a.size}, S {_num(a.stride)}, P {_num(a.padding)})" for a in field.axes) or "none"
    return f"{field.kind} {axes}"


def _num(value: object) -> str:
    if isinstance(value, Fraction) and value.denominator == 1:
        return str(value.numerator)
    return str(value)
