"""`cnnshape import`: models written with plain torch.nn (tests/bridge_models.py) traced
into specs, which cnnshape then analyses to PyTorch's own totals and output shapes.

Expected numbers come from PyTorch (`sum(p.numel() for p in model.parameters())` and a
forward pass), never from cnnshape's own output.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from conftest import cli  # noqa: E402

from cnnshape.bridge.fx_import import import_model  # noqa: E402
from cnnshape.pipeline import analyze_text  # noqa: E402

HERE = Path(__file__).resolve().parent
MODELS = HERE / "bridge_models.py"


run = partial(cli, width=200)


def _models():
    import importlib.util

    spec = importlib.util.spec_from_file_location("bridge_models_for_tests", MODELS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CASES = [
    ("Residual", (1, 3, 32, 32)),
    ("Branching", (2, 3, 64, 64)),
    ("Depthwise", (1, 3, 96, 96)),
    ("Attention", (1, 3, 32, 32)),
]


@pytest.mark.parametrize("name, shape", CASES, ids=[case[0] for case in CASES])
def test_import_then_summary_gives_pytorchs_numbers(name: str, shape: tuple, tmp_path: Path) -> None:
    model = getattr(_models(), name)().eval()
    with torch.no_grad():
        expected_out = tuple(model(torch.zeros(shape)).shape)
    expected_params = sum(p.numel() for p in model.parameters())
    out = tmp_path / "net.yaml"
    result = run("import", f"{MODELS}:{name}", "--input", ",".join(map(str, shape)), "-o", str(out))
    assert result.exit_code == 0, result.output
    report = analyze_text(out.read_text(), str(out))
    assert report.totals.params == expected_params
    assert [tuple(o.shape) for o in report.outputs] == [expected_out]
    summary = cli("summary", str(out))
    assert summary.exit_code == 0, summary.output
    assert f"{expected_params:,}" in summary.output


def test_blocks_share_one_definition_with_args() -> None:
    result = import_model(_models().Residual(), (1, 3, 32, 32))
    assert result.ok, (result.unmapped, result.problems)
    text = result.text
    # Five BasicBlocks without a projection share one block; the two with one share another.
    assert "  BasicBlock:\n" in text and "  BasicBlock_2:\n" in text and "BasicBlock_3" not in text
    assert "args: {out_channels: 16}" in text
    assert "- BasicBlock: {out_channels: 32, name: layer2_1}" in text
    assert "- Conv2d: {out_channels: $out_channels, kernel_size: 3, padding: 1, bias: false, name: conv1}" in text


def test_branches_join_with_concat_from_named_layers() -> None:
    result = import_model(_models().Branching(), (1, 3, 64, 64))
    assert result.ok, (result.unmapped, result.problems)
    assert "- Concat: {name: cat, from: [branch1, branch3_2, branch5_2, branch_pool]}" in result.text
    assert "from: input" in result.text  # each branch starts from the block input


def test_attention_maps_to_cnnshape_kinds() -> None:
    result = import_model(_models().Attention(), (1, 3, 32, 32))
    assert result.ok, (result.unmapped, result.problems)
    for line in (
        "MultiheadAttention: {num_heads: 4, batch_first: true, name: attention}",
        "TransformerEncoderLayer: {d_model: 48, nhead: 4, dim_feedforward: 96, dropout: 0.0, activation: gelu, batch_first: true, name: encoder}",
        "Permute: {dims: [0, 2, 1]",
        "Select: {dim: 1, index: 0",
    ):
        assert line in result.text


def test_a_factory_in_a_package_module(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.syspath_prepend(str(HERE))
    result = run("import", "bridge_models:residual_factory", "--input", "1,3,32,32", "--name", "tiny")
    assert result.exit_code == 0, result.output
    assert "name: tiny" in result.output
    assert "- Linear: {out_features: 4, name: fc}" in result.output


def test_unmapped_operations_are_located_and_exit_1() -> None:
    result = run("import", f"{MODELS}:Unmappable", "--input", "1,3,16,16")
    assert result.exit_code == 1
    assert "forward (mul): call_function operator.mul: uses the parameter or buffer 'scale' directly" in result.output
    assert "forward (sort): call_function torch.sort: no cnnshape layer kind" in result.output
    assert "name:" not in result.output  # no spec is written


def test_an_unknown_module_is_reported_with_its_path() -> None:
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Softsign()))
    result = import_model(model, (1, 3, 8, 8))
    assert not result.ok
    assert [u.format() for u in result.unmapped] == [
        "1.1: module Softsign: no cnnshape layer kind of this name (docs/torch.md lists the mapping)"
    ]


@pytest.mark.parametrize(
    "target, message",
    [
        ("no_colon_here", "expected TARGET as pkg.module:attr or path/to/file.py:attr"),
        ("missing/file.py:Net", "no such file"),
        (f"{MODELS}:Nope", "has no attribute 'Nope'"),
        (f"{MODELS}:torch", "is a module: expected an nn.Module instance, class or zero-argument factory"),
    ],
)
def test_bad_targets_exit_1(target: str, message: str) -> None:
    result = run("import", target, "--input", "1,3,8,8")
    assert result.exit_code == 1
    assert message in result.output


def test_a_rejected_spec_is_written_beside_the_output_and_located_in_it(tmp_path: Path) -> None:
    out = tmp_path / "net.yaml"
    result = run("import", f"{MODELS}:UnusedHead", "--input", "1,3,8,8", "-o", str(out))
    assert result.exit_code == 1
    rejected = tmp_path / "net.rejected.yaml"
    assert not out.exists() and rejected.exists()
    assert "parameters: the spec has 112, PyTorch 122" in result.output  # 3*3*3*4 + 4; + 4*2 + 2
    assert f"wrote the rejected spec to {rejected}" in " ".join(result.output.split())
    assert "- Conv2d: {out_channels: 4, kernel_size: 3, name: conv}" in rejected.read_text()
