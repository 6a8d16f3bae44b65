"""Narrow terminals: a number is never cut. Columns are left out in each table's stated
order (said under the table), names shortened in the middle first; `--columns` chooses.

Golden files at 60, 80, 100, 120 and 200 columns guard the layout; the values checked
here come from the JSON output (exact integers), never from a golden file.
"""

from __future__ import annotations

import json
import re

import pytest
from conftest import cli
from typer.testing import CliRunner

from cnnshape.cli import app

runner = CliRunner()
WIDTHS = (60, 80, 100, 120, 200)

COMMANDS = {
    "summary-resnet50-d2": ["summary", "specs/resnet50.yaml", "--depth", "2"],
    "compare-resnet18-resnet34-d2": ["compare", "specs/resnet18.yaml", "specs/resnet34.yaml", "--depth", "2"],
    "sweep-resnet18-grid": ["sweep", "specs/resnet18.yaml", "--input", "1,3,{224,320}", "--set", "num_classes={10,1000}"],
    "explain-lenet-conv2d_2": ["explain", "specs/seed-lenet.yaml", "--layer", "conv2d_2"],
    "lint-resnet18-dominant": ["lint", "specs/resnet18.yaml", "tests/lint/dominant-layer-fail.yaml", "--format", "text", "--no-config"],
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
    result = runner.invoke(app, ["sweep", "specs/seed-lenet.yaml", "--input", "1,1,{32,64}", "--columns", "flops,nope"])
    assert result.exit_code == 2 and "unknown column 'nope'" in result.output
