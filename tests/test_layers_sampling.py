"""TopK, Gather, GridSample and Sum (RT-DETR's query selection and deformable attention):
shapes against PyTorch's own operations, run at test time, and GridSample's FLOPs against
fvcore's count."""

from __future__ import annotations

import pytest

from cnnshape.errors import SpecError
from cnnshape.pipeline import analyze_text

FORMULA_KINDS = {"TopK", "Gather", "GridSample", "Sum"}

SPEC = """\
name: sampling
input: {scores: [2, 8400], feats: [2, 8400, 256], value: [16, 32, 80, 80], grid: [16, 300, 4, 2]}
layers:
  - TopK: {from: scores, k: 300, dim: 1, name: best}
  - Gather: {from: [feats, best.1], dim: 1, name: picked}
  - GridSample: {from: [value, grid], name: sampled}
  - Sum: {dim: -1, name: summed}
outputs: [best.0, best.1, picked, sampled, summed]
"""


def test_shapes_equal_torch() -> None:
    torch = pytest.importorskip("torch")
    from cnnshape.bridge import runtime

    scores, feats = torch.randn(2, 8400), torch.randn(2, 8400, 256)
    value, grid = torch.randn(16, 32, 80, 80), torch.rand(16, 300, 4, 2) * 2 - 1
    values, indices = scores.topk(300, dim=1)
    picked = feats.gather(1, indices[..., None].expand(-1, -1, 256))
    sampled = torch.nn.functional.grid_sample(value, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    expected = [values, indices, picked, sampled, sampled.sum(-1)]
    report = analyze_text(SPEC, "sampling.yaml")
    assert [o.shape for o in report.outputs] == [tuple(t.shape) for t in expected]
    # cnnshape's runtime modules compute the same tensors
    ours_values, ours_indices = runtime.TopK(300, dim=1)(scores)
    assert torch.equal(ours_values, values) and torch.equal(ours_indices, indices)
    assert torch.equal(runtime.Gather(1)(feats, indices), picked)
    assert torch.equal(runtime.GridSample()(value, grid), sampled)
    assert torch.equal(runtime.Sum(-1)(sampled), sampled.sum(-1))
    assert report.totals.params == 0 and report.totals.macs == 0


@pytest.mark.parametrize(
    ("layers", "text"),
    [
        ("  - TopK: {from: scores, k: 9000, dim: 1}\n", "k=9000 is more than the 8400 elements"),
        ("  - Gather: {from: [feats, scores], dim: 2}\n", "does not fit"),
        ("  - GridSample: {from: [value, feats]}\n", "must be (N, H_out, W_out, 2)"),
    ],
)
def test_bad_inputs_are_located(layers: str, text: str) -> None:
    spec = SPEC.split("layers:\n")[0] + "layers:\n" + layers
    with pytest.raises(SpecError) as caught:
        analyze_text(spec, "bad.yaml")
    (problem,) = [p for p in caught.value.problems if p.severity == "error"]
    assert problem.line == 4 and text in problem.message, problem


def test_grid_sample_flops_equal_fvcore() -> None:
    """fvcore's aten::grid_sampler handle: 4 per output element (measured with fvcore)."""
    torch = pytest.importorskip("torch")
    fvcore = pytest.importorskip("fvcore.nn")
    from cnnshape.bridge import runtime
    from cnnshape.count import CONVENTIONS, count

    value, grid = torch.randn(16, 32, 20, 20), torch.rand(16, 300, 4, 2) * 2 - 1
    theirs = fvcore.FlopCountAnalysis(runtime.GridSample(), (value, grid))
    theirs.unsupported_ops_warnings(False)
    spec = """\
name: gs
input: {value: [16, 32, 20, 20], grid: [16, 300, 4, 2]}
layers:
  - GridSample: {from: [value, grid]}
"""
    report = analyze_text(spec, "gs.yaml")
    assert count(report, CONVENTIONS["fvcore"]).macs == theirs.total() == 4 * 16 * 32 * 300 * 4
