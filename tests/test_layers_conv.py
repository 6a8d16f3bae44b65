"""Convolution formulas: Conv1d/2d/3d and ConvTranspose1d/2d/3d.

Every expected number is a hand calculation from PyTorch's documented formulas:

  Conv:      out = floor((I + 2P - D(K-1) - 1) / S) + 1
             params = C_out * (C_in/groups) * prod(K) (+ C_out bias)
             MACs = output elements * (C_in/groups) * prod(K)        (torchvision)
  ConvT:     out = (I-1)*S - 2P + D(K-1) + output_padding + 1
             params = C_in * (C_out/groups) * prod(K) (+ C_out bias)
             MACs = input elements * (C_out/groups) * prod(K)         (torchvision)
"""

from __future__ import annotations

import importlib.util
import itertools

import pytest
from conftest import infer as run
from pydantic import ValidationError

from cnnshape.errors import ShapeError
from cnnshape.layers import REGISTRY
from cnnshape.layers.base import RF


def case(kind, args, shape, out, params, macs, id):
    return pytest.param(kind, args, shape, out, params, macs, id=id)


CASES = [
    # --- Conv2d -------------------------------------------------------------------------
    # seed: 40x50 input, 3x3 kernel, padding 1, stride 1 -> (40-3+2)/1+1 = 40, (50-3+2)/1+1 = 50
    case(
        "Conv2d",
        {"out_channels": 8, "kernel_size": 3, "padding": 1},
        (1, 3, 40, 50),
        (1, 8, (40 + 2 * 1 - 1 * (3 - 1) - 1) // 1 + 1, (50 + 2 * 1 - 1 * (3 - 1) - 1) // 1 + 1),
        8 * 3 * 3 * 3 + 8,  # = 224
        (1 * 8 * 40 * 50) * 3 * (3 * 3),  # = 432,000
        id="seed-40x50-k3-p1",
    ),
    # seed: 3x3 kernel, 128 in, 64 out, no bias -> 3*3*128*64 = 73,728 weights
    case(
        "Conv2d",
        {"out_channels": 64, "kernel_size": 3, "padding": 1, "bias": False},
        (1, 128, 8, 8),
        (1, 64, 8, 8),
        73_728,  # 3*3*128*64
        (64 * 8 * 8) * 128 * 9,  # = 4,718,592
        id="seed-128to64-k3-nobias",
    ),
    # stride 2: (32 + 2 - 2 - 1)//2 + 1 = 31//2 + 1 = 16; batch 2 counts in MACs
    case(
        "Conv2d",
        {"out_channels": 16, "kernel_size": 3, "stride": 2, "padding": 1},
        (2, 3, 32, 32),
        (2, 16, (32 + 2 * 1 - 1 * (3 - 1) - 1) // 2 + 1, 16),
        16 * 3 * 9 + 16,  # = 448
        (2 * 16 * 16 * 16) * 3 * 9,  # = 8192*27 = 221,184
        id="stride2",
    ),
    # floor: (8 - 2 - 1)/2 = 2.5 -> 2, +1 = 3
    case(
        "Conv2d",
        {"out_channels": 1, "kernel_size": 3, "stride": 2, "bias": False},
        (1, 1, 8, 8),
        (1, 1, 3, 3),
        9,
        9 * 9,
        id="stride2-floors",
    ),
    # stride as a tuple: H (9+2-2-1)//2+1 = 5, W (9+2-2-1)//1+1 = 9
    case(
        "Conv2d",
        {"out_channels": 1, "kernel_size": 3, "stride": [2, 1], "padding": 1},
        (1, 1, 9, 9),
        (1, 1, 5, 9),
        1 * 1 * 9 + 1,
        (5 * 9) * 9,
        id="stride-tuple",
    ),
    # padding tuple, kernel tuple: H (10+2-2-1)+1 = 10, W (20+4-4-1)+1 = 20
    case(
        "Conv2d",
        {"out_channels": 6, "kernel_size": [3, 5], "padding": [1, 2]},
        (1, 4, 10, 20),
        (1, 6, 10, 20),
        6 * 4 * 3 * 5 + 6,  # = 366
        (6 * 10 * 20) * 4 * 15,  # = 72,000
        id="padding-tuple-kernel-tuple",
    ),
    # Inception's asymmetric 1x7: H (17+0-0-1)+1 = 17, W (17+6-6-1)+1 = 17
    case(
        "Conv2d",
        {"out_channels": 192, "kernel_size": [1, 7], "padding": [0, 3], "bias": False},
        (1, 192, 17, 17),
        (1, 192, 17, 17),
        192 * 192 * 1 * 7,  # = 258,048
        (192 * 17 * 17) * 192 * 7,  # = 55,488 * 1,344 = 74,575,872
        id="asymmetric-1x7",
    ),
    # 'same' with dilation 2: total padding D(K-1) = 4, output = input
    case(
        "Conv2d",
        {"out_channels": 4, "kernel_size": 3, "dilation": 2, "padding": "same"},
        (1, 8, 15, 15),
        (1, 4, 15, 15),
        4 * 8 * 9 + 4,
        (4 * 15 * 15) * 8 * 9,
        id="same-dilated",
    ),
    # 'same' with an even kernel: total padding 3 (1 left, 2 right), output = input
    case(
        "Conv2d",
        {"out_channels": 3, "kernel_size": 4, "padding": "same"},
        (1, 2, 9, 9),
        (1, 3, 9, 9),
        3 * 2 * 16 + 3,
        (3 * 9 * 9) * 2 * 16,
        id="same-even-kernel",
    ),
    # 'valid' = no padding: 10 - 3 + 1 = 8
    case(
        "Conv2d",
        {"out_channels": 1, "kernel_size": 3, "padding": "valid"},
        (1, 1, 10, 10),
        (1, 1, 8, 8),
        1 * 1 * 9 + 1,
        64 * 9,
        id="valid",
    ),
    # dilation 2, no padding: (10 - 2*(3-1) - 1)//1 + 1 = 6
    case(
        "Conv2d",
        {"out_channels": 2, "kernel_size": 3, "dilation": 2},
        (1, 2, 10, 10),
        (1, 2, (10 + 0 - 2 * (3 - 1) - 1) // 1 + 1, 6),
        2 * 2 * 9 + 2,
        (2 * 6 * 6) * 2 * 9,
        id="dilation2",
    ),
    # groups 2: each filter sees 4/2 = 2 channels
    case(
        "Conv2d",
        {"out_channels": 8, "kernel_size": 3, "padding": 1, "groups": 2},
        (1, 4, 6, 6),
        (1, 8, 6, 6),
        8 * (4 // 2) * 9 + 8,  # = 152
        (8 * 6 * 6) * (4 // 2) * 9,  # = 5,184
        id="groups2",
    ),
    # MobileNet depthwise: groups = C, stride 2: (112+2-2-1)//2+1 = 56
    case(
        "Conv2d",
        {"out_channels": 32, "kernel_size": 3, "stride": 2, "padding": 1, "groups": 32, "bias": False},
        (1, 32, 112, 112),
        (1, 32, 56, 56),
        32 * 1 * 9,  # = 288
        (32 * 56 * 56) * 1 * 9,  # = 903,168
        id="depthwise",
    ),
    # depthwise with channel multiplier 2
    case(
        "Conv2d",
        {"out_channels": 16, "kernel_size": 3, "groups": 8},
        (1, 8, 5, 5),
        (1, 16, 3, 3),
        16 * 1 * 9 + 16,
        (16 * 3 * 3) * 1 * 9,
        id="depthwise-multiplier",
    ),
    # kernel as large as the input: 5 - 5 + 1 = 1
    case(
        "Conv2d",
        {"out_channels": 10, "kernel_size": 5},
        (1, 3, 5, 5),
        (1, 10, 1, 1),
        10 * 3 * 25 + 10,
        10 * 3 * 25,
        id="kernel-equals-input",
    ),
    # unbatched (C, H, W) input, as PyTorch accepts
    case(
        "Conv2d",
        {"out_channels": 2, "kernel_size": 3},
        (3, 7, 7),
        (2, 5, 5),
        2 * 3 * 9 + 2,
        (2 * 5 * 5) * 3 * 9,
        id="unbatched",
    ),
    # padding_mode changes values, not shapes or counts
    case(
        "Conv2d",
        {"out_channels": 4, "kernel_size": 3, "padding": 1, "padding_mode": "reflect"},
        (1, 3, 8, 8),
        (1, 4, 8, 8),
        4 * 3 * 9 + 4,
        (4 * 8 * 8) * 3 * 9,
        id="padding-mode-reflect",
    ),
    # declared in_channels that matches is accepted
    case(
        "Conv2d",
        {"in_channels": 3, "out_channels": 4, "kernel_size": 1},
        (1, 3, 2, 2),
        (1, 4, 2, 2),
        4 * 3 + 4,
        (4 * 2 * 2) * 3,
        id="in-channels-declared",
    ),
    # --- Conv1d -------------------------------------------------------------------------
    case(
        "Conv1d",
        {"out_channels": 32, "kernel_size": 3, "padding": 1},
        (1, 16, 100),
        (1, 32, 100),
        32 * 16 * 3 + 32,
        (32 * 100) * 16 * 3,
        id="conv1d",
    ),
    # L = (50 + 0 - 2*(5-1) - 1)//2 + 1 = 41//2 + 1 = 21
    case(
        "Conv1d",
        {"out_channels": 3, "kernel_size": 5, "stride": 2, "dilation": 2, "bias": False},
        (4, 2, 50),
        (4, 3, 21),
        3 * 2 * 5,
        (4 * 3 * 21) * 2 * 5,
        id="conv1d-stride-dilation",
    ),
    case(
        "Conv1d",
        {"out_channels": 2, "kernel_size": 3},
        (3, 10),
        (2, 8),
        2 * 3 * 3 + 2,
        (2 * 8) * 3 * 3,
        id="conv1d-unbatched",
    ),
    # --- Conv3d -------------------------------------------------------------------------
    # D (16+2-2-1)//1+1 = 16; H, W (112+6-6-1)//2+1 = 56
    case(
        "Conv3d",
        {"out_channels": 64, "kernel_size": [3, 7, 7], "stride": [1, 2, 2], "padding": [1, 3, 3]},
        (1, 3, 16, 112, 112),
        (1, 64, 16, 56, 56),
        64 * 3 * 3 * 7 * 7 + 64,  # = 28,288
        (64 * 16 * 56 * 56) * 3 * (3 * 7 * 7),  # = 3,211,264 * 441 = 1,416,167,424
        id="conv3d",
    ),
    case(
        "Conv3d",
        {"out_channels": 2, "kernel_size": 3, "padding": "same", "bias": False},
        (2, 4, 5, 6, 7),
        (2, 2, 5, 6, 7),
        2 * 4 * 27,
        (2 * 2 * 5 * 6 * 7) * 4 * 27,
        id="conv3d-same",
    ),
    # --- ConvTranspose2d ----------------------------------------------------------------
    # U-Net up-conv: (14-1)*2 - 0 + 1*(2-1) + 0 + 1 = 28
    case(
        "ConvTranspose2d",
        {"out_channels": 128, "kernel_size": 2, "stride": 2},
        (1, 256, 14, 14),
        (1, 128, (14 - 1) * 2 - 2 * 0 + 1 * (2 - 1) + 0 + 1, 28),
        256 * 128 * 2 * 2 + 128,  # = 131,200
        (1 * 256 * 14 * 14) * 128 * 4,  # = 50,176 * 512 = 25,690,112
        id="convT-unet",
    ),
    # (5-1)*2 - 2*1 + (3-1) + 1 + 1 = 10
    case(
        "ConvTranspose2d",
        {"out_channels": 2, "kernel_size": 3, "stride": 2, "padding": 1, "output_padding": 1},
        (1, 4, 5, 5),
        (1, 2, 10, 10),
        4 * 2 * 9 + 2,
        (4 * 5 * 5) * 2 * 9,
        id="convT-output-padding",
    ),
    # DCGAN: (4-1)*2 - 2*1 + (4-1) + 0 + 1 = 8
    case(
        "ConvTranspose2d",
        {"out_channels": 4, "kernel_size": 4, "stride": 2, "padding": 1, "bias": False},
        (1, 8, 4, 4),
        (1, 4, 8, 8),
        8 * 4 * 16,
        (8 * 4 * 4) * 4 * 16,
        id="convT-dcgan",
    ),
    # groups 2: weight (C_in, C_out/groups, K, K); (3-1)*1 + (3-1) + 1 = 5
    case(
        "ConvTranspose2d",
        {"out_channels": 6, "kernel_size": 3, "groups": 2},
        (1, 4, 3, 3),
        (1, 6, 5, 5),
        4 * (6 // 2) * 9 + 6,  # = 114
        (4 * 3 * 3) * (6 // 2) * 9,  # = 972
        id="convT-groups",
    ),
    # output_padding 1 is allowed with stride 1 because dilation 2 > 1:
    # (4-1)*1 - 0 + 2*(3-1) + 1 + 1 = 9
    case(
        "ConvTranspose2d",
        {"out_channels": 1, "kernel_size": 3, "dilation": 2, "output_padding": 1, "bias": False},
        (1, 1, 4, 4),
        (1, 1, 9, 9),
        9,
        16 * 9,
        id="convT-output-padding-below-dilation",
    ),
    # (5-1)*1 - 0 + 3*(3-1) + 2 + 1 = 13
    case(
        "ConvTranspose2d",
        {"out_channels": 1, "kernel_size": 3, "dilation": 3, "output_padding": 2, "bias": False},
        (1, 1, 5, 5),
        (1, 1, 13, 13),
        9,
        25 * 9,
        id="convT-output-padding-2-dilation-3",
    ),
    # per-axis: H (3-1)*2 + (3-1) + 1 + 1 = 8, W (3-1)*1 + (3-1) + 0 + 1 = 5
    case(
        "ConvTranspose2d",
        {"out_channels": 1, "kernel_size": 3, "stride": [2, 1], "output_padding": [1, 0]},
        (1, 1, 3, 3),
        (1, 1, 8, 5),
        9 + 1,
        9 * 9,
        id="convT-per-axis",
    ),
    # --- ConvTranspose1d / 3d -----------------------------------------------------------
    # (10-1)*2 - 2*1 + (4-1) + 0 + 1 = 20
    case(
        "ConvTranspose1d",
        {"out_channels": 4, "kernel_size": 4, "stride": 2, "padding": 1},
        (1, 8, 10),
        (1, 4, 20),
        8 * 4 * 4 + 4,
        (8 * 10) * 4 * 4,
        id="convT1d",
    ),
    # D (2-1)*2 + 1 + 1 = 4, H (3-1)*2 + 2 = 6, W (4-1)*2 + 2 = 8
    case(
        "ConvTranspose3d",
        {"out_channels": 2, "kernel_size": 2, "stride": 2},
        (1, 4, 2, 3, 4),
        (1, 2, 4, 6, 8),
        4 * 2 * 8 + 2,
        (4 * 2 * 3 * 4) * 2 * 8,
        id="convT3d",
    ),
]


# kinds whose output shape, params, buffers and MACs are checked here (see test_layers_registry)
FORMULA_KINDS = {p.values[0] for p in CASES}


@pytest.mark.parametrize("kind, args, shape, out, params, macs", CASES)
def test_conv_formulas(kind, args, shape, out, params, macs):
    result = run(kind, args, shape)
    assert result.shapes == [out]
    assert result.params == params
    assert result.buffers == 0
    assert result.macs == macs


SHAPE_ERRORS = [
    pytest.param(
        "Conv2d",
        {"in_channels": 4, "out_channels": 8, "kernel_size": 3},
        (1, 3, 8, 8),
        "in_channels=4",
        id="in-channels-mismatch",
    ),
    pytest.param(
        "ConvTranspose2d",
        {"in_channels": 4, "out_channels": 8, "kernel_size": 2},
        (1, 3, 8, 8),
        "in_channels=4",
        id="convT-in-channels-mismatch",
    ),
    pytest.param(
        "Conv2d",
        {"out_channels": 4, "kernel_size": 3, "groups": 2},
        (1, 3, 8, 8),
        "groups=2",
        id="in-not-divisible-by-groups",
    ),
    pytest.param(
        "Conv2d",
        {"out_channels": 5, "kernel_size": 3, "groups": 2},
        (1, 4, 8, 8),
        "groups=2",
        id="out-not-divisible-by-groups",
    ),
    pytest.param(
        "ConvTranspose2d",
        {"out_channels": 5, "kernel_size": 3, "groups": 2},
        (1, 4, 8, 8),
        "groups=2",
        id="convT-out-not-divisible-by-groups",
    ),
    # 3 + 0 - (5-1) - 1 < 0: the kernel does not fit
    pytest.param("Conv2d", {"out_channels": 1, "kernel_size": 5}, (1, 1, 3, 3), "larger", id="kernel-too-large"),
    # dilation 3 makes a 3-tap kernel span 7 > 6
    pytest.param(
        "Conv1d",
        {"out_channels": 1, "kernel_size": 3, "dilation": 3},
        (1, 1, 6),
        "larger",
        id="dilated-kernel-too-large",
    ),
    pytest.param("Conv2d", {"out_channels": 1, "kernel_size": 3}, (3, 8), "4-D", id="conv2d-rank-2"),
    pytest.param("Conv2d", {"out_channels": 1, "kernel_size": 3}, (1, 1, 8, 8, 8), "4-D", id="conv2d-rank-5"),
    pytest.param("Conv1d", {"out_channels": 1, "kernel_size": 3}, (1, 1, 8, 8), "3-D", id="conv1d-rank-4"),
    pytest.param("Conv3d", {"out_channels": 1, "kernel_size": 3}, (1, 8, 8), "5-D", id="conv3d-rank-3"),
    # PyTorch: output padding must be smaller than either stride or dilation
    pytest.param(
        "ConvTranspose2d",
        {"out_channels": 1, "kernel_size": 3, "stride": 2, "output_padding": 2},
        (1, 1, 5, 5),
        "output_padding",
        id="output-padding-equals-stride",
    ),
    pytest.param(
        "ConvTranspose2d",
        {"out_channels": 1, "kernel_size": 3, "output_padding": 1},
        (1, 1, 5, 5),
        "output_padding",
        id="output-padding-stride1-dilation1",
    ),
    pytest.param(
        "ConvTranspose1d",
        {"out_channels": 1, "kernel_size": 3, "dilation": 2, "output_padding": 2},
        (1, 1, 5),
        "output_padding",
        id="output-padding-equals-dilation",
    ),
    pytest.param(
        "ConvTranspose2d",
        {"out_channels": 1, "kernel_size": 3, "stride": [2, 1], "output_padding": [1, 1]},
        (1, 1, 5, 5),
        "output_padding",
        id="output-padding-per-axis",
    ),
    # (1-1)*1 - 2*1 + (1-1) + 0 + 1 = -1
    pytest.param(
        "ConvTranspose2d",
        {"out_channels": 1, "kernel_size": 1, "padding": 1},
        (1, 1, 1, 1),
        "shrinks",
        id="convT-negative-output",
    ),
]


@pytest.mark.parametrize("kind, args, shape, message", SHAPE_ERRORS)
def test_conv_shape_errors(kind, args, shape, message):
    with pytest.raises(ShapeError, match=message):
        run(kind, args, shape)


BAD_ARGUMENTS = [
    pytest.param("Conv2d", {"kernel_size": 3}, id="missing-out-channels"),
    pytest.param("Conv2d", {"out_channels": 8}, id="missing-kernel-size"),
    pytest.param("Conv2d", {"out_channels": 0, "kernel_size": 3}, id="zero-out-channels"),
    pytest.param("Conv2d", {"out_channels": 8, "kernel_size": 0}, id="zero-kernel"),
    pytest.param("Conv2d", {"out_channels": 8, "kernel_size": 3, "stride": 0}, id="zero-stride"),
    pytest.param("Conv2d", {"out_channels": 8, "kernel_size": 3, "dilation": 0}, id="zero-dilation"),
    pytest.param("Conv2d", {"out_channels": 8, "kernel_size": 3, "groups": 0}, id="zero-groups"),
    pytest.param("Conv2d", {"out_channels": 8, "kernel_size": 3, "padding": -1}, id="negative-padding"),
    pytest.param("Conv2d", {"out_channels": 8, "kernel_size": 3, "padding": "full"}, id="padding-unknown-word"),
    pytest.param("Conv2d", {"out_channels": 8, "kernel_size": [3, 3, 3]}, id="kernel-3-values-for-2d"),
    pytest.param("Conv2d", {"out_channels": 8, "kernel_size": 3, "padding": [1, 1, 1]}, id="padding-3-values-for-2d"),
    pytest.param("Conv1d", {"out_channels": 8, "kernel_size": [3, 3]}, id="kernel-2-values-for-1d"),
    pytest.param("Conv2d", {"out_channels": 8, "kernel_size": 3.0}, id="float-kernel"),
    pytest.param("Conv2d", {"out_channels": 8, "kernel_size": 3, "bias": "yes"}, id="string-bias"),
    pytest.param("Conv2d", {"out_channels": 8, "kernel_size": 3, "padding_mode": "mirror"}, id="padding-mode"),
    pytest.param("Conv2d", {"out_channels": 8, "kernel": 3}, id="unknown-argument"),
    pytest.param("Conv2d", {"out_channels": 8, "kernel_size": 3, "in_channels": 0}, id="zero-in-channels"),
    # PyTorch (at construction): "padding='same' is not supported for strided convolutions"
    pytest.param(
        "Conv2d", {"out_channels": 1, "kernel_size": 3, "stride": 2, "padding": "same"}, id="same-with-stride"
    ),
    pytest.param(
        "Conv1d", {"out_channels": 1, "kernel_size": 3, "stride": [2], "padding": "same"}, id="same-with-stride-1d"
    ),
    # PyTorch's ConvTranspose has no 'same' padding and only zeros padding_mode
    pytest.param("ConvTranspose2d", {"out_channels": 8, "kernel_size": 3, "padding": "same"}, id="convT-same"),
    pytest.param(
        "ConvTranspose2d", {"out_channels": 8, "kernel_size": 3, "padding_mode": "reflect"}, id="convT-reflect"
    ),
    pytest.param(
        "ConvTranspose2d",
        {"out_channels": 8, "kernel_size": 3, "output_padding": -1},
        id="convT-negative-output-padding",
    ),
    pytest.param(
        "ConvTranspose2d",
        {"out_channels": 8, "kernel_size": 3, "output_padding": [1, 1, 1]},
        id="convT-output-padding-3-values",
    ),
]


@pytest.mark.parametrize("kind, args", BAD_ARGUMENTS)
def test_conv_bad_arguments(kind, args):
    with pytest.raises(ValidationError):
        REGISTRY[kind].model_validate(args)


# --- receptive field ----------------------------------------------------------------------
# Recurrence per axis from r=1, S=1, P=0: k_eff = d(k-1)+1; r += (k_eff-1)*S; P += p*S; S *= s.

RF_STEPS = [
    # k3 p1: r = 1 + (3-1)*1 = 3, P = 0 + 1*1 = 1
    pytest.param(
        "Conv2d", {"out_channels": 1, "kernel_size": 3, "padding": 1}, (1, 1, 8, 8), [(3, 1, 1), (3, 1, 1)], id="k3-p1"
    ),
    # ResNet stem k7 s2 p3: r = 7, S = 2, P = 3
    pytest.param(
        "Conv2d",
        {"out_channels": 1, "kernel_size": 7, "stride": 2, "padding": 3},
        (1, 1, 32, 32),
        [(7, 2, 3), (7, 2, 3)],
        id="k7-s2-p3",
    ),
    # dilation 2: k_eff = 2*(3-1)+1 = 5, r = 5, P = 2
    pytest.param(
        "Conv2d",
        {"out_channels": 1, "kernel_size": 3, "dilation": 2, "padding": 2},
        (1, 1, 8, 8),
        [(5, 1, 2), (5, 1, 2)],
        id="dilated",
    ),
    # 1x7: H untouched, W r = 7, P = 3
    pytest.param(
        "Conv2d",
        {"out_channels": 1, "kernel_size": [1, 7], "padding": [0, 3]},
        (1, 1, 8, 8),
        [(1, 1, 0), (7, 1, 3)],
        id="asymmetric",
    ),
    # 'same' k4: total padding 3, PyTorch puts 3//2 = 1 on the left
    pytest.param(
        "Conv2d",
        {"out_channels": 1, "kernel_size": 4, "padding": "same"},
        (1, 1, 8, 8),
        [(4, 1, 1), (4, 1, 1)],
        id="same-even-kernel",
    ),
    # 'same' k5 d2: k_eff = 9, left padding 8//2 = 4
    pytest.param(
        "Conv1d",
        {"out_channels": 1, "kernel_size": 5, "dilation": 2, "padding": "same"},
        (1, 1, 20),
        [(9, 1, 4)],
        id="conv1d-same-dilated",
    ),
    pytest.param(
        "Conv3d",
        {"out_channels": 1, "kernel_size": [3, 5, 1], "stride": [1, 2, 1], "padding": [1, 2, 0]},
        (1, 1, 8, 8, 8),
        [(3, 1, 1), (5, 2, 2), (1, 1, 0)],
        id="conv3d",
    ),
]


@pytest.mark.parametrize("kind, args, shape, axes", RF_STEPS)
def test_conv_receptive_field_step(kind, args, shape, axes):
    layer = REGISTRY[kind].model_validate(args)
    result = layer.infer([shape])
    (rf,) = layer.receptive_field([RF.for_input(shape)], [shape], result.shapes)
    assert rf.kind == "spatial"
    assert [(a.size, a.stride, a.padding) for a in rf.axes] == axes
    assert all(a.exact for a in rf.axes)


def walk_rf(layers: list[tuple[str, dict]], shape: tuple[int, ...]) -> RF:
    rf = RF.for_input(shape)
    for kind, args in layers:
        layer = REGISTRY[kind].model_validate(args)
        result = layer.infer([shape])
        (rf,) = layer.receptive_field([rf], [shape], result.shapes)[:1]
        shape = result.shapes[0]
    return rf


def test_rf_chains_conv_then_pool():
    # ResNet stem: conv k7 s2 p3 (r 7, S 2, P 3), then max pool k3 s2 p1:
    # r = 7 + (3-1)*2 = 11, P = 3 + 1*2 = 5, S = 2*2 = 4
    rf = walk_rf(
        [
            ("Conv2d", {"out_channels": 64, "kernel_size": 7, "stride": 2, "padding": 3}),
            ("MaxPool2d", {"kernel_size": 3, "stride": 2, "padding": 1}),
        ],
        (1, 3, 224, 224),
    )
    assert [(a.size, a.stride, a.padding) for a in rf.axes] == [(11, 4, 5)] * 2


def test_rf_alexnet_features_published():
    # torchvision AlexNet after its last MaxPool: 195, stride 32, padding 66 (published)
    def conv(c: int, k: int, s: int = 1, p: int = 0) -> tuple:
        return ("Conv2d", {"out_channels": c, "kernel_size": k, "stride": s, "padding": p})

    pool = ("MaxPool2d", {"kernel_size": 3, "stride": 2})
    rf = walk_rf(
        [
            conv(64, 11, 4, 2),
            pool,
            conv(192, 5, 1, 2),
            pool,
            conv(384, 3, 1, 1),
            conv(256, 3, 1, 1),
            conv(256, 3, 1, 1),
            pool,
        ],
        (1, 3, 224, 224),
    )
    assert [(a.size, a.stride, a.padding) for a in rf.axes] == [(195, 32, 66)] * 2


def test_rf_vgg16_pool5_published():
    # VGG16 after pool5: 212, stride 32, padding 90 (published)
    layers = []
    for convs, channels in [(2, 64), (2, 128), (3, 256), (3, 512), (3, 512)]:
        layers += [("Conv2d", {"out_channels": channels, "kernel_size": 3, "padding": 1})] * convs
        layers.append(("MaxPool2d", {"kernel_size": 2, "stride": 2}))
    rf = walk_rf(layers, (1, 3, 224, 224))
    assert [(a.size, a.stride, a.padding) for a in rf.axes] == [(212, 32, 90)] * 2


# --- padding_mode limits ------------------------------------------------------------------
# PyTorch pads (F.pad) before it convolves, and checks each side of each axis on its own
# (torch 2.13, nn.Conv*d(..., padding_mode=...) on zeros inputs; _meta_registrations.py):
#   reflect:   padding < I      "Padding size should be less than the corresponding input dimension"
#   circular:  padding <= I     "Padding value causes wrapping around more than once."
#   replicate, zeros: no limit
# With padding='same' the per-side amounts are left = D(K-1)//2, right = D(K-1) - left, and the
# larger (right) side is the one that must obey the rule.

MODE_PADDING_OK = [
    # reflect, 4x4: largest padding is 4-1 = 3; out (4 + 2*3 - (3-1) - 1)//1 + 1 = 8
    pytest.param(
        "Conv2d",
        {"out_channels": 4, "kernel_size": 3, "padding": 3, "padding_mode": "reflect"},
        (1, 3, 4, 4),
        (1, 4, 8, 8),
        id="reflect-2d-largest",
    ),
    # reflect, L 5: largest padding 5-1 = 4; out 5 + 2*4 - 2 = 11
    pytest.param(
        "Conv1d",
        {"out_channels": 2, "kernel_size": 3, "padding": 4, "padding_mode": "reflect"},
        (1, 2, 5),
        (1, 2, 11),
        id="reflect-1d-largest",
    ),
    # reflect, a 1-wide input can only take padding 0
    pytest.param(
        "Conv2d",
        {"out_channels": 1, "kernel_size": 1, "padding": 0, "padding_mode": "reflect"},
        (1, 1, 1, 1),
        (1, 1, 1, 1),
        id="reflect-1-wide-padding-0",
    ),
    # reflect per axis, DxHxW 2x3x4: padding [1, 2, 3] = [2-1, 3-1, 4-1]; k1: out I + 2P = 4, 7, 10
    pytest.param(
        "Conv3d",
        {"out_channels": 1, "kernel_size": 1, "padding": [1, 2, 3], "padding_mode": "reflect"},
        (1, 1, 2, 3, 4),
        (1, 1, 4, 7, 10),
        id="reflect-3d-per-axis-largest",
    ),
    # circular, 4x4: largest padding is 4; out 4 + 2*4 - 2 = 10
    pytest.param(
        "Conv2d",
        {"out_channels": 4, "kernel_size": 3, "padding": 4, "padding_mode": "circular"},
        (1, 3, 4, 4),
        (1, 4, 10, 10),
        id="circular-2d-largest",
    ),
    # circular, unbatched L 5: largest padding 5; out 5 + 2*5 - 2 = 13
    pytest.param(
        "Conv1d",
        {"out_channels": 2, "kernel_size": 3, "padding": 5, "padding_mode": "circular"},
        (3, 5),
        (2, 13),
        id="circular-1d-unbatched-largest",
    ),
    # circular per axis, 2x3x4: padding [2, 3, 4]; k1: out 2+4 = 6, 3+6 = 9, 4+8 = 12
    pytest.param(
        "Conv3d",
        {"out_channels": 1, "kernel_size": 1, "padding": [2, 3, 4], "padding_mode": "circular"},
        (1, 1, 2, 3, 4),
        (1, 1, 6, 9, 12),
        id="circular-3d-per-axis-largest",
    ),
    # replicate has no limit: 1x1 input, padding 100; out 1 + 2*100 - 2 = 199
    pytest.param(
        "Conv2d",
        {"out_channels": 1, "kernel_size": 3, "padding": 100, "padding_mode": "replicate"},
        (1, 1, 1, 1),
        (1, 1, 199, 199),
        id="replicate-no-limit",
    ),
    # 'same' reflect, K4 on L 3: total 3, left 1, right 2 < 3
    pytest.param(
        "Conv1d",
        {"out_channels": 1, "kernel_size": 4, "padding": "same", "padding_mode": "reflect"},
        (1, 1, 3),
        (1, 1, 3),
        id="same-reflect-largest",
    ),
    # 'same' circular, K6 on L 3: total 5, left 2, right 3 <= 3
    pytest.param(
        "Conv1d",
        {"out_channels": 1, "kernel_size": 6, "padding": "same", "padding_mode": "circular"},
        (1, 1, 3),
        (1, 1, 3),
        id="same-circular-largest",
    ),
    # 'same' replicate, K8 on L 1: left 3, right 4, no limit
    pytest.param(
        "Conv1d",
        {"out_channels": 1, "kernel_size": 8, "padding": "same", "padding_mode": "replicate"},
        (1, 1, 1),
        (1, 1, 1),
        id="same-replicate-no-limit",
    ),
    # 'valid' pads nothing, so even reflect on a 1-wide input is fine
    pytest.param(
        "Conv2d",
        {"out_channels": 1, "kernel_size": 1, "padding": "valid", "padding_mode": "reflect"},
        (1, 1, 1, 1),
        (1, 1, 1, 1),
        id="valid-reflect-1-wide",
    ),
]


@pytest.mark.parametrize("kind, args, shape, out", MODE_PADDING_OK)
def test_padding_mode_largest_accepted(kind, args, shape, out):
    assert run(kind, args, shape).shapes == [out]


MODE_PADDING_REFUSED = [
    # reflect, 4x4: padding 4 is not < 4 (checked H first, then W)
    pytest.param(
        "Conv2d",
        {"out_channels": 4, "kernel_size": 3, "padding": 4, "padding_mode": "reflect"},
        (1, 3, 4, 4),
        "padding 4 with padding_mode 'reflect' must be less than the input's size 4 along H; "
        "use padding at most 3, padding_mode 'zeros' or 'replicate', or a larger input",
        id="reflect-2d-smallest",
    ),
    # the report's case: padding 5 on 4x4 (cnnshape used to answer 1x4x12x12)
    pytest.param(
        "Conv2d",
        {"out_channels": 4, "kernel_size": 3, "padding": 5, "padding_mode": "reflect"},
        (1, 3, 4, 4),
        "padding 5 with padding_mode 'reflect' must be less than the input's size 4 along H",
        id="reflect-2d-report",
    ),
    # reflect, L 5: padding 5 is not < 5
    pytest.param(
        "Conv1d",
        {"out_channels": 2, "kernel_size": 3, "padding": 5, "padding_mode": "reflect"},
        (1, 2, 5),
        "padding 5 with padding_mode 'reflect' must be less than the input's size 5 along L",
        id="reflect-1d-smallest",
    ),
    # reflect, 1-wide: padding 1 is not < 1
    pytest.param(
        "Conv2d",
        {"out_channels": 1, "kernel_size": 1, "padding": 1, "padding_mode": "reflect"},
        (1, 1, 1, 1),
        "use padding at most 0",
        id="reflect-1-wide-padding-1",
    ),
    # reflect per axis, 2x3x4: W padding 4 is not < 4 (D 1 < 2 and H 2 < 3 are fine)
    pytest.param(
        "Conv3d",
        {"out_channels": 1, "kernel_size": 1, "padding": [1, 2, 4], "padding_mode": "reflect"},
        (1, 1, 2, 3, 4),
        "padding 4 with padding_mode 'reflect' must be less than the input's size 4 along W",
        id="reflect-3d-W-smallest",
    ),
    # reflect per axis, 2x3x4: D padding 2 is not < 2
    pytest.param(
        "Conv3d",
        {"out_channels": 1, "kernel_size": 1, "padding": [2, 2, 3], "padding_mode": "reflect"},
        (1, 1, 2, 3, 4),
        "padding 2 with padding_mode 'reflect' must be less than the input's size 2 along D",
        id="reflect-3d-D-smallest",
    ),
    # circular, 4x4: padding 5 > 4 would wrap around twice
    pytest.param(
        "Conv2d",
        {"out_channels": 4, "kernel_size": 3, "padding": 5, "padding_mode": "circular"},
        (1, 3, 4, 4),
        r"padding 5 with padding_mode 'circular' must be at most the input's size 4 \(it wraps around at "
        r"most once\) along H; use padding at most 4, padding_mode 'zeros' or 'replicate', or a larger input",
        id="circular-2d-smallest",
    ),
    # circular, unbatched L 5: padding 6 > 5
    pytest.param(
        "Conv1d",
        {"out_channels": 2, "kernel_size": 3, "padding": 6, "padding_mode": "circular"},
        (3, 5),
        "padding 6 with padding_mode 'circular' must be at most the input's size 5",
        id="circular-1d-unbatched-smallest",
    ),
    # circular per axis, 2x3x4: H padding 4 > 3
    pytest.param(
        "Conv3d",
        {"out_channels": 1, "kernel_size": 1, "padding": [2, 4, 4], "padding_mode": "circular"},
        (1, 1, 2, 3, 4),
        r"padding 4 with padding_mode 'circular' .* size 3 .* along H",
        id="circular-3d-H-smallest",
    ),
    # 'same' reflect, K4 on L 2: total 3, left 1, right 2 is not < 2 (the right side binds)
    pytest.param(
        "Conv1d",
        {"out_channels": 1, "kernel_size": 4, "padding": "same", "padding_mode": "reflect"},
        (1, 1, 2),
        "padding 'same' pads 1 before and 2 after; 2 with padding_mode 'reflect' must be less than the "
        "input's size 2 along L; use a smaller kernel or dilation",
        id="same-reflect-right-side",
    ),
    # 'same' reflect, K2 on L 1: total 1, left 0, right 1 is not < 1
    pytest.param(
        "Conv1d",
        {"out_channels": 1, "kernel_size": 2, "padding": "same", "padding_mode": "reflect"},
        (1, 1, 1),
        "pads 0 before and 1 after; 1 with padding_mode 'reflect'",
        id="same-reflect-k2-1-wide",
    ),
    # 'same' circular, K8 on L 3: total 7, left 3, right 4 > 3
    pytest.param(
        "Conv1d",
        {"out_channels": 1, "kernel_size": 8, "padding": "same", "padding_mode": "circular"},
        (1, 1, 3),
        "pads 3 before and 4 after; 4 with padding_mode 'circular'",
        id="same-circular-smallest",
    ),
    # 'same' reflect with dilation 3, K3 on 3x3: total 3*(3-1) = 6, 3 per side, not < 3
    pytest.param(
        "Conv2d",
        {"out_channels": 1, "kernel_size": 3, "dilation": 3, "padding": "same", "padding_mode": "reflect"},
        (1, 1, 3, 3),
        "pads 3 before and 3 after",
        id="same-reflect-dilated",
    ),
]


@pytest.mark.parametrize("kind, args, shape, message", MODE_PADDING_REFUSED)
def test_padding_mode_smallest_refused(kind, args, shape, message):
    with pytest.raises(ShapeError, match=message):
        run(kind, args, shape)


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs torch")
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")
def test_padding_mode_limits_match_torch():
    # cnnshape accepts exactly what torch accepts, with the same output shape, over a small grid.
    import torch

    conv_class = {1: torch.nn.Conv1d, 2: torch.nn.Conv2d, 3: torch.nn.Conv3d}
    mismatches = []
    for ndim, mode, size, kernel, batched in itertools.product(
        (1, 2, 3), ("zeros", "reflect", "replicate", "circular"), (1, 2, 3, 4), (1, 2, 3), (True, False)
    ):
        # a different size per axis shows each axis is checked on its own
        shape = (1,) * batched + (1,) + tuple(size + axis for axis in range(ndim))
        for padding in [*range(size + 3), "same"]:
            try:
                torch_conv = conv_class[ndim](1, 1, kernel, padding=padding, padding_mode=mode)
                with torch.no_grad():
                    expected = tuple(torch_conv(torch.zeros(shape)).shape)
            except RuntimeError:
                expected = None
            args = {"out_channels": 1, "kernel_size": kernel, "padding": padding, "padding_mode": mode}
            try:
                got = run(f"Conv{ndim}d", args, shape).shapes[0]
            except ShapeError:
                got = None
            if got != expected:
                mismatches.append((ndim, mode, shape, kernel, padding, expected, got))
    assert mismatches == []
