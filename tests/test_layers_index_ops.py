"""Slice, Unbind, ExpandAs, Sum and ScaledDotProductAttention: the operations timm's models
use between their modules (GhostNet's and DPN's channel slices, ECA's expand_as, ResNeSt's
sum over the radix, a ViT attention's unbind and F.scaled_dot_product_attention).

Output shapes are worked out by hand from PyTorch's rules (written next to each case) and,
where torch is installed, measured with torch at test time; the attention's MACs are
torch.utils.flop_counter's count, halved. Importing a model that uses them is checked
against torch's own numbers (tests/torch_import_check.py).
"""

from __future__ import annotations

import operator
from typing import Any

import pytest

from cnnshape.errors import ShapeError
from cnnshape.layers import REGISTRY

FORMULA_KINDS = {"Slice", "Unbind", "ExpandAs", "ReshapeAs", "Sum", "ScaledDotProductAttention", "RelativePositionBias"}

# Python's slicing: len(range(*slice(start, end, step).indices(size))).
SLICES = [
    ({"end": 16}, (1, 32, 7, 7), (1, 16, 7, 7)),  # x[:, :16]
    ({"start": 16}, (1, 32, 7, 7), (1, 16, 7, 7)),  # x[:, 16:]: 32 - 16
    ({"start": 4, "end": 10}, (2, 12, 3), (2, 6, 3)),  # 10 - 4
    ({"end": -1}, (1, 5, 2), (1, 4, 2)),  # all but the last
    ({"end": 100}, (1, 5, 2), (1, 5, 2)),  # clamped to the size
    ({"dim": 2, "step": 2}, (1, 3, 7, 7), (1, 3, 4, 7)),  # 0, 2, 4, 6
    ({"dim": 2, "start": 1, "step": 2}, (1, 3, 7, 7), (1, 3, 3, 7)),  # 1, 3, 5
    ({"dim": -1, "start": -3}, (2, 10), (2, 3)),  # the last three
    ({"dim": [1, 2], "step": 2}, (1, 14, 14, 8), (1, 7, 7, 8)),  # LeViT's x[:, ::2, ::2]
    ({"dim": [1, 2], "start": [0, 1], "end": [2, None]}, (1, 4, 5), (1, 2, 4)),  # x[:, 0:2, 1:]
]


def _slice_index(args: dict[str, Any], rank: int) -> tuple[slice, ...]:
    dims = args.get("dim", 1)
    dims = dims if isinstance(dims, list) else [dims]

    def each(name: str, default: Any) -> list[Any]:
        value = args.get(name, default)
        return value if isinstance(value, list) else [value] * len(dims)

    index = [slice(None)] * rank
    for dim, start, end, step in zip(dims, each("start", 0), each("end", None), each("step", 1), strict=True):
        index[dim % rank] = slice(start, end, step)
    return tuple(index)


@pytest.mark.parametrize(("args", "shape", "out"), SLICES)
def test_slice_takes_what_python_slicing_takes(args: dict[str, Any], shape: tuple[int, ...], out: tuple) -> None:
    result = REGISTRY["Slice"](**args).infer([shape])
    assert result.shapes == [out]
    assert (result.params, result.buffers, result.macs) == (0, 0, 0)
    torch = pytest.importorskip("torch")
    from cnnshape.bridge import runtime

    x = torch.zeros(shape)
    assert tuple(x[_slice_index(args, len(shape))].shape) == out
    assert torch.equal(runtime.Slice(**args)(x), x[_slice_index(args, len(shape))])


def test_a_slice_that_takes_nothing_is_an_error() -> None:
    with pytest.raises(ShapeError, match="take nothing"):
        REGISTRY["Slice"](start=8).infer([(1, 8, 2, 2)])
    with pytest.raises(ShapeError, match="step has 3 entries for 2 dims"):
        REGISTRY["Slice"](dim=[1, 2], step=[1, 2, 2]).infer([(1, 8, 2, 2)])


@pytest.mark.parametrize(
    ("index", "shape", "args"),
    [
        ((slice(None), slice(None, 16)), (1, 32, 7, 7), {"end": 16}),  # GhostNet: out[:, :self.out_chs]
        ((slice(None), slice(16, None), slice(None), slice(None)), (1, 32, 7, 7), {"start": 16}),
        ((Ellipsis, slice(0, None, 2), slice(None)), (1, 8, 8, 4), {"dim": 2, "step": 2}),  # x[..., 0::2, :]
        ((slice(None), slice(0, 32)), (1, 32, 7, 7), None),  # takes every channel: no slice at all
        ((slice(None), 0), (1, 32, 7), None),  # an int picks (Select), not a slice
        ((slice(None), slice(1, 3), slice(1, 3)), (1, 4, 4), {"dim": [1, 2], "start": 1, "end": 3}),
        ((slice(None), slice(None, None, 2), slice(None, None, 2)), (1, 14, 14, 8), {"dim": [1, 2], "step": 2}),
        ((slice(None), slice(0, 2), slice(1, None)), (1, 4, 4), {"dim": [1, 2], "start": [0, 1], "end": [2, None]}),
        ((slice(None), None), (1, 4), None),  # None adds a dim
    ],
)
def test_slice_reads_an_index_as_written(index: Any, shape: tuple[int, ...], args: Any) -> None:
    """The arguments written for `x[index]`: the end left out when it reaches the end, so
    the spec follows its input's size."""
    assert REGISTRY["Slice"].from_torch_call("operator.getitem", {"index": index}, shape, []) == args


def test_slice_from_narrow() -> None:
    # x.narrow(1, 2, 3): channels 2, 3, 4
    assert REGISTRY["Slice"].from_torch_call("method.narrow", {"dim": 1, "start": 2, "length": 3}, (1, 8, 2), []) == {
        "start": 2,
        "end": 5,
    }


def test_unbind_gives_one_output_per_index() -> None:
    # (3, 1, 4, 197, 64).unbind(0): three (1, 4, 197, 64)
    result = REGISTRY["Unbind"](size=3).infer([(3, 1, 4, 197, 64)])
    assert result.shapes == [(1, 4, 197, 64)] * 3
    assert REGISTRY["Unbind"](size=2, dim=-1).infer([(5, 2)]).shapes == [(5,), (5,)]
    with pytest.raises(ShapeError, match="size 2 but dim 0"):
        REGISTRY["Unbind"](size=2).infer([(3, 4)])
    torch = pytest.importorskip("torch")
    from cnnshape.bridge import runtime

    x = torch.arange(24.0).reshape(3, 2, 4)
    assert [tuple(t.shape) for t in torch.unbind(x, 0)] == [(2, 4)] * 3
    assert all(torch.equal(a, b) for a, b in zip(runtime.Unbind(3)(x), torch.unbind(x, 0), strict=True))


@pytest.mark.parametrize(
    ("x", "other"),
    [((1, 64, 1, 1), (1, 64, 56, 56)), ((64, 1, 1), (2, 64, 7, 7)), ((1, 1), (3, 5))],
)
def test_expand_as_takes_the_others_shape(x: tuple[int, ...], other: tuple[int, ...]) -> None:
    assert REGISTRY["ExpandAs"]().infer([x, other]).shapes == [other]
    torch = pytest.importorskip("torch")
    from cnnshape.bridge import runtime

    a, b = torch.ones(x), torch.zeros(other)
    assert tuple(a.expand_as(b).shape) == other
    assert torch.equal(runtime.ExpandAs()(a, b), a.expand_as(b))


def test_expand_as_to_a_shape_it_cannot_reach_is_an_error() -> None:
    with pytest.raises(ShapeError, match="cannot expand"):
        REGISTRY["ExpandAs"]().infer([(1, 32, 1, 1), (1, 64, 7, 7)])
    with pytest.raises(ShapeError, match="cannot expand"):
        REGISTRY["ExpandAs"]().infer([(2, 1, 64, 1, 1), (64, 7, 7)])


@pytest.mark.parametrize(
    ("args", "shape", "out"),
    [
        ({"dim": 1}, (1, 2, 64, 56, 56), (1, 64, 56, 56)),  # ResNeSt: the radix groups added
        ({"dim": [2, 3], "keepdim": True}, (1, 64, 7, 7), (1, 64, 1, 1)),
        ({"dim": -1}, (4, 5), (4,)),
    ],
)
def test_sum_reduces_like_torch_sum(args: dict[str, Any], shape: tuple[int, ...], out: tuple[int, ...]) -> None:
    result = REGISTRY["Sum"](**args).infer([shape])
    assert result.shapes == [out]
    assert (result.params, result.buffers, result.macs) == (0, 0, 0)
    torch = pytest.importorskip("torch")
    from cnnshape.bridge import runtime

    x = torch.arange(float(torch.zeros(shape).numel())).reshape(shape)
    expected = x.sum(dim=args["dim"], keepdim=args.get("keepdim", False))
    assert tuple(expected.shape) == out
    assert torch.equal(runtime.Sum(args["dim"], keepdim=args.get("keepdim", False))(x), expected)


# (query, key, value) -> output: (..., L, E), (..., S, E), (..., S, Ev) -> (..., L, Ev)
ATTENTION = [
    ((1, 3, 197, 64), (1, 3, 197, 64), (1, 3, 197, 64), (1, 3, 197, 64)),  # DeiT-Tiny: 3 heads of 64
    ((2, 4, 10, 16), (2, 4, 7, 16), (2, 4, 7, 8), (2, 4, 10, 8)),  # cross-attention, Ev != E
    ((5, 12, 32), (5, 9, 32), (5, 9, 32), (5, 12, 32)),  # no head dim
]


@pytest.mark.parametrize(("q", "k", "v", "out"), ATTENTION)
def test_attention_shape_and_macs_as_torch_counts_them(q: tuple, k: tuple, v: tuple, out: tuple) -> None:
    result = REGISTRY["ScaledDotProductAttention"]().infer([q, k, v])
    assert result.shapes == [out]
    assert (result.params, result.buffers) == (0, 0)
    # By hand for DeiT-Tiny: 3 heads x 197 queries x 197 keys x (64 + 64) = 14,902,656.
    if q == (1, 3, 197, 64):
        assert result.macs == 3 * 197 * 197 * (64 + 64) == 14_902_656
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode

    from cnnshape.bridge import runtime

    tensors = [torch.zeros(shape, device="meta") for shape in (q, k, v)]
    with FlopCounterMode(display=False) as counter:
        measured = torch.nn.functional.scaled_dot_product_attention(*tensors)
    assert tuple(measured.shape) == out
    assert result.macs * 2 == counter.get_total_flops()
    real = [torch.randn(shape) for shape in (q, k, v)]
    ours = runtime.ScaledDotProductAttention().eval()(*real)
    assert torch.allclose(ours, torch.nn.functional.scaled_dot_product_attention(*real))


def test_attention_inputs_that_do_not_fit_are_an_error() -> None:
    with pytest.raises(ShapeError, match="do not fit"):
        REGISTRY["ScaledDotProductAttention"]().infer([(1, 2, 5, 8), (1, 2, 5, 4), (1, 2, 5, 8)])


def test_reshape_as_takes_the_others_shape() -> None:
    # LeViT: bn((1*196, 128)).reshape_as((1, 196, 128))
    assert REGISTRY["ReshapeAs"]().infer([(196, 128), (1, 196, 128)]).shapes == [(1, 196, 128)]
    with pytest.raises(ShapeError, match="cannot reshape"):
        REGISTRY["ReshapeAs"]().infer([(196, 128), (1, 196, 64)])
    torch = pytest.importorskip("torch")
    from cnnshape.bridge import runtime

    a, b = torch.arange(12.0).reshape(6, 2), torch.zeros(2, 3, 2)
    assert torch.equal(runtime.ReshapeAs()(a, b), a.reshape_as(b))


def test_relative_position_bias_is_a_table_gathered_by_an_index() -> None:
    """LeViT-128S's first attention: 4 heads, a table of 196 offsets per head gathered by a
    196 x 196 index: 4 * 196 = 784 parameters, 196 * 196 = 38,416 index buffers; the bias
    (4, 196, 196) broadcasts against the scores (1, 4, 196, 196)."""
    layer = REGISTRY["RelativePositionBias"](table_shape=[4, 196], index_shape=[196, 196], dim=1)
    result = layer.infer([(1, 4, 196, 196)])
    assert (result.shapes, result.params, result.buffers, result.macs) == ([(1, 4, 196, 196)], 784, 38_416, 0)
    # Swin's table[index] along dim 0: (169, 3) by (49, 49) -> (49, 49, 3)
    assert REGISTRY["RelativePositionBias"](table_shape=[169, 3], index_shape=[49, 49]).infer(
        [(2, 49, 49, 3)]
    ).shapes == [(2, 49, 49, 3)]
    torch = pytest.importorskip("torch")
    from cnnshape.bridge import runtime

    ours = runtime.RelativePositionBias([4, 196], [196, 196], dim=1)
    table, index = torch.randn(4, 196), torch.randint(0, 196, (196, 196))
    ours.table.data.copy_(table)
    ours.index.copy_(index)
    x = torch.randn(1, 4, 196, 196)
    assert torch.equal(ours(x), x + table[:, index])
    assert sum(p.numel() for p in ours.parameters()) == 784 and sum(b.numel() for b in ours.buffers()) == 38_416


def test_a_gathered_bias_imports_with_torchs_numbers() -> None:
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class Biased(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.scores = nn.Linear(8, 8)
            self.biases = nn.Parameter(torch.zeros(2, 5))
            self.register_buffer("idxs", torch.randint(0, 5, (4, 4)), persistent=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            s = self.scores(x).view(x.shape[0], 4, 2, 4).permute(0, 2, 1, 3)  # (N, 2, 4, 4)
            return (s * 0.25 + self.biases[:, self.idxs]).softmax(dim=-1)

    with torch.device("meta"):
        result, report = _imported(Biased(), (3, 4, 8))
    assert "- RelativePositionBias: {table_shape: [2, 5], index_shape: [4, 4], dim: 1" in result.text
    assert report.totals.buffers == 16


def _imported(model: Any, shape: tuple[int, ...]) -> Any:
    from torch_import_check import check_against_torch

    from cnnshape.bridge.fx_import import import_model

    result = import_model(model.eval(), shape, "net")
    return result, check_against_torch(model, shape, result, "net")


def test_a_model_with_these_operations_imports_with_torchs_numbers() -> None:
    """Channel slices, expand_as, sum, unbind, scaled_dot_product_attention and numbers
    as operands (`x * 0.5`, `2 * x`), imported and compared with torch."""
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 16, 3, padding=1)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.qkv = nn.Linear(8, 24)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.conv(x)
            a, b = x[:, :8], x[:, 8:]
            gate = self.pool(a).sigmoid().expand_as(b)
            x = a + b * gate
            x = x.narrow(1, 0, 8) * 0.5
            x = 2 * x.flatten(2).transpose(1, 2)  # (N, HW, 8)
            q, k, v = self.qkv(x).reshape(x.shape[0], x.shape[1], 3, 2, 4).permute(2, 0, 3, 1, 4).unbind(0)
            y = torch.nn.functional.scaled_dot_product_attention(q, k, v)
            return y.sum(dim=1)

    with torch.device("meta"):
        result, report = _imported(Net(), (1, 3, 6, 6))
    kinds = {
        kind
        for kind in ("Slice", "ExpandAs", "Unbind", "ScaledDotProductAttention", "Sum")
        if f"- {kind}" in result.text
    }
    assert kinds == {"Slice", "ExpandAs", "Unbind", "ScaledDotProductAttention", "Sum"}, result.text
    assert "Mul: {scalar: 0.5" in result.text and "Mul: {scalar: 2.0" in result.text
    # At another size the slices and the expand follow the input, as torch does.
    from cnnshape.pipeline import analyze_text

    model = Net().eval()
    other = analyze_text(result.text, "net.yaml", input_shape=(2, 3, 8, 10))
    with torch.no_grad():
        out = model(torch.zeros(2, 3, 8, 10))
    assert [tuple(o.shape) for o in other.outputs] == [tuple(out.shape)]
    assert report.totals.params == sum(p.numel() for p in model.parameters())


def test_a_number_first_in_a_subtraction_keeps_its_order() -> None:
    """`1 - x` is not x - 1: Sub and Div with the number first are written `reverse: true`;
    Add and Mul need no order."""
    torch = pytest.importorskip("torch")

    class Net(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = operator.sub(1.0, torch.relu(x))
            return operator.truediv(2.0, y) + 3.0 * y

    with torch.device("meta"):
        result, _ = _imported(Net(), (1, 3, 4, 4))
    assert "- Sub: {scalar: 1.0, reverse: true" in result.text
    assert "- Div: {scalar: 2.0, reverse: true" in result.text
    assert "- Mul: {scalar: 3.0, name" in result.text
