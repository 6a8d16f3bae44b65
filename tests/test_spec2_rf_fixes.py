"""Receptive-field and shape fixes of spec format 2, each against a hand calculation or
PyTorch measured at test time."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnshape.errors import SpecError
from cnnshape.pipeline import analyze_file, analyze_text

SPECS = Path(__file__).resolve().parent.parent / "specs"

TWO_FLAT_PATHS = """
name: t
input: [1, 1, 16, 16]
layers:
  - Conv2d: {out_channels: 4, kernel_size: 3, padding: 1, from: input}
  - Flatten: {name: fa}
  - Conv2d: {out_channels: 4, kernel_size: 7, padding: 3, from: input}
  - Flatten: {name: fb}
  - %s: {from: [%s], name: m}
"""


@pytest.mark.parametrize("kind", ["Add", "Concat"])
@pytest.mark.parametrize("order", ["fa, fb", "fb, fa"])
def test_merge_after_flatten_keeps_the_largest_field(kind: str, order: str) -> None:
    # fa sees 3x3 (one 3x3 conv), fb 7x7: the merge sees 7 on each axis, in either order.
    report = analyze_text(TWO_FLAT_PATHS % (kind, order), "t.yaml")
    field = next(row for row in report.rows if row.name == "m").receptive_field
    assert field.kind == "flat"
    assert [axis.size for axis in field.axes] == [7, 7]


@pytest.mark.parametrize("kernel, stride, size, out", [(4, 4, 3, 1), (3, 3, 2, 1), (2, 2, 3, 2)])
def test_ceil_mode_window_larger_than_input(kernel: int, stride: int, size: int, out: int) -> None:
    # PyTorch's pooling_output_shape: ceil((I - K) / S) + 1 even when K > I, e.g.
    # ceil((3 - 4) / 4) + 1 = 0 + 1 = 1 for kernel 4 on 3x3.
    text = f"name: t\ninput: [1, 1, {size}, {size}]\nlayers:\n  - MaxPool2d: {{kernel_size: {kernel}, stride: {stride}, ceil_mode: true}}\n"
    assert analyze_text(text, "t.yaml").outputs[0].shape == (1, 1, out, out)


def test_ceil_mode_window_too_large_is_still_an_error() -> None:
    # kernel 5, stride 2 on 3: ceil((3 - 5) / 2) + 1 = -1 + 1 = 0, which PyTorch refuses.
    text = "name: t\ninput: [1, 1, 3, 3]\nlayers:\n  - MaxPool2d: {kernel_size: 5, stride: 2, ceil_mode: true}\n"
    with pytest.raises(SpecError):
        analyze_text(text, "t.yaml")


def test_ceil_mode_measured_with_torch() -> None:
    torch = pytest.importorskip("torch")
    for kernel, stride, size in [(4, 4, 3), (3, 3, 2), (7, 5, 6), (5, 2, 4)]:
        pool = torch.nn.MaxPool2d(kernel, stride, ceil_mode=True)
        text = (
            f"name: t\ninput: [1, 1, {size}, {size}]\nlayers:\n"
            f"  - MaxPool2d: {{kernel_size: {kernel}, stride: {stride}, ceil_mode: true}}\n"
        )
        try:
            expected = tuple(pool(torch.zeros(1, 1, size, size)).shape)
        except RuntimeError:
            with pytest.raises(SpecError):
                analyze_text(text, "t.yaml")
            continue
        assert analyze_text(text, "t.yaml").outputs[0].shape == expected


def test_conv2d_on_a_3d_input_asks_for_conv1d() -> None:
    text = "name: t\ninput: [1, 64, 2]\nlayers:\n  - Conv2d: {out_channels: 8, kernel_size: 3}\n"
    with pytest.raises(SpecError) as info:
        analyze_text(text, "t.yaml")
    message = info.value.problems[0].message
    assert "needs (N, C, H, W)" in message and "was Conv1d meant?" in message


def test_training_only_shape_failure_is_a_warning() -> None:
    # torchvision's Inception v3 runs at 224 in eval mode; its AuxLogits (training only)
    # needs 299: a warning names it, and the eval-mode output is analysed.
    report = analyze_file(SPECS / "inception_v3.yaml", input_shape=(1, 3, 224, 224))
    warnings = [p for p in report.warnings if "runs only in training" in p.message]
    assert len(warnings) == 1 and "AuxLogits" in warnings[0].message
    assert report.outputs[0].shape == (1, 1000)


def test_training_only_shape_failure_eval_output_matches_torchvision() -> None:
    torch = pytest.importorskip("torch")
    models = pytest.importorskip("torchvision.models")
    model = models.inception_v3(weights=None, aux_logits=True, init_weights=False).eval()
    with torch.no_grad():
        out = model(torch.zeros(1, 3, 224, 224))
    report = analyze_file(SPECS / "inception_v3.yaml", input_shape=(1, 3, 224, 224))
    assert report.outputs[0].shape == tuple(out.shape)


LINEAR_ON_MAP = """
name: t
input: [1, 3, 32, 32]
layers:
  - Conv2d: {out_channels: 8, kernel_size: 3, stride: 2, padding: 1, name: conv}
  - %s
  - Linear: {out_features: 10, name: fc}
"""


def _axes(report, name: str) -> list[tuple[int, int]]:
    field = next(row for row in report.rows if row.name == name).receptive_field
    assert field is not None and field.kind == "spatial"
    return [(axis.size, axis.stride) for axis in field.axes]


def test_linear_on_an_unflattened_map_reads_its_last_axis_whole() -> None:
    # conv: field 3, stride 2 on H and W; its output is 16 wide. The Linear reads each row
    # of 16 positions whole: W's field grows to 3 + (16 - 1) * 2 = 33; H keeps 3.
    report = analyze_text(LINEAR_ON_MAP % "Identity")
    assert _axes(report, "conv") == [(3, 2), (3, 2)]
    assert _axes(report, "fc") == [(3, 2), (33, 2)]
    fc = next(row for row in report.rows if row.name == "fc")
    assert [code for code, _ in fc.findings] == ["linear-on-map"]


def test_linear_on_channels_last_keeps_the_field() -> None:
    # After a Permute to (N, H, W, C) the Linear mixes channels: every position keeps its
    # 3 x 3 field, and nothing is reported.
    report = analyze_text(LINEAR_ON_MAP % "Permute: {dims: [0, 2, 3, 1]}")
    assert _axes(report, "fc") == [(3, 2), (3, 2)]
    fc = next(row for row in report.rows if row.name == "fc")
    assert fc.findings == []


def test_linear_on_flattened_features_is_global() -> None:
    report = analyze_text(LINEAR_ON_MAP % "Flatten")
    field = next(row for row in report.rows if row.name == "fc").receptive_field
    assert field is not None and field.kind == "global"


SE_GATED = """
name: se
input: [1, 3, 32, 32]
layers:
  - Conv2d: {out_channels: 8, kernel_size: 3, stride: 2, padding: 1, name: conv}
  - AdaptiveAvgPool2d: {output_size: 1}
  - Conv2d: {out_channels: 8, kernel_size: 1}
  - Sigmoid: {name: gate}
  - Mul: {from: [conv, gate], name: gated}
  - Conv2d: {out_channels: 8, kernel_size: 3, stride: 2, padding: 1, name: after}
"""


def test_se_gating_keeps_the_local_field_and_marks_global_context() -> None:
    report = analyze_text(SE_GATED)
    rows = {row.name: row for row in report.rows}
    # The gate sees the whole input; the gated map keeps conv's field (3, stride 2,
    # padding 1) and says that global context joined.
    assert rows["gate"].receptive_field.kind == "global"
    gated = rows["gated"].receptive_field
    assert gated.kind == "spatial" and gated.global_context
    assert [(a.size, a.stride, a.padding) for a in gated.axes] == [(3, 2, 1)] * 2
    # The next 3x3 stride-2 conv: size 3 + (3 - 1) * 2 = 7, stride 2 * 2 = 4, padding
    # 1 + 1 * 2 = 3 (as without the SE branch), still marked.
    after = rows["after"].receptive_field
    assert [(a.size, a.stride, a.padding) for a in after.axes] == [(7, 4, 3)] * 2 and after.global_context


def test_se_local_field_equals_the_network_without_its_gate() -> None:
    without = analyze_text(
        SE_GATED.replace("  - Mul: {from: [conv, gate], name: gated}\n", "  - Identity: {from: conv, name: gated}\n")
    )
    with_gate = analyze_text(SE_GATED)
    plain = next(row for row in without.rows if row.name == "after").receptive_field
    gated = next(row for row in with_gate.rows if row.name == "after").receptive_field
    assert plain.axes == gated.axes and not plain.global_context


def test_json_and_table_show_global_context() -> None:
    from cnnshape.render.json import receptive_field as field_json
    from cnnshape.render.units import receptive_field

    report = analyze_text(SE_GATED)
    after = next(row for row in report.rows if row.name == "after")
    assert receptive_field(after.receptive_field) == "7 s4 p3 +g"
    assert field_json(after.receptive_field)["global_context"] is True


def test_yolov8n_head_field_is_its_widest_level() -> None:
    # The case: YOLOv8n's Detect merges the P3, P4 and P5 paths after flattening
    # them; its field was P3's (the first listed, 911) instead of P5's. Each level's field
    # is read off the report, and the head's must be the widest of them.
    ultralytics = pytest.importorskip("ultralytics")
    from pathlib import Path

    from cnnshape.pipeline import analyze_file

    path = Path(ultralytics.__file__).parent / "cfg" / "models" / "v8" / "yolov8.yaml"
    report = analyze_file(path, {"scale": "n"})
    rows = {row.name: row for row in report.rows}
    levels = [rows[f"model_22.head.level_{i}.cv2"].receptive_field for i in range(3)]
    head = rows["model_22"].receptive_field
    assert all(rf is not None for rf in levels) and head is not None
    sizes = [rf.axes[0].size for rf in levels if rf is not None]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]  # P3 < P4 < P5
    assert [axis.size for axis in head.axes] == [sizes[-1]] * len(head.axes)
