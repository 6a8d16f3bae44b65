"""Layers that change spatial resolution without weights: Upsample, PixelShuffle, GridSample
and the paddings (zero, constant, reflection, replication, circular; 1d, 2d, 3d)."""

from __future__ import annotations

from fractions import Fraction
from math import floor, prod
from typing import Any, ClassVar, Literal, Optional, Union

from pydantic import model_validator

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
    ntuple,
)
from cnnshape.layers.torchside import TorchSide

AXIS_NAMES = ("D", "H", "W")
# PyTorch's interpolate: these modes need exactly this input rank (nearest takes 3 to 5).
MODE_RANK = {"linear": 3, "bilinear": 4, "bicubic": 4, "trilinear": 5}


class Upsample(Layer):
    """Upsamples the spatial dims to `size`, or by `scale_factor` (output = floor(I * scale)).

    ```yaml
    - Upsample: {scale_factor: 2, mode: nearest}
    - Upsample: {size: [56, 56], mode: bilinear, align_corners: false}
    ```
    """

    pytorch = TorchSide(
        "nn.Upsample",
        functions={
            "F.interpolate": (("size", None), ("scale_factor", None), ("mode", "nearest"), ("align_corners", None))
        },
    )

    family = "resample"

    size: Optional[Union[PosInt, tuple[PosInt, ...]]] = None
    scale_factor: Optional[Union[Float, tuple[Float, ...]]] = None
    mode: Literal["nearest", "linear", "bilinear", "bicubic", "trilinear", "nearest-exact"] = "nearest"
    align_corners: Optional[Bool] = None
    recompute_scale_factor: Optional[Bool] = None

    @model_validator(mode="after")
    def _one_of(self) -> Upsample:
        if (self.size is None) == (self.scale_factor is None):
            raise ValueError("give exactly one of size and scale_factor")
        if self.align_corners is not None and self.mode.startswith("nearest"):
            raise ValueError("align_corners can only be set with linear, bilinear, bicubic or trilinear mode (PyTorch)")
        return self

    def _sizes(self, shape: Shape) -> tuple[int, ...]:
        check_rank("Upsample", shape, (3, 4, 5), "N, C, then 1 to 3 spatial dims")
        wanted = MODE_RANK.get(self.mode)
        if wanted is not None and len(shape) != wanted:
            raise ShapeError(f"mode {self.mode} needs a {wanted}-D input, got {len(shape)}-D {fmt_shape(shape)}")
        n = len(shape) - 2
        if self.size is not None:
            return ntuple_shape(self.size, n, "size")
        scales = ntuple_shape(self.scale_factor, n, "scale_factor")
        sizes = tuple(floor(size * scale) for size, scale in zip(shape[2:], scales, strict=True))
        if any(size <= 0 for size in sizes):
            raise ShapeError(
                f"output sizes should be greater than 0, got {fmt_shape(sizes)} from {fmt_shape(shape[2:])}"
            )
        return sizes

    def infer(self, shapes: list[Shape]) -> Result:
        (shape,) = shapes
        sizes = self._sizes(shape)
        names = AXIS_NAMES[-len(sizes) :]
        if self.size is not None:
            working = [f"{axis}: {i} -> size {o}" for axis, i, o in zip(names, shape[2:], sizes, strict=True)]
        else:
            scales = ntuple_shape(self.scale_factor, len(sizes), "scale_factor")
            working = [
                f"{axis}: floor(I * scale_factor) = floor({i} * {scale}) = {o}"
                for axis, i, scale, o in zip(names, shape[2:], scales, sizes, strict=True)
            ]
        return Result([shape[:2] + sizes], working=working)

    def ops(self, shapes: list[Shape], out: list[Shape]) -> list[Op]:
        # `size` as written: an int counts once, a list its product (deepspeed reads it)
        size_arg = 0 if self.size is None else (self.size if isinstance(self.size, int) else prod(self.size))
        return [Op("upsample", "resample", (shapes[0],), out[0], mode=self.mode, attrs=(("size_arg", size_arg),))]

    def receptive_field(self, rfs: list[RF], shapes: list[Shape], out: list[Shape]) -> list[RF]:
        taps = 1 if self.mode.startswith("nearest") else (4 if self.mode == "bicubic" else 2)
        steps = [(taps, Fraction(i, o), 0) for i, o in zip(shapes[0][2:], out[0][2:], strict=True)]
        return [rfs[0].steps(steps, exact=False)]


def ntuple_shape(value: object, n: int, name: str) -> tuple:
    try:
        return ntuple(value, n, name) if not isinstance(value, float) else (value,) * n
    except ValueError as exc:
        raise ShapeError(str(exc)) from None


class PixelShuffle(Layer):
    """(N, C*r^2, H, W) -> (N, C, H*r, W*r), with r = `upscale_factor`.

    ```yaml
    - PixelShuffle: {upscale_factor: 2}
    ```
    """

    pytorch = TorchSide(
        "nn.PixelShuffle", ("upscale_factor",), functions={"F.pixel_shuffle": (("upscale_factor", None),)}
    )
    op_name = "pixel_shuffle"
    op_family = "resample"

    family = "resample"

    upscale_factor: PosInt

    def infer(self, shapes: list[Shape]) -> Result:
        (shape,) = shapes
        if len(shape) < 3:
            raise ShapeError(
                f"PixelShuffle expects a 3-D or larger input (*, C, H, W), got {len(shape)}-D {fmt_shape(shape)}"
            )
        r = self.upscale_factor
        c, h, w = shape[-3:]
        if c % (r * r):
            raise ShapeError(f"channels {c} are not divisible by upscale_factor^2 = {r * r}")
        out = shape[:-3] + (c // (r * r), h * r, w * r)
        return Result([out], working=[f"C: {c}/{r}^2 = {c // (r * r)}; H, W x {r}"])

    def receptive_field(self, rfs: list[RF], shapes: list[Shape], out: list[Shape]) -> list[RF]:
        r = self.upscale_factor
        return [rfs[0].steps([(1, Fraction(1, r), 0)] * 2, exact=False)]


class _Pad(Layer):
    """Padding of the last `ndim` dims, given as PyTorch's pad tuple (last dim first:
    left, right, then top, bottom, then front, back) or one int for every side."""

    family = "resample"
    op_family = "resample"
    ndim: ClassVar[int] = 2
    mode: ClassVar[str] = "constant"
    padding: Any

    def _pads(self) -> tuple[int, ...]:
        return (self.padding,) * (2 * self.ndim) if isinstance(self.padding, int) else tuple(self.padding)

    def _per_axis(self) -> list[tuple[int, int]]:
        """(before, after) per padded axis, in the tensor's order (D, H, W)."""
        pads = self._pads()
        return [(pads[2 * i], pads[2 * i + 1]) for i in reversed(range(self.ndim))]

    def infer(self, shapes: list[Shape]) -> Result:
        (shape,) = shapes
        names = AXIS_NAMES[-self.ndim :] if self.ndim > 1 else ("L",)
        check_rank(self.kind(), shape, (self.ndim + 1, self.ndim + 2), "[N,] C, " + ", ".join(names))
        sizes, working = [], []
        for axis, size, (before, after) in zip(names, shape[-self.ndim :], self._per_axis(), strict=True):
            self._check_side(axis, size, before, after)
            sizes.append(size + before + after)
            working.append(f"{axis}: {size} + {before} + {after} = {size + before + after}")
        return Result([shape[: -self.ndim] + tuple(sizes)], working=working, unbatched=len(shape) == self.ndim + 1)

    def _check_side(self, axis: str, size: int, before: int, after: int) -> None:
        """What PyTorch refuses for this mode (constant padding takes any amount)."""

    def ops(self, shapes: list[Shape], out: list[Shape]) -> list[Op]:
        return [Op(self.op_name, "resample", (shapes[0],), out[0], mode=self.mode)]

    def receptive_field(self, rfs: list[RF], shapes: list[Shape], out: list[Shape]) -> list[RF]:
        return [rfs[0].steps([(1, 1, before) for before, _ in self._per_axis()])]


class _Pad1d(_Pad):
    ndim = 1
    padding: Union[NonNegInt, tuple[NonNegInt, NonNegInt]]


class _Pad2d(_Pad):
    ndim = 2
    padding: Union[NonNegInt, tuple[NonNegInt, NonNegInt, NonNegInt, NonNegInt]]


class _Pad3d(_Pad):
    ndim = 3
    padding: Union[NonNegInt, tuple[NonNegInt, NonNegInt, NonNegInt, NonNegInt, NonNegInt, NonNegInt]]


class _Reflection(_Pad):
    mode = "reflect"
    op_name = "pad"

    def _check_side(self, axis: str, size: int, before: int, after: int) -> None:
        if max(before, after) >= size:
            raise ShapeError(
                f"{axis}: reflection padding {max(before, after)} must be less than the input size {size} (PyTorch)",
                hint="use ReplicationPad or a smaller padding",
            )


class _Replication(_Pad):
    mode = "replicate"
    op_name = "pad"


class _Circular(_Pad):
    mode = "circular"
    op_name = "pad"

    def _check_side(self, axis: str, size: int, before: int, after: int) -> None:
        if max(before, after) > size:
            raise ShapeError(
                f"{axis}: circular padding {max(before, after)} may not exceed the input size {size} (PyTorch)"
            )


class _Constant(_Pad):
    op_name = "pad"
    value: Float


class _Zero(_Pad):
    op_name = "zero_pad"


class ZeroPad1d(_Pad1d, _Zero):
    """Pads L with zeros: an int, or (left, right) as in PyTorch.

    ```yaml
    - ZeroPad1d: {padding: [2, 0]}   # causal padding for a kernel of 3
    ```
    """

    pytorch = TorchSide("nn.ZeroPad1d", ("padding",))


class ZeroPad2d(_Pad2d, _Zero):
    """Pads H and W with zeros: an int, or (left, right, top, bottom) as in PyTorch.

    ```yaml
    - ZeroPad2d: {padding: 1}
    - ZeroPad2d: {padding: [0, 1, 0, 1]}
    ```
    """

    pytorch = TorchSide("nn.ZeroPad2d", ("padding",))


class ZeroPad3d(_Pad3d, _Zero):
    """Pads D, H and W with zeros: an int, or (left, right, top, bottom, front, back).

    ```yaml
    - ZeroPad3d: {padding: 1}
    ```
    """

    pytorch = TorchSide("nn.ZeroPad3d", ("padding",))


class ConstantPad1d(_Pad1d, _Constant):
    """Pads L with `value`: an int, or (left, right).

    ```yaml
    - ConstantPad1d: {padding: 2, value: -1.0}
    ```
    """

    pytorch = TorchSide("nn.ConstantPad1d", ("padding", "value"))


class ConstantPad2d(_Pad2d, _Constant):
    """Pads H and W with `value`: an int, or (left, right, top, bottom).

    ```yaml
    - ConstantPad2d: {padding: [0, 1, 0, 1], value: 0.5}
    ```
    """

    pytorch = TorchSide("nn.ConstantPad2d", ("padding", "value"))


class ConstantPad3d(_Pad3d, _Constant):
    """Pads D, H and W with `value`: an int, or (left, right, top, bottom, front, back).

    ```yaml
    - ConstantPad3d: {padding: 1, value: 0.0}
    ```
    """

    pytorch = TorchSide("nn.ConstantPad3d", ("padding", "value"))


class ReflectionPad1d(_Pad1d, _Reflection):
    """Pads L with the reflection of the input (each side less than the input size).

    ```yaml
    - ReflectionPad1d: {padding: 3}
    ```
    """

    pytorch = TorchSide("nn.ReflectionPad1d", ("padding",))


class ReflectionPad2d(_Pad2d, _Reflection):
    """Pads H and W with the reflection of the input, as in CycleGAN's ResNet blocks.

    ```yaml
    - ReflectionPad2d: {padding: 3}
    ```
    """

    pytorch = TorchSide("nn.ReflectionPad2d", ("padding",))


class ReflectionPad3d(_Pad3d, _Reflection):
    """Pads D, H and W with the reflection of the input.

    ```yaml
    - ReflectionPad3d: {padding: 1}
    ```
    """

    pytorch = TorchSide("nn.ReflectionPad3d", ("padding",))


class ReplicationPad1d(_Pad1d, _Replication):
    """Pads L by repeating the edge values.

    ```yaml
    - ReplicationPad1d: {padding: [1, 2]}
    ```
    """

    pytorch = TorchSide("nn.ReplicationPad1d", ("padding",))


class ReplicationPad2d(_Pad2d, _Replication):
    """Pads H and W by repeating the edge values.

    ```yaml
    - ReplicationPad2d: {padding: 1}
    ```
    """

    pytorch = TorchSide("nn.ReplicationPad2d", ("padding",))


class ReplicationPad3d(_Pad3d, _Replication):
    """Pads D, H and W by repeating the edge values.

    ```yaml
    - ReplicationPad3d: {padding: 1}
    ```
    """

    pytorch = TorchSide("nn.ReplicationPad3d", ("padding",))


class CircularPad1d(_Pad1d, _Circular):
    """Pads L by wrapping around (each side at most the input size).

    ```yaml
    - CircularPad1d: {padding: 1}
    ```
    """

    pytorch = TorchSide("nn.CircularPad1d", ("padding",))


class CircularPad2d(_Pad2d, _Circular):
    """Pads H and W by wrapping around (each side at most the input size).

    ```yaml
    - CircularPad2d: {padding: 1}
    ```
    """

    pytorch = TorchSide("nn.CircularPad2d", ("padding",))


class CircularPad3d(_Pad3d, _Circular):
    """Pads D, H and W by wrapping around (each side at most the input size).

    ```yaml
    - CircularPad3d: {padding: 1}
    ```
    """

    pytorch = TorchSide("nn.CircularPad3d", ("padding",))


class GridSample(Layer):
    """F.grid_sample: input 0 (N, C, H_in, W_in) read at the points of input 1, a grid
    (N, H_out, W_out, 2) of (x, y) in [-1, 1]: (N, C, H_out, W_out), interpolated by `mode`
    (multi-scale deformable attention samples its values this way). No weights: 0 MACs in the
    torchvision convention and in thop's, ptflops', deepspeed's and Ultralytics' (none of them
    sees it); fvcore counts 4 per output element (its grid_sampler handle assumes bilinear).
    The sampled points are learned, so the receptive field is the whole input.

    ```yaml
    - GridSample: {from: [value, grid]}   # (16, 32, 80, 80) at (16, 300, 4, 2) -> (16, 32, 300, 4)
    ```
    """

    pytorch = TorchSide("runtime.GridSample")
    op_name = "grid_sample"
    op_family = "resample"

    family = "resample"
    min_inputs = 2
    max_inputs = 2

    mode: Literal["bilinear", "nearest", "bicubic"] = "bilinear"
    padding_mode: Literal["zeros", "border", "reflection"] = "zeros"
    align_corners: Bool = False

    def infer(self, shapes: list[Shape]) -> Result:
        data, grid = shapes
        check_rank(self.kind(), data, (4,), "N, C, H, W")
        if len(grid) != 4 or grid[0] != data[0] or grid[3] != 2:
            raise ShapeError(
                f"the grid {fmt_shape(grid)} must be (N, H_out, W_out, 2) with the input's N = {data[0]}",
                hint="one (x, y) pair per output point, in [-1, 1]",
            )
        out = (data[0], data[1], grid[1], grid[2])
        return Result(
            [out], working=[f"{grid[1]} x {grid[2]} points of each {data[2]} x {data[3]} map -> {fmt_shape(out)}"]
        )

    def receptive_field(self, rfs: list[RF], shapes: list[Shape], out: list[Shape]) -> list[RF]:
        return [rfs[0].globalised()]


class PatchMergingPad(Layer):
    """Swin's patch merging: (..., H, W, C) -> (..., ceil(H/2), ceil(W/2), 4C), channels last.

    torchvision's `_patch_merging_pad`: an odd H or W is padded by one, then the four
    interleaved 2x2 positions (`x[..., 0::2, 0::2, :]`, `x[..., 1::2, 0::2, :]`, ...) are
    concatenated along the channels; Swin's PatchMerging follows it with a LayerNorm and a
    Linear to 2C.

    ```yaml
    - PatchMergingPad        # (1, 56, 56, 96) -> (1, 28, 28, 384)
    ```
    """

    pytorch = TorchSide(
        "runtime.PatchMergingPad", functions={"torchvision.models.swin_transformer._patch_merging_pad": ()}
    )
    op_name = "concat"

    family = "resample"

    def infer(self, shapes: list[Shape]) -> Result:
        (shape,) = shapes
        check_rank(self.kind(), shape, tuple(range(3, 9)), "(..., H, W, C)")
        *lead, height, width, channels = shape
        out = (*lead, -(-height // 2), -(-width // 2), 4 * channels)
        return Result(
            [out],
            working=[f"{height}x{width} -> ceil(/2) = {out[-3]}x{out[-2]}; channels 4*{channels} = {4 * channels}"],
        )

    def receptive_field(self, rfs: list[RF], shapes: list[Shape], out: list[Shape]) -> list[RF]:
        rf = rfs[0]
        return [rf.flattened()] if rf.kind == "spatial" else [rf]


KINDS = [
    Upsample,
    PixelShuffle,
    GridSample,
    PatchMergingPad,
    ZeroPad1d,
    ZeroPad2d,
    ZeroPad3d,
    ConstantPad1d,
    ConstantPad2d,
    ConstantPad3d,
    ReflectionPad1d,
    ReflectionPad2d,
    ReflectionPad3d,
    ReplicationPad1d,
    ReplicationPad2d,
    ReplicationPad3d,
    CircularPad1d,
    CircularPad2d,
    CircularPad3d,
]
