"""Elementwise layers (activations, dropout, Identity) and merges (Add, Mul, Concat).

Activations and dropout keep the shape and cost 0 params and 0 MACs (torchvision counts
no activation); only PReLU has parameters: num_parameters, which PyTorch requires to be 1
or the channel count (dim 1, or 1 for a 1-D input). Softmax without `dim` uses PyTorch's
legacy implicit dim (_get_softmax_dim): 0 for 0-, 1- and 3-D inputs, else 1.
Add/Mul follow PyTorch broadcasting (trailing dims aligned, equal or 1); Concat adds the
sizes along `dim` and needs every other dim equal.
"""

from __future__ import annotations

import pytest
from conftest import infer as run
from pydantic import ValidationError

from cnnshape.errors import ShapeError
from cnnshape.layers import REGISTRY
from cnnshape.layers.base import RF

# --- shape-keeping layers -----------------------------------------------------------------

SHAPE_KEEPING = [
    ("Identity", {}),
    ("ReLU", {}),
    ("ReLU", {"inplace": True}),
    ("ReLU6", {"inplace": True}),
    ("LeakyReLU", {"negative_slope": 0.2}),
    ("ELU", {"alpha": 1.0}),
    ("SELU", {}),
    ("GELU", {}),
    ("GELU", {"approximate": "tanh"}),
    ("SiLU", {}),
    ("Mish", {}),
    ("Sigmoid", {}),
    ("Tanh", {}),
    ("Hardswish", {"inplace": True}),
    ("Hardsigmoid", {}),
    ("Softmax", {"dim": 1}),
    ("LogSoftmax", {"dim": 1}),
    ("Dropout", {"p": 0.5}),
    ("Dropout1d", {"p": 0.1}),
    ("Dropout2d", {"p": 0.1}),
    ("Dropout3d", {"p": 0.1}),
    ("AlphaDropout", {"p": 0.1}),
    ("FeatureAlphaDropout", {"p": 0.1}),
    ("PReLU", {}),
]


@pytest.mark.parametrize("kind, args", SHAPE_KEEPING, ids=lambda v: v if isinstance(v, str) else "")
@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (1, 7), (1, 2, 3, 4, 5)])
def test_elementwise_keeps_shape_and_costs_nothing(kind, args, shape):
    result = run(kind, args, shape)
    assert result.shapes == [shape]
    expected_params = 1 if kind == "PReLU" else 0  # PReLU's default: one shared slope
    assert (result.params, result.buffers, result.macs) == (expected_params, 0, 0)


@pytest.mark.parametrize("kind, args", SHAPE_KEEPING, ids=lambda v: v if isinstance(v, str) else "")
def test_elementwise_keeps_receptive_field(kind, args):
    layer = REGISTRY[kind].model_validate(args)
    shape = (1, 3, 8, 8)
    rf_in = RF.for_input(shape).steps([(3, 2, 1), (3, 2, 1)])
    (rf,) = layer.receptive_field([rf_in], [shape], layer.infer([shape]).shapes)
    assert rf == rf_in


# --- PReLU --------------------------------------------------------------------------------

PRELU = [
    # num_parameters, input shape, expected params
    pytest.param(1, (1, 64, 8, 8), 1, id="shared"),
    pytest.param(64, (1, 64, 8, 8), 64, id="per-channel"),
    pytest.param(3, (2, 3), 3, id="per-feature-2d"),
    pytest.param(5, (3, 5, 7), 5, id="3d-uses-dim-1"),
    pytest.param(1, (10,), 1, id="1d-shared"),
]


@pytest.mark.parametrize("num, shape, params", PRELU)
def test_prelu_parameters(num, shape, params):
    result = run("PReLU", {"num_parameters": num}, shape)
    assert result.shapes == [shape]
    assert (result.params, result.buffers, result.macs) == (params, 0, 0)


@pytest.mark.parametrize(
    "num, shape",
    [
        pytest.param(32, (1, 64, 8, 8), id="neither-1-nor-C"),
        pytest.param(10, (10,), id="1d-input-has-one-channel"),
        pytest.param(7, (3, 5, 7), id="3d-last-dim-is-not-the-channel"),
    ],
)
def test_prelu_channel_mismatch(num, shape):
    with pytest.raises(ShapeError, match="num_parameters"):
        run("PReLU", {"num_parameters": num}, shape)


# --- Softmax ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["Softmax", "LogSoftmax"])
@pytest.mark.parametrize(
    "shape, implicit",
    [
        ((10,), 0),  # 1-D -> dim 0
        ((4, 10), 1),  # 2-D -> dim 1
        ((3, 4, 10), 0),  # 3-D -> dim 0 (the legacy surprise)
        ((1, 3, 8, 8), 1),  # 4-D -> dim 1
    ],
)
def test_softmax_implicit_dim_warns(kind, shape, implicit):
    result = run(kind, {}, shape)
    assert result.shapes == [shape]
    assert (result.params, result.macs) == (0, 0)
    assert len(result.warnings) == 1
    assert f"dim={implicit}" in result.warnings[0]


@pytest.mark.parametrize("dim", [0, 1, -1, -2])
def test_softmax_explicit_dim_is_quiet(dim):
    result = run("Softmax", {"dim": dim}, (4, 10))
    assert result.shapes == [(4, 10)] and result.warnings == []


@pytest.mark.parametrize("kind", ["Softmax", "LogSoftmax"])
@pytest.mark.parametrize("dim", [2, -3])
def test_softmax_dim_out_of_range(kind, dim):
    # PyTorch: Dimension out of range (expected to be in range of [-2, 1])
    with pytest.raises(ShapeError, match="out of range"):
        run(kind, {"dim": dim}, (4, 10))


def test_softmax_over_a_spatial_dim_is_global():
    layer = REGISTRY["Softmax"].model_validate({"dim": 2})
    shape = (1, 3, 8, 8)
    (rf,) = layer.receptive_field([RF.for_input(shape)], [shape], [shape])
    assert rf.kind == "global"


def test_softmax_over_channels_keeps_the_field():
    layer = REGISTRY["Softmax"].model_validate({"dim": 1})
    shape = (1, 3, 8, 8)
    (rf,) = layer.receptive_field([RF.for_input(shape)], [shape], [shape])
    assert rf.kind == "spatial"


# --- bad arguments ------------------------------------------------------------------------

BAD_ARGUMENTS = [
    pytest.param("ReLU", {"inplace": "yes"}, id="relu-string-inplace"),
    pytest.param("ReLU", {"negative_slope": 0.1}, id="relu-unknown-argument"),
    pytest.param("Identity", {"p": 0.5}, id="identity-takes-nothing"),
    # PyTorch's Sigmoid, Tanh and GELU have no `inplace`
    pytest.param("Sigmoid", {"inplace": True}, id="sigmoid-no-inplace"),
    pytest.param("Tanh", {"inplace": True}, id="tanh-no-inplace"),
    pytest.param("GELU", {"inplace": True}, id="gelu-no-inplace"),
    pytest.param("GELU", {"approximate": "fast"}, id="gelu-bad-approximate"),
    pytest.param("LeakyReLU", {"negative_slope": "0.2"}, id="leaky-string-slope"),
    pytest.param("PReLU", {"num_parameters": 0}, id="prelu-zero"),
    pytest.param("Softmax", {"dim": 1.0}, id="softmax-float-dim"),
    pytest.param("Dropout", {"p": "half"}, id="dropout-string-p"),
]


@pytest.mark.parametrize("kind, args", BAD_ARGUMENTS)
def test_elementwise_bad_arguments(kind, args):
    with pytest.raises(ValidationError):
        REGISTRY[kind].model_validate(args)


# kinds whose output shape, params, buffers and MACs are checked here (see test_layers_registry)
FORMULA_KINDS = {kind for kind, _ in SHAPE_KEEPING} | {"PReLU"} | {"Add", "Mul", "Concat"}


# --- Add / Mul ----------------------------------------------------------------------------

BROADCASTS = [
    # inputs, expected output
    pytest.param([(1, 64, 56, 56), (1, 64, 56, 56)], (1, 64, 56, 56), id="same-shape"),
    pytest.param([(1, 8, 4, 4)] * 3, (1, 8, 4, 4), id="three-inputs"),
    # squeeze-and-excitation gate: (N, C, H, W) * (N, C, 1, 1)
    pytest.param([(1, 64, 56, 56), (1, 64, 1, 1)], (1, 64, 56, 56), id="se-gate"),
    pytest.param([(1, 64, 1, 1), (1, 64, 56, 56)], (1, 64, 56, 56), id="se-gate-reversed"),
    # fewer dims align to the right: (2, 3, 4) + (4,) -> (2, 3, 4)
    pytest.param([(2, 3, 4), (4,)], (2, 3, 4), id="rank-broadcast"),
    # both sides stretch: (3, 1) + (1, 5) -> (3, 5)
    pytest.param([(3, 1), (1, 5)], (3, 5), id="both-stretch"),
    pytest.param([(2, 1, 4), (3, 1)], (2, 3, 4), id="mixed"),
]


@pytest.mark.parametrize("kind", ["Add", "Mul"])
@pytest.mark.parametrize("shapes, out", BROADCASTS)
def test_add_mul_broadcasting(kind, shapes, out):
    result = run(kind, {}, *shapes)
    assert result.shapes == [out]
    assert (result.params, result.buffers, result.macs) == (0, 0, 0)


@pytest.mark.parametrize("kind", ["Add", "Mul"])
@pytest.mark.parametrize(
    "shapes, message",
    [
        pytest.param([(1, 64, 8, 8), (1, 32, 8, 8)], "channel mismatch", id="channels"),
        pytest.param([(1, 64, 8, 8), (1, 64, 7, 7)], "dimension 2", id="spatial"),
        pytest.param([(1, 64, 8, 8), (1, 64, 8, 8), (1, 64, 4, 4)], "mismatch", id="third-input"),
        pytest.param([(2, 3), (3, 3)], "mismatch", id="batch"),
    ],
)
def test_add_mul_mismatch(kind, shapes, message):
    with pytest.raises(ShapeError, match=message):
        run(kind, {}, *shapes)


def test_merges_take_several_inputs():
    # Add/Mul need two or more inputs; Concat one or more; no upper limit
    assert (REGISTRY["Add"].min_inputs, REGISTRY["Add"].max_inputs) == (2, None)
    assert (REGISTRY["Mul"].min_inputs, REGISTRY["Mul"].max_inputs) == (2, None)
    assert (REGISTRY["Concat"].min_inputs, REGISTRY["Concat"].max_inputs) == (1, None)


@pytest.mark.parametrize("kind, args", [("Add", {"dim": 1}), ("Mul", {"alpha": 2})])
def test_add_mul_take_no_arguments(kind, args):
    with pytest.raises(ValidationError):
        REGISTRY[kind].model_validate(args)


# --- Concat -------------------------------------------------------------------------------

CONCATS = [
    # GoogLeNet inception 3a: 64 + 128 + 32 + 32 = 256 channels
    pytest.param(
        {}, [(1, 64, 28, 28), (1, 128, 28, 28), (1, 32, 28, 28), (1, 32, 28, 28)], (1, 256, 28, 28), id="default-dim-1"
    ),
    pytest.param({"dim": 1}, [(2, 3, 8), (2, 5, 8)], (2, 3 + 5, 8), id="dim-1"),
    pytest.param({"dim": -1}, [(2, 3, 4), (2, 3, 5)], (2, 3, 4 + 5), id="dim-minus-1"),
    pytest.param({"dim": 0}, [(2, 3), (4, 3)], (2 + 4, 3), id="dim-0"),
    pytest.param({"dim": 2}, [(1, 4, 7, 9), (1, 4, 1, 9)], (1, 4, 7 + 1, 9), id="dim-2"),
    pytest.param({}, [(1, 16, 4, 4)], (1, 16, 4, 4), id="single-input"),
]


@pytest.mark.parametrize("args, shapes, out", CONCATS)
def test_concat(args, shapes, out):
    result = run("Concat", args, *shapes)
    assert result.shapes == [out]
    assert (result.params, result.buffers, result.macs) == (0, 0, 0)


@pytest.mark.parametrize(
    "args, shapes, message",
    [
        pytest.param({}, [(1, 64, 28, 28), (1, 64, 14, 14)], "match except in dim 1", id="spatial-mismatch"),
        pytest.param({"dim": 2}, [(1, 64, 8, 8), (1, 32, 8, 8)], "match except in dim 2", id="channel-mismatch-dim-2"),
        pytest.param({}, [(1, 64, 8, 8), (1, 64, 8)], "match", id="rank-mismatch"),
        pytest.param({"dim": 4}, [(1, 2, 3, 4), (1, 2, 3, 4)], "out of range", id="dim-too-large"),
        pytest.param({"dim": -5}, [(1, 2, 3, 4), (1, 2, 3, 4)], "out of range", id="dim-too-negative"),
    ],
)
def test_concat_errors(args, shapes, message):
    with pytest.raises(ShapeError, match=message):
        run("Concat", args, *shapes)


def test_concat_bad_argument():
    with pytest.raises(ValidationError):
        REGISTRY["Concat"].model_validate({"dim": "1"})
    with pytest.raises(ValidationError):
        REGISTRY["Concat"].model_validate({"axis": 1})


# --- receptive field where paths meet -----------------------------------------------------


def _field(steps):
    return RF.for_input((1, 1, 16, 16)).steps(steps)


@pytest.mark.parametrize("kind", ["Add", "Mul", "Concat"])
def test_merge_takes_the_largest_aligned_field(kind):
    layer = REGISTRY[kind].model_validate({})
    shape = (1, 4, 16, 16)
    identity = _field([(1, 1, 0)] * 2)  # r 1, S 1, P 0: centre (1-1) - 0 = 0
    conv3 = _field([(3, 1, 1)] * 2)  # r 3, S 1, P 1: centre (3-1) - 2*1 = 0
    (rf,) = layer.receptive_field([identity, conv3], [shape, shape], [shape])
    assert [a.size for a in rf.axes] == [3, 3]
    assert not rf.unaligned


@pytest.mark.parametrize("kind", ["Add", "Concat"])
def test_merge_flags_different_strides(kind):
    layer = REGISTRY[kind].model_validate({})
    shape = (1, 4, 8, 8)
    (rf,) = layer.receptive_field([_field([(1, 1, 0)] * 2), _field([(2, 2, 0)] * 2)], [shape, shape], [shape])
    assert rf.unaligned


def test_merge_flags_shifted_centres():
    # k3 p0 (centre (3-1) - 0 = 2) vs k3 p1 (centre 0): same stride, different centre
    layer = REGISTRY["Add"].model_validate({})
    shape = (1, 4, 8, 8)
    (rf,) = layer.receptive_field([_field([(3, 1, 0)] * 2), _field([(3, 1, 1)] * 2)], [shape, shape], [shape])
    assert rf.unaligned
