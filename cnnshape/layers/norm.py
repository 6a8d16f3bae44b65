"""Normalisation: BatchNorm, InstanceNorm, LayerNorm, GroupNorm, LocalResponseNorm.

Batch-norm running statistics are buffers, not parameters, as PyTorch counts them:
running_mean and running_var (C each) and num_batches_tracked (1).
"""

from __future__ import annotations

from math import prod
from typing import Any, ClassVar, Optional, Union

from cnnshape.errors import ShapeError
from cnnshape.layers.base import Bool, Float, Layer, Op, PosInt, Result, Shape, check_rank, fmt_shape, plain
from cnnshape.layers.torchside import Inferred, TorchSide


def _norm_op(name: str, shape: Shape, affine: bool, bias: bool, size: int, stats: int) -> list[Op]:
    """A normalisation's one operation; `size` is the length of its weight and bias, `stats`
    the float32 mean and inverse deviation it keeps for backward (2 per group normalised)."""
    params = ((("weight", size),) + ((("bias", size),) if bias else ())) if affine else ()
    return [
        Op(
            name,
            "norm",
            (shape,),
            shape,
            bias=affine and bias,
            affine=affine,
            params=params,
            saves=("input",),
            saved_extra=(("float32", stats),),
        )
    ]


class _NormNd(Layer):
    family = "norm"
    op_name = "batch_norm"
    cancels_bias = True  # subtracts each channel's mean
    ranks: ClassVar[tuple[int, ...]] = (4,)
    meaning: ClassVar[str] = "N, C, H, W"

    eps: Float = 1e-5
    momentum: Optional[Float] = 0.1
    affine: Bool = True
    track_running_stats: Bool = True
    bias: Bool = True  # PyTorch >= 2.13: bias=False keeps only the weight
    num_features: Optional[PosInt] = None

    def infer(self, shapes: list[Shape]) -> Result:
        (shape,) = shapes
        check_rank(self.kind(), shape, self.ranks, self.meaning)
        channels = shape[self._channel_dim(shape)]
        if self.num_features is not None and self.num_features != channels:
            raise ShapeError(
                f"{self.kind()} declares num_features={self.num_features} but its input {fmt_shape(shape)} has {channels} channels"
            )
        per = (1 + int(self.bias)) if self.affine else 0
        params = per * channels
        buffers = 2 * channels + 1 if self.track_running_stats else 0
        weights = f"weight{' + bias' if self.bias else ''}"
        working = [
            f"params: {weights} = {per}*C = {per}*{channels} = {params:,}"
            if self.affine
            else "params: 0 (affine=false)"
        ]
        if buffers:
            working.append(
                f"buffers: running_mean + running_var + num_batches_tracked = 2*C + 1 = 2*{channels} + 1 = {buffers:,}"
            )
        return Result([shape], params=params, buffers=buffers, working=working, unbatched=self._channel_dim(shape) == 0)

    def _channel_dim(self, shape: Shape) -> int:
        return 1

    def ops(self, shapes: list[Shape], out: list[Shape]) -> list[Op]:
        (shape,) = shapes
        channels = shape[self._channel_dim(shape)]
        # batch norm keeps one mean and inverse deviation per channel; instance norm one per
        # (sample, channel), as it runs batch norm over a (1, N*C, ...) view
        groups = channels if self.op_name == "batch_norm" else prod(shape[: self._channel_dim(shape) + 1])
        return _norm_op(self.op_name, shape, self.affine, self.bias, channels, 2 * groups)


class BatchNorm1d(_NormNd):
    """Batch norm over (N, C) or (N, C, L).

    ```yaml
    - BatchNorm1d
    ```
    """

    pytorch = TorchSide("nn.BatchNorm1d", ("num_features",), (Inferred("num_features", 1),))

    ranks = (2, 3)
    meaning = "N, C[, L]"


class BatchNorm2d(_NormNd):
    """Batch norm over (N, C, H, W): 2C parameters, 2C+1 buffers.

    ```yaml
    - BatchNorm2d
    - BatchNorm2d: {eps: 0.001, momentum: 0.01}
    ```
    """

    pytorch = TorchSide("nn.BatchNorm2d", ("num_features",), (Inferred("num_features", 1),))


class FrozenBatchNorm2d(Layer):
    """torchvision.ops.FrozenBatchNorm2d: batch norm with its statistics and affine terms
    fixed, all four (weight, bias, running_mean, running_var) buffers: 0 parameters, 4C
    buffers, as PyTorch counts them (detection backbones).

    ```yaml
    - FrozenBatchNorm2d
    - FrozenBatchNorm2d: {eps: 0.0}
    ```
    """

    pytorch = TorchSide(
        "runtime.FrozenBatchNorm2d",
        ("num_features",),
        (Inferred("num_features", 1),),
        modules=("torchvision.ops.FrozenBatchNorm2d",),
    )

    family = "norm"
    cancels_bias = True

    eps: Float = 1e-5
    num_features: Optional[PosInt] = None

    def infer(self, shapes: list[Shape]) -> Result:
        (shape,) = shapes
        check_rank("FrozenBatchNorm2d", shape, (4,), "N, C, H, W")
        channels = shape[1]
        if self.num_features is not None and self.num_features != channels:
            raise ShapeError(
                f"FrozenBatchNorm2d declares num_features={self.num_features} but its input {fmt_shape(shape)} has {channels} channels"
            )
        buffers = 4 * channels
        return Result(
            [shape],
            buffers=buffers,
            working=[
                "params: 0 (weight and bias are buffers)",
                f"buffers: weight + bias + running_mean + running_var = 4*C = 4*{channels} = {buffers:,}",
            ],
        )

    def ops(self, shapes: list[Shape], out: list[Shape]) -> list[Op]:
        # torchvision computes it as x * scale + shift with per-channel constants.
        (shape,) = shapes
        per_channel = (1, shape[1]) + (1,) * (len(shape) - 2)
        return [
            Op("mul", "elementwise", (shape, per_channel), shape),
            Op("add", "elementwise", (shape, per_channel), shape),
        ]


class BatchNorm3d(_NormNd):
    """Batch norm over (N, C, D, H, W).

    ```yaml
    - BatchNorm3d
    ```
    """

    pytorch = TorchSide("nn.BatchNorm3d", ("num_features",), (Inferred("num_features", 1),))

    ranks = (5,)
    meaning = "N, C, D, H, W"


class _InstanceNormNd(_NormNd):
    op_name = "instance_norm"
    affine: Bool = False
    track_running_stats: Bool = False

    def _channel_dim(self, shape: Shape) -> int:
        # PyTorch's InstanceNorm also takes unbatched input, whose channels are dim 0.
        return 0 if len(shape) == min(self.ranks) else 1


class InstanceNorm1d(_InstanceNormNd):
    """Instance norm over (N, C, L); no parameters unless `affine: true`.

    ```yaml
    - InstanceNorm1d: {affine: true}
    ```
    """

    pytorch = TorchSide("nn.InstanceNorm1d", ("num_features",), (Inferred("num_features", "channel"),))

    ranks = (2, 3)
    meaning = "[N,] C, L"


class InstanceNorm2d(_InstanceNormNd):
    """Instance norm over (N, C, H, W); no parameters unless `affine: true`.

    ```yaml
    - InstanceNorm2d
    ```
    """

    pytorch = TorchSide("nn.InstanceNorm2d", ("num_features",), (Inferred("num_features", "channel"),))

    ranks = (3, 4)
    meaning = "[N,] C, H, W"


class InstanceNorm3d(_InstanceNormNd):
    """Instance norm over (N, C, D, H, W).

    ```yaml
    - InstanceNorm3d
    ```
    """

    pytorch = TorchSide("nn.InstanceNorm3d", ("num_features",), (Inferred("num_features", "channel"),))

    ranks = (4, 5)
    meaning = "[N,] C, D, H, W"


class LayerNorm(Layer):
    """Layer norm over the trailing `normalized_shape` (default: the last dimension).

    ```yaml
    - LayerNorm                        # normalized_shape = last dim
    - LayerNorm: {normalized_shape: 768, eps: 1.0e-6}
    ```
    """

    pytorch = TorchSide("nn.LayerNorm", ("normalized_shape",), (Inferred("normalized_shape", -1),))

    @classmethod
    def from_torch_module(cls, module: Any, in_shape: Optional[Shape]) -> dict[str, Any]:
        values = super().from_torch_module(module, in_shape)
        normalized = plain(module.normalized_shape)
        if in_shape is None or normalized != [in_shape[-1]]:
            values["normalized_shape"] = normalized
        return values

    family = "norm"

    normalized_shape: Optional[Union[PosInt, tuple[PosInt, ...]]] = None
    eps: Float = 1e-5
    elementwise_affine: Bool = True
    bias: Bool = True

    def ops(self, shapes: list[Shape], out: list[Shape]) -> list[Op]:
        (shape,) = shapes
        wanted = self.normalized_shape
        size = shape[-1] if wanted is None else (wanted if isinstance(wanted, int) else prod(wanted))
        return _norm_op("layer_norm", shape, self.elementwise_affine, self.bias, size, 2 * (prod(shape) // size))

    def infer(self, shapes: list[Shape]) -> Result:
        (shape,) = shapes
        wanted = self.normalized_shape
        norm = (shape[-1],) if wanted is None else ((wanted,) if isinstance(wanted, int) else tuple(wanted))
        if len(norm) > len(shape) or tuple(shape[-len(norm) :]) != norm:
            raise ShapeError(
                f"normalized_shape {fmt_shape(norm)} does not match the trailing dimensions of {fmt_shape(shape)}"
            )
        size = prod(norm)
        per = (1 + int(self.bias)) if self.elementwise_affine else 0
        params = per * size
        dims = "*".join(map(str, norm))
        return Result(
            [shape],
            params=params,
            working=[
                f"params: weight{' + bias' if self.bias else ''} = {per}*prod(normalized_shape) = {per}*{dims} = {params:,}"
            ],
        )


class GroupNorm(Layer):
    """Group norm: C channels in `num_groups` groups; 2C parameters when affine.

    ```yaml
    - GroupNorm: {num_groups: 32}
    ```
    """

    pytorch = TorchSide("nn.GroupNorm", ("num_groups", "num_channels"), (Inferred("num_channels", 1),))

    family = "norm"

    num_groups: PosInt
    eps: Float = 1e-5
    affine: Bool = True
    bias: Bool = True
    num_channels: Optional[PosInt] = None

    def ops(self, shapes: list[Shape], out: list[Shape]) -> list[Op]:
        (shape,) = shapes
        return _norm_op("group_norm", shape, self.affine, self.bias, shape[1], 2 * shape[0] * self.num_groups)

    def infer(self, shapes: list[Shape]) -> Result:
        (shape,) = shapes
        check_rank("GroupNorm", shape, tuple(range(2, 9)), "N, C, *")
        channels = shape[1]
        if self.num_channels is not None and self.num_channels != channels:
            raise ShapeError(f"GroupNorm declares num_channels={self.num_channels} but its input has {channels}")
        if channels % self.num_groups:
            raise ShapeError(f"{channels} channels are not divisible into num_groups={self.num_groups}")
        per = (1 + int(self.bias)) if self.affine else 0
        params = per * channels
        return Result(
            [shape],
            params=params,
            working=[
                f"groups: {channels} channels / {self.num_groups} = {channels // self.num_groups} per group",
                f"params: weight{' + bias' if self.bias else ''} = {per}*C = {per}*{channels} = {params:,}",
            ],
        )


class LocalResponseNorm(Layer):
    """Local response normalisation across `size` neighbouring channels (AlexNet paper).

    ```yaml
    - LocalResponseNorm: {size: 5, alpha: 0.0001, beta: 0.75, k: 2.0}
    ```
    """

    pytorch = TorchSide("nn.LocalResponseNorm", ("size",))

    family = "norm"
    op_name = "local_response_norm"
    op_family = "norm"
    op_saves = ("input", "output")

    size: PosInt
    alpha: Float = 1e-4
    beta: Float = 0.75
    k: Float = 1.0

    def infer(self, shapes: list[Shape]) -> Result:
        (shape,) = shapes
        check_rank("LocalResponseNorm", shape, tuple(range(3, 9)), "N, C, *")
        return Result([shape])

    def ops(self, shapes: list[Shape], out: list[Shape]) -> list[Op]:
        """One operation whose window is `size` channels (deepspeed counts the padded average)."""
        (shape,) = shapes
        return [Op(self.op_name, self.op_family, (shape,), shape, window=self.size, saves=self.op_saves)]


KINDS = [
    BatchNorm1d,
    BatchNorm2d,
    BatchNorm3d,
    InstanceNorm1d,
    InstanceNorm2d,
    InstanceNorm3d,
    LayerNorm,
    GroupNorm,
    LocalResponseNorm,
    FrozenBatchNorm2d,
]
