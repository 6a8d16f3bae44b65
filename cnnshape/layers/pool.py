"""Pooling: MaxPool, AvgPool, their Adaptive forms and MaxUnpool, in 1, 2 and 3 dimensions."""

from __future__ import annotations

from fractions import Fraction
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
    Number,
    Op,
    PosInt,
    Result,
    Shape,
    check_rank,
    ntuple,
    tf_same_pads,
    tf_same_working,
    window_findings,
    window_out,
    with_tf_same,
)
from cnnshape.layers.torchside import TorchSide


def window_count(shape: Shape) -> int:
    """Elements of a pooling output (one index each for max pooling)."""
    total = 1
    for size in shape:
        total *= size
    return total


class _Window(Layer):
    """A window of `kernel_size` moved by `stride` (default: the kernel) over padded input."""

    family = "pool"
    ndim: ClassVar[int] = 2

    kernel_size: IntOrTuple
    stride: Optional[IntOrTuple] = None  # PyTorch: defaults to kernel_size
    padding: NonNegIntOrTuple = 0

    @field_validator("kernel_size", "stride", "padding")
    @classmethod
    def _per_axis(cls, value: object, info: object) -> object:
        if value is not None and not isinstance(value, str):  # 'tf_same' (max and average pooling)
            ntuple(value, cls.ndim, info.field_name)  # type: ignore[attr-defined]
        return value

    def _window(self) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        """(kernel, stride, padding) per axis."""
        n = self.ndim
        kernel = ntuple(self.kernel_size, n, "")
        stride = kernel if self.stride is None else ntuple(self.stride, n, "")
        return kernel, stride, ntuple(self.padding, n, "")


class _PoolNd(_Window):
    op_family = "pooling"
    has_dilation: ClassVar[bool] = False
    runtime_same: ClassVar[str] = ""  # the shipped class that pads per input size (tf_same)

    padding: Union[NonNegIntOrTuple, Literal["tf_same"]] = 0  # type: ignore[assignment]
    ceil_mode: Bool = False

    @model_validator(mode="after")
    def _tf_same_rounds_up(self) -> _PoolNd:
        if self.padding == "tf_same" and self.ceil_mode:
            raise ValueError("padding 'tf_same' already gives ceil(I / S) outputs: leave ceil_mode out")
        return self

    def _tuples(self) -> tuple[tuple[int, ...], ...]:
        """(kernel, stride, dilation) per axis."""
        kernel, stride, _ = self._window()
        return kernel, stride, ntuple(getattr(self, "dilation", 1), self.ndim, "")

    def _window(self) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        n = self.ndim
        kernel = ntuple(self.kernel_size, n, "")
        stride = kernel if self.stride is None else ntuple(self.stride, n, "")
        padding = (0,) * n if self.padding == "tf_same" else ntuple(self.padding, n, "")
        return kernel, stride, padding

    def _pads(self, sizes: Shape) -> tuple[list[int], list[int]]:
        """Total and left padding per axis for these input sizes: PyTorch's symmetric
        `padding`, or what TensorFlow's SAME needs (asymmetric, from the input size)."""
        kernel, stride, dilation = self._tuples()
        if self.padding == "tf_same":
            return tf_same_pads(sizes, kernel, stride, dilation)
        pads = ntuple(self.padding, self.ndim, "")
        return [2 * p for p in pads], list(pads)

    def infer(self, shapes: list[Shape]) -> Result:
        (shape,) = shapes
        n = self.ndim
        check_rank(self.kind(), shape, (n + 1, n + 2), "[N,] C, " + ", ".join(AXES[n]))
        kernel, stride, dilation = self._tuples()
        totals, lefts = self._pads(shape[-n:])
        tf_same = self.padding == "tf_same"
        spatial, working, findings = [], [], []
        for axis, size, k, s, total, left, d in zip(
            AXES[n], shape[-n:], kernel, stride, totals, lefts, dilation, strict=True
        ):
            if not tf_same and left > k // 2:
                raise ShapeError(f"{axis}: padding {left} must be at most half the kernel size {k} (PyTorch)")
            out, text = window_out(axis, size, k, s, total, d, self.ceil_mode, pad_left=left if tf_same else None)
            spatial.append(out)
            if tf_same:
                working.append(tf_same_working(axis, size, k, s, d, total))
            working.append(text)
            findings += window_findings(axis, size, k, s, total, left, d, self.ceil_mode)
        return Result(
            [shape[:-n] + tuple(spatial)] * self.num_outputs(),
            working=working,
            findings=findings,
            unbatched=len(shape) == n + 1,
        )

    @classmethod
    def from_torch_module(cls, module: Any, in_shape: Optional[Shape]) -> dict[str, Any]:
        return with_tf_same(super().from_torch_module(module, in_shape), module)  # runtime.MaxPool2dSame

    def torch_side(self) -> Optional[TorchSide]:
        # nn.MaxPool/AvgPool have no padding that depends on the input size: the shipped
        # runtime.MaxPool2dSame (a subclass of nn.MaxPool2d, as timm's) pads each call first.
        if self.padding == "tf_same" and self.pytorch is not None:
            return self.pytorch._replace(ctor=f"runtime.{self.kind()}Same")
        return self.pytorch

    def ops(self, shapes: list[Shape], out: list[Shape]) -> list[Op]:
        kernel = self._tuples()[0]
        window = 1
        for k in kernel:
            window *= k
        indices = (("int64", window_count(out[0])),) if self.op_name == "max_pool" else ()
        return [Op(self.op_name, "pooling", (shapes[0],), out[0], window=window, saves=("input",), saved_extra=indices)]

    def receptive_field(self, rfs: list[RF], shapes: list[Shape], out: list[Shape]) -> list[RF]:
        kernel, stride, dilation = self._tuples()
        _, lefts = self._pads(shapes[0][-self.ndim :])
        steps = [(d * (k - 1) + 1, s, p) for k, s, p, d in zip(kernel, stride, lefts, dilation, strict=True)]
        return [rfs[0].steps(steps)] * len(out)


class _MaxPoolNd(_PoolNd):
    op_name = "max_pool"
    dilation: IntOrTuple = 1
    return_indices: Bool = False

    @field_validator("dilation")
    @classmethod
    def _dilation(cls, value: object) -> object:
        ntuple(value, cls.ndim, "dilation")
        return value

    def num_outputs(self) -> int:
        return 2 if self.return_indices else 1

    def torch_unsupported(self) -> str:
        if self.padding == "tf_same" and self.return_indices:
            return (
                "return_indices with padding 'tf_same': PyTorch would pool the padded input, so its indices "
                "would count padded positions; pad with a ConstantPad layer first, or drop return_indices"
            )
        return ""


class MaxPool1d(_MaxPoolNd):
    """1-D max pooling; `stride` defaults to `kernel_size`.

    ```yaml
    - MaxPool1d: {kernel_size: 2}
    ```
    """

    pytorch = TorchSide("nn.MaxPool1d", ("kernel_size",), modules=("runtime.MaxPool1dSame",))

    ndim = 1


class MaxPool2d(_MaxPoolNd):
    """2-D max pooling; `stride` defaults to `kernel_size`; `ceil_mode` rounds up.

    With `return_indices: true` it has two outputs (`name.0` values, `name.1` indices).

    ```yaml
    - MaxPool2d: {kernel_size: 3, stride: 2, padding: 1}
    - MaxPool2d: {kernel_size: 3, stride: 2, ceil_mode: true}
    ```
    """

    pytorch = TorchSide(
        "nn.MaxPool2d",
        ("kernel_size",),
        modules=("runtime.MaxPool2dSame",),
        functions={
            "F.max_pool2d": (
                ("kernel_size", None),
                ("stride", None),
                ("padding", 0),
                ("dilation", 1),
                ("ceil_mode", False),
                ("return_indices", False),
            ),
        },
    )

    ndim = 2


class MaxPool3d(_MaxPoolNd):
    """3-D max pooling.

    ```yaml
    - MaxPool3d: {kernel_size: [1, 3, 3], stride: [1, 2, 2], padding: [0, 1, 1]}
    ```
    """

    pytorch = TorchSide("nn.MaxPool3d", ("kernel_size",), modules=("runtime.MaxPool3dSame",))

    ndim = 3


class _AvgPoolNd(_PoolNd):
    op_name = "avg_pool"
    count_include_pad: Bool = True


class AvgPool1d(_AvgPoolNd):
    """1-D average pooling.

    ```yaml
    - AvgPool1d: {kernel_size: 2}
    ```
    """

    pytorch = TorchSide("nn.AvgPool1d", ("kernel_size",), modules=("runtime.AvgPool1dSame",))

    ndim = 1


class AvgPool2d(_AvgPoolNd):
    """2-D average pooling; `stride` defaults to `kernel_size`.

    ```yaml
    - AvgPool2d: {kernel_size: 2, stride: 2}
    ```
    """

    pytorch = TorchSide(
        "nn.AvgPool2d",
        ("kernel_size",),
        modules=("runtime.AvgPool2dSame",),
        functions={
            "F.avg_pool2d": (
                ("kernel_size", None),
                ("stride", None),
                ("padding", 0),
                ("ceil_mode", False),
                ("count_include_pad", True),
                ("divisor_override", None),
            ),
        },
    )

    ndim = 2
    divisor_override: Optional[PosInt] = None


class AvgPool3d(_AvgPoolNd):
    """3-D average pooling.

    ```yaml
    - AvgPool3d: {kernel_size: 2}
    ```
    """

    pytorch = TorchSide("nn.AvgPool3d", ("kernel_size",), modules=("runtime.AvgPool3dSame",))

    ndim = 3
    divisor_override: Optional[PosInt] = None


class _AdaptivePoolNd(Layer):
    family = "pool"
    op_name = "adaptive_avg_pool"
    op_family = "pooling"
    ndim: ClassVar[int] = 2

    output_size: Union[PosInt, tuple[Optional[PosInt], ...]]

    @field_validator("output_size")
    @classmethod
    def _per_axis(cls, value: object) -> object:
        if not isinstance(value, int):
            ntuple(value, cls.ndim, "output_size")
        return value

    def _sizes(self, shape: Shape) -> tuple[int, ...]:
        sizes = (self.output_size,) * self.ndim if isinstance(self.output_size, int) else self.output_size
        return tuple(size if out is None else out for size, out in zip(shape[-self.ndim :], sizes, strict=True))

    def infer(self, shapes: list[Shape]) -> Result:
        (shape,) = shapes
        n = self.ndim
        check_rank(self.kind(), shape, (n + 1, n + 2), "[N,] C, " + ", ".join(AXES[n]))
        sizes = self._sizes(shape)
        working = [
            f"{axis}: {size} -> {out} (windows from floor(i*{size}/{out}) to ceil((i+1)*{size}/{out}))"
            for axis, size, out in zip(AXES[n], shape[-n:], sizes, strict=True)
        ]
        findings = [
            (
                "collapsed-input",
                f"{axis}: pooling {size} up to {out} repeats values; the network expects a larger input",
            )
            for axis, size, out in zip(AXES[n], shape[-n:], sizes, strict=True)
            if out > size
        ]
        return Result(
            [shape[:-n] + sizes] * self.num_outputs(), working=working, findings=findings, unbatched=len(shape) == n + 1
        )

    def ops(self, shapes: list[Shape], out: list[Shape]) -> list[Op]:
        """Average: to one value per channel it is a mean (nothing kept for backward), else the
        input is kept; max: the input and int64 indices."""
        (shape,), (out_shape,) = shapes, out
        if self.op_name == "adaptive_max_pool":
            return [
                Op(
                    self.op_name,
                    "pooling",
                    (shape,),
                    out_shape,
                    saves=("input",),
                    saved_extra=(("int64", window_count(out_shape)),),
                )
            ]
        to_one = all(size == 1 for size in out_shape[-self.ndim :])
        return [Op(self.op_name, "pooling", (shape,), out_shape, saves=() if to_one else ("input",))]

    def receptive_field(self, rfs: list[RF], shapes: list[Shape], out: list[Shape]) -> list[RF]:
        in_sizes = shapes[0][-self.ndim :]
        out_sizes = self._sizes(shapes[0])
        if all(o == 1 for o in out_sizes) and any(i > 1 for i in in_sizes):
            return [rfs[0].globalised()] * len(out)
        steps: list[tuple[int, Number, Number]] = []
        exact = True
        for size, o in zip(in_sizes, out_sizes, strict=True):
            if size % o == 0:
                steps.append((size // o, size // o, 0))
            else:
                # Windows vary in size; report the largest and the mean stride.
                widest = max(-(-(i + 1) * size // o) - (i * size // o) for i in range(o))
                steps.append((widest, Fraction(size, o), 0))
                exact = False
        return [rfs[0].steps(steps, exact)] * len(out)


class _AdaptiveMaxPoolNd(_AdaptivePoolNd):
    op_name = "adaptive_max_pool"
    return_indices: Bool = False

    def num_outputs(self) -> int:
        return 2 if self.return_indices else 1


class AdaptiveAvgPool1d(_AdaptivePoolNd):
    """1-D adaptive average pooling to `output_size`.

    ```yaml
    - AdaptiveAvgPool1d: {output_size: 1}
    ```
    """

    pytorch = TorchSide(
        "nn.AdaptiveAvgPool1d", ("output_size",), functions={"F.adaptive_avg_pool1d": (("output_size", None),)}
    )

    ndim = 1


class AdaptiveAvgPool2d(_AdaptivePoolNd):
    """2-D adaptive average pooling; `output_size: 1` is global average pooling.

    ```yaml
    - AdaptiveAvgPool2d: {output_size: [6, 6]}
    ```
    """

    pytorch = TorchSide(
        "nn.AdaptiveAvgPool2d", ("output_size",), functions={"F.adaptive_avg_pool2d": (("output_size", None),)}
    )

    ndim = 2


class AdaptiveAvgPool3d(_AdaptivePoolNd):
    """3-D adaptive average pooling.

    ```yaml
    - AdaptiveAvgPool3d: {output_size: 1}
    ```
    """

    pytorch = TorchSide(
        "nn.AdaptiveAvgPool3d", ("output_size",), functions={"F.adaptive_avg_pool3d": (("output_size", None),)}
    )

    ndim = 3


class AdaptiveMaxPool1d(_AdaptiveMaxPoolNd):
    """1-D adaptive max pooling.

    ```yaml
    - AdaptiveMaxPool1d: {output_size: 1}
    ```
    """

    pytorch = TorchSide(
        "nn.AdaptiveMaxPool1d",
        ("output_size",),
        functions={"F.adaptive_max_pool1d": (("output_size", None), ("return_indices", False))},
    )

    ndim = 1


class AdaptiveMaxPool2d(_AdaptiveMaxPoolNd):
    """2-D adaptive max pooling.

    ```yaml
    - AdaptiveMaxPool2d: {output_size: 1}
    ```
    """

    pytorch = TorchSide(
        "nn.AdaptiveMaxPool2d",
        ("output_size",),
        functions={"F.adaptive_max_pool2d": (("output_size", None), ("return_indices", False))},
    )

    ndim = 2


class AdaptiveMaxPool3d(_AdaptiveMaxPoolNd):
    """3-D adaptive max pooling.

    ```yaml
    - AdaptiveMaxPool3d: {output_size: 1}
    ```
    """

    pytorch = TorchSide(
        "nn.AdaptiveMaxPool3d",
        ("output_size",),
        functions={"F.adaptive_max_pool3d": (("output_size", None), ("return_indices", False))},
    )

    ndim = 3


class _MaxUnpoolNd(_Window):
    """The inverse of max pooling: scatters the values back to the positions in `indices`
    (the pooling's second output, `return_indices: true`); zeros elsewhere."""

    op_name = "max_unpool"
    op_family = "pooling"
    min_inputs = 2
    max_inputs = 2

    def infer(self, shapes: list[Shape]) -> Result:
        values, indices = shapes
        n = self.ndim
        check_rank(self.kind(), values, (n + 1, n + 2), "[N,] C, " + ", ".join(AXES[n]))
        if values != indices:
            raise ShapeError(
                f"values {values} and indices {indices} must have the same shape: pass the max pooling's two outputs",
                hint="from: [pool.0, pool.1] with return_indices: true on the pool",
            )
        spatial, working = [], []
        for axis, size, k, s, p in zip(AXES[n], values[-n:], *self._window(), strict=True):
            out = (size - 1) * s - 2 * p + k
            if out <= 0:
                raise ShapeError(f"{axis}: (I - 1)*S - 2P + K = ({size} - 1)*{s} - 2*{p} + {k} = {out} is not positive")
            spatial.append(out)
            working.append(f"{axis}: (I - 1)*S - 2P + K = ({size} - 1)*{s} - 2*{p} + {k} = {out}")
        return Result([values[:-n] + tuple(spatial)], working=working, unbatched=len(values) == n + 1)

    def ops(self, shapes: list[Shape], out: list[Shape]) -> list[Op]:
        return [Op("max_unpool", "pooling", tuple(shapes), out[0], saves=("inputs",))]

    def receptive_field(self, rfs: list[RF], shapes: list[Shape], out: list[Shape]) -> list[RF]:
        # Each output position holds at most one input value; positions step 1/S inputs apart.
        steps: list[tuple[int, Number, Number]] = [
            (1, Fraction(1, s), Fraction(k - 1 - p, s)) for k, s, p in zip(*self._window(), strict=True)
        ]
        return [rfs[0].steps(steps, exact=False)]


class MaxUnpool1d(_MaxUnpoolNd):
    """1-D max unpooling of (values, indices) from MaxPool1d with `return_indices: true`.

    ```yaml
    - MaxUnpool1d: {kernel_size: 2, from: [pool.0, pool.1]}
    ```
    """

    pytorch = TorchSide("nn.MaxUnpool1d", ("kernel_size",))
    ndim = 1


class MaxUnpool2d(_MaxUnpoolNd):
    """2-D max unpooling: out = (I - 1)*S - 2P + K, from MaxPool2d's values and indices
    (SegNet's decoder).

    ```yaml
    - MaxPool2d: {kernel_size: 2, return_indices: true, name: pool}
    - MaxUnpool2d: {kernel_size: 2, from: [pool.0, pool.1]}
    ```
    """

    pytorch = TorchSide("nn.MaxUnpool2d", ("kernel_size",))
    ndim = 2


class MaxUnpool3d(_MaxUnpoolNd):
    """3-D max unpooling of (values, indices) from MaxPool3d with `return_indices: true`.

    ```yaml
    - MaxUnpool3d: {kernel_size: 2, from: [pool.0, pool.1]}
    ```
    """

    pytorch = TorchSide("nn.MaxUnpool3d", ("kernel_size",))
    ndim = 3


KINDS = [
    MaxPool1d,
    MaxPool2d,
    MaxPool3d,
    AvgPool1d,
    AvgPool2d,
    AvgPool3d,
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AdaptiveAvgPool3d,
    AdaptiveMaxPool1d,
    AdaptiveMaxPool2d,
    AdaptiveMaxPool3d,
    MaxUnpool1d,
    MaxUnpool2d,
    MaxUnpool3d,
]
