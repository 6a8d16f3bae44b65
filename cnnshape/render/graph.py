"""`graph`: a Diagram as Mermaid (`flowchart TD`, renders in GitHub Markdown) or Graphviz
DOT. Formats only: nodes, clusters and edges come from cnnshape/diagram.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Union

from cnnshape import escape
from cnnshape.diagram import Cluster, Diagram, Node
from cnnshape.render import units


def _label_lines(node: Node) -> list[str]:
    """Name and kind; inside a cluster the name is local (the cluster shows the rest)."""
    if node.role == "input":
        return ["input"]
    if node.role == "output":
        return [f"output {node.name}"]
    lines = [node.name.rsplit(".", 1)[-1], node.kind + (" (block)" if node.role == "block" else "")]
    numbers = node_numbers(node)
    return lines + [numbers] if numbers else lines


def node_numbers(node: Node) -> str:
    """`params 9.41 K, MACs 118 M`; only the figures that are not zero."""
    figures = [
        f"{label} {units.count(value)}" for label, value in (("params", node.params), ("MACs", node.macs)) if value
    ]
    return ", ".join(figures)


# --- Mermaid ------------------------------------------------------------------------------

# Mermaid's defaults (maxEdges, maxTextSize), which GitHub keeps: past them it shows an error.
MERMAID_LIMITS = {"edges": 500, "chars": 50_000}


def mermaid_text(text: str) -> str:
    """Text safe inside a quoted Mermaid label (escape.mermaid)."""
    return escape.mermaid(text)


def _mermaid_node(node: Node) -> str:
    label = "<br/>".join(mermaid_text(line) for line in _label_lines(node))
    if node.role in ("input", "output"):
        return f'{node.id}(["{label}"])'
    if node.role == "block":
        return f'{node.id}[["{label}"]]'
    return f'{node.id}["{label}"]'


def _emit_tree(
    items: list[Union[str, Cluster]],
    nodes: dict,
    indent: str,
    lines: list[str],
    node_line: Callable[[Node], str],
    open_cluster: Callable[[Cluster], list[str]],
    close: str,
) -> None:
    """Nodes and nested block clusters, indented, in either diagram language."""
    for item in items:
        if isinstance(item, str):
            lines.append(indent + node_line(nodes[item]))
            continue
        lines += [indent + text for text in open_cluster(item)]
        _emit_tree(item.items, nodes, indent + "  ", lines, node_line, open_cluster, close)
        lines.append(indent + close)


def mermaid(diagram: Diagram) -> str:
    nodes = {node.id: node for node in diagram.nodes}
    lines = [f"%% {mermaid_text(diagram.name)}", "flowchart TD"]

    _emit_tree(
        diagram.items,
        nodes,
        "  ",
        lines,
        _mermaid_node,
        lambda cluster: [
            f'subgraph {cluster.id} ["{mermaid_text(cluster.name)}: {mermaid_text(cluster.kind)}"]',
            "  direction TB",
        ],
        "end",
    )
    for edge in diagram.edges:
        lines.append(f'  {edge.source} -->|"{mermaid_text(units.shape(edge.shape))}"| {edge.target}')
    return "\n".join(lines) + "\n"


# --- Graphviz DOT -------------------------------------------------------------------------


def dot_string(*lines: str) -> str:
    """A DOT double-quoted string of one or more lines (escape.dot)."""
    return escape.dot(*lines)


def _dot_node(node: Node) -> str:
    shape = {"input": "oval", "output": "oval", "block": "box3d"}.get(node.role, "box")
    return f"{node.id} [label={dot_string(*_label_lines(node))}, shape={shape}];"


def dot(diagram: Diagram) -> str:
    nodes = {node.id: node for node in diagram.nodes}
    lines = [
        f"digraph {dot_string(diagram.name)} {{",
        "  rankdir=TB;",
        '  node [fontname="Helvetica", fontsize=10];',
        '  edge [fontname="Helvetica", fontsize=9];',
    ]

    _emit_tree(
        diagram.items,
        nodes,
        "  ",
        lines,
        _dot_node,
        lambda cluster: [
            f"subgraph cluster_{cluster.id} {{",
            f"  label={dot_string(f'{cluster.name}: {cluster.kind}')};",
        ],
        "}",
    )
    for edge in diagram.edges:
        lines.append(f"  {edge.source} -> {edge.target} [label={dot_string(units.shape(edge.shape))}];")
    lines.append("}")
    return "\n".join(lines) + "\n"
