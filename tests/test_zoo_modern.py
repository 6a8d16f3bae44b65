"""ConvNeXt-Tiny, ViT-B/16 and U-Net against published numbers and hand calculations.

Expected values come only from torchvision's published weight metadata
(/work/shared/reference/torchvision.md: `num_params`, `_ops` in G MACs) or from hand
calculations written out below; never from cnnshape's own output. Each hand calculation
was also checked once against a plain torch.nn build of the same network
(`sum(p.numel() for p in model.parameters())`, and torch.utils.flop_counter with the
attention matmuls written out).
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest
from zoo import PUBLISHED
from zoo import report as _report
from zoo import row as _row

SPECS = Path(__file__).resolve().parent.parent / "specs"


# -- ConvNeXt-Tiny, by hand (3x224x224; depths [3, 3, 9, 3], dims [96, 192, 384, 768]) ----
# Stem: Conv2d(3, 96, 4, s4) + bias, LayerNorm2d(96) (weight + bias).
# CNBlock(d): dw Conv2d(d, d, 7, groups=d) 49d + d; LayerNorm 2d; Linear(d, 4d) 4d^2 + 4d;
#             Linear(4d, d) 4d^2 + d; layer scale d               -> 8d^2 + 58d params
#             MACs at HxW: 49*d*HW (depthwise) + 2 * 4d^2 * HW (the two Linears)
# Downsample(cin, cout): LayerNorm2d 2cin; Conv2d(cin, cout, 2, s2) 4*cin*cout + cout
#             MACs: 4*cin*cout * (H/2 * W/2)
# Head: LayerNorm2d(768) 2*768; Linear(768, 1000) 768*1000 + 1000; MACs 768*1000.
CONVNEXT_STAGES = [(96, 3, 56), (192, 3, 28), (384, 9, 14), (768, 3, 7)]  # (dim, blocks, H=W)


def _cnblock_params(d: int) -> int:
    return (49 * d + d) + 2 * d + (d * 4 * d + 4 * d) + (4 * d * d + d) + d


def _cnblock_macs(d: int, hw: int) -> int:
    return 49 * d * hw * hw + 2 * 4 * d * d * hw * hw


CONVNEXT_PARAMS = (
    (3 * 96 * 16 + 96)
    + 2 * 96
    + sum(blocks * _cnblock_params(d) for d, blocks, _ in CONVNEXT_STAGES)
    + sum(2 * cin + 4 * cin * cout + cout for (cin, _, _), (cout, _, _) in pairwise(CONVNEXT_STAGES))
    + 2 * 768
    + (768 * 1000 + 1000)
)
CONVNEXT_MACS = (
    3 * 16 * 96 * 56 * 56
    + sum(blocks * _cnblock_macs(d, hw) for d, blocks, hw in CONVNEXT_STAGES)
    + sum(4 * cin * cout * hw * hw for (cin, _, _), (cout, _, hw) in pairwise(CONVNEXT_STAGES))
    + 768 * 1000
)

# -- ViT-B/16, by hand (3x224x224 -> 14*14 = 196 patches + class token = 197 tokens) --------
# conv_proj Conv2d(3, 768, 16, s16): 3*256*768 + 768; MACs 3*256*768 * 196
# class token 768; position embedding 197*768
# EncoderBlock: ln_1, ln_2 2*768 each; MultiheadAttention in_proj 3*768^2 + 3*768 and
#   out_proj 768^2 + 768; MLP Linear(768, 3072) + Linear(3072, 768) with biases
#   MACs: q, k, v, out projections 4 * 197*768^2; q @ k^T and attn @ v 2 * 197*197*768;
#   MLP 2 * 197*768*3072
# final LayerNorm 2*768; head Linear(768, 1000): 768*1000 + 1000, MACs 768*1000
E, TOKENS, MLP = 768, 197, 3072
VIT_BLOCK_PARAMS = 2 * 2 * E + (4 * E * E + 4 * E) + (E * MLP + MLP + MLP * E + E)
VIT_BLOCK_MACS = 4 * TOKENS * E * E + 2 * TOKENS * TOKENS * E + 2 * TOKENS * E * MLP
VIT_PARAMS = (3 * 256 * E + E) + E + TOKENS * E + 12 * VIT_BLOCK_PARAMS + 2 * E + (E * 1000 + 1000)
VIT_MACS = 3 * 256 * E * 196 + 12 * VIT_BLOCK_MACS + E * 1000


def test_macs_match_the_hand_count() -> None:
    assert _report("convnext_tiny").totals.macs == CONVNEXT_MACS
    assert _report("vit_b_16").totals.macs == VIT_MACS


def test_hand_numbers_agree_with_published() -> None:
    assert PUBLISHED["convnext_tiny"][0] == CONVNEXT_PARAMS
    assert round(CONVNEXT_MACS / 1e9, 3) == PUBLISHED["convnext_tiny"][1]
    assert PUBLISHED["vit_b_16"][0] == VIT_PARAMS
    assert round(VIT_MACS / 1e9, 3) == PUBLISHED["vit_b_16"][1]


def test_convnext_tiny_structure() -> None:
    report = _report("convnext_tiny")
    # torchvision: stem 96x56x56; stages at 96x56x56, 192x28x28, 384x14x14, 768x7x7.
    assert _row(report, "stem_norm").output_shape == (1, 96, 56, 56)
    for index, (dim, blocks, hw) in enumerate(CONVNEXT_STAGES, start=1):
        stage = _row(report, f"stage{index}")
        assert stage.output_shape == (1, dim, hw, hw)
        assert stage.params == blocks * _cnblock_params(dim)
        assert sum(1 for row in report.rows if row.kind == "CNBlock" and row.parent == stage.name) == blocks
    assert [output.shape for output in report.outputs] == [(1, 1000)]


def test_vit_b_16_structure() -> None:
    report = _report("vit_b_16")
    assert _row(report, "class_token").output_shape == (1, TOKENS, E)
    encoder_blocks = [row for row in report.rows if row.kind == "EncoderBlock"]
    assert len(encoder_blocks) == 12
    assert all(row.params == VIT_BLOCK_PARAMS and row.macs == VIT_BLOCK_MACS for row in encoder_blocks)
    assert _row(report, "select_1").output_shape == (1, E)
    assert [output.shape for output in report.outputs] == [(1, 1000)]


# -- U-Net (milesial/Pytorch-UNet, UNet(3, 2, bilinear=False)), by hand ----------------------
# DoubleConv(cin, cout, mid=cout): Conv2d(cin, mid, 3, bias=False) 9*cin*mid; BN 2*mid;
#                                  Conv2d(mid, cout, 3, bias=False) 9*mid*cout; BN 2*cout
# Down(cin, cout) = MaxPool2d(2) (no parameters) + DoubleConv(cin, cout)
# Up(cin, cout) = ConvTranspose2d(cin, cin/2, 2, s2) cin*(cin/2)*4 + cin/2, DoubleConv(cin, cout)
#                 (its input is [skip (cin/2), upsampled (cin/2)], concatenated: cin channels)
# OutConv = Conv2d(64, n_classes, 1) with bias: 64*n_classes + n_classes
def _double_conv(cin: int, cout: int, mid: int = 0) -> int:
    mid = mid or cout
    return 9 * cin * mid + 2 * mid + 9 * mid * cout + 2 * cout


def _up(cin: int, cout: int) -> int:
    return cin * (cin // 2) * 4 + cin // 2 + _double_conv(cin, cout)


UNET_BLOCKS = {
    "inc": _double_conv(3, 64),  #     1,728 +   128 +    36,864 +   128 =     38,848
    "down1": _double_conv(64, 128),  #    73,728 +   256 +   147,456 +   256 =    221,696
    "down2": _double_conv(128, 256),  #   294,912 +   512 +   589,824 +   512 =    885,760
    "down3": _double_conv(256, 512),  # 1,179,648 + 1,024 + 2,359,296 + 1,024 =  3,540,992
    "down4": _double_conv(512, 1024),  # 4,718,592 + 2,048 + 9,437,184 + 2,048 = 14,159,872
    "up1": _up(1024, 512),  # 2,097,152 + 512 + DoubleConv(1024, 512) 7,079,936 = 9,177,600
    "up2": _up(512, 256),  #   524,288 + 256 + DoubleConv(512, 256)  1,770,496 = 2,295,040
    "up3": _up(256, 128),  #   131,072 + 128 + DoubleConv(256, 128)    442,880 =   574,080
    "up4": _up(128, 64),  #    32,768 +  64 + DoubleConv(128, 64)     110,848 =   143,680
    "outc": 64 * 2 + 2,  #                                                         130
}
UNET_PARAMS = 31_037_698
# Batch norm buffers: running mean and var (2C) and num_batches_tracked (1), 18 BNs.
UNET_BN_CHANNELS = [64, 64, 128, 128, 256, 256, 512, 512, 1024, 1024, 512, 512, 256, 256, 128, 128, 64, 64]
UNET_BUFFERS = sum(2 * c + 1 for c in UNET_BN_CHANNELS)

# bilinear=True: factor 2. down4 DoubleConv(512, 512); Up(cin, cout) = bilinear Upsample +
# DoubleConv(cin, cout, mid=cin/2); up1 Up(1024, 256), up2 Up(512, 128), up3 Up(256, 64),
# up4 Up(128, 64).
UNET_BILINEAR_PARAMS = (
    _double_conv(3, 64)
    + _double_conv(64, 128)
    + _double_conv(128, 256)
    + _double_conv(256, 512)
    + _double_conv(512, 512)
    + _double_conv(1024, 256, 512)
    + _double_conv(512, 128, 256)
    + _double_conv(256, 64, 128)
    + _double_conv(128, 64, 64)
    + 64 * 2
    + 2
)


def test_unet_hand_numbers() -> None:
    assert sum(UNET_BLOCKS.values()) == UNET_PARAMS
    assert UNET_BLOCKS["up1"] == 9_177_600
    assert UNET_BUFFERS == 11_794
    assert UNET_BILINEAR_PARAMS == 17_263_042


def test_unet_params_and_output() -> None:
    report = _report("unet")
    assert report.totals.params == UNET_PARAMS
    assert report.totals.buffers == UNET_BUFFERS
    for name, params in UNET_BLOCKS.items():
        assert _row(report, name).params == params, name
    assert [output.shape for output in report.outputs] == [(1, 2, 256, 256)]


def test_unet_skips_and_widths() -> None:
    report = _report("unet")
    encoder = {"inc": (64, 256), "down1": (128, 128), "down2": (256, 64), "down3": (512, 32), "down4": (1024, 16)}
    for name, (channels, hw) in encoder.items():
        assert _row(report, name).output_shape == (1, channels, hw, hw)
    # Each Up concatenates [skip, upsampled]: cin/2 + cin/2 channels at the skip's size.
    for name, (cin, hw) in {"up1": (1024, 32), "up2": (512, 64), "up3": (256, 128), "up4": (128, 256)}.items():
        assert _row(report, f"{name}.concat_1").output_shape == (1, cin, hw, hw)
        assert _row(report, f"{name}.up_conv").params == cin * (cin // 2) * 4 + cin // 2


@pytest.mark.parametrize(("n_classes", "size"), [(2, 256), (5, 160), (1, 64)])
def test_unet_output_is_n_classes_at_input_size(n_classes: int, size: int) -> None:
    report = _report("unet", n_classes=n_classes, size=size)
    assert [output.shape for output in report.outputs] == [(1, n_classes, size, size)]
    # Only OutConv depends on n_classes: 64*n + n instead of 64*2 + 2.
    assert report.totals.params == UNET_PARAMS - 130 + 64 * n_classes + n_classes


def test_unet_bilinear_variant() -> None:
    report = _report("unet", bilinear=True)
    assert report.totals.params == UNET_BILINEAR_PARAMS
    assert not any(row.kind == "ConvTranspose2d" for row in report.rows)
    assert [output.shape for output in report.outputs] == [(1, 2, 256, 256)]


# -- the CLI renders them ---------------------------------------------------------------------
