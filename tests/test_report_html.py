"""`cnnshape report`: one self-contained HTML page, its numbers, its escaping, its diagram
layout, and the page loaded in a real browser (headless Chromium) without errors."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import cli

from cnnshape.diagram import build as build_diagram
from cnnshape.layout import lay_out
from tests.zoo import SPECS
from tests.zoo import report as report_of

ROOT = Path(__file__).resolve().parent.parent
ZOO = sorted(path.stem for path in SPECS.glob("*.yaml"))


class _Tags(HTMLParser):
    """Every start tag with its attributes, and the text of each <script>."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _tags(page: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(page)
    return parser.tags


def _write(tmp_path: Path, *specs: str) -> str:
    out = tmp_path / "report.html"
    result = cli("report", *specs, "-o", str(out))
    assert result.exit_code == 0, result.output
    return out.read_text(encoding="utf-8")


def test_report_numbers_are_the_hand_calculated_ones(tmp_path, repo_root):
    page = _write(tmp_path, "specs/seed-lenet.yaml")
    # LeNet by hand: conv 5x(1x5x5)+5 = 130; conv 16x(5x5x5)+16 = 2,016; linear 400x120+120
    # = 48,120; 120x84+84 = 10,164; 84x10+10 = 850; total 61,280.
    assert "61,280" in page
    # conv2d_1: 5 output channels x 28x28 positions x 1x5x5 weights = 98,000 MACs.
    row = re.search(r'<tr class="layer" data-name="conv2d_1".*?</tr>', page)
    assert row is not None
    assert 'data-v="130"' in row.group(0) and 'data-v="98000"' in row.group(0)
    # Its activations: 1x5x28x28 float32 elements x 4 bytes = 15,680 bytes.
    assert 'data-v="15680"' in row.group(0)
    # Every layer is in the table, and a sortable header per column.
    assert page.count('<tr class="layer"') == 12
    assert page.count("<th class=") == 8


def test_report_is_one_file_that_fetches_nothing(tmp_path, repo_root):
    page = _write(tmp_path, "specs/resnet18.yaml")
    for tag, attrs in _tags(page):
        assert tag not in ("link", "img", "iframe", "object", "embed"), tag
        assert "src" not in attrs, (tag, attrs)
        href = attrs.get("href")
        assert href is None or href.startswith("#"), (tag, href)
    assert "@import" not in page and "url(http" not in page
    assert [tag for tag, _ in _tags(page)].count("script") == 1


HOSTILE = """\
name: "evil </textarea><script>alert('n')</script> \\"q\\" <img src=x onerror=alert(1)>"
input: [1, 3, 32, 32]
args: {tag: "</title><svg onload=alert(3)>\\e[31m", act: ReLU}
blocks:
  Evil:
    description: "<script>alert('d')</script>"
    layers:
      - Conv2d: {out_channels: 4, kernel_size: 3, name: c1}
layers:
  - Evil: {name: b1}
  - ReLU
"""


def test_spec_text_never_becomes_markup(tmp_path):
    folder = tmp_path / "x<script>alert(0)<"
    folder.mkdir()
    spec = folder / 'h&"q.yaml'
    spec.write_text(HOSTILE, encoding="utf-8")
    # Under the hostile corpus's caps (tests/test_hostile.capped: 1 GiB, 60 s of CPU).
    from test_hostile import capped

    out = tmp_path / "report.html"
    child = capped([sys.executable, "-m", "cnnshape", "report", str(spec), "-o", str(out)])
    assert child.returncode == 0, child.stderr
    page = out.read_text(encoding="utf-8")
    tags = _tags(page)
    assert [tag for tag, _ in tags].count("script") == 1  # ours, at the end
    assert not any(tag in ("img", "textarea") for tag, _ in tags)
    assert not any(key.startswith("on") for _, attrs in tags for key in attrs)
    assert "<svg onload" not in page and "</textarea>" not in page and "<img" not in page
    assert "&lt;script&gt;alert(&#x27;n&#x27;)&lt;/script&gt;" in page
    # Control characters are shown, not passed on (the one escaping module's rule).
    assert "\x1b" not in page and "\\x1b[31m" in page
    # The title holds the escaped name, so it cannot close early either.
    title = re.search(r"<title>(.*?)</title>", page)
    assert title is not None and "evil &lt;/textarea&gt;" in title.group(1)


def test_comparison_page_shows_where_two_networks_differ(tmp_path, repo_root):
    page = _write(tmp_path, "specs/resnet18.yaml", "specs/resnet34.yaml")
    # torchvision's published parameter counts: resnet18 11,689,512; resnet34 21,797,672.
    assert "11,689,512" in page and "21,797,672" in page
    assert f"{21_797_672 - 11_689_512:+,}" in page
    assert "Parameters where they differ" in page
    # resnet34 adds blocks (layer1 has 3 BasicBlocks instead of 2): added rows are marked.
    assert '<tr class="added"' in page


def test_report_takes_one_or_two_specs(tmp_path, repo_root):
    result = cli(
        "report",
        "specs/seed-lenet.yaml",
        "specs/seed-lenet.yaml",
        "specs/seed-lenet.yaml",
        "-o",
        str(tmp_path / "x.html"),
    )
    assert result.exit_code == 2
    # Wide enough that the error panel does not wrap the long temporary path's message.
    result = cli("report", "specs/seed-lenet.yaml", "-o", str(tmp_path / "missing" / "x.html"), width=400)
    assert result.exit_code == 2 and "does not exist" in result.output


@pytest.mark.parametrize("name", ["resnet50", "densenet121", "googlenet", "unet", "inception_v3"])
def test_layout_never_draws_a_node_on_a_line(name):
    """Every edge runs down its source's lane; no other node may sit in that lane between
    the source's row and the target's row, at any depth."""
    report = report_of(name)
    for depth in list(range(1, max(row.depth for row in report.rows) + 1)) + [None]:
        layout = lay_out(build_diagram(report, depth))
        at = {(placed.row, placed.lane): placed for placed in layout.nodes}
        assert len(at) == len(layout.nodes)  # one node per cell
        assert sorted(placed.row for placed in layout.nodes) == list(range(len(layout.nodes)))
        for edge in layout.edges:
            assert edge.target.row > edge.source.row
            for row in range(edge.source.row + 1, edge.target.row):
                blocker = at.get((row, edge.source.lane))
                assert blocker is None, (depth, edge.source.node.name, edge.target.node.name, blocker.node.name)
        # Lanes stay few: the widest block of these networks has four parallel branches.
        assert layout.lanes <= 6, (depth, layout.lanes)


def test_a_chain_is_one_straight_lane(repo_root):
    layout = lay_out(build_diagram(report_of("vgg11")))
    assert {placed.lane for placed in layout.nodes} == {0}


# --- a real browser -------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BROWSER_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--enable-logging=stderr",
    "--v=0",
]


def load_in_browser(page: Path) -> tuple[str, str]:
    """(the DOM after the scripts ran, the browser's log) for a page on disk."""
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (CI installs Debian's package)")
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [CHROMIUM, *BROWSER_FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={**os.environ, "HOME": profile},
        )
    return done.stdout, done.stderr


def _assert_clean(dom: str, log: str) -> None:
    console = [line for line in log.splitlines() if ":CONSOLE" in line]
    assert not console, console
    body = re.search(r"<body[^>]*>", dom)
    assert body is not None and 'data-report="ready"' in body.group(0), body.group(0) if body else dom[:300]


@pytest.mark.parametrize("name", ZOO)
def test_zoo_report_loads_in_a_browser_without_errors(name, tmp_path, repo_root):
    page = tmp_path / f"{name}.html"
    _write(tmp_path, f"specs/{name}.yaml")
    (tmp_path / "report.html").rename(page)
    _assert_clean(*load_in_browser(page))


def test_comparison_report_loads_in_a_browser_without_errors(tmp_path, repo_root):
    _write(tmp_path, "specs/mobilenet_v3_small.yaml", "specs/mobilenet_v3_large.yaml")
    _assert_clean(*load_in_browser(tmp_path / "report.html"))


def test_the_browser_check_sees_a_script_error(tmp_path):
    """The check above can fail: a page whose script throws is caught by both signals."""
    page = tmp_path / "broken.html"
    page.write_text(
        '<!DOCTYPE html><html><body><script>window.addEventListener("error", function (e) '
        '{ document.body.setAttribute("data-report", "error: " + e.message); }); missing();</script></body></html>',
        encoding="utf-8",
    )
    dom, log = load_in_browser(page)
    with pytest.raises(AssertionError):
        _assert_clean(dom, log)
    assert 'data-report="error: Uncaught ReferenceError' in dom


def test_graph_nodes_carry_params_and_macs(repo_root):
    result = cli("graph", "specs/seed-lenet.yaml")
    assert result.exit_code == 0
    # conv2d_1 by hand: 5x1x5x5 + 5 = 130 parameters; 5x28x28 outputs x 25 = 98,000 MACs.
    assert "conv2d_1<br/>Conv2d<br/>params 130, MACs 98.0 K" in result.output
    assert '"relu_1<br/>ReLU"' in result.output  # nothing to count, no third line
    result = cli("graph", "specs/seed-lenet.yaml", "--format", "dot")
    # linear_3 by hand: 84x10 + 10 = 850 parameters, 840 MACs.
    assert 'label="linear_3\\nLinear\\nparams 850, MACs 840"' in result.output
