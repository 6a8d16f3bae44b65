"""The layer's own operand first: `Sub`/`Div` (and `Add`/`Mul`) with `reverse: true` are
`1 - x`, `1 / x`, `t - x`; `Pow: {base: 2}` is `2 ** x`. Shapes and counts by hand; values
measured with PyTorch through the exported runtime modules (optional tests)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cnnshape.layers import REGISTRY
from cnnshape.pipeline import analyze_text

SPEC = """\
name: reversed
input: [1, 8, 4, 4]
layers:
  - Sub: {scalar: 1, reverse: true}                      # 1 - x
  - Div: {scalar: 1, reverse: true}                      # 1 / x
  - Pow: {base: 2}                                       # 2 ** x
  - Sub: {tensor_shape: [1, 8, 1, 1], reverse: true}     # t - x
  - Div: {tensor_shape: [1, 1, 4, 4], constant: true, reverse: true}   # c / x
"""


def test_reversed_operands_by_hand() -> None:
    report = analyze_text(SPEC)
    # Every one keeps the input's shape (the operands broadcast to (1, 8, 4, 4)).
    assert [row.output_shapes[0] for row in report.rows] == [(1, 8, 4, 4)] * 5
    # t: 1*8*1*1 = 8 learned parameters; c: 1*1*4*4 = 16 buffer elements.
    assert [row.params for row in report.rows] == [0, 0, 0, 8, 0]
    assert [row.buffers for row in report.rows] == [0, 0, 0, 0, 16]
    assert report.totals.macs == 0
    working = {row.name: row.working for row in report.rows}
    assert working["sub_1"][0] == "1 - x: the shape is kept"
    assert working["div_1"][0] == "1 / x: the shape is kept"
    assert working["pow_1"][0] == "2 ** x: the shape is kept"
    assert working["sub_2"][1] == "(1, 8, 1, 1) - (1, 8, 4, 4) -> (1, 8, 4, 4)"


def test_reverse_needs_an_operand_of_the_layers_own() -> None:
    with pytest.raises(ValidationError, match="reverse: true puts the layer's own operand first"):
        REGISTRY["Sub"](reverse=True)
    with pytest.raises(ValidationError, match="exactly one of exponent"):
        REGISTRY["Pow"](exponent=2, base=2)
    with pytest.raises(ValidationError, match="exactly one of exponent"):
        REGISTRY["Pow"]()


def test_reverse_without_operand_is_located_in_the_spec() -> None:
    from cnnshape.errors import SpecError

    with pytest.raises(SpecError) as caught:
        analyze_text("name: s\ninput: [1, 4]\nlayers:\n  - Sub: {reverse: true}\n", "s.yaml")
    (problem,) = caught.value.problems
    assert (problem.line, problem.code) == (4, "bad-value")


def test_reversed_runtime_modules_equal_torch() -> None:
    torch = pytest.importorskip("torch")
    from cnnshape.bridge import runtime

    x = torch.rand(2, 3, 4) + 0.5
    assert torch.equal(runtime.Sub(scalar=1.0, reverse=True)(x), 1.0 - x)
    assert torch.equal(runtime.Div(scalar=3.0, reverse=True)(x), 3.0 / x)
    assert torch.equal(runtime.Pow(base=2.0)(x), torch.pow(2.0, x))
    assert torch.equal(runtime.Pow(3)(x), x**3)
    sub = runtime.Sub(tensor_shape=[1, 3, 1], reverse=True)
    with torch.no_grad():
        sub.tensor.copy_(torch.tensor([1.0, 2.0, 3.0]).reshape(1, 3, 1))
    assert torch.equal(sub(x), sub.tensor - x)
    assert torch.equal(runtime.Sub(scalar=1.0)(x), x - 1.0)  # not reversed: as before


def test_reversed_operands_export_verify_and_compute() -> None:
    torch = pytest.importorskip("torch")
    from cnnshape.bridge.export import analyse_source, export_analysed
    from cnnshape.bridge.verify import load_code, verify_analysed
    from cnnshape.source import load_text

    analysed = analyse_source(load_text(SPEC, "reversed.yaml"))
    result = verify_analysed(analysed)
    assert result.ok, result.mismatches
    model = load_code(export_analysed(analysed)).build().eval()
    x = torch.rand(1, 8, 4, 4) + 2.0  # 1 - x in [-2, -1]: away from 0
    with torch.no_grad():
        model.sub_2.tensor.normal_()
        model.div_2.tensor.fill_(2.0)
        expected = 2.0 / (model.sub_2.tensor - torch.pow(2.0, 1.0 / (1.0 - x)))
        assert torch.allclose(model(x), expected)
