"""Narrow terminals: a number is never cut. Columns are left out in each table's stated
order (said under the table), names shortened in the middle first; `--columns` chooses.

Golden files at 60, 80, 100, 120 and 200 columns guard the layout; the values checked
here come from the JSON output (exact integers), never from a golden file.
"""

from __future__ import annotations

import io
import json
import re

import pytest
from conftest import cli

WIDTHS = (60, 80, 100, 120, 200)

COMMANDS = {
    "summary-resnet50-d2": ["summary", "specs/resnet50.yaml", "--depth", "2"],
    "compare-resnet18-resnet34-d2": ["compare", "specs/resnet18.yaml", "specs/resnet34.yaml", "--depth", "2"],
    "sweep-resnet18-grid": [
        "sweep",
        "specs/resnet18.yaml",
        "--input",
        "1,3,{224,320}",
        "--set",
        "num_classes={10,1000}",
    ],
    "explain-lenet-conv2d_2": ["explain", "specs/seed-lenet.yaml", "--layer", "conv2d_2"],
    "lint-resnet18-dominant": [
        "lint",
        "specs/resnet18.yaml",
        "tests/lint/dominant-layer-fail.yaml",
        "--format",
        "text",
        "--no-config",
    ],
}


def _run(args: list[str], width: int) -> str:
    result = cli(*args, width=width)
    assert result.exit_code in (0, 1), result.output
    return result.stdout


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", COMMANDS)
def test_golden_at_width(name, width, golden, repo_root):
    golden(f"narrow-{name}-{width}", _run(COMMANDS[name], width))


CUT_NUMBER = re.compile(r"\d…|…\d|\d\.\.\.")


@pytest.mark.parametrize("width", (60, 80))
def test_sweep_keeps_every_number_whole(width, repo_root):
    args = COMMANDS["sweep-resnet18-grid"]
    data = json.loads(_run([*args, "--format", "json"], 200))
    table = _run(args, width)
    assert not CUT_NUMBER.search(table)
    lines = table.splitlines()
    for point in data["points"]:
        setting = point["setting"]
        line = next(line for line in lines if line.split()[:2] == [setting["input"], setting["num_classes"]])
        assert f"{point['params']:,}" in line  # exact, from the JSON
        if width >= 60:
            assert "[" + ", ".join(map(str, point["output_shape"])) + "]" in line
    assert all(len(line) <= width for line in lines)
    assert f"Not shown at {width} columns: FLOPs" in " ".join(lines)


@pytest.mark.parametrize("width", (60, 80))
def test_summary_keeps_shapes_and_numbers_whole(width, repo_root):
    args = ["summary", "specs/resnet50.yaml", "--depth", "3"]
    rows = json.loads(_run([*args, "--format", "json"], 200))["layers"]
    table = _run(args, width)
    assert not CUT_NUMBER.search(table)
    body = table.split("╭")[0]
    assert all(len(line) <= width for line in body.splitlines())
    shapes = ["[" + ", ".join(map(str, row["output_shape"])) + "]" for row in rows]
    lines = [line for line in body.splitlines() if "[" in line]
    for line in lines:  # every shape shown is whole, on one line: never wrapped
        assert re.search(r"\[\d+(, \d+)*\]", line), line
    found = 0  # the layers' shapes (blocks' rows are between them), in order
    for line in lines:
        if found < len(shapes) and shapes[found] in line:
            found += 1
    assert found == len(shapes)
    # Names give way before numbers: the shortened ones keep both ends.
    assert "Not shown at" in table and "Kind" in table.split("Not shown at")[1]


def test_compare_changed_values_stay_whole_at_60(repo_root):
    args = ["compare", "specs/resnet18.yaml", "specs/resnet34.yaml", "--depth", "2", "--columns", "rf"]
    data = json.loads(_run(args[:-2] + ["--format", "json"], 200))
    table = _run(args, 60)
    assert not CUT_NUMBER.search(table)

    for pair in data["layers"]:
        if "receptive_field" in pair["changed"]:
            size_b = pair["b"]["receptive_field"]["axes"][0]["size"]
            assert re.search(rf"→ {size_b} s\d+ p\d+", table), size_b


def test_columns_chooses_and_rejects(repo_root):
    table = _run(["summary", "specs/seed-lenet.yaml", "--columns", "kind,rf"], 60)
    header = next(line for line in table.splitlines() if "Layer" in line)
    assert header.split() == ["Layer", "Kind", "RF"]
    result = cli("sweep", "specs/seed-lenet.yaml", "--input", "1,1,{32,64}", "--columns", "flops,nope")
    assert result.exit_code == 2 and "unknown column 'nope'" in result.output


# --- the drawn table is rich's Table ------------------------------------------------------
# render/fit.py draws fitted tables itself (rich's Table measured every cell again on every
# print: 30 s at 50,000 rows). The expected drawing is rich's own Table, built with the same
# columns: the same characters, and with colour on, the same style on every character.


def _styled(renderable, width: int) -> list[tuple[str, object]]:
    from rich.console import Console
    from rich.style import Style

    console = Console(width=width, force_terminal=True, color_system="truecolor", file=io.StringIO())
    return [(char, segment.style or Style.null()) for segment in console.render(renderable) for char in segment.text]


def _plain(renderable, width: int) -> str:
    from rich.console import Console

    console = Console(width=width, color_system=None, file=io.StringIO())
    console.print(renderable)
    return console.file.getvalue()


def _cases():
    from cnnshape import analyze
    from cnnshape.render import table
    from cnnshape.render.fit import Column

    report = analyze("specs/resnet50.yaml")
    yield "resnet50", table.summary_columns(report), "Layers", "a caption long enough to wrap at sixty columns: " * 3
    # Wide characters (two cells each), a zero-width joiner, cells of two lines (as compare
    # draws changed values), styles per cell and per column, a header rich would read as markup.
    yield (
        "unusual",
        [
            Column(
                "a",
                "[bold]名前",
                [("  ", "层一"), ("", "x\u200dy"), ("▸ ", "long name")],
                name=True,
                style="green",
                styles=["bold", "", "dim"],
            ),
            Column(
                "b", "Value", [("", "1\n→ 22"), ("", "333"), ("", "")], justify="right", styles=["bold yellow", "", ""]
            ),
            Column("c", "Shape", [("", "[1, 2]"), ("", "[3]\n→ [4]\n→ [5]"), ("", "-")], style="cyan"),
        ],
        "",
        "note",
    )


@pytest.mark.parametrize("width", (40, 100, 200))
def test_drawn_table_is_what_rich_draws(repo_root, width):
    from cnnshape.render.fit import Drawn

    for name, columns, title, caption in _cases():
        drawn = Drawn(columns, title, caption)
        assert _plain(drawn, width) == _plain(drawn.rich_table(), width), name
        assert _styled(drawn, width) == _styled(drawn.rich_table(), width), name


def test_column_widths_are_what_rich_measures(repo_root):
    from rich.console import Console
    from rich.measure import Measurement

    from cnnshape.render.fit import Drawn, table_width

    console = Console(width=80, file=io.StringIO())
    for name, columns, _, _ in _cases():
        for count in range(1, len(columns) + 1):
            shown = columns[:count]
            rich_width = Measurement.get(
                console, console.options.update(width=10_000), Drawn(shown).rich_table()
            ).maximum
            assert table_width(shown) == rich_width, (name, count)


@pytest.mark.parametrize("rows", (1, 2, 1000))
def test_drawn_table_printed_in_pieces_is_the_whole(repo_root, rows):
    """A long table is printed a few thousand rows at a time (rich keeps a print's output
    until it ends); the pieces, one after another, are the lines of rich's whole Table."""
    from rich.console import Console

    from cnnshape.render.fit import Drawn

    for name, columns, title, caption in _cases():
        drawn = Drawn(columns, title, caption)
        console = Console(width=120, color_system=None, file=io.StringIO())
        for piece in drawn.pieces(rows):
            console.print(piece)
        assert console.file.getvalue() == _plain(drawn.rich_table(), 120), name
