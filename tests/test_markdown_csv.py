"""`summary --format markdown` (a GitHub table for PR comments) and `--format csv`.

Markdown must parse as GFM tables (tests/gfm.py); CSV rows must add up to the totals and
carry the seed-lenet numbers worked out by hand in tests/test_cli.py.
"""

from __future__ import annotations

import csv
import io
import json
from functools import partial
from pathlib import Path

import pytest
from conftest import cli
from gfm import check_gfm_tables

from cnnshape.render.markdown import code, text

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.yaml"))
LENET = "specs/seed-lenet.yaml"
pytestmark = pytest.mark.usefixtures("repo_root")

# seed-lenet by hand: (name, params, MACs, output shape).
LENET_ROWS = [
    ("conv2d_1", 5 * 1 * 5 * 5 + 5, 5 * 1 * 25 * 28 * 28, "1x5x28x28"),
    ("relu_1", 0, 0, "1x5x28x28"),
    ("maxpool2d_1", 0, 0, "1x5x14x14"),
    ("conv2d_2", 16 * 5 * 5 * 5 + 16, 16 * 5 * 25 * 10 * 10, "1x16x10x10"),
    ("relu_2", 0, 0, "1x16x10x10"),
    ("maxpool2d_2", 0, 0, "1x16x5x5"),
    ("flatten_1", 0, 0, "1x400"),
    ("linear_1", 400 * 120 + 120, 400 * 120, "1x120"),
    ("relu_3", 0, 0, "1x120"),
    ("linear_2", 120 * 84 + 84, 120 * 84, "1x84"),
    ("relu_4", 0, 0, "1x84"),
    ("linear_3", 84 * 10 + 10, 84 * 10, "1x10"),
]


run = partial(cli, "summary")


def csv_rows(*args: str) -> list[dict]:
    result = run(*args, "--format", "csv")
    assert result.exit_code == 0, result.stderr
    return list(csv.DictReader(io.StringIO(result.stdout)))


def test_csv_lenet_by_hand() -> None:
    rows = csv_rows(LENET)
    assert [(r["name"], int(r["params"]), int(r["macs"]), r["output_shape"]) for r in rows] == LENET_ROWS
    assert all(int(r["flops"]) == 2 * int(r["macs"]) for r in rows)
    assert rows[1]["inputs"] == "conv2d_1" and rows[0]["inputs"] == "input"


@pytest.mark.parametrize("depth", [[], ["--depth", "1"], ["--depth", "2"]])
def test_csv_rows_add_up_to_the_totals(depth: list[str]) -> None:
    rows = csv_rows("specs/resnet50.yaml", *depth)
    totals = json.loads(run("specs/resnet50.yaml", "--format", "json").stdout)["totals"]
    for key in ("params", "buffers", "macs", "flops", "activation_bytes"):
        assert sum(int(r[key]) for r in rows) == totals[key], key
    assert totals["params"] == 25_557_032  # torchvision num_params


def test_markdown_lenet() -> None:
    result = run(LENET, "--format", "markdown")
    assert result.exit_code == 0, result.stderr
    layers, totals = check_gfm_tables(result.stdout, expected_tables=2)
    assert [row[0].strip() for row in layers] == [f"`{name}`" for name, *_ in LENET_ROWS]
    params = next(row for row in totals if row[0].strip() == "Parameters")
    assert "61,280" in params[1]


def test_markdown_escapes_cells() -> None:
    assert text("a|b*c_d<e>") == "a\\|b\\*c\\_d\\<e\\>"
    assert code("x|y") == "`x\\|y`"
    check_gfm_tables("| h | i |\n| --- | --- |\n| " + text("a|b") + " | " + code("c|d") + " |\n", expected_tables=1)


def test_the_gfm_check_rejects_broken_tables() -> None:
    with pytest.raises(AssertionError):
        check_gfm_tables("| a | b |\n| --- |\n| 1 | 2 |\n")
    with pytest.raises(AssertionError):
        check_gfm_tables("| a | b |\n| --- | --- |\n| 1 | 2 | 3 |\n")


@pytest.mark.parametrize("spec", SPECS, ids=[path.stem for path in SPECS])
def test_every_zoo_spec(spec: Path) -> None:
    relative = str(spec.relative_to(ROOT))
    for depth in ([], ["--depth", "1"]):
        result = run(relative, "--format", "markdown", *depth)
        assert result.exit_code == 0, result.stderr
        check_gfm_tables(result.stdout, expected_tables=2)
        assert csv_rows(relative, *depth)


def test_golden_markdown(golden) -> None:
    result = run("specs/resnet18.yaml", "--format", "markdown", "--depth", "1")
    assert result.exit_code == 0, result.stderr
    golden("summary-resnet18-depth1-md", result.stdout)


def test_golden_csv(golden) -> None:
    result = run(LENET, "--format", "csv")
    assert result.exit_code == 0, result.stderr
    golden("summary-lenet-csv", result.stdout)
