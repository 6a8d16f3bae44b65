"""Swin's and MaxViT's attention and Swin's patch merging as layer kinds: ShiftedWindowAttention,
ShiftedWindowAttentionV2, RelativePositionalMultiHeadAttention and PatchMergingPad.

Parameters, buffers and output shapes are torchvision's modules' own, measured at test time;
MACs are torch.utils.flop_counter's count of one call, halved; one case of each is also
worked out by hand below. cnnshape's runtime modules (what `export` writes) compute what
torchvision's do, given the same weights.
"""

from __future__ import annotations

from typing import Any

import pytest

from cnnshape.errors import ShapeError
from cnnshape.layers import REGISTRY

FORMULA_KINDS = {
    "PatchMergingPad",
    "ShiftedWindowAttention",
    "ShiftedWindowAttentionV2",
    "RelativePositionalMultiHeadAttention",
}


def test_swin_t_first_block_by_hand() -> None:
    """Swin-T's first block: C = 96, 3 heads, 7x7 windows on a 56x56 map (64 windows of 49)."""
    result = REGISTRY["ShiftedWindowAttention"](window_size=[7, 7], shift_size=[3, 3], num_heads=3).infer(
        [(1, 56, 56, 96)]
    )
    assert result.shapes == [(1, 56, 56, 96)]
    # qkv 96*288 + 288, proj 96*96 + 96, table 13*13*3 = 507
    assert result.params == 96 * 288 + 288 + 96 * 96 + 96 + 507 == 37_755
    assert result.buffers == 49 * 49 == 2401
    # 3136 positions: qkv 3136*96*288, proj 3136*96*96, products 2*3136*49*96
    assert result.macs == 3136 * 96 * 288 + 3136 * 96 * 96 + 2 * 3136 * 49 * 96 == 145_108_992


def test_a_map_that_is_not_whole_windows_is_padded() -> None:
    # 7x9 with 4x4 windows: padded to 8x12, 6 windows of 16, 96 positions
    result = REGISTRY["ShiftedWindowAttention"](window_size=[4, 4], shift_size=[2, 2], num_heads=2).infer(
        [(1, 7, 9, 8)]
    )
    assert result.shapes == [(1, 7, 9, 8)]
    assert result.macs == 96 * 8 * 24 + 96 * 8 * 8 + 2 * 96 * 16 * 8


SWIN_CASES = [
    (96, [7, 7], [3, 3], 3, (1, 56, 56, 96)),
    (96, [7, 7], [0, 0], 3, (1, 56, 56, 96)),
    (32, [4, 4], [2, 2], 2, (2, 7, 9, 32)),  # padded to whole windows
    (64, [8, 8], [4, 4], 4, (1, 7, 7, 64)),  # the window covers the map: no shift
]


def _measured(module: Any, x: Any) -> tuple[int, int, int, tuple[int, ...]]:
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        out = module(x)
    params = sum(p.numel() for p in module.parameters())
    buffers = sum(b.numel() for b in module.buffers())
    return params, buffers, counter.get_total_flops() // 2, tuple(out.shape)


@pytest.mark.parametrize("version", ["", "V2"])
@pytest.mark.parametrize(("dim", "window", "shift", "heads", "shape"), SWIN_CASES)
def test_window_attention_equals_torchvisions(
    version: str, dim: int, window: list[int], shift: list[int], heads: int, shape: tuple[int, ...]
) -> None:
    torch = pytest.importorskip("torch")
    swin = pytest.importorskip("torchvision.models.swin_transformer")
    from cnnshape.bridge import runtime

    kind = f"ShiftedWindowAttention{version}"
    theirs = getattr(swin, kind)(dim, window, shift, heads).eval()
    result = REGISTRY[kind](window_size=window, shift_size=shift, num_heads=heads).infer([shape])
    params, buffers, macs, out = _measured(theirs, torch.zeros(shape))
    assert (result.params, result.buffers, result.macs, result.shapes) == (params, buffers, macs, [out])
    # Seeded: with unit-normal weights the two float32 computations differ by up to about
    # 1.5e-5 (different operation order), at the edge of allclose's tolerance for a rare draw.
    torch.manual_seed(0)
    for p in theirs.parameters():
        p.data.normal_()
    ours = getattr(runtime, kind)(dim, window, shift, heads).eval()
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(shape)
    with torch.no_grad():
        assert torch.allclose(ours(x), theirs(x), atol=1e-5)


def test_window_attention_v2_by_hand() -> None:
    """Swin-V2-T's first block: C = 96, 3 heads, 8x8 windows: the MLP (2 -> 512 -> 3) on the
    15*15 = 225 coordinate pairs replaces V1's learned table; a logit scale per head."""
    v1 = REGISTRY["ShiftedWindowAttention"](window_size=[8, 8], shift_size=[4, 4], num_heads=3).infer([(1, 56, 56, 96)])
    v2 = REGISTRY["ShiftedWindowAttentionV2"](window_size=[8, 8], shift_size=[4, 4], num_heads=3).infer(
        [(1, 56, 56, 96)]
    )
    assert v2.params == v1.params - 225 * 3 + (2 * 512 + 512 + 512 * 3) + 3
    assert v2.buffers == v1.buffers + 225 * 2
    assert v2.macs == v1.macs + 225 * 2 * 512 + 225 * 512 * 3


@pytest.mark.parametrize(
    ("dim", "head_dim", "positions", "shape"),
    [(64, 32, 49, (1, 64, 49, 64)), (96, 32, 16, (2, 3, 16, 96))],
)
def test_maxvit_attention_equals_torchvisions(dim: int, head_dim: int, positions: int, shape: tuple[int, ...]) -> None:
    torch = pytest.importorskip("torch")
    maxvit = pytest.importorskip("torchvision.models.maxvit")
    from cnnshape.bridge import runtime

    theirs = maxvit.RelativePositionalMultiHeadAttention(dim, head_dim, positions).eval()
    result = REGISTRY["RelativePositionalMultiHeadAttention"](head_dim=head_dim, max_seq_len=positions).infer([shape])
    assert (result.params, result.buffers, result.macs, result.shapes) == (
        *_measured(theirs, torch.zeros(shape))[:3],
        [shape],
    )
    ours = runtime.RelativePositionalMultiHeadAttention(dim, head_dim, positions).eval()
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(shape)
    with torch.no_grad():
        assert torch.allclose(ours(x), theirs(x), atol=1e-5)


def test_maxvit_attention_by_hand() -> None:
    # MaxViT-T's first block: D = 64, 2 heads of 32, 7x7 windows (P = 49), 64 windows
    result = REGISTRY["RelativePositionalMultiHeadAttention"](head_dim=32, max_seq_len=49).infer([(1, 64, 49, 64)])
    assert result.params == 64 * 192 + 192 + 64 * 64 + 64 + 13 * 13 * 2 == 16_978
    assert result.buffers == 49 * 49
    rows = 64 * 49
    assert result.macs == rows * 64 * 192 + rows * 64 * 64 + 2 * 64 * 49 * 49 * 64
    with pytest.raises(ShapeError, match="max_seq_len"):
        REGISTRY["RelativePositionalMultiHeadAttention"](head_dim=32, max_seq_len=49).infer([(1, 64, 50, 64)])


@pytest.mark.parametrize(("shape", "out"), [((1, 56, 56, 96), (1, 28, 28, 384)), ((2, 7, 9, 5), (2, 4, 5, 20))])
def test_patch_merging_pad_equals_torchvisions(shape: tuple[int, ...], out: tuple[int, ...]) -> None:
    # ceil(H/2) x ceil(W/2), 4C: 7x9x5 -> 4x5x20
    assert REGISTRY["PatchMergingPad"]().infer([shape]).shapes == [out]
    torch = pytest.importorskip("torch")
    swin = pytest.importorskip("torchvision.models.swin_transformer")
    from cnnshape.bridge import runtime

    x = torch.randn(shape)
    assert tuple(swin._patch_merging_pad(x).shape) == out
    assert torch.equal(runtime.PatchMergingPad()(x), swin._patch_merging_pad(x))
