"""Graph operations that join tensors: Add, Mul, Sub, Div, Maximum and Minimum (with
broadcasting; the arithmetic ones also with a scalar or a tensor of their own) and Concat.

They take their inputs from `from: [a, b, ...]`; the receptive field where paths meet
is the largest of the paths, and paths with different stride or centre are flagged.
"""

from __future__ import annotations

from math import prod
from typing import Any, ClassVar, Optional

from pydantic import model_validator

from cnnshape.errors import ShapeError
from cnnshape.layers.base import RF, Bool, Float, Int, Layer, Op, PosInt, Result, Shape, fmt_shape, merge_rfs
from cnnshape.layers.torchside import TorchSide


def broadcast(kind: str, shapes: list[Shape]) -> Shape:
    """PyTorch's broadcasting: align trailing dims; each pair equal or one of them 1."""
    rank = max(len(shape) for shape in shapes)
    padded = [(1,) * (rank - len(shape)) + tuple(shape) for shape in shapes]
    out = []
    for dim, sizes in enumerate(zip(*padded, strict=True)):
        distinct = {size for size in sizes if size != 1}
        if len(distinct) > 1:
            what = "channel" if dim == 1 else f"dimension {dim}"
            listed = " vs ".join(fmt_shape(shape) for shape in shapes)
            raise ShapeError(
                f"{what} mismatch at {kind}: {listed} (sizes {sorted(distinct)} cannot broadcast)",
                hint=_sum_fix(padded),
            )
        out.append(distinct.pop() if distinct else 1)
    return tuple(out)


def _spatial_factor(small: Shape, large: Shape) -> int | None:
    """The one integer factor by which every spatial size of `large` exceeds `small`'s
    (2 for 56x56 vs 28x28), or None."""
    factors = {b // a if a and b % a == 0 else 0 for a, b in zip(small[2:], large[2:], strict=True)}
    factor = factors.pop() if len(factors) == 1 else 0
    return factor if factor > 1 else None


def _sum_fix(shapes: list[Shape]) -> str:
    """The usual fix for a residual sum whose paths disagree: a 1x1 projection with the
    stride that matches on the path that does not fit (ResNet's downsample shortcut)."""
    first = shapes[0]
    other = next((shape for shape in shapes[1:] if shape != first), None)
    if other is None or len(first) < 3 or len(other) != len(first):
        return ""
    conv = f"Conv{len(first) - 2}d" if len(first) <= 5 else "Conv2d"
    if first[2:] == other[2:]:  # same map, other channels
        small, large = sorted((first, other), key=lambda shape: shape[1])
        return (
            f"the usual fix: project the path with {small[1]} channels with a 1x1 {conv} "
            f"(out_channels: {large[1]}), as ResNet's shortcut does"
        )
    bigger, smaller = (first, other) if first[2] >= other[2] else (other, first)
    factor = _spatial_factor(smaller, bigger)
    if factor is None:
        return (
            f"the maps differ ({' x '.join(map(str, bigger[2:]))} vs {' x '.join(map(str, smaller[2:]))}) by no whole "
            "factor: check the padding of the layers on each path"
        )
    return (
        f"the usual fix: a 1x1 {conv} with stride: {factor} (out_channels: {smaller[1]}) on the path with the "
        f"larger map {fmt_shape(bigger)}, as ResNet's downsample shortcut does, or an Upsample (scale_factor: {factor}) "
        f"on the smaller one"
    )


class _Elementwise(Layer):
    family = "merge"
    min_inputs = 2
    max_inputs: ClassVar[int | None] = None

    def infer(self, shapes: list[Shape]) -> Result:
        return Result([broadcast(self.kind(), shapes)])

    def receptive_field(self, rfs: list[RF], shapes: list[Shape], out: list[Shape]) -> list[RF]:
        return [merge_rfs(rfs)]


class _Arithmetic(_Elementwise):
    """An elementwise kind whose second operand may be a scalar or a tensor of its own
    (learned, or a constant buffer) instead of another input."""

    symbol: ClassVar[str] = "+"
    # `scalar OP x` computed through an intermediate that autograd keeps (`1 / x` is
    # reciprocal(x) * 1, which keeps the reciprocal: a tensor of the output's size)
    reversed_scalar_keeps: ClassVar[bool] = False

    scalar: Optional[Float] = None
    tensor_shape: Optional[tuple[PosInt, ...]] = None
    constant: Bool = False
    reverse: Bool = False  # the layer's own operand first: `1 - x` (torch.rsub), `1 / x`

    @model_validator(mode="after")
    def _one_operand(self) -> _Arithmetic:
        if self.scalar is not None and self.tensor_shape is not None:
            raise ValueError("give at most one of scalar and tensor_shape")
        if self.constant and self.tensor_shape is None:
            raise ValueError("constant: true describes a tensor: give tensor_shape too")
        if self.reverse and self.scalar is None and self.tensor_shape is None:
            raise ValueError(
                "reverse: true puts the layer's own operand first (`scalar: 1, reverse: true` is 1 - x): "
                "give scalar or tensor_shape; with two inputs, list them in `from` in the order you mean"
            )
        return self

    def _written(self, x: str, operand: str) -> str:
        """The operation on the input and the layer's own operand, in their order: `1 - x`."""
        return f"{operand} {self.symbol} {x}" if self.reverse else f"{x} {self.symbol} {operand}"

    # The operand order does not matter (`2 * x` is `x * 2`): Add and Mul.
    commutative: ClassVar[bool] = False

    @classmethod
    def from_torch_call(
        cls, target: str, bound: dict[str, Any], in_shape: Shape, out_shapes: list[Shape]
    ) -> Optional[dict[str, Any]]:
        """A tensor and a number (`x * self.scale`, `attn / 8`) is this kind with `scalar`;
        the number first (`1 - x`) is `reverse: true` where the order matters."""
        numbers = bound.get("*")
        if not isinstance(numbers, list) or len(numbers) != 1 or set(bound) - {"*", "number_first"}:
            return super().from_torch_call(target, bound, in_shape, out_shapes)
        (number,) = numbers
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            return None
        reverse = bool(bound.get("number_first")) and not cls.commutative
        return {"scalar": float(number), **({"reverse": True} if reverse else {})}

    def input_count(self) -> tuple[int, Optional[int]]:
        if self.scalar is not None or self.tensor_shape is not None:
            return 1, 1
        return self.min_inputs, self.max_inputs

    def infer(self, shapes: list[Shape]) -> Result:
        if self.scalar is not None:
            return Result([shapes[0]], working=[f"{self._written('x', str(self.scalar))}: the shape is kept"])
        if self.tensor_shape is None:
            return super().infer(shapes)
        tensor = tuple(self.tensor_shape)
        try:
            out = broadcast(self.kind(), [shapes[0], tensor])
        except ShapeError:
            raise ShapeError(
                f"tensor_shape {fmt_shape(tensor)} does not broadcast against the input {fmt_shape(shapes[0])}: "
                "aligned from the last dim, each pair of sizes must be equal or one of them 1",
                hint="size 1 where the input varies, e.g. [1, C, 1, 1] for one value per channel",
            ) from None
        size = prod(tensor)
        what = "buffer (constant)" if self.constant else "parameters (learned)"
        working = [
            f"{what}: {'*'.join(map(str, tensor))} = {size:,}",
            f"{self._written(fmt_shape(shapes[0]), fmt_shape(tensor))} -> {fmt_shape(out)}",
        ]
        if self.constant:
            return Result([out], buffers=size, working=working)
        return Result([out], params=size, working=working)

    def receptive_field(self, rfs: list[RF], shapes: list[Shape], out: list[Shape]) -> list[RF]:
        # A scalar or a tensor of the layer's own reads no input position.
        return [rfs[0]] if len(rfs) == 1 else [merge_rfs(rfs)]

    def ops(self, shapes: list[Shape], out: list[Shape]) -> list[Op]:
        tensor = () if self.tensor_shape is None else tuple(self.tensor_shape)
        params = (("tensor", prod(tensor)),) if tensor and not self.constant else ()
        # Multiplying or dividing by a scalar keeps no tensor for backward; a scalar over x
        # keeps PyTorch's intermediate reciprocal (reversed_scalar_keeps).
        saves = self.op_saves if self.scalar is None else ()
        reciprocal = self.scalar is not None and self.reverse and self.reversed_scalar_keeps
        kept = (("act", prod(out[0])),) if reciprocal else ()
        if tensor and saves:
            saves = ("input",)
        inputs = tuple(shapes) + ((tensor,) if tensor else ())
        return [Op(self.op_name, self.op_family, inputs, out[0], params=params, saves=saves, saved_extra=kept)]


class Add(_Arithmetic):
    """Elementwise sum of two or more tensors (residual connections), with broadcasting;
    or of one tensor and a `scalar`, or a tensor of its own of `tensor_shape`.

    ```yaml
    - Add: {from: [main, shortcut]}
    - Add: {scalar: 1.0}                       # x + 1
    - Add: {tensor_shape: [1, 197, 768]}       # a learned position table, broadcast
    ```
    """

    commutative = True
    pytorch = TorchSide(
        "runtime.Add",
        tensors="all",
        functions={"operator.add": (), "operator.iadd": (), "torch.add": (), "method.add": (), "method.add_": ()},
    )
    op_name = "add"
    op_family = "elementwise"


class Mul(_Arithmetic):
    """Elementwise product with broadcasting (e.g. squeeze-and-excitation gating); or by a
    `scalar`, or by a tensor of its own of `tensor_shape`.

    ```yaml
    - Mul: {from: [features, gate]}   # (1,64,56,56) * (1,64,1,1)
    - Mul: {scalar: 0.5}              # x * 0.5
    ```
    """

    symbol = "*"
    commutative = True
    pytorch = TorchSide(
        "runtime.Mul",
        tensors="all",
        functions={"operator.mul": (), "operator.imul": (), "torch.mul": (), "method.mul": (), "method.mul_": ()},
    )
    op_name = "mul"
    op_saves = ("inputs",)
    op_family = "elementwise"


class Sub(_Arithmetic):
    """Elementwise difference of two tensors, with broadcasting: the first minus the second
    (or minus a `scalar`, or a tensor of its own of `tensor_shape`).

    ```yaml
    - Sub: {from: [a, b]}   # a - b (a siamese network's distance: Sub, then Abs)
    - Sub: {scalar: 0.5}    # x - 0.5
    ```
    """

    symbol = "-"
    pytorch = TorchSide(
        "runtime.Sub",
        tensors="all",
        functions={"operator.sub": (), "operator.isub": (), "torch.sub": (), "method.sub": (), "method.sub_": ()},
    )

    max_inputs: ClassVar[int | None] = 2
    op_name = "sub"
    op_family = "elementwise"


class Div(_Arithmetic):
    """Elementwise true division of two tensors, with broadcasting: the first over the
    second (or over a `scalar`, or a tensor of its own of `tensor_shape`).

    ```yaml
    - Div: {from: [x, norm]}   # x / norm
    - Div: {scalar: 255.0}     # x / 255
    ```
    """

    symbol = "/"
    pytorch = TorchSide(
        "runtime.Div",
        tensors="all",
        functions={
            "operator.truediv": (),
            "operator.itruediv": (),
            "torch.div": (),
            "torch.true_divide": (),
            "method.div": (),
            "method.div_": (),
        },
    )

    max_inputs: ClassVar[int | None] = 2
    op_name = "div"
    op_saves = ("inputs",)
    reversed_scalar_keeps = True
    op_family = "elementwise"


class _Extremum(_Elementwise):
    max_inputs: ClassVar[int | None] = 2
    op_family = "elementwise"
    op_saves = ("inputs",)


class Maximum(_Extremum):
    """Elementwise maximum of two tensors, with broadcasting (torch.maximum).

    ```yaml
    - Maximum: {from: [a, b]}
    ```
    """

    pytorch = TorchSide("runtime.Maximum", tensors="all", functions={"torch.maximum": (), "method.maximum": ()})
    op_name = "maximum"


class Minimum(_Extremum):
    """Elementwise minimum of two tensors, with broadcasting (torch.minimum).

    ```yaml
    - Minimum: {from: [a, b]}
    ```
    """

    pytorch = TorchSide("runtime.Minimum", tensors="all", functions={"torch.minimum": (), "method.minimum": ()})
    op_name = "minimum"


class Concat(Layer):
    """Concatenation along `dim` (default 1, the channels; torch.cat's own default is 0).

    ```yaml
    - Concat: {from: [branch1, branch2, branch3], dim: 1}
    ```
    """

    pytorch = TorchSide(
        "runtime.Concat", tensors="sequence", functions={"torch.cat": (("dim", 0),), "torch.concat": (("dim", 0),)}
    )

    family = "merge"
    op_name = "concat"
    min_inputs = 1
    max_inputs = None

    dim: Int = 1

    def infer(self, shapes: list[Shape]) -> Result:
        rank = len(shapes[0])
        if not -rank <= self.dim < rank:
            raise ShapeError(f"dim {self.dim} is out of range for {rank}-D inputs")
        dim = self.dim % rank
        for shape in shapes[1:]:
            if len(shape) != rank or any(
                a != b for i, (a, b) in enumerate(zip(shape, shapes[0], strict=True)) if i != dim
            ):
                listed = " vs ".join(fmt_shape(s) for s in shapes)
                raise ShapeError(
                    f"inputs must match except in dim {dim}: {listed}", hint=_concat_fix(shapes[0], shape, dim)
                )
        total = sum(shape[dim] for shape in shapes)
        out = shapes[0][:dim] + (total,) + shapes[0][dim + 1 :]
        return Result([out], working=[f"dim {dim}: " + " + ".join(str(s[dim]) for s in shapes) + f" = {total}"])

    def receptive_field(self, rfs: list[RF], shapes: list[Shape], out: list[Shape]) -> list[RF]:
        return [merge_rfs(rfs)]


def matmul_macs(module: Any, inputs: list[Shape], output: Shape) -> int:
    """torch.matmul's multiply-adds: one per output element per element of the contracted axis."""
    return prod(output) * inputs[0][-1]


class MatMul(Layer):
    """Matrix product of two tensors, torch.matmul (`a @ b`): (..., n, k) @ (..., k, m) ->
    (..., n, m), the leading dims broadcast. No weights; its multiply-adds are
    n x k x m per matrix (an attention's q·kᵀ and weights·v written out).

    ```yaml
    - MatMul: {from: [q, k]}   # (1, 2, 400, 32) @ (1, 2, 32, 400) -> (1, 2, 400, 400)
    ```
    """

    pytorch = TorchSide(
        "runtime.MatMul",
        tensors="all",
        functions={"operator.matmul": (), "torch.matmul": (), "method.matmul": (), "torch.bmm": (), "method.bmm": ()},
    )
    torch_macs = staticmethod(matmul_macs)

    family = "merge"
    min_inputs = 2
    max_inputs = 2

    def infer(self, shapes: list[Shape]) -> Result:
        a, b = shapes
        if len(a) < 2 or len(b) < 2:
            raise ShapeError(
                f"MatMul takes two tensors of at least 2 dims (..., n, k) and (..., k, m), got "
                f"{fmt_shape(a)} and {fmt_shape(b)}"
            )
        if a[-1] != b[-2]:
            raise ShapeError(
                f"MatMul: {fmt_shape(a)} @ {fmt_shape(b)}: the first's last dim ({a[-1]}) must equal "
                f"the second's next-to-last ({b[-2]})",
                hint="transpose one of them first (Permute), as q @ k.transpose(-2, -1)",
            )
        batch = broadcast("MatMul", [a[:-2], b[:-2]]) if len(a) > 2 or len(b) > 2 else ()
        out = (*batch, a[-2], b[-1])
        macs = prod(out) * a[-1]
        return Result(
            [out],
            macs=macs,
            working=[
                f"{fmt_shape(a)} @ {fmt_shape(b)} -> {fmt_shape(out)}",
                f"MACs: output elements x contracted {a[-1]} = {prod(out):,} x {a[-1]} = {macs:,}",
            ],
        )

    def receptive_field(self, rfs: list[RF], shapes: list[Shape], out: list[Shape]) -> list[RF]:
        return [merge_rfs(rfs)]

    def ops(self, shapes: list[Shape], out: list[Shape]) -> list[Op]:
        return [Op("matmul", "matmul", tuple(shapes), out[0], macs=prod(out[0]) * shapes[0][-1], saves=("inputs",))]


def _concat_fix(first: Shape, other: Shape, dim: int) -> str:
    """The usual fix for a concatenation whose inputs disagree: the dim they do differ in,
    or an Upsample (U-Net's decoder) when the maps differ by a whole factor."""
    if len(first) != len(other):
        return f"the inputs have {len(first)} and {len(other)} dimensions: flatten or reshape one of them first"
    differ = [i for i, (a, b) in enumerate(zip(first, other, strict=True)) if a != b]
    if len(differ) == 1:
        return f"they differ only in dim {differ[0]}: concatenate along it (dim: {differ[0]})"
    if len(first) >= 3 and all(i >= 2 or i == dim for i in differ):
        bigger, smaller = (first, other) if first[2] >= other[2] else (other, first)
        factor = _spatial_factor(smaller, bigger)
        if factor is not None:
            return (
                f"the maps differ by a factor of {factor}: an Upsample (scale_factor: {factor}) on the smaller "
                f"input {fmt_shape(smaller)}, as U-Net's decoder does, or a stride of {factor} on the larger"
            )
        gap = [b - a for a, b in zip(smaller[2:], bigger[2:], strict=True)]
        return f"the maps differ by {gap} elements: pad the smaller (ZeroPad2d) or crop the larger so they match"
    return ""


KINDS = [Add, Mul, Sub, Div, Maximum, Minimum, Concat, MatMul]
