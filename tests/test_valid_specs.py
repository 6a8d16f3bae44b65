"""The grammar, spec by spec: tests/specs/valid/ analysed, with every expected number
worked out here by hand from PyTorch's formulas (never copied from cnnshape's output).

    Conv2d   out = floor((I + 2P - D(K-1) - 1) / S) + 1
             params = K*K*C_in*C_out (+ C_out bias);  MACs = K*K*C_in * (C_out*H_out*W_out)
    BatchNorm2d  params 2C (weight, bias), buffers 2C + 1 (running mean/var, num_batches_tracked)
    MaxPool2d    out = floor((I + 2P - K) / S) + 1, stride defaults to K
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnshape.pipeline import analyze_file
from cnnshape.report import Report, Row

VALID = Path(__file__).parent / "specs" / "valid"


def conv(c_in: int, c_out: int, k: int, bias: bool = True) -> int:
    """Parameters of a square Conv2d."""
    return k * k * c_in * c_out + (c_out if bias else 0)


def conv_macs(c_in: int, c_out: int, k: int, h_out: int, w_out: int) -> int:
    return k * k * c_in * c_out * h_out * w_out


def analyse(name: str, **options) -> Report:
    return analyze_file(VALID / f"{name}.yaml", **options)


def leaves(report: Report) -> list[Row]:
    return [row for row in report.rows if not row.is_block]


def row(report: Report, name: str) -> Row:
    found = [r for r in report.rows if r.name == name]
    assert len(found) == 1, f"{name!r}: {[r.name for r in report.rows]}"
    return found[0]


def check_invariants(report: Report) -> None:
    """Per-layer numbers add up to the totals; every block sums exactly its contents."""
    layers = leaves(report)
    assert sum(r.params for r in layers) == report.totals.params
    assert sum(r.buffers for r in layers) == report.totals.buffers
    assert sum(r.macs for r in layers) == report.totals.macs
    assert report.totals.flops == 2 * report.totals.macs
    assert report.totals.layers == len(layers)
    for block in (r for r in report.rows if r.is_block):
        inside = [r for r in layers if r.name.startswith(block.name + ".")]
        assert block.params == sum(r.params for r in inside), block.name
        assert block.macs == sum(r.macs for r in inside), block.name


def test_every_valid_spec_analyses() -> None:
    specs = sorted(VALID.glob("*.yaml"))
    assert len(specs) >= 5
    for path in specs:
        report = analyze_file(path)
        check_invariants(report)
        assert not report.warnings, [w.format() for w in report.warnings]


# -- blocks with arguments ------------------------------------------------------------------


def test_block_defaults_use_other_args() -> None:
    report = analyse("blocks-with-args")
    hw = 32  # every convolution keeps 32x32: k3 p1, k5 p2, k1 p0
    # 1: c = width = 16, k 3 (pad 3//2 = 1)   2: c = 2*16 = 32, k 5 (pad 2)   3: c 8, k 1 (pad 0)
    # stage (c 12, n 3): first 3x3, then n-1 = 2 copies of 1x1
    convs = [(3, 16, 3), (16, 32, 5), (32, 8, 1), (8, 12, 3), (12, 12, 1), (12, 12, 1)]
    norms = [16, 32, 8, 12, 12, 12]
    assert report.totals.params == sum(conv(i, o, k, bias=False) for i, o, k in convs) + sum(2 * c for c in norms)
    assert report.totals.params == 14_824
    assert report.totals.buffers == sum(2 * c + 1 for c in norms)
    assert report.totals.macs == sum(conv_macs(i, o, k, hw, hw) for i, o, k in convs)
    assert report.outputs[0].shape == (1, 12, 32, 32)

    assert row(report, "convbnact_1.conv2d_1").output_shape == (1, 16, 32, 32)
    assert row(report, "convbnact_2.conv2d_1").params == conv(16, 32, 5, bias=False)
    assert row(report, "convbnact_2.conv2d_1").output_shape == (1, 32, 32, 32)
    # act: false leaves the ReLU out of the third use, and only of that one.
    kinds = [r.kind for r in leaves(report) if r.name.startswith("convbnact_3.")]
    assert kinds == ["Conv2d", "BatchNorm2d"]
    # 3 + 3 + 2 layers in the three uses, 3 uses of 3 layers in the stage.
    assert len(leaves(report)) == 3 + 3 + 2 + 3 * 3

    stage = row(report, "stage")
    assert stage.is_block and stage.kind == "Stage"
    assert stage.params == conv(8, 12, 3, bias=False) + 2 * conv(12, 12, 1, bias=False) + 3 * 2 * 12
    inner_blocks = [r.name for r in report.rows if r.is_block and r.parent == "stage"]
    assert inner_blocks == ["stage.first", "stage.convbnact_1", "stage.convbnact_2"]
    assert row(report, "stage.first").depth == 1 and row(report, "stage.first.conv2d_1").depth == 2

    # Receptive field, stride 1 throughout: r = 1 + (3-1) + (5-1) + 0 + (3-1) + 0 + 0 = 9,
    # left padding 1 + 2 + 0 + 1 = 4.
    (axis_h, axis_w) = report.outputs[0].receptive_field.axes
    assert (axis_h.size, axis_h.stride, axis_h.padding) == (9, 1, 4)
    assert axis_w == axis_h
    check_invariants(report)


# -- repeat and if --------------------------------------------------------------------------


def test_repeat_and_a_skipped_branch() -> None:
    report = analyse("repeat-and-if")
    body = conv(8, 8, 3)  # 3x3, 8 -> 8, with bias: 584
    assert body == 584
    names = [r.name for r in leaves(report)]
    # repeat 3 makes body_1..body_3; `repeat: 0` and a false `if` make nothing.
    assert names == ["body_1", "body_2", "body_3", "add_1", "last"]
    assert report.totals.params == 3 * body
    assert report.totals.macs == 3 * conv_macs(8, 8, 3, 16, 16)
    # The skipped `proj` stands for what it would have read: the network input.
    assert row(report, "add_1").inputs == ["body_3", "input"]
    assert report.outputs[0].shape == (1, 8, 16, 16)
    # Three 3x3 convs: r = 1 + 3*2 = 7, padding 3; the identity path (r 1) is centred alike.
    (axis, _) = report.outputs[0].receptive_field.axes
    assert (axis.size, axis.stride, axis.padding) == (7, 1, 3)
    assert not report.outputs[0].receptive_field.unaligned


def test_repeat_and_if_follow_overrides() -> None:
    report = analyse("repeat-and-if", overrides={"use_proj": True})
    assert [r.name for r in leaves(report)] == ["body_1", "body_2", "body_3", "proj", "add_1"]
    assert row(report, "proj").params == conv(8, 8, 1)
    assert row(report, "add_1").inputs == ["body_3", "proj"]
    assert report.totals.params == 3 * conv(8, 8, 3) + conv(8, 8, 1)

    deep = analyse("repeat-and-if", overrides={"depth": 6})
    assert [r.name for r in leaves(deep)] == [f"body_{i}" for i in range(1, 7)] + ["add_1", "relu_1", "last"]
    assert deep.totals.params == 6 * conv(8, 8, 3)


# -- several outputs ------------------------------------------------------------------------


def test_multi_output_references() -> None:
    report = analyse("multi-output")
    # stem: 3x3 p1 keeps 16x16; the 2x2 pool halves it to 8x8 and also returns its indices.
    pool = row(report, "pool")
    assert pool.output_shapes == [(1, 8, 8, 8), (1, 8, 8, 8)]
    assert row(report, "head").inputs == ["pool.0"]
    assert row(report, "idx").inputs == ["pool.1"]
    # `stem.conv` is the conv inside the block use; `stem` alone is the block's last layer.
    assert row(report, "side").inputs == ["stem.conv"]
    assert row(report, "tail").inputs == ["stem.act"]
    assert row(report, "side").macs == conv_macs(8, 2, 1, 16, 16)

    outputs = {o.name: o.shape for o in report.outputs}
    assert list(outputs) == ["head", "idx", "side", "pool.0", "tail"]
    assert outputs == {
        "head": (1, 16, 8, 8),
        "idx": (1, 8, 8, 8),
        "side": (1, 2, 16, 16),
        "pool.0": (1, 8, 8, 8),
        "tail": (1, 3, 16, 16),
    }
    assert report.totals.params == conv(4, 8, 3) + conv(8, 16, 3) + conv(8, 2, 1) + conv(8, 3, 1)
    # head: conv3 (r 3, p 1) -> pool 2/2 (r 4, S 2) -> conv3 p1 (r 4 + 2*2 = 8, p 1 + 1*2 = 3)
    head_rf = next(o for o in report.outputs if o.name == "head").receptive_field
    assert [(a.size, a.stride, a.padding) for a in head_rf.axes] == [(8, 2, 3), (8, 2, 3)]
    check_invariants(report)


# -- expressions ----------------------------------------------------------------------------


def test_expressions() -> None:
    report = analyse("expressions")
    a, c, wide = 16, 100, True
    c1 = a * 2  # 32
    c2 = max(8, int(c * 0.25 + 4) // 8 * 8)  # int(29.0) // 8 * 8 = 24
    c3 = a if wide else 8  # 16
    c4 = min(a, 4) + 2**2  # 8, stride a // 8 = 2
    assert (c1, c2, c3, c4) == (32, 24, 16, 8)
    shapes = [r.output_shape for r in leaves(report)]
    # The last 1x1 conv has stride 2: floor((64 - 1) / 2) + 1 = 32.
    assert shapes == [(1, c1, 64, 64), (1, c2, 64, 64), (1, c3, 64, 64), (1, c4, 32, 32)]
    assert row(report, "conv_x").params == conv(c2, c3, 1)
    assert report.totals.params == conv(3, c1, 3) + conv(c1, c2, 1) + conv(c2, c3, 1) + conv(c3, c4, 1)
    assert report.totals.params == 2224


def test_expressions_follow_overrides() -> None:
    narrow = analyse("expressions", overrides={"wide": False})
    assert row(narrow, "conv_x").output_shape == (1, 8, 64, 64)

    small = analyse("expressions", overrides={"a": 8})
    # a = 8: 16 channels, then 24, then 8 (wide), then min(8, 4) + 4 = 8 with stride 8 // 8 = 1.
    assert [r.output_shape for r in leaves(small)] == [(1, 16, 64, 64), (1, 24, 64, 64), (1, 8, 64, 64), (1, 8, 64, 64)]
    assert small.totals.params == conv(3, 16, 3) + conv(16, 24, 1) + conv(24, 8, 1) + conv(8, 8, 1)


# -- plain YAML reuse -----------------------------------------------------------------------


def test_anchors_aliases_and_merge_keys() -> None:
    report = analyse("anchors-and-merge-keys")
    assert [r.output_shape for r in leaves(report)] == [(1, 8, 16, 16), (1, 8, 16, 16), (1, 4, 16, 16)]
    assert report.totals.params == conv(3, 8, 3, bias=False) + conv(8, 8, 3, bias=False) + conv(8, 4, 3, bias=False)


@pytest.mark.parametrize("override", [{"width": 16}, {}])
def test_input_override_changes_only_shapes(override: dict) -> None:
    # The same blocks on a 3x17x17 input: every layer keeps the size, the numbers scale.
    report = analyse("blocks-with-args", overrides=override, input_shape=(1, 3, 17, 17))
    assert report.outputs[0].shape == (1, 12, 17, 17)
    assert report.totals.params == 14_824
    assert report.totals.macs == sum(
        conv_macs(i, o, k, 17, 17)
        for i, o, k in [(3, 16, 3), (16, 32, 5), (32, 8, 1), (8, 12, 3), (12, 12, 1), (12, 12, 1)]
    )
