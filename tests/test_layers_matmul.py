"""MatMul (torch.matmul of two tensors): output shapes and multiply-adds measured with torch
at test time, its runtime module, and a located error when the inner dims disagree."""

from __future__ import annotations

import pytest

from cnnshape.errors import SpecError
from cnnshape.layers import REGISTRY
from cnnshape.pipeline import analyze_text

FORMULA_KINDS = {"MatMul"}

CASES = [
    ((1, 2, 400, 32), (1, 2, 32, 400)),  # an attention's q @ k for 2 heads over 400 positions
    ((2, 3, 4), (4, 5)),  # broadcast: a batch of matrices times one matrix
    ((5, 1, 3, 4), (2, 4, 6)),  # leading dims broadcast to (5, 2)
    ((7, 8), (8, 9)),
]


@pytest.mark.parametrize(("a", "b"), CASES)
def test_shape_and_macs_as_torch_computes_them(a: tuple[int, ...], b: tuple[int, ...]) -> None:
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode

    result = REGISTRY["MatMul"]().infer([a, b])
    x, y = torch.zeros(a), torch.zeros(b)
    with FlopCounterMode(display=False) as counter:
        out = torch.matmul(x, y)
    assert result.shapes == [tuple(out.shape)]
    assert result.macs * 2 == counter.get_total_flops()  # torch counts 2 FLOPs per multiply-add


def test_runtime_module_is_torch_matmul() -> None:
    torch = pytest.importorskip("torch")
    from cnnshape.bridge import runtime

    a, b = torch.arange(6.0).reshape(2, 3), torch.arange(12.0).reshape(3, 4)
    assert torch.equal(runtime.MatMul()(a, b), a @ b)


def test_inner_dims_that_disagree_are_located() -> None:
    spec = """\
name: bad
input: {q: [1, 2, 16, 8], k: [1, 2, 16, 8]}
layers:
  - MatMul: {from: [q, k]}
"""
    with pytest.raises(SpecError) as caught:
        analyze_text(spec, "bad.yaml")
    (problem,) = [p for p in caught.value.problems if p.severity == "error"]
    assert (problem.line, problem.code) == (4, "shape") and "Permute" in problem.message
