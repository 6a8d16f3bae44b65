"""Two analyses side by side: totals with their differences, and the layers aligned.

Rows are paired by name with a sequence alignment over (name, kind), so inserted or
removed layers show as added or removed rather than shifting every later pair; within a
stretch the names do not match, rows of the same kind are paired in order (a renamed
layer). Everything here is exact; renderers round.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal, Optional

from cnnshape.report import Output, ReceptiveField, Report, Row, leaf_rows, rows_at_depth

Status = Literal["same", "changed", "added", "removed"]
MetricKind = Literal["count", "bytes", "shape", "field"]

# The cells of a layer row that are compared, in display order.
CELLS = ("kind", "output_shapes", "params", "macs", "receptive_field")


@dataclass
class Side:
    """One of the two analyses, and what was overridden to get it."""

    report: Report
    overrides: dict[str, Any] = field(default_factory=dict)
    input_override: Optional[tuple[int, ...]] = None


@dataclass
class Metric:
    """One total: A's value, B's, and (for numbers) the difference B - A and its ratio to A."""

    key: str
    label: str
    kind: MetricKind
    a: Any
    b: Any
    delta: Optional[int] = None
    ratio: Optional[Fraction] = None  # delta / a; None when a is 0 or the values are not numbers

    @property
    def changed(self) -> bool:
        if self.kind == "field":
            return not same_field(self.a, self.b)
        return self.a != self.b


@dataclass
class RowPair:
    """A layer (or folded block) of A, of B, or of both, and which of its cells differ."""

    status: Status
    a: Optional[Row]
    b: Optional[Row]
    changed: tuple[str, ...] = ()  # names from CELLS; "name" too when a renamed row was paired

    @property
    def row(self) -> Row:
        return self.b if self.b is not None else self.a  # type: ignore[return-value]


@dataclass
class Comparison:
    a: Side
    b: Side
    depth: Optional[int]
    metrics: list[Metric]
    rows: list[RowPair]

    @property
    def counts(self) -> dict[str, int]:
        """How many row pairs have each status."""
        found = {status: 0 for status in ("same", "changed", "added", "removed")}
        for pair in self.rows:
            found[pair.status] += 1
        return found


def _count(key: str, label: str, a: int, b: int, kind: MetricKind = "count") -> Metric:
    delta = b - a
    return Metric(key, label, kind, a, b, delta, Fraction(delta, a) if a else None)


def _field_size(rf: Optional[ReceptiveField]) -> Optional[int]:
    """The largest axis of a spatial field: what a size difference is taken on."""
    if rf is None or rf.kind != "spatial" or not rf.axes:
        return None
    return max(axis.size for axis in rf.axes)


def metrics(a: Report, b: Report) -> list[Metric]:
    ta, tb = a.totals, b.totals
    found = [
        _count("params", "Parameters", ta.params, tb.params),
        _count("buffers", "Buffers", ta.buffers, tb.buffers),
        _count("macs", "MACs", ta.macs, tb.macs),
        _count("flops", "FLOPs", ta.flops, tb.flops),
        _count("param_bytes", "Param memory", ta.param_bytes, tb.param_bytes, "bytes"),
        _count("activation_bytes", "Activations", ta.activation_bytes, tb.activation_bytes, "bytes"),
        Metric("input", "Input", "shape", a.input_shape, b.input_shape),
    ]
    pairs = output_pairs(a, b)
    for index, (name, out_a, out_b) in enumerate(pairs):
        key = "" if index == 0 else f".{name}"  # the first keeps the keys it always had
        label = "" if len(pairs) == 1 else f" {name}"
        found.append(
            Metric(
                "output" + key,
                "Output" + label,
                "shape",
                out_a.shape if out_a else None,
                out_b.shape if out_b else None,
            )
        )
        field_a = out_a.receptive_field if out_a else None
        field_b = out_b.receptive_field if out_b else None
        rf = Metric(
            "receptive_field" + key, ("Receptive field" if len(pairs) == 1 else "RF") + label, "field", field_a, field_b
        )
        size_a, size_b = _field_size(field_a), _field_size(field_b)
        if size_a is not None and size_b is not None:
            rf.delta = size_b - size_a
            rf.ratio = Fraction(rf.delta, size_a)
        found.append(rf)
    found.append(_count("layers", "Layers", ta.layers, tb.layers))
    return found


def output_pairs(a: Report, b: Report) -> list[tuple[str, Optional[Output], Optional[Output]]]:
    """The outputs of A and B paired by name (then by position, for outputs renamed), in
    A's order with B's unpaired ones after: (name, A's or None, B's or None)."""
    by_name = {output.name: output for output in b.outputs}
    paired = [(out.name, out, by_name.pop(out.name, None)) for out in a.outputs]
    rest = [output for output in b.outputs if output.name in by_name]
    found: list[tuple[str, Optional[Output], Optional[Output]]] = []
    for name, out_a, out_b in paired:
        if out_b is None and rest:
            out_b = rest.pop(0)
            name = name if name == out_b.name else f"{name}/{out_b.name}"
        found.append((name, out_a, out_b))
    return found + [(out.name, None, out) for out in rest]


def same_field(a: Optional[ReceptiveField], b: Optional[ReceptiveField]) -> bool:
    """Equal receptive fields; two global ones are equal whatever field came before."""
    if a is not None and b is not None and a.kind == b.kind == "global":
        return a.unaligned == b.unaligned
    return a == b


def _cells(a: Row, b: Row) -> tuple[str, ...]:
    return tuple(
        cell
        for cell in CELLS
        if not (
            same_field(a.receptive_field, b.receptive_field)
            if cell == "receptive_field"
            else getattr(a, cell) == getattr(b, cell)
        )
    )


def _pair(a: Row, b: Row) -> RowPair:
    changed = _cells(a, b)
    if a.name != b.name:
        changed = ("name",) + changed
    return RowPair("changed" if changed else "same", a, b, changed)


def align(rows_a: list[Row], rows_b: list[Row]) -> list[RowPair]:
    """Pair the rows of A and B in order; unpaired rows are removed (A) or added (B)."""
    keys_a = [(row.name, row.kind) for row in rows_a]
    keys_b = [(row.name, row.kind) for row in rows_b]
    pairs: list[RowPair] = []
    matcher = difflib.SequenceMatcher(None, keys_a, keys_b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            pairs += [_pair(a, b) for a, b in zip(rows_a[i1:i2], rows_b[j1:j2], strict=True)]
        else:
            pairs += _align_by_kind(rows_a[i1:i2], rows_b[j1:j2])
    return pairs


def _align_by_kind(rows_a: list[Row], rows_b: list[Row]) -> list[RowPair]:
    """A stretch whose names differ: pair rows of the same kind in order (renamed layers)."""
    pairs: list[RowPair] = []
    matcher = difflib.SequenceMatcher(None, [row.kind for row in rows_a], [row.kind for row in rows_b], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            pairs += [_pair(a, b) for a, b in zip(rows_a[i1:i2], rows_b[j1:j2], strict=True)]
        else:
            pairs += [RowPair("removed", a, None) for a in rows_a[i1:i2]]
            pairs += [RowPair("added", None, b) for b in rows_b[j1:j2]]
    return pairs


def compare(a: Side, b: Side, depth: Optional[int] = None) -> Comparison:
    """Totals and aligned layer rows of two analyses, with `depth` as in summary."""
    rows_a = leaf_rows(rows_at_depth(a.report, depth), depth)
    rows_b = leaf_rows(rows_at_depth(b.report, depth), depth)
    return Comparison(a, b, depth, metrics(a.report, b.report), align(rows_a, rows_b))
