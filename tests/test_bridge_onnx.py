"""`cnnshape import model.onnx` (issue 11 section 3): torchvision models exported with
torch.onnx.export at test time, imported, and compared with the torch model they came
from. The exporter folds each batch norm into the convolution before it (eval mode), so
the ONNX file has a conv bias of C where torch had the batch norm's 2C parameters (its
conv had no bias): the expected parameter count is torch's minus each batch norm's C,
computed from the torch model here. MACs (conv + linear) and output shapes are torch's."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
onnx = pytest.importorskip("onnx")

from typer.testing import CliRunner  # noqa: E402

from cnnshape.bridge.onnx_import import OnnxError, import_onnx  # noqa: E402
from cnnshape.bridge.verify import count_macs  # noqa: E402
from cnnshape.cli import app  # noqa: E402
from cnnshape.pipeline import analyze_text  # noqa: E402

SHAPE = (1, 3, 64, 64)


def _export(model: torch.nn.Module, path: Path, shape: tuple[int, ...] = SHAPE) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), (torch.zeros(shape),), str(path), dynamo=False)


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2", "squeezenet1_1"])
def test_an_exported_torchvision_model_imports_with_torchs_numbers(name: str, tmp_path: Path) -> None:
    model = torchvision.models.get_model(name, weights=None).eval()
    path = tmp_path / f"{name}.onnx"
    _export(model, path)
    result = import_onnx(str(path))
    assert result.ok, [item.format() for item in result.unmapped] + result.problems
    report = analyze_text(result.text, str(tmp_path / f"{name}.yaml"))
    folded = sum(m.num_features for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert report.totals.params == sum(p.numel() for p in model.parameters()) - folded
    with torch.no_grad():
        macs, out = count_macs(model, lambda: model(torch.zeros(SHAPE)))
    assert report.totals.macs == macs
    assert [tuple(o.shape) for o in report.outputs] == [tuple(out.shape)]


def test_the_command_writes_the_spec_and_takes_another_input(tmp_path: Path) -> None:
    model = torchvision.models.get_model("resnet18", weights=None).eval()
    path = tmp_path / "r18.onnx"
    _export(model, path)
    out = tmp_path / "r18.yaml"
    result = CliRunner().invoke(app, ["import", str(path), "-o", str(out), "--input", "2,3,96,96"])
    assert result.exit_code == 0, result.output
    report = analyze_text(out.read_text(), str(out))
    with torch.no_grad():
        macs, _ = count_macs(model, lambda: model(torch.zeros(2, 3, 96, 96)))
    assert report.totals.macs == macs


def test_an_unsupported_op_is_located_by_node_and_op_type(tmp_path: Path) -> None:
    class Padded(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(torch.nn.functional.pad(x, (1, 1, 1, 1), mode="reflect"))

    path = tmp_path / "padded.onnx"
    _export(Padded(), path, (1, 3, 8, 8))
    pads = [node.name for node in onnx.load(str(path)).graph.node if node.op_type == "Pad"]
    result = import_onnx(str(path))
    assert not result.ok
    assert [item.format() for item in result.unmapped] == [
        f"node {pads[0]}: op Pad: no cnnshape layer kind for this ONNX op (docs/torch.md lists the mapping)"
    ]


@pytest.mark.parametrize("content", [b"", b"not onnx at all", b"\x08\x07\x12\x04\xff\xff"])
def test_a_malformed_or_truncated_file_is_a_clean_error(content: bytes, tmp_path: Path) -> None:
    path = tmp_path / "bad.onnx"
    path.write_bytes(content)
    with pytest.raises(OnnxError):
        import_onnx(str(path))
    result = CliRunner().invoke(app, ["import", str(path)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "bad.onnx:" in result.output


def test_a_truncated_export_is_a_clean_error(tmp_path: Path) -> None:
    model = torchvision.models.get_model("squeezenet1_1", weights=None)
    whole = tmp_path / "whole.onnx"
    _export(model, whole)
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 3])
    result = CliRunner().invoke(app, ["import", str(cut)])
    assert result.exit_code == 1 and "Traceback" not in result.output and "cut.onnx:" in result.output


def _graph_file(tmp_path: Path, nodes: list) -> Path:
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    path = tmp_path / "hand.onnx"
    path.write_bytes(helper.make_model(helper.make_graph(nodes, "g", [x], [y])).SerializeToString())
    return path


@pytest.mark.parametrize(
    "op_type, inputs, outputs",
    [
        ("Gemm", ["x"], ["y"]),
        ("Conv", ["x"], ["y"]),
        ("BatchNormalization", ["x"], ["y"]),
        ("Identity", [], ["y"]),
        ("Relu", ["x"], []),
    ],
)
def test_a_malformed_node_is_a_located_problem_or_a_clean_error(
    op_type: str, inputs: list, outputs: list, tmp_path: Path
) -> None:
    from onnx import helper

    path = _graph_file(tmp_path, [helper.make_node(op_type, inputs, outputs)])
    result = CliRunner().invoke(app, ["import", str(path)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "hand.onnx:" in result.output
