"""`summary --format markdown` (a GitHub table for PR comments) and `--format csv`.

Markdown must parse as GFM tables (tests/gfm.py); CSV rows must add up to the totals and
carry the seed-lenet numbers worked out by hand in tests/test_cli.py.
"""

from __future__ import annotations

import csv
import io
import json
from fractions import Fraction
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


def test_csv_memory_and_roofline_lenet_by_hand() -> None:
    """--memory and --device add per-row columns whose sums (or, for alive bytes, largest
    value) are the totals; LeNet's worked out by hand at batch 1, float32, SGD."""
    rows = csv_rows(LENET, "--memory", "--optimizer", "sgd", "--device", "t4")
    # Elements: input 1x1x32x32 = 1,024; conv1 5x28x28 = 3,920; pool1 5x14x14 = 980;
    # conv2 16x10x10 = 1,600; pool2 400; linear 120, 84, 10. Alive while a layer runs: what
    # it reads and what it writes (a tensor is freed after its last reader; Flatten is a view).
    alive = [
        1_024 + 3_920,
        2 * 3_920,
        3_920 + 980,
        980 + 1_600,
        2 * 1_600,
        1_600 + 400,
        400,
        400 + 120,
        2 * 120,
        120 + 84,
        2 * 84,
        84 + 10,
    ]
    assert [int(r["alive_bytes"]) for r in rows] == [4 * n for n in alive]
    # Saved for backward: a conv or linear layer its input, ReLU its output, max pooling its
    # input (ReLU's output, already kept) and int64 indices; each tensor counted once, where
    # it is first kept.
    saved = [4 * 1_024, 4 * 3_920, 8 * 980, 4 * 980, 4 * 1_600, 8 * 400, 0, 4 * 400, 4 * 120, 0, 4 * 84, 0]
    assert [int(r["training_saved_bytes"]) for r in rows] == saved
    for r in rows:  # fp32 parameters and gradients, SGD keeps no state
        assert int(r["training_param_bytes"]) == int(r["training_gradient_bytes"]) == 4 * int(r["params"])
        assert int(r["training_optimizer_bytes"]) == 0
        assert int(r["training_peak_bytes"]) == 8 * int(r["params"]) + int(r["training_saved_bytes"])
    # Roofline on the T4 (8.1 TFLOP/s float32, 320 GB/s): conv1 moves its input, its 130
    # parameters and its output: (1,024 + 130 + 3,920) x 4 = 20,296 bytes, 63.4 ns at 320 GB/s,
    # more than its 196,000 FLOPs take (24.2 ns): memory-bound. Flatten moves nothing.
    conv1 = rows[0]
    assert (int(conv1["roofline_flops"]), int(conv1["roofline_bytes"]), conv1["roofline_bound_by"]) == (
        196_000,
        20_296,
        "memory",
    )
    assert float(conv1["roofline_seconds"]) == 20_296 / 320e9
    assert (int(rows[6]["roofline_bytes"]), float(rows[6]["roofline_seconds"])) == (0, 0.0)


@pytest.mark.parametrize("depth", [[], ["--depth", "1"], ["--depth", "2"]])
def test_csv_memory_roofline_and_conventions_add_up(depth: list[str]) -> None:
    """Each new column, summed over the rows --depth shows (block rows fold their layers),
    gives the figure JSON reports for the whole network."""
    args = ("specs/resnet18.yaml", "--count", "all", "--memory", "--device", "a100-sxm4-80gb", *depth)
    rows = csv_rows(*args)
    result = run(*args, "-f", "json")
    data = json.loads(result.stdout)
    for convention in data["counting"]["conventions"][1:]:
        assert sum(int(r[f"macs_{convention['name']}"]) for r in rows) == convention["macs"]
    training = data["memory"]["training"]
    for key in ("param_bytes", "gradient_bytes", "optimizer_bytes", "saved_bytes", "weight_copy_bytes", "peak_bytes"):
        assert sum(int(r[f"training_{key}"]) for r in rows) == training[key]
    assert max(int(r["alive_bytes"]) for r in rows) == data["memory"]["inference"]["peak_bytes"]
    roofline = data["roofline"]
    assert sum(int(r["roofline_flops"]) for r in rows) == data["totals"]["flops"]
    assert sum(float(r["roofline_seconds"]) for r in rows) == pytest.approx(
        float(Fraction(roofline["lower_bound_seconds"])), rel=1e-12
    )
