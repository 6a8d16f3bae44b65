"""Shared by the zoo tests: the one table of the zoo's published figures, each bundled spec
analysed once per test run, and a row by name."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from cnnshape.pipeline import analyze_file
from cnnshape.report import Report, Row

SPECS = Path(__file__).resolve().parent.parent / "specs"

# seed-lenet, by hand (1x32x32 input; conv weights k*k*in*out + out biases):
#   C1 Conv2d(1, 5, 5)       5*1*5*5 + 5      =    130 params;  5*1*25 * 28*28  =  98,000 MACs
#   C2 Conv2d(5, 16, 5)      16*5*5*5 + 16    =  2,016 params; 16*5*25 * 10*10  = 200,000 MACs
#   FC Linear(400, 120)      400*120 + 120    = 48,120 params;  400*120         =  48,000 MACs
#      Linear(120, 84)       120*84 + 84      = 10,164 params;  120*84          =  10,080 MACs
#      Linear(84, 10)        84*10 + 10       =    850 params;  84*10           =     840 MACs
LENET_PARAMS = 130 + 2016 + 48120 + 10164 + 850
LENET_MACS = 5 * 1 * 25 * 28 * 28 + 16 * 5 * 25 * 10 * 10 + 400 * 120 + 120 * 84 + 84 * 10

# The zoo's published figures, one table for every zoo test: name -> (num_params, _ops in
# G MACs rounded to 3 decimals as published (None: not published), exact MACs (None: not
# known)). From torchvision's published weight metadata (/work/shared/reference/torchvision.md:
# `num_params`, `_ops`; regnet_y_400mf's from RegNet_Y_400MF_Weights.IMAGENET1K_V1.meta),
# except seed-lenet's, counted by hand above. ConvNeXt-Tiny's and
# ViT-B/16's exact MACs are counted by hand in test_zoo_modern.py.
PUBLISHED: dict[str, tuple[int, float | None, int | None]] = {
    "seed-lenet": (LENET_PARAMS, None, LENET_MACS),
    "alexnet": (61_100_840, 0.714, 714_188_480),
    "vgg16": (138_357_544, 15.47, 15_470_264_320),
    "resnet18": (11_689_512, 1.814, None),
    "resnet50": (25_557_032, 4.089, 4_089_184_256),
    # classic families
    "vgg11": (132_863_336, 7.609, None),
    "vgg11_bn": (132_868_840, 7.609, None),
    "vgg13": (133_047_848, 11.308, None),
    "vgg16_bn": (138_365_992, 15.47, None),
    "vgg19": (143_667_240, 19.632, None),
    "resnet34": (21_797_672, 3.664, None),
    "resnet101": (44_549_160, 7.801, None),
    "resnet152": (60_192_808, 11.514, None),
    # branching
    "densenet121": (7_978_856, 2.834, None),
    "googlenet": (6_624_904, 1.498, None),  # aux_logits=False, as the published weights
    "inception_v3": (27_161_264, 5.713, None),  # params with AuxLogits, MACs without
    # mobile
    "mobilenet_v2": (3_504_872, 0.301, None),
    "mobilenet_v3_large": (5_483_032, 0.217, None),
    "mobilenet_v3_small": (2_542_856, 0.057, None),
    "efficientnet_b0": (5_288_548, 0.386, None),
    # modern
    "convnext_tiny": (28_589_128, 4.456, None),
    "regnet_y_400mf": (4_344_144, 0.402, None),
    "vit_b_16": (86_567_656, 17.564, None),
}
# Every zoo spec whose table the CLI must render: the published ones and U-Net (no weights).
TABLES = [*PUBLISHED, "unet"]


@cache
def _cached(name: str, overrides: tuple) -> Report:
    return analyze_file(SPECS / f"{name}.yaml", dict(overrides) or None)


def report(name: str, **overrides: object) -> Report:
    """specs/<name>.yaml analysed (with `--set`-style overrides); cached, so treat it as read-only."""
    return _cached(name, tuple(sorted(overrides.items())))


def row(report: Report, name: str) -> Row:
    """The one row with this qualified name."""
    matches = [r for r in report.rows if r.name == name]
    assert len(matches) == 1, f"expected one row named {name!r}, found {len(matches)}"
    return matches[0]
