"""The mobile zoo (MobileNetV2, MobileNetV3-Large/Small, EfficientNet-B0) against torchvision.

Expected values come only from torchvision's published weight metadata
(/work/shared/reference/torchvision.md: `num_params`, `_ops` in G MACs, 3 decimals) or from
hand calculations written out below from torchvision's definitions; never from cnnshape's
own output.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from zoo import report as _report
from zoo import row as _row

SPECS = Path(__file__).resolve().parent.parent / "specs"
MOBILE = ["mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small", "efficientnet_b0"]


def _make_divisible(value: float, divisor: int = 8) -> int:
    """torchvision's _make_divisible, written out here so the hand numbers can use it."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


# -- published numbers ----------------------------------------------------------------


# -- structure, by hand from torchvision's definitions ----------------------------------

# Identity shortcuts (stride 1 and input width == output width), counted from the tables:
#   mobilenet_v2      rows (t, c, n, s): every block but a row's first: 0+1+2+3+2+2+0 = 10
#   mobilenet_v3_large bnecks 1, 3, 5, 6, 8, 9, 10, 12, 14, 15                          = 10
#   mobilenet_v3_small bnecks 3, 5, 6, 8, 10, 11                                         = 6
#   efficientnet_b0   stages' n - 1: 0+1+1+2+2+3+0                                       = 9
RESIDUAL_ADDS = {"mobilenet_v2": 10, "mobilenet_v3_large": 10, "mobilenet_v3_small": 6, "efficientnet_b0": 9}
# Inverted-residual blocks: sum of n (v2: 1+2+3+4+3+3+1; b0: 1+2+2+3+3+4+1) or table rows (v3).
BLOCKS = {
    "mobilenet_v2": ("InvertedResidual", 17),
    "mobilenet_v3_large": ("Bneck", 15),
    "mobilenet_v3_small": ("Bneck", 11),
    "efficientnet_b0": ("MBConv", 16),
}
# The last feature map (before the global pool): 224 / 32 = 7; width of the last 1x1 conv:
# v2 1280; v3-large 6 * 160 = 960; v3-small 6 * 96 = 576; b0 4 * 320 = 1280.
FEATURES = {
    "mobilenet_v2": (1, 1280, 7, 7),
    "mobilenet_v3_large": (1, 960, 7, 7),
    "mobilenet_v3_small": (1, 576, 7, 7),
    "efficientnet_b0": (1, 1280, 7, 7),
}
# Classifier Linear layers (weights + biases):
#   v2 and b0: Linear(1280, 1000); v3-large: Linear(960, 1280), Linear(1280, 1000);
#   v3-small: Linear(576, 1024), Linear(1024, 1000).
CLASSIFIER = {
    "mobilenet_v2": [1280 * 1000 + 1000],
    "mobilenet_v3_large": [960 * 1280 + 1280, 1280 * 1000 + 1000],
    "mobilenet_v3_small": [576 * 1024 + 1024, 1024 * 1000 + 1000],
    "efficientnet_b0": [1280 * 1000 + 1000],
}


@pytest.mark.parametrize("name", MOBILE)
def test_block_counts_and_shortcuts(name: str) -> None:
    report = _report(name)
    kind, count = BLOCKS[name]
    assert sum(1 for row in report.rows if row.kind == kind) == count
    assert sum(1 for row in report.rows if row.kind == "Add") == RESIDUAL_ADDS[name]


@pytest.mark.parametrize("name", MOBILE)
def test_features_and_classifier(name: str) -> None:
    report = _report(name)
    pools = [row for row in report.rows if row.kind == "AdaptiveAvgPool2d" and row.depth == 0]
    assert len(pools) == 1
    assert pools[0].output_shape == FEATURES[name][:2] + (1, 1)
    linears = [row for row in report.rows if row.kind == "Linear"]
    assert [row.params for row in linears] == CLASSIFIER[name]
    assert sum(1 for row in report.rows if row.kind == "Dropout") == 1
    assert [output.shape for output in report.outputs] == [(1, 1000)]


def test_stems_by_hand() -> None:
    # 3x3 stride-2 conv, no bias, 3 -> C, output 112x112; then BatchNorm2d(C): 2C params.
    for name, width in [
        ("mobilenet_v2", 32),
        ("mobilenet_v3_large", 16),
        ("mobilenet_v3_small", 16),
        ("efficientnet_b0", 32),
    ]:
        stem = _row(_report(name), "stem")
        assert stem.is_block and stem.output_shape == (1, width, 112, 112)
        assert stem.params == 3 * 3 * 3 * width + 2 * width
        assert stem.macs == 3 * 3 * 3 * width * 112 * 112


def test_mobilenet_v2_stage_shapes() -> None:
    # Table 2 (t, c, n, s) from a 32x112x112 stem: strides 1, 2, 2, 2, 1, 2, 1.
    report = _report("mobilenet_v2")
    expected = [(16, 112), (24, 56), (32, 28), (64, 14), (96, 14), (160, 7), (320, 7)]
    for index, (channels, size) in enumerate(expected, start=1):
        assert _row(report, f"stage{index}").output_shape == (1, channels, size, size)
    blocks = [row for row in report.rows if row.kind == "InvertedResidual"]
    assert [sum(1 for b in blocks if b.parent == f"stage{i}") for i in range(1, 8)] == [1, 2, 3, 4, 3, 3, 1]
    # Stage 1, t = 1: no expansion conv; depthwise 3x3 on 32 (9*32 + BN 64), project 32 -> 16
    # (512 + BN 32) = 896 params; MACs 112*112 * (9*32 + 32*16) = 10,035,200.
    stage1 = _row(report, "stage1")
    assert stage1.params == 9 * 32 + 64 + 32 * 16 + 32
    assert stage1.macs == 112 * 112 * (9 * 32 + 32 * 16)


def test_mobilenet_v3_squeeze_widths_by_hand() -> None:
    # SE squeeze width is make_divisible(expanded // 4, 8). v3-large bneck 4 expands to 72:
    # 72 // 4 = 18 rounds to 16, which is below 90% of 18, so 24 (fc1 72->24, fc2 24->72).
    assert _make_divisible(72 // 4) == 24
    large = _report("mobilenet_v3_large")
    assert _row(large, "bneck_4.squeezeexcitation_1.fc1").params == 72 * 24 + 24
    assert _row(large, "bneck_4.squeezeexcitation_1.fc2").params == 24 * 72 + 72
    # v3-small bneck 1 (SE on 16 channels): 16 // 4 = 4, raised to the minimum 8.
    assert _make_divisible(16 // 4) == 8
    small = _report("mobilenet_v3_small")
    assert _row(small, "bneck_1.squeezeexcitation_1.fc1").params == 16 * 8 + 8
    assert _row(small, "bneck_1.squeezeexcitation_1.fc2").params == 8 * 16 + 16
    # v3-small bneck 1 has stride 2 and no expansion (exp 16 == input 16): depthwise 3x3
    # to 56x56, so its output is 16x56x56 and there is no shortcut.
    assert _row(small, "bneck_1").output_shape == (1, 16, 56, 56)


def test_efficientnet_b0_by_hand() -> None:
    report = _report("efficientnet_b0")
    expected = [(16, 112), (24, 56), (40, 28), (80, 14), (112, 14), (192, 7), (320, 7)]
    for index, (channels, size) in enumerate(expected, start=1):
        assert _row(report, f"stage{index}").output_shape == (1, channels, size, size)
    blocks = [row for row in report.rows if row.kind == "MBConv"]
    assert [sum(1 for b in blocks if b.parent == f"stage{i}") for i in range(1, 8)] == [1, 2, 2, 3, 3, 4, 1]
    # The SE squeezes to input_channels // 4, not expanded // 4: stage 2's first block takes
    # 16 channels, expands to 6 * 16 = 96, squeezes to 4 (fc1 96->4, fc2 4->96).
    assert _row(report, "stage2.mbconv_1.squeezeexcitation_1.fc1").params == 96 * 4 + 4
    assert _row(report, "stage2.mbconv_1.squeezeexcitation_1.fc2").params == 4 * 96 + 96
    # Stochastic depth sits on the residual branch only: one per identity shortcut.
    assert sum(1 for row in report.rows if row.kind == "StochasticDepth") == RESIDUAL_ADDS["efficientnet_b0"]
