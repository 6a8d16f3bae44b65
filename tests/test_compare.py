"""`cnnshape compare`: totals side by side with differences, and the layers aligned.

Numbers come from torchvision's published counts (/work/shared/reference/torchvision.md)
or are worked out by hand; never from cnnshape's own output.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import cli
from gfm import check_gfm_tables

from cnnshape.compare import align
from cnnshape.report import Row

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.yaml"))
LENET = "specs/seed-lenet.yaml"
RESNET18 = "specs/resnet18.yaml"
RESNET34 = "specs/resnet34.yaml"
pytestmark = pytest.mark.usefixtures("repo_root")

# torchvision num_params
RESNET18_PARAMS = 11_689_512
RESNET34_PARAMS = 21_797_672

# Layers after expanding blocks, by hand. A BasicBlock is conv, bn, relu, conv, bn, add,
# relu (7), plus a 1x1 conv and a bn when it downsamples (9). Stem conv, bn, relu,
# maxpool (4); head avgpool, flatten, fc (3).
#   resnet18: blocks [2, 2, 2, 2], 3 downsampling: 4 + 8*7 + 3*2 + 3 = 69
#   resnet34: blocks [3, 4, 6, 3], 3 downsampling: 4 + 16*7 + 3*2 + 3 = 125
RESNET18_LAYERS = 4 + 8 * 7 + 3 * 2 + 3
RESNET34_LAYERS = 4 + 16 * 7 + 3 * 2 + 3

# seed-lenet at 1x36x36 instead of 1x32x32, by hand (conv 5: I - 4; pool 2: I / 2):
#   conv1 32x32, pool 16x16, conv2 12x12, pool 6x6, flatten 16*6*6 = 576
#   linear_1: 576*120 + 120 = 69,240 params (at 32: 400*120 + 120 = 48,120)
#   MACs: conv1 5*25 * 32*32 = 128,000; conv2 16*5*25 * 12*12 = 288,000;
#         linear 576*120 = 69,120; 120*84 = 10,080; 84*10 = 840
LENET_PARAMS = 130 + 2016 + 48120 + 10164 + 850
LENET36_PARAMS = 130 + 2016 + 69240 + 10164 + 850
LENET_MACS = 98_000 + 200_000 + 48_000 + 10_080 + 840
LENET36_MACS = 128_000 + 288_000 + 69_120 + 10_080 + 840


run = cli


def compare_json(*args: str) -> dict:
    result = run("compare", *args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_resnet18_vs_resnet34_totals() -> None:
    data = compare_json(RESNET18, RESNET34)
    params = data["totals"]["params"]
    assert (params["a"], params["b"]) == (RESNET18_PARAMS, RESNET34_PARAMS)
    assert params["delta"] == 21_797_672 - 11_689_512
    assert params["percent"] == pytest.approx((21_797_672 - 11_689_512) / 11_689_512 * 100, abs=1e-3)
    macs = data["totals"]["macs"]
    # torchvision _ops: 1.814 and 3.664 G MACs, rounded to 3 decimals.
    assert round(macs["a"] / 1e9, 3) == 1.814 and round(macs["b"] / 1e9, 3) == 3.664
    assert data["totals"]["flops"]["delta"] == 2 * macs["delta"]
    layers = data["totals"]["layers"]
    assert (layers["a"], layers["b"], layers["delta"]) == (RESNET18_LAYERS, RESNET34_LAYERS, 56)
    assert data["totals"]["output"] == {
        "a": [1, 1000],
        "b": [1, 1000],
        "changed": False,
        "delta": None,
        "percent": None,
    }


def test_same_spec_at_two_inputs() -> None:
    data = compare_json(LENET, LENET, "--input-b", "1,1,36,36")
    totals = data["totals"]
    assert (totals["params"]["a"], totals["params"]["b"]) == (LENET_PARAMS, LENET36_PARAMS)
    assert totals["params"]["delta"] == 69_240 - 48_120
    assert (totals["macs"]["a"], totals["macs"]["b"]) == (LENET_MACS, LENET36_MACS)
    assert totals["input"]["b"] == [1, 1, 36, 36] and totals["input"]["changed"]
    rows = {(pair["a"] or pair["b"])["name"]: pair for pair in data["layers"]}
    # Every layer up to linear_1 sees a bigger tensor; after it nothing changes.
    assert [pair["status"] for pair in data["layers"]] == ["changed"] * 8 + ["same"] * 4
    assert rows["conv2d_1"]["changed"] == ["output_shapes", "macs"]  # same weights, more positions
    assert rows["flatten_1"]["changed"] == ["output_shapes"]
    assert rows["linear_1"]["changed"] == ["params", "macs"]
    assert rows["linear_1"]["b"]["params"] == 69_240
    assert data["counts"] == {"same": 4, "changed": 8, "added": 0, "removed": 0}


def test_set_b_changes_only_the_classifier() -> None:
    data = compare_json(RESNET18, RESNET18, "--set-b", "num_classes=10")
    assert data["totals"]["params"]["delta"] == (512 * 10 + 10) - (512 * 1000 + 1000)
    changed = [pair for pair in data["layers"] if pair["status"] != "same"]
    assert len(changed) == 1 and changed[0]["a"]["kind"] == "Linear"
    assert data["b"]["overrides"] == {"num_classes": 10}


def test_set_and_input_apply_to_both_sides() -> None:
    data = compare_json(RESNET18, RESNET18, "--set", "num_classes=10", "--input", "1,3,160,160")
    assert data["counts"]["changed"] == data["counts"]["added"] == data["counts"]["removed"] == 0
    assert data["a"]["input"] == data["b"]["input"] == [1, 3, 160, 160]
    assert data["totals"]["params"]["a"] == RESNET18_PARAMS - (512 * 1000 + 1000) + (512 * 10 + 10)


def test_input_a_overrides_input() -> None:
    data = compare_json(LENET, LENET, "--input", "1,1,36,36", "--input-a", "1,1,32,32")
    assert data["a"]["input"] == [1, 1, 32, 32] and data["b"]["input"] == [1, 1, 36, 36]


def test_depth_compares_folded_blocks() -> None:
    data = compare_json(RESNET18, RESNET18, "--set-b", "num_classes=10", "--depth", "1")
    # Top level of resnet18: 4 stem layers, 4 Stage uses, 3 head layers.
    assert len(data["layers"]) == 4 + 4 + 3
    assert sum(pair["a"]["params"] for pair in data["layers"]) == RESNET18_PARAMS


def _row(name: str, kind: str, params: int = 0) -> Row:
    return Row(name, kind, 0, False, None, [(1, 4)], params, 0, 0, 4, None)


def test_alignment_marks_insertions_and_removals() -> None:
    a = [_row("conv", "Conv2d"), _row("relu", "ReLU"), _row("fc", "Linear")]
    b = [_row("conv", "Conv2d"), _row("bn", "BatchNorm2d"), _row("relu", "ReLU"), _row("fc", "Linear", 10)]
    pairs = align(a, b)
    assert [(p.status, p.row.name) for p in pairs] == [
        ("same", "conv"),
        ("added", "bn"),
        ("same", "relu"),
        ("changed", "fc"),
    ]
    assert pairs[3].changed == ("params",)
    pairs = align(b, a)
    assert [p.status for p in pairs] == ["same", "removed", "same", "changed"]


def test_alignment_pairs_renamed_layers_of_the_same_kind() -> None:
    a = [_row("conv2d_1", "Conv2d"), _row("relu_1", "ReLU")]
    b = [_row("stem", "Conv2d"), _row("relu_1", "ReLU")]
    pairs = align(a, b)
    assert [(p.status, p.changed) for p in pairs] == [("changed", ("name",)), ("same", ())]


def test_errors_in_either_spec_are_all_listed(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\ninput: [1, 3, 8, 8]\nlayers:\n  - Conv2D: {out_channels: 4, kernel_size: 3}\n")
    result = run("compare", str(bad), LENET, "--set-b", "nope=1")
    assert result.exit_code == 1
    assert "Conv2D" in result.stderr and "nope" in result.stderr


def test_markdown_is_valid_gfm() -> None:
    result = run("compare", LENET, LENET, "--input-b", "1,1,36,36", "--format", "markdown")
    assert result.exit_code == 0, result.stderr
    totals, layers = check_gfm_tables(result.stdout, expected_tables=2)
    assert [row[0].strip() for row in totals][:1] == ["Parameters"]
    assert len(layers) == 12


def test_changed_only_hides_same_rows() -> None:
    result = run("compare", RESNET18, RESNET18, "--set-b", "num_classes=10", "--changed-only", "--format", "markdown")
    assert result.exit_code == 0, result.stderr
    _, layers = check_gfm_tables(result.stdout, expected_tables=2)
    assert len(layers) == 1 and "`fc`" in layers[0][1]
    assert "same rows not shown" in result.stdout


@pytest.mark.parametrize("spec", SPECS, ids=[path.stem for path in SPECS])
def test_every_zoo_spec_compares_with_itself(spec: Path) -> None:
    relative = str(spec.relative_to(ROOT))
    data = compare_json(relative, relative)
    assert data["counts"]["changed"] == data["counts"]["added"] == data["counts"]["removed"] == 0
    assert all(not metric["changed"] for metric in data["totals"].values())
    for fmt in ("table", "markdown"):
        assert run("compare", relative, relative, "--depth", "1", "--format", fmt).exit_code == 0


def test_golden_table(golden) -> None:
    result = run("compare", LENET, LENET, "--input-b", "1,1,36,36")
    assert result.exit_code == 0, result.stderr
    golden("compare-lenet-input", result.stdout)


def test_golden_markdown(golden) -> None:
    result = run("compare", RESNET18, RESNET34, "--depth", "1", "--format", "markdown")
    assert result.exit_code == 0, result.stderr
    golden("compare-resnet18-resnet34-md", result.stdout)


def test_a_small_change_keeps_two_significant_digits() -> None:
    result = run("compare", RESNET18, RESNET18, "--set-b", "num_classes=10", "--format", "markdown")
    assert result.exit_code == 0, result.stderr
    # The fc layer's MACs go from 512*1000 to 512*10: -506,880 of 1,814,073,344, that is
    # -0.02794...%, which one decimal would show as -0.0%.
    macs = next(line for line in result.stdout.splitlines() if line.startswith("| MACs "))
    assert "**-506,880**" in macs and "| -0.028% |" in macs
    # Parameters: (512*10 + 10) - (512*1000 + 1000) = 5,130 - 513,000 = -507,870 of
    # 11,689,512: -4.34...%, one decimal.
    params = next(line for line in result.stdout.splitlines() if line.startswith("| Parameters "))
    assert "**-507,870**" in params and "| -4.3% |" in params
