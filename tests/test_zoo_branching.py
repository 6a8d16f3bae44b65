"""The branching zoo, DenseNet-121, GoogLeNet and Inception v3, against published numbers.

Expected values come only from torchvision's published weight metadata
(/work/shared/reference/torchvision.md: `num_params`, `_ops` in G MACs rounded to 3
decimals, Inception v3's parameters without its aux head) or from hand calculations
written out below; never from cnnshape's own output.
"""

from __future__ import annotations

from pathlib import Path

from zoo import PUBLISHED
from zoo import report as _report
from zoo import row as _row

SPECS = Path(__file__).resolve().parent.parent / "specs"

INCEPTION_V3_PARAMS_WITHOUT_AUX = 23_834_568

# Inception v3's AuxLogits head (torchvision InceptionAux(768, 1000)) on the 17x17 grid,
# by hand: avg_pool2d(5, stride 3) gives 768x5x5; conv0 is a 1x1 conv to 128 (5x5 out),
# conv1 a 5x5 conv to 768 (1x1 out), both BasicConv2d (no bias, batch norm of 2C params);
# fc is Linear(768, 1000).
AUX_PARAMS = (
    768 * 128
    + 2 * 128  # conv0 + bn
    + 128 * 768 * 5 * 5
    + 2 * 768  # conv1 + bn
    + 768 * 1000
    + 1000  # fc
)
AUX_MACS = 128 * 5 * 5 * 768 + 768 * 1 * 1 * 128 * 5 * 5 + 768 * 1000


def test_aux_head_hand_numbers() -> None:
    # The hand count of the head accounts exactly for the published difference.
    assert AUX_PARAMS == 3_326_696
    assert PUBLISHED["inception_v3"][0] - AUX_PARAMS == INCEPTION_V3_PARAMS_WITHOUT_AUX
    assert AUX_MACS == 5_683_200


def test_inception_v3_params_without_aux_head() -> None:
    report = _report("inception_v3")
    eval_params = sum(row.params for row in report.rows if not row.is_block and not row.training_only)
    assert eval_params == INCEPTION_V3_PARAMS_WITHOUT_AUX


def test_inception_v3_aux_head_is_training_only() -> None:
    report = _report("inception_v3")
    assert report.totals.training_only_macs > 0
    assert report.totals.training_only_macs == AUX_MACS
    aux = _row(report, "AuxLogits")
    assert aux.is_block and aux.training_only
    assert aux.params == AUX_PARAMS
    assert aux.macs == 0 and aux.training_macs == AUX_MACS
    # torchvision: InceptionAux's forward comments, N x 768 x 5 x 5 after the pool, N x 1000 out.
    assert aux.output_shape == (1, 1000)
    assert _row(report, "AuxLogits.conv0").output_shape == (1, 128, 5, 5)
    # Nothing of the eval-mode trunk is training-only.
    assert not _row(report, "Mixed_7a").training_only
    assert not _row(report, "fc").training_only


def test_inception_v3_grid_sizes() -> None:
    # torchvision's _forward comments: 35x35 after maxpool2 and Mixed_5b..5d (256, 288, 288
    # channels), 17x17x768 after Mixed_6a..6e, 8x8 after Mixed_7a..7c (1280, 2048, 2048).
    report = _report("inception_v3")
    expected = {
        "maxpool2": (1, 192, 35, 35),
        "Mixed_5b": (1, 256, 35, 35),
        "Mixed_5c": (1, 288, 35, 35),
        "Mixed_5d": (1, 288, 35, 35),
        "Mixed_6a": (1, 768, 17, 17),
        "Mixed_6e": (1, 768, 17, 17),
        "Mixed_7a": (1, 1280, 8, 8),
        "Mixed_7b": (1, 2048, 8, 8),
        "Mixed_7c": (1, 2048, 8, 8),
    }
    for name, shape in expected.items():
        assert _row(report, name).output_shape == shape, name


def test_googlenet_module_widths() -> None:
    # Szegedy et al. 2014, Table 1: a module's output is #1x1 + #3x3 + #5x5 + pool proj,
    # e.g. 3a: 64 + 128 + 32 + 32 = 256; grids 28, 14 and 7 (ceil_mode pools).
    report = _report("googlenet")
    expected = {
        "inception3a": (1, 64 + 128 + 32 + 32, 28, 28),
        "inception3b": (1, 128 + 192 + 96 + 64, 28, 28),
        "inception4a": (1, 192 + 208 + 48 + 64, 14, 14),
        "inception4e": (1, 256 + 320 + 128 + 128, 14, 14),
        "inception5b": (1, 384 + 384 + 128 + 128, 7, 7),
    }
    for name, shape in expected.items():
        assert _row(report, name).output_shape == shape, name


def test_densenet121_block_widths() -> None:
    # 64 initial features; a dense block of n layers adds n * 32; a transition halves the
    # channels and the grid: 64 + 6*32 = 256 -> 128, + 12*32 = 512 -> 256,
    # + 24*32 = 1024 -> 512, + 16*32 = 1024.
    report = _report("densenet121")
    expected = {
        "denseblock1": (1, 256, 56, 56),
        "transition1": (1, 128, 28, 28),
        "denseblock2": (1, 512, 28, 28),
        "transition2": (1, 256, 14, 14),
        "denseblock3": (1, 1024, 14, 14),
        "transition3": (1, 512, 7, 7),
        "denseblock4": (1, 1024, 7, 7),
    }
    for name, shape in expected.items():
        assert _row(report, name).output_shape == shape, name
    layers = [row for row in report.rows if row.kind == "DenseLayer"]
    assert len(layers) == 6 + 12 + 24 + 16


def test_inception_v3_aux_logits_receptive_field_is_global() -> None:
    # AuxLogits.conv1's 5x5 kernel covers the whole 5x5 map, then fc mixes every feature.
    rf = _row(_report("inception_v3"), "AuxLogits.fc").receptive_field
    assert rf is not None and rf.kind == "global"
