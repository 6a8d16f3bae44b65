"""dominant-layer's threshold (0.8) against the networks docs/rules.md cites: the
published designs and small CNNs stay below it, a flattened feature map goes above.

Shares by hand (PyTorch parameter counts: weights + biases; batch norm 2 x channels):
- kws-cnn: convs 1x16x9+16 = 160, 16x32x9+32 = 4,640, 32x64x9+64 = 18,496; BN 32+64+128
  = 224; Linear 64x12+12 = 780; total 24,300; largest 18,496 = 76.1%.
- mnist-keras-cnn: 1x32x9+32 = 320, 32x64x9+64 = 18,496, 9,216x128+128 = 1,179,776,
  128x10+10 = 1,290; total 1,199,882; largest 98.3%.
- LeNet-5 (seed-lenet): 48,120 of 61,280 = 78.5%.
- VGG-16 (torchvision, published 138,357,544): 25,088x4,096+4,096 = 102,764,544 = 74.3%.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import cli

from cnnshape.lint.config import Config

ROOT = Path(__file__).resolve().parent.parent


def _findings(path: Path) -> list[dict]:
    result = cli("lint", str(path), "--format", "json", "--no-config")
    return [p for p in json.loads(result.stdout)["problems"] if p["code"] == "dominant-layer"]


def test_the_default_threshold_is_the_documented_one():
    assert Config().dominant_share == 0.8


@pytest.mark.parametrize(
    "spec, share",
    [
        ("tests/specs/small/kws-cnn.yaml", 18_496 / 24_300),
        ("specs/seed-lenet.yaml", 48_120 / 61_280),
        ("specs/vgg16.yaml", 102_764_544 / 138_357_544),
    ],
)
def test_designs_below_the_threshold_are_not_flagged(spec, share):
    assert share < 0.8
    assert _findings(ROOT / spec) == []


def test_a_flattened_map_is_flagged():
    assert 1_179_776 / 1_199_882 > 0.8
    found = _findings(ROOT / "tests/specs/small/mnist-keras-cnn.yaml")
    assert len(found) == 1 and "1,179,776 of 1,199,882 parameters (98%" in found[0]["message"]


@pytest.mark.parametrize("spec", sorted(str(p.relative_to(ROOT)) for p in (ROOT / "specs").glob("*.yaml")))
def test_the_zoo_needs_no_suppression(spec):
    assert _findings(ROOT / spec) == []
    assert "disable=dominant-layer" not in (ROOT / spec).read_text(encoding="utf-8")
