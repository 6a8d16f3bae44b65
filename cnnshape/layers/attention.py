"""Attention: MultiheadAttention and TransformerEncoderLayer, with PyTorch's arguments.

MACs follow torchvision: the q/k/v and output projections (linear weights) plus the two
attention matmuls, q @ k^T and weights @ v (L * S * E each per batch element).
"""

from __future__ import annotations

from math import prod
from typing import Any, ClassVar, Literal, Optional

from cnnshape.errors import ShapeError
from cnnshape.layers.base import (
    RF,
    Bool,
    Float,
    Layer,
    NonNegInt,
    Op,
    PosInt,
    Result,
    Shape,
    check_rank,
    fmt_shape,
    merge_rfs,
)
from cnnshape.layers.torchside import Inferred, TorchSide, attention_macs


def _attention_numbers(
    embed: int,
    heads: int,
    tokens: int,
    batch: int,
    bias: bool,
    kdim: int,
    vdim: int,
    add_bias_kv: bool,
    source_tokens: int,
    add_zero_attn: bool = False,
) -> tuple[int, int, list[str]]:
    """Parameters, MACs and working of nn.MultiheadAttention.

    bias_k/bias_v and the zero-attention position are appended after the projections, so
    they lengthen the attended sequence (S' = S + 1 each) without adding projection work.
    """
    if embed % heads:
        raise ShapeError(f"embed_dim {embed} is not divisible by num_heads={heads}")
    proj_in = embed * embed + embed * kdim + embed * vdim
    params = proj_in + (3 * embed if bias else 0) + embed * embed + (embed if bias else 0)
    params += 2 * embed if add_bias_kv else 0
    attended = source_tokens + int(add_bias_kv) + int(add_zero_attn)
    macs_proj = batch * (tokens * embed * embed + source_tokens * embed * (kdim + vdim) + tokens * embed * embed)
    macs_attn = 2 * batch * tokens * attended * embed
    working = [
        f"params: in_proj {embed}*({embed}+{kdim}+{vdim})"
        + (f" + {3 * embed}" if bias else "")
        + f", out_proj {embed}*{embed}"
        + (f" + {embed}" if bias else "")
        + (f", bias_k + bias_v 2*{embed}" if add_bias_kv else "")
        + f" = {params:,}",
        f"MACs: projections {macs_proj:,} + attention 2*N*L*S'*E = 2*{batch}*{tokens}*{attended}*{embed}"
        f" = {macs_attn:,}; total {macs_proj + macs_attn:,}",
    ]
    return params, macs_proj + macs_attn, working


def _attention_ops(
    query: Shape,
    key: Shape,
    value: Shape,
    embed: int,
    heads: int,
    batch_first: bool,
    bias: bool,
    add_bias_kv: bool = False,
    add_zero_attn: bool = False,
    self_attention: bool = False,
    saves_own_input: bool = False,
) -> list[Op]:
    """nn.MultiheadAttention's operations: the input projections, the two attention
    matmuls (q @ k^T, weights @ v) with the softmax between them, the output projection.

    Saved for backward in training (measured with saved_tensors_hooks, tests/test_memory_torch.py):
    the projections their inputs (`saves_own_input`: the input is a tensor made inside the
    layer, as TransformerEncoderLayer's pre-norm, so it is counted here rather than as the
    row's input); the fused attention kernel q, k, v, its output (which the output projection
    reads as a view) and a float32 log-sum-exp per head and query. Self-attention projects q,
    k and v in one matmul whose storage q, k and v all view; bias_k/bias_v or the zero
    position are concatenated onto k and v, which makes them new tensors, while q still keeps
    the whole packed storage alive."""
    batch, tokens, _ = _sequence("MultiheadAttention", query, batch_first)
    _, source, kdim = _sequence("MultiheadAttention", key, batch_first)
    vdim = value[-1]
    attended = source + int(add_bias_kv) + int(add_zero_attn)
    packed = kdim == embed and vdim == embed
    in_params: tuple[tuple[str, int], ...] = (
        (("in_proj_weight", 3 * embed * embed),)
        if packed
        else (("q_proj_weight", embed * embed), ("k_proj_weight", embed * kdim), ("v_proj_weight", embed * vdim))
    )
    in_params += (("in_proj_bias", 3 * embed),) if bias else ()
    in_params += (("bias_k", embed), ("bias_v", embed)) if add_bias_kv else ()
    sizes = (
        ("batch", batch),
        ("tokens", tokens),
        ("source", source),
        ("attended", attended),
        ("embed", embed),
        ("kdim", kdim),
        ("vdim", vdim),
        ("heads", heads),
    )
    out_params = (("out_proj.weight", embed * embed),) + ((("out_proj.bias", embed),) if bias else ())
    # The storage q views: the packed q/k/v projection when k and v were re-made after it.
    q_storage = 3 * tokens if self_attention and attended != source else tokens
    return [
        Op(
            "attention_in_proj",
            "linear",
            (query, key, value),
            query,
            macs=batch * (tokens * embed * embed + source * embed * (kdim + vdim)),
            bias=bias,
            params=in_params,
            attrs=sizes,
            saves=() if saves_own_input else ("inputs",),
            saved_extra=(("half", prod(query)),) if saves_own_input else (),
        ),
        # The fused kernel (CPU flash attention; CUDA flash or memory-efficient attention)
        # keeps q, k, v, its output and the log-sum-exp; PyTorch's math path (CPU with
        # attention dropout) keeps other tensors (docs/memory.md).
        Op(
            "attention_matmul",
            "matmul",
            (query, key, value),
            query,
            macs=2 * batch * tokens * attended * embed,
            window=attended,
            attrs=sizes,
            saved_extra=(
                ("half", batch * embed * (q_storage + 2 * attended + tokens)),
                ("float32", batch * heads * tokens),
            ),
        ),
        Op(
            "attention_out_proj",
            "linear",
            (query,),
            query,
            macs=batch * tokens * embed * embed,
            weight=(embed, embed),
            bias=bias,
            params=out_params,
            attrs=sizes,
        ),
    ]


def _sequence(kind: str, shape: Shape, batch_first: bool) -> tuple[int, int, int]:
    """(batch, tokens, features) of a (L, N, E) or, with batch_first, (N, L, E) input."""
    check_rank(kind, shape, (3,), "(N, L, E) with batch_first: true, else (L, N, E)")
    if batch_first:
        return shape[0], shape[1], shape[2]
    return shape[1], shape[0], shape[2]


class MultiheadAttention(Layer):
    """nn.MultiheadAttention: self-attention on one input, or `from: [query, key, value]`.

    Returns the attention output only (as with need_weights=False). PyTorch's default
    layout is (L, N, E); set `batch_first: true` for (N, L, E). `embed_dim` is inferred.

    ```yaml
    - MultiheadAttention: {num_heads: 12, batch_first: true}
    ```
    """

    pytorch = TorchSide(
        "nn.MultiheadAttention", ("embed_dim", "num_heads"), (Inferred("embed_dim", -1),), call="query_key_value"
    )
    torch_macs = staticmethod(attention_macs)

    @classmethod
    def from_torch_module(cls, module: Any, in_shape: Optional[Shape]) -> dict[str, Any]:
        values = {
            "num_heads": module.num_heads,
            "dropout": float(module.dropout),
            "bias": module.in_proj_bias is not None,
            "add_bias_kv": module.bias_k is not None,
            "add_zero_attn": module.add_zero_attn,
            "batch_first": module.batch_first,
        }
        if module.kdim != module.embed_dim:
            values["kdim"] = module.kdim
        if module.vdim != module.embed_dim:
            values["vdim"] = module.vdim
        return {key: value for key, value in values.items() if not cls.is_default(key, value)}

    family = "attention"
    min_inputs = 1
    max_inputs = 3

    num_heads: PosInt
    dropout: Float = 0.0
    bias: Bool = True
    add_bias_kv: Bool = False
    add_zero_attn: Bool = False
    kdim: Optional[PosInt] = None
    vdim: Optional[PosInt] = None
    batch_first: Bool = False
    embed_dim: Optional[PosInt] = None

    def infer(self, shapes: list[Shape]) -> Result:
        if len(shapes) == 2:
            raise ShapeError("give one input (self-attention) or three: from: [query, key, value]")
        query = shapes[0]
        key = shapes[1] if len(shapes) == 3 else query
        value = shapes[2] if len(shapes) == 3 else query
        batch, tokens, embed = _sequence(self.kind(), query, self.batch_first)
        if self.embed_dim is not None and self.embed_dim != embed:
            raise ShapeError(f"embed_dim={self.embed_dim} but the query {fmt_shape(query)} has {embed} features")
        k_batch, source, k_features = _sequence(self.kind(), key, self.batch_first)
        _, v_source, v_features = _sequence(self.kind(), value, self.batch_first)
        kdim, vdim = self.kdim or embed, self.vdim or embed
        if (k_features, v_features) != (kdim, vdim) or k_batch != batch or v_source != source:
            raise ShapeError(
                f"key {fmt_shape(key)} and value {fmt_shape(value)} do not fit query {fmt_shape(query)} (kdim={kdim}, vdim={vdim})"
            )
        params, macs, working = _attention_numbers(
            embed,
            self.num_heads,
            tokens,
            batch,
            self.bias,
            kdim,
            vdim,
            self.add_bias_kv,
            source,
            self.add_zero_attn,
        )
        return Result([query], params=params, macs=macs, working=working)

    def ops(self, shapes: list[Shape], out: list[Shape]) -> list[Op]:
        query = shapes[0]
        key, value = (shapes[1], shapes[2]) if len(shapes) == 3 else (query, query)
        return _attention_ops(
            query,
            key,
            value,
            query[-1],
            self.num_heads,
            self.batch_first,
            self.bias,
            self.add_bias_kv,
            self.add_zero_attn,
            self_attention=len(shapes) == 1,
        )

    def receptive_field(self, rfs: list[RF], shapes: list[Shape], out: list[Shape]) -> list[RF]:
        return [rfs[0].globalised()]


class TransformerEncoderLayer(Layer):
    """nn.TransformerEncoderLayer: self-attention then a feed-forward block, each with a
    residual connection and LayerNorm (post-norm unless `norm_first: true`).

    ```yaml
    - TransformerEncoderLayer: {d_model: 512, nhead: 8, batch_first: true}
    ```
    """

    # Its MACs are its submodules' (self_attn, linear1, linear2), counted by their rules.
    pytorch = TorchSide("nn.TransformerEncoderLayer", ("d_model", "nhead"))

    @classmethod
    def from_torch_module(cls, module: Any, in_shape: Optional[Shape]) -> dict[str, Any]:
        attention = module.self_attn
        values = {
            "d_model": attention.embed_dim,
            "nhead": attention.num_heads,
            "dim_feedforward": module.linear1.out_features,
            "dropout": module.dropout.p,
            "activation": "gelu" if getattr(module, "activation_relu_or_gelu", 1) == 2 else "relu",
            "layer_norm_eps": module.norm1.eps,
            "batch_first": attention.batch_first,
            "norm_first": module.norm_first,
            "bias": module.linear1.bias is not None,
        }
        return {key: value for key, value in values.items() if not cls.is_default(key, value)}

    family = "attention"

    d_model: PosInt
    nhead: PosInt
    dim_feedforward: PosInt = 2048
    dropout: Float = 0.1
    activation: Literal["relu", "gelu"] = "relu"
    layer_norm_eps: Float = 1e-5
    batch_first: Bool = False
    norm_first: Bool = False
    bias: Bool = True

    def infer(self, shapes: list[Shape]) -> Result:
        (shape,) = shapes
        batch, tokens, features = _sequence(self.kind(), shape, self.batch_first)
        if features != self.d_model:
            raise ShapeError(f"d_model={self.d_model} but the input {fmt_shape(shape)} has {features} features")
        d, ff = self.d_model, self.dim_feedforward
        attn_params, attn_macs, working = _attention_numbers(
            d, self.nhead, tokens, batch, self.bias, d, d, False, tokens
        )
        bias = int(self.bias)
        mlp_params = d * ff + ff * bias + ff * d + d * bias
        norm_params = 2 * d * (1 + bias)
        params = attn_params + mlp_params + norm_params
        macs = attn_macs + 2 * batch * tokens * d * ff
        working.append(
            f"feed-forward: {d}*{ff} + {ff}*{d} (+ biases) = {mlp_params:,} params; norms 2*{1 + bias}*{d} = {norm_params:,}"
        )
        working.append(f"total params {params:,}, MACs {macs:,}")
        return Result([shape], params=params, macs=macs, working=working)

    def ops(self, shapes: list[Shape], out: list[Shape]) -> list[Op]:
        """Attention, feed-forward (linear1, activation, linear2), dropouts, two residual adds
        and two norms, with what each keeps for backward in training (PyTorch's own
        sa_block/ff_block order; the layer's input is the row's, every other tensor is
        made inside the layer and counted in `saved_extra`)."""
        (shape,) = shapes
        d, ff = self.d_model, self.dim_feedforward
        hidden = shape[:-1] + (ff,)
        size, hidden_size, stats = prod(shape), prod(hidden), 2 * prod(shape[:-1])
        norm_params = (("weight", d),) + ((("bias", d),) if self.bias else ())
        dropout = self.dropout > 0

        def norm(saves_input: bool) -> Op:
            # native_layer_norm keeps its input and a float32 mean and rstd per token
            return Op(
                "layer_norm",
                "norm",
                (shape,),
                shape,
                bias=self.bias,
                affine=True,
                params=norm_params,
                saves=("input",) if saves_input else (),
                saved_extra=(("float32", stats),) if saves_input else (("act", size), ("float32", stats)),
            )

        def drop(dims: Shape) -> Op:
            return Op("dropout", "other", (dims,), dims, saved_extra=(("bool", prod(dims)),) if dropout else ())

        # ReLU keeps its output, which linear2 reads when no dropout comes between them;
        # GELU keeps its input (linear1's output).
        kept_by_activation = 0 if self.activation == "relu" and not dropout else hidden_size
        feed_forward = [
            Op(
                "linear",
                "linear",
                (shape,),
                hidden,
                macs=prod(hidden) * d,
                weight=(ff, d),
                bias=self.bias,
                params=(("weight", ff * d),) + ((("bias", ff),) if self.bias else ()),
                saved_extra=(("half", size),),
            ),
            # mode "function": called through the F.relu/F.gelu the layer stored when it was
            # built, so tools that patch torch.nn.functional later (deepspeed) do not see it
            Op(self.activation, "activation", (hidden,), hidden, mode="function", saved_extra=(("half", hidden_size),)),
            drop(hidden),
            Op(
                "linear",
                "linear",
                (hidden,),
                shape,
                macs=prod(shape) * ff,
                weight=(d, ff),
                bias=self.bias,
                params=(("weight", ff * d),) + ((("bias", d),) if self.bias else ()),
                saved_extra=(("half", kept_by_activation),) if kept_by_activation else (),
            ),
            drop(shape),
            Op("add", "elementwise", (shape, shape), shape),
        ]
        attention = _attention_ops(
            shape,
            shape,
            shape,
            d,
            self.nhead,
            self.batch_first,
            self.bias,
            self_attention=True,
            saves_own_input=self.norm_first,
        )
        attention += [drop(shape), Op("add", "elementwise", (shape, shape), shape)]
        if self.norm_first:  # x + sa(norm1(x)); then + ff(norm2(.))
            return [norm(saves_input=True), *attention, norm(saves_input=False), *feed_forward]
        # norm1(x + sa(x)); then norm2(. + ff(.))
        return [*attention, norm(saves_input=False), *feed_forward, norm(saves_input=False)]

    def receptive_field(self, rfs: list[RF], shapes: list[Shape], out: list[Shape]) -> list[RF]:
        return [rfs[0].globalised()]


def sdpa_macs(module: Any, inputs: list[Shape], output: Shape) -> int:
    """F.scaled_dot_product_attention's two products: q @ k^T (L x S x E per batch and
    head) and weights @ v (L x S x Ev)."""
    return prod(output[:-1]) * inputs[1][-2] * (inputs[0][-1] + output[-1])


class ScaledDotProductAttention(Layer):
    """F.scaled_dot_product_attention(query, key, value): softmax(q k^T * scale) v.

    The attention core timm's and other transformers call after their own q/k/v projections.
    Inputs (..., L, E), (..., S, E), (..., S, Ev) -> (..., L, Ev); no weights. MACs: the
    two products, L x S x (E + Ev) per batch and head. An attention mask is not modelled.

    ```yaml
    - ScaledDotProductAttention: {from: [q, k, v]}   # (1, 3, 197, 64) each -> (1, 3, 197, 64)
    ```
    """

    pytorch = TorchSide(
        "runtime.ScaledDotProductAttention",
        tensors="qkv",
        functions={
            "F.scaled_dot_product_attention": (
                ("attn_mask", None),
                ("dropout_p", 0.0),
                ("is_causal", False),
                ("scale", None),
                ("enable_gqa", False),
            )
        },
    )
    torch_macs = staticmethod(sdpa_macs)

    @classmethod
    def from_torch_call(
        cls, target: str, bound: dict[str, Any], in_shape: Shape, out_shapes: list[Shape]
    ) -> Optional[dict[str, Any]]:
        if "*" in bound or bound.get("attn_mask") is not None or bound.get("enable_gqa"):
            return None
        return super().from_torch_call(target, bound, in_shape, out_shapes)

    family = "attention"
    min_inputs = 3
    max_inputs = 3

    dropout_p: Float = 0.0
    is_causal: Bool = False
    scale: Optional[Float] = None

    def infer(self, shapes: list[Shape]) -> Result:
        query, key, value = shapes
        if min(len(query), len(key), len(value)) < 2:
            raise ShapeError("query, key and value need at least 2 dims each: (..., L, E), (..., S, E), (..., S, Ev)")
        if query[-1] != key[-1] or key[-2] != value[-2]:
            raise ShapeError(
                f"query {fmt_shape(query)}, key {fmt_shape(key)} and value {fmt_shape(value)} do not fit: "
                "query and key need the same last dim (E), key and value the same length (S)"
            )
        from cnnshape.layers.merge import broadcast

        batch = broadcast(self.kind(), [query[:-2], key[:-2], value[:-2]])
        out = (*batch, query[-2], value[-1])
        tokens, source = query[-2], key[-2]
        macs = prod(out[:-1]) * source * (query[-1] + value[-1])
        return Result(
            [out],
            macs=macs,
            working=[
                f"q @ k^T: {prod(out[:-1]):,} rows x {source} keys x {query[-1]}; weights @ v: x {value[-1]}",
                f"MACs: {prod(batch)} x {tokens} x {source} x ({query[-1]} + {value[-1]}) = {macs:,}",
            ],
        )

    def ops(self, shapes: list[Shape], out: list[Shape]) -> list[Op]:
        query, key, _ = shapes
        result = out[0]
        sizes = (
            ("batch", prod(result[:-3])),
            ("heads", result[-3] if len(result) >= 3 else 1),
            ("tokens", query[-2]),
            ("source", key[-2]),
            ("attended", key[-2]),
            ("embed", query[-1]),
        )
        macs = prod(result[:-1]) * key[-2] * (query[-1] + result[-1])
        return [Op("attention_matmul", "matmul", tuple(shapes), result, macs=macs, attrs=sizes, saves=("inputs",))]

    def receptive_field(self, rfs: list[RF], shapes: list[Shape], out: list[Shape]) -> list[RF]:
        return [merge_rfs(rfs).globalised()]


def _windows(shape: Shape, window: tuple[int, ...]) -> tuple[int, int, int]:
    """(padded tokens, tokens per window, windows) of a (B, H, W, C) map cut into windows,
    H and W padded up to multiples of the window, as torchvision's Swin pads them."""
    batch, height, width, _ = shape
    padded_h, padded_w = -(-height // window[0]) * window[0], -(-width // window[1]) * window[1]
    per_window = window[0] * window[1]
    return batch * padded_h * padded_w, per_window, (padded_h // window[0]) * (padded_w // window[1])


def _window_ops(
    rows: int, channels: int, windows: int, heads: int, per_window: int, qkv_bias: bool, proj_bias: bool
) -> list[Op]:
    """The operations of an attention within windows (Swin's, MaxViT's): the q/k/v linear on
    every row, the two products inside each of `windows` windows of `per_window`, the output
    linear."""
    sizes = (
        ("batch", windows),
        ("heads", heads),
        ("tokens", per_window),
        ("source", per_window),
        ("attended", per_window),
        ("embed", channels),
    )
    flat = (rows, channels)
    return [
        Op(
            "linear",
            "linear",
            (flat,),
            (rows, 3 * channels),
            macs=rows * channels * 3 * channels,
            weight=(3 * channels, channels),
            bias=qkv_bias,
        ),
        Op("attention_matmul", "matmul", (flat,), flat, macs=2 * rows * per_window * channels, attrs=sizes),
        Op(
            "linear",
            "linear",
            (flat,),
            flat,
            macs=rows * channels * channels,
            weight=(channels, channels),
            bias=proj_bias,
        ),
    ]


def window_attention_macs(module: Any, inputs: list[Shape], output: Shape) -> int:
    """torchvision's ShiftedWindowAttention: the q/k/v and output projections on the padded
    map, and q @ k^T and weights @ v inside each window."""
    tokens, per_window, _ = _windows(inputs[0], tuple(module.window_size))
    channels = inputs[0][-1]
    return tokens * channels * 3 * channels + 2 * tokens * per_window * channels + tokens * channels * channels


class ShiftedWindowAttention(Layer):
    """Swin's (shifted) window attention, torchvision's ShiftedWindowAttention: (B, H, W, C)
    -> (B, H, W, C).

    The map (padded to whole windows) is cut into `window_size` windows, rolled by
    `shift_size` first when the window is smaller than the map; each window attends within
    itself with `num_heads` heads, plus a relative position bias gathered from a learned
    table of (2*Wh - 1) * (2*Ww - 1) rows per head by a fixed index buffer of (Wh*Ww)^2
    entries. Parameters: qkv (C -> 3C) and proj (C -> C) linears and the table. MACs: the
    two projections on every padded position and the two products inside each window.

    ```yaml
    - ShiftedWindowAttention: {window_size: [7, 7], shift_size: [3, 3], num_heads: 4}
    ```
    """

    pytorch = TorchSide(
        "runtime.ShiftedWindowAttention",
        ("dim", "window_size", "shift_size", "num_heads"),
        (Inferred("dim", -1, always=True),),
        modules=("torchvision.models.swin_transformer.ShiftedWindowAttention",),
    )
    torch_macs = staticmethod(window_attention_macs)

    @classmethod
    def from_torch_module(cls, module: Any, in_shape: Optional[Shape]) -> dict[str, Any]:
        values = {
            "window_size": [int(v) for v in module.window_size],
            "shift_size": [int(v) for v in module.shift_size],
            "num_heads": int(module.num_heads),
            "qkv_bias": module.qkv.bias is not None,
            "proj_bias": module.proj.bias is not None,
            "attention_dropout": float(module.attention_dropout),
            "dropout": float(module.dropout),
        }
        return {key: value for key, value in values.items() if not cls.is_default(key, value)}

    family = "attention"

    window_size: tuple[PosInt, PosInt]
    shift_size: tuple[NonNegInt, NonNegInt]
    num_heads: PosInt
    qkv_bias: Bool = True
    proj_bias: Bool = True
    attention_dropout: Float = 0.0
    dropout: Float = 0.0
    dim: Optional[PosInt] = None

    def _numbers(self, shape: Shape) -> tuple[int, int, int, list[str]]:
        check_rank(self.kind(), shape, (4,), "(B, H, W, C)")
        channels = shape[-1]
        if self.dim is not None and self.dim != channels:
            raise ShapeError(f"dim={self.dim} but the input {fmt_shape(shape)} has {channels} channels")
        if channels % self.num_heads:
            raise ShapeError(f"{channels} channels are not divisible by num_heads={self.num_heads}")
        window = tuple(self.window_size)
        table = (2 * window[0] - 1) * (2 * window[1] - 1) * self.num_heads
        params = 3 * channels * channels + channels * channels + table
        params += 3 * channels if self.qkv_bias else 0
        params += channels if self.proj_bias else 0
        buffers = (window[0] * window[1]) ** 2
        tokens, per_window, windows = _windows(shape, window)
        macs = tokens * channels * 3 * channels + 2 * tokens * per_window * channels + tokens * channels * channels
        working = [
            f"params: qkv {channels}*{3 * channels}, proj {channels}*{channels}, biases, table "
            f"(2*{window[0]}-1)*(2*{window[1]}-1)*{self.num_heads} = {table:,}; total {params:,}",
            f"buffers: relative position index ({window[0]}*{window[1]})^2 = {buffers:,}",
            f"MACs: {windows} window(s) of {per_window}, {tokens:,} padded positions: projections "
            f"4*{channels}^2 each + attention 2*{per_window}*{channels} each = {macs:,}",
        ]
        return params, buffers, macs, working

    def infer(self, shapes: list[Shape]) -> Result:
        (shape,) = shapes
        params, buffers, macs, working = self._numbers(shape)
        return Result([shape], params=params, buffers=buffers, macs=macs, working=working)

    def ops(self, shapes: list[Shape], out: list[Shape]) -> list[Op]:
        shape = shapes[0]
        tokens, per_window, windows = _windows(shape, tuple(self.window_size))
        return _window_ops(
            tokens, shape[-1], shape[0] * windows, self.num_heads, per_window, self.qkv_bias, self.proj_bias
        )

    def receptive_field(self, rfs: list[RF], shapes: list[Shape], out: list[Shape]) -> list[RF]:
        return [rfs[0].globalised()]


class ShiftedWindowAttentionV2(ShiftedWindowAttention):
    """Swin V2's (shifted) window attention, torchvision's ShiftedWindowAttentionV2.

    As ShiftedWindowAttention, with cosine attention scaled by a learned logit per head, and
    the relative position bias made by an MLP (2 -> 512 -> num_heads) from a fixed table of
    (2*Wh - 1) * (2*Ww - 1) coordinate pairs (a buffer) instead of a learned table. Its MACs
    add that MLP's, run once per call.

    ```yaml
    - ShiftedWindowAttentionV2: {window_size: [8, 8], shift_size: [4, 4], num_heads: 4}
    ```
    """

    pytorch = TorchSide(
        "runtime.ShiftedWindowAttentionV2",
        ("dim", "window_size", "shift_size", "num_heads"),
        (Inferred("dim", -1, always=True),),
        modules=("torchvision.models.swin_transformer.ShiftedWindowAttentionV2",),
    )
    # The MLP's linears run as modules, which verify's hooks count themselves.
    torch_macs = staticmethod(window_attention_macs)

    HIDDEN: ClassVar[int] = 512  # torchvision's cpb_mlp width

    def _numbers(self, shape: Shape) -> tuple[int, int, int, list[str]]:
        params, buffers, macs, working = super()._numbers(shape)
        window = tuple(self.window_size)
        rows = (2 * window[0] - 1) * (2 * window[1] - 1)
        hidden, heads = self.HIDDEN, self.num_heads
        mlp = 2 * hidden + hidden + hidden * heads
        params += mlp + heads - rows * heads  # the MLP and the logit scale, no learned table
        buffers += rows * 2
        mlp_macs = rows * 2 * hidden + rows * hidden * heads
        working = [
            f"params: qkv, proj and biases as in V1, MLP 2*{hidden}+{hidden}+{hidden}*{heads} = {mlp:,}, "
            f"logit scale {heads}; total {params:,}",
            f"buffers: relative position index and the coordinate table {rows}*2; total {buffers:,}",
            working[-1] + f"; MLP {rows}*(2+{heads})*{hidden} = {mlp_macs:,}",
        ]
        return params, buffers, macs + mlp_macs, working

    def ops(self, shapes: list[Shape], out: list[Shape]) -> list[Op]:
        window = tuple(self.window_size)
        rows, hidden, heads = (2 * window[0] - 1) * (2 * window[1] - 1), self.HIDDEN, self.num_heads
        mlp = [
            Op("linear", "linear", ((rows, 2),), (rows, hidden), macs=rows * 2 * hidden, weight=(hidden, 2), bias=True),
            Op("relu", "activation", ((rows, hidden),), (rows, hidden)),
            Op(
                "linear", "linear", ((rows, hidden),), (rows, heads), macs=rows * hidden * heads, weight=(heads, hidden)
            ),
        ]
        return mlp + super().ops(shapes, out)


def relative_attention_products(module: Any, inputs: list[Shape], output: Shape) -> int:
    """MaxViT's attention products, q @ k^T and weights @ v: 2 x B x G x P x P x D (its
    two linears run as modules, which verify's hooks count themselves)."""
    batch, groups, positions, features = inputs[0]
    return 2 * batch * groups * positions * positions * features


class RelativePositionalMultiHeadAttention(Layer):
    """MaxViT's attention, torchvision's RelativePositionalMultiHeadAttention: (B, G, P, D)
    -> (B, G, P, D), self-attention over the P positions of each of G windows or grid cells.

    D / `head_dim` heads; a relative position bias gathered from a learned table of
    (2*sqrt(P) - 1)^2 rows per head by a fixed index buffer of P x P entries (P =
    `max_seq_len`). Parameters: to_qkv (D -> 3D) and merge (D -> D) linears with biases and
    the table. MACs: the two linears and the two products, 2 x P x P x D per window.

    ```yaml
    - RelativePositionalMultiHeadAttention: {head_dim: 32, max_seq_len: 49}
    ```
    """

    pytorch = TorchSide(
        "runtime.RelativePositionalMultiHeadAttention",
        ("feat_dim", "head_dim", "max_seq_len"),
        (Inferred("feat_dim", -1, always=True),),
        modules=("torchvision.models.maxvit.RelativePositionalMultiHeadAttention",),
    )
    torch_macs = staticmethod(relative_attention_products)

    @classmethod
    def from_torch_module(cls, module: Any, in_shape: Optional[Shape]) -> dict[str, Any]:
        return {"head_dim": int(module.head_dim), "max_seq_len": int(module.max_seq_len)}

    family = "attention"

    head_dim: PosInt
    max_seq_len: PosInt
    feat_dim: Optional[PosInt] = None

    def infer(self, shapes: list[Shape]) -> Result:
        (shape,) = shapes
        check_rank(self.kind(), shape, (4,), "(B, G, P, D)")
        batch, groups, positions, features = shape
        if self.feat_dim is not None and self.feat_dim != features:
            raise ShapeError(f"feat_dim={self.feat_dim} but the input {fmt_shape(shape)} has {features} features")
        if features % self.head_dim:
            raise ShapeError(f"{features} features are not divisible by head_dim={self.head_dim}")
        side = round(self.max_seq_len**0.5)
        if side * side != self.max_seq_len or positions != self.max_seq_len:
            raise ShapeError(
                f"max_seq_len={self.max_seq_len} must be a square and equal the input's P ({positions}) in {fmt_shape(shape)}"
            )
        heads = features // self.head_dim
        table = (2 * side - 1) ** 2 * heads
        params = 3 * features * features + 3 * features + features * features + features + table
        buffers = positions * positions
        rows = batch * groups * positions
        products = 2 * batch * groups * positions * positions * features
        macs = rows * features * 3 * features + products + rows * features * features
        return Result(
            [shape],
            params=params,
            buffers=buffers,
            macs=macs,
            working=[
                f"params: to_qkv {features}*{3 * features}+{3 * features}, merge {features}*{features}+{features}, "
                f"table (2*{side}-1)^2*{heads} = {table:,}; total {params:,}",
                f"buffers: relative position index {positions}*{positions} = {buffers:,}",
                f"MACs: linears {rows:,} rows * 4*{features}^2, products 2*{batch * groups}*{positions}^2*{features} "
                f"= {products:,}; total {macs:,}",
            ],
        )

    def ops(self, shapes: list[Shape], out: list[Shape]) -> list[Op]:
        batch, groups, positions, features = shapes[0]
        rows = batch * groups * positions
        return _window_ops(rows, features, batch * groups, features // self.head_dim, positions, True, True)

    def receptive_field(self, rfs: list[RF], shapes: list[Shape], out: list[Shape]) -> list[RF]:
        return [rfs[0].globalised()]


KINDS = [
    MultiheadAttention,
    TransformerEncoderLayer,
    ScaledDotProductAttention,
    ShiftedWindowAttention,
    ShiftedWindowAttentionV2,
    RelativePositionalMultiHeadAttention,
]
