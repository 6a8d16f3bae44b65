"""`cnnshape import` over torchvision's classification zoo (issue 11 section 2): every model
that imports must give torch's own parameters, buffers, MACs (conv + linear + attention,
counted by hooks on the torch modules at test time), output shape and every torch module
call's output shape (forward hooks, against the spec's layer for that call); every model that
does not yet import must fail with its known, located reason (NOT_YET), so a model that
starts importing, or fails differently, shows up here. Models are built on the meta device
(no weights in memory): inception_v3 at 299, the rest at 224."""

from __future__ import annotations

import os
import warnings

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

from torch_import_check import check_against_torch  # noqa: E402

from cnnshape.bridge.fx_import import import_model  # noqa: E402
from cnnshape.bridge.verify import count_macs  # noqa: E402
from cnnshape.pipeline import analyze_text  # noqa: E402

MODELS = torchvision.models.list_models(module=torchvision.models)

# Every model imports: Swin, Swin V2 and MaxViT through their attention kinds
# (ShiftedWindowAttention, ShiftedWindowAttentionV2, RelativePositionalMultiHeadAttention).
NOT_YET: dict[str, str] = {}
# torchvision's RegNet initialisation cannot run on the meta device; these are built on the
# CPU and moved there, except the one too large for a CI machine (644 M parameters).
CPU_BUILT = {name for name in MODELS if name.startswith("regnet")}
TOO_LARGE = {"regnet_y_128gf"}


def _model(name: str) -> torch.nn.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # googlenet/inception's initialisation notice
        if name in CPU_BUILT:
            return torchvision.models.get_model(name, weights=None).to("meta")
        with torch.device("meta"):
            return torchvision.models.get_model(name, weights=None)


@pytest.mark.parametrize("name", MODELS)
def test_torchvision_model_imports_with_torchs_numbers(name: str) -> None:
    if name in TOO_LARGE and os.environ.get("CNNSHAPE_TORCHVISION_ALL") != "1":
        pytest.skip(f"{name} is too large for a CI machine (3.2 GB peak); CNNSHAPE_TORCHVISION_ALL=1 runs it")
    model = _model(name).eval()
    shape = (1, 3, 299, 299) if name == "inception_v3" else (1, 3, 224, 224)
    result = import_model(model, shape, name)
    if name in NOT_YET:
        assert not result.ok
        reasons = [item.format() for item in result.unmapped] + result.problems
        assert any(NOT_YET[name] in reason for reason in reasons), reasons
        return
    report = check_against_torch(model, shape, result, name)
    outputs = [tuple(o.shape) for o in report.outputs]
    if name in ("googlenet", "inception_v3"):
        model.train()
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.eval()
        with torch.no_grad():
            train_out = model(torch.zeros(shape, device="meta"))
        assert outputs == [tuple(t.shape) for t in train_out]


def test_a_shared_parameter_free_module_imports_and_a_shared_weighted_one_shares() -> None:
    class Shared(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 3, 1)
            self.relu = torch.nn.ReLU()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.relu(self.conv(self.relu(x)))

    result = import_model(Shared(), (1, 3, 4, 4))
    assert result.ok and result.text.count("- ReLU") == 2
    # Called as a library, problems would be located in NAME.yaml, the file to write the text to.
    assert result.spec_path == "shared.yaml"
    assert import_model(Shared(), (1, 3, 4, 4), "net", spec_path="out/net.yaml").spec_path == "out/net.yaml"

    class Twice(Shared):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(self.conv(x))

    model = Twice()
    result = import_model(model, (1, 3, 4, 4))
    assert result.ok, [item.format() for item in result.unmapped] + result.problems
    # The second call shares the first's weights: PyTorch's count, the conv's once.
    assert "- Conv2d: {share: conv, name: conv_2}" in result.text
    report = analyze_text(result.text, "twice.yaml")
    assert report.totals.params == sum(p.numel() for p in model.parameters())


def test_a_repeated_block_passes_its_args_on_to_the_block_inside_it() -> None:
    """Uses of Outer differ in width; their inner Gate's width must follow each use's,
    not the first use's (torchvision's SqueezeExcitation inside InvertedResidual)."""

    class Gate(torch.nn.Module):
        def __init__(self, channels: int, squeezed: int) -> None:
            super().__init__()
            self.pool = torch.nn.AdaptiveAvgPool2d(1)
            self.fc1 = torch.nn.Conv2d(channels, squeezed, 1)
            self.fc2 = torch.nn.Conv2d(squeezed, channels, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * torch.sigmoid(self.fc2(self.fc1(self.pool(x))))

    class Outer(torch.nn.Module):
        def __init__(self, cin: int, width: int) -> None:
            super().__init__()
            self.expand = torch.nn.Conv2d(cin, width, 1)
            self.gate = Gate(width, width // 4)
            self.project = torch.nn.Conv2d(width, cin, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.project(self.gate(self.expand(x)))

    model = torch.nn.Sequential(Outer(8, 16), Outer(8, 32), Outer(8, 16), Outer(8, 64))
    result = import_model(model, (1, 8, 6, 6))
    assert result.ok, [item.format() for item in result.unmapped] + result.problems
    # One Outer block for the four uses; its Gate use passes the outer widths on as `$` args.
    assert result.blocks == 2 and "Outer_2" not in result.text
    assert "- Gate: {fc1_out_channels: $" in result.text
    report = analyze_text(result.text, "nested.yaml")
    assert report.totals.params == sum(p.numel() for p in model.parameters())
    # Every use's layers as torch has them: each fc1 conv's parameters by its path.
    torch_params = {
        name: sum(p.numel() for p in m.parameters())
        for name, m in model.named_modules()
        if isinstance(m, torch.nn.Conv2d)
    }
    spec_fc1 = sorted(layer.params for layer in report.rows if layer.name.endswith("gate.fc1"))
    assert spec_fc1 == sorted(v for k, v in torch_params.items() if k.endswith("gate.fc1"))


def test_frozen_batch_norm_imports_with_torchs_buffers() -> None:
    ops = pytest.importorskip("torchvision.ops")
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, bias=False), ops.FrozenBatchNorm2d(8), torch.nn.ReLU())
    result = import_model(model, (1, 3, 10, 10))
    assert result.ok, [item.format() for item in result.unmapped] + result.problems
    report = analyze_text(result.text, "frozen.yaml")
    assert report.totals.params == sum(p.numel() for p in model.parameters())
    assert report.totals.buffers == sum(b.numel() for b in model.buffers())


def test_shufflenets_channel_shuffle_imports_relative_to_its_input() -> None:
    """Imported at 224, the spec analyses at another batch and size with torch's numbers:
    the views that split and fold channels keep batch, height and width from the input."""
    model = _model("shufflenet_v2_x0_5").eval()
    result = import_model(model, (1, 3, 224, 224), "shufflenet_v2_x0_5")
    assert result.ok, [item.format() for item in result.unmapped] + result.problems
    shape = (2, 3, 256, 192)
    report = analyze_text(result.text, "shufflenet.yaml", input_shape=shape)
    x = torch.zeros(shape, device="meta")
    with torch.no_grad():
        macs, out = count_macs(model, lambda: model(x))
    assert report.totals.macs == macs
    assert [tuple(o.shape) for o in report.outputs] == [tuple(out.shape)]
