"""The modules and functions cnnshape ships for kinds without a torch.nn class, as real,
tested Python. `cnnshape export` copies the ones a spec uses into the exported file from
this module's source (so the file runs without cnnshape installed); import maps these
classes back onto their kinds.

Everything here may use only `torch`, `nn` and `math`: the names an exported file imports.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal, Optional

import torch
from torch import nn

from cnnshape.bridge.codegen import RUNTIME_NAMES

# The helpers an exported file may copy: one list, kept in codegen (which imports no torch).
__all__ = list(RUNTIME_NAMES)


class _Operand(nn.Module):
    """The operands of cnnshape's Add, Mul, Sub and Div: the inputs, then the layer's own
    `scalar` or tensor of `tensor_shape` (a learned parameter, or a buffer if `constant`);
    with `reverse`, the layer's own operand first (`1 - x`)."""

    def __init__(
        self,
        scalar: Optional[float] = None,
        tensor_shape: Optional[Sequence[int]] = None,
        constant: bool = False,
        reverse: bool = False,
    ) -> None:
        super().__init__()
        self.scalar, self.constant, self.reverse = scalar, constant, reverse
        self.tensor_shape = None if tensor_shape is None else list(tensor_shape)
        if tensor_shape is not None and constant:
            self.register_buffer("tensor", torch.zeros(tuple(tensor_shape)))
        else:
            self.register_parameter(
                "tensor", None if tensor_shape is None else nn.Parameter(torch.zeros(tuple(tensor_shape)))
            )

    def operands(self, tensors: Sequence[torch.Tensor]) -> list[Any]:
        own = self.scalar if self.scalar is not None else self.tensor
        if own is None:
            return [*tensors]
        return [own, *tensors] if self.reverse else [*tensors, own]


class Add(_Operand):
    """cnnshape's Add: the elementwise sum of the inputs (broadcasting), e.g. a residual join."""

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        first, *rest = self.operands(tensors)
        for operand in rest:
            first = first + operand
        return first


class Mul(_Operand):
    """cnnshape's Mul: the elementwise product of the inputs (broadcasting), e.g. an SE gate."""

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        first, *rest = self.operands(tensors)
        for operand in rest:
            first = first * operand
        return first


class Sub(_Operand):
    """cnnshape's Sub: the first operand minus the second (broadcasting)."""

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        a, b = self.operands(tensors)
        return a - b


class Div(_Operand):
    """cnnshape's Div: the first operand over the second (true division, broadcasting)."""

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        a, b = self.operands(tensors)
        return a / b


class Maximum(nn.Module):
    """cnnshape's Maximum: torch.maximum of two tensors (broadcasting)."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.maximum(a, b)


class Minimum(nn.Module):
    """cnnshape's Minimum: torch.minimum of two tensors (broadcasting)."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.minimum(a, b)


class Abs(nn.Module):
    """cnnshape's Abs: torch.abs, elementwise."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.abs(x)


class Neg(nn.Module):
    """cnnshape's Neg: torch.neg, elementwise."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -x


class MatMul(nn.Module):
    """cnnshape's MatMul: torch.matmul of its two inputs (a @ b)."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.matmul(a, b)


class Pow(nn.Module):
    """cnnshape's Pow: torch.pow(x, exponent) with a number as the exponent, or
    torch.pow(base, x) with a number as the base."""

    def __init__(self, exponent: Optional[float] = None, base: Optional[float] = None) -> None:
        super().__init__()
        self.exponent, self.base = exponent, base

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.base is not None:
            return torch.pow(self.base, x)
        assert self.exponent is not None
        return torch.pow(x, self.exponent)


class Sqrt(nn.Module):
    """cnnshape's Sqrt: torch.sqrt, elementwise."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sqrt(x)


def pad_same(
    x: torch.Tensor,
    kernel_size: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
    value: float = 0.0,
    mode: str = "constant",
) -> torch.Tensor:
    """TensorFlow's SAME padding of x's last len(kernel_size) dims, for its own sizes (timm's
    pad_same): the output of the window is ceil(I / S); the total padding is
    max((ceil(I / S) - 1)*S + D*(K - 1) + 1 - I, 0), the odd one after."""
    pads: list[int] = []
    sizes = x.shape[-len(kernel_size) :]
    for size, k, s, d in zip(sizes, kernel_size, stride, dilation, strict=True):
        total = max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)
        pads = [total // 2, total - total // 2] + pads  # F.pad lists the last dim first
    if mode == "constant":
        return nn.functional.pad(x, pads, value=value)
    return nn.functional.pad(x, pads, mode=mode)


def _axes(value: Any, n: int) -> list[int]:
    """An int or an n-tuple argument as a list of n ints (PyTorch's _ntuple)."""
    return [value] * n if isinstance(value, int) else list(value)


class _ConvSame(nn.Module):
    """`padding: tf_same` on a convolution (timm's Conv2dSame): nn.ConvNd with no padding of
    its own, its input padded per call by pad_same (with `padding_mode`'s values)."""

    tf_same = True  # what import reads back as `padding: tf_same`
    kernel_size: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    padding_mode: Literal["zeros", "reflect", "replicate", "circular"]
    weight: torch.Tensor
    bias: Optional[torch.Tensor]
    _conv_forward: Callable[..., torch.Tensor]

    def __init__(self, *args: Any, padding: str = "tf_same", **kwargs: Any) -> None:
        super().__init__(*args, padding=0, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mode = "constant" if self.padding_mode == "zeros" else self.padding_mode
        padded = pad_same(x, self.kernel_size, self.stride, self.dilation, mode=mode)
        return self._conv_forward(padded, self.weight, self.bias)


class Conv1dSame(_ConvSame, nn.Conv1d):
    """nn.Conv1d with TensorFlow's SAME padding (cnnshape's `padding: tf_same`)."""


class Conv2dSame(_ConvSame, nn.Conv2d):
    """nn.Conv2d with TensorFlow's SAME padding (cnnshape's `padding: tf_same`)."""


class Conv3dSame(_ConvSame, nn.Conv3d):
    """nn.Conv3d with TensorFlow's SAME padding (cnnshape's `padding: tf_same`)."""


class _PoolSame(nn.Module):
    """`padding: tf_same` on max or average pooling: the pooling module with no padding of
    its own, its input padded per call by pad_same."""

    ndim = 2
    tf_same = True  # what import reads back as `padding: tf_same`
    kernel_size: Any
    stride: Any
    dilation: Any = 1

    def __init__(self, kernel_size: Any, stride: Any = None, padding: str = "tf_same", **kwargs: Any) -> None:
        super().__init__(kernel_size, stride, 0, **kwargs)

    def pad(self, x: torch.Tensor, value: float = 0.0) -> torch.Tensor:
        kernel = _axes(self.kernel_size, self.ndim)
        stride = kernel if self.stride is None else _axes(self.stride, self.ndim)
        return pad_same(x, kernel, stride, _axes(self.dilation, self.ndim), value=value)


class _MaxPoolSame(_PoolSame):
    """Max pooling (timm's MaxPool2dSame): padded with -inf, so padding never wins a window."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(self.pad(x, -float("inf")))


class MaxPool1dSame(_MaxPoolSame, nn.MaxPool1d):
    """nn.MaxPool1d with TensorFlow's SAME padding (cnnshape's `padding: tf_same`)."""

    ndim = 1


class MaxPool2dSame(_MaxPoolSame, nn.MaxPool2d):
    """nn.MaxPool2d with TensorFlow's SAME padding (cnnshape's `padding: tf_same`)."""

    ndim = 2


class MaxPool3dSame(_MaxPoolSame, nn.MaxPool3d):
    """nn.MaxPool3d with TensorFlow's SAME padding (cnnshape's `padding: tf_same`)."""

    ndim = 3


class _AvgPoolSame(_PoolSame):
    """Average pooling, padded with zeros. With `count_include_pad` (PyTorch's default, and
    what timm's AvgPool2dSame does) the zeros count in each average; without it each window
    averages only the input it covers, as TensorFlow's SAME does."""

    count_include_pad: bool
    divisor_override: Optional[int] = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = super().forward(self.pad(x))
        if self.count_include_pad or self.divisor_override:
            return pooled
        # The share of each window that covers the input: the average of padded ones.
        covered = super().forward(self.pad(torch.ones_like(x)))
        return pooled / covered


class AvgPool1dSame(_AvgPoolSame, nn.AvgPool1d):
    """nn.AvgPool1d with TensorFlow's SAME padding (cnnshape's `padding: tf_same`)."""

    ndim = 1


class AvgPool2dSame(_AvgPoolSame, nn.AvgPool2d):
    """nn.AvgPool2d with TensorFlow's SAME padding (cnnshape's `padding: tf_same`)."""

    ndim = 2


class AvgPool3dSame(_AvgPoolSame, nn.AvgPool3d):
    """nn.AvgPool3d with TensorFlow's SAME padding (cnnshape's `padding: tf_same`)."""

    ndim = 3


class Concat(nn.Module):
    """cnnshape's Concat: torch.cat along `dim` (default 1, the channels)."""

    def __init__(self, dim: int = 1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        return torch.cat(tensors, dim=self.dim)


class Chunk(nn.Module):
    """cnnshape's Chunk: torch.chunk into `chunks` pieces along `dim` (default 1)."""

    def __init__(self, chunks: int, dim: int = 1) -> None:
        super().__init__()
        self.chunks, self.dim = chunks, dim

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return torch.chunk(x, self.chunks, dim=self.dim)


class Split(nn.Module):
    """cnnshape's Split: torch.split into pieces of the given sizes along `dim` (default 1)."""

    def __init__(self, split_size_or_sections: Sequence[int], dim: int = 1) -> None:
        super().__init__()
        self.sections, self.dim = list(split_size_or_sections), dim

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return torch.split(x, self.sections, dim=self.dim)


class Select(nn.Module):
    """cnnshape's Select: x.select(dim, index), e.g. ViT's class token x[:, 0]."""

    def __init__(self, dim: int, index: int) -> None:
        super().__init__()
        self.dim, self.index = dim, index

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.select(self.dim, self.index)


class Unbind(nn.Module):
    """cnnshape's Unbind: torch.unbind along `dim`, `size` tensors (a ViT's q, k, v)."""

    def __init__(self, size: int, dim: int = 0) -> None:
        super().__init__()
        self.size, self.dim = size, dim

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return torch.unbind(x, self.dim)


class Slice(nn.Module):
    """cnnshape's Slice: x[:, start:end:step] along `dim` (default 1, the channels), or along
    each of a list of dims (start, end and step then one value for all, or one per dim)."""

    def __init__(self, dim: Any = 1, start: Any = 0, end: Any = None, step: Any = 1) -> None:
        super().__init__()
        self.dim, self.start, self.end, self.step = dim, start, end, step

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dims = list(self.dim) if isinstance(self.dim, (list, tuple)) else [self.dim]

        def each(value: Any) -> list[Any]:
            return list(value) if isinstance(value, (list, tuple)) else [value] * len(dims)

        index = [slice(None)] * x.dim()
        for dim, start, end, step in zip(dims, each(self.start), each(self.end), each(self.step), strict=True):
            index[dim] = slice(start, end, step)
        return x[tuple(index)]


class Reshape(nn.Module):
    """cnnshape's Reshape: torch.reshape to `shape` (batch included)."""

    def __init__(self, shape: Sequence[int]) -> None:
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(self.shape)


class Permute(nn.Module):
    """cnnshape's Permute: torch.permute, e.g. NCHW -> NHWC for a channels-last LayerNorm."""

    def __init__(self, dims: Sequence[int]) -> None:
        super().__init__()
        self.dims = tuple(dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(self.dims)


class Mean(nn.Module):
    """cnnshape's Mean: torch.mean over `dim`."""

    def __init__(self, dim: Any, keepdim: bool = False) -> None:
        super().__init__()
        self.dim, self.keepdim = dim, keepdim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=self.dim, keepdim=self.keepdim)


class Amax(Mean):
    """cnnshape's Amax: torch.amax over `dim`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.amax(dim=self.dim, keepdim=self.keepdim)


class Sum(Mean):
    """cnnshape's Sum: torch.sum over `dim`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.sum(dim=self.dim, keepdim=self.keepdim)


class TopK(nn.Module):
    """cnnshape's TopK: torch.topk's values and indices."""

    def __init__(self, k: int, dim: int = -1, largest: bool = True) -> None:
        super().__init__()
        self.k, self.dim, self.largest = k, dim, largest

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        values, indices = x.topk(self.k, dim=self.dim, largest=self.largest)
        return values, indices


class Gather(nn.Module):
    """cnnshape's Gather: x.gather(dim, index) with the index expanded over x's remaining dims."""

    def __init__(self, dim: int = 1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        rest = x.shape[index.dim() :]
        index = index.reshape(*index.shape, *([1] * len(rest))).expand(*index.shape, *rest)
        return x.gather(self.dim, index)


class GridSample(nn.Module):
    """cnnshape's GridSample: F.grid_sample of x at the points of grid."""

    def __init__(self, mode: str = "bilinear", padding_mode: str = "zeros", align_corners: bool = False) -> None:
        super().__init__()
        self.mode, self.padding_mode, self.align_corners = mode, padding_mode, align_corners

    def forward(self, x: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
        return nn.functional.grid_sample(
            x, grid, mode=self.mode, padding_mode=self.padding_mode, align_corners=self.align_corners
        )


class ExpandAs(nn.Module):
    """cnnshape's ExpandAs: x.expand_as(other), the first input broadcast to the second's shape."""

    def forward(self, x: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
        return x.expand_as(other)


class ReshapeAs(nn.Module):
    """cnnshape's ReshapeAs: x.reshape_as(other), the first input in the second's shape."""

    def forward(self, x: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
        return x.reshape_as(other)


class ScaledDotProductAttention(nn.Module):
    """cnnshape's ScaledDotProductAttention: F.scaled_dot_product_attention(q, k, v)."""

    def __init__(self, dropout_p: float = 0.0, is_causal: bool = False, scale: Optional[float] = None) -> None:
        super().__init__()
        self.dropout_p, self.is_causal, self.scale = dropout_p, is_causal, scale

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        return nn.functional.scaled_dot_product_attention(
            query,
            key,
            value,
            dropout_p=self.dropout_p if self.training else 0.0,
            is_causal=self.is_causal,
            scale=self.scale,
        )


class PatchMergingPad(nn.Module):
    """cnnshape's PatchMergingPad: torchvision Swin's `_patch_merging_pad`, (..., H, W, C) ->
    (..., ceil(H/2), ceil(W/2), 4C): odd sizes padded by one, the four 2x2 positions concatenated."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-3], x.shape[-2]
        x = nn.functional.pad(x, (0, 0, 0, width % 2, 0, height % 2))
        parts = [x[..., 0::2, 0::2, :], x[..., 1::2, 0::2, :], x[..., 0::2, 1::2, :], x[..., 1::2, 1::2, :]]
        return torch.cat(parts, -1)


class ShiftedWindowAttention(nn.Module):
    """cnnshape's ShiftedWindowAttention: torchvision Swin's window attention on a (B, H, W, C)
    map, with the same parameters and buffers (qkv, proj, relative_position_bias_table,
    relative_position_index) and the same computation."""

    relative_position_index: torch.Tensor

    def __init__(
        self,
        dim: int,
        window_size: Sequence[int],
        shift_size: Sequence[int],
        num_heads: int,
        qkv_bias: bool = True,
        proj_bias: bool = True,
        attention_dropout: float = 0.0,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.window_size, self.shift_size = list(window_size), list(shift_size)
        self.num_heads, self.attention_dropout, self.dropout = num_heads, attention_dropout, dropout
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim, bias=proj_bias)
        wh, ww = self.window_size
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * wh - 1) * (2 * ww - 1), num_heads))
        coords = torch.flatten(torch.stack(torch.meshgrid(torch.arange(wh), torch.arange(ww), indexing="ij")), 1)
        relative = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0).contiguous()
        relative[:, :, 0] += wh - 1
        relative[:, :, 1] += ww - 1
        relative[:, :, 0] *= 2 * ww - 1
        self.register_buffer("relative_position_index", relative.sum(-1).flatten())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (wh, ww), heads = self.window_size, self.num_heads
        batch, height, width, channels = x.shape
        x = nn.functional.pad(x, (0, 0, 0, (ww - width % ww) % ww, 0, (wh - height % wh) % wh))
        _, ph, pw, _ = x.shape
        shift = [0 if wh >= ph else self.shift_size[0], 0 if ww >= pw else self.shift_size[1]]
        if sum(shift) > 0:
            x = torch.roll(x, shifts=(-shift[0], -shift[1]), dims=(1, 2))
        windows, tokens = (ph // wh) * (pw // ww), wh * ww
        x = x.view(batch, ph // wh, wh, pw // ww, ww, channels).permute(0, 1, 3, 2, 4, 5)
        x = x.reshape(batch * windows, tokens, channels)
        # F.linear on the weights, as torchvision calls them: the submodules themselves never run.
        qkv = nn.functional.linear(x, self.qkv.weight, self._qkv_bias())
        qkv = qkv.reshape(x.size(0), tokens, 3, heads, channels // heads).permute(2, 0, 3, 1, 4)
        bias = self._bias_table()[self.relative_position_index]
        attn = self._scores(qkv[0], qkv[1]) + bias.view(tokens, tokens, -1).permute(2, 0, 1).unsqueeze(0)
        v = qkv[2]
        if sum(shift) > 0:
            mask = x.new_zeros((ph, pw))
            count = 0
            for h in ((0, -wh), (-wh, -shift[0]), (-shift[0], None)):
                for w in ((0, -ww), (-ww, -shift[1]), (-shift[1], None)):
                    mask[h[0] : h[1], w[0] : w[1]] = count
                    count += 1
            mask = mask.view(ph // wh, wh, pw // ww, ww).permute(0, 2, 1, 3).reshape(windows, tokens)
            mask = mask.unsqueeze(1) - mask.unsqueeze(2)
            mask = mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)
            attn = attn.view(batch, windows, heads, tokens, tokens) + mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, heads, tokens, tokens)
        attn = nn.functional.dropout(attn.softmax(dim=-1), p=self.attention_dropout, training=self.training)
        x = attn.matmul(v).transpose(1, 2).reshape(x.size(0), tokens, channels)
        x = nn.functional.linear(x, self.proj.weight, self.proj.bias)
        x = nn.functional.dropout(x, p=self.dropout, training=self.training)
        x = x.view(batch, ph // wh, pw // ww, wh, ww, channels).permute(0, 1, 3, 2, 4, 5)
        x = x.reshape(batch, ph, pw, channels)
        if sum(shift) > 0:
            x = torch.roll(x, shifts=(shift[0], shift[1]), dims=(1, 2))
        return x[:, :height, :width, :].contiguous()

    def _qkv_bias(self) -> Optional[torch.Tensor]:
        return self.qkv.bias

    def _bias_table(self) -> torch.Tensor:
        return self.relative_position_bias_table

    def _scores(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        return (q * q.shape[-1] ** -0.5).matmul(k.transpose(-2, -1))


class ShiftedWindowAttentionV2(ShiftedWindowAttention):
    """cnnshape's ShiftedWindowAttentionV2: torchvision Swin V2's window attention: cosine
    attention with a learned logit scale per head, and the relative position bias made by a
    small MLP (cpb_mlp) from a fixed table of log-spaced coordinates (relative_coords_table)."""

    relative_coords_table: torch.Tensor

    def __init__(
        self,
        dim: int,
        window_size: Sequence[int],
        shift_size: Sequence[int],
        num_heads: int,
        qkv_bias: bool = True,
        proj_bias: bool = True,
        attention_dropout: float = 0.0,
        dropout: float = 0.0,
    ) -> None:
        super().__init__(dim, window_size, shift_size, num_heads, qkv_bias, proj_bias, attention_dropout, dropout)
        del self.relative_position_bias_table
        self.logit_scale = nn.Parameter(torch.log(10 * torch.ones((num_heads, 1, 1))))
        self.cpb_mlp = nn.Sequential(nn.Linear(2, 512), nn.ReLU(inplace=True), nn.Linear(512, num_heads, bias=False))
        wh, ww = self.window_size
        grid = torch.meshgrid(
            torch.arange(-(wh - 1), wh, dtype=torch.float32),
            torch.arange(-(ww - 1), ww, dtype=torch.float32),
            indexing="ij",
        )
        table = torch.stack(grid).permute(1, 2, 0).contiguous().unsqueeze(0)
        table[:, :, :, 0] /= max(wh - 1, 1)
        table[:, :, :, 1] /= max(ww - 1, 1)
        table *= 8
        self.register_buffer("relative_coords_table", torch.sign(table) * torch.log2(torch.abs(table) + 1.0) / 3.0)

    def _qkv_bias(self) -> Optional[torch.Tensor]:
        if self.qkv.bias is None:
            return None
        bias = self.qkv.bias.clone()  # the key's third zeroed, as torchvision does
        length = bias.numel() // 3
        bias[length : 2 * length] = 0.0
        return bias

    def _bias_table(self) -> torch.Tensor:
        return 16 * torch.sigmoid(self.cpb_mlp(self.relative_coords_table).view(-1, self.num_heads))

    def _scores(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        scores = nn.functional.normalize(q, dim=-1) @ nn.functional.normalize(k, dim=-1).transpose(-2, -1)
        # the logit scale at most log(100), as torchvision clamps it
        return scores * torch.clamp(self.logit_scale, max=4.605170185988092).exp()


class RelativePositionalMultiHeadAttention(nn.Module):
    """cnnshape's RelativePositionalMultiHeadAttention: torchvision MaxViT's attention over
    the P positions of each of G windows or grid cells, (B, G, P, D) -> (B, G, P, D), with a
    relative position bias gathered from a learned table by a fixed index buffer."""

    relative_position_index: torch.Tensor

    def __init__(self, feat_dim: int, head_dim: int, max_seq_len: int) -> None:
        super().__init__()
        self.n_heads, self.head_dim, self.max_seq_len = feat_dim // head_dim, head_dim, max_seq_len
        size = int(round(max_seq_len**0.5))
        self.to_qkv = nn.Linear(feat_dim, self.n_heads * head_dim * 3)
        self.scale_factor = feat_dim**-0.5
        self.merge = nn.Linear(head_dim * self.n_heads, feat_dim)
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * size - 1) ** 2, self.n_heads))
        coords = torch.flatten(torch.stack(torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")), 1)
        relative = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0).contiguous()
        relative[:, :, 0] += size - 1
        relative[:, :, 1] += size - 1
        relative[:, :, 0] *= 2 * size - 1
        self.register_buffer("relative_position_index", relative.sum(-1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, groups, positions, features = x.shape
        heads, head_dim = self.n_heads, self.head_dim
        q, k, v = (
            part.reshape(batch, groups, positions, heads, head_dim).permute(0, 1, 3, 2, 4)
            for part in torch.chunk(self.to_qkv(x), 3, dim=-1)
        )
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        bias = bias.view(self.max_seq_len, self.max_seq_len, -1).permute(2, 0, 1).unsqueeze(0)
        weights = torch.softmax(q.matmul((k * self.scale_factor).transpose(-2, -1)) + bias, dim=-1)
        out = weights.matmul(v).permute(0, 1, 3, 2, 4).reshape(batch, groups, positions, features)
        return self.merge(out)


class ChannelShuffle(nn.Module):
    """cnnshape's ChannelShuffle: interleaves the channels of `groups` groups (ShuffleNet)."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        grouped = x.reshape(n, self.groups, c // self.groups, *x.shape[2:])
        return grouped.transpose(1, 2).reshape(x.shape)


class ClassToken(nn.Module):
    """cnnshape's ClassToken: prepends a learned token to a (N, L, E) sequence (ViT)."""

    def __init__(self, embed_dim: int) -> None:
        super().__init__()
        self.token = nn.Parameter(torch.zeros(1, 1, embed_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.token.expand(x.shape[0], -1, -1), x], dim=1)


class PositionEmbedding(nn.Module):
    """cnnshape's PositionEmbedding: adds a learned (1, L, E) embedding (ViT)."""

    def __init__(self, length: int, embed_dim: int) -> None:
        super().__init__()
        self.embedding = nn.Parameter(torch.empty(1, length, embed_dim).normal_(std=0.02))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.embedding


class LayerScale(nn.Module):
    """cnnshape's LayerScale: a learned scale per channel of `dim` (ConvNeXt)."""

    def __init__(self, channels: int, dim: int = 1, init_value: float = 1e-6) -> None:
        super().__init__()
        self.dim = dim
        self.scale = nn.Parameter(torch.full((channels,), float(init_value)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = [1] * x.dim()
        shape[self.dim] = -1
        return x * self.scale.view(shape)


class RelativePositionBias(nn.Module):
    """cnnshape's RelativePositionBias: adds a bias gathered along `dim` from a learned table
    by a fixed integer index (a buffer), LeViT's `attention_biases[:, attention_bias_idxs]`."""

    index: torch.Tensor

    def __init__(self, table_shape: Sequence[int], index_shape: Sequence[int], dim: int = 0) -> None:
        super().__init__()
        self.dim = dim
        self.table = nn.Parameter(torch.zeros(tuple(table_shape)))
        self.register_buffer("index", torch.zeros(tuple(index_shape), dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        picked = (slice(None),) * (self.dim % self.table.dim()) + (self.index,)
        return x + self.table[picked]


class FrozenBatchNorm2d(nn.Module):
    """torchvision.ops.FrozenBatchNorm2d: batch norm with fixed statistics and affine terms,
    all four kept as buffers (no parameters)."""

    weight: torch.Tensor
    bias: torch.Tensor
    running_mean: torch.Tensor
    running_var: torch.Tensor

    def __init__(self, num_features: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.register_buffer("weight", torch.ones(num_features))
        self.register_buffer("bias", torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.weight * (self.running_var + self.eps).rsqrt()
        shift = self.bias - self.running_mean * scale
        return x * scale.reshape(1, -1, 1, 1) + shift.reshape(1, -1, 1, 1)


class StochasticDepth(nn.Module):
    """torchvision.ops.StochasticDepth: drops whole residual branches while training."""

    def __init__(self, p: float, mode: str) -> None:
        super().__init__()
        self.p, self.mode = p, mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        survival = 1.0 - self.p
        size = [x.shape[0]] + [1] * (x.dim() - 1) if self.mode == "row" else [1] * x.dim()
        noise = torch.empty(size, dtype=x.dtype, device=x.device).bernoulli_(survival)
        if survival > 0.0:
            noise.div_(survival)
        return x * noise


def _div(a: Any, b: Any) -> Any:
    """cnnshape's `/`: an int when two ints divide exactly, else a float."""
    if isinstance(a, int) and isinstance(b, int) and a % b == 0:
        return a // b
    return a / b


def make_divisible(value: Any, divisor: Any = 8, min_value: Optional[Any] = None) -> int:
    """torchvision's _make_divisible: round to a multiple of `divisor`, never down by >10%."""
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return int(rounded)
