"""Learned tensors used as layers: ViT's class token and position embedding,
ConvNeXt's layer scale and LeViT's relative position bias. Their parameters count; they cost no MACs."""

from __future__ import annotations

from math import prod
from typing import ClassVar

from cnnshape.errors import ShapeError
from cnnshape.layers.base import RF, Float, Int, Layer, Op, PosInt, Result, Shape, check_rank, fmt_shape
from cnnshape.layers.torchside import Inferred, TorchSide


class _Learned(Layer):
    """A learned tensor used as a layer: one parameter named `param_name`."""

    family = "learned"
    param_name: ClassVar[str] = ""

    def ops(self, shapes: list[Shape], out: list[Shape]) -> list[Op]:
        (shape,), (out_shape,) = shapes, out
        size = self.infer(shapes).params
        return [
            Op(
                self.op_name,
                self.op_family,
                (shape,),
                out_shape,
                params=((self.param_name, size),),
                saves=self.op_saves,
            )
        ]


class ClassToken(_Learned):
    """Prepends a learned token to a (N, L, E) sequence: (N, L+1, E), E parameters
    (torchvision ViT's `class_token`, concatenated on dim 1).

    ```yaml
    - ClassToken
    ```
    """

    pytorch = TorchSide("runtime.ClassToken", ("embed_dim",), (Inferred("embed_dim", -1),))
    op_name = "class_token"
    param_name = "token"

    family = "learned"

    def infer(self, shapes: list[Shape]) -> Result:
        (shape,) = shapes
        check_rank(self.kind(), shape, (3,), "N, L, E")
        n, length, embed = shape
        return Result(
            [(n, length + 1, embed)], params=embed, working=[f"params: 1*1*{embed} = {embed}; L: {length} + 1"]
        )

    def receptive_field(self, rfs: list[RF], shapes: list[Shape], out: list[Shape]) -> list[RF]:
        return [rfs[0].flattened()]


class PositionEmbedding(_Learned):
    """Adds a learned (1, L, E) position embedding to a (N, L, E) sequence: L*E parameters.

    ```yaml
    - PositionEmbedding
    ```
    """

    pytorch = TorchSide(
        "runtime.PositionEmbedding", ("length", "embed_dim"), (Inferred("length", 1), Inferred("embed_dim", -1))
    )
    op_name = "position_embedding"
    param_name = "embedding"
    op_family = "elementwise"

    family = "learned"

    def infer(self, shapes: list[Shape]) -> Result:
        (shape,) = shapes
        check_rank(self.kind(), shape, (3,), "N, L, E")
        _, length, embed = shape
        params = length * embed
        return Result([shape], params=params, working=[f"params: {length}*{embed} = {params:,}"])


class LayerScale(_Learned):
    """Multiplies by a learned per-channel scale (ConvNeXt, CaiT): C parameters, where C
    is the size of `dim` (default 1, the channels of NCHW).

    ```yaml
    - LayerScale: {init_value: 1.0e-6}
    ```
    """

    pytorch = TorchSide("runtime.LayerScale", ("channels",), (Inferred("channels", "field:dim"),))
    op_name = "layer_scale"
    op_saves = ("input",)
    param_name = "scale"
    op_family = "elementwise"

    family = "learned"

    dim: Int = 1
    init_value: Float = 1e-6

    def infer(self, shapes: list[Shape]) -> Result:
        (shape,) = shapes
        if not -len(shape) <= self.dim < len(shape):
            raise ShapeError(f"dim {self.dim} is out of range for {fmt_shape(shape)}")
        channels = shape[self.dim]
        return Result([shape], params=channels, working=[f"params: {channels} (one scale per channel)"])


class RelativePositionBias(_Learned):
    """Adds a bias gathered from a learned table by a fixed index (a buffer).

    A relative position bias, as LeViT's `attn + self.attention_biases[:, self.attention_bias_idxs]`:
    the table of `table_shape` (parameters) is indexed along `dim` by an integer tensor of
    `index_shape` (buffers), giving table_shape[:dim] + index_shape + table_shape[dim+1:],
    which is added to the input with broadcasting.

    ```yaml
    - RelativePositionBias: {table_shape: [4, 196], index_shape: [196, 196], dim: 1}
    ```
    """

    pytorch = TorchSide("runtime.RelativePositionBias", ("table_shape", "index_shape", "dim"))
    op_name = "position_embedding"
    param_name = "table"
    op_family = "elementwise"

    family = "learned"

    table_shape: tuple[PosInt, ...]
    index_shape: tuple[PosInt, ...]
    dim: Int = 0

    def infer(self, shapes: list[Shape]) -> Result:
        (shape,) = shapes
        table, index = tuple(self.table_shape), tuple(self.index_shape)
        if not -len(table) <= self.dim < len(table):
            raise ShapeError(f"dim {self.dim} is out of range for table_shape {fmt_shape(table)}")
        dim = self.dim % len(table)
        bias = table[:dim] + index + table[dim + 1 :]
        from cnnshape.layers.merge import broadcast

        out = broadcast(self.kind(), [shape, bias])
        params, buffers = prod(table), prod(index)
        return Result(
            [out],
            params=params,
            buffers=buffers,
            working=[
                f"params: table {'*'.join(map(str, table))} = {params:,}; buffers: index "
                f"{'*'.join(map(str, index))} = {buffers:,}",
                f"bias {fmt_shape(bias)} added to {fmt_shape(shape)} -> {fmt_shape(out)}",
            ],
        )


KINDS = [ClassToken, PositionEmbedding, LayerScale, RelativePositionBias]
