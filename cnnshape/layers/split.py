"""Multi-output and selection operations: Chunk, Split, Unbind, ChannelShuffle, Select,
Slice, TopK, Gather.

A layer with several outputs is referred to as a whole (`from: name`, all outputs) or one
output at a time (`from: name.0`, `name.1`, ...).
"""

from __future__ import annotations

from typing import Any, Optional, Union

from cnnshape.errors import ShapeError
from cnnshape.layers.base import RF, Bool, Int, Layer, PosInt, Result, Shape, check_rank, fmt_shape
from cnnshape.layers.torchside import TorchSide


def _dim(dim: int, rank: int) -> int:
    if not -rank <= dim < rank:
        raise ShapeError(f"dim {dim} is out of range for a {rank}-D input")
    return dim % rank


class Chunk(Layer):
    """torch.chunk: `chunks` pieces along `dim` (default 1 here; torch.chunk's is 0).

    Each piece has ceil(size / chunks) elements, the last may be smaller, as in PyTorch;
    the layer must produce exactly `chunks` pieces.

    ```yaml
    - Chunk: {chunks: 2, name: halves}
    - Conv2d: {out_channels: 58, kernel_size: 1, from: halves.1}
    ```
    """

    pytorch = TorchSide(
        "runtime.Chunk",
        ("chunks",),
        functions={"method.chunk": (("chunks", None), ("dim", 0)), "torch.chunk": (("chunks", None), ("dim", 0))},
    )
    op_name = "chunk"
    op_view = True

    family = "split"

    chunks: PosInt
    dim: Int = 1

    def num_outputs(self) -> int:
        return self.chunks

    def infer(self, shapes: list[Shape]) -> Result:
        (shape,) = shapes
        dim = _dim(self.dim, len(shape))
        size = shape[dim]
        piece = -(-size // self.chunks)
        sizes = [min(piece, size - i * piece) for i in range(self.chunks)]
        if any(s <= 0 for s in sizes):
            raise ShapeError(
                f"dim {dim} of size {size} gives fewer than {self.chunks} chunks (torch.chunk would return fewer)"
            )
        outs = [shape[:dim] + (s,) + shape[dim + 1 :] for s in sizes]
        return Result(outs, working=[f"dim {dim}: {size} -> " + " + ".join(map(str, sizes))])

    def receptive_field(self, rfs: list[RF], shapes: list[Shape], out: list[Shape]) -> list[RF]:
        return [rfs[0]] * len(out)


class Split(Layer):
    """torch.split: pieces of `split_size_or_sections` along `dim` (default 1 here).

    The sections are a list of sizes that must add up to the size of `dim` (cnnshape needs
    the number of outputs from the arguments, so PyTorch's single-int form is written out).

    ```yaml
    - Split: {split_size_or_sections: [64, 64, 128], name: parts}
    ```
    """

    pytorch = TorchSide(
        "runtime.Split",
        ("split_size_or_sections",),
        functions={
            "method.split": (("split_size_or_sections", None), ("dim", 0)),
            "torch.split": (("split_size_or_sections", None), ("dim", 0)),
        },
    )

    @classmethod
    def from_torch_call(
        cls, target: str, bound: dict[str, Any], in_shape: Shape, out_shapes: list[Shape]
    ) -> Optional[dict[str, Any]]:
        dim = bound["dim"] % len(in_shape)
        sections = [int(shape[dim]) for shape in out_shapes]
        return {"split_size_or_sections": sections, **({} if dim == 1 else {"dim": dim})}

    op_name = "split"
    op_view = True

    family = "split"

    split_size_or_sections: tuple[PosInt, ...]
    dim: Int = 1

    def num_outputs(self) -> int:
        return len(self.split_size_or_sections)

    def infer(self, shapes: list[Shape]) -> Result:
        (shape,) = shapes
        dim = _dim(self.dim, len(shape))
        sections = list(self.split_size_or_sections)
        if sum(sections) != shape[dim]:
            raise ShapeError(
                f"sections {sections} add up to {sum(sections)}, but dim {dim} of {fmt_shape(shape)} is {shape[dim]}"
            )
        return Result([shape[:dim] + (s,) + shape[dim + 1 :] for s in sections])

    def receptive_field(self, rfs: list[RF], shapes: list[Shape], out: list[Shape]) -> list[RF]:
        return [rfs[0]] * len(out)


class Unbind(Layer):
    """torch.unbind: the `size` slices along `dim`, each without that dim.

    A ViT attention's `q, k, v = qkv.unbind(0)`. `size` must equal the size of `dim`:
    cnnshape needs the number of outputs from the arguments.

    ```yaml
    - Unbind: {dim: 0, size: 2, name: kv}    # (2, 197, 768) -> two (197, 768)
    - MatMul: {from: [kv.0, kv.1]}
    ```
    """

    pytorch = TorchSide(
        "runtime.Unbind",
        ("size",),
        functions={"method.unbind": (("dim", 0),), "torch.unbind": (("dim", 0),)},
    )

    @classmethod
    def from_torch_call(
        cls, target: str, bound: dict[str, Any], in_shape: Shape, out_shapes: list[Shape]
    ) -> Optional[dict[str, Any]]:
        if "*" in bound or not in_shape:
            return None
        return {"size": in_shape[bound["dim"] % len(in_shape)], "dim": bound["dim"]}

    op_name = "select"
    op_view = True

    family = "split"

    size: PosInt
    dim: Int = 0

    def num_outputs(self) -> int:
        return self.size

    def infer(self, shapes: list[Shape]) -> Result:
        (shape,) = shapes
        dim = _dim(self.dim, len(shape))
        if shape[dim] != self.size:
            raise ShapeError(
                f"size {self.size} but dim {dim} of {fmt_shape(shape)} is {shape[dim]}",
                hint=f"size: {shape[dim]}, one output per index of dim {dim}",
            )
        return Result([shape[:dim] + shape[dim + 1 :]] * self.size)

    def receptive_field(self, rfs: list[RF], shapes: list[Shape], out: list[Shape]) -> list[RF]:
        return Select(dim=self.dim, index=0).receptive_field(rfs, shapes, out[:1]) * len(out)


class ChannelShuffle(Layer):
    """nn.ChannelShuffle: interleaves the channels of `groups` groups (ShuffleNet).

    ```yaml
    - ChannelShuffle: {groups: 2}
    ```
    """

    pytorch = TorchSide("runtime.ChannelShuffle", ("groups",), modules=("nn.ChannelShuffle",))
    op_name = "channel_shuffle"

    family = "split"

    groups: PosInt

    def infer(self, shapes: list[Shape]) -> Result:
        (shape,) = shapes
        check_rank(self.kind(), shape, tuple(range(3, 9)), "N, C, *")
        if shape[1] % self.groups:
            raise ShapeError(f"{shape[1]} channels are not divisible by groups={self.groups}")
        return Result([shape])


class Select(Layer):
    """tensor.select(dim, index): drops `dim`, keeping one index (ViT's class token: x[:, 0]).

    ```yaml
    - Select: {dim: 1, index: 0}
    ```
    """

    pytorch = TorchSide(
        "runtime.Select",
        ("dim", "index"),
        functions={
            "method.select": (("dim", None), ("index", None)),
            "torch.select": (("dim", None), ("index", None)),
            "operator.getitem": (("index", None),),
        },
    )

    @classmethod
    def from_torch_call(
        cls, target: str, bound: dict[str, Any], in_shape: Shape, out_shapes: list[Shape]
    ) -> Optional[dict[str, Any]]:
        if target != "operator.getitem":
            return {"dim": bound["dim"], "index": bound["index"]}
        # x[:, i]: one integer, every other position a full slice.
        index = tuple(bound["index"]) if isinstance(bound["index"], (tuple, list)) else (bound["index"],)
        ints = [(i, item) for i, item in enumerate(index) if isinstance(item, int) and not isinstance(item, bool)]
        full = all(isinstance(item, int) or item == slice(None) for item in index)
        return {"dim": ints[0][0], "index": ints[0][1]} if full and len(ints) == 1 else None

    op_name = "select"
    op_view = True

    family = "split"

    dim: Int
    index: Int

    def infer(self, shapes: list[Shape]) -> Result:
        (shape,) = shapes
        dim = _dim(self.dim, len(shape))
        if not -shape[dim] <= self.index < shape[dim]:
            raise ShapeError(f"index {self.index} is out of range for dim {dim} of size {shape[dim]}")
        return Result([shape[:dim] + shape[dim + 1 :]])

    def receptive_field(self, rfs: list[RF], shapes: list[Shape], out: list[Shape]) -> list[RF]:
        rf, dim = rfs[0], _dim(self.dim, len(shapes[0]))
        if rf.kind != "spatial" or not rf.dims:
            return [rf]
        if dim in rf.dims:
            return [rf.flattened()]
        return [rf.with_dims(tuple(d - (d > dim) for d in rf.dims))]


class TopK(Layer):
    """torch.topk: the `k` largest (`largest: false`: smallest) elements along `dim`; two
    outputs, the values and their int64 indices (`name.0`, `name.1`), each the input's shape
    with `dim` of size k (RT-DETR's query selection: the 300 best of its anchors). Which
    elements win depends on all of them, so the outputs' receptive field is the whole dim.

    ```yaml
    - TopK: {k: 300, dim: 1, name: best}    # (1, 8400) -> values (1, 300), indices (1, 300)
    ```
    """

    pytorch = TorchSide(
        "runtime.TopK",
        ("k",),
        functions={
            "method.topk": (("k", None), ("dim", -1), ("largest", True), ("sorted", True)),
            "torch.topk": (("k", None), ("dim", -1), ("largest", True), ("sorted", True)),
        },
    )
    op_name = "topk"

    family = "split"

    k: PosInt
    dim: Int = -1
    largest: Bool = True

    def num_outputs(self) -> int:
        return 2

    def infer(self, shapes: list[Shape]) -> Result:
        (shape,) = shapes
        dim = _dim(self.dim, len(shape))
        if self.k > shape[dim]:
            raise ShapeError(
                f"k={self.k} is more than the {shape[dim]} elements of dim {dim} of {fmt_shape(shape)}",
                hint=f"k at most {shape[dim]} (RT-DETR takes min(num_queries, anchors))",
            )
        out = shape[:dim] + (self.k,) + shape[dim + 1 :]
        which = "largest" if self.largest else "smallest"
        return Result([out, out], working=[f"dim {dim}: the {self.k} {which} of {shape[dim]}, and their indices"])

    def receptive_field(self, rfs: list[RF], shapes: list[Shape], out: list[Shape]) -> list[RF]:
        rf, dim = rfs[0], _dim(self.dim, len(shapes[0]))
        picked = rf.globalised() if rf.kind == "flat" or (rf.kind == "spatial" and dim in rf.dims) else rf
        return [picked, picked]


class Gather(Layer):
    """Rows picked by index: input 0 taken along `dim` at the int64 indices of input 1, whose
    shape is input 0's up to `dim` (with its own size at `dim`): the output is the index's
    shape followed by input 0's remaining dims. torch.gather with the index expanded over
    those dims (RT-DETR's top-k features, `feats.gather(1, index[..., None].expand(-1, -1, C))`).

    ```yaml
    - Gather: {from: [features, best.1], dim: 1}   # (1, 8400, 256) at (1, 300) -> (1, 300, 256)
    ```
    """

    pytorch = TorchSide("runtime.Gather", ("dim",))
    op_name = "gather"

    family = "split"
    min_inputs = 2
    max_inputs = 2

    dim: Int = 1

    def infer(self, shapes: list[Shape]) -> Result:
        data, index = shapes
        dim = _dim(self.dim, len(data))
        if len(index) != dim + 1 or index[:dim] != data[:dim]:
            raise ShapeError(
                f"the index {fmt_shape(index)} does not fit {fmt_shape(data)} at dim {dim}: it must be "
                f"{fmt_shape(data[:dim] + (-1,)).replace('-1', 'K')}, the input's first {dim} dims and then the picks",
                hint="the indices of a TopK over dim of a tensor of the input's leading dims",
            )
        out = index + data[dim + 1 :]
        return Result([out], working=[f"dim {dim}: {index[dim]} of {data[dim]} picked -> {fmt_shape(out)}"])

    def receptive_field(self, rfs: list[RF], shapes: list[Shape], out: list[Shape]) -> list[RF]:
        rf, dim = rfs[0], _dim(self.dim, len(shapes[0]))
        return [rf.globalised() if rf.kind == "spatial" and dim in rf.dims else rf]


def _full(item: Any, size: int) -> bool:
    """True when an index item takes all of a dim of this size (`:`, `0:size`, `::1`)."""
    return (
        isinstance(item, slice)
        and (item.start is None or item.start == 0 or item.start <= -size)
        and (item.stop is None or item.stop >= size)
        and item.step in (None, 1)
    )


def index_items(index: Any, rank: int) -> Optional[list[Any]]:
    """An indexing expression (`x[:, :c]`, `x[..., 0::2, :]`) as one item per dim of a
    rank-`rank` tensor, the ellipsis expanded; None when it holds anything but slices, ints
    and one ellipsis (None, tensors, lists)."""
    items = list(index) if isinstance(index, tuple) else [index]
    if any(not isinstance(item, (slice, int)) and item is not Ellipsis for item in items):
        return None
    if any(isinstance(item, bool) for item in items) or items.count(Ellipsis) > 1:
        return None
    if Ellipsis in items:
        at = items.index(Ellipsis)
        items[at : at + 1] = [slice(None)] * (rank - len(items) + 1)
    if len(items) > rank:
        return None
    return items + [slice(None)] * (rank - len(items))


def takes_everything(index: Any, shape: Shape) -> bool:
    """True when indexing with `index` returns the whole tensor (`x[:, :H, :W]` at H, W)."""
    items = index_items(index, len(shape))
    return items is not None and all(_full(item, size) for item, size in zip(items, shape, strict=True))


PerDim = Union[Int, tuple[Int, ...]]
OptPerDim = Union[Optional[Int], tuple[Optional[Int], ...]]


class Slice(Layer):
    """A slice along one dim or several: `x[:, start:end:step]`, `x.narrow(dim, start, length)`.

    GhostNet's `x[:, :out_chs]`, a dual path's channel halves, LeViT's `x[:, ::2, ::2]`
    (`dim: [1, 2], step: 2`: with a list of dims, `start`, `end` and `step` are one value
    for every dim or a list, one per dim). `end` left out runs to the end of the dim;
    negative `start`/`end` count from the end, and out-of-range bounds are clamped, as
    Python's slicing does, so a spec sliced this way follows its input's size.

    ```yaml
    - Slice: {end: 16}                 # x[:, :16]
    - Slice: {dim: 2, start: 1, step: 2}   # x[:, :, 1::2]
    - Slice: {dim: [1, 2], step: 2}        # x[:, ::2, ::2]
    ```
    """

    pytorch = TorchSide(
        "runtime.Slice",
        ("dim", "start", "end", "step"),
        functions={
            "operator.getitem": (("index", None),),
            "method.narrow": (("dim", None), ("start", None), ("length", None)),
            "torch.narrow": (("dim", None), ("start", None), ("length", None)),
        },
    )

    @classmethod
    def from_torch_call(
        cls, target: str, bound: dict[str, Any], in_shape: Shape, out_shapes: list[Shape]
    ) -> Optional[dict[str, Any]]:
        if "*" in bound or not in_shape:
            return None
        if target != "operator.getitem":
            dim, start, length = bound["dim"], bound["start"], bound["length"]
            if not all(isinstance(v, int) for v in (dim, start, length)):
                return None
            dim %= len(in_shape)
            start %= in_shape[dim]
            # narrow's length is the spec's, whatever the input: its end is always written
            return cls._written([(dim, start, start + length, 1)])
        items = index_items(bound["index"], len(in_shape))
        if items is None or any(not isinstance(item, slice) for item in items):
            return None  # an int picks (Select); None or a tensor index has no kind
        cuts = []
        for dim, item in enumerate(items):
            if _full(item, in_shape[dim]):
                continue
            if not all(v is None or isinstance(v, int) for v in (item.start, item.stop, item.step)):
                return None
            # An end at or past the dim's size is left out (`x[:, :H]` with H read from the
            # input: to the end, whatever the size).
            end = item.stop if item.stop is not None and item.stop < in_shape[dim] else None
            cuts.append((dim, item.start or 0, end, item.step or 1))
        return cls._written(cuts) if cuts else None

    @staticmethod
    def _written(cuts: list[tuple[int, int, Optional[int], int]]) -> dict[str, Any]:
        """The arguments for (dim, start, end, step) per cut dim: one value where all dims
        agree, defaults left out."""
        args: dict[str, Any] = {}
        for at, (name, default) in enumerate((("dim", 1), ("start", 0), ("end", None), ("step", 1))):
            values = [cut[at] for cut in cuts]
            value: Any = values[0] if len(set(values)) == 1 and name != "dim" else values
            if name == "dim" and len(values) == 1:
                value = values[0]
            if value != default:
                args[name] = value
        return args

    op_name = "select"
    op_view = True

    family = "split"

    dim: PerDim = 1
    start: PerDim = 0
    end: OptPerDim = None
    step: Union[PosInt, tuple[PosInt, ...]] = 1

    def _cuts(self, shape: Shape) -> list[tuple[int, slice]]:
        """(dim, slice) for each dim cut, the per-dim values matched to the dims."""
        dims = list(self.dim) if isinstance(self.dim, tuple) else [self.dim]
        per_dim = []
        for name in ("start", "end", "step"):
            value = getattr(self, name)
            values = list(value) if isinstance(value, tuple) else [value] * len(dims)
            if len(values) != len(dims):
                raise ShapeError(f"{name} has {len(values)} entries for {len(dims)} dims: give one, or one per dim")
            per_dim.append(values)
        resolved = [_dim(d, len(shape)) for d in dims]
        if len(set(resolved)) != len(resolved):
            raise ShapeError(f"dim {list(dims)} names a dim twice")
        return [(d, slice(a, b, c)) for d, a, b, c in zip(resolved, *per_dim, strict=True)]

    def infer(self, shapes: list[Shape]) -> Result:
        (shape,) = shapes
        out = list(shape)
        working = []
        for dim, cut in self._cuts(shape):
            taken = len(range(*cut.indices(shape[dim])))
            if taken == 0:
                raise ShapeError(
                    f"start {cut.start}, end {cut.stop} take nothing of dim {dim} of size {shape[dim]} "
                    "(an empty tensor): check the bounds"
                )
            out[dim] = taken
            end = "" if cut.stop is None else cut.stop
            working.append(f"dim {dim}: [{cut.start}:{end}:{cut.step}] of {shape[dim]} = {taken}")
        return Result([tuple(out)], working=working)

    def receptive_field(self, rfs: list[RF], shapes: list[Shape], out: list[Shape]) -> list[RF]:
        rf = rfs[0]
        if rf.kind == "spatial" and any(dim in rf.dims for dim, _ in self._cuts(shapes[0])):
            return [rf.flattened()]  # a cut of the map: positions no longer on the input's grid
        return [rf]


KINDS = [Chunk, Split, Unbind, ChannelShuffle, Select, Slice, TopK, Gather]
