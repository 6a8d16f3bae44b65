"""Convolutions: Conv1d/2d/3d and ConvTranspose1d/2d/3d, with PyTorch's semantics."""

from __future__ import annotations

from functools import lru_cache
from math import prod
from typing import Any, ClassVar, Literal, Optional, Union

from pydantic import field_validator, model_validator

from cnnshape.errors import ShapeError
from cnnshape.layers.base import (
    AXES,
    RF,
    Bool,
    IntOrTuple,
    Layer,
    NonNegIntOrTuple,
    Op,
    PosInt,
    Result,
    Shape,
    check_rank,
    fmt_shape,
    ntuple,
    tf_same_pads,
    tf_same_working,
    weight_params,
    window_findings,
    window_out,
    with_tf_same,
)
from cnnshape.layers.torchside import Inferred, TorchSide, conv_macs, conv_transpose_macs

PaddingMode = Literal["zeros", "reflect", "replicate", "circular"]


def _channels(kind: str, shape: Shape, ndim: int, declared: Optional[int], groups: int, out_channels: int) -> int:
    check_rank(kind, shape, (ndim + 1, ndim + 2), "[N,] C, " + ", ".join(AXES[ndim]))
    c_in = shape[-(ndim + 1)]
    if declared is not None and declared != c_in:
        raise ShapeError(f"{kind} declares in_channels={declared} but its input {fmt_shape(shape)} has {c_in} channels")
    if c_in % groups:
        raise ShapeError(f"{kind}: in_channels {c_in} is not divisible by groups={groups}")
    if out_channels % groups:
        raise ShapeError(f"{kind}: out_channels {out_channels} is not divisible by groups={groups}")
    return c_in


def _check_mode_padding(mode: str, axis: str, size: int, left: int, right: int, same: str) -> None:
    """Refuse per-side padding that PyTorch's F.pad refuses for this padding_mode.

    PyTorch pads before it convolves, each side of each axis on its own: 'reflect' mirrors
    without repeating the edge, so it needs padding < I; 'circular' may wrap around once, so
    padding <= I; 'zeros' and 'replicate' take any amount.
    """
    if mode == "reflect":
        limit, rule = size - 1, f"must be less than the input's size {size}"
    elif mode == "circular":
        limit, rule = size, f"must be at most the input's size {size} (it wraps around at most once)"
    else:
        return
    pad = max(left, right)
    if pad <= limit:
        return
    what = f"padding '{same}' pads {left} before and {right} after; {pad}" if same else f"padding {pad}"
    fix = "a smaller kernel or dilation" if same else f"padding at most {limit}"
    raise ShapeError(
        f"{what} with padding_mode '{mode}' {rule} along {axis}; "
        f"use {fix}, padding_mode 'zeros' or 'replicate', or a larger input"
    )


def _k_symbol(ndim: int) -> str:
    """The kernel's size in the seed's notation: K*K for a 2-D kernel."""
    return "*".join(["K"] * ndim)


def _dims_symbol(shape: Shape, ndim: int, channels: str, suffix: str = "_out") -> str:
    """N*C_out*H_out*W_out for a batched 2-D output (no N when unbatched)."""
    batch = ["N"] if len(shape) == ndim + 2 else []
    return "*".join(batch + [channels] + [f"{axis}{suffix}" for axis in AXES[ndim]])


_PerAxis = Union[int, tuple[int, ...]]  # an argument given once or per axis


def _conv_pads(
    n: int, kernel_size: _PerAxis, dilation: _PerAxis, stride: _PerAxis, padding: Union[_PerAxis, str], sizes: Shape
) -> tuple[list[int], list[int]]:
    """Total and left padding per axis for these input sizes; 'same' pads D(K-1) split
    left-first like PyTorch; 'tf_same' pads what TensorFlow's SAME needs for an output
    of ceil(I / S), the smaller half on the left (timm's pad_same)."""
    kernel, dilations = ntuple(kernel_size, n, ""), ntuple(dilation, n, "")
    if padding == "valid":
        return [0] * n, [0] * n
    if padding == "tf_same":
        return tf_same_pads(sizes, kernel, ntuple(stride, n, ""), dilations)
    if padding == "same":
        totals = [d * (k - 1) for k, d in zip(kernel, dilations, strict=True)]
        return totals, [t // 2 for t in totals]
    pads = ntuple(padding, n, "")
    return [2 * p for p in pads], list(pads)


# The receptive field is stepped once per layer, but a network repeats a few convolutions many
# times (one, 5,000 times down a 10,000-layer chain): their steps are worked out once each.
@lru_cache(maxsize=1024)
def _conv_rf_steps(
    n: int, kernel_size: _PerAxis, dilation: _PerAxis, stride: _PerAxis, padding: Union[_PerAxis, str], sizes: Shape
) -> tuple[tuple[int, int, int], ...]:
    """One (dilated kernel, stride, left padding) step per spatial axis."""
    kernel, strides, dilations = (ntuple(v, n, "") for v in (kernel_size, stride, dilation))
    _, lefts = _conv_pads(n, kernel_size, dilation, stride, padding, sizes)
    return tuple((d * (k - 1) + 1, s, p) for k, s, d, p in zip(kernel, strides, dilations, lefts, strict=True))


class _ConvNd(Layer):
    torch_macs = staticmethod(conv_macs)
    family = "conv"
    ndim: ClassVar[int] = 2

    out_channels: PosInt
    kernel_size: IntOrTuple
    stride: IntOrTuple = 1
    padding: Union[NonNegIntOrTuple, Literal["same", "valid", "tf_same"]] = 0
    dilation: IntOrTuple = 1
    groups: PosInt = 1
    bias: Bool = True
    padding_mode: PaddingMode = "zeros"
    in_channels: Optional[PosInt] = None

    @field_validator("kernel_size", "stride", "dilation")
    @classmethod
    def _per_axis(cls, value: object, info: object) -> object:
        ntuple(value, cls.ndim, info.field_name)  # type: ignore[attr-defined]
        return value

    @field_validator("padding")
    @classmethod
    def _padding(cls, value: object) -> object:
        if not isinstance(value, str):
            ntuple(value, cls.ndim, "padding")
        return value

    @model_validator(mode="after")
    def _same_needs_stride_one(self) -> _ConvNd:
        if self.padding == "same" and any(s != 1 for s in ntuple(self.stride, self.ndim, "stride")):
            raise ValueError(
                "padding='same' is not supported for strided convolutions (PyTorch); give the padding as a "
                "number, or 'tf_same' for TensorFlow's SAME (asymmetric, from the input size)"
            )
        return self

    def _pads(self, sizes: Shape) -> tuple[list[int], list[int]]:
        """Total and left padding per axis for these input sizes (see _conv_pads)."""
        return _conv_pads(self.ndim, self.kernel_size, self.dilation, self.stride, self.padding, sizes)

    def infer(self, shapes: list[Shape]) -> Result:
        (shape,) = shapes
        n = self.ndim
        c_in = _channels(self.kind(), shape, n, self.in_channels, self.groups, self.out_channels)
        kernel, stride, dilation = (ntuple(v, n, "") for v in (self.kernel_size, self.stride, self.dilation))
        totals, lefts = self._pads(shape[-n:])
        working = []
        spatial = []
        findings = []
        same = self.padding if self.padding in ("same", "tf_same") else ""
        for axis, size, k, s, p, d, left in zip(
            AXES[n], shape[-n:], kernel, stride, totals, dilation, lefts, strict=True
        ):
            _check_mode_padding(self.padding_mode, axis, size, left, p - left, same)
            try:
                out, text = window_out(axis, size, k, s, p, d, pad_left=left if same else None)
            except ShapeError as exc:
                if len(shape) == n + 1 and n > 1:  # read as unbatched: usually an (N, C, L) tensor
                    lower = (
                        f"Conv{n - 1}d"
                        if self.kind().startswith("Conv") and "Transpose" not in self.kind()
                        else f"a {n - 1}-D layer"
                    )
                    raise ShapeError(
                        f"{self.kind()} needs (N, C, {', '.join(AXES[n])}) but got a {len(shape)}-D input "
                        f"{fmt_shape(shape)}, read as one unbatched sample; was {lower} meant? ({exc.message})"
                    ) from None
                raise
            spatial.append(out)
            if self.padding == "tf_same":
                working.append(tf_same_working(axis, size, k, s, d, p))
            working.append(text)
            findings += window_findings(axis, size, k, s, p, left, d)
        out_shape = shape[: -(n + 1)] + (self.out_channels, *spatial)
        k_area = prod(kernel)
        c_per_group = c_in // self.groups
        weights = k_area * c_per_group * self.out_channels
        params = weights + (self.out_channels if self.bias else 0)
        macs = prod(out_shape) * c_per_group * k_area
        k_text = "*".join(map(str, kernel))
        grouped = self.groups > 1
        group_text = f"({c_in}/{self.groups})" if grouped else str(c_in)
        c_sym = "(C_in/G)" if grouped else "C_in"
        bias_text = f" + {self.out_channels}" if self.bias else ""
        working.append(
            f"params: {_k_symbol(n)}*{c_sym}*C_out{' + C_out' if self.bias else ''}"
            f" = {k_text}*{group_text}*{self.out_channels}{bias_text} = {params:,}"
        )
        working.append(
            f"MACs: {_k_symbol(n)}*{c_sym} per output x {_dims_symbol(out_shape, n, 'C_out')} outputs"
            f" = {k_text}*{group_text} x {'*'.join(map(str, out_shape))} = {macs:,}"
        )
        return Result(
            [out_shape], params=params, macs=macs, working=working, findings=findings, unbatched=len(shape) == n + 1
        )

    def bias_size(self, out: list[Shape]) -> int:
        return self.out_channels if self.bias else 0

    @classmethod
    def from_torch_module(cls, module: Any, in_shape: Optional[Shape]) -> dict[str, Any]:
        return with_tf_same(super().from_torch_module(module, in_shape), module)  # runtime.Conv2dSame

    def torch_side(self) -> Optional[TorchSide]:
        # nn.Conv has no padding that depends on the input size: runtime.Conv2dSame (a
        # subclass of nn.Conv2d, as timm's) pads each call with F.pad first.
        if self.padding == "tf_same" and self.pytorch is not None:
            return self.pytorch._replace(ctor=f"runtime.Conv{self.ndim}dSame")
        return self.pytorch

    def ops(self, shapes: list[Shape], out: list[Shape]) -> list[Op]:
        (shape,), (out_shape,) = shapes, out
        kernel = ntuple(self.kernel_size, self.ndim, "")
        weight = (self.out_channels, shape[-(self.ndim + 1)] // self.groups, *kernel)
        return [
            Op(
                "conv",
                "conv",
                (shape,),
                out_shape,
                macs=prod(out_shape) * prod(weight[1:]),
                weight=weight,
                groups=self.groups,
                bias=self.bias,
                params=weight_params(weight, self.bias, self.out_channels),
                saves=("input",),
            )
        ]

    def receptive_field(self, rfs: list[RF], shapes: list[Shape], out: list[Shape]) -> list[RF]:
        n = self.ndim
        return [
            rfs[0].steps(_conv_rf_steps(n, self.kernel_size, self.dilation, self.stride, self.padding, shapes[0][-n:]))
        ]


class Conv1d(_ConvNd):
    """1-D convolution over (N, C, L).

    ```yaml
    - Conv1d: {out_channels: 64, kernel_size: 3, padding: 1}
    ```
    """

    pytorch = TorchSide(
        "nn.Conv1d",
        ("in_channels", "out_channels", "kernel_size"),
        (Inferred("in_channels", "channel"),),
        modules=("runtime.Conv1dSame",),
    )

    ndim = 1


class Conv2d(_ConvNd):
    """2-D convolution over (N, C, H, W); `padding` is an int, a pair, 'same' or 'valid'.

    ```yaml
    - Conv2d: {out_channels: 64, kernel_size: 3, stride: 1, padding: 1, bias: false}
    - Conv2d: {out_channels: 192, kernel_size: [1, 7], padding: [0, 3]}
    ```
    """

    pytorch = TorchSide(
        "nn.Conv2d",
        ("in_channels", "out_channels", "kernel_size"),
        (Inferred("in_channels", "channel"),),
        modules=("runtime.Conv2dSame",),
    )

    ndim = 2


class Conv3d(_ConvNd):
    """3-D convolution over (N, C, D, H, W).

    ```yaml
    - Conv3d: {out_channels: 64, kernel_size: [3, 7, 7], stride: [1, 2, 2], padding: [1, 3, 3]}
    ```
    """

    pytorch = TorchSide(
        "nn.Conv3d",
        ("in_channels", "out_channels", "kernel_size"),
        (Inferred("in_channels", "channel"),),
        modules=("runtime.Conv3dSame",),
    )

    ndim = 3


class _ConvTransposeNd(Layer):
    torch_macs = staticmethod(conv_transpose_macs)
    family = "conv"
    ndim: ClassVar[int] = 2

    out_channels: PosInt
    kernel_size: IntOrTuple
    stride: IntOrTuple = 1
    padding: NonNegIntOrTuple = 0
    output_padding: NonNegIntOrTuple = 0
    groups: PosInt = 1
    bias: Bool = True
    dilation: IntOrTuple = 1
    padding_mode: Literal["zeros"] = "zeros"
    in_channels: Optional[PosInt] = None

    @field_validator("kernel_size", "stride", "dilation", "padding", "output_padding")
    @classmethod
    def _per_axis(cls, value: object, info: object) -> object:
        ntuple(value, cls.ndim, info.field_name)  # type: ignore[attr-defined]
        return value

    def _tuples(self) -> tuple[tuple[int, ...], ...]:
        n = self.ndim
        return tuple(
            ntuple(v, n, "") for v in (self.kernel_size, self.stride, self.padding, self.output_padding, self.dilation)
        )

    def infer(self, shapes: list[Shape]) -> Result:
        (shape,) = shapes
        n = self.ndim
        c_in = _channels(self.kind(), shape, n, self.in_channels, self.groups, self.out_channels)
        kernel, stride, padding, out_pad, dilation = self._tuples()
        working = []
        spatial = []
        for axis, size, k, s, p, op, d in zip(
            AXES[n], shape[-n:], kernel, stride, padding, out_pad, dilation, strict=True
        ):
            if op >= max(s, d):
                raise ShapeError(f"{axis}: output_padding {op} must be smaller than stride {s} or dilation {d}")
            out = (size - 1) * s - 2 * p + d * (k - 1) + op + 1
            if out <= 0:
                raise ShapeError(f"{axis} shrinks to {out}: padding {p} is too large for input {size}")
            spatial.append(out)
            working.append(
                f"{axis}: (I-1)*S - 2P + dil*(K-1) + output_padding + 1 = ({size}-1)*{s} - 2*{p} + {d}*({k}-1) + {op} + 1 = {out}"
            )
        out_shape = shape[: -(n + 1)] + (self.out_channels, *spatial)
        k_area = prod(kernel)
        c_out_per_group = self.out_channels // self.groups
        params = c_in * c_out_per_group * k_area + (self.out_channels if self.bias else 0)
        # torchvision/fvcore count a transposed conv over the input positions.
        macs = prod(shape) * c_out_per_group * k_area
        k_text = "*".join(map(str, kernel))
        grouped = self.groups > 1
        c_out_text = f"({self.out_channels}/{self.groups})" if grouped else str(self.out_channels)
        c_sym = "(C_out/G)" if grouped else "C_out"
        bias_text = f" + {self.out_channels}" if self.bias else ""
        working.append(
            f"params: C_in*{_k_symbol(n)}*{c_sym}{' + C_out' if self.bias else ''}"
            f" = {c_in}*{k_text}*{c_out_text}{bias_text} = {params:,}"
        )
        working.append(
            f"MACs: {_k_symbol(n)}*{c_sym} per input x {_dims_symbol(shape, n, 'C_in', '_in')} inputs"
            f" = {k_text}*{c_out_text} x {'*'.join(map(str, shape))} = {macs:,}"
        )
        return Result([out_shape], params=params, macs=macs, working=working, unbatched=len(shape) == n + 1)

    def bias_size(self, out: list[Shape]) -> int:
        return self.out_channels if self.bias else 0

    def ops(self, shapes: list[Shape], out: list[Shape]) -> list[Op]:
        (shape,), (out_shape,) = shapes, out
        kernel = ntuple(self.kernel_size, self.ndim, "")
        weight = (shape[-(self.ndim + 1)], self.out_channels // self.groups, *kernel)
        return [
            Op(
                "conv_transpose",
                "conv",
                (shape,),
                out_shape,
                macs=prod(shape) * prod(weight[1:]),
                weight=weight,
                groups=self.groups,
                bias=self.bias,
                params=weight_params(weight, self.bias, self.out_channels),
                saves=("input",),
            )
        ]

    def receptive_field(self, rfs: list[RF], shapes: list[Shape], out: list[Shape]) -> list[RF]:
        from fractions import Fraction

        kernel, stride, padding, _, dilation = self._tuples()
        # Each output sees ceil(K_eff / S) inputs; positions step 1/S input apart. Approximate.
        steps = []
        for k, s, p, d in zip(kernel, stride, padding, dilation, strict=True):
            k_eff = d * (k - 1) + 1
            steps.append((-(-k_eff // s), Fraction(1, s), Fraction(k_eff - 1 - p, s)))
        return [rfs[0].steps(steps, exact=False)]


class ConvTranspose1d(_ConvTransposeNd):
    """1-D transposed convolution over (N, C, L).

    ```yaml
    - ConvTranspose1d: {out_channels: 32, kernel_size: 4, stride: 2, padding: 1}
    ```
    """

    pytorch = TorchSide(
        "nn.ConvTranspose1d", ("in_channels", "out_channels", "kernel_size"), (Inferred("in_channels", "channel"),)
    )

    ndim = 1


class ConvTranspose2d(_ConvTransposeNd):
    """2-D transposed convolution: out = (I-1)*S - 2P + D(K-1) + output_padding + 1.

    ```yaml
    - ConvTranspose2d: {out_channels: 256, kernel_size: 2, stride: 2}
    ```
    """

    pytorch = TorchSide(
        "nn.ConvTranspose2d", ("in_channels", "out_channels", "kernel_size"), (Inferred("in_channels", "channel"),)
    )

    ndim = 2


class ConvTranspose3d(_ConvTransposeNd):
    """3-D transposed convolution over (N, C, D, H, W).

    ```yaml
    - ConvTranspose3d: {out_channels: 32, kernel_size: 2, stride: 2}
    ```
    """

    pytorch = TorchSide(
        "nn.ConvTranspose3d", ("in_channels", "out_channels", "kernel_size"), (Inferred("in_channels", "channel"),)
    )

    ndim = 3


KINDS = [Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d]
