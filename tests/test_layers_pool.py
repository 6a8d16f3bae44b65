"""Pooling formulas: MaxPool/AvgPool 1-3d and their Adaptive forms.

PyTorch (nn.MaxPool2d docs, pooling_output_shape):
  out = floor_or_ceil((I + 2P - D(K-1) - 1) / S) + 1, stride defaults to kernel_size;
  with ceil_mode the last window must start inside the input or the left padding:
  if (out-1)*S >= I + P: out -= 1.   Padding must be at most kernel_size // 2.
Pooling has no parameters, no buffers and (torchvision's convention) no MACs.
"""

from __future__ import annotations

import pytest
from conftest import infer as run
from pydantic import ValidationError

from cnnshape.errors import ShapeError
from cnnshape.layers import REGISTRY
from cnnshape.layers.base import RF


def case(kind, args, shape, out, id):
    return pytest.param(kind, args, shape, out, id=id)


CASES = [
    # --- MaxPool2d ----------------------------------------------------------------------
    # seed: 2x2 pooling halves 28 -> (28 - 1*(2-1) - 1)//2 + 1 = 14
    case(
        "MaxPool2d",
        {"kernel_size": 2},
        (1, 5, 28, 28),
        [(1, 5, (28 + 0 - 1 * (2 - 1) - 1) // 2 + 1, 14)],
        id="seed-2x2",
    ),
    # ResNet: k3 s2 p1 on 112 -> (112 + 2 - 2 - 1)//2 + 1 = 56
    case(
        "MaxPool2d",
        {"kernel_size": 3, "stride": 2, "padding": 1},
        (1, 64, 112, 112),
        [(1, 64, 56, 56)],
        id="resnet-k3-s2-p1",
    ),
    # AlexNet: k3 s2 on 55 -> (55 - 2 - 1)//2 + 1 = 27
    case("MaxPool2d", {"kernel_size": 3, "stride": 2}, (1, 64, 55, 55), [(1, 64, 27, 27)], id="alexnet-k3-s2"),
    # ceil_mode: (56 - 3)/2 = 26.5 -> ceil 27, +1 = 28; last window starts at 27*2 = 54 < 56: kept
    case(
        "MaxPool2d",
        {"kernel_size": 3, "stride": 2, "ceil_mode": True},
        (1, 64, 56, 56),
        [(1, 64, 28, 28)],
        id="ceil-rounds-up",
    ),
    # same without ceil_mode: floor(26.5) + 1 = 27
    case("MaxPool2d", {"kernel_size": 3, "stride": 2}, (1, 64, 56, 56), [(1, 64, 27, 27)], id="floor-rounds-down"),
    # ceil_mode, no padding: (5 - 1 - 1)/2 = 1.5 -> ceil 2, +1 = 3; start 2*2 = 4 < 5: kept (floor gives 2)
    case(
        "MaxPool2d",
        {"kernel_size": 2, "stride": 2, "ceil_mode": True},
        (1, 1, 5, 5),
        [(1, 1, 3, 3)],
        id="ceil-no-padding",
    ),
    # ceil_mode, PyTorch's rule: (5 + 2 - 1 - 1)/2 = 2.5 -> ceil 3, +1 = 4;
    # the 4th window would start at (4-1)*2 = 6 >= 5 + 1 (input + left padding): dropped -> 3
    case(
        "MaxPool2d",
        {"kernel_size": 2, "stride": 2, "padding": 1, "ceil_mode": True},
        (1, 1, 5, 5),
        [(1, 1, 3, 3)],
        id="ceil-last-window-in-padding-dropped",
    ),
    # (3 + 2 - 1 - 1)/2 = 1.5 -> ceil 2, +1 = 3; (3-1)*2 = 4 >= 3 + 1: dropped -> 2
    case(
        "MaxPool2d",
        {"kernel_size": 2, "stride": 2, "padding": 1, "ceil_mode": True},
        (1, 1, 3, 3),
        [(1, 1, 2, 2)],
        id="ceil-last-window-dropped-small",
    ),
    # per axis: H 5 as above -> 3 (dropped), W 6: (6 + 2 - 1 - 1)/2 = 3 exactly, +1 = 4;
    # (4-1)*2 = 6 >= 6 + 1? no: kept -> 4
    case(
        "MaxPool2d",
        {"kernel_size": 2, "stride": 2, "padding": 1, "ceil_mode": True},
        (1, 1, 5, 6),
        [(1, 1, 3, 4)],
        id="ceil-per-axis",
    ),
    # dilation 2, stride defaults to the kernel 3: (10 - 2*(3-1) - 1)//3 + 1 = 5//3 + 1 = 2
    case("MaxPool2d", {"kernel_size": 3, "dilation": 2}, (1, 1, 10, 10), [(1, 1, 2, 2)], id="dilation"),
    # stride 1 with padding 1 keeps the size: (7 + 2 - 2 - 1)//1 + 1 = 7
    case("MaxPool2d", {"kernel_size": 3, "stride": 1, "padding": 1}, (1, 2, 7, 7), [(1, 2, 7, 7)], id="stride1-same"),
    # tuple kernel, stride defaults to it: H (8-1-1)//2+1 = 4, W (9-2-1)//3+1 = 3
    case("MaxPool2d", {"kernel_size": [2, 3]}, (1, 1, 8, 9), [(1, 1, 4, 3)], id="tuple-kernel-default-stride"),
    # padding = kernel // 2 is the largest allowed: k2 p1 -> (8 + 2 - 1 - 1)//2 + 1 = 5
    case("MaxPool2d", {"kernel_size": 2, "padding": 1}, (1, 1, 8, 8), [(1, 1, 5, 5)], id="padding-half-kernel"),
    case("MaxPool2d", {"kernel_size": 2}, (3, 8, 8), [(3, 4, 4)], id="unbatched"),
    # return_indices: values and indices, same shape
    case(
        "MaxPool2d",
        {"kernel_size": 2, "return_indices": True},
        (1, 3, 8, 8),
        [(1, 3, 4, 4), (1, 3, 4, 4)],
        id="return-indices",
    ),
    # --- MaxPool1d / 3d -----------------------------------------------------------------
    case("MaxPool1d", {"kernel_size": 2}, (1, 4, 10), [(1, 4, 5)], id="maxpool1d"),
    # (9 + 2 - 2 - 1)//2 + 1 = 5
    case("MaxPool1d", {"kernel_size": 3, "stride": 2, "padding": 1}, (2, 4, 9), [(2, 4, 5)], id="maxpool1d-padded"),
    # (1,2,2) window halves H and W only
    case("MaxPool3d", {"kernel_size": [1, 2, 2]}, (1, 2, 4, 8, 8), [(1, 2, 4, 4, 4)], id="maxpool3d-1x2x2"),
    # (5 + 2 - 2 - 1)//2 + 1 = 3
    case(
        "MaxPool3d", {"kernel_size": 3, "stride": 2, "padding": 1}, (1, 1, 5, 5, 5), [(1, 1, 3, 3, 3)], id="maxpool3d"
    ),
    # --- AvgPool ------------------------------------------------------------------------
    case("AvgPool2d", {"kernel_size": 2, "stride": 2}, (1, 3, 8, 8), [(1, 3, 4, 4)], id="avgpool2d"),
    case(
        "AvgPool2d",
        {"kernel_size": 3, "stride": 1, "padding": 1, "count_include_pad": False},
        (1, 3, 8, 8),
        [(1, 3, 8, 8)],
        id="avgpool2d-count-include-pad",
    ),
    # (6 + 2 - 2 - 1)/2 = 2.5 -> ceil 3, +1 = 4; (4-1)*2 = 6 >= 6 + 1? no: kept (floor gives 3)
    case(
        "AvgPool2d",
        {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True},
        (1, 1, 6, 6),
        [(1, 1, 4, 4)],
        id="avgpool2d-ceil",
    ),
    case(
        "AvgPool2d", {"kernel_size": 3, "stride": 2, "padding": 1}, (1, 1, 6, 6), [(1, 1, 3, 3)], id="avgpool2d-floor"
    ),
    case(
        "AvgPool2d",
        {"kernel_size": 2, "divisor_override": 3},
        (1, 1, 4, 4),
        [(1, 1, 2, 2)],
        id="avgpool2d-divisor-override",
    ),
    # (7 - 2 - 1)//2 + 1 = 3
    case("AvgPool1d", {"kernel_size": 3, "stride": 2}, (2, 3, 7), [(2, 3, 3)], id="avgpool1d"),
    case("AvgPool3d", {"kernel_size": 2}, (1, 1, 4, 4, 4), [(1, 1, 2, 2, 2)], id="avgpool3d"),
    # --- Adaptive -----------------------------------------------------------------------
    # AlexNet: AdaptiveAvgPool2d((6, 6)) on 13x13
    case("AdaptiveAvgPool2d", {"output_size": [6, 6]}, (1, 256, 13, 13), [(1, 256, 6, 6)], id="alexnet-6x6"),
    case("AdaptiveAvgPool2d", {"output_size": 1}, (1, 512, 7, 7), [(1, 512, 1, 1)], id="global"),
    # None keeps that axis' input size
    case("AdaptiveAvgPool2d", {"output_size": [None, 7]}, (1, 3, 10, 20), [(1, 3, 10, 7)], id="none-first"),
    case("AdaptiveAvgPool2d", {"output_size": [5, None]}, (1, 3, 10, 20), [(1, 3, 5, 20)], id="none-second"),
    # adaptive pooling can also enlarge
    case("AdaptiveAvgPool2d", {"output_size": 10}, (1, 3, 5, 5), [(1, 3, 10, 10)], id="enlarges"),
    case("AdaptiveAvgPool2d", {"output_size": 3}, (3, 9, 9), [(3, 3, 3)], id="adaptive-unbatched"),
    case("AdaptiveAvgPool1d", {"output_size": 4}, (1, 2, 10), [(1, 2, 4)], id="adaptive-avg1d"),
    case("AdaptiveAvgPool3d", {"output_size": 1}, (1, 2, 4, 5, 6), [(1, 2, 1, 1, 1)], id="adaptive-avg3d"),
    case(
        "AdaptiveAvgPool3d", {"output_size": [2, None, 3]}, (1, 2, 4, 5, 6), [(1, 2, 2, 5, 3)], id="adaptive-avg3d-none"
    ),
    case("AdaptiveMaxPool1d", {"output_size": 1}, (2, 8, 16), [(2, 8, 1)], id="adaptive-max1d"),
    case("AdaptiveMaxPool2d", {"output_size": [2, 3]}, (1, 4, 8, 9), [(1, 4, 2, 3)], id="adaptive-max2d"),
    case(
        "AdaptiveMaxPool2d",
        {"output_size": 1, "return_indices": True},
        (1, 4, 8, 8),
        [(1, 4, 1, 1), (1, 4, 1, 1)],
        id="adaptive-max2d-indices",
    ),
    case("AdaptiveMaxPool3d", {"output_size": [None, 2, 2]}, (1, 4, 3, 8, 8), [(1, 4, 3, 2, 2)], id="adaptive-max3d"),
]


# kinds whose output shape, params, buffers and MACs are checked here (see test_layers_registry)
FORMULA_KINDS = {p.values[0] for p in CASES}


@pytest.mark.parametrize("kind, args, shape, outs", CASES)
def test_pool_formulas(kind, args, shape, outs):
    result = run(kind, args, shape)
    assert result.shapes == outs
    assert (result.params, result.buffers, result.macs) == (0, 0, 0)


SHAPE_ERRORS = [
    # PyTorch: pad should be at most half of kernel size (k // 2), checked against the
    # kernel itself even when dilated
    pytest.param("MaxPool2d", {"kernel_size": 3, "padding": 2}, (1, 1, 10, 10), "padding", id="max2d-pad-2-k3"),
    pytest.param("MaxPool2d", {"kernel_size": 2, "padding": 2}, (1, 1, 10, 10), "padding", id="max2d-pad-2-k2"),
    pytest.param(
        "MaxPool2d",
        {"kernel_size": 3, "padding": 2, "dilation": 2},
        (1, 1, 10, 10),
        "padding",
        id="max2d-pad-vs-undilated-kernel",
    ),
    pytest.param(
        "MaxPool2d", {"kernel_size": [3, 2], "padding": [1, 2]}, (1, 1, 10, 10), "padding", id="max2d-pad-per-axis"
    ),
    pytest.param("MaxPool1d", {"kernel_size": 2, "padding": 2}, (1, 1, 10), "padding", id="max1d-pad"),
    pytest.param("MaxPool3d", {"kernel_size": 3, "padding": 2}, (1, 1, 10, 10, 10), "padding", id="max3d-pad"),
    pytest.param("AvgPool2d", {"kernel_size": 3, "padding": 2}, (1, 1, 10, 10), "padding", id="avg2d-pad"),
    pytest.param("AvgPool1d", {"kernel_size": 3, "padding": 2}, (1, 1, 10), "padding", id="avg1d-pad"),
    pytest.param("AvgPool3d", {"kernel_size": 3, "padding": 2}, (1, 1, 10, 10, 10), "padding", id="avg3d-pad"),
    # 2 - (3-1) - 1 < 0: the window does not fit
    pytest.param("MaxPool2d", {"kernel_size": 3}, (1, 1, 2, 2), "larger", id="window-too-large"),
    pytest.param("MaxPool2d", {"kernel_size": 2}, (1, 8), "4-D", id="max2d-rank-2"),
    pytest.param("AvgPool1d", {"kernel_size": 2}, (1, 1, 8, 8), "3-D", id="avg1d-rank-4"),
    pytest.param("AdaptiveAvgPool2d", {"output_size": 1}, (8,), "4-D", id="adaptive-rank-1"),
    pytest.param("AdaptiveMaxPool3d", {"output_size": 1}, (1, 8, 8), "5-D", id="adaptive3d-rank-3"),
]


@pytest.mark.parametrize("kind, args, shape, message", SHAPE_ERRORS)
def test_pool_shape_errors(kind, args, shape, message):
    with pytest.raises(ShapeError, match=message):
        run(kind, args, shape)


BAD_ARGUMENTS = [
    pytest.param("MaxPool2d", {}, id="missing-kernel"),
    pytest.param("MaxPool2d", {"kernel_size": 0}, id="zero-kernel"),
    pytest.param("MaxPool2d", {"kernel_size": 2, "stride": 0}, id="zero-stride"),
    pytest.param("MaxPool2d", {"kernel_size": 2, "padding": -1}, id="negative-padding"),
    pytest.param("MaxPool2d", {"kernel_size": [2, 2, 2]}, id="kernel-3-values-for-2d"),
    pytest.param("MaxPool2d", {"kernel_size": 2, "ceil_mode": "yes"}, id="string-ceil-mode"),
    pytest.param("MaxPool2d", {"kernel_size": 2, "count_include_pad": True}, id="max-has-no-count-include-pad"),
    pytest.param("AvgPool2d", {"kernel_size": 2, "dilation": 2}, id="avg-has-no-dilation"),
    pytest.param("AvgPool2d", {"kernel_size": 2, "return_indices": True}, id="avg-has-no-return-indices"),
    pytest.param("AvgPool2d", {"kernel_size": 2, "divisor_override": 0}, id="zero-divisor-override"),
    pytest.param("AdaptiveAvgPool2d", {}, id="missing-output-size"),
    pytest.param("AdaptiveAvgPool2d", {"output_size": 0}, id="zero-output-size"),
    pytest.param("AdaptiveAvgPool2d", {"output_size": [1, 2, 3]}, id="output-size-3-values-for-2d"),
    pytest.param("AdaptiveAvgPool2d", {"output_size": 1, "return_indices": True}, id="avg-adaptive-no-indices"),
]


@pytest.mark.parametrize("kind, args", BAD_ARGUMENTS)
def test_pool_bad_arguments(kind, args):
    with pytest.raises(ValidationError):
        REGISTRY[kind].model_validate(args)


# --- receptive field ----------------------------------------------------------------------
# k_eff = d(k-1)+1; r += (k_eff-1)*S; P += p*S; S *= s   (from r=1, S=1, P=0)

RF_STEPS = [
    # k2 s2: r = 2, S = 2
    pytest.param("MaxPool2d", {"kernel_size": 2}, (1, 1, 8, 8), [(2, 2, 0)] * 2, id="k2"),
    # k3 s2 p1: r = 3, S = 2, P = 1
    pytest.param(
        "MaxPool2d", {"kernel_size": 3, "stride": 2, "padding": 1}, (1, 1, 8, 8), [(3, 2, 1)] * 2, id="k3-s2-p1"
    ),
    # dilated k3 d2 s1: k_eff = 5, r = 5
    pytest.param("MaxPool1d", {"kernel_size": 3, "stride": 1, "dilation": 2}, (1, 1, 10), [(5, 1, 0)], id="dilated"),
    pytest.param(
        "AvgPool2d",
        {"kernel_size": [2, 3], "stride": [2, 1], "padding": [1, 1]},
        (1, 1, 8, 8),
        [(2, 2, 1), (3, 1, 1)],
        id="avg-per-axis",
    ),
    # adaptive with a whole number of windows: window = stride = 8 / 2 = 4
    pytest.param("AdaptiveAvgPool2d", {"output_size": 2}, (1, 1, 8, 8), [(4, 4, 0)] * 2, id="adaptive-exact"),
]


@pytest.mark.parametrize("kind, args, shape, axes", RF_STEPS)
def test_pool_receptive_field_step(kind, args, shape, axes):
    layer = REGISTRY[kind].model_validate(args)
    result = layer.infer([shape])
    (rf,) = layer.receptive_field([RF.for_input(shape)], [shape], result.shapes)
    assert rf.kind == "spatial"
    assert [(a.size, a.stride, a.padding) for a in rf.axes] == axes


def test_pool_rf_follows_earlier_stride():
    # after a k3 s2 p1 conv (r 3, S 2, P 1), pooling k2 s2: r = 3 + (2-1)*2 = 5, S = 4, P = 1 + 0*2 = 1
    conv = REGISTRY["Conv2d"].model_validate({"out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1})
    pool = REGISTRY["MaxPool2d"].model_validate({"kernel_size": 2})
    shape = (1, 3, 32, 32)
    mid = conv.infer([shape]).shapes
    (rf,) = conv.receptive_field([RF.for_input(shape)], [shape], mid)
    out = pool.infer(mid).shapes
    (rf,) = pool.receptive_field([rf], mid, out)
    assert [(a.size, a.stride, a.padding) for a in rf.axes] == [(5, 4, 1)] * 2


@pytest.mark.parametrize("kind", ["AdaptiveAvgPool2d", "AdaptiveMaxPool2d"])
def test_adaptive_pool_to_one_is_global(kind):
    layer = REGISTRY[kind].model_validate({"output_size": 1})
    shape = (1, 512, 7, 7)
    (rf,) = layer.receptive_field([RF.for_input(shape)], [shape], layer.infer([shape]).shapes)
    assert rf.kind == "global"


def test_adaptive_pool_keeping_spatial_extent_is_not_global():
    layer = REGISTRY["AdaptiveAvgPool2d"].model_validate({"output_size": [1, None]})
    shape = (1, 8, 7, 7)
    (rf,) = layer.receptive_field([RF.for_input(shape)], [shape], layer.infer([shape]).shapes)
    assert rf.kind == "spatial"
    # H: one window of 7 -> r 7, S 7; W: unchanged (window 1, stride 1)
    assert [(a.size, a.stride, a.padding) for a in rf.axes] == [(7, 7, 0), (1, 1, 0)]


def test_return_indices_gives_both_outputs_a_field():
    layer = REGISTRY["MaxPool2d"].model_validate({"kernel_size": 2, "return_indices": True})
    shape = (1, 1, 8, 8)
    rfs = layer.receptive_field([RF.for_input(shape)], [shape], layer.infer([shape]).shapes)
    assert len(rfs) == 2 and layer.num_outputs() == 2
    assert all([(a.size, a.stride) for a in rf.axes] == [(2, 2)] * 2 for rf in rfs)
