"""A diagram laid out on a grid for drawing: one row per node, top to bottom in execution
order, and a lane (column) per tensor that is still waited for.

Like `git log --graph`: a node's output keeps its lane from the node down to the last
node that reads it, so no other node is ever drawn on a line that passes it, and a node
that is the last reader of an input takes that input's lane (a chain stays straight,
a residual block's sum comes back to the lane of its shortcut). Rows and lanes are grid
units; the HTML renderer turns them into pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cnnshape.diagram import Cluster, Diagram, Node


@dataclass
class PlacedNode:
    node: Node
    row: int
    lane: int


@dataclass
class PlacedEdge:
    """A tensor from `source` to `target`: down the source's lane, then into the target."""

    source: PlacedNode
    target: PlacedNode
    shape: tuple[int, ...]


@dataclass
class Band:
    """An open block use: the rows and lanes its nodes take, and how many open blocks
    nest inside it (its margin grows with that, so nested bands never touch)."""

    cluster: Cluster
    first_row: int
    last_row: int
    first_lane: int
    last_lane: int
    level: int  # 0 for a block use at the top level
    inner: int = 0  # the deepest nesting of open blocks inside it


@dataclass
class Layout:
    name: str
    nodes: list[PlacedNode]
    edges: list[PlacedEdge]
    bands: list[Band] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return len(self.nodes)

    @property
    def lanes(self) -> int:
        return max((placed.lane for placed in self.nodes), default=0) + 1


def lay_out(diagram: Diagram) -> Layout:
    """Rows in the diagram's node order (execution order), lanes as described above."""
    row_of = {node.id: row for row, node in enumerate(diagram.nodes)}
    last_reader: dict[str, int] = {}
    readers: dict[str, list[str]] = {}
    for edge in diagram.edges:
        last_reader[edge.source] = max(last_reader.get(edge.source, 0), row_of[edge.target])
        readers.setdefault(edge.target, []).append(edge.source)
    busy_until: list[int] = []  # per lane: the last row its tensor is read at
    placed: dict[str, PlacedNode] = {}
    for row, node in enumerate(diagram.nodes):
        freed = sorted(placed[source].lane for source in readers.get(node.id, ()) if last_reader[source] == row)
        free = [lane for lane, until in enumerate(busy_until) if until < row]
        lane = freed[0] if freed else (free[0] if free else len(busy_until))
        if lane == len(busy_until):
            busy_until.append(row)
        busy_until[lane] = max(row, last_reader.get(node.id, row))
        placed[node.id] = PlacedNode(node, row, lane)
    edges = [PlacedEdge(placed[edge.source], placed[edge.target], edge.shape) for edge in diagram.edges]
    bands: list[Band] = []
    for item in diagram.items:
        if isinstance(item, Cluster):
            _bands(item, placed, 0, bands)
    return Layout(diagram.name, [placed[node.id] for node in diagram.nodes], edges, bands)


def _bands(cluster: Cluster, placed: dict[str, PlacedNode], level: int, bands: list[Band]) -> Band | None:
    """The band of `cluster` and its nested clusters (appended outermost first)."""
    band = Band(cluster, 0, -1, 0, -1, level)
    index = len(bands)
    bands.append(band)
    members: list[PlacedNode] = []
    for item in cluster.items:
        if isinstance(item, Cluster):
            child = _bands(item, placed, level + 1, bands)
            if child is not None:
                band.inner = max(band.inner, child.inner + 1)
                members += [
                    placed_node
                    for placed_node in placed.values()
                    if child.first_row <= placed_node.row <= child.last_row
                ]
        else:
            members.append(placed[item])
    if not members:
        del bands[index]
        return None
    band.first_row = min(member.row for member in members)
    band.last_row = max(member.row for member in members)
    band.first_lane = min(member.lane for member in members)
    band.last_lane = max(member.lane for member in members)
    return band
