"""Spec text reaches people and CI through every output format; none of it may act there.

Hypothesis writes a network name, its description and a `--set` value from the whole of
Unicode (mixed with fragments known to act: rich markup, ANSI/OSC sequences, Markdown
links, images, headings, mentions, HTML, table pipes, spreadsheet formulas), runs every
command and format on it (the HTML report included; an example's commands in one child
under the hostile corpus's caps, tests/test_hostile.capped), and checks what each format must
never let through; export's docstrings get theirs in tests/test_bridge_hostile.py. The expected forms are the formats'
own rules (CommonMark parsed by markdown-it, the CSV module, JSON), not cnnshape's output.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from pathlib import Path

import pytest
import yaml
from conftest import cli
from gfm import check_gfm_tables
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from test_hostile import capped
from test_report_html import _tags

from cnnshape import escape

ACTIVE = [
    "[link=https://evil.example]x[/link]",
    "[bold red]",
    "\x1b]0;title\x07",
    "\x1b[31m",
    "\x1b]8;;http://e\x1b\\",
    "\x9b2J",
    "\u202e",
    "\u2066",
    "\r",
    "\n",
    "\t",
    "\x00",
    "![img](http://e/x.png)",
    "[link](http://e)",
    "@octocat",
    "# heading",
    "|",
    "`",
    "``",
    "<b>",
    "<img src=x>",
    "&amp;",
    "=cmd|' /C calc'!A0",
    "+1",
    "-2+3",
    "@SUM(1)",
    "www.example.com",
    "https://example.com",
    "$x$",
    "~~gone~~",
    "**bold**",
]
TEXT = st.lists(
    st.one_of(st.sampled_from(ACTIVE), st.text(st.characters(exclude_categories=("Cs",)), max_size=6)),
    min_size=1,
    max_size=5,
).map("".join)

SPEC = """{name}input: [1, 3, 8, 8]
args: {{note: text, width: 4}}
layers:
  - Conv2d: {{out_channels: $width, kernel_size: 3}}
  - ReLU
"""

ANSI = re.compile(r"\x1b|\x9b|\x07")


def _run(*args: str) -> str:
    result = cli(*args, width=2000, env={"NO_COLOR": "1"})
    assert result.exit_code == 0, (args, result.output)
    return result.stdout


def _run_capped(tmp_path: Path, commands: dict[str, list[str]]) -> dict[str, str]:
    """Each command's standard output, all run in one child under the caps of the hostile
    corpus (tests/test_hostile.capped: 1 GiB, 60 s of CPU); each must exit 0."""
    listed = tmp_path / "commands.json"
    listed.write_text(json.dumps(list(commands.values())), encoding="utf-8")
    child = capped([sys.executable, str(Path(__file__).with_name("cli_batch.py")), str(listed)])
    assert child.returncode == 0, child.stderr[-3000:]
    results = json.loads(child.stdout)
    for result in results:
        assert result["exit_code"] == 0, (result["args"], result["output"])
    return {key: result["stdout"] for key, result in zip(commands, results, strict=True)}


def _no_controls(output: str) -> None:
    """Only the output's own line breaks; no escape sequence, bidi control or lone CR."""
    assert not escape.has_control(output.replace("\n", "")), repr(output[:400])


def _markdown_is_inert(output: str, tables: int) -> None:
    _no_controls(output)
    check_gfm_tables(output, tables)
    md = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    for token in md.parse(output):
        for item in [token, *(token.children or [])]:
            assert item.type not in (
                "link_open",
                "image",
                "html_inline",
                "html_block",
                "heading_open",
                "s_open",
                "hr",
            ), (item.type, output[:400])
    assert not re.search(r"@[A-Za-z0-9]", output), "a live @mention"
    assert not re.search(r"(?<!\\)www\.|(?<!\\)://", output), "a GFM autolink"


def _csv_is_inert(output: str) -> list[list[str]]:
    _no_controls(output)
    rows = list(csv.reader(io.StringIO(output)))
    for row in rows:
        for cell in row:
            if cell.startswith(("=", "+", "-", "@", "\t", "\r")):
                float(cell)  # only a number may start so (OWASP: anything else is a formula)
    return rows


@pytest.fixture()
def spec_for(tmp_path):
    def write(name: str, description: str = ""):
        path = tmp_path / "net.yaml"
        # PyYAML writes the name as YAML (escapes for what a YAML file may not hold raw).
        line = yaml.safe_dump({"name": name, "description": description}, allow_unicode=False, width=10**9)
        path.write_text(SPEC.format(name=line), encoding="utf-8")
        return str(path)

    return write


@settings(
    max_examples=25,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(name=TEXT, value=TEXT, description=TEXT)
def test_spec_text_is_inert_in_every_output(spec_for, tmp_path, name: str, value: str, description: str) -> None:
    path = spec_for(name, description)
    setting = f"note={json.dumps(value)}"
    page_path = tmp_path / "report.html"
    terminal = [
        ["summary", path],
        ["explain", path],
        ["compare", path, path, "--set-b", setting],
        ["sweep", path, "--set", "width={4,8}"],
    ]
    # Every command of one example in one child under the hostile corpus's caps.
    out = _run_capped(
        tmp_path,
        {
            **{f"terminal {i}": args for i, args in enumerate(terminal)},
            "summary json": ["summary", path, "-f", "json"],
            "explain json": ["explain", path, "-f", "json"],
            "compare json": ["compare", path, path, "--set-b", setting, "-f", "json"],
            "summary md": ["summary", path, "-f", "markdown"],
            "compare md": ["compare", path, path, "--set-b", setting, "-f", "markdown"],
            "sweep md": ["sweep", path, "--set", "width={4,8}", "-f", "markdown"],
            "explain md": ["explain", path, "-f", "markdown"],
            "summary csv": ["summary", path, "-f", "csv"],
            "sweep csv": ["sweep", path, "--set", "width={4,8}", "-f", "csv"],
            "report": ["report", path, "-o", str(page_path)],
            "mermaid": ["graph", path],
            "dot": ["graph", path, "-f", "dot"],
        },
    )

    # Terminal: no control character; markup written in the name is shown, not applied.
    for i, args in enumerate(terminal):
        output = out[f"terminal {i}"]
        _no_controls(output)
        for fragment in ("[link=https://evil.example]", "[bold red]"):
            if fragment in name:
                assert fragment in output, (args, output[:400])

    # JSON is data: the exact text comes back.
    assert json.loads(out["summary json"])["name"] == name
    assert json.loads(out["explain json"])["name"] == name
    assert json.loads(out["compare json"])["a"]["name"] == name

    # Markdown: literal under CommonMark/GFM.
    _markdown_is_inert(out["summary md"], 2)
    _markdown_is_inert(out["compare md"], 2)
    _markdown_is_inert(out["sweep md"], 1)
    explained = out["explain md"]
    _no_controls(explained)
    assert not any(
        t.type in ("link_open", "image", "html_inline", "html_block", "heading_open")
        for token in MarkdownIt("commonmark").parse(explained)
        for t in [token, *(token.children or [])]
    )

    # CSV: no formula, no control character.
    _csv_is_inert(out["summary csv"])
    _csv_is_inert(out["sweep csv"])

    # HTML: only the page's own tags, and no control character.
    page = page_path.read_text(encoding="utf-8")
    _no_controls(page)
    tags = _tags(page)
    assert [tag for tag, _ in tags].count("script") == 1  # the page's own, at the end
    for tag, attrs in tags:  # the rules of tests/test_report_html.py: nothing fetched, nothing run
        assert tag not in ("img", "link", "iframe", "object", "embed", "textarea"), (tag, attrs)
        assert "src" not in attrs and not any(key.startswith("on") for key in attrs), (tag, attrs)
        assert attrs.get("href") is None or str(attrs["href"]).startswith("#"), (tag, attrs)

    # Diagrams: the name stays inside its one comment line or quoted string.
    mermaid = out["mermaid"]
    _no_controls(mermaid)
    assert mermaid.splitlines()[1] == "flowchart TD"
    assert '"' not in mermaid.splitlines()[0] and "`" not in mermaid.splitlines()[0]
    dot = out["dot"]
    _no_controls(dot)
    assert re.fullmatch(r'digraph "(?:[^"\\\n]|\\.)*" \{', dot.splitlines()[0]), dot.splitlines()[0]


def test_sweep_values_from_the_command_line_are_inert_in_csv(spec_for) -> None:
    # A --set value the spreadsheet would run is text (OWASP: a leading apostrophe).
    path = spec_for("net")
    rows = _csv_is_inert(_run("sweep", path, "--set", "note={=1+2,@x,-x}", "-f", "csv"))
    assert [row[0] for row in rows[1:]] == ["'=1+2", "'@x", "'-x"]


@pytest.mark.parametrize(
    ("cell", "written"), [(-3, -3), ("-3", "-3"), ("-1.5e-3", "-1.5e-3"), ("-3x", "'-3x"), ("\t=1", "'\\t=1")]
)
def test_a_negative_number_is_a_number_not_a_formula(cell: object, written: object) -> None:
    assert escape.csv_cell(cell) == written


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b]0;t\x07", "\\x1b]0;t\\x07"),
        ("a\u202eb", "a\\u202eb"),
        ("x\ny\rz", "x\\ny\\rz"),
        ("\x85", "\\x85"),
    ],
)
def test_controls_are_shown_as_escapes(raw: str, shown: str) -> None:
    assert escape.visible(raw) == shown


def test_markdown_code_span_survives_backticks() -> None:
    # CommonMark: a code span's fence is longer than any backtick run inside, and one
    # space pads a body that starts or ends with a backtick.
    html = MarkdownIt("commonmark").render(escape.markdown_code("a``b`", in_table=False))
    assert html == "<p><code>a``b`</code></p>\n"


def test_no_core_module_imports_a_renderer() -> None:
    """Data flows one way: the core (errors, source, graph, analysis, lint, ...) escapes
    through `cnnshape.escape` and never imports `cnnshape.render`; only the library face
    (api*.py), the command line and the renderers themselves do."""
    import ast
    from pathlib import Path

    package = Path(escape.__file__).parent
    upper = {"render", "cli", "api.py", "api_results.py", "__main__.py"}
    offenders = []
    for path in sorted(package.rglob("*.py")):
        if path.relative_to(package).parts[0] in upper:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            if any(name == "cnnshape.render" or name.startswith("cnnshape.render.") for name in names):
                offenders.append(f"{path.relative_to(package)}:{node.lineno}")
    assert offenders == [], offenders
