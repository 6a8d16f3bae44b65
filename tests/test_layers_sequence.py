"""Attention, learned tensors, multi-output splits and StochasticDepth: hand calculations
from PyTorch's definitions (nn.MultiheadAttention, nn.TransformerEncoderLayer,
torch.chunk/split, torchvision ViT and ConvNeXt) and torchvision's MAC convention."""

from __future__ import annotations

import pytest
from conftest import infer as run
from pydantic import ValidationError

from cnnshape.errors import ShapeError
from cnnshape.layers import REGISTRY
from cnnshape.layers.base import RF

FORMULA_KINDS = {
    "MultiheadAttention",
    "TransformerEncoderLayer",
    "ClassToken",
    "PositionEmbedding",
    "LayerScale",
    "Chunk",
    "Split",
    "ChannelShuffle",
    "Select",
    "StochasticDepth",
}


# nn.MultiheadAttention parameters: in_proj E*(E + kdim + vdim) + 3E bias, out_proj E*E + E,
# bias_k/bias_v 2E. MACs: q/k/v/out projections per token, plus q@k^T and attn@v, L*S*E each.
MHA_CASES = [
    # ViT-B/16 encoder: 197 tokens of 768, 12 heads
    pytest.param(
        {"num_heads": 12, "batch_first": True},
        (1, 197, 768),
        4 * 768 * 768 + 4 * 768,  # = 2,362,368
        197 * 768 * 768 * 4 + 2 * 197 * 197 * 768,
        id="vit-b16",
    ),  # = 464,781,312 + 59,609,088
    # PyTorch's default layout (L, N, E): 10 tokens, batch 2
    pytest.param(
        {"num_heads": 4},
        (10, 2, 64),
        4 * 64 * 64 + 4 * 64,
        2 * (10 * 64 * 64 * 4) + 2 * 2 * 10 * 10 * 64,
        id="seq-first",
    ),
    pytest.param(
        {"num_heads": 4, "bias": False, "batch_first": True},
        (1, 5, 64),
        4 * 64 * 64,
        5 * 64 * 64 * 4 + 2 * 5 * 5 * 64,
        id="no-bias",
    ),
    # bias_k/bias_v are appended after the projections: the attention sees S + 1 positions
    pytest.param(
        {"num_heads": 4, "add_bias_kv": True, "batch_first": True},
        (1, 5, 64),
        4 * 64 * 64 + 4 * 64 + 2 * 64,
        5 * 64 * 64 * 4 + 2 * 5 * 6 * 64,
        id="bias-kv",
    ),
    # add_zero_attn appends a zero position, also after the projections (torch FlopCounter
    # on (7, 2, 16), 4 heads: 4*N*L*E^2 = 14,336 plus 2*N*L*S'*E = 2*2*7*8*16 = 3,584)
    pytest.param(
        {"num_heads": 4, "add_zero_attn": True},
        (7, 2, 16),
        4 * 16 * 16 + 4 * 16,
        4 * 2 * 7 * 16 * 16 + 2 * 2 * 7 * 8 * 16,
        id="zero-attn",
    ),
    pytest.param(
        {"num_heads": 4, "add_zero_attn": True, "add_bias_kv": True, "bias": False},
        (7, 2, 16),
        4 * 16 * 16 + 2 * 16,
        4 * 2 * 7 * 16 * 16 + 2 * 2 * 7 * 9 * 16,
        id="zero-attn-and-bias-kv",
    ),
]


@pytest.mark.parametrize("args, shape, params, macs", MHA_CASES)
def test_multihead_attention(args, shape, params, macs):
    result = run("MultiheadAttention", args, shape)
    assert result.shapes == [shape]
    assert (result.params, result.macs) == (params, macs)


def test_multihead_attention_with_separate_key_and_value():
    # q (1, 5, 64); k (1, 7, 32); v (1, 7, 16): q_proj 64*64, k_proj 64*32, v_proj 64*16, bias 3*64,
    # out_proj 64*64 + 64 = 11,520 (torch agrees). MACs: 5*64*64 + 7*64*32 + 7*64*16 + 5*64*64,
    # plus q@k^T and attn@v: 2 * 5*7*64.
    result = run(
        "MultiheadAttention",
        {"num_heads": 4, "kdim": 32, "vdim": 16, "batch_first": True},
        (1, 5, 64),
        (1, 7, 32),
        (1, 7, 16),
    )
    assert result.shapes == [(1, 5, 64)]
    assert result.params == 64 * 64 + 64 * 32 + 64 * 16 + 3 * 64 + 64 * 64 + 64 == 11520
    assert result.macs == 5 * 64 * 64 + 7 * 64 * 32 + 7 * 64 * 16 + 5 * 64 * 64 + 2 * 5 * 7 * 64


@pytest.mark.parametrize(
    "args, shapes, message",
    [
        ({"num_heads": 5, "batch_first": True}, [(1, 4, 64)], "divisible"),
        ({"num_heads": 4, "batch_first": True}, [(1, 64)], "3-D"),
        ({"num_heads": 4, "embed_dim": 32, "batch_first": True}, [(1, 4, 64)], "embed_dim"),
        ({"num_heads": 4, "batch_first": True}, [(1, 4, 64), (1, 4, 64)], "three"),
        ({"num_heads": 4, "batch_first": True}, [(1, 4, 64), (1, 6, 64), (1, 5, 64)], "do not fit"),
    ],
)
def test_multihead_attention_errors(args, shapes, message):
    with pytest.raises(ShapeError, match=message):
        run("MultiheadAttention", args, *shapes)


def test_transformer_encoder_layer():
    # nn.TransformerEncoderLayer(512, 8): attention 4*512*512 + 4*512, linear1 512*2048 + 2048,
    # linear2 2048*512 + 512, two LayerNorms 2*(512 + 512): 3,152,384 (torch agrees).
    result = run("TransformerEncoderLayer", {"d_model": 512, "nhead": 8}, (10, 2, 512))
    assert result.shapes == [(10, 2, 512)]
    assert (
        result.params == (4 * 512 * 512 + 4 * 512) + (512 * 2048 + 2048) + (2048 * 512 + 512) + 2 * 2 * 512 == 3152384
    )
    # (L, N, E) = (10, 2, 512): projections N*L*E*E*4, attention 2*N*L*L*E, feed-forward 2*N*L*E*ff
    assert result.macs == 2 * 10 * 512 * 512 * 4 + 2 * 2 * 10 * 10 * 512 + 2 * 2 * 10 * 512 * 2048


def test_transformer_encoder_layer_checks_d_model():
    with pytest.raises(ShapeError, match="d_model"):
        run("TransformerEncoderLayer", {"d_model": 256, "nhead": 8, "batch_first": True}, (1, 10, 512))


def test_attention_sees_everything():
    layer = REGISTRY["MultiheadAttention"].model_validate({"num_heads": 2, "batch_first": True})
    assert layer.receptive_field([RF.for_input((1, 4, 8))], [(1, 4, 8)], [(1, 4, 8)])[0].kind == "global"


@pytest.mark.parametrize(
    "kind, args, shape, out, params",
    [
        # torchvision ViT: class_token (1, 1, 768) concatenated on dim 1: 196 patches -> 197 tokens
        ("ClassToken", {}, (1, 196, 768), (1, 197, 768), 768),
        # pos_embedding (1, 197, 768) added: 197*768 = 151,296
        ("PositionEmbedding", {}, (1, 197, 768), (1, 197, 768), 197 * 768),
        # ConvNeXt layer_scale (C, 1, 1) on NCHW: 96 scales
        ("LayerScale", {"init_value": 1e-6}, (1, 96, 56, 56), (1, 96, 56, 56), 96),
        # channels-last (N, H, W, C) with dim -1
        ("LayerScale", {"dim": -1}, (1, 56, 56, 96), (1, 56, 56, 96), 96),
        ("StochasticDepth", {"p": 0.1, "mode": "row"}, (1, 96, 56, 56), (1, 96, 56, 56), 0),
    ],
)
def test_learned_tensors(kind, args, shape, out, params):
    result = run(kind, args, shape)
    assert result.shapes == [out]
    assert (result.params, result.macs) == (params, 0)


def test_stochastic_depth_needs_p_and_mode_like_torchvision():
    with pytest.raises(ValidationError):
        REGISTRY["StochasticDepth"].model_validate({"p": 0.1})
    with pytest.raises(ValidationError):
        REGISTRY["StochasticDepth"].model_validate({"p": 1.5, "mode": "row"})


@pytest.mark.parametrize(
    "args, shape, outs",
    [
        # torch.chunk: pieces of ceil(116 / 2) = 58
        ({"chunks": 2}, (1, 116, 28, 28), [(1, 58, 28, 28)] * 2),
        # ceil(10 / 3) = 4: 4 + 4 + 2
        ({"chunks": 3}, (1, 10, 2), [(1, 4, 2), (1, 4, 2), (1, 2, 2)]),
        ({"chunks": 2, "dim": -1}, (1, 3, 8), [(1, 3, 4), (1, 3, 4)]),
    ],
)
def test_chunk(args, shape, outs):
    layer = REGISTRY["Chunk"].model_validate(args)
    assert layer.num_outputs() == len(outs)
    assert layer.infer([shape]).shapes == outs


def test_chunk_that_would_return_fewer_pieces_is_an_error():
    # torch.chunk(5 elements, 4): ceil(5/4) = 2 -> pieces 2, 2, 1: only 3, not 4
    with pytest.raises(ShapeError, match="fewer"):
        run("Chunk", {"chunks": 4}, (1, 5, 2))


def test_split_sections():
    result = run("Split", {"split_size_or_sections": [64, 64, 128]}, (1, 256, 7, 7))
    assert result.shapes == [(1, 64, 7, 7), (1, 64, 7, 7), (1, 128, 7, 7)]
    with pytest.raises(ShapeError, match="add up"):
        run("Split", {"split_size_or_sections": [64, 64]}, (1, 256, 7, 7))


def test_channel_shuffle_and_select():
    assert run("ChannelShuffle", {"groups": 2}, (1, 116, 28, 28)).shapes == [(1, 116, 28, 28)]
    with pytest.raises(ShapeError, match="divisible"):
        run("ChannelShuffle", {"groups": 3}, (1, 116, 28, 28))
    # ViT head: x[:, 0] of (1, 197, 768) -> (1, 768)
    assert run("Select", {"dim": 1, "index": 0}, (1, 197, 768)).shapes == [(1, 768)]
    with pytest.raises(ShapeError, match="out of range"):
        run("Select", {"dim": 1, "index": 197}, (1, 197, 768))
