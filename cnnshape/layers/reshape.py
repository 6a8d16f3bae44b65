"""Layers that rearrange a tensor without computing: Flatten, Unflatten, Reshape,
Permute, ExpandAs, ReshapeAs, and the reductions Mean and Sum."""

from __future__ import annotations

from math import prod
from typing import Any, Optional, Union

from cnnshape.errors import ShapeError
from cnnshape.layers.base import RF, Bool, Int, Layer, Result, Shape, fmt_shape
from cnnshape.layers.torchside import TorchSide


def _dim(dim: int, rank: int) -> int:
    if not -rank <= dim < rank:
        raise ShapeError(f"dim {dim} is out of range for a {rank}-D input")
    return dim % rank


def _regroup(rf: RF, keep: dict[int, int], shape: Shape, merged: set[int]) -> RF:
    """RF after dims move: `keep` maps surviving old dims to new; merging a spatial dim
    (even a 1-wide one) flattens the field, which keeps its size for display."""
    if rf.kind != "spatial":
        return rf
    if any(d in merged for d in rf.dims):
        return rf.flattened()
    pairs = [(keep[d], axis) for d, axis in zip(rf.dims, rf.axes, strict=True) if d in keep]
    return RF("spatial", tuple(d for d, _ in pairs), tuple(a for _, a in pairs), rf.unaligned, rf.global_context)


# Tensor methods and torch functions that reshape: a flatten when they keep the batch and
# fold the rest into one dim, else a Reshape.
VIEW_TARGETS = (
    "method.view",
    "method.reshape",
    "torch.reshape",
    "method.squeeze",
    "method.unsqueeze",
    "torch.squeeze",
    "torch.unsqueeze",
)


class Flatten(Layer):
    """Flattens dims `start_dim`..`end_dim` into one (default: all but the batch).

    ```yaml
    - Flatten                  # (N, C, H, W) -> (N, C*H*W)
    - Flatten: {start_dim: 2}  # (N, C, H, W) -> (N, C, H*W)
    ```
    """

    pytorch = TorchSide(
        "nn.Flatten",
        functions={
            "torch.flatten": (("start_dim", 0), ("end_dim", -1)),
            "method.flatten": (("start_dim", 0), ("end_dim", -1)),
            **{target: () for target in VIEW_TARGETS},
        },
    )

    @classmethod
    def from_torch_call(
        cls, target: str, bound: dict[str, Any], in_shape: Shape, out_shapes: list[Shape]
    ) -> Optional[dict[str, Any]]:
        if target in VIEW_TARGETS:
            # A view that folds neighbouring dims into one is a flatten of those dims, so
            # the spec keeps the batch and the other sizes relative to its input (ShuffleNet's
            # x.view(batch, -1, height, width)).
            out = out_shapes[0]
            merged = _merged_dims(in_shape, out)
            if merged is None:
                return None
            start, end = merged
            args: dict[str, Any] = {}
            if start != 1:
                args["start_dim"] = start
            if end != len(in_shape) - 1:
                args["end_dim"] = end
            return args
        return super().from_torch_call(target, bound, in_shape, out_shapes)

    op_name = "flatten"
    op_view = True

    family = "reshape"

    start_dim: Int = 1
    end_dim: Int = -1

    def _range(self, shape: Shape) -> tuple[int, int]:
        start, end = _dim(self.start_dim, len(shape)), _dim(self.end_dim, len(shape))
        if start > end:
            raise ShapeError(f"start_dim {self.start_dim} comes after end_dim {self.end_dim}")
        return start, end

    def infer(self, shapes: list[Shape]) -> Result:
        (shape,) = shapes
        start, end = self._range(shape)
        size = prod(shape[start : end + 1])
        out = shape[:start] + (size,) + shape[end + 1 :]
        return Result(
            [out], working=[f"dims {start}..{end} flattened: {'*'.join(map(str, shape[start : end + 1]))} = {size:,}"]
        )

    def receptive_field(self, rfs: list[RF], shapes: list[Shape], out: list[Shape]) -> list[RF]:
        shape = shapes[0]
        start, end = self._range(shape)
        keep = {d: (d if d < start else d - (end - start)) for d in range(len(shape)) if not start < d <= end}
        return [_regroup(rfs[0], keep, shape, set(range(start, end + 1)) if end > start else set())]


class Unflatten(Layer):
    """Splits dim `dim` into `unflattened_size` (one entry may be -1).

    ```yaml
    - Unflatten: {dim: 1, unflattened_size: [256, 6, 6]}
    ```
    """

    pytorch = TorchSide("nn.Unflatten", ("dim", "unflattened_size"), functions={target: () for target in VIEW_TARGETS})

    @classmethod
    def from_torch_call(
        cls, target: str, bound: dict[str, Any], in_shape: Shape, out_shapes: list[Shape]
    ) -> Optional[dict[str, Any]]:
        # A view that splits one dim (ShuffleNet's x.view(batch, groups, -1, height, width))
        # keeps the other sizes relative to its input.
        out = out_shapes[0]
        extra = len(out) - len(in_shape)
        if extra < 1:
            return None
        for dim in range(len(in_shape)):
            sizes = out[dim : dim + extra + 1]
            if (
                out[:dim] == in_shape[:dim]
                and out[dim + extra + 1 :] == in_shape[dim + 1 :]
                and prod(sizes) == in_shape[dim]
            ):
                return {"dim": dim, "unflattened_size": list(sizes)}
        return None

    op_name = "unflatten"
    op_view = True

    family = "reshape"

    dim: Int
    unflattened_size: tuple[Int, ...]

    def infer(self, shapes: list[Shape]) -> Result:
        (shape,) = shapes
        dim = _dim(self.dim, len(shape))
        sizes = _fill(list(self.unflattened_size), shape[dim], f"dim {dim} of size {shape[dim]}")
        return Result([shape[:dim] + sizes + shape[dim + 1 :]])

    def receptive_field(self, rfs: list[RF], shapes: list[Shape], out: list[Shape]) -> list[RF]:
        return [_reshaped(rfs[0], shapes[0], out[0])]


def _merged_dims(in_shape: Shape, out: Shape) -> Optional[tuple[int, int]]:
    """(start, end) when `out` is `in_shape` with dims start..end folded into one, the
    batch kept where it can be."""
    fold = len(in_shape) - len(out)
    if fold < 1:
        return None
    for start in (*range(1, len(out)), 0):
        end = start + fold
        if (
            end < len(in_shape)
            and out[:start] == in_shape[:start]
            and out[start + 1 :] == in_shape[end + 1 :]
            and out[start] == prod(in_shape[start : end + 1])
        ):
            return start, end
    return None


def _fill(sizes: list[int], total: int, what: str) -> tuple[int, ...]:
    """Resolve one -1 so the product equals `total` (torch.reshape's rule)."""
    if sizes.count(-1) > 1:
        raise ShapeError("only one size may be -1")
    if any(size < -1 or size == 0 for size in sizes):
        raise ShapeError(f"sizes must be positive or -1, got {sizes}")
    known = prod(size for size in sizes if size != -1)
    if -1 in sizes:
        if total % known:
            raise ShapeError(f"cannot reshape {what}: {total:,} is not divisible by {known:,}")
        sizes[sizes.index(-1)] = total // known
    if prod(sizes) != total:
        raise ShapeError(f"cannot reshape {what} into {fmt_shape(tuple(sizes))}: {total:,} elements vs {prod(sizes):,}")
    return tuple(sizes)


def _reshaped(rf: RF, before: Shape, after: Shape) -> RF:
    """A reshape keeps the field only when the spatial dims stay in place, unchanged."""
    if rf.kind != "spatial" or not rf.dims:
        return rf
    tail = len(before) - min(rf.dims)
    if before[-tail:] == after[-tail:]:
        shift = len(after) - len(before)
        return rf.with_dims(tuple(d + shift for d in rf.dims))
    return rf.flattened()


class Reshape(Layer):
    """Reshapes to `shape` (batch included; one entry may be -1), like torch.reshape.

    ```yaml
    - Reshape: {shape: [1, 768, -1]}
    - Reshape: {shape: [-1, 512]}
    ```
    """

    pytorch = TorchSide("runtime.Reshape", ("shape",), functions={target: () for target in VIEW_TARGETS})

    @classmethod
    def from_torch_call(
        cls, target: str, bound: dict[str, Any], in_shape: Shape, out_shapes: list[Shape]
    ) -> Optional[dict[str, Any]]:
        return {"shape": list(out_shapes[0])}

    op_name = "reshape"
    op_view = True

    family = "reshape"

    shape: tuple[Int, ...]

    def infer(self, shapes: list[Shape]) -> Result:
        (shape,) = shapes
        out = _fill(list(self.shape), prod(shape), fmt_shape(shape))
        return Result([out])

    def receptive_field(self, rfs: list[RF], shapes: list[Shape], out: list[Shape]) -> list[RF]:
        return [_reshaped(rfs[0], shapes[0], out[0])]


class Permute(Layer):
    """Reorders dims, like torch.permute (e.g. NCHW -> NHWC for channels-last LayerNorm).

    ```yaml
    - Permute: {dims: [0, 2, 3, 1]}
    ```
    """

    pytorch = TorchSide(
        "runtime.Permute",
        ("dims",),
        functions={
            "method.permute": (),
            "torch.permute": (),
            "method.transpose": (("dim0", 0), ("dim1", 1)),
            "torch.transpose": (("dim0", 0), ("dim1", 1)),
            "method.swapaxes": (("dim0", 0), ("dim1", 1)),
            "torch.swapaxes": (("dim0", 0), ("dim1", 1)),
        },
    )

    @classmethod
    def from_torch_call(
        cls, target: str, bound: dict[str, Any], in_shape: Shape, out_shapes: list[Shape]
    ) -> Optional[dict[str, Any]]:
        rank = len(in_shape)
        if "dim0" in bound:  # transpose: swap two dims
            order = list(range(rank))
            a, b = bound["dim0"] % rank, bound["dim1"] % rank
            order[a], order[b] = order[b], order[a]
            return {"dims": order}
        dims = bound.get("dims", bound.get("*"))
        if isinstance(dims, (list, tuple)) and len(dims) == 1 and isinstance(dims[0], (list, tuple)):
            dims = dims[0]
        return {"dims": [int(d) for d in dims]} if isinstance(dims, (list, tuple)) else None

    op_name = "permute"
    op_view = True

    family = "reshape"

    dims: tuple[Int, ...]

    def _order(self, shape: Shape) -> list[int]:
        if len(self.dims) != len(shape):
            raise ShapeError(f"dims {list(self.dims)} has {len(self.dims)} entries for a {len(shape)}-D input")
        order = [_dim(d, len(shape)) for d in self.dims]
        if sorted(order) != list(range(len(shape))):
            raise ShapeError(f"dims {list(self.dims)} is not a permutation of 0..{len(shape) - 1}")
        return order

    def infer(self, shapes: list[Shape]) -> Result:
        (shape,) = shapes
        return Result([tuple(shape[d] for d in self._order(shape))])

    def receptive_field(self, rfs: list[RF], shapes: list[Shape], out: list[Shape]) -> list[RF]:
        order = self._order(shapes[0])
        return [_regroup(rfs[0], {old: new for new, old in enumerate(order)}, shapes[0], set())]


def _reduction(name: str, all_dims: Any) -> TorchSide:
    """The PyTorch side of a reduction over `dim`: cnnshape's runtime module, and the
    `torch.NAME` / `x.NAME` calls (`all_dims`: the default dim, which reduces them all)."""
    call = name.lower()
    signature = (("dim", all_dims), ("keepdim", False))
    return TorchSide(f"runtime.{name}", ("dim",), functions={f"method.{call}": signature, f"torch.{call}": signature})


class Mean(Layer):
    """Mean over `dim` (an int or a list), like torch.mean; `keepdim` keeps them as size 1.

    ```yaml
    - Mean: {dim: [2, 3]}               # global average pooling, (N, C)
    - Mean: {dim: 1, keepdim: true}
    ```
    """

    pytorch = _reduction("Mean", None)

    @classmethod
    def from_torch_call(
        cls, target: str, bound: dict[str, Any], in_shape: Shape, out_shapes: list[Shape]
    ) -> Optional[dict[str, Any]]:
        dim = bound["dim"]
        dim = [] if dim is None else (list(dim) if isinstance(dim, (tuple, list)) else dim)
        return {"dim": dim, **({"keepdim": True} if bound["keepdim"] else {})}

    op_name = "mean"
    op_family = "pooling"

    family = "reshape"

    dim: Union[Int, tuple[Int, ...]]
    keepdim: Bool = False

    def _dims(self, shape: Shape) -> set[int]:
        dims = (self.dim,) if isinstance(self.dim, int) else self.dim
        if not dims:
            # torch.mean reduces every dim when given an empty list, as with dim=None.
            return set(range(len(shape)))
        resolved = [_dim(d, len(shape)) for d in dims]
        for d in resolved:
            if resolved.count(d) > 1:
                raise ShapeError(f"dim {d} appears multiple times in the list of dims")
        return set(resolved)

    def infer(self, shapes: list[Shape]) -> Result:
        (shape,) = shapes
        dims = self._dims(shape)
        if self.keepdim:
            out = tuple(1 if i in dims else size for i, size in enumerate(shape))
        else:
            out = tuple(size for i, size in enumerate(shape) if i not in dims)
        return Result([out])

    def receptive_field(self, rfs: list[RF], shapes: list[Shape], out: list[Shape]) -> list[RF]:
        rf, dims = rfs[0], self._dims(shapes[0])
        if rf.kind == "flat" or (rf.kind == "spatial" and any(d in dims and shapes[0][d] > 1 for d in rf.dims)):
            return [rf.globalised()]
        if self.keepdim or rf.kind != "spatial":
            return [rf]
        keep = {d: d - sum(1 for r in dims if r < d) for d in range(len(shapes[0])) if d not in dims}
        return [_regroup(rf, keep, shapes[0], set())]


class Amax(Mean):
    """Maximum over `dim` (an int or a list), like torch.amax; `keepdim` keeps them as size 1
    (YOLO-World's attention weight, `aw.max(dim=-1)[0]`, the largest over the classes).

    ```yaml
    - Amax: {dim: -1}
    - Amax: {dim: [2, 3], keepdim: true}   # global max pooling, (N, C, 1, 1)
    ```
    """

    pytorch = _reduction("Amax", ())

    op_name = "amax"


class Sum(Mean):
    """Sum over `dim` (an int or a list), like torch.sum; `keepdim` keeps them as size 1
    (ResNeSt's split attention adds its radix groups, `x.sum(dim=1)`; multi-scale deformable
    attention's weighted sum of its sampled values).

    ```yaml
    - Sum: {dim: 1}                     # (N, R, C, H, W) -> (N, C, H, W)
    ```
    """

    pytorch = TorchSide(
        "runtime.Sum",
        ("dim",),
        functions={
            "method.sum": (("dim", None), ("keepdim", False)),
            "torch.sum": (("dim", None), ("keepdim", False)),
        },
    )

    op_name = "sum"


class ExpandAs(Layer):
    """x.expand_as(other): the first input broadcast to the second's shape (a view).

    ECA's gate, `x * y.expand_as(x)`. Each dim of the first must equal the other's or be 1.

    ```yaml
    - ExpandAs: {from: [gate, features]}    # (1, 64, 1, 1) -> (1, 64, 56, 56)
    ```
    """

    pytorch = TorchSide("runtime.ExpandAs", tensors="all", functions={"method.expand_as": ()})
    op_name = "reshape"
    op_view = True

    family = "reshape"
    min_inputs = 2
    max_inputs = 2

    def infer(self, shapes: list[Shape]) -> Result:
        x, other = shapes
        padded = (1,) * (len(other) - len(x)) + tuple(x)
        if len(x) > len(other) or any(a not in (1, b) for a, b in zip(padded, other, strict=True)):
            raise ShapeError(
                f"{fmt_shape(x)} cannot expand to {fmt_shape(other)}: aligned from the last dim, "
                "each size must equal the other's or be 1"
            )
        return Result([tuple(other)])

    def receptive_field(self, rfs: list[RF], shapes: list[Shape], out: list[Shape]) -> list[RF]:
        rf = rfs[0]
        if rf.kind == "spatial" and len(shapes[0]) == len(out[0]):
            return [rf]
        return [rf.flattened()] if rf.kind == "spatial" else [rf]


class ReshapeAs(Layer):
    """x.reshape_as(other): the first input reshaped to the second's shape.

    LeViT's `bn(x.flatten(0, 1)).reshape_as(x)`; the element counts must be equal.

    ```yaml
    - ReshapeAs: {from: [normed, tokens]}   # (196, 128) -> (1, 196, 128)
    ```
    """

    pytorch = TorchSide("runtime.ReshapeAs", tensors="all", functions={"method.reshape_as": (), "method.view_as": ()})
    op_name = "reshape"
    op_view = True

    family = "reshape"
    min_inputs = 2
    max_inputs = 2

    def infer(self, shapes: list[Shape]) -> Result:
        x, other = shapes
        if prod(x) != prod(other):
            raise ShapeError(
                f"cannot reshape {fmt_shape(x)} ({prod(x):,} elements) as {fmt_shape(other)} ({prod(other):,})"
            )
        return Result([tuple(other)])

    def receptive_field(self, rfs: list[RF], shapes: list[Shape], out: list[Shape]) -> list[RF]:
        return [_reshaped(rfs[0], shapes[0], out[0])]


KINDS = [Flatten, Unflatten, Reshape, Permute, ExpandAs, ReshapeAs, Mean, Amax, Sum]
