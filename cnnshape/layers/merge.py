"""Graph operations that join tensors: Add and Mul (with broadcasting) and Concat.

They take their inputs from `from: [a, b, ...]`; the receptive field where paths meet
is the largest of the paths, and paths with different stride or centre are flagged.
"""

from __future__ import annotations

from cnnshape.errors import ShapeError
from cnnshape.layers.base import RF, Int, Layer, Result, Shape, fmt_shape, merge_rfs
from cnnshape.layers.torchside import TorchSide


def broadcast(kind: str, shapes: list[Shape]) -> Shape:
    """PyTorch's broadcasting: align trailing dims; each pair equal or one of them 1."""
    rank = max(len(shape) for shape in shapes)
    padded = [(1,) * (rank - len(shape)) + tuple(shape) for shape in shapes]
    out = []
    for dim, sizes in enumerate(zip(*padded)):
        distinct = {size for size in sizes if size != 1}
        if len(distinct) > 1:
            what = "channel" if dim == 1 else f"dimension {dim}"
            listed = " vs ".join(fmt_shape(shape) for shape in shapes)
            raise ShapeError(f"{what} mismatch at {kind}: {listed} (sizes {sorted(distinct)} cannot broadcast)")
        out.append(distinct.pop() if distinct else 1)
    return tuple(out)


class _Elementwise(Layer):
    family = "merge"
    min_inputs = 2
    max_inputs = None

    def infer(self, shapes: list[Shape]) -> Result:
        return Result([broadcast(self.kind(), shapes)])

    def receptive_field(self, rfs: list[RF], shapes: list[Shape], out: list[Shape]) -> list[RF]:
        return [merge_rfs(rfs)]


class Add(_Elementwise):
    """Elementwise sum of two or more tensors (residual connections), with broadcasting.

    ```yaml
    - Add: {from: [main, shortcut]}
    ```
    """

    pytorch = TorchSide("runtime.Add", tensors="all", functions={
        "operator.add": (), "operator.iadd": (), "torch.add": (), "method.add": (), "method.add_": ()})
    op_name = "add"
    op_family = "elementwise"


class Mul(_Elementwise):
    """Elementwise product with broadcasting (e.g. squeeze-and-excitation gating).

    ```yaml
    - Mul: {from: [features, gate]}   # (1,64,56,56) * (1,64,1,1)
    ```
    """

    pytorch = TorchSide("runtime.Mul", tensors="all", functions={
        "operator.mul": (), "operator.imul": (), "torch.mul": (), "method.mul": (), "method.mul_": ()})
    op_name = "mul"
    op_family = "elementwise"


class Concat(Layer):
    """Concatenation along `dim` (default 1, the channels; torch.cat's own default is 0).

    ```yaml
    - Concat: {from: [branch1, branch2, branch3], dim: 1}
    ```
    """

    pytorch = TorchSide("runtime.Concat", tensors="sequence",
                        functions={"torch.cat": (("dim", 0),), "torch.concat": (("dim", 0),)})

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
            if len(shape) != rank or any(a != b for i, (a, b) in enumerate(zip(shape, shapes[0])) if i != dim):
                listed = " vs ".join(fmt_shape(s) for s in shapes)
                raise ShapeError(f"inputs must match except in dim {dim}: {listed}")
        total = sum(shape[dim] for shape in shapes)
        out = shapes[0][:dim] + (total,) + shapes[0][dim + 1:]
        return Result([out], working=[f"dim {dim}: " + " + ".join(str(s[dim]) for s in shapes) + f" = {total}"])

    def receptive_field(self, rfs: list[RF], shapes: list[Shape], out: list[Shape]) -> list[RF]:
        return [merge_rfs(rfs)]


KINDS = [Add, Mul, Concat]
