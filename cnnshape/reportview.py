"""What the HTML report shows, as plain data: the layer table, the network laid out at
each depth, and the series its charts draw. Built from a Report (or a Comparison);
render/html.py only formats it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cnnshape.compare import Comparison, RowPair, Side, compare
from cnnshape.layout import Layout
from cnnshape.report import DTYPE_BYTES, ReceptiveField, Report, Row

# A diagram with more nodes than this opens folded: the first depth that has more is
# offered, not shown first (ResNet-50 in full is 175 layers; folded at its stages, 10).
DIAGRAM_NODES_SHOWN_FIRST = 60


@dataclass
class Point:
    """One layer (at full depth) along the network, with what the charts plot."""

    index: int
    name: str
    kind: str
    params: int
    macs: int
    activation_bytes: int
    rf_size: int | None  # the largest axis of a spatial field; None when not spatial
    rf_global: bool  # the layer sees the whole input


@dataclass
class Section:
    """A top-level layer or block use: where it starts and ends along the points."""

    name: str
    first: int
    last: int


@dataclass
class Diagram:
    depth: int | None  # None: every layer
    layout: Layout


@dataclass
class NetworkView:
    report: Report
    rows: list[Row]  # every row, tree order
    points: list[Point]
    sections: list[Section]
    diagrams: list[Diagram]
    shown_diagram: int  # index into diagrams of the one shown first
    input_field: int | None  # the input's largest spatial size: where `global` sits on the RF chart


@dataclass
class PairPoint:
    """A top-level layer or block use of a comparison where params or MACs differ."""

    name: str
    status: str
    params: tuple[int, int]
    macs: tuple[int, int]


@dataclass
class ComparisonView:
    comparison: Comparison
    a: NetworkView
    b: NetworkView
    pairs: list[RowPair]
    differing: list[PairPoint] = field(default_factory=list)


def field_size(rf: ReceptiveField | None) -> int | None:
    if rf is None or rf.kind == "global" or not rf.axes:
        return None
    return max(axis.size for axis in rf.axes)


def network_view(report: Report) -> NetworkView:
    from cnnshape.diagram import build as build_diagram
    from cnnshape.layout import lay_out

    bytes_each = DTYPE_BYTES[report.dtype]
    points: list[Point] = []
    sections: list[Section] = []
    for row in report.rows:
        if row.depth == 0:
            sections.append(Section(row.name, len(points), len(points) - 1))
        if row.is_block:
            continue
        rf = row.receptive_field
        points.append(
            Point(
                len(points),
                row.name,
                row.kind,
                row.params,
                row.macs,
                row.activation_elements * bytes_each,
                field_size(rf),
                rf is not None and rf.kind == "global",
            )
        )
        sections[-1].last = len(points) - 1
    deepest = max((row.depth for row in report.rows), default=0)
    depths: list[int | None] = list(range(1, deepest + 1)) + [None]
    diagrams = [Diagram(depth, lay_out(build_diagram(report, depth))) for depth in depths]
    shown = 0
    for index, diagram in enumerate(diagrams):
        if len(diagram.layout.nodes) <= DIAGRAM_NODES_SHOWN_FIRST:
            shown = index
    spatial = report.input_shape[2:] if len(report.input_shape) > 2 else ()
    return NetworkView(
        report,
        list(report.rows),
        points,
        sections,
        diagrams,
        shown,
        max(spatial) if spatial else None,
    )


def comparison_view(a: Side, b: Side, depth: int | None = None) -> ComparisonView:
    """The layers aligned at `depth` for the table; the charts compare the top level (the
    stem's layers and each stage or block use as one bar), where a difference reads at a glance."""
    comparison = compare(a, b, depth)
    differing = [
        PairPoint(
            pair.row.name,
            pair.status,
            (pair.a.params if pair.a else 0, pair.b.params if pair.b else 0),
            (pair.a.macs if pair.a else 0, pair.b.macs if pair.b else 0),
        )
        for pair in compare(a, b, 1).rows
        if pair.status != "same"
        and (pair.a is None or pair.b is None or pair.a.params != pair.b.params or pair.a.macs != pair.b.macs)
    ]
    return ComparisonView(
        comparison,
        network_view(comparison.a.report),
        network_view(comparison.b.report),
        comparison.rows,
        differing,
    )
