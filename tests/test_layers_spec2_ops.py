"""Formula cases of the operations spec format 2 adds to the arithmetic and padding kinds:
Div, Maximum, Minimum, Pow, Sqrt, the `scalar` and `tensor_shape` operands of Add, Mul,
Sub and Div, and the padding kinds in 1d/2d/3d. Expected shapes and counts are worked out
by hand below, and measured with PyTorch at test time (optional tests)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cnnshape.errors import ShapeError, SpecError
from cnnshape.layers import REGISTRY
from cnnshape.pipeline import analyze_text

PADS = [f"{mode}Pad{n}d" for mode in ("Zero", "Constant", "Reflection", "Replication", "Circular") for n in (1, 2, 3)]
FORMULA_KINDS = {"Div", "Maximum", "Minimum", "Pow", "Sqrt", *PADS}


# --- elementwise: shapes by PyTorch's broadcasting rule, worked by hand -------------------


@pytest.mark.parametrize("kind", ["Div", "Maximum", "Minimum"])
@pytest.mark.parametrize(
    "shapes, expected",
    [
        ([(1, 8, 4, 4), (1, 8, 1, 1)], (1, 8, 4, 4)),  # (1,8,1,1) stretches over H, W
        ([(4,), (2, 3, 1)], (2, 3, 4)),  # trailing alignment: (1,1,4) vs (2,3,1)
    ],
)
def test_binary_kinds_broadcast(kind: str, shapes, expected) -> None:
    result = REGISTRY[kind]().infer(shapes)
    assert result.shapes == [expected] and (result.params, result.macs) == (0, 0)
    assert (REGISTRY[kind].min_inputs, REGISTRY[kind].max_inputs) == (2, 2)
    with pytest.raises(ShapeError):
        REGISTRY[kind]().infer([(1, 8, 4, 4), (1, 3, 4, 4)])


@pytest.mark.parametrize("kind, args", [("Pow", {"exponent": 2}), ("Sqrt", {})])
def test_unary_kinds_keep_the_shape(kind: str, args: dict) -> None:
    result = REGISTRY[kind](**args).infer([(2, 5, 7)])
    assert result.shapes == [(2, 5, 7)] and result.params == 0


def test_pow_needs_its_exponent() -> None:
    with pytest.raises(ValidationError):
        REGISTRY["Pow"].model_validate({})


@pytest.mark.parametrize("kind", ["Add", "Mul", "Sub", "Div"])
def test_a_scalar_operand_takes_one_input(kind: str) -> None:
    layer = REGISTRY[kind](scalar=0.5)
    assert layer.input_count() == (1, 1)
    assert layer.infer([(1, 3, 5, 5)]).shapes == [(1, 3, 5, 5)]
    with pytest.raises(ValidationError):
        REGISTRY[kind](scalar=0.5, tensor_shape=[1, 3, 1, 1])
    with pytest.raises(ValidationError):
        REGISTRY[kind](constant=True)  # a constant what? it needs tensor_shape


def test_a_tensor_operand_counts_its_elements() -> None:
    # ViT-B/16's position table: 1 x 197 x 768 = 151,296 learned parameters.
    learned = REGISTRY["Add"](tensor_shape=[1, 197, 768]).infer([(2, 197, 768)])
    assert (learned.shapes, learned.params, learned.buffers) == ([(2, 197, 768)], 151_296, 0)
    # A constant per-channel scale 1 x 64 x 1 x 1 = 64 buffer elements, broadcast over N, H, W.
    frozen = REGISTRY["Mul"](tensor_shape=[1, 64, 1, 1], constant=True).infer([(2, 64, 7, 7)])
    assert (frozen.shapes, frozen.params, frozen.buffers) == ([(2, 64, 7, 7)], 0, 64)
    # The tensor may widen the result, as broadcasting does: (2, 1, 5) + (3, 1) -> (2, 3, 5).
    assert REGISTRY["Add"](tensor_shape=[3, 1]).infer([(2, 1, 5)]).shapes == [(2, 3, 5)]
    with pytest.raises(ShapeError, match="tensor_shape"):
        REGISTRY["Add"](tensor_shape=[1, 3, 1, 1]).infer([(1, 4, 2, 2)])


SCALAR_SPEC = """
name: scalar-ops
input: [1, 3, 8, 8]
layers:
  - Div: {scalar: 255.0, name: scaled}
  - Sub: {scalar: 0.5}
  - Conv2d: {out_channels: 4, kernel_size: 3, padding: 1, name: conv}
  - Mul: {tensor_shape: [1, 4, 1, 1], name: gamma}
  - Add: {tensor_shape: [1, 4, 1, 1], constant: true, name: beta}
  - Pow: {exponent: 2}
  - Sqrt: {name: root}
  - Maximum: {from: [root, conv]}
  - Minimum: {from: [scaled, scaled]}
"""


def test_scalar_and_tensor_operands_in_a_spec() -> None:
    report = analyze_text(SCALAR_SPEC)
    rows = {row.name: row for row in report.rows}
    # Conv: 4 x 3 x 3 x 3 weights + 4 biases = 112; gamma 4 learned; beta 4 buffer elements.
    assert report.totals.params == 112 + 4
    assert report.totals.buffers == 4
    assert rows["gamma"].params == 4 and rows["beta"].buffers == 4
    assert tuple(rows["root"].output_shapes[0]) == (1, 4, 8, 8)


def test_a_bare_mul_still_needs_two_inputs() -> None:
    with pytest.raises(SpecError) as caught:
        analyze_text("name: m\ninput: [1, 3, 8, 8]\nlayers:\n  - Mul\n")
    assert "takes at least 2 input(s), got 1" in str(caught.value)


# --- padding: sizes by hand -------------------------------------------------------------


@pytest.mark.parametrize(
    "kind, args, shape, expected",
    [
        ("ZeroPad1d", {"padding": [2, 0]}, (1, 4, 10), (1, 4, 12)),  # 10 + 2 + 0
        ("ConstantPad2d", {"padding": [0, 1, 2, 3], "value": 1.5}, (1, 3, 8, 8), (1, 3, 13, 9)),  # H 8+2+3, W 8+0+1
        ("ReflectionPad2d", {"padding": 3}, (1, 3, 256, 256), (1, 3, 262, 262)),  # CycleGAN's stem
        ("ReplicationPad3d", {"padding": [1, 1, 2, 2, 3, 3]}, (1, 2, 4, 5, 6), (1, 2, 10, 9, 8)),  # D 4+6, H 5+4, W 6+2
        ("CircularPad1d", {"padding": 4}, (3, 4), (3, 12)),  # unbatched (C, L)
    ],
)
def test_padding_sizes(kind: str, args: dict, shape, expected) -> None:
    assert REGISTRY[kind](**args).infer([shape]).shapes == [expected]


def test_padding_limits_of_each_mode() -> None:
    # Reflection needs each side < the size; circular allows up to the size.
    with pytest.raises(ShapeError, match="less than the input size 3"):
        REGISTRY["ReflectionPad2d"](padding=3).infer([(1, 1, 3, 3)])
    assert REGISTRY["CircularPad2d"](padding=3).infer([(1, 1, 3, 3)]).shapes == [(1, 1, 9, 9)]
    with pytest.raises(ShapeError, match="may not exceed"):
        REGISTRY["CircularPad2d"](padding=4).infer([(1, 1, 3, 3)])
    with pytest.raises(ShapeError):
        REGISTRY["ZeroPad3d"](padding=1).infer([(1, 8, 8)])  # 3-D padding of a 3-D tensor: no channels
    with pytest.raises(ValidationError):
        REGISTRY["ZeroPad2d"](padding=[1, 2, 3])  # four values or one


def test_padding_moves_the_receptive_field_centre() -> None:
    # ZeroPad2d [left 0, right 1, top 2, bottom 0] then a 3x3 conv: the field is 3 wide with
    # padding 2 on H and 0 on W (the conv pads nothing).
    report = analyze_text("""
name: pads
input: [1, 1, 8, 8]
layers:
  - ReflectionPad2d: {padding: [0, 1, 2, 0]}
  - Conv2d: {out_channels: 1, kernel_size: 3}
""")
    rf = report.rows[-1].receptive_field
    assert rf is not None
    assert [(axis.size, axis.padding) for axis in rf.axes] == [(3, 2), (3, 0)]


# --- measured with PyTorch ----------------------------------------------------------------


def _torch_case(padding, n: int) -> tuple:
    """The pad tuple and an input shape (batch 2, 3 channels, sizes 4, 3, 5 as needed):
    one int, or asymmetric sides; reflection refuses some, and so must cnnshape."""
    sides = [0, 1, 2, 3, 1, 2][: 2 * n] if padding == "asym" else padding
    return sides, (2, 3) + (4, 3, 5)[-n:]


@pytest.mark.parametrize("kind, padding", [(kind, padding) for kind in PADS for padding in (1, 2, 3, "asym")])
def test_padding_measured_with_torch(kind: str, padding) -> None:
    torch = pytest.importorskip("torch")
    n = int(kind[-2])
    sides, shape = _torch_case(padding, n)
    args = {"padding": sides, **({"value": 0.5} if kind.startswith("Constant") else {})}
    layer = REGISTRY[kind](**args)
    module = getattr(torch.nn, kind)(*args.values())
    try:
        measured = tuple(module(torch.zeros(shape)).shape)
    except (RuntimeError, ValueError, NotImplementedError):
        with pytest.raises(ShapeError):
            layer.infer([shape])
        return
    assert layer.infer([shape]).shapes == [measured]
    assert sum(p.numel() for p in module.parameters()) == 0


@pytest.mark.parametrize("kind", ["Div", "Maximum", "Minimum"])
def test_binary_kinds_measured_with_torch(kind: str) -> None:
    torch = pytest.importorskip("torch")
    from cnnshape.bridge import runtime

    a, b = torch.ones(4), torch.full((2, 3, 1), 2.0)
    out = getattr(runtime, kind)()(a, b)
    assert tuple(out.shape) == REGISTRY[kind]().infer([(4,), (2, 3, 1)]).shapes[0]
    expected = {"Div": torch.div, "Maximum": torch.maximum, "Minimum": torch.minimum}[kind](a, b)
    assert torch.equal(out, expected)


def test_runtime_operands_measured_with_torch() -> None:
    torch = pytest.importorskip("torch")
    from cnnshape.bridge import runtime

    x = torch.tensor([1.0, 4.0])
    assert runtime.Mul(scalar=0.5)(x).tolist() == [0.5, 2.0]
    assert runtime.Sub(scalar=1.0)(x).tolist() == [0.0, 3.0]
    assert runtime.Div(scalar=2.0)(x).tolist() == [0.5, 2.0]
    assert runtime.Pow(2)(x).tolist() == [1.0, 16.0] and runtime.Sqrt()(x).tolist() == [1.0, 2.0]
    learned = runtime.Add(tensor_shape=[1, 197, 768])
    assert (
        sum(p.numel() for p in learned.parameters())
        == REGISTRY["Add"](tensor_shape=[1, 197, 768]).infer([(1, 197, 768)]).params
    )
    constant = runtime.Mul(tensor_shape=[1, 64, 1, 1], constant=True)
    assert list(constant.parameters()) == [] and sum(b.numel() for b in constant.buffers()) == 64


def test_vit_position_table_measured_in_torchvision() -> None:
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    with torch.device("meta"):
        vit = torchvision.models.vit_b_16()
    table = vit.encoder.pos_embedding
    assert REGISTRY["Add"](tensor_shape=list(table.shape)).infer([(1, 197, 768)]).params == table.numel()


def test_export_and_verify(tmp_path) -> None:
    pytest.importorskip("torch")
    from cnnshape.bridge.export import analyse_source
    from cnnshape.bridge.verify import verify_analysed
    from cnnshape.source import load_text

    spec = (
        SCALAR_SPEC
        + """  - ReflectionPad2d: {padding: [0, 1, 2, 3]}
  - ConstantPad2d: {padding: 1, value: 0.5}
  - ReplicationPad2d: {padding: 1}
  - CircularPad2d: {padding: 2}
  - ZeroPad2d: {padding: 1}
"""
    )
    result = verify_analysed(analyse_source(load_text(spec, "ops.yaml")))
    assert result.ok, result.mismatches
    assert result.layers == 14


# --- TensorFlow's SAME padding ------------------------------------------------------------


def test_tf_same_by_hand() -> None:
    # I = 224, K = 3, S = 2: out = ceil(224 / 2) = 112; total padding
    # (112 - 1)*2 + 3 - 224 = 1: 0 on the left, 1 on the right (TF puts the odd one after).
    layer = REGISTRY["Conv2d"](out_channels=8, kernel_size=3, stride=2, padding="tf_same")
    result = layer.infer([(1, 3, 224, 224)])
    assert result.shapes == [(1, 8, 112, 112)]
    # I = 225: out = 113, total (113 - 1)*2 + 3 - 225 = 2: 1 and 1.
    assert layer.infer([(1, 3, 225, 225)]).shapes == [(1, 8, 113, 113)]
    # The receptive field uses the real left padding: 0 at 224, 1 at 225.
    report = analyze_text(
        "name: s\ninput: [1, 3, 224, 225]\nlayers:\n"
        "  - Conv2d: {out_channels: 8, kernel_size: 3, stride: 2, padding: tf_same}\n"
    )
    rf = report.rows[-1].receptive_field
    assert rf is not None and [(axis.size, axis.padding) for axis in rf.axes] == [(3, 0), (3, 1)]


@pytest.mark.parametrize("size", [7, 8, 223, 224, 225])
@pytest.mark.parametrize(
    "kernel, stride, dilation", [(3, 2, 1), (5, 2, 1), (1, 2, 1), (3, 1, 1), (4, 3, 1), (3, 2, 2), (7, 4, 1)]
)
def test_tf_same_measured_against_timm(size: int, kernel: int, stride: int, dilation: int) -> None:
    torch = pytest.importorskip("torch")
    padding = pytest.importorskip("timm.layers.padding")
    conv_same = pytest.importorskip("timm.layers.conv2d_same")
    module = conv_same.Conv2dSame(2, 4, kernel, stride=stride, dilation=dilation)
    x = torch.zeros(1, 2, size, size + 1)
    measured = tuple(module(x).shape)
    pads = padding.pad_same_arg([size, size + 1], [kernel, kernel], [stride, stride], [dilation, dilation])
    layer = REGISTRY["Conv2d"](out_channels=4, kernel_size=kernel, stride=stride, dilation=dilation, padding="tf_same")
    assert layer.infer([(1, 2, size, size + 1)]).shapes == [measured]
    totals, lefts = layer._pads((size, size + 1))
    # timm's order: [left W, right W, top H, bottom H]
    assert (lefts[1], totals[1] - lefts[1], lefts[0], totals[0] - lefts[0]) == tuple(pads)
