"""The analysis result as plain data: what every renderer formats and JSON serialises.

Nothing here computes numbers; `rows_at_depth` only selects rows and `per_row` only
carries a leaf figure up to the block rows that stand for its layer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Optional, Union

from cnnshape.errors import Problem

if TYPE_CHECKING:
    from cnnshape.count.base import Counting
    from cnnshape.layers.base import Op
    from cnnshape.memory import MemoryReport
    from cnnshape.roofline import Roofline

DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8, "int8": 1}

MAC_CONVENTION = (
    "torchvision: multiply-accumulates of convolution and linear/matmul weights only "
    "(no bias, normalisation, activation, pooling or elementwise ops)"
)
FLOP_CONVENTION = "2 x MACs"
PARAM_CONVENTION = "PyTorch: parameters() of every layer; batch-norm running stats are buffers"
RF_CONVENTION = (
    "per spatial axis (size, effective stride, effective padding), "
    "google-research/receptive_field recurrences, max over merging paths"
)

Number = Union[int, Fraction]


@dataclass(frozen=True, slots=True)
class AxisField:
    size: int
    stride: Number
    padding: Number
    exact: bool = True


@dataclass(frozen=True, slots=True)
class ReceptiveField:
    """`spatial`: per-axis fields; `flat`: spatial positions flattened into features;
    `global`: every element sees the whole input."""

    kind: str
    axes: tuple[AxisField, ...] = ()
    unaligned: bool = False
    global_context: bool = False  # a global path (an SE gate) joined: `axes` are the local field


@dataclass(slots=True)  # 250,000 of them at the layer limit: no dict per row
class Row:
    """A layer or a block use, with its numbers (a block's are the sums of its layers)."""

    name: str
    kind: str
    depth: int
    is_block: bool
    parent: Optional[str]
    output_shapes: list[tuple[int, ...]]
    params: int
    buffers: int
    macs: int
    activation_elements: int
    receptive_field: Optional[ReceptiveField]
    inputs: list[str] = field(default_factory=list)
    working: list[str] = field(default_factory=list)
    training_macs: int = 0  # MACs of layers that run only in training mode (not in `macs`)
    training_only: bool = False
    findings: list[tuple[str, str]] = field(default_factory=list)  # (lint rule, message) from the layer
    # The operations the layer performs, as the counting conventions read them (cnnshape.count);
    # empty for a block row and for a training-only layer (it does not run in eval mode).
    ops: list[Op] = field(default_factory=list)
    input_shapes: list[tuple[int, ...]] = field(default_factory=list)
    shared_with: Optional[str] = None  # `share:`: the layer whose weights it reuses (its params count there)
    trainable: bool = True  # false: `trainable: false` (its params are non-trainable)

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.output_shapes[0] if self.output_shapes else ()

    @property
    def flops(self) -> int:
        return 2 * self.macs


@dataclass
class Totals:
    params: int
    trainable_params: int
    non_trainable_params: int
    buffers: int
    macs: int
    flops: int
    param_bytes: int
    buffer_bytes: int
    input_bytes: int
    activation_bytes: int
    layers: int
    training_only_macs: int = 0  # auxiliary heads etc.: counted apart from the eval-mode `macs`


@dataclass
class Output:
    name: str
    shape: tuple[int, ...]
    receptive_field: Optional[ReceptiveField]
    tensor: str = ""  # the tensor it is, named like Row.inputs: a layer, `layer.N` or `input`


@dataclass
class SourceView:
    """How a file in another format states its rows (an Ultralytics YAML's index, `from`,
    repeats, module and resolved arguments), shown beside cnnshape's numbers."""

    title: str  # "Ultralytics"
    columns: list[str]
    cells: dict[str, list[str]]  # top-level row name -> one text per column
    # Outputs worth naming (detection levels P3/P4/P5): (label, row name whose shape and
    # receptive field describe it).
    highlights: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    figures: list[tuple[str, int]] = field(default_factory=list)  # (label, FLOPs) in the source's own convention
    # Each row as data (JSON's `source_view.rows`): the source's own values (Ultralytics:
    # index, from, repeats, module, args) and its FLOPs in the source's convention.
    records: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Report:
    name: str
    file: str
    input_shape: tuple[int, ...]
    dtype: str
    args: dict[str, Any]
    rows: list[Row]  # tree order: a block's row comes before its contents
    outputs: list[Output]
    totals: Totals
    warnings: list[Problem] = field(default_factory=list)
    counting: Optional[Counting] = None  # summary --count/--share/--top (cnnshape.count)
    memory: Optional[MemoryReport] = None  # summary --memory/--batch (cnnshape.memory)
    roofline: Optional[Roofline] = None  # summary --device (cnnshape.roofline)
    source_view: Optional[SourceView] = None  # set when the file was in another format
    inputs: dict[str, tuple[int, ...]] = field(default_factory=dict)  # every input by name (input_shape is the first)

    @property
    def receptive_field(self) -> Optional[ReceptiveField]:
        return self.outputs[0].receptive_field if self.outputs else None


def rows_at_depth(report: Report, depth: Optional[int]) -> list[Row]:
    """Rows to show with `depth` levels of the layer tree (torchinfo's meaning of depth).

    depth 1 shows the top-level layers and block uses, each block folded into one row
    that stands for its contents; depth 2 opens those blocks one level; None shows all.
    """
    if depth is None:
        return list(report.rows)
    if depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth}")
    return [row for row in report.rows if row.depth < depth]


def is_folded(row: Row, depth: Optional[int]) -> bool:
    """A block row that stands for its contents at this depth."""
    return row.is_block and depth is not None and row.depth == depth - 1


def leaf_rows(rows: list[Row], depth: Optional[int]) -> list[Row]:
    """The rows whose numbers add up to the totals at this depth (no double counting)."""
    return [row for row in rows if not row.is_block or is_folded(row, depth)]


def leaves_under(report: Report) -> dict[str, list[str]]:
    """For every row, the leaf layers it stands for: a layer itself, a block use every layer
    inside it (at any depth), in execution order."""
    found: dict[str, list[str]] = {}
    parents = {row.name: row.parent for row in report.rows}
    for row in report.rows:
        found.setdefault(row.name, [])
        if row.is_block:
            continue
        found[row.name].append(row.name)
        parent = row.parent
        while parent is not None:
            found.setdefault(parent, []).append(row.name)
            parent = parents.get(parent)
    return found


def per_row(
    report: Report, leaf_values: Mapping[str, int], combine: Callable[[Iterable[int]], int] = sum
) -> dict[str, int]:
    """A per-layer figure for every row: a leaf's own value (0 when it has none), a block
    row's the `combine` (sum, or max for a peak) of the leaves inside it (0 when empty)."""
    return {
        name: combine([leaf_values.get(leaf, 0) for leaf in leaves]) if leaves else 0
        for name, leaves in leaves_under(report).items()
    }
