"""A report as a diagram: one node per layer (or folded block), edges carrying the
shape of the tensor they pass, and block uses as nested clusters. Renderers in
render/graph.py write it as Mermaid or Graphviz DOT.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Union

from cnnshape.report import Report, Row, is_folded, rows_at_depth


@dataclass
class Node:
    id: str  # n0, n1, ...: safe in every diagram language
    name: str  # qualified layer name, "input", or an output's name
    kind: str  # layer kind, block kind, "Input" or "Output"
    role: str = "layer"  # layer | block (folded) | input | output
    params: int = 0
    macs: int = 0


@dataclass
class Edge:
    source: str
    target: str
    shape: tuple[int, ...]


@dataclass
class Cluster:
    """A block use that is open at this depth: its nodes and nested block uses, in order."""

    id: str
    name: str
    kind: str
    items: list[Union[str, Cluster]] = field(default_factory=list)  # node ids and clusters


@dataclass
class Diagram:
    name: str
    nodes: list[Node]
    edges: list[Edge]
    items: list[Union[str, Cluster]]  # the top level, in execution order: node ids and clusters


def build(report: Report, depth: Optional[int] = None) -> Diagram:
    """Nodes, edges and clusters for `report`, blocks deeper than `depth` folded into one node."""
    shown = rows_at_depth(report, depth)
    nodes = [Node("n0", "input", "Input", "input")]
    node_of: dict[str, str] = {"input": "n0"}  # row name -> node id
    clusters: dict[str, Cluster] = {}
    items: list[Union[str, Cluster]] = ["n0"]
    rows = {row.name: row for row in report.rows}

    def place(row: Row, item: Union[str, Cluster]) -> None:
        parent = clusters.get(row.parent) if row.parent else None
        (parent.items if parent is not None else items).append(item)

    for row in shown:
        if row.is_block and not is_folded(row, depth):
            cluster = Cluster(f"c{len(clusters) + 1}", row.name, row.kind)
            clusters[row.name] = cluster
            place(row, cluster)
            continue
        node = Node(f"n{len(nodes)}", row.name, row.kind, "block" if row.is_block else "layer", row.params, row.macs)
        nodes.append(node)
        node_of[row.name] = node.id
        place(row, node.id)

    def shown_as(name: str) -> Optional[str]:
        """The node standing for layer `name`: its own, or its nearest folded block's."""
        while name not in node_of:
            row = rows.get(name)
            if row is None or row.parent is None:
                return None
            name = row.parent
        return node_of[name]

    edges: list[Edge] = []
    seen: set[tuple[str, str, tuple[int, ...]]] = set()
    layers = {row.name: row for row in report.rows if not row.is_block}
    for row in report.rows:
        if row.is_block:
            continue
        target = shown_as(row.name)
        for ref in row.inputs:
            producer, shape = _tensor(report, layers, ref)
            source = "n0" if producer is None else shown_as(producer)
            if target is None or source is None or source == target:
                continue  # inside one folded block
            key = (source, target, shape)
            if key not in seen:
                seen.add(key)
                edges.append(Edge(source, target, shape))
    for output in report.outputs:
        node = Node(f"n{len(nodes)}", output.name, "Output", "output")
        producer, _ = _tensor(report, layers, output.tensor or output.name)
        source = "n0" if producer is None else shown_as(producer)
        nodes.append(node)
        items.append(node.id)
        if source is not None:
            edges.append(Edge(source, node.id, output.shape))
    return Diagram(report.name, nodes, edges, items)


def _tensor(report: Report, layers: dict[str, Row], ref: str) -> tuple[Optional[str], tuple[int, ...]]:
    """(producing layer or None for the network input, shape) of a reference."""
    if ref in layers:
        return ref, layers[ref].output_shape
    head, _, index = ref.rpartition(".")
    if index.isdigit() and head in layers:
        return head, layers[head].output_shapes[int(index)]
    return None, report.input_shape
