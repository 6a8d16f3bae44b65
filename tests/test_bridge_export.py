"""`cnnshape export` and `cnnshape verify`: every bundled spec written as PyTorch code,
built and compared layer by layer with cnnshape's analysis.

Expected numbers come from PyTorch itself (verify runs it) or from published values
(torchvision's ResNet-50: 25,557,032 parameters), never from cnnshape's own output.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from conftest import cli  # noqa: E402

from cnnshape.bridge.export import analyse_file, export_file  # noqa: E402
from cnnshape.bridge.verify import load_code, verify_analysed  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.yaml"))


run = partial(cli, width=200)


def _build(path: Path, device: str = "meta"):
    module = load_code(export_file(path))
    with torch.device(device):
        return module, module.build()


@pytest.mark.parametrize("spec", SPECS, ids=[path.stem for path in SPECS])
def test_every_bundled_spec_verifies(spec: Path) -> None:
    result = run("verify", str(spec))
    assert result.exit_code == 0, result.output
    assert "OK: every layer's output shape, parameters and buffers match." in result.output


def test_exported_resnet50_has_torchvisions_parameter_count() -> None:
    _, model = _build(ROOT / "specs" / "resnet50.yaml")
    assert sum(p.numel() for p in model.parameters()) == 25_557_032  # torchvision resnet50 num_params


def test_exported_resnet18_runs_on_the_cpu() -> None:
    _, model = _build(ROOT / "specs" / "resnet18.yaml", "cpu")
    with torch.no_grad():
        out = model.eval()(torch.zeros(1, 3, 224, 224))
    assert tuple(out.shape) == (1, 1000)
    assert sum(p.numel() for p in model.parameters()) == 11_689_512  # torchvision resnet18 num_params


def test_verify_on_the_cpu() -> None:
    result = run("verify", str(ROOT / "specs" / "mobilenet_v3_small.yaml"), "--device", "cpu")
    assert result.exit_code == 0, result.output


def test_exported_file_runs_alone_and_imports_only_torch(tmp_path: Path) -> None:
    out = tmp_path / "lenet.py"
    result = run("export", str(ROOT / "specs" / "seed-lenet.yaml"), "--to", "pytorch", "-o", str(out))
    assert result.exit_code == 0, result.output
    tree = ast.parse(out.read_text())
    imported = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= {"__future__", "torch", "math"}
    ran = subprocess.run([sys.executable, str(out)], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split() == ["output", "(1,", "10)", "parameters", "61280"]  # the seed's hand count


def test_blocks_become_classes_with_the_blocks_args() -> None:
    code = export_file(ROOT / "specs" / "resnet50.yaml")
    assert "class Bottleneck(nn.Module):" in code
    assert "def __init__(self, in_channels: int, planes=64, stride=1, downsample=False, expansion=4):" in code
    assert "self.down_conv = nn.Conv2d(in_channels, planes * expansion, 1, stride=stride, bias=False)" in code
    assert "class Stage(nn.Module):" in code and "class Stage_2" not in code  # one class for the four stages
    assert "self.add_module('bottleneck_' + str(i + 2), Bottleneck(in_channels=planes * 4, planes=planes))" in code
    assert "self.layer2 = Stage(in_channels=256, planes=128, blocks=4, stride=2)" in code


def test_submodules_follow_the_specs_names() -> None:
    analysed = analyse_file(ROOT / "specs" / "efficientnet_b0.yaml")
    _, model = _build(ROOT / "specs" / "efficientnet_b0.yaml")
    names = {name for name, _ in model.named_modules()}
    for node in analysed.graph.nodes[1:]:
        assert node.name in names
    for block in analysed.graph.blocks:
        assert block.name in names


def test_helpers_for_kinds_without_a_torch_class() -> None:
    code = export_file(ROOT / "specs" / "convnext_tiny.yaml")
    # Add comes with the base class it is written on (its scalar or tensor operand).
    for helper in (
        "class Permute(nn.Module):",
        "class LayerScale(nn.Module):",
        "class StochasticDepth(nn.Module):",
        "class _Operand(nn.Module):",
        "class Add(_Operand):",
    ):
        assert helper in code
    assert code.index("class _Operand(") < code.index("class Add(")
    vit = export_file(ROOT / "specs" / "vit_b_16.yaml")
    for helper in ("class ClassToken(nn.Module):", "class PositionEmbedding(nn.Module):", "class Select(nn.Module):"):
        assert helper in vit
    assert "need_weights=False)[0]" in vit


SPEC_WITH_EVERYTHING = """
name: features
input: [1, 16, 32, 32]
args: {width: 16}
blocks:
  Unit:
    args: {out: 16, shuffle: false}
    layers:
      - Chunk: {chunks: 2, name: halves}
      - Conv2d: {out_channels: $(out // 2), kernel_size: 3, padding: 1, groups: $(out // 2), from: halves.1}
      - Concat: {from: [halves.0, conv2d_1]}
      - ChannelShuffle: {groups: 2, if: $shuffle}
layers:
  - Unit: {out: $width}
  - Unit: {out: $width, shuffle: true, repeat: 2}
  - MaxPool2d: {kernel_size: 2, return_indices: true, name: pool}
  - Conv2d: {out_channels: 8, kernel_size: 1, from: pool.0}
  - Split: {split_size_or_sections: [2, 6], name: parts}
  - Mul: {from: [parts.1, parts.1]}
  - Permute: {dims: [0, 2, 3, 1]}
  - LayerNorm
  - Reshape: {shape: [1, -1, 6]}
  - Mean: {dim: 1}
  - Linear: {out_features: 3}
outputs: [linear_1, pool.1]
"""


def test_multi_output_refs_skipped_layers_and_shape_ops(tmp_path: Path) -> None:
    spec = tmp_path / "features.yaml"
    spec.write_text(SPEC_WITH_EVERYTHING)
    result = run("verify", str(spec), "--device", "cpu")
    assert result.exit_code == 0, result.output
    module = load_code(export_file(spec))
    out, indices = module.build().eval()(torch.zeros(1, 16, 32, 32))
    assert tuple(out.shape) == (1, 3) and tuple(indices.shape) == (1, 16, 16, 16)


def test_verify_reports_a_mismatch_and_exits_1(monkeypatch: pytest.MonkeyPatch) -> None:
    import cnnshape.bridge.verify as verify

    real = verify.export_analysed
    # A wrong kernel in the built module: its shapes, parameters and MACs no longer agree.
    monkeypatch.setattr(
        verify,
        "export_analysed",
        lambda analysed: real(analysed).replace("nn.Conv2d(5, 16, 5)", "nn.Conv2d(5, 16, 3, padding=1)"),
    )
    result = run("verify", str(ROOT / "specs" / "seed-lenet.yaml"))
    assert result.exit_code == 1
    assert "conv2d_2" in result.output and "output shape" in result.output and "params" in result.output
    assert "[1, 16, 10, 10]" in result.output and "[1, 16, 14, 14]" in result.output
    assert "MISMATCH" in result.output and "FAILED" in result.output


def test_verify_compares_block_totals_too() -> None:
    analysed = analyse_file(ROOT / "specs" / "resnet18.yaml")  # stages layer1..4, each two BasicBlock uses
    for row in analysed.report.rows:
        if row.name == "layer2.basicblock_1":
            row.params += 1  # as if cnnshape had miscounted the block
    result = verify_analysed(analysed)
    assert not result.ok
    assert [(m.name, m.what) for m in result.mismatches] == [("layer2.basicblock_1", "params")]


def test_export_refuses_a_reference_inside_a_block_use(tmp_path: Path) -> None:
    spec = tmp_path / "reach.yaml"
    spec.write_text("""
name: reach
input: [1, 3, 8, 8]
blocks:
  B:
    layers:
      - Conv2d: {out_channels: 4, kernel_size: 1, name: inner}
      - ReLU
layers:
  - B: {name: b}
  - Identity: {from: b.inner}
""")
    result = run("export", str(spec))
    assert result.exit_code == 1
    assert "b.inner" in result.output and "reaches inside a block use" in result.output


def test_spec_problems_are_reported_like_summary(tmp_path: Path) -> None:
    spec = tmp_path / "broken.yaml"
    spec.write_text("name: broken\ninput: [1, 3, 8, 8]\nlayers:\n  - Conv2D: {out_channels: 4, kernel_size: 1}\n")
    result = run("verify", str(spec))
    assert result.exit_code == 1
    assert "broken.yaml:4:5: error: unknown layer kind 'Conv2D'; did you mean 'Conv2d'? [unknown-kind]" in result.output


def test_set_and_input_reach_the_export() -> None:
    code = export_file(ROOT / "specs" / "resnet18.yaml", {"num_classes": 10}, (1, 3, 64, 64))
    assert "num_classes = 10" in code and "INPUT_SHAPE = (1, 3, 64, 64)" in code
    result = run("verify", str(ROOT / "specs" / "resnet18.yaml"), "--set", "num_classes=10", "--input", "1,3,64,64")
    assert result.exit_code == 0, result.output


def test_training_only_layers_that_do_not_fit_stop_export_with_a_message(tmp_path: Path) -> None:
    """Inception v3 at 96x96: its auxiliary head (training only) does not fit, so summary
    leaves it out with a warning; export must still build it and cannot size it: a located
    refusal, exit 1, no file and no traceback (it was a KeyError)."""
    out = tmp_path / "inception.py"
    result = cli("export", str(ROOT / "specs/inception_v3.yaml"), "--input", "1,3,96,96", "-o", str(out))
    assert result.exit_code == 1, result.output
    assert "AuxLogits." in result.output and "runs only in training and does not fit this input" in result.output
    assert "Traceback" not in result.output and not out.exists()
