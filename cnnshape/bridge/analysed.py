"""One analysis of a spec with what export and verify read from it: the graph, the report,
every tensor's shape, and which layer entry made each node and block use (all recorded
by graph.build itself)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple, Optional

from cnnshape.graph import Graph, Ref
from cnnshape.report import Report
from cnnshape.spec import NetworkSpec

# A layer entry: (the block use it runs in, or None at top level; its loc in the file).
EntryKey = tuple[Optional[int], tuple]


class Copy(NamedTuple):
    """One copy made by a layer entry: its local name and its node or block instance."""

    local: str
    node: Optional[int]
    block: Optional[int]


@dataclass
class Analysed:
    """Every stage of one analysis, plus the records export needs."""

    spec: NetworkSpec
    graph: Graph
    report: Report
    shapes: dict[Ref, tuple[int, ...]] = field(default_factory=dict)
    entry_copies: dict[EntryKey, list[Copy]] = field(default_factory=dict)
    node_entry: dict[int, EntryKey] = field(default_factory=dict)
    block_entry: dict[int, EntryKey] = field(default_factory=dict)

    def shape(self, ref: Ref) -> tuple[int, ...]:
        return self.shapes[ref]

    def block_vars(self, index: int) -> dict[str, Any]:
        return self.graph.blocks[index].args

    def block_inputs(self, index: int) -> list[Ref]:
        return self.graph.blocks[index].inputs


def _entries(graph: Graph) -> tuple[dict[EntryKey, list[Copy]], dict[int, EntryKey], dict[int, EntryKey]]:
    """Which entry made each node and block use: a node's loc is its entry's loc plus the
    kind, and it runs in block use `node.block`; a block use's loc likewise, in `parent`."""
    made: list[tuple[int, EntryKey, Copy]] = []
    node_entry: dict[int, EntryKey] = {}
    block_entry: dict[int, EntryKey] = {}
    for node in graph.nodes[graph.first_layer :]:
        if not node.loc:
            continue  # a stand-in for a layer that could not be built
        key = (node.block, tuple(node.loc[:-1]))
        node_entry[node.index] = key
        made.append((node.index * 2, key, Copy(node.name.rsplit(".", 1)[-1], node.index, None)))
    for block in graph.blocks:
        key = (block.parent, tuple(block.loc[:-1]))
        block_entry[block.index] = key
        # A use is made before its first node: sort it just ahead of that node.
        made.append((block.first * 2 - 1, key, Copy(block.name.rsplit(".", 1)[-1], None, block.index)))
    copies: dict[EntryKey, list[Copy]] = {}
    for _, key, copy in sorted(made, key=lambda item: item[0]):
        copies.setdefault(key, []).append(copy)
    return copies, node_entry, block_entry


def analyse_source(
    source: Any, overrides: Optional[dict[str, Any]] = None, input_shape: Optional[tuple[int, ...]] = None
) -> Analysed:
    """Analyse a spec as the pipeline does (raises SpecError with every problem)."""
    from cnnshape.analysis import analyze
    from cnnshape.dialects import settle
    from cnnshape.graph import build
    from cnnshape.spec import parse_network

    source, overrides = settle(source, overrides)
    spec = parse_network(source)
    graph = build(spec, source, overrides or {}, input_shape)
    report = analyze(graph, source)
    rows = {row.name: row for row in report.rows if not row.is_block}
    shapes: dict[Ref, tuple[int, ...]] = {Ref(index): tuple(shape) for index, (_, shape) in enumerate(graph.inputs)}
    shapes.setdefault(Ref(0), graph.input_shape)
    for node in graph.nodes[graph.first_layer :]:
        row = rows.get(node.name)
        if row is not None:
            for i, shape in enumerate(row.output_shapes):
                shapes[Ref(node.index, i)] = tuple(shape)
    copies, node_entry, block_entry = _entries(graph)
    return Analysed(spec, graph, report, shapes, copies, node_entry, block_entry)


def analyse_file(
    path: Any, overrides: Optional[dict[str, Any]] = None, input_shape: Optional[tuple[int, ...]] = None
) -> Analysed:
    from cnnshape.source import load_file

    return analyse_source(load_file(path), overrides, input_shape)


def reads_indices(analysed: Analysed) -> bool:
    """Whether a layer reading the network input takes integer indices (an Embedding), so
    the input is fed as int64 instead of float."""
    graph = analysed.graph
    readers = [
        node.layer
        for node in graph.nodes[graph.first_layer :]
        if node.layer is not None and any(ref.node < graph.first_layer for ref in node.inputs)
    ]
    return any(layer.pytorch is not None and layer.pytorch.input_dtype == "long" for layer in readers)
