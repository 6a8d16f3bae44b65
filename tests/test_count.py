"""Counting conventions (cnnshape.count): every operation a layer describes is one the
tables know, and a small network counted by hand in each tool's rules (the rules written
out below from each tool's source; tests/test_count_peers.py runs the tools themselves)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnshape.count import CONVENTIONS, DEFAULT, OP_NAMES, count
from cnnshape.layers import REGISTRY
from cnnshape.layers.base import OP_FAMILIES, Layer
from cnnshape.pipeline import analyze_file, analyze_text

ROOT = Path(__file__).resolve().parent.parent
ZOO = sorted((ROOT / "specs").glob("*.yaml"))

SMALL = """
name: small
input: [1, 3, 8, 8]
layers:
  - Conv2d: {out_channels: 4, kernel_size: 3, padding: 1}
  - BatchNorm2d
  - ReLU
  - MaxPool2d: {kernel_size: 2}
  - AdaptiveAvgPool2d: {output_size: 1}
  - Flatten
  - Linear: {out_features: 10}
"""
# Conv: 4*8*8 = 256 outputs x 3*3*3 = 27 weights each = 6,912 MACs, bias 256 adds.
# BatchNorm: 256 elements (affine). ReLU: 256. MaxPool: 256 in, 64 out.
# AdaptiveAvgPool: 64 in (4 x 4x4 windows of 16), 4 out. Linear: 4*10 = 40 MACs, bias 10.
BY_HAND = {
    "torchvision": 6912 + 40,
    # conv + batch_norm 2 x 256 (affine) + adaptive_avg_pool2d 1 x 64 inputs + linear
    "fvcore": 6912 + 512 + 64 + 40,
    # conv + bias, bn 2 x 256, relu and pools counted by hook and by patched F.* (2x),
    # linear + bias
    "ptflops": (6912 + 256) + 512 + 2 * 256 + 2 * 256 + 2 * 64 + (40 + 10),
    # aten.convolution with its bias, aten.addmm with its bias
    "ptflops-aten": (6912 + 256) + (40 + 10),
    # conv; bn 2 x 256 x 2 (affine); relu and max pool 0; adaptive (16 + 1) x 4; linear
    "thop": 6912 + 1024 + 17 * 4 + 40,
    # conv: (108 weights + 4 biases) x 1*8*8 positions; bn: 1 x (4 + 4); linear: 1 x (40 + 10)
    "torchinfo": 112 * 64 + 8 + 50,
    # ultralytics-thop: conv; bn 2 x 256 x 2; relu, max pool 0; adaptive: the windows' 4 x 16
    # inputs + 4 divisions; linear
    "ultralytics": 6912 + 1024 + (64 + 4) + 40,
    # MACs only for F.conv2d and F.linear: the weights'
    "deepspeed": 6912 + 40,
}


def test_deepspeed_flops_by_hand() -> None:
    """deepspeed's own FLOPs: conv 2 x MACs + 256 bias adds; batch norm (eval, affine) 2 x 256;
    ReLU 256; max pool its 256 inputs; adaptive average pool its 64 inputs; linear 2 x 40
    (its bias is not counted)."""
    counted = count(analyze_text(SMALL), CONVENTIONS["deepspeed"])
    assert counted.flops == (2 * 6912 + 256) + 2 * 256 + 256 + 256 + 64 + 2 * 40
    assert counted.flops != 2 * counted.macs


LSTM = """
name: lstm
input: [1, 7, 10]
layers:
  - LSTM: {hidden_size: 6, batch_first: true}
"""
# One LSTM layer, 10 inputs, H = 6, 4 gates (24 rows), 7 steps x 1 sample: weight_ih 24 x 10 =
# 240, weight_hh 24 x 6 = 144, two 24-element biases.
LSTM_BY_HAND = {
    "torchvision": (240 + 144) * 7,
    "fvcore": 0,  # no handle for aten::lstm
    # rnn_flops: both products' weights, 4H + 3H + 3H = 60 gate arithmetic, both biases 48
    "ptflops": (240 + 144 + 60 + 48) * 7,
    "ptflops-aten": 0,  # one oneDNN call on the CPU (aten.mkldnn_rnn_layer), not counted
    # _count_lstm_cell: 4 gates x ((10 + 6) x 6 + 6 + 12 for the biases) + 3H + H
    "thop": (4 * (16 * 6 + 6 + 12) + 18 + 6) * 7,
    "ultralytics": (4 * (16 * 6 + 6 + 12) + 18 + 6) * 7,  # the same cell: no projection
    # every weight_*/bias_* element once per output_size[:2] = (1, 7)
    "torchinfo": (240 + 144 + 48) * 7,
    "deepspeed": 0,  # its RNN hook adds FLOPs only
}


@pytest.mark.parametrize("name", sorted(LSTM_BY_HAND))
def test_lstm_by_hand(name: str) -> None:
    assert count(analyze_text(LSTM), CONVENTIONS[name]).macs == LSTM_BY_HAND[name]


def test_lstm_deepspeed_flops_by_hand() -> None:
    """_rnn_flops: 2 x 240 - 24 + 2 x 144 - 24, gate arithmetic 60, biases 48; 7 steps."""
    assert count(analyze_text(LSTM), CONVENTIONS["deepspeed"]).flops == (2 * 240 - 24 + 2 * 144 - 24 + 60 + 48) * 7


def test_every_operation_is_known_to_the_tables() -> None:
    names, families = set(), set()
    for spec in ZOO:
        for row in analyze_file(spec).rows:
            for op in row.ops:
                names.add(op.name)
                families.add(op.family)
    assert names <= OP_NAMES
    assert families <= set(OP_FAMILIES)
    for convention in CONVENTIONS.values():
        assert set(convention.rules) <= OP_NAMES, convention.name


def test_every_kind_describes_its_operations() -> None:
    # Layer.ops raises for a kind that names no operation and does not describe its own,
    # so a new kind is never silently counted as 0.
    for kind, cls in REGISTRY.items():
        assert cls.op_name or any("ops" in vars(base) for base in cls.__mro__ if base is not Layer), kind


@pytest.mark.parametrize("name", sorted(BY_HAND))
def test_small_network_by_hand(name: str) -> None:
    assert count(analyze_text(SMALL), CONVENTIONS[name]).macs == BY_HAND[name]


def test_every_peer_has_a_hand_count() -> None:
    assert set(BY_HAND) == set(CONVENTIONS)


@pytest.mark.parametrize("spec", ZOO, ids=lambda path: path.stem)
def test_default_is_the_report_and_families_add_up(spec: Path) -> None:
    report = analyze_file(spec)
    for convention in CONVENTIONS.values():
        counted = count(report, convention)
        assert sum(counted.by_family.values()) == counted.macs
        assert sum(counted.by_layer.values()) == counted.macs
    assert count(report, CONVENTIONS[DEFAULT]).macs == report.totals.macs
