"""Fully connected layers: Linear acts on the last dimension of any shape, as in PyTorch."""

from __future__ import annotations

from math import prod
from typing import Optional

from cnnshape.errors import ShapeError
from cnnshape.layers.base import RF, Bool, Layer, Op, PosInt, Result, Shape, fmt_shape, weight_params
from cnnshape.layers.torchside import Inferred, TorchSide, linear_macs


class Linear(Layer):
    """y = x A^T + b over the last dimension; `in_features` is inferred.

    ```yaml
    - Flatten
    - Linear: {out_features: 4096}
    ```
    """

    pytorch = TorchSide("nn.Linear", ("in_features", "out_features"), (Inferred("in_features", -1),))
    torch_macs = staticmethod(linear_macs)

    family = "linear"

    out_features: PosInt
    bias: Bool = True
    in_features: Optional[PosInt] = None

    def infer(self, shapes: list[Shape]) -> Result:
        (shape,) = shapes
        if not shape:
            raise ShapeError("Linear needs at least a 1-D input")
        c_in = shape[-1]
        if self.in_features is not None and self.in_features != c_in:
            hint = "; add a Flatten before it?" if len(shape) > 2 else ""
            raise ShapeError(
                f"Linear declares in_features={self.in_features} but its input {fmt_shape(shape)} "
                f"has {c_in} features in its last dimension{hint}"
            )
        out_shape = shape[:-1] + (self.out_features,)
        params = c_in * self.out_features + (self.out_features if self.bias else 0)
        rows = prod(shape[:-1])
        macs = rows * c_in * self.out_features
        bias_text = f" + {self.out_features}" if self.bias else ""
        rows_text = "*".join(map(str, shape[:-1])) or "1"
        return Result(
            [out_shape],
            params=params,
            macs=macs,
            working=[
                f"features: {c_in} -> {self.out_features}",
                f"params: C_in*C_out{' + C_out' if self.bias else ''} = {c_in}*{self.out_features}{bias_text} = {params:,}",
                f"MACs: C_in*C_out per row x rows = {c_in}*{self.out_features} x {rows_text} = {macs:,}",
            ],
        )

    def bias_size(self, out: list[Shape]) -> int:
        return self.out_features if self.bias else 0

    def ops(self, shapes: list[Shape], out: list[Shape]) -> list[Op]:
        (shape,), (out_shape,) = shapes, out
        weight = (self.out_features, shape[-1])
        return [
            Op(
                "linear",
                "linear",
                (shape,),
                out_shape,
                macs=prod(out_shape) * shape[-1],
                weight=weight,
                bias=self.bias,
                params=weight_params(weight, self.bias, self.out_features),
                saves=("input",),
            )
        ]

    def receptive_field(self, rfs: list[RF], shapes: list[Shape], out: list[Shape]) -> list[RF]:
        """Linear mixes only the last axis. Channels last keep the field they have; flattened
        positions become global; a spatial last axis is read whole, like a kernel as wide as
        it, and the other spatial axes keep theirs (each row of a map on its own)."""
        rf, last = rfs[0], len(shapes[0]) - 1
        if rf.kind == "flat" or (rf.kind == "spatial" and rf.dims == (last,)):
            return [rf.globalised()]
        if rf.kind == "spatial" and last in rf.dims:
            steps = [(1, 1, 0)] * (len(rf.dims) - 1) + [(shapes[0][last], 1, 0)]
            return [rf.steps(steps)]
        return [rf]

    def rf_findings(self, rfs: list[RF], shapes: list[Shape]) -> list[tuple[str, str]]:
        rf, shape = rfs[0], shapes[0]
        if rf.kind == "spatial" and len(rf.dims) > 1 and len(shape) - 1 in rf.dims:
            return [
                (
                    "linear-on-map",
                    (
                        f"Linear mixes the last axis of {fmt_shape(shape)}, a spatial axis of a feature map: each row of "
                        f"{shape[-1]} positions becomes {self.out_features} features, separately per row and channel; "
                        "add a Flatten before it (or a Permute to channels-last, if per-position features were meant)"
                    ),
                )
            ]
        return []


KINDS = [Linear]
