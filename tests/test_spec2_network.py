"""Spec format 2, network level: weight sharing (`share:`), several named inputs, frozen
parameters (`trainable: false`).

Expected numbers come from torchinfo's published test outputs (tests/test_output/
siamese_net.out and recursive.out in TylerYep/torchinfo), from PyTorch measured at test
time (optional), or from hand calculations written out here.
"""

from __future__ import annotations

import pytest

from cnnshape.errors import SpecError
from cnnshape.pipeline import analyze_text
from cnnshape.report import Report, Row


def leaf(report: Report, name: str) -> Row:
    found = [row for row in report.rows if row.name == name]
    assert len(found) == 1, [row.name for row in report.rows]
    return found[0]


def errors(text: str, **options: object) -> list[tuple[int, int, str, str]]:
    with pytest.raises(SpecError) as info:
        analyze_text(text, "t.yaml", **options)
    return [(p.line, p.col, p.code, p.message) for p in info.value.problems if p.severity == "error"]


# torchinfo's SiameseNets: conv1..conv4, fc1 applied to both inputs (same modules), then
# |x1 - x2|, dropout, fc2, sigmoid. Each input is 88x88: 88 -conv10-> 79 -pool-> 39 -conv7->
# 33 -pool-> 16 -conv4-> 13 -pool-> 6 -conv4-> 3 -pool-> 1, as in siamese_net.out.
SIAMESE = """
name: siamese
input: {x1: [1, 1, 88, 88], x2: [1, 1, 88, 88]}
blocks:
  Tower:
    layers:
      - Conv2d: {out_channels: 64, kernel_size: 10}
      - ReLU
      - MaxPool2d: {kernel_size: 2, stride: 2}
      - Conv2d: {out_channels: 128, kernel_size: 7}
      - ReLU
      - MaxPool2d: {kernel_size: 2, stride: 2}
      - Conv2d: {out_channels: 128, kernel_size: 4}
      - ReLU
      - MaxPool2d: {kernel_size: 2, stride: 2}
      - Conv2d: {out_channels: 256, kernel_size: 4}
      - ReLU
      - MaxPool2d: {kernel_size: 2, stride: 2}
      - Flatten
      - Linear: {out_features: 4096}
layers:
  - Tower: {from: x1, name: t1}
  - Tower: {from: x2, share: t1, name: t2}
  - Sub: {from: [t1, t2]}
  - Abs
  - Dropout: {p: 0.5}
  - Linear: {out_features: 1}
  - Sigmoid
"""


def test_torchinfo_siamese_net() -> None:
    report = analyze_text(SIAMESE, "t.yaml")
    # siamese_net.out: "Total params: 2,251,585" (conv1 6,464 + conv2 401,536 + conv3 262,272
    # + conv4 524,544 + fc1 1,052,672 + fc2 4,097; the second tower's calls are "(recursive)").
    assert report.totals.params == 2_251_585
    assert leaf(report, "t2.conv2d_1").params == 0
    assert leaf(report, "t2.conv2d_1").shared_with == "t1.conv2d_1"
    assert [leaf(report, f"t1.conv2d_{i}").output_shape for i in (1, 2, 3, 4)] == [
        (1, 64, 79, 79),
        (1, 128, 33, 33),
        (1, 128, 13, 13),
        (1, 256, 3, 3),
    ]
    assert report.outputs[0].shape == (1, 1)
    # MACs per call, both towers: weights x output positions (torchvision's convention).
    tower = (
        100 * 64 * 79 * 79 + 64 * 49 * 128 * 33 * 33 + 128 * 16 * 128 * 13 * 13 + 128 * 16 * 256 * 3 * 3 + 256 * 4096
    )
    assert report.totals.macs == 2 * tower + 4096
    # torchinfo's "Total mult-adds (G): 1.06" also counts one add per bias and output element.
    biases = 2 * (64 * 79 * 79 + 128 * 33 * 33 + 128 * 13 * 13 + 256 * 3 * 3 + 4096) + 1
    assert round((report.totals.macs + biases) / 1e9, 2) == 1.06
    assert report.inputs == {"x1": (1, 1, 88, 88), "x2": (1, 1, 88, 88)}


RECURSIVE = """
name: recursive
input: [1, 64, 28, 28]
layers:
  - Conv2d: {out_channels: 64, kernel_size: 3, padding: 1, name: conv1}
  - Conv2d: {share: conv1, repeat: 5}
"""


def test_torchinfo_recursive_net() -> None:
    # RecursiveNet: conv1 = Conv2d(64, 64, 3, 1, 1) called 6 times on [1, 64, 28, 28].
    report = analyze_text(RECURSIVE, "t.yaml")
    assert report.totals.params == 36_928  # recursive.out: "Total params: 36,928"
    assert report.totals.macs == 6 * 64 * 64 * 9 * 28 * 28
    # recursive.out: "Total mult-adds (M): 173.71", which adds the 64 biases per position.
    assert round(6 * (64 * 64 * 9 + 64) * 28 * 28 / 1e6, 2) == 173.71
    assert report.outputs[0].receptive_field.axes[0].size == 13  # six 3x3 convs: 1 + 6 * 2


def test_siamese_measured_with_pytorch() -> None:
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class Siamese(nn.Module):  # torchinfo's SiameseNets, as published
        def __init__(self) -> None:
            super().__init__()
            self.conv1, self.conv2 = nn.Conv2d(1, 64, 10), nn.Conv2d(64, 128, 7)
            self.conv3, self.conv4 = nn.Conv2d(128, 128, 4), nn.Conv2d(128, 256, 4)
            self.pooling, self.fc1, self.fc2 = nn.MaxPool2d(2, 2), nn.Linear(256, 4096), nn.Linear(4096, 1)

        def tower(self, x: torch.Tensor) -> torch.Tensor:
            for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
                x = self.pooling(torch.relu(conv(x)))
            return self.fc1(x.view(x.size(0), -1))

        def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
            return torch.sigmoid(self.fc2(torch.abs(self.tower(x1) - self.tower(x2))))

    model = Siamese()
    out = model(torch.zeros(1, 1, 88, 88), torch.zeros(1, 1, 88, 88))
    report = analyze_text(SIAMESE, "t.yaml")
    assert report.totals.params == sum(p.numel() for p in model.parameters())
    assert report.outputs[0].shape == tuple(out.shape)


def test_input_option_sets_one_named_input() -> None:
    report = analyze_text(
        SIAMESE.replace("x2: [1, 1, 88, 88]", "x2: [1, 1, 90, 90]"), "t.yaml", input_shape={"x2": (1, 1, 88, 88)}
    )
    assert report.inputs["x2"] == (1, 1, 88, 88)
    found = errors(SIAMESE, input_shape={"x3": (1, 1, 88, 88)})
    assert [code for _, _, code, _ in found] == ["unknown-argument"]
    assert "its inputs are: x1, x2" in found[0][3]


def test_shared_layer_on_another_width_is_an_error() -> None:
    # fc1 has 256 * 4096 + 4096 weights; a 96x96 second image flattens to 1024 features.
    found = errors(SIAMESE, input_shape={"x2": (1, 1, 96, 96)})
    assert [code for _, _, code, _ in found] == ["shape"]
    assert "needs 4,198,400 parameters where t1.linear_1 has 1,052,672" in found[0][3]


def test_share_names_an_earlier_entry_of_the_same_kind() -> None:
    text = """
name: t
input: [1, 3, 8, 8]
layers:
  - Conv2d: {out_channels: 3, kernel_size: 1, name: a}
  - ReLU: {share: a}
  - Conv2d: {share: b}
  - Conv2d: {share: a, kernel_size: 3}
"""
    assert [(line, col, code) for line, col, code, _ in errors(text)] == [
        (6, 19, "bad-value"),
        (7, 21, "unknown-reference"),
        (8, 24, "bad-value"),
    ]


FROZEN = """
name: frozen
input: [1, 3, 8, 8]
blocks:
  Backbone:
    layers:
      - Conv2d: {out_channels: 8, kernel_size: 3, bias: false}
      - BatchNorm2d
layers:
  - Backbone: {trainable: false, name: backbone}
  - Conv2d: {out_channels: 4, kernel_size: 1, name: head}
  - Conv2d: {out_channels: 2, kernel_size: 1, trainable: false}
"""


def test_trainable_false_moves_parameters_to_non_trainable() -> None:
    report = analyze_text(FROZEN, "t.yaml")
    # Frozen: conv 3*8*9 = 216, BN 2*8 = 16, the last 1x1 conv 4*2 + 2 = 10; head 8*4 + 4 = 36.
    assert report.totals.non_trainable_params == 216 + 16 + 10
    assert report.totals.trainable_params == 36
    assert report.totals.params == 216 + 16 + 10 + 36
    assert not leaf(report, "backbone").trainable and leaf(report, "head").trainable


def test_trainable_matches_pytorch_requires_grad() -> None:
    torch = pytest.importorskip("torch")
    nn = torch.nn
    backbone = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8)).requires_grad_(False)
    model = nn.Sequential(backbone, nn.Conv2d(8, 4, 1), nn.Conv2d(4, 2, 1).requires_grad_(False))
    totals = analyze_text(FROZEN, "t.yaml").totals
    assert totals.trainable_params == sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert totals.non_trainable_params == sum(p.numel() for p in model.parameters() if not p.requires_grad)


# --- export and verify: PyTorch builds and runs what the spec says ------------------------


def _verified(text: str):
    pytest.importorskip("torch")
    from cnnshape.bridge.export import analyse_source, export_analysed
    from cnnshape.bridge.verify import load_code, verify_analysed
    from cnnshape.source import load_text

    analysed = analyse_source(load_text(text, "t.yaml"))
    result = verify_analysed(analysed)
    assert result.ok, (result.mismatches, [total for total in result.totals if not total.ok])
    return load_code(export_analysed(analysed)).build()


def test_siamese_exports_one_tower_called_twice() -> None:
    torch = pytest.importorskip("torch")
    model = _verified(SIAMESE)
    assert model.t2 is model.t1  # one module: its weights once
    assert sum(p.numel() for p in model.parameters()) == 2_251_585  # siamese_net.out
    out = model(torch.zeros(1, 1, 88, 88), torch.zeros(1, 1, 88, 88))
    assert tuple(out.shape) == (1, 1)


def test_recursive_net_exports_one_conv_called_six_times() -> None:
    torch = pytest.importorskip("torch")
    model = _verified(RECURSIVE)
    assert sum(p.numel() for p in model.parameters()) == 36_928  # recursive.out
    calls = []
    model.conv1.register_forward_hook(lambda *_: calls.append(1))
    model(torch.zeros(1, 64, 28, 28))
    assert len(calls) == 6


def test_frozen_layers_export_with_requires_grad_false() -> None:
    model = _verified(FROZEN)
    frozen = {name for name, p in model.named_parameters() if not p.requires_grad}
    # The backbone's conv and BN, and the last 1x1 conv: 216 + 16 + 10 elements, as by hand.
    assert sum(p.numel() for p in model.parameters() if not p.requires_grad) == 216 + 16 + 10
    assert all(name.startswith(("backbone.", "conv2d_1.")) for name in frozen)


def test_input_names_become_checked_forward_arguments() -> None:
    # `self` and `x` would clash with the method's own names: they get fresh identifiers.
    pytest.importorskip("torch")
    from cnnshape.bridge.export import analyse_source, export_analysed
    from cnnshape.source import load_text

    text = SIAMESE.replace("x1", "self").replace("x2", "x")
    code = export_analysed(analyse_source(load_text(text, "t.yaml")))
    assert "    def forward(self, self_2, x_2):\n" in code
    _verified(text)


def test_verify_compares_the_trainable_total() -> None:
    pytest.importorskip("torch")
    from cnnshape.bridge.export import analyse_source
    from cnnshape.bridge.verify import verify_analysed
    from cnnshape.source import load_text

    result = verify_analysed(analyse_source(load_text(FROZEN, "t.yaml")))
    # Trainable: only the head, 8*4 + 4 = 36 (by hand above), on both sides.
    assert [(t.quantity, t.cnnshape, t.torch) for t in result.totals if t.quantity == "trainable params"] == [
        ("trainable params", 36, 36)
    ]
