"""`cnnshape graph`: Mermaid and Graphviz DOT with shapes on the edges and block uses as
subgraphs.

The Mermaid output is checked line by line against the flowchart grammar it uses (every
line one of: a node, `subgraph id ["title"]`, `direction TB`, `end`, an edge with a quoted
label). Two stronger checks run where their tools are: Graphviz's `dot` parses the DOT
output, and Mermaid's own parser reads the Mermaid output when CNNSHAPE_MERMAID_DIR
names a folder with `npm install mermaid jsdom` done in it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import cli

from cnnshape.diagram import build
from cnnshape.pipeline import analyze_text
from cnnshape.render.graph import dot, mermaid, mermaid_text

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.yaml"))
LENET = "specs/seed-lenet.yaml"
RESNET18 = "specs/resnet18.yaml"
pytestmark = pytest.mark.usefixtures("repo_root")

# seed-lenet's tensors by hand (conv 5x5: I - 4; pool 2x2: I / 2), input first.
LENET_EDGES = [
    "[1, 1, 32, 32]",
    "[1, 5, 28, 28]",
    "[1, 5, 28, 28]",
    "[1, 5, 14, 14]",
    "[1, 16, 10, 10]",
    "[1, 16, 10, 10]",
    "[1, 16, 5, 5]",
    "[1, 400]",
    "[1, 120]",
    "[1, 120]",
    "[1, 84]",
    "[1, 84]",
    "[1, 10]",
]

LABEL = r'"(?:[^"#<>&]|#\w+;|<br/>)*"'  # a quoted label: no raw quote, #, <, > or & except entity codes and <br/>
NODE = re.compile(rf"^\s*(n\d+)(?:\[{LABEL}\]|\(\[{LABEL}\]\)|\[\[{LABEL}\]\])$")
SUBGRAPH = re.compile(rf"^\s*subgraph (c\d+) \[{LABEL}\]$")
EDGE = re.compile(rf"^\s*(n\d+) -->\|{LABEL}\| (n\d+)$")


run = cli


def graph(*args: str) -> str:
    result = run("graph", *args)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def check_mermaid(text: str) -> tuple[set[str], list[tuple[str, str, str]], int]:
    """Every line fits the grammar; returns (node ids, edges (source, label, target), subgraphs)."""
    lines = text.splitlines()
    assert lines[0].startswith("%% ") and lines[1] == "flowchart TD"
    nodes: set[str] = set()
    edges = []
    open_subgraphs = subgraphs = 0
    for line in lines[2:]:
        if match := NODE.match(line):
            assert match.group(1) not in nodes, f"node defined twice: {line!r}"
            nodes.add(match.group(1))
        elif SUBGRAPH.match(line):
            open_subgraphs += 1
            subgraphs += 1
        elif line.strip() == "direction TB":
            assert open_subgraphs
        elif line.strip() == "end":
            open_subgraphs -= 1
            assert open_subgraphs >= 0
        elif match := EDGE.match(line):
            edges.append((match.group(1), line.split('"')[1], match.group(2)))
        else:
            pytest.fail(f"not a Mermaid flowchart line: {line!r}")
    assert open_subgraphs == 0
    for source, _, target in edges:
        assert source in nodes and target in nodes
    return nodes, edges, subgraphs


def test_lenet_edges_carry_the_shapes() -> None:
    nodes, edges, subgraphs = check_mermaid(graph(LENET))
    assert len(nodes) == 12 + 2  # 12 layers, input, output
    assert [label for _, label, _ in edges] == LENET_EDGES
    assert subgraphs == 0


def test_blocks_are_subgraphs_and_fold_with_depth() -> None:
    _, edges, subgraphs = check_mermaid(graph(RESNET18))
    assert subgraphs == 4 + 8  # torchvision's resnet18: 4 stages (layer1..4) of 2 BasicBlocks
    # Edges: one per layer input. 69 layers; each Add reads 2; the output edge: 69 + 8 + 1.
    assert len(edges) == 69 + 8 + 1
    nodes, edges, subgraphs = check_mermaid(graph(RESNET18, "--depth", "1"))
    assert subgraphs == 0
    assert len(nodes) == 4 + 4 + 3 + 2  # stem, stages, head, input, output
    # Stem conv 7/2 p3 on 224: floor((224 + 6 - 7) / 2) + 1 = 112; maxpool 3/2 p1: 56.
    assert [label for _, label, _ in edges[:5]] == [
        "[1, 3, 224, 224]",
        "[1, 64, 112, 112]",
        "[1, 64, 112, 112]",
        "[1, 64, 112, 112]",
        "[1, 64, 56, 56]",
    ]


def test_labels_are_escaped() -> None:
    assert mermaid_text('a "b" <c> #1 & d') == "a #quot;b#quot; #lt;c#gt; #35;1 #amp; d"
    spec = "name: 'odd \"name\" <x> #1'\ninput: [1, 4]\nlayers:\n  - Linear: {out_features: 2}\n"
    diagram = build(analyze_text(spec, "odd.yaml"))
    text = mermaid(diagram)
    check_mermaid(text)
    assert '"' not in text.splitlines()[0]
    assert dot(diagram).startswith('digraph "odd \\"name\\" <x> #1" {')


def test_dot_structure() -> None:
    text = graph(RESNET18, "--format", "dot")
    assert text.startswith("digraph ") and text.rstrip().endswith("}")
    assert text.count("{") == text.count("}")
    assert text.count("subgraph cluster_") == 4 + 8  # stages and the BasicBlocks in them
    assert text.count(" -> ") == 69 + 8 + 1


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
@pytest.mark.parametrize("spec", SPECS, ids=[path.stem for path in SPECS])
def test_graphviz_parses_dot(spec: Path) -> None:
    text = graph(str(spec.relative_to(ROOT)), "--format", "dot")
    done = subprocess.run(["dot", "-Tcanon"], input=text, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("spec", SPECS, ids=[path.stem for path in SPECS])
def test_every_zoo_spec_is_valid_mermaid(spec: Path) -> None:
    for depth in ([], ["--depth", "1"]):
        check_mermaid(graph(str(spec.relative_to(ROOT)), *depth))


MERMAID_DIR = os.environ.get("CNNSHAPE_MERMAID_DIR")
MERMAID_CHECK = """
import { JSDOM } from 'jsdom';
const dom = new JSDOM('<!DOCTYPE html><body></body>');
globalThis.window = dom.window; globalThis.document = dom.window.document;
const { default: mermaid } = await import('mermaid');
mermaid.initialize({ maxEdges: 5000, maxTextSize: 1000000 });
const fs = await import('fs');
for (const file of process.argv.slice(2)) { await mermaid.parse(fs.readFileSync(file, 'utf8')); }
"""


@pytest.mark.skipif(not MERMAID_DIR, reason="CNNSHAPE_MERMAID_DIR is not set")
def test_mermaid_parses(tmp_path: Path) -> None:
    files = []
    for spec in SPECS:
        for depth in ([], ["--depth", "1"]):
            path = tmp_path / f"{spec.stem}{'-d1' if depth else ''}.mmd"
            path.write_text(graph(str(spec.relative_to(ROOT)), *depth))
            files.append(str(path))
    script = Path(MERMAID_DIR) / "cnnshape-check.mjs"
    script.write_text(MERMAID_CHECK)
    done = subprocess.run(["node", str(script), *files], capture_output=True, text=True, cwd=MERMAID_DIR, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def test_large_graph_warns_about_mermaid_limits() -> None:
    result = run("graph", "specs/resnet152.yaml")
    assert result.exit_code == 0
    assert "--depth" in result.stderr


def test_golden_mermaid(golden) -> None:
    golden("graph-resnet18-depth1-mermaid", graph(RESNET18, "--depth", "1"))


def test_golden_dot(golden) -> None:
    golden("graph-lenet-dot", graph(LENET, "--format", "dot"))
