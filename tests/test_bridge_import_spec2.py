"""`cnnshape import` of what spec format 2 can say: a module with weights called more than
once (or holding another module's tensors) is written as `share:`, a forward() of several
tensors as named inputs, parameters with requires_grad False as `trainable: false`.

Expected numbers come from torchinfo's published outputs (tests/test_output/siamese_net.out
and recursive.out in TylerYep/torchinfo, for its SiameseNets and RecursiveNet, written here
as torchinfo's tests define them) and from PyTorch measured at test time; never from
cnnshape's own output.
"""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

from conftest import cli  # noqa: E402

from cnnshape.bridge.fx_import import TargetError, import_model  # noqa: E402
from cnnshape.bridge.verify import count_macs  # noqa: E402
from cnnshape.pipeline import analyze_text  # noqa: E402
from cnnshape.report import Report  # noqa: E402


class SiameseNets(nn.Module):
    """torchinfo's tests/fixtures/models.py SiameseNets."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 64, 10)
        self.conv2 = nn.Conv2d(64, 128, 7)
        self.conv3 = nn.Conv2d(128, 128, 4)
        self.conv4 = nn.Conv2d(128, 256, 4)

        self.pooling = nn.MaxPool2d(2, 2)
        self.fc1 = nn.Linear(256, 4096)
        self.fc2 = nn.Linear(4096, 1)
        self.dropout = nn.Dropout(0.5)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        x1 = self.pooling(F.relu(self.conv1(x1)))
        x1 = self.pooling(F.relu(self.conv2(x1)))
        x1 = self.pooling(F.relu(self.conv3(x1)))
        x1 = self.pooling(F.relu(self.conv4(x1)))

        x2 = self.pooling(F.relu(self.conv1(x2)))
        x2 = self.pooling(F.relu(self.conv2(x2)))
        x2 = self.pooling(F.relu(self.conv3(x2)))
        x2 = self.pooling(F.relu(self.conv4(x2)))

        batch_size = x1.size(0)
        x1 = x1.view(batch_size, -1)
        x2 = x2.view(batch_size, -1)
        x1 = self.fc1(x1)
        x2 = self.fc1(x2)

        metric = torch.abs(x1 - x2)
        similarity = torch.sigmoid(self.fc2(self.dropout(metric)))
        return similarity


class RecursiveNet(nn.Module):
    """torchinfo's tests/fixtures/models.py RecursiveNet (its extra arguments unused)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(64, 64, 3, 1, 1)

    def forward(self, x: torch.Tensor, args1: object = None, args2: object = None) -> torch.Tensor:
        del args1, args2
        out = x
        for _ in range(3):
            out = self.conv1(out)
            out = self.conv1(out)
        return out


def _torch_numbers(model: nn.Module, *shapes: tuple[int, ...]) -> tuple[int, int, int, list[tuple[int, ...]]]:
    """PyTorch's params (each tensor once), trainable params, MACs (hooks, every call) and output shapes."""
    inputs = [torch.zeros(shape) for shape in shapes]
    with torch.no_grad():
        macs, out = count_macs(model.eval(), lambda: model(*inputs))
    params = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    outputs = [tuple(t.shape) for t in (out if isinstance(out, tuple) else (out,))]
    return params, trainable, macs, outputs


def _imported(model: nn.Module, shape: object) -> tuple[str, Report]:
    result = import_model(model, shape)  # type: ignore[arg-type]
    assert result.ok, [item.format() for item in result.unmapped] + result.problems
    return result.text, analyze_text(result.text, "imported.yaml")


def test_torchinfo_siamese_nets_imports_with_two_inputs_and_one_tower() -> None:
    model = SiameseNets()
    shape = (1, 1, 88, 88)
    text, report = _imported(model, {"x1": shape, "x2": shape})
    params, trainable, macs, outputs = _torch_numbers(model, shape, shape)
    assert report.totals.params == params == 2_251_585  # siamese_net.out: "Total params: 2,251,585"
    assert report.totals.trainable_params == trainable
    assert report.totals.macs == macs  # the second tower's calls counted again
    assert [tuple(o.shape) for o in report.outputs] == outputs
    assert report.inputs == {"x1": shape, "x2": shape}
    assert "input: {x1: [1, 1, 88, 88], x2: [1, 1, 88, 88]}" in text
    for layer in ("conv1", "conv2", "conv3", "conv4", "fc1"):
        assert f"{{share: {layer}, name: {layer}_2" in text
    assert "- Sub: {name: sub, from: [fc1, fc1_2]}" in text


def test_torchinfo_recursive_net_imports_as_one_conv_shared() -> None:
    model = RecursiveNet()
    shape = (1, 64, 28, 28)
    text, report = _imported(model, shape)
    params, _, macs, outputs = _torch_numbers(model, shape)
    assert report.totals.params == params == 36_928  # recursive.out: "Total params: 36,928"
    assert report.totals.macs == macs == 6 * 64 * 64 * 9 * 28 * 28  # six calls, by hand
    assert [tuple(o.shape) for o in report.outputs] == outputs
    assert text.count("share: conv1") == 5


class Encoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1)
        self.bn = nn.BatchNorm2d(16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


class TiedAutoencoder(nn.Module):
    """A tied encoder/decoder: the decoder's weight is the encoder's Parameter, and one
    encoder block embeds both images of a pair."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = Encoder()
        self.down = nn.Linear(16, 16, bias=False)
        self.up = nn.Linear(16, 16, bias=False)
        self.up.weight = self.down.weight

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        za = self.encoder(a).mean((2, 3))
        zb = self.encoder(b).mean((2, 3))
        return self.up(F.relu(self.down(za - zb)))


def test_a_tied_encoder_decoder_shares_the_block_and_the_tied_layer() -> None:
    model = TiedAutoencoder()
    text, report = _imported(model, {"a": (2, 3, 12, 12), "b": (2, 3, 12, 12)})
    params, _, macs, outputs = _torch_numbers(model, (2, 3, 12, 12), (2, 3, 12, 12))
    # PyTorch counts the tied weight once: conv 3*16*9 + 16, BN 2*16, one 16x16 weight.
    assert report.totals.params == params == 3 * 16 * 9 + 16 + 2 * 16 + 16 * 16
    assert report.totals.buffers == sum(b.numel() for b in model.buffers())
    assert report.totals.macs == macs
    assert [tuple(o.shape) for o in report.outputs] == outputs
    assert "- Encoder: {share: encoder, name: encoder_2, from: b}" in text
    assert "- Linear: {share: down, name: up}" in text


class Head(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(32, 8, 1)
        self.fc = nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x).mean((2, 3)))


class FrozenBackbone(nn.Module):
    """A frozen backbone block, a head whose conv is frozen and whose fc trains."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = Encoder()
        self.neck = nn.Conv2d(16, 32, 3, stride=2)
        self.head = Head()
        self.backbone.requires_grad_(False)
        self.head.conv.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.neck(self.backbone(x)))


def test_a_frozen_backbone_and_head_give_torchs_trainable_split() -> None:
    model = FrozenBackbone()
    shape = (1, 3, 32, 32)
    text, report = _imported(model, shape)
    params, trainable, macs, outputs = _torch_numbers(model, shape)
    assert report.totals.params == params
    assert report.totals.trainable_params == trainable
    assert report.totals.non_trainable_params == sum(p.numel() for p in model.parameters() if not p.requires_grad)
    assert report.totals.macs == macs and [tuple(o.shape) for o in report.outputs] == outputs
    # The whole backbone is frozen: said once, on its block use; in the head, on the conv.
    assert "- Encoder: {name: backbone, trainable: false}" in text
    assert "- Conv2d: {out_channels: 8, kernel_size: 1, name: conv, trainable: false}" in text
    assert text.count("trainable: false") == 2


def test_a_partly_frozen_or_partly_tied_layer_is_located() -> None:
    partly_frozen = nn.Sequential(nn.Conv2d(3, 4, 1))
    partly_frozen[0].bias.requires_grad_(False)
    result = import_model(partly_frozen, (1, 3, 4, 4))
    assert [item.format() for item in result.unmapped] == [
        "0: module Conv2d: freezes some of its parameters (bias) and not the others: "
        "`trainable: false` freezes a whole layer"
    ]
    partly_tied = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4))
    partly_tied[1].weight = partly_tied[0].weight  # the biases stay apart
    result = import_model(partly_tied, (1, 4))
    assert [item.format() for item in result.unmapped] == [
        "1: module Linear: shares some of its parameters or buffers with 0 but not all: "
        "`share:` reuses a whole layer (tie every tensor of the layer, or none)"
    ]


class UsesStem(nn.Module):
    def __init__(self, stem: nn.Module) -> None:
        super().__init__()
        self.stem = stem
        self.conv = nn.Conv2d(8, 8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.stem(x))


class Outside(nn.Module):
    """A block that calls a layer made outside it: `share:` cannot name it from inside
    the block, so the block's layers are written inline."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(8, 8, 3, padding=1)
        self.block = UsesStem(self.stem)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(self.stem(x))


def test_a_layer_shared_from_outside_a_block_is_written_inline() -> None:
    model = Outside()
    text, report = _imported(model, (1, 8, 6, 6))
    params, _, macs, outputs = _torch_numbers(model, (1, 8, 6, 6))
    assert report.totals.params == params and report.totals.macs == macs
    assert [tuple(o.shape) for o in report.outputs] == outputs
    assert "blocks:" not in text and "- Conv2d: {share: stem, name: stem_2}" in text


def test_several_inputs_need_a_shape_each() -> None:
    with pytest.raises(TargetError, match=r"SiameseNets.forward takes 2 inputs \(x1, x2\): give each one's shape"):
        import_model(SiameseNets(), (1, 1, 88, 88))
    with pytest.raises(TargetError, match="SiameseNets.forward takes x1, x2: no shape for x2"):
        import_model(SiameseNets(), {"x1": (1, 1, 88, 88)})
    with pytest.raises(TargetError, match="RecursiveNet.forward takes x, args1, args2: no argument 'y'"):
        import_model(RecursiveNet(), {"y": (1, 64, 8, 8)})


def test_the_cli_takes_one_input_option_per_forward_argument(tmp_path: Path) -> None:
    source = tmp_path / "siamese.py"
    source.write_text(
        "import torch\nfrom torch import nn\n\n"
        "class Pair(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.embed = nn.Linear(6, 3)\n\n"
        "    def forward(self, left, right):\n"
        "        return self.embed(left) * self.embed(right)\n"
    )
    out = tmp_path / "pair.yaml"
    result = cli("import", f"{source}:Pair", "--input", "left=2,6;right=2,6", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "input: {left: [2, 6], right: [2, 6]}" in out.read_text()
    report = analyze_text(out.read_text(), str(out), input_shape={"left": (5, 6), "right": (5, 6)})
    assert report.totals.params == 6 * 3 + 3  # Linear(6, 3), once
    assert report.inputs == {"left": (5, 6), "right": (5, 6)}
    refused = cli("import", f"{source}:Pair", "--input", "2,6")
    assert refused.exit_code == 1
    assert "give each one's shape by name, e.g. --input 'left=2,6;right=2,6'" in " ".join(refused.output.split())


def test_named_inputs_for_an_onnx_file_are_refused_without_a_traceback(tmp_path: Path) -> None:
    model = tmp_path / "model.onnx"
    model.write_bytes(b"")
    result = cli("import", str(model), "--input", "x=1,3,8,8")
    assert result.exit_code == 1
    assert "an .onnx file is imported with one --input shape" in result.output
    assert "Traceback" not in result.output


def test_a_forward_of_star_args_takes_the_one_shape_and_the_target_prints_as_written(tmp_path: Path) -> None:
    source = tmp_path / "models.py"
    source.write_text(
        "from torch import nn\n\n"
        "class Star(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(4, 2)\n\n"
        "    def forward(self, *xs):\n"
        "        return self.fc(xs[0])\n"
    )
    result = cli("import", f"{source}:Star", "--input", "3,4")
    assert result.exit_code == 0, result.output
    assert "- Linear: {out_features: 2, name: fc}" in result.output
    # `models.py:Star:` is the target and a colon, not rich's :star: emoji code.
    assert f"{source}:Star: 1 layers in 0 block(s); 10 parameters and output [3, 2], as PyTorch" in " ".join(
        result.output.split()
    )
