"""TensorFlow's SAME padding (`padding: tf_same`) on pooling, and its export: shapes and
padding worked by hand, measured against timm's MaxPool2dSame / AvgPool2dSame /
create_pool2d(padding='same') and Conv2dSame, and the exported runtime modules' values
against timm's modules and a TensorFlow-style average written out here (optional tests)."""

from __future__ import annotations

import itertools

import pytest
from pydantic import ValidationError

from cnnshape.layers import REGISTRY
from cnnshape.pipeline import analyze_text

# --- by hand ------------------------------------------------------------------------------


def test_pool_tf_same_by_hand() -> None:
    # MaxPool2d(3, 2) with TF's SAME on 224 x 225:
    #   H: out = ceil(224 / 2) = 112; total (112 - 1)*2 + 3 - 224 = 1: 0 before, 1 after
    #   W: out = ceil(225 / 2) = 113; total (113 - 1)*2 + 3 - 225 = 2: 1 before, 1 after
    # PyTorch's MaxPool2d(3, 2, padding=0) would give floor((224 - 3) / 2) + 1 = 111.
    layer = REGISTRY["MaxPool2d"](kernel_size=3, stride=2, padding="tf_same")
    assert layer.infer([(1, 8, 224, 225)]).shapes == [(1, 8, 112, 113)]
    assert layer._pads((224, 225)) == ([1, 2], [0, 1])
    # AvgPool1d(2) (stride 2) on 7: out ceil(7 / 2) = 4; total (4 - 1)*2 + 2 - 7 = 1: 0, 1.
    avg = REGISTRY["AvgPool1d"](kernel_size=2, padding="tf_same")
    assert avg.infer([(1, 4, 7)]).shapes == [(1, 4, 4)]
    # MaxPool3d(3, [1, 2, 2]) on 5 x 9 x 10: D ceil(5/1) = 5 (total 2: 1, 1);
    # H ceil(9/2) = 5 (total (5-1)*2 + 3 - 9 = 2: 1, 1); W ceil(10/2) = 5 (total 1: 0, 1).
    pool3 = REGISTRY["MaxPool3d"](kernel_size=3, stride=[1, 2, 2], padding="tf_same")
    assert pool3.infer([(1, 2, 5, 9, 10)]).shapes == [(1, 2, 5, 5, 5)]
    assert pool3._pads((5, 9, 10)) == ([2, 2, 1], [1, 1, 0])


def test_pool_tf_same_receptive_field_uses_the_real_padding() -> None:
    # Conv2d(3, s2, tf_same) then MaxPool2d(3, s2, tf_same) on 224 x 225:
    #   conv: H left 0, W left 1 (as above); size 3, stride 2, padding 0 x 1
    #   pool on 112 x 113: H total (56-1)*2 + 3 - 112 = 1 -> left 0; W total (57-1)*2 + 3 - 113 = 2 -> left 1
    #   size 3 + (3 - 1)*2 = 7, stride 4, padding 0 + 0*2 = 0 (H) and 1 + 1*2 = 3 (W)
    report = analyze_text(
        "name: s\ninput: [1, 3, 224, 225]\nlayers:\n"
        "  - Conv2d: {out_channels: 8, kernel_size: 3, stride: 2, padding: tf_same}\n"
        "  - MaxPool2d: {kernel_size: 3, stride: 2, padding: tf_same}\n"
    )
    row = report.rows[-1]
    assert row.output_shapes[0] == (1, 8, 56, 57)
    rf = row.receptive_field
    assert rf is not None and [(a.size, a.stride, a.padding) for a in rf.axes] == [(7, 4, 0), (7, 4, 3)]


def test_tf_same_and_ceil_mode_are_one_too_many() -> None:
    with pytest.raises(ValidationError, match="ceil_mode"):
        REGISTRY["MaxPool2d"](kernel_size=3, stride=2, padding="tf_same", ceil_mode=True)


def test_tf_same_working_shows_the_padding() -> None:
    layer = REGISTRY["AvgPool2d"](kernel_size=3, stride=2, padding="tf_same")
    working = layer.infer([(1, 1, 224, 224)]).working
    assert "H: tf_same: out = ceil(I / S) = ceil(224/2) = 112; padding" in working[0]
    assert working[0].endswith("= 1: 0 before, 1 after")


# --- against timm and torch, measured -----------------------------------------------------

SIZES = [7, 8, 13, 224, 225]
WINDOWS = [(3, 2), (2, 2), (3, 1), (5, 3), (1, 2), (4, 4)]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("kernel, stride", WINDOWS)
@pytest.mark.parametrize("pool_type", ["max", "avg"])
def test_pool2d_tf_same_against_timm(size: int, kernel: int, stride: int, pool_type: str) -> None:
    torch = pytest.importorskip("torch")
    pool2d_same = pytest.importorskip("timm.layers.pool2d_same")
    padding = pytest.importorskip("timm.layers.padding")
    x = torch.zeros(1, 2, size, size + 1)
    # create_pool2d picks the dynamic *Same modules, or a static nn pool when SAME is symmetric
    module = pool2d_same.create_pool2d(pool_type, kernel, stride, padding="same")
    measured = tuple(module(x).shape)
    kind = "MaxPool2d" if pool_type == "max" else "AvgPool2d"
    layer = REGISTRY[kind](kernel_size=kernel, stride=stride, padding="tf_same")
    assert layer.infer([(1, 2, size, size + 1)]).shapes == [measured]
    totals, lefts = layer._pads((size, size + 1))
    pads = padding.pad_same_arg([size, size + 1], [kernel, kernel], [stride, stride])
    # timm's order: [left W, right W, top H, bottom H]
    assert (lefts[1], totals[1] - lefts[1], lefts[0], totals[0] - lefts[0]) == tuple(pads)


@pytest.mark.parametrize("ndim", [1, 3])
@pytest.mark.parametrize("kernel, stride", WINDOWS)
def test_pool_1d_3d_tf_same_against_torch(ndim: int, kernel: int, stride: int) -> None:
    torch = pytest.importorskip("torch")
    padding = pytest.importorskip("timm.layers.padding")
    sizes = (7, 8, 13)[:ndim] if ndim == 3 else (13,)
    x = torch.zeros(1, 2, *sizes)
    pads: list[int] = []
    for size in sizes:  # timm's per-axis SAME total, the smaller half first; F.pad: last dim first
        total = padding.get_same_padding(size, kernel, stride, 1)
        pads = [total // 2, total - total // 2] + pads
    padded = torch.nn.functional.pad(x, pads)
    pool = getattr(torch.nn.functional, f"max_pool{ndim}d")
    measured = tuple(pool(padded, kernel, stride).shape)
    for kind in (f"MaxPool{ndim}d", f"AvgPool{ndim}d"):
        layer = REGISTRY[kind](kernel_size=kernel, stride=stride, padding="tf_same")
        assert layer.infer([tuple(x.shape)]).shapes == [measured]


# --- export: the runtime modules' values ---------------------------------------------------


def _x(*shape: int):
    torch = pytest.importorskip("torch")
    return torch.randn(*shape, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("size, kernel, stride", [(224, 3, 2), (225, 3, 2), (13, 4, 3), (8, 1, 2), (9, 3, 1)])
def test_runtime_same_modules_equal_timms(size: int, kernel: int, stride: int) -> None:
    torch = pytest.importorskip("torch")
    pool2d_same = pytest.importorskip("timm.layers.pool2d_same")
    conv2d_same = pytest.importorskip("timm.layers.conv2d_same")
    from cnnshape.bridge import runtime

    x = _x(2, 3, size, size + 2)
    ours = runtime.MaxPool2dSame(kernel, stride=stride)
    assert torch.equal(ours(x), pool2d_same.MaxPool2dSame(kernel, stride=stride)(x))
    ours_avg = runtime.AvgPool2dSame(kernel, stride=stride)  # count_include_pad: PyTorch's default, timm's
    assert torch.allclose(ours_avg(x), pool2d_same.AvgPool2dSame(kernel, stride=stride)(x))
    conv = runtime.Conv2dSame(3, 4, kernel, stride=stride, padding="tf_same")
    theirs = conv2d_same.Conv2dSame(3, 4, kernel, stride=stride)
    theirs.load_state_dict(conv.state_dict())
    assert torch.allclose(conv(x), theirs(x), atol=1e-6)


def test_runtime_avg_pool_without_padding_counts_averages_only_the_input() -> None:
    """TensorFlow's SAME average: each window averages the input elements it covers. Worked
    out here window by window, with the padding from the formula written in the test."""
    torch = pytest.importorskip("torch")
    from cnnshape.bridge import runtime

    size_h, size_w, kernel, stride = 7, 6, 3, 2
    x = _x(1, 2, size_h, size_w)
    got = runtime.AvgPool2dSame(kernel, stride=stride, count_include_pad=False)(x)
    expected = torch.empty(1, 2, -(-size_h // stride), -(-size_w // stride))
    # H: out 4, total (4-1)*2 + 3 - 7 = 2 -> 1 before; W: out 3, total (3-1)*2 + 3 - 6 = 1 -> 0 before
    top, left = 1, 0
    for i, j in itertools.product(range(expected.shape[2]), range(expected.shape[3])):
        h0, w0 = i * stride - top, j * stride - left
        window = x[:, :, max(h0, 0) : min(h0 + kernel, size_h), max(w0, 0) : min(w0 + kernel, size_w)]
        expected[:, :, i, j] = window.mean(dim=(2, 3))
    assert torch.allclose(got, expected, atol=1e-6)
    # ...which is not PyTorch's default: the corner window (1 row of padding) differs.
    with_pad = runtime.AvgPool2dSame(kernel, stride=stride)(x)
    assert not torch.allclose(with_pad[:, :, 0, 0], expected[:, :, 0, 0])


def test_runtime_same_modules_in_1d_and_3d() -> None:
    torch = pytest.importorskip("torch")
    from cnnshape.bridge import runtime

    F = torch.nn.functional
    x1 = _x(1, 2, 9)  # k 3, s 2: out 5, total (5-1)*2 + 3 - 9 = 2: 1 and 1
    assert torch.equal(runtime.MaxPool1dSame(3, stride=2)(x1), F.max_pool1d(F.pad(x1, [1, 1], value=-1e30), 3, 2))
    x3 = _x(1, 2, 4, 5, 6)  # k 2, s 2: D out 2 total 0; H out 3 total 1 (0, 1); W out 3 total 0
    assert torch.allclose(runtime.AvgPool3dSame(2)(x3), F.avg_pool3d(F.pad(x3, [0, 0, 0, 1, 0, 0]), 2))
    conv = runtime.Conv1dSame(2, 3, 4, stride=3, padding="tf_same")  # on 9: out 3, total (3-1)*3+4-9 = 1: 0, 1
    expected = F.conv1d(F.pad(x1, [0, 1]), conv.weight, conv.bias, stride=3)
    assert torch.allclose(conv(x1), expected)


TF_SPEC = """\
name: tf-same-export
input: [1, 3, 225, 224]
layers:
  - Conv2d: {out_channels: 8, kernel_size: 3, stride: 2, padding: tf_same}
  - MaxPool2d: {kernel_size: 3, stride: 2, padding: tf_same}
  - AvgPool2d: {kernel_size: 3, stride: 2, padding: tf_same, count_include_pad: false}
  - Conv2d: {out_channels: 8, kernel_size: 3, stride: 2, padding: tf_same, padding_mode: reflect, repeat: 2}
  - Flatten: {start_dim: 2}
  - Conv1d: {out_channels: 4, kernel_size: 5, stride: 3, padding: tf_same}
  - MaxPool1d: {kernel_size: 2, padding: tf_same}
  - AvgPool1d: {kernel_size: 3, stride: 2, padding: tf_same}
  - Unflatten: {dim: 2, unflattened_size: [1, 1, -1]}
  - Conv3d: {out_channels: 2, kernel_size: 3, stride: 2, padding: tf_same}
  - MaxPool3d: {kernel_size: 2, padding: tf_same}
  - AvgPool3d: {kernel_size: 2, padding: tf_same}
"""


def test_tf_same_exports_and_verifies() -> None:
    pytest.importorskip("torch")
    from cnnshape.bridge.export import analyse_source, export_analysed
    from cnnshape.bridge.verify import load_code, verify_analysed
    from cnnshape.source import load_text

    analysed = analyse_source(load_text(TF_SPEC, "tf.yaml"))
    result = verify_analysed(analysed)
    assert result.ok, result.mismatches
    assert result.layers == 13
    code = export_analysed(analysed)
    module = load_code(code)
    model = module.build()
    assert type(model.conv2d_1).__name__ == "Conv2dSame" and model.conv2d_1.padding == (0, 0)
    assert type(model.avgpool2d_1).__name__ == "AvgPool2dSame"
    # The shipped classes are copied from cnnshape/bridge/runtime.py, not written as strings.
    assert "def pad_same(" in code and "class _PoolSame(nn.Module):" in code


def test_tf_same_max_pool_with_indices_is_refused_at_export() -> None:
    pytest.importorskip("torch")
    from cnnshape.bridge.export import ExportError, analyse_source, export_analysed
    from cnnshape.source import load_text

    spec = (
        "name: s\ninput: [1, 3, 9, 9]\nlayers:\n"
        "  - MaxPool2d: {kernel_size: 3, stride: 2, padding: tf_same, return_indices: true, name: p}\n"
        "  - Identity: {from: p.0}\n"
    )
    with pytest.raises(ExportError, match="return_indices"):
        export_analysed(analyse_source(load_text(spec, "s.yaml")))


def test_tf_same_export_imports_back_as_tf_same() -> None:
    """The exported Conv/MaxPool/AvgPool *Same modules import back as `padding: tf_same`,
    with every layer's output shape, and the totals, as the spec has them."""
    torch = pytest.importorskip("torch")
    from cnnshape.bridge.export import analyse_source, export_analysed
    from cnnshape.bridge.fx_import import import_model
    from cnnshape.bridge.verify import load_code
    from cnnshape.source import load_text

    analysed = analyse_source(load_text(TF_SPEC, "tf.yaml"))
    with torch.device("meta"):
        built = load_code(export_analysed(analysed)).build()
    result = import_model(built, tuple(analysed.graph.input_shape), "tf")
    assert result.ok, [item.format() for item in result.unmapped] + result.problems
    assert result.text.count("padding: tf_same") == 11  # 3 + 2 Conv2d, Conv1d, Conv3d and 6 pools
    back = analyze_text(result.text, "tf.yaml")
    assert back.totals.params == analysed.report.totals.params
    assert back.totals.macs == analysed.report.totals.macs
    assert [row.output_shapes for row in back.rows] == [row.output_shapes for row in analysed.report.rows]
