"""The model zoo against published numbers, and invariants every spec must keep.

Expected values come only from torchvision's published weight metadata
(/work/shared/reference/torchvision.md: `num_params`, `_ops`, receptive fields), from the
seed's worked example, or from hand calculations written out below; never from
cnnshape's own output.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import pytest
from conftest import cli
from zoo import LENET_MACS, LENET_PARAMS, PUBLISHED, TABLES
from zoo import report as _report
from zoo import row as _row

from cnnshape.pipeline import analyze_file
from cnnshape.render.json import to_dict
from cnnshape.report import Report, Row

SPECS = Path(__file__).resolve().parent.parent / "specs"
ALL_SPECS = sorted(SPECS.glob("*.yaml"))
ZOO = ["seed-lenet", "alexnet", "vgg16", "resnet18", "resnet50"]


# -- published numbers ----------------------------------------------------------------


def test_lenet_hand_numbers() -> None:
    assert LENET_PARAMS == 61_280
    assert LENET_MACS == 356_920


@pytest.mark.parametrize("name", PUBLISHED)
def test_params_match_published(name: str) -> None:
    assert _report(name).totals.params == PUBLISHED[name][0]


@pytest.mark.parametrize("name", PUBLISHED)
def test_macs_match_published(name: str) -> None:
    _, gmacs, exact = PUBLISHED[name]
    macs = _report(name).totals.macs
    if gmacs is not None:
        assert round(macs / 1e9, 3) == gmacs
    if exact is not None:
        assert macs == exact


@pytest.mark.parametrize("name", ZOO)
def test_cli_json_totals_match_published(name: str) -> None:
    result = cli("summary", str(SPECS / f"{name}.yaml"), "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["name"] == name
    assert data["totals"]["params"] == PUBLISHED[name][0]
    _, gmacs, exact = PUBLISHED[name]
    if exact is not None:
        assert data["totals"]["macs"] == exact
    else:
        assert round(data["totals"]["macs"] / 1e9, 3) == gmacs


def _assert_spatial_rf(row: Row, size: int, stride: int, padding: int) -> None:
    rf = row.receptive_field
    assert rf is not None and rf.kind == "spatial"
    assert len(rf.axes) == 2
    for axis in rf.axes:
        assert (axis.size, axis.stride, axis.padding) == (size, stride, padding)


def test_alexnet_receptive_field_after_last_maxpool() -> None:
    # Published: 195, stride 32, padding 66 on both axes.
    _assert_spatial_rf(_row(_report("alexnet"), "features_pool"), 195, 32, 66)


def test_vgg16_receptive_field_after_pool5() -> None:
    # Published: 212, stride 32, padding 90 on both axes.
    _assert_spatial_rf(_row(_report("vgg16"), "pool5"), 212, 32, 90)


def test_seed_lenet_walkthrough_shapes() -> None:
    report = _report("seed-lenet")
    shapes = [row.output_shape for row in report.rows if row.kind in ("Conv2d", "MaxPool2d", "Flatten")]
    # The seed's table: C1 5x28x28, S1 5x14x14, C2 16x10x10, S2 16x5x5, flatten 16*5*5 = 400.
    assert shapes == [(1, 5, 28, 28), (1, 5, 14, 14), (1, 16, 10, 10), (1, 16, 5, 5), (1, 400)]
    assert [output.shape for output in report.outputs] == [(1, 10)]


def test_alexnet_classifier_input() -> None:
    # The seed quotes torchvision: AdaptiveAvgPool2d((6, 6)) then Linear(9216, 4096).
    report = _report("alexnet")
    assert _row(report, "features_pool").output_shape == (1, 256, 6, 6)
    linears = [row for row in report.rows if row.kind == "Linear"]
    assert linears[0].params == 9216 * 4096 + 4096
    assert [output.shape for output in report.outputs] == [(1, 1000)]


def test_vgg16_classifier_input() -> None:
    # torchvision vgg.py: Linear(512 * 7 * 7, 4096) after AdaptiveAvgPool2d((7, 7)).
    report = _report("vgg16")
    assert _row(report, "pool5").output_shape == (1, 512, 7, 7)
    linears = [row for row in report.rows if row.kind == "Linear"]
    assert linears[0].params == 512 * 7 * 7 * 4096 + 4096


def test_resnet50_stage_shapes() -> None:
    # torchvision resnet50: stages end at 256x56x56, 512x28x28, 1024x14x14, 2048x7x7.
    report = _report("resnet50")
    expected = {
        "layer1": (1, 256, 56, 56),
        "layer2": (1, 512, 28, 28),
        "layer3": (1, 1024, 14, 14),
        "layer4": (1, 2048, 7, 7),
    }
    for name, shape in expected.items():
        row = _row(report, name)
        assert row.is_block and row.output_shape == shape
    # Bottleneck blocks per stage: [3, 4, 6, 3]; one downsample (1x1 conv + BN) per stage.
    blocks = [row for row in report.rows if row.kind == "Bottleneck"]
    assert [sum(1 for b in blocks if b.parent == stage) for stage in expected] == [3, 4, 6, 3]
    down_convs = [row for row in report.rows if row.name.endswith(".down_conv")]
    assert len(down_convs) == 4


# -- invariants over every spec ---------------------------------------------------------


@pytest.fixture(scope="module", params=ALL_SPECS, ids=lambda path: path.stem)
def report(request: pytest.FixtureRequest) -> Report:
    return analyze_file(request.param)


def test_specs_found() -> None:
    assert {f"{name}.yaml" for name in ZOO} <= {path.name for path in ALL_SPECS}


def test_layer_rows_sum_to_totals(report: Report) -> None:
    layers = [row for row in report.rows if not row.is_block]
    assert sum(row.params for row in layers) == report.totals.params
    assert sum(row.macs for row in layers) == report.totals.macs
    assert sum(row.buffers for row in layers) == report.totals.buffers
    assert len(layers) == report.totals.layers


def _contents(report: Report, index: int) -> list[Row]:
    """Rows nested (at any depth) inside the block row at `index`, from tree order."""
    block = report.rows[index]
    inside = []
    for row in report.rows[index + 1 :]:
        if row.depth <= block.depth:
            break
        inside.append(row)
    return inside


def test_block_rows_sum_their_contents(report: Report) -> None:
    for index, block in enumerate(report.rows):
        if not block.is_block:
            continue
        inside = _contents(report, index)
        assert inside, f"block {block.name} has no rows"
        layers = [row for row in inside if not row.is_block]
        children = [row for row in inside if row.parent == block.name]
        assert children and all(row.depth == block.depth + 1 for row in children)
        for group in (layers, children):
            assert sum(row.params for row in group) == block.params, block.name
            assert sum(row.macs for row in group) == block.macs, block.name
            assert sum(row.buffers for row in group) == block.buffers, block.name


# Depth counts tree levels shown (torchinfo's meaning; `--depth` starts at 1): 1 folds
# every top-level block, 2 opens them one level, 3 opens ResNet-50's stages' blocks.
@pytest.mark.parametrize("depth", [1, 2, 3, None])
def test_json_layers_sum_to_totals_at_every_depth(report: Report, depth: Optional[int]) -> None:
    data = to_dict(report, depth)
    totals = data["totals"]
    layers = data["layers"]
    assert data["depth"] == depth
    assert sum(layer["params"] for layer in layers) == totals["params"]
    assert sum(layer["macs"] for layer in layers) == totals["macs"]
    assert sum(layer["buffers"] for layer in layers) == totals["buffers"]
    assert sum(layer["flops"] for layer in layers) == totals["flops"]


def test_flops_are_twice_macs(report: Report) -> None:
    assert report.totals.flops == 2 * report.totals.macs
    for row in report.rows:
        assert row.flops == 2 * row.macs, row.name
    data = to_dict(report)
    for entry in data["layers"] + data["blocks"]:
        assert entry["flops"] == 2 * entry["macs"], entry["name"]


# -- the CLI renders every zoo spec -----------------------------------------------------


@pytest.mark.parametrize("depth", ["1", "2"])
@pytest.mark.parametrize("name", TABLES)
def test_summary_table_renders(name: str, depth: str) -> None:
    result = cli("summary", str(SPECS / f"{name}.yaml"), "--depth", depth)
    assert result.exit_code == 0, result.output
    assert name in result.stdout
