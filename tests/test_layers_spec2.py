"""Formula cases of the kinds spec format 2 adds (Sub, Abs, Neg): output shapes worked out
by PyTorch's broadcasting rule by hand, and measured with torch (optional)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cnnshape.errors import ShapeError
from cnnshape.layers import REGISTRY

FORMULA_KINDS = {"Sub", "Abs", "Neg"}


@pytest.mark.parametrize(
    "shapes, expected",
    [
        ([(1, 8, 4, 4), (1, 8, 4, 4)], (1, 8, 4, 4)),
        ([(1, 8, 4, 4), (1, 8, 1, 1)], (1, 8, 4, 4)),  # an SE-style gate broadcasts
        ([(4,), (2, 3, 1)], (2, 3, 4)),  # trailing alignment, rank grows
    ],
)
def test_sub_broadcasts(shapes, expected) -> None:
    result = REGISTRY["Sub"]().infer(shapes)
    assert result.shapes == [expected]
    assert (result.params, result.buffers, result.macs) == (0, 0, 0)


def test_sub_mismatch_and_arity() -> None:
    with pytest.raises(ShapeError):
        REGISTRY["Sub"]().infer([(1, 8, 4, 4), (1, 3, 4, 4)])
    assert (REGISTRY["Sub"].min_inputs, REGISTRY["Sub"].max_inputs) == (2, 2)


@pytest.mark.parametrize("kind", ["Abs", "Neg"])
def test_unary_keeps_the_shape(kind: str) -> None:
    result = REGISTRY[kind]().infer([(2, 5, 7)])
    assert result.shapes == [(2, 5, 7)] and result.params == 0
    with pytest.raises(ValidationError):
        REGISTRY[kind].model_validate({"inplace": True})


def test_measured_with_torch() -> None:
    torch = pytest.importorskip("torch")
    from cnnshape.bridge import runtime

    a, b = torch.zeros(4), torch.zeros(2, 3, 1)
    assert tuple(runtime.Sub()(a, b).shape) == REGISTRY["Sub"]().infer([(4,), (2, 3, 1)]).shapes[0]
    x = torch.tensor([-2.0, 3.0])
    assert runtime.Abs()(x).tolist() == [2.0, 3.0] and runtime.Neg()(x).tolist() == [2.0, -3.0]
