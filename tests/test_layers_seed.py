"""The seed tutorial's worked examples and torchvision's published AlexNet numbers, run
through the whole pipeline (YAML text -> Report).

Expected values come from the seed (DIGEST.md) and from torchvision's weight metadata
(docs reference/torchvision.md): AlexNet 61,100,840 params, 714,188,480 MACs, receptive
field after the last MaxPool 195 (stride 32, padding 66).
"""

from __future__ import annotations

import pytest

from cnnshape.errors import SpecError
from cnnshape.pipeline import analyze_text

SEED = """
name: seed
input: [1, 1, 32, 32]
layers:
  - Conv2d: {out_channels: 5, kernel_size: 5, name: C1}
  - MaxPool2d: {kernel_size: 2, name: S1}
  - Conv2d: {out_channels: 16, kernel_size: 5, name: C2}
  - MaxPool2d: {kernel_size: 2, name: S2}
  - Flatten: {name: FC_in}
"""


def test_seed_walk_through_shapes():
    report = analyze_text(SEED)
    shapes = {row.name: row.output_shape for row in report.rows}
    # the seed's table: 5x28x28, 5x14x14, 16x10x10, 16x5x5, then 16*5*5 = 400 features
    assert shapes == {
        "C1": (1, 5, (32 - 5) // 1 + 1, 28),  # 28
        "S1": (1, 5, 14, 14),  # 28 / 2
        "C2": (1, 16, (14 - 5) // 1 + 1, 10),  # 10
        "S2": (1, 16, 5, 5),  # 10 / 2
        "FC_in": (1, 16 * 5 * 5),  # 400
    }
    params = {row.name: row.params for row in report.rows}
    # C1: 5 filters of 1x5x5 + 5 biases; C2: 16 filters of 5x5x5 + 16 biases; pooling: none
    assert params == {"C1": 5 * 1 * 5 * 5 + 5, "S1": 0, "C2": 16 * 5 * 5 * 5 + 16, "S2": 0, "FC_in": 0}
    assert report.totals.params == (5 * 25 + 5) + (16 * 125 + 16)  # = 130 + 2,016 = 2,146


def test_seed_40x50_example():
    report = analyze_text("""
name: seed-40x50
input: [1, 3, 40, 50]
layers:
  - Conv2d: {out_channels: 8, kernel_size: 3, padding: 1, stride: 1}
""")
    # (40 - 3 + 2)/1 + 1 = 40, (50 - 3 + 2)/1 + 1 = 50
    assert report.rows[0].output_shape == (1, 8, 40, 50)


def test_seed_73728_weights():
    report = analyze_text("""
name: seed-weights
input: [1, 128, 16, 16]
layers:
  - Conv2d: {out_channels: 64, kernel_size: 3, padding: 1, bias: false}
  - Conv2d: {out_channels: 64, kernel_size: 3, stride: 2, padding: 0, in_channels: 64, bias: true}
""")
    # 3*3*128*64 = 73,728; padding and stride do not change the count (3*3*64*64 + 64)
    assert [row.params for row in report.rows] == [73_728, 3 * 3 * 64 * 64 + 64]


ALEXNET = """
name: alexnet
input: [1, 3, 224, 224]
layers:
  - Conv2d: {out_channels: 64, kernel_size: 11, stride: 4, padding: 2}
  - ReLU: {inplace: true}
  - MaxPool2d: {kernel_size: 3, stride: 2}
  - Conv2d: {out_channels: 192, kernel_size: 5, padding: 2}
  - ReLU: {inplace: true}
  - MaxPool2d: {kernel_size: 3, stride: 2}
  - Conv2d: {out_channels: 384, kernel_size: 3, padding: 1}
  - ReLU: {inplace: true}
  - Conv2d: {out_channels: 256, kernel_size: 3, padding: 1}
  - ReLU: {inplace: true}
  - Conv2d: {out_channels: 256, kernel_size: 3, padding: 1}
  - ReLU: {inplace: true}
  - MaxPool2d: {kernel_size: 3, stride: 2, name: features}
  - AdaptiveAvgPool2d: {output_size: [6, 6]}
  - Flatten
  - Dropout: {p: 0.5}
  - Linear: {out_features: 4096}
  - ReLU: {inplace: true}
  - Dropout: {p: 0.5}
  - Linear: {out_features: 4096}
  - ReLU: {inplace: true}
  - Linear: {out_features: 1000}
"""


def test_alexnet_published_numbers():
    report = analyze_text(ALEXNET)
    assert report.totals.params == 61_100_840
    assert report.totals.macs == 714_188_480
    assert report.totals.buffers == 0
    shapes = [row.output_shape for row in report.rows if row.kind in ("Conv2d", "MaxPool2d")]
    # (224 + 4 - 10 - 1)//4 + 1 = 55; (55 - 3)//2 + 1 = 27; (27 - 3)//2 + 1 = 13; (13 - 3)//2 + 1 = 6
    assert [s[2] for s in shapes] == [55, 27, 27, 13, 13, 13, 13, 6]
    features = next(row for row in report.rows if row.name == "features")
    assert [(a.size, a.stride, a.padding) for a in features.receptive_field.axes] == [(195, 32, 66)] * 2
    assert report.receptive_field.kind == "global"


def test_upsample_to_nothing_is_a_located_problem():
    # PyTorch: "Input and output sizes should be greater than 0"; floor(5 * 0.1) = 0
    with pytest.raises(SpecError) as caught:
        analyze_text("""
name: tiny
input: [1, 1, 5, 5]
layers:
  - Upsample: {scale_factor: 0.1}
""")
    assert [p.code for p in caught.value.problems] == ["shape"]
