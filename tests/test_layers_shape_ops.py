"""Layers that move or resample elements: Flatten, Unflatten, Reshape, Permute, Mean,
Upsample, PixelShuffle, ZeroPad2d. None of them has parameters, buffers or MACs.

PyTorch's rules used below:
  Flatten(start_dim=1, end_dim=-1) multiplies dims start..end together.
  Unflatten / reshape: one size may be -1, the product must equal the element count.
  torch.mean: reduced dims disappear, or stay as 1 with keepdim; a repeated dim is an
    error; an empty dim list reduces every dim (like dim=None).
  Upsample: out = floor(I * scale_factor) per spatial dim, or `size`; linear needs 3-D,
    bilinear/bicubic 4-D, trilinear 5-D input; outputs must be > 0.
  PixelShuffle: (*, C*r^2, H, W) -> (*, C, H*r, W*r).
  ZeroPad2d: padding (left, right, top, bottom); H += top + bottom, W += left + right.
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
    # --- Flatten ------------------------------------------------------------------------
    # AlexNet: 256*6*6 = 9216
    case("Flatten", {}, (1, 256, 6, 6), (1, 256 * 6 * 6), id="flatten-default"),
    # seed: 16*5*5 = 400
    case("Flatten", {}, (1, 16, 5, 5), (1, 400), id="flatten-seed-400"),
    # ViT patches: (N, C, H, W) -> (N, C, H*W) = 14*14 = 196
    case("Flatten", {"start_dim": 2}, (1, 768, 14, 14), (1, 768, 196), id="flatten-start-2"),
    case("Flatten", {"start_dim": 0}, (2, 3, 4, 5), (2 * 3 * 4 * 5,), id="flatten-all"),
    case("Flatten", {"end_dim": -2}, (2, 3, 4, 5), (2, 3 * 4, 5), id="flatten-end-minus-2"),
    case("Flatten", {"start_dim": 1, "end_dim": 1}, (2, 3, 4), (2, 3, 4), id="flatten-one-dim"),
    case("Flatten", {}, (4, 10), (4, 10), id="flatten-2d-noop"),
    # --- Unflatten ----------------------------------------------------------------------
    case("Unflatten", {"dim": 1, "unflattened_size": [256, 6, 6]}, (1, 9216), (1, 256, 6, 6), id="unflatten"),
    # -1 resolves to 9216 / (256*6) = 6
    case("Unflatten", {"dim": 1, "unflattened_size": [256, -1, 6]}, (1, 9216), (1, 256, 6, 6), id="unflatten-minus-1"),
    case("Unflatten", {"dim": -1, "unflattened_size": [3, 4]}, (2, 12), (2, 3, 4), id="unflatten-negative-dim"),
    # --- Reshape ------------------------------------------------------------------------
    # 14*14 = 196
    case("Reshape", {"shape": [1, 768, -1]}, (1, 768, 14, 14), (1, 768, 196), id="reshape-minus-1-last"),
    # 4*2*256 = 2048 elements; 2048 / 512 = 4
    case("Reshape", {"shape": [-1, 512]}, (4, 2, 256), (4, 512), id="reshape-minus-1-first"),
    case("Reshape", {"shape": [2, 3, 4]}, (6, 4), (2, 3, 4), id="reshape-explicit"),
    # --- Permute ------------------------------------------------------------------------
    case("Permute", {"dims": [0, 2, 3, 1]}, (1, 64, 56, 56), (1, 56, 56, 64), id="permute-nchw-to-nhwc"),
    case("Permute", {"dims": [0, 3, 1, 2]}, (1, 56, 56, 64), (1, 64, 56, 56), id="permute-nhwc-to-nchw"),
    case("Permute", {"dims": [0, -1, 1, 2]}, (2, 3, 4, 5), (2, 5, 3, 4), id="permute-negative"),
    # --- Mean ---------------------------------------------------------------------------
    case("Mean", {"dim": [2, 3]}, (1, 512, 7, 7), (1, 512), id="mean-spatial"),
    case("Mean", {"dim": [2, 3], "keepdim": True}, (1, 512, 7, 7), (1, 512, 1, 1), id="mean-keepdim"),
    case("Mean", {"dim": -1}, (1, 512, 7, 5), (1, 512, 7), id="mean-last"),
    case("Mean", {"dim": 1, "keepdim": True}, (1, 64, 7, 7), (1, 1, 7, 7), id="mean-channels-keepdim"),
    case("Mean", {"dim": [-2, -1]}, (2, 197, 768), (2,), id="mean-negative-dims"),
    # torch.mean with an empty dim list reduces every dim, like dim=None
    case("Mean", {"dim": []}, (2, 3, 4), (), id="mean-empty-dims-reduce-all"),
    case("Mean", {"dim": [], "keepdim": True}, (2, 3, 4), (1, 1, 1), id="mean-empty-dims-keepdim"),
    # --- Amax (torch.amax: the same shapes as torch.mean) --------------------------------
    case("Amax", {"dim": -1}, (1, 2, 20, 20, 80), (1, 2, 20, 20), id="amax-last"),
    case("Amax", {"dim": [2, 3], "keepdim": True}, (1, 512, 7, 7), (1, 512, 1, 1), id="amax-keepdim"),
    # --- Upsample -----------------------------------------------------------------------
    case("Upsample", {"scale_factor": 2}, (1, 64, 28, 28), (1, 64, 56, 56), id="upsample-x2"),
    # floor(5*1.5) = floor(7.5) = 7, floor(7*1.5) = floor(10.5) = 10
    case("Upsample", {"scale_factor": 1.5}, (1, 2, 5, 7), (1, 2, 7, 10), id="upsample-floor"),
    # floor(7*0.5) = 3: a scale below 1 downsamples
    case("Upsample", {"scale_factor": 0.5}, (1, 2, 7, 7), (1, 2, 3, 3), id="upsample-down"),
    case("Upsample", {"scale_factor": [2, 3]}, (1, 2, 5, 7), (1, 2, 5 * 2, 7 * 3), id="upsample-per-axis"),
    case("Upsample", {"size": 56}, (1, 3, 28, 28), (1, 3, 56, 56), id="upsample-size-int"),
    case(
        "Upsample",
        {"size": [10, 20], "mode": "bilinear", "align_corners": False},
        (1, 3, 5, 5),
        (1, 3, 10, 20),
        id="upsample-size-tuple",
    ),
    case(
        "Upsample",
        {"scale_factor": 2, "mode": "bilinear", "align_corners": True},
        (1, 2, 5, 7),
        (1, 2, 10, 14),
        id="upsample-bilinear-align-corners",
    ),
    case("Upsample", {"scale_factor": 2, "mode": "bicubic"}, (1, 2, 5, 7), (1, 2, 10, 14), id="upsample-bicubic"),
    case("Upsample", {"scale_factor": 2, "mode": "linear"}, (1, 2, 10), (1, 2, 20), id="upsample-linear-3d"),
    case(
        "Upsample", {"scale_factor": 2, "mode": "nearest-exact"}, (1, 2, 5), (1, 2, 10), id="upsample-nearest-exact-3d"
    ),
    case(
        "Upsample",
        {"scale_factor": 2, "mode": "trilinear"},
        (1, 1, 2, 3, 4),
        (1, 1, 4, 6, 8),
        id="upsample-trilinear-5d",
    ),
    case("Upsample", {"scale_factor": 2}, (1, 1, 2, 3, 4), (1, 1, 4, 6, 8), id="upsample-nearest-5d"),
    # --- PixelShuffle -------------------------------------------------------------------
    # 256 / 2^2 = 64 channels; 14*2 = 28
    case("PixelShuffle", {"upscale_factor": 2}, (1, 256, 14, 14), (1, 64, 28, 28), id="pixelshuffle-r2"),
    # PyTorch's docs example: 9 / 3^2 = 1; 4*3 = 12
    case("PixelShuffle", {"upscale_factor": 3}, (1, 9, 4, 4), (1, 1, 12, 12), id="pixelshuffle-r3"),
    # (*, C*r^2, H, W): no batch, or several batch dims
    case("PixelShuffle", {"upscale_factor": 2}, (8, 5, 5), (2, 10, 10), id="pixelshuffle-unbatched"),
    case("PixelShuffle", {"upscale_factor": 2}, (2, 3, 8, 5, 5), (2, 3, 2, 10, 10), id="pixelshuffle-5d"),
    # --- ZeroPad2d ----------------------------------------------------------------------
    case("ZeroPad2d", {"padding": 1}, (1, 3, 8, 8), (1, 3, 10, 10), id="zeropad-int"),
    # (left=1, right=2, top=3, bottom=4): H 8 + 3 + 4 = 15, W 10 + 1 + 2 = 13
    case("ZeroPad2d", {"padding": [1, 2, 3, 4]}, (1, 3, 8, 10), (1, 3, 15, 13), id="zeropad-lrtb"),
    case("ZeroPad2d", {"padding": [1, 2, 3, 4]}, (3, 8, 10), (3, 15, 13), id="zeropad-unbatched"),
    # EfficientNet-style asymmetric "same" padding: right and bottom only
    case("ZeroPad2d", {"padding": [0, 1, 0, 1]}, (1, 32, 112, 112), (1, 32, 113, 113), id="zeropad-right-bottom"),
]


# kinds whose output shape, params, buffers and MACs are checked here (see test_layers_registry)
FORMULA_KINDS = {p.values[0] for p in CASES}


@pytest.mark.parametrize("kind, args, shape, out", CASES)
def test_shape_op_formulas(kind, args, shape, out):
    result = run(kind, args, shape)
    assert result.shapes == [out]
    assert (result.params, result.buffers, result.macs) == (0, 0, 0)


SHAPE_ERRORS = [
    # Flatten's default start_dim 1 does not exist in a 1-D input
    pytest.param("Flatten", {}, (10,), "out of range", id="flatten-1d"),
    pytest.param("Flatten", {"start_dim": 2, "end_dim": 1}, (2, 3, 4, 5), "comes after", id="flatten-start-after-end"),
    pytest.param("Flatten", {"start_dim": 4}, (2, 3, 4, 5), "out of range", id="flatten-start-out-of-range"),
    # 256*6*5 = 7680 != 9216
    pytest.param(
        "Unflatten", {"dim": 1, "unflattened_size": [256, 6, 5]}, (1, 9216), "cannot reshape", id="unflatten-product"
    ),
    pytest.param(
        "Unflatten", {"dim": 1, "unflattened_size": [-1, -1]}, (1, 9216), "only one", id="unflatten-two-minus-1"
    ),
    # 9216 = 7*1316 + 4: not divisible
    pytest.param(
        "Unflatten", {"dim": 1, "unflattened_size": [7, -1]}, (1, 9216), "not divisible", id="unflatten-indivisible"
    ),
    pytest.param("Unflatten", {"dim": 2, "unflattened_size": [2, 2]}, (1, 4), "out of range", id="unflatten-dim"),
    pytest.param("Reshape", {"shape": [2, 3]}, (1, 5), "cannot reshape", id="reshape-count"),
    pytest.param("Reshape", {"shape": [-1, -1]}, (1, 6), "only one", id="reshape-two-minus-1"),
    pytest.param("Reshape", {"shape": [0, -1]}, (1, 5), "positive", id="reshape-zero"),
    pytest.param("Reshape", {"shape": [-2, 3]}, (2, 3), "positive", id="reshape-minus-2"),
    pytest.param("Permute", {"dims": [0, 2, 1]}, (1, 2, 3, 4), "entries", id="permute-length"),
    pytest.param("Permute", {"dims": [0, 1, 1, 2]}, (1, 2, 3, 4), "permutation", id="permute-repeat"),
    pytest.param("Permute", {"dims": [0, 1, 2, 4]}, (1, 2, 3, 4), "out of range", id="permute-out-of-range"),
    pytest.param("Mean", {"dim": 4}, (1, 2, 3, 4), "out of range", id="mean-out-of-range"),
    # torch.mean: "dim 1 appears multiple times in the list of dims"
    pytest.param("Mean", {"dim": [1, 1]}, (2, 3, 4), "multiple times", id="mean-repeated-dim"),
    pytest.param("Mean", {"dim": [1, -2]}, (2, 3, 4), "multiple times", id="mean-repeated-dim-negative"),
    # Upsample
    pytest.param("Upsample", {"size": [3, 4]}, (1, 1, 5), "size", id="upsample-size-length"),
    pytest.param("Upsample", {"scale_factor": [2, 3, 4]}, (1, 1, 5, 7), "scale_factor", id="upsample-scale-length"),
    pytest.param("Upsample", {"size": 5}, (2, 5), "3-D", id="upsample-rank-2"),
    # PyTorch: "Got 3D input, but bilinear mode needs 4D input", and so on
    pytest.param("Upsample", {"scale_factor": 2, "mode": "bilinear"}, (1, 2, 5), "bilinear", id="bilinear-3d"),
    pytest.param("Upsample", {"scale_factor": 2, "mode": "linear"}, (1, 2, 5, 7), "linear", id="linear-4d"),
    pytest.param("Upsample", {"scale_factor": 2, "mode": "trilinear"}, (1, 2, 5, 7), "trilinear", id="trilinear-4d"),
    pytest.param("Upsample", {"scale_factor": 2, "mode": "bicubic"}, (1, 2, 5, 5, 5), "bicubic", id="bicubic-5d"),
    # floor(5*0.1) = 0: PyTorch "Input and output sizes should be greater than 0"
    pytest.param("Upsample", {"scale_factor": 0.1}, (1, 1, 5, 7), "greater than 0", id="upsample-to-zero"),
    pytest.param("Upsample", {"scale_factor": -1.0}, (1, 1, 5, 7), "greater than 0", id="upsample-negative"),
    # 10 channels are not a multiple of 2^2
    pytest.param("PixelShuffle", {"upscale_factor": 2}, (1, 10, 4, 4), "divisible", id="pixelshuffle-channels"),
    pytest.param("PixelShuffle", {"upscale_factor": 2}, (4, 4), "3-D", id="pixelshuffle-rank-2"),
]


@pytest.mark.parametrize("kind, args, shape, message", SHAPE_ERRORS)
def test_shape_op_errors(kind, args, shape, message):
    with pytest.raises(ShapeError, match=message):
        run(kind, args, shape)


BAD_ARGUMENTS = [
    pytest.param("Flatten", {"start_dim": 1.0}, id="flatten-float"),
    pytest.param("Unflatten", {"dim": 1}, id="unflatten-missing-sizes"),
    pytest.param("Unflatten", {"unflattened_size": [2, 2]}, id="unflatten-missing-dim"),
    pytest.param("Reshape", {}, id="reshape-missing-shape"),
    pytest.param("Reshape", {"shape": "1,2"}, id="reshape-string"),
    pytest.param("Reshape", {"shape": [1.0, 2]}, id="reshape-float"),
    pytest.param("Permute", {"dims": 1}, id="permute-int"),
    pytest.param("Mean", {}, id="mean-missing-dim"),
    pytest.param("Mean", {"dim": 1, "keepdim": "yes"}, id="mean-string-keepdim"),
    pytest.param("Upsample", {}, id="upsample-neither"),
    pytest.param("Upsample", {"size": 4, "scale_factor": 2}, id="upsample-both"),
    pytest.param("Upsample", {"size": 0}, id="upsample-zero-size"),
    pytest.param("Upsample", {"scale_factor": 2, "mode": "cubic"}, id="upsample-bad-mode"),
    # PyTorch: align_corners option can only be set with the interpolating modes
    pytest.param("Upsample", {"scale_factor": 2, "align_corners": True}, id="upsample-nearest-align-corners"),
    pytest.param(
        "Upsample",
        {"scale_factor": 2, "mode": "nearest-exact", "align_corners": False},
        id="upsample-nearest-exact-align-corners",
    ),
    pytest.param("PixelShuffle", {}, id="pixelshuffle-missing"),
    pytest.param("PixelShuffle", {"upscale_factor": 0}, id="pixelshuffle-zero"),
    pytest.param("ZeroPad2d", {}, id="zeropad-missing"),
    pytest.param("ZeroPad2d", {"padding": [1, 2, 3]}, id="zeropad-three-values"),
    pytest.param("ZeroPad2d", {"padding": -1}, id="zeropad-negative"),
    pytest.param("ZeroPad2d", {"padding": 1.5}, id="zeropad-float"),
]


@pytest.mark.parametrize("kind, args", BAD_ARGUMENTS)
def test_shape_op_bad_arguments(kind, args):
    with pytest.raises(ValidationError):
        REGISTRY[kind].model_validate(args)


# --- receptive field ----------------------------------------------------------------------


def field_after(kind: str, args: dict, shape: tuple[int, ...], rf: RF | None = None) -> RF:
    layer = REGISTRY[kind].model_validate(args)
    (out,) = layer.receptive_field([rf or RF.for_input(shape)], [shape], layer.infer([shape]).shapes)
    return out


def test_zeropad_shifts_padding_left_and_top():
    # (left=1, right=2, top=3, bottom=4): P grows by top on H and by left on W; r, S unchanged
    rf = field_after("ZeroPad2d", {"padding": [1, 2, 3, 4]}, (1, 3, 8, 10))
    assert [(a.size, a.stride, a.padding) for a in rf.axes] == [(1, 1, 3), (1, 1, 1)]


@pytest.mark.parametrize(
    "kind, args, shape",
    [
        ("Flatten", {}, (1, 16, 5, 5)),
        ("Flatten", {"start_dim": 2}, (1, 768, 14, 14)),
        ("Reshape", {"shape": [1, 768, -1]}, (1, 768, 14, 14)),
    ],
)
def test_merging_spatial_dims_flattens_the_field(kind, args, shape):
    assert field_after(kind, args, shape).kind == "flat"


@pytest.mark.parametrize(
    "kind, args", [("Mean", {"dim": [2, 3]}), ("Mean", {"dim": -1, "keepdim": True}), ("Amax", {"dim": [2, 3]})]
)
def test_mean_over_space_is_global(kind, args):
    assert field_after(kind, args, (1, 512, 7, 7)).kind == "global"


def test_mean_over_channels_keeps_spatial_dims():
    # (N, C, H, W) -> (N, H, W): the spatial dims move from (2, 3) to (1, 2)
    rf = field_after("Mean", {"dim": 1}, (1, 64, 7, 7))
    assert rf.kind == "spatial" and rf.dims == (1, 2)


def test_amax_over_channels_keeps_spatial_dims():
    # (N, C, H, W) -> (N, H, W): the largest channel at each position; H and W move to (1, 2)
    rf = field_after("Amax", {"dim": 1}, (1, 64, 7, 7))
    assert rf.kind == "spatial" and rf.dims == (1, 2)


def test_permute_moves_spatial_dims():
    # NCHW -> NHWC: H and W move from (2, 3) to (1, 2)
    rf = field_after("Permute", {"dims": [0, 2, 3, 1]}, (1, 64, 56, 56))
    assert rf.kind == "spatial" and rf.dims == (1, 2)


def test_reshape_that_keeps_spatial_dims_keeps_the_field():
    # (1, 768, 14, 14) -> (768, 14, 14): H, W unchanged, now dims (1, 2)
    rf = field_after("Reshape", {"shape": [-1, 14, 14]}, (1, 768, 14, 14))
    assert rf.kind == "spatial" and rf.dims == (1, 2)
