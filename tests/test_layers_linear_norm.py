"""Linear and normalisation formulas.

Linear (nn.Linear docs): acts on the last dim; params = in*out (+ out bias);
  MACs = prod(input shape[:-1]) * in * out (torchvision).
BatchNorm: weight + bias = 2C params; running_mean + running_var + num_batches_tracked
  = 2C + 1 buffers. InstanceNorm: same counts, but affine and track_running_stats default
  to False. LayerNorm: weight + bias of normalized_shape. GroupNorm: 2C params.
Normalisation costs no MACs in torchvision's convention.
"""

from __future__ import annotations

import pytest
from conftest import infer as run
from pydantic import ValidationError

from cnnshape.errors import ShapeError
from cnnshape.layers import REGISTRY
from cnnshape.layers.base import RF


def case(kind, args, shape, out, params, buffers, macs, id):
    return pytest.param(kind, args, shape, out, params, buffers, macs, id=id)


CASES = [
    # --- Linear -------------------------------------------------------------------------
    # AlexNet classifier: 9216 -> 4096
    case(
        "Linear",
        {"out_features": 4096},
        (1, 9216),
        (1, 4096),
        9216 * 4096 + 4096,  # = 37,752,832
        0,
        1 * 9216 * 4096,  # = 37,748,736
        id="linear-2d",
    ),
    # ViT MLP on tokens (N, L, D): every token row is multiplied
    case(
        "Linear",
        {"out_features": 3072},
        (2, 197, 768),
        (2, 197, 3072),
        768 * 3072 + 3072,  # = 2,362,368
        0,
        (2 * 197) * 768 * 3072,  # = 394 * 2,359,296 = 929,562,624
        id="linear-3d",
    ),
    # ConvNeXt channels-last MLP on (N, H, W, C)
    case(
        "Linear",
        {"out_features": 384},
        (1, 7, 7, 96),
        (1, 7, 7, 384),
        96 * 384 + 384,  # = 37,248
        0,
        (1 * 7 * 7) * 96 * 384,  # = 49 * 36,864 = 1,806,336
        id="linear-4d",
    ),
    case("Linear", {"out_features": 5, "bias": False}, (4, 10), (4, 5), 10 * 5, 0, 4 * 10 * 5, id="linear-no-bias"),
    # 1-D input: prod(()) = 1 row
    case("Linear", {"out_features": 3}, (10,), (3,), 10 * 3 + 3, 0, 1 * 10 * 3, id="linear-1d"),
    case(
        "Linear",
        {"in_features": 10, "out_features": 3},
        (2, 10),
        (2, 3),
        33,
        0,
        2 * 10 * 3,
        id="linear-in-features-declared",
    ),
    # --- BatchNorm ----------------------------------------------------------------------
    # C = 64: params 2*64 = 128; buffers 64 + 64 + 1 = 129
    case("BatchNorm2d", {}, (1, 64, 56, 56), (1, 64, 56, 56), 2 * 64, 2 * 64 + 1, 0, id="bn2d"),
    case(
        "BatchNorm2d",
        {"num_features": 64, "eps": 0.001, "momentum": 0.01},
        (2, 64, 7, 7),
        (2, 64, 7, 7),
        128,
        129,
        0,
        id="bn2d-declared",
    ),
    case("BatchNorm2d", {"affine": False}, (1, 16, 4, 4), (1, 16, 4, 4), 0, 2 * 16 + 1, 0, id="bn2d-no-affine"),
    case(
        "BatchNorm2d",
        {"track_running_stats": False},
        (1, 16, 4, 4),
        (1, 16, 4, 4),
        2 * 16,
        0,
        0,
        id="bn2d-no-running-stats",
    ),
    # PyTorch 2.13 `bias=False`: weight only (C), running stats unchanged (2C + 1)
    case("BatchNorm2d", {"bias": False}, (1, 8, 4, 4), (1, 8, 4, 4), 8, 2 * 8 + 1, 0, id="bn2d-no-bias"),
    case("BatchNorm2d", {"momentum": None}, (1, 16, 4, 4), (1, 16, 4, 4), 32, 33, 0, id="bn2d-momentum-none"),
    case("BatchNorm1d", {}, (8, 100), (8, 100), 2 * 100, 2 * 100 + 1, 0, id="bn1d-2d-input"),
    case("BatchNorm1d", {}, (8, 16, 50), (8, 16, 50), 2 * 16, 2 * 16 + 1, 0, id="bn1d-3d-input"),
    case("BatchNorm3d", {}, (1, 4, 2, 3, 3), (1, 4, 2, 3, 3), 2 * 4, 2 * 4 + 1, 0, id="bn3d"),
    # torchvision.ops.FrozenBatchNorm2d: weight, bias, running_mean, running_var are all
    # buffers (C each): 0 parameters, 4*16 = 64 buffers
    case("FrozenBatchNorm2d", {}, (1, 16, 4, 4), (1, 16, 4, 4), 0, 4 * 16, 0, id="frozen-bn2d"),
    case(
        "FrozenBatchNorm2d",
        {"num_features": 8, "eps": 0.0},
        (2, 8, 3, 3),
        (2, 8, 3, 3),
        0,
        4 * 8,
        0,
        id="frozen-bn2d-declared",
    ),
    # --- InstanceNorm: affine=False, track_running_stats=False by default ---------------
    case("InstanceNorm1d", {}, (2, 8, 20), (2, 8, 20), 0, 0, 0, id="in1d-defaults"),
    case("InstanceNorm2d", {}, (1, 3, 8, 8), (1, 3, 8, 8), 0, 0, 0, id="in2d-defaults"),
    case("InstanceNorm3d", {}, (1, 2, 4, 4, 4), (1, 2, 4, 4, 4), 0, 0, 0, id="in3d-defaults"),
    case("InstanceNorm2d", {"affine": True}, (1, 3, 8, 8), (1, 3, 8, 8), 2 * 3, 0, 0, id="in2d-affine"),
    case(
        "InstanceNorm2d",
        {"track_running_stats": True},
        (1, 3, 8, 8),
        (1, 3, 8, 8),
        0,
        2 * 3 + 1,
        0,
        id="in2d-running-stats",
    ),
    # PyTorch's InstanceNorm also takes unbatched input: (C, L), (C, H, W), (C, D, H, W);
    # the channel dim is then dim 0
    case("InstanceNorm1d", {"affine": True}, (8, 20), (8, 20), 2 * 8, 0, 0, id="in1d-unbatched"),
    case("InstanceNorm2d", {"affine": True, "num_features": 3}, (3, 8, 8), (3, 8, 8), 2 * 3, 0, 0, id="in2d-unbatched"),
    case("InstanceNorm3d", {"affine": True}, (2, 4, 4, 4), (2, 4, 4, 4), 2 * 2, 0, 0, id="in3d-unbatched"),
    # --- LayerNorm ----------------------------------------------------------------------
    # default: the last dim, weight + bias = 2*768
    case("LayerNorm", {}, (2, 197, 768), (2, 197, 768), 2 * 768, 0, 0, id="ln-default-last-dim"),
    case(
        "LayerNorm",
        {"normalized_shape": 768, "eps": 1e-6},
        (2, 197, 768),
        (2, 197, 768),
        2 * 768,
        0,
        0,
        id="ln-explicit-int",
    ),
    # trailing (7, 7): 2 * 49
    case("LayerNorm", {"normalized_shape": [7, 7]}, (1, 96, 7, 7), (1, 96, 7, 7), 2 * 7 * 7, 0, 0, id="ln-tuple"),
    # the whole (C, H, W): 2 * 96*7*7 = 9,408
    case(
        "LayerNorm",
        {"normalized_shape": [96, 7, 7]},
        (1, 96, 7, 7),
        (1, 96, 7, 7),
        2 * 96 * 7 * 7,
        0,
        0,
        id="ln-tuple-chw",
    ),
    case("LayerNorm", {"elementwise_affine": False}, (2, 10), (2, 10), 0, 0, 0, id="ln-no-affine"),
    case("LayerNorm", {"bias": False}, (2, 10), (2, 10), 10, 0, 0, id="ln-no-bias"),
    # --- GroupNorm ----------------------------------------------------------------------
    case("GroupNorm", {"num_groups": 32}, (1, 64, 8, 8), (1, 64, 8, 8), 2 * 64, 0, 0, id="gn"),
    case("GroupNorm", {"num_groups": 4, "bias": False}, (1, 8, 2, 2), (1, 8, 2, 2), 8, 0, 0, id="gn-no-bias"),
    case("GroupNorm", {"num_groups": 1, "num_channels": 6}, (4, 6), (4, 6), 2 * 6, 0, 0, id="gn-2d-input"),
    case("GroupNorm", {"num_groups": 6, "affine": False}, (1, 6, 4, 4, 4), (1, 6, 4, 4, 4), 0, 0, 0, id="gn-no-affine"),
    # --- LocalResponseNorm --------------------------------------------------------------
    case(
        "LocalResponseNorm",
        {"size": 5, "alpha": 0.0001, "beta": 0.75, "k": 2.0},
        (1, 96, 55, 55),
        (1, 96, 55, 55),
        0,
        0,
        0,
        id="lrn",
    ),
    case("LocalResponseNorm", {"size": 2}, (2, 4, 5), (2, 4, 5), 0, 0, 0, id="lrn-3d"),
]


# kinds whose output shape, params, buffers and MACs are checked here (see test_layers_registry)
FORMULA_KINDS = {p.values[0] for p in CASES}


@pytest.mark.parametrize("kind, args, shape, out, params, buffers, macs", CASES)
def test_linear_norm_formulas(kind, args, shape, out, params, buffers, macs):
    result = run(kind, args, shape)
    assert result.shapes == [out]
    assert (result.params, result.buffers, result.macs) == (params, buffers, macs)


SHAPE_ERRORS = [
    pytest.param(
        "Linear",
        {"in_features": 9216, "out_features": 10},
        (1, 256, 6, 6),
        "in_features=9216",
        id="linear-in-features-mismatch",
    ),
    pytest.param("Linear", {"out_features": 10}, (), "1-D", id="linear-0d"),
    pytest.param("BatchNorm2d", {"num_features": 32}, (1, 64, 8, 8), "num_features=32", id="bn-mismatch"),
    pytest.param("BatchNorm1d", {"num_features": 3}, (8, 4), "num_features=3", id="bn1d-mismatch"),
    pytest.param(
        "InstanceNorm2d", {"num_features": 4, "affine": True}, (1, 3, 8, 8), "num_features=4", id="in-mismatch"
    ),
    pytest.param(
        "InstanceNorm2d", {"num_features": 4, "affine": True}, (3, 8, 8), "num_features=4", id="in-unbatched-mismatch"
    ),
    # PyTorch: BatchNorm2d expects 4-D input (got 3-D)
    pytest.param("BatchNorm2d", {}, (3, 5, 5), "4-D", id="bn2d-rank-3"),
    pytest.param("BatchNorm1d", {}, (3,), "2-D or 3-D", id="bn1d-rank-1"),
    pytest.param("BatchNorm1d", {}, (1, 3, 4, 4), "2-D or 3-D", id="bn1d-rank-4"),
    pytest.param("BatchNorm3d", {}, (1, 3, 4, 4), "5-D", id="bn3d-rank-4"),
    pytest.param("FrozenBatchNorm2d", {}, (1, 3, 4), "4-D", id="frozen-bn2d-rank-3"),
    pytest.param("FrozenBatchNorm2d", {"num_features": 4}, (1, 3, 4, 4), "num_features=4", id="frozen-bn2d-mismatch"),
    pytest.param("InstanceNorm2d", {}, (3, 5), "3-D or 4-D", id="in2d-rank-2"),
    pytest.param("InstanceNorm1d", {}, (1, 3, 4, 4), "2-D or 3-D", id="in1d-rank-4"),
    pytest.param("LayerNorm", {"normalized_shape": 512}, (2, 197, 768), "normalized_shape", id="ln-mismatch"),
    pytest.param("LayerNorm", {"normalized_shape": [7, 8]}, (1, 96, 7, 7), "normalized_shape", id="ln-tuple-mismatch"),
    pytest.param("LayerNorm", {"normalized_shape": [2, 3, 4]}, (3, 4), "normalized_shape", id="ln-too-long"),
    # 64 channels are not divisible into 5 groups
    pytest.param("GroupNorm", {"num_groups": 5}, (1, 64, 8, 8), "num_groups=5", id="gn-indivisible"),
    pytest.param(
        "GroupNorm", {"num_groups": 2, "num_channels": 8}, (1, 4, 8, 8), "num_channels=8", id="gn-num-channels-mismatch"
    ),
    pytest.param("GroupNorm", {"num_groups": 1}, (4,), "N, C", id="gn-rank-1"),
    # PyTorch: LocalResponseNorm expects 3-D or higher input
    pytest.param("LocalResponseNorm", {"size": 2}, (4, 5), "LocalResponseNorm", id="lrn-rank-2"),
]


@pytest.mark.parametrize("kind, args, shape, message", SHAPE_ERRORS)
def test_linear_norm_shape_errors(kind, args, shape, message):
    with pytest.raises(ShapeError, match=message):
        run(kind, args, shape)


BAD_ARGUMENTS = [
    pytest.param("Linear", {}, id="linear-missing-out"),
    pytest.param("Linear", {"out_features": 0}, id="linear-zero-out"),
    pytest.param("Linear", {"out_features": 10, "bias": "no"}, id="linear-string-bias"),
    pytest.param("Linear", {"out_features": 10, "in_channels": 3}, id="linear-unknown-argument"),
    pytest.param("Linear", {"out_features": 10.0}, id="linear-float-out"),
    pytest.param("BatchNorm2d", {"num_features": 0}, id="bn-zero-features"),
    pytest.param("BatchNorm2d", {"affine": 1}, id="bn-int-affine"),
    pytest.param("BatchNorm2d", {"eps": "small"}, id="bn-string-eps"),
    pytest.param("LayerNorm", {"normalized_shape": 0}, id="ln-zero"),
    pytest.param("LayerNorm", {"normalized_shape": [7, 0]}, id="ln-zero-in-tuple"),
    pytest.param("GroupNorm", {}, id="gn-missing-groups"),
    pytest.param("GroupNorm", {"num_groups": 0}, id="gn-zero-groups"),
    pytest.param("LocalResponseNorm", {}, id="lrn-missing-size"),
    pytest.param("LocalResponseNorm", {"size": 0}, id="lrn-zero-size"),
]


@pytest.mark.parametrize("kind, args", BAD_ARGUMENTS)
def test_linear_norm_bad_arguments(kind, args):
    with pytest.raises(ValidationError):
        REGISTRY[kind].model_validate(args)


def test_instance_norm_defaults_differ_from_batch_norm():
    # PyTorch: InstanceNorm affine=False, track_running_stats=False; BatchNorm both True
    for kind in ("InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d"):
        layer = REGISTRY[kind].model_validate({})
        assert (layer.affine, layer.track_running_stats) == (False, False)
    for kind in ("BatchNorm1d", "BatchNorm2d", "BatchNorm3d"):
        layer = REGISTRY[kind].model_validate({})
        assert (layer.affine, layer.track_running_stats) == (True, True)


def test_linear_after_flatten_sees_everything():
    # a Linear over flattened spatial features depends on the whole input
    layer = REGISTRY["Linear"].model_validate({"out_features": 10})
    flat = RF.for_input((1, 3, 8, 8)).flattened()
    (rf,) = layer.receptive_field([flat], [(1, 192)], [(1, 10)])
    assert rf.kind == "global"


def test_channels_last_linear_keeps_the_spatial_field():
    # Linear on (N, H, W, C) mixes only channels: each position keeps its field
    layer = REGISTRY["Linear"].model_validate({"out_features": 4})
    rf_in = RF.for_input((1, 3, 8, 8)).with_dims((1, 2))  # after a permute to NHWC
    (rf,) = layer.receptive_field([rf_in], [(1, 8, 8, 3)], [(1, 8, 8, 4)])
    assert rf.kind == "spatial" and rf.dims == (1, 2)
