"""RegNetY-400MF (specs/regnet_y_400mf.yaml): the published figures, its receptive field
worked by hand, torchvision measured at test time, and a block argument tied to its input
(`width_in: $input_channels`) that disagrees with the real input is an error at that value."""

from __future__ import annotations

from pathlib import Path

import pytest
from zoo import report as _report

from cnnshape.errors import SpecError
from cnnshape.pipeline import analyze_text

SPEC = Path(__file__).resolve().parent.parent / "specs" / "regnet_y_400mf.yaml"


def test_regnet_y_400mf_published_figures() -> None:
    # torchvision's RegNet_Y_400MF_Weights.IMAGENET1K_V1: num_params 4,344,144, _ops 0.402
    totals = _report("regnet_y_400mf").totals
    assert totals.params == 4_344_144
    assert round(totals.macs / 1e9, 3) == 0.402


def test_regnet_y_400mf_trunk_receptive_field_by_hand() -> None:
    # Per axis, r += (k - 1)*S, P += p*S, S *= s; only the stem and each block's 3x3 (padding 1,
    # stride 2 in a stage's first block) grow it (the 1x1s and the SE gate do not):
    #   stem 3x3 s2 p1:                         r 3,   S 2,  P 1
    #   block1 (1 block):  s2: r 3+2*2 = 7,     S 4,  P 1+2 = 3
    #   block2 (3 blocks): s2: r 7+2*4 = 15,    S 8,  P 3+4 = 7;    then 2 x (+16, +8): r 47,  P 23
    #   block3 (6 blocks): s2: r 47+2*8 = 63,   S 16, P 23+8 = 31;  then 5 x (+32, +16): r 223, P 111
    #   block4 (6 blocks): s2: r 223+2*16 = 255, S 32, P 111+16 = 127; then 5 x (+64, +32): r 575, P 287
    # The SE gates join a global path: the field is the local one, marked global context.
    report = _report("regnet_y_400mf")
    for stage, (size, stride, padding) in {
        "block1": (7, 4, 3),
        "block2": (47, 8, 23),
        "block3": (223, 16, 111),
        "block4": (575, 32, 287),
    }.items():
        (row,) = [r for r in report.rows if r.name == stage]
        rf = row.receptive_field
        assert rf is not None and rf.global_context and not rf.unaligned
        assert [(a.size, a.stride, a.padding) for a in rf.axes] == [(size, stride, padding)] * 2


def test_regnet_y_400mf_against_torchvision() -> None:
    torch = pytest.importorskip("torch")
    regnet = pytest.importorskip("torchvision.models.regnet")
    torch.manual_seed(0)
    model = regnet.regnet_y_400mf()  # 4.3 M parameters: built on the CPU (its width rule needs real tensors)
    report = _report("regnet_y_400mf")
    assert report.totals.params == sum(p.numel() for p in model.parameters())
    assert report.totals.buffers == sum(b.numel() for b in model.buffers())
    # Each stage's output width and depth, from torchvision's own BlockParams.
    params = regnet.BlockParams.from_init_params(depth=16, w_0=48, w_a=27.89, w_m=2.09, group_width=8, se_ratio=0.25)
    widths = [w for w, *_ in params._get_expanded_params()]
    stages = {r.name: r.output_shapes[0][1] for r in report.rows if r.name in ("block1", "block2", "block3", "block4")}
    assert list(stages.values()) == widths
    assert [sum(1 for r in report.rows if r.parent == f"block{i + 1}") for i in range(4)] == list(params.depths)


def test_a_width_in_that_disagrees_with_the_input_is_an_error_at_the_value() -> None:
    # The issue's hazard: with width_in passed by hand, block2's first block given the stem's
    # 32 instead of block1's 48 silently squeezes its SE to round(0.25*32) = 8 instead of 12:
    # fc1 104*8 + 8 and fc2 8*104 + 104 lose 4*104 + 4 + 4*104 = 4*(2*104 + 1) = 836
    # parameters, 4,344,144 - 836 = 4,343,308. Tied to the input, it is a located error.
    use = "      - ResBottleneckBlock: {width_out: $width, stride: 2}\n"
    wrong = "      - ResBottleneckBlock: {width_in: $(32 if width == 104 else input_channels), width_out: $width, stride: 2}\n"
    text = SPEC.read_text(encoding="utf-8")
    assert use in text
    with pytest.raises(SpecError) as caught:
        analyze_text(text.replace(use, wrong), "regnet.yaml")
    (problem,) = caught.value.problems
    line = text.splitlines().index(use.rstrip("\n")) + 1
    assert (problem.line, problem.col, problem.code) == (line, wrong.index("$(32") + 1, "input-mismatch")
    assert "width_in=32 disagrees with its input (1, 48, 56, 56)" in problem.message
    # Given and right, it is accepted, with the published count.
    right = "      - ResBottleneckBlock: {width_in: $input_channels, width_out: $width, stride: 2}\n"
    assert analyze_text(text.replace(use, right)).totals.params == 4_344_144


def test_se_ratio_null_switches_the_se_branches_off() -> None:
    # Each block's SE: fc1 w_b*sq + sq, fc2 sq*w_b + w_b, with sq = round(0.25 * width_in):
    #   block1: 48 from 32 (sq 8):                 2*48*8 + 8 + 48        =     824
    #   block2: 104 from 48 (sq 12);  2 x from 104 (sq 26): 2,612 + 2 x 5,538     =  13,688
    #   block3: 208 from 104 (sq 26); 5 x from 208 (sq 52): 11,050 + 5 x 21,892   = 120,510
    #   block4: 440 from 208 (sq 52); 5 x from 440 (sq 110): 46,252 + 5 x 97,350  = 533,002
    se = 824 + (2 * 104 * 12 + 12 + 104) + 2 * (2 * 104 * 26 + 26 + 104)
    se += (2 * 208 * 26 + 26 + 208) + 5 * (2 * 208 * 52 + 52 + 208)
    se += (2 * 440 * 52 + 52 + 440) + 5 * (2 * 440 * 110 + 110 + 440)
    assert se == 824 + 13_688 + 120_510 + 533_002 == 668_024
    assert _report("regnet_y_400mf", se_ratio=None).totals.params == 4_344_144 - se == 3_676_120


def test_se_ratio_null_against_torchvision() -> None:
    pytest.importorskip("torch")
    regnet = pytest.importorskip("torchvision.models.regnet")
    params = regnet.BlockParams.from_init_params(depth=16, w_0=48, w_a=27.89, w_m=2.09, group_width=8, se_ratio=None)
    model = regnet.RegNet(params)
    assert _report("regnet_y_400mf", se_ratio=None).totals.params == sum(p.numel() for p in model.parameters())
