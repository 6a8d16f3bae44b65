"""`cnnshape import model.onnx` (issue 11 section 3): every zoo spec and torchvision models
exported with torch.onnx.export at test time, imported, and compared with the spec and
the torch model they came from. The exporter folds each batch norm that alone reads a
convolution into that convolution (eval mode): the ONNX file has the conv's weight and a
bias of C where torch had the batch norm's 2C parameters (and the conv's bias, if it had
one). The expected parameter count is torch's minus what the folding removes, computed
here from the spec's (or torch model's) own batch norms. MACs (conv + linear + matmul)
and output shapes are torch's, measured here."""

from __future__ import annotations

import sys
import warnings
from math import prod
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
onnx = pytest.importorskip("onnx")

from conftest import cli  # noqa: E402
from zoo import SPECS, TABLES  # noqa: E402

from cnnshape.bridge.export import export_file  # noqa: E402
from cnnshape.bridge.onnx_import import OnnxError, import_onnx  # noqa: E402
from cnnshape.bridge.verify import count_macs, load_code  # noqa: E402
from cnnshape.pipeline import analyze_file, analyze_text  # noqa: E402
from cnnshape.report import Report  # noqa: E402

SHAPE = SMALL = (1, 3, 64, 64)


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


# Each zoo spec at a small input it allows, to keep the export quick: VGG and AlexNet keep
# 224 (their adaptive pool to 7x7 or 6x6 exports only when it divides the feature map),
# Inception v3 its 299; U-Net runs at 64, both ways (transposed convolutions, and
# `bilinear` upsampling: ONNX Resize); ViT at 32 (two patches a side); the rest at 64.
ZOO = [*TABLES, "unet-bilinear"]
OVERRIDES: dict[str, dict] = {"unet": {"size": 64}, "unet-bilinear": {"size": 64, "bilinear": True}}
OVERRIDES["vit_b_16"] = {"image_size": 32}
OWN_INPUT = {"seed-lenet", "alexnet", "vgg11", "vgg11_bn", "vgg13", "vgg16", "vgg16_bn", "vgg19", "inception_v3"}


def _folded(report: Report) -> int:
    """Parameters torch.onnx.export's Conv+BatchNorm folding removes, from the spec's own
    layers: each eval-mode batch norm whose input is a convolution that nothing else reads
    goes into that convolution (torch/csrc/jit/passes/onnx/eval_peephole.cpp), so its 2C
    parameters go and the conv gains a bias of C unless it had one."""
    leaves = [row for row in report.rows if not row.is_block and not row.training_only]
    readers: dict[str, int] = {}
    for row in leaves:
        for name in row.inputs:
            readers[name] = readers.get(name, 0) + 1
    for output in report.outputs:
        readers[output.tensor] = readers.get(output.tensor, 0) + 1
    by_name = {row.name: row for row in leaves}
    folded = 0
    for bn in leaves:
        conv = by_name.get(bn.inputs[0]) if bn.kind.startswith("BatchNorm") and len(bn.inputs) == 1 else None
        if conv is None or conv.kind not in ("Conv1d", "Conv2d", "Conv3d") or readers[conv.name] != 1:
            continue
        channels = bn.output_shape[1]
        # The conv's weight is (C, in/groups, k...) and each output element costs in/groups*k...
        # MACs, so weight = MACs * C / output elements; the rest of its parameters is a bias.
        weight = conv.macs * channels // prod(conv.output_shape)
        assert conv.params in (weight, weight + channels), conv.name
        folded += 2 * channels if conv.params == weight + channels else channels
    return folded


def _training_only_params(report: Report) -> int:
    """Layers that run only in training mode (Inception v3's auxiliary head): the eval-mode
    export never reaches them, so the ONNX file has none of their weights."""
    return sum(row.params for row in report.rows if row.training_only and not row.is_block)


@pytest.mark.parametrize("name", ZOO)
def test_every_zoo_spec_exported_to_onnx_imports_with_the_specs_numbers(name: str, tmp_path: Path) -> None:
    spec = SPECS / f"{name.split('-')[0] if name.startswith('unet') else name}.yaml"
    overrides = OVERRIDES.get(name)
    shape = None if name in OWN_INPUT or overrides else SMALL
    report = analyze_file(spec, overrides, shape)
    code = load_code(export_file(spec, overrides, shape))
    with torch.device("meta"):  # measured without computing
        measured = code.build().eval()
        macs, out = count_macs(measured, lambda: measured(torch.zeros(report.input_shape)))
    # torch's own measurement of the exported module agrees with the spec...
    assert sum(p.numel() for p in measured.parameters()) == report.totals.params
    assert macs == report.totals.macs
    # In eval mode a training-only output (Inception v3's AuxLogits) is None, and not exported.
    training_only = {row.name for row in report.rows if row.training_only}
    shapes = [tuple(o.shape) for o in report.outputs if o.tensor not in training_only]
    assert shapes == [tuple(t.shape) for t in (out if isinstance(out, tuple) else (out,)) if t is not None]
    path = tmp_path / f"{name}.onnx"
    with torch.device("cpu"):
        _export(code.build(), path, report.input_shape)
    result = import_onnx(str(path))
    path.unlink()  # VGG's file is 500 MB; pytest keeps the last runs' tmp_path
    assert result.ok, [item.format() for item in result.unmapped] + result.problems
    imported = analyze_text(result.text, str(tmp_path / f"{name}.yaml"))
    # ...and the imported ONNX file gives the same, less what the exporter folds or drops.
    folded, dropped = _folded(report), _training_only_params(report)
    assert imported.totals.params == report.totals.params - folded - dropped
    assert imported.totals.macs == report.totals.macs
    assert [tuple(o.shape) for o in imported.outputs] == shapes


def test_the_command_writes_the_spec_and_takes_another_input(tmp_path: Path) -> None:
    model = torchvision.models.get_model("resnet18", weights=None).eval()
    path = tmp_path / "r18.onnx"
    _export(model, path)
    out = tmp_path / "r18.yaml"
    result = cli("import", str(path), "-o", str(out), "--input", "2,3,96,96")
    assert result.exit_code == 0, result.output
    report = analyze_text(out.read_text(), str(out))
    with torch.no_grad():
        macs, _ = count_macs(model, lambda: model(torch.zeros(2, 3, 96, 96)))
    assert report.totals.macs == macs


@pytest.mark.parametrize("content", [b"", b"not onnx at all", b"\x08\x07\x12\x04\xff\xff"])
def test_a_malformed_or_truncated_file_is_a_clean_error(content: bytes, tmp_path: Path) -> None:
    path = tmp_path / "bad.onnx"
    path.write_bytes(content)
    with pytest.raises(OnnxError):
        import_onnx(str(path))
    result = cli("import", str(path))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "bad.onnx:" in result.output


def test_a_truncated_export_is_a_clean_error(tmp_path: Path) -> None:
    model = torchvision.models.get_model("squeezenet1_1", weights=None)
    whole = tmp_path / "whole.onnx"
    _export(model, whole)
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 3])
    result = cli("import", str(cut))
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
    result = cli("import", str(path))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "hand.onnx:" in result.output


class _Mixed(torch.nn.Module):
    """The ops the zoo specs do not export to, in one model: padding, nearest upsampling,
    split, mean, the elementwise ops with constants, layer norm, hard sigmoid, unsqueeze
    and squeeze, a product of two tensors."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3)
        self.norm = torch.nn.LayerNorm(8)
        self.gate = torch.nn.Hardsigmoid()
        self.fc = torch.nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.nn.functional.pad(x, (1, 2, 3, 4), mode="reflect")
        x = torch.nn.functional.interpolate(self.conv(x), scale_factor=2, mode="nearest")
        a, b = torch.split(x, [3, 5], dim=1)
        x = torch.cat([b, a], dim=1) - x.mean((2, 3), keepdim=True)
        x = torch.sqrt(self.gate(x) / 2 + 1) ** 2
        x = 2 - 1 / x  # constants first: reverse: true
        t = self.norm(x.flatten(2).transpose(1, 2))  # (N, HW, 8)
        t = (t @ t.transpose(1, 2)).softmax(-1) @ t
        return self.fc(t.mean(1).unsqueeze(1)).squeeze(1)


def test_the_other_ops_map_with_torchs_numbers(tmp_path: Path) -> None:
    model = _Mixed().eval()
    path = tmp_path / "mixed.onnx"
    _export(model, path, (1, 3, 8, 10))
    result = import_onnx(str(path))
    assert result.ok, [item.format() for item in result.unmapped] + result.problems
    report = analyze_text(result.text, str(tmp_path / "mixed.yaml"))
    kinds = {row.kind for row in report.rows}
    assert {"ReflectionPad2d", "Upsample", "Split", "Mean", "Sub", "Div", "Sqrt", "Pow", "LayerNorm"} <= kinds
    assert {"Hardsigmoid", "MatMul", "Reshape"} <= kinds
    assert "reverse: true" in result.text
    with torch.no_grad():
        macs, out = count_macs(model, lambda: model(torch.zeros(1, 3, 8, 10)))
    assert report.totals.params == sum(p.numel() for p in model.parameters())
    # torch's hooks count the conv and fc; the two products of computed tensors by hand:
    # the conv's 13x11 map upsampled to 26x22 = 572 tokens of 8, so (572x8)@(8x572) and
    # (572x572)@(572x8) are 572*572*8 MACs each.
    assert report.totals.macs == macs + 2 * 572 * 572 * 8
    assert [tuple(o.shape) for o in report.outputs] == [tuple(out.shape)]


def test_an_op_with_no_kind_is_named_with_its_node_and_exit_1(tmp_path: Path) -> None:
    class Cumulative(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.cumsum(torch.relu(x), dim=1)

    path = tmp_path / "cumsum.onnx"
    _export(Cumulative(), path, (1, 3, 8, 8))
    (node,) = [node.name for node in onnx.load(str(path)).graph.node if node.op_type == "CumSum"]
    result = cli("import", str(path), "-o", str(tmp_path / "c.yaml"))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"node {node}: op CumSum: no cnnshape layer kind for this ONNX op" in result.output


def _conv_graph(input_dims: list[int], weight_dims: list[int]) -> bytes:
    """Conv (weight declared, no data) -> Relu, and a Constant declared 2**40 elements."""
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, input_dims)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    weight = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=weight_dims)
    huge = TensorProto(name="huge", data_type=TensorProto.FLOAT, dims=[2**40])
    nodes = [
        helper.make_node("Constant", [], ["k"], value=huge, name="k"),
        helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=weight_dims[2:], name="conv"),
        helper.make_node("Relu", ["c"], ["y"], name="relu"),
    ]
    graph = helper.make_graph(nodes, "g", [x], [y], initializer=[weight])
    return helper.make_model(graph).SerializeToString()


def test_huge_declared_sizes_are_only_numbers(tmp_path: Path) -> None:
    """Declared dims are never materialised: a 2**20-filter weight with no data and a 2**40
    element constant import under the 1 GiB cap; a 2**40-pixel input is cnnshape's
    located size limit."""
    from test_hostile import capped

    path = tmp_path / "wide.onnx"
    path.write_bytes(_conv_graph([1, 3, 8, 8], [2**20, 3, 3, 3]))
    ran = capped([sys.executable, "-m", "cnnshape", "import", str(path), "-o", "wide.yaml"], cwd=tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    report = analyze_file(tmp_path / "wide.yaml")
    assert report.totals.params == 2**20 * 3 * 3 * 3  # the weight's declared dims, no bias
    assert report.totals.macs == 2**20 * 6 * 6 * 3 * 3 * 3  # 6x6 outputs, 27 MACs each
    path.write_bytes(_conv_graph([1, 3, 2**40, 2**40], [8, 3, 3, 3]))
    ran = capped([sys.executable, "-m", "cnnshape", "import", str(path)], cwd=tmp_path)
    assert ran.returncode == 1 and "Traceback" not in ran.stderr, ran.stderr
    assert "has more than 1,125,899,906,842,624 elements" in ran.stderr and "[limit]" in ran.stderr


def test_external_data_is_never_read(tmp_path: Path) -> None:
    """Weights kept in an external file count by their declared dims; the file is not
    opened, even when its location names an endless device."""
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(144, 7))
    path = tmp_path / "ext.onnx"
    _export(model, path, (1, 3, 8, 8))
    loaded = onnx.load(str(path))
    onnx.save_model(loaded, str(path), save_as_external_data=True, location="ext.data", size_threshold=0)
    loaded = onnx.load(str(path), load_external_data=False)
    external = [init for init in loaded.graph.initializer if init.data_location == onnx.TensorProto.EXTERNAL]
    assert len(external) == 4
    for init in external:
        for entry in init.external_data:
            if entry.key == "location":
                entry.value = "/dev/zero"
    path.write_bytes(loaded.SerializeToString())
    from test_hostile import capped

    ran = capped([sys.executable, "-m", "cnnshape", "import", str(path), "-o", "ext.yaml"], cwd=tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    report = analyze_file(tmp_path / "ext.yaml")
    assert report.totals.params == sum(p.numel() for p in model.parameters())
