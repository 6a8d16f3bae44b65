"""Layers that change spatial resolution without weights: Upsample, PixelShuffle, ZeroPad2d."""

from __future__ import annotations

from fractions import Fraction
from math import floor, prod
from typing import Literal, Optional, Union

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

    pytorch = TorchSide("nn.Upsample", functions={
        "F.interpolate": (("size", None), ("scale_factor", None), ("mode", "nearest"), ("align_corners", None))})

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
        sizes = tuple(floor(size * scale) for size, scale in zip(shape[2:], scales))
        if any(size <= 0 for size in sizes):
            raise ShapeError(f"output sizes should be greater than 0, got {fmt_shape(sizes)} from {fmt_shape(shape[2:])}")
        return sizes

    def infer(self, shapes: list[Shape]) -> Result:
        (shape,) = shapes
        sizes = self._sizes(shape)
        names = AXIS_NAMES[-len(sizes):]
        if self.size is not None:
            working = [f"{axis}: {i} -> size {o}" for axis, i, o in zip(names, shape[2:], sizes)]
        else:
            scales = ntuple_shape(self.scale_factor, len(sizes), "scale_factor")
            working = [
                f"{axis}: floor(I * scale_factor) = floor({i} * {scale}) = {o}"
                for axis, i, scale, o in zip(names, shape[2:], scales, sizes)
            ]
        return Result([shape[:2] + sizes], working=working)

    def ops(self, shapes: list[Shape], out: list[Shape]) -> list[Op]:
        # `size` as written: an int counts once, a list its product (deepspeed reads it)
        size_arg = 0 if self.size is None else (self.size if isinstance(self.size, int) else prod(self.size))
        return [Op("upsample", "resample", (shapes[0],), out[0], mode=self.mode, attrs=(("size_arg", size_arg),))]

    def receptive_field(self, rfs: list[RF], shapes: list[Shape], out: list[Shape]) -> list[RF]:
        taps = 1 if self.mode.startswith("nearest") else (4 if self.mode == "bicubic" else 2)
        steps = [(taps, Fraction(i, o), 0) for i, o in zip(shapes[0][2:], out[0][2:])]
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

    pytorch = TorchSide("nn.PixelShuffle", ("upscale_factor",), functions={"F.pixel_shuffle": (("upscale_factor", None),)})
    op_name = "pixel_shuffle"
    op_family = "resample"

    family = "resample"

    upscale_factor: PosInt

    def infer(self, shapes: list[Shape]) -> Result:
        (shape,) = shapes
        if len(shape) < 3:
            raise ShapeError(f"PixelShuffle expects a 3-D or larger input (*, C, H, W), got {len(shape)}-D {fmt_shape(shape)}")
        r = self.upscale_factor
        c, h, w = shape[-3:]
        if c % (r * r):
            raise ShapeError(f"channels {c} are not divisible by upscale_factor^2 = {r * r}")
        out = shape[:-3] + (c // (r * r), h * r, w * r)
        return Result([out], working=[f"C: {c}/{r}^2 = {c // (r * r)}; H, W x {r}"])

    def receptive_field(self, rfs: list[RF], shapes: list[Shape], out: list[Shape]) -> list[RF]:
        r = self.upscale_factor
        return [rfs[0].steps([(1, Fraction(1, r), 0)] * 2, exact=False)]


class ZeroPad2d(Layer):
    """Pads H and W with zeros: an int, or (left, right, top, bottom) as in PyTorch.

    ```yaml
    - ZeroPad2d: {padding: 1}
    - ZeroPad2d: {padding: [0, 1, 0, 1]}
    ```
    """

    pytorch = TorchSide("nn.ZeroPad2d", ("padding",))
    op_name = "zero_pad"
    op_family = "resample"

    family = "resample"

    padding: Union[NonNegInt, tuple[NonNegInt, NonNegInt, NonNegInt, NonNegInt]]

    def _pads(self) -> tuple[int, int, int, int]:
        return (self.padding,) * 4 if isinstance(self.padding, int) else self.padding

    def infer(self, shapes: list[Shape]) -> Result:
        (shape,) = shapes
        check_rank("ZeroPad2d", shape, (3, 4), "[N,] C, H, W")
        left, right, top, bottom = self._pads()
        h, w = shape[-2:]
        return Result([shape[:-2] + (h + top + bottom, w + left + right)], working=[
            f"H: {h} + {top} + {bottom} = {h + top + bottom}", f"W: {w} + {left} + {right} = {w + left + right}",
        ], unbatched=len(shape) == 3)

    def receptive_field(self, rfs: list[RF], shapes: list[Shape], out: list[Shape]) -> list[RF]:
        left, _, top, _ = self._pads()
        return [rfs[0].steps([(1, 1, top), (1, 1, left)])]


KINDS = [Upsample, PixelShuffle, ZeroPad2d]
