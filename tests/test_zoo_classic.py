"""The classic torchvision families, VGG (11, 11-BN, 13, 16-BN, 19) and ResNet (34, 101,
152), against published numbers.

Expected values come only from torchvision's published weight metadata
(/work/shared/reference/torchvision.md: `num_params`, `_ops` in G MACs rounded to 3
decimals, VGG16's receptive field) or from hand calculations written out below; never
from cnnshape's own output.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from zoo import report as _report
from zoo import row as _row

SPECS = Path(__file__).resolve().parent.parent / "specs"


# VGG16-BN's convolutions are VGG16's (same convs, same biases: make_layers keeps them),
# so its conv + linear MACs are VGG16's exact published count.
def test_vgg16_bn_macs_equal_vgg16_exactly() -> None:
    assert _report("vgg16_bn").totals.macs == 15_470_264_320


def test_vgg16_bn_receptive_field_after_pool5() -> None:
    # VGG16's published value: 212, stride 32, padding 90 on both axes. Batch norm is
    # pointwise (kernel 1, stride 1, no padding), so it leaves the receptive field alone.
    rf = _row(_report("vgg16_bn"), "pool5").receptive_field
    assert rf is not None and rf.kind == "spatial"
    assert len(rf.axes) == 2
    for axis in rf.axes:
        assert (axis.size, axis.stride, axis.padding) == (212, 32, 90)


@pytest.mark.parametrize("name", ["vgg11", "vgg11_bn", "vgg13", "vgg16_bn", "vgg19"])
def test_vgg_pool5_feeds_the_classifier(name: str) -> None:
    # torchvision vgg.py: 224 / 2**5 = 7, so pool5 gives 512x7x7 and the classifier
    # starts with Linear(512 * 7 * 7, 4096).
    report = _report(name)
    assert _row(report, "pool5").output_shape == (1, 512, 7, 7)
    linears = [row for row in report.rows if row.kind == "Linear"]
    assert linears[0].params == 512 * 7 * 7 * 4096 + 4096
    assert [output.shape for output in report.outputs] == [(1, 1000)]


# (config letter's conv counts per stage; torchvision cfgs A, B, D, E)
VGG_CONVS = {
    "vgg11": [1, 1, 2, 2, 2],
    "vgg11_bn": [1, 1, 2, 2, 2],
    "vgg13": [2, 2, 2, 2, 2],
    "vgg16_bn": [2, 2, 3, 3, 3],
    "vgg19": [2, 2, 4, 4, 4],
}


@pytest.mark.parametrize("name", list(VGG_CONVS))
def test_vgg_conv_and_batch_norm_counts(name: str) -> None:
    report = _report(name)
    convs = [row for row in report.rows if row.kind == "Conv2d"]
    norms = [row for row in report.rows if row.kind == "BatchNorm2d"]
    assert len(convs) == sum(VGG_CONVS[name])
    assert len(norms) == (len(convs) if name.endswith("_bn") else 0)


# Per stage (planes, blocks) and the stage's output (channels, size); BasicBlock's
# expansion is 1, Bottleneck's 4; the spatial size halves from 56 at layer2, 3 and 4.
RESNET_STAGES = {
    "resnet34": (1, [3, 4, 6, 3]),
    "resnet101": (4, [3, 4, 23, 3]),
    "resnet152": (4, [3, 8, 36, 3]),
}


@pytest.mark.parametrize("name", list(RESNET_STAGES))
def test_resnet_stage_shapes_and_blocks(name: str) -> None:
    expansion, blocks = RESNET_STAGES[name]
    kind = "BasicBlock" if expansion == 1 else "Bottleneck"
    report = _report(name)
    stages = ["layer1", "layer2", "layer3", "layer4"]
    for stage, planes, size in zip(stages, [64, 128, 256, 512], [56, 28, 14, 7], strict=True):
        row = _row(report, stage)
        assert row.is_block and row.output_shape == (1, planes * expansion, size, size)
    block_rows = [row for row in report.rows if row.kind == kind]
    assert [sum(1 for b in block_rows if b.parent == stage) for stage in stages] == blocks
    # torchvision's _make_layer adds a projection when stride != 1 or the width changes:
    # with BasicBlock layer1 keeps 64 channels at stride 1 (no projection); with
    # Bottleneck layer1 goes 64 -> 256 (projection), so every stage has one.
    down_convs = [row for row in report.rows if row.name.endswith(".down_conv")]
    assert len(down_convs) == (3 if expansion == 1 else 4)


def test_resnet34_by_hand() -> None:
    # Convolutions (no bias) with BN (2C each), then fc 512*1000 + 1000:
    #   stem   7*7*3*64 + 2*64
    #   layer1 3 blocks x 2 x (3*3*64*64 + 2*64)
    #   layerN (planes p, n blocks, previous width p/2):
    #     first block 3*3*(p/2)*p + 3*3*p*p + 2*2*p, projection 1*1*(p/2)*p + 2*p,
    #     n-1 blocks x 2 x (3*3*p*p + 2*p)
    def stage(p: int, n: int) -> int:
        first = 9 * (p // 2) * p + 9 * p * p + 4 * p + (p // 2) * p + 2 * p
        return first + (n - 1) * 2 * (9 * p * p + 2 * p)

    params = (
        (7 * 7 * 3 * 64 + 2 * 64)
        + 3 * 2 * (9 * 64 * 64 + 2 * 64)
        + stage(128, 4)
        + stage(256, 6)
        + stage(512, 3)
        + 512 * 1000
        + 1000
    )
    assert params == 21_797_672  # agrees with the published num_params
    assert _report("resnet34").totals.params == params
