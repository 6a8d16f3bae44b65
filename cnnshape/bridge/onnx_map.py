"""ONNX op types onto cnnshape layer kinds: one function per op type, in one table.

Each function reads one node (its attributes, the shapes of its tensor inputs, the
initializers and the small constants it uses) and returns the layer kind, its
arguments and the parameters its initializers hold, or a reason it has no kind.

Why a table here and not on the layer classes (where each kind declares its PyTorch
side): an ONNX op is not one kind. `Conv` is Conv1d/2d/3d by the weight's rank, `Clip`
is ReLU6 only for [0, 6], `Pad` is one of fifteen padding kinds by mode and rank,
`Mul` by an initializer is a learned tensor while `Mul` of two tensors is a merge, and
`Concat` of an expanded initializer is ViT's class token. The mapping reads ONNX's
attribute and initializer conventions, which no layer kind should know; it names kinds
only through the registry (`REGISTRY[kind]` validates every result). Imports neither
onnx nor torch.
"""

from __future__ import annotations

from collections.abc import Callable
from math import prod
from typing import TYPE_CHECKING, Any, Optional, Union

if TYPE_CHECKING:
    from cnnshape.bridge.onnx_import import Reader

Shape = tuple[int, ...]
# (kind, arguments, parameters held by the node's initializers) or a reason it has no kind.
Mapped = Union[tuple[str, dict[str, Any], int], str]
Mapper = Callable[["Reader", Any, dict[str, Any], list[Shape]], Mapped]


def _pairs(pads: list[int], rank: int) -> Optional[list[int]]:
    """ONNX pads [begin..., end...] as PyTorch's symmetric padding, or None when uneven."""
    if not pads:
        return [0] * rank
    begin, end = list(pads[:rank]), list(pads[rank:])
    return begin if begin == end else None


def arg(node: Any, index: int) -> str:
    """The name of a node's input `index`, "" when it has no such input."""
    return node.input[index] if len(node.input) > index else ""


def _one(values: list[int]) -> Any:
    """[3, 3] -> 3; [1, 2] stays a list."""
    return values[0] if values and all(v == values[0] for v in values) else values


def _explicit(attrs: dict[str, Any]) -> bool:
    return attrs.get("auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET")


def _ints(value: Optional[list[Any]]) -> Optional[list[int]]:
    if value is None or not all(float(v).is_integer() for v in value):
        return None
    return [int(v) for v in value]


def _convolution(transposed: bool) -> Mapper:
    kind = "ConvTranspose" if transposed else "Conv"
    name = "transposed convolution" if transposed else "convolution"

    def conv(reader: Reader, node: Any, attrs: dict[str, Any], shapes: list[Shape]) -> Mapped:
        weight = reader.weight(arg(node, 1))
        if weight is None or len(weight) not in (3, 4, 5):
            return f"its weight is not an initializer of a 1-, 2- or 3-D {name}"
        rank = len(weight) - 2
        padding = _pairs(list(attrs.get("pads", [])), rank)
        if padding is None or not _explicit(attrs) or "output_shape" in attrs:
            return "uneven, automatic or output_shape padding has no PyTorch argument"
        groups = int(attrs.get("group", 1))
        # ONNX's weights are PyTorch's: (C_out, C_in / groups, k...) for Conv and
        # (C_in, C_out / groups, k...) for ConvTranspose.
        out_channels = weight[1] * groups if transposed else weight[0]
        args: dict[str, Any] = {"out_channels": out_channels, "kernel_size": _one(list(weight[2:]))}
        settings = [("strides", "stride", 1), ("dilations", "dilation", 1)]
        for key, field, default in settings + ([("output_padding", "output_padding", 0)] if transposed else []):
            value = _one(list(attrs.get(key, [default] * rank)))
            if value != default:
                args[field] = value
        if any(padding):
            args["padding"] = _one(padding)
        if groups != 1:
            args["groups"] = groups
        bias = reader.weight(arg(node, 2)) if arg(node, 2) else None
        if bias is None and arg(node, 2):
            return "its bias is not an initializer"
        if bias is None:
            args["bias"] = False
        return f"{kind}{rank}d", args, prod(weight) + (prod(bias) if bias else 0)

    return conv


def _gemm(reader: Reader, node: Any, attrs: dict[str, Any], shapes: list[Shape]) -> Mapped:
    weight = reader.weight(arg(node, 1))
    if weight is None or attrs.get("transA", 0) or attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0:
        return "only x @ W.T + b with W an initializer maps to Linear"
    out_features = weight[0] if attrs.get("transB", 0) else weight[1]
    bias = reader.weight(arg(node, 2))
    args: dict[str, Any] = {"out_features": out_features}
    if bias is None:
        args["bias"] = False
    return "Linear", args, prod(weight) + (prod(bias) if bias else 0)


def _matmul(reader: Reader, node: Any, attrs: dict[str, Any], shapes: list[Shape]) -> Mapped:
    if len(shapes) == 2:
        return "MatMul", {}, 0  # two computed tensors (attention's q @ k^T)
    weight = reader.weight(arg(node, 1))
    if weight is None or len(weight) != 2:
        return "only x @ W with W a 2-D initializer, or a product of two computed tensors, maps"
    return "Linear", {"out_features": weight[1], "bias": False}, prod(weight)


def _batch_norm(reader: Reader, node: Any, attrs: dict[str, Any], shapes: list[Shape]) -> Mapped:
    rank = len(shapes[0]) if shapes else 4
    kind = {2: "BatchNorm1d", 3: "BatchNorm1d", 4: "BatchNorm2d", 5: "BatchNorm3d"}.get(rank)
    scale = reader.weight(arg(node, 1))
    if kind is None or scale is None or len(node.output) > 1 and any(node.output[1:]):
        return "only an inference batch norm of 2- to 5-D input with initializer weights maps"
    args: dict[str, Any] = {}
    eps = float(attrs.get("epsilon", 1e-5))
    if abs(eps - 1e-5) > 1e-12:
        args["eps"] = eps
    return kind, args, 2 * prod(scale)  # scale and bias; mean and variance are buffers


def _layer_norm(reader: Reader, node: Any, attrs: dict[str, Any], shapes: list[Shape]) -> Mapped:
    scale = reader.weight(arg(node, 1))
    if scale is None or not shapes:
        return "only a layer norm with an initializer scale maps"
    axis = int(attrs.get("axis", -1))
    rank = len(shapes[0])
    if list(shapes[0][axis % rank if rank else 0 :]) != list(scale):
        return f"its scale {list(scale)} is not the shape of the normalised dims from axis {axis}"
    bias = reader.weight(arg(node, 2)) if arg(node, 2) else None
    args: dict[str, Any] = {"normalized_shape": _one(list(scale)) if len(scale) == 1 else list(scale)}
    eps = float(attrs.get("epsilon", 1e-5))
    if abs(eps - 1e-5) > 1e-12:
        args["eps"] = eps
    if bias is None:
        args["bias"] = False
    return "LayerNorm", args, prod(scale) + (prod(bias) if bias else 0)


def _pool(kind: str) -> Mapper:
    def pool(reader: Reader, node: Any, attrs: dict[str, Any], shapes: list[Shape]) -> Mapped:
        kernel = list(attrs.get("kernel_shape", []))
        rank = len(kernel)
        padding = _pairs(list(attrs.get("pads", [])), rank)
        if rank not in (1, 2, 3) or padding is None or not _explicit(attrs):
            return "only pooling with even, explicit padding maps"
        if len(node.output) > 1 and any(node.output[1:]):
            return "MaxPool's indices output has no layer kind"
        args: dict[str, Any] = {"kernel_size": _one(kernel), "stride": _one(list(attrs.get("strides", [1] * rank)))}
        if any(padding):
            args["padding"] = _one(padding)
        dilation = _one(list(attrs.get("dilations", [1] * rank)))
        if dilation != 1:
            if kind == "AvgPool":
                return "a dilated average pool has no PyTorch kind"
            args["dilation"] = dilation
        if attrs.get("ceil_mode", 0):
            args["ceil_mode"] = True
        if kind == "AvgPool" and not attrs.get("count_include_pad", 0) and any(padding):
            args["count_include_pad"] = False
        return f"{kind}{rank}d", args, 0

    return pool


def _global_pool(kind: str) -> Mapper:
    def pool(reader: Reader, node: Any, attrs: dict[str, Any], shapes: list[Shape]) -> Mapped:
        rank = len(shapes[0]) - 2 if shapes else 0
        if rank not in (1, 2, 3):
            return "only a global pool of 1- to 3-D feature maps maps"
        return f"{kind}{rank}d", {"output_size": 1}, 0

    return pool


def _simple(kind: str, **fixed: Any) -> Mapper:
    def simple(reader: Reader, node: Any, attrs: dict[str, Any], shapes: list[Shape]) -> Mapped:
        return kind, dict(fixed), 0

    return simple


def _hard_sigmoid(reader: Reader, node: Any, attrs: dict[str, Any], shapes: list[Shape]) -> Mapped:
    alpha, beta = float(attrs.get("alpha", 0.2)), float(attrs.get("beta", 0.5))
    if abs(alpha - 1 / 6) > 1e-6 or abs(beta - 0.5) > 1e-6:
        return f"HardSigmoid(alpha={alpha}, beta={beta}) is not PyTorch's Hardsigmoid (alpha 1/6, beta 0.5)"
    return "Hardsigmoid", {}, 0


def _leaky_relu(reader: Reader, node: Any, attrs: dict[str, Any], shapes: list[Shape]) -> Mapped:
    slope = float(attrs.get("alpha", 0.01))
    return "LeakyReLU", ({} if abs(slope - 0.01) < 1e-9 else {"negative_slope": slope}), 0


def _clip(reader: Reader, node: Any, attrs: dict[str, Any], shapes: list[Shape]) -> Mapped:
    bounds = [attrs.get("min"), attrs.get("max")]
    for i, name in enumerate(node.input[1:3]):
        value = reader.value(name) if name else None
        if value is not None and value.size == 1:
            bounds[i] = float(value.item())
    if bounds == [0.0, 6.0]:
        return "ReLU6", {}, 0
    return f"a clip to {bounds} has no layer kind (only ReLU6's [0, 6])"


def _elementwise(kind: str, commutes: bool) -> Mapper:
    """Of two tensors; or of a tensor and a one-element constant (`scalar`), an initializer
    (a learned `tensor_shape`) or a larger constant (`constant: true`), in either order."""

    def elementwise(reader: Reader, node: Any, attrs: dict[str, Any], shapes: list[Shape]) -> Mapped:
        if len(shapes) == len(node.input):
            return kind, {}, 0
        live = [reader.is_tensor(name) for name in node.input]
        if len(node.input) != 2 or live not in ([True, False], [False, True]):
            return f"{kind} of these operands has no layer kind"
        other = node.input[live.index(False)]
        # The constant first (1 - x, 1 / x): `reverse: true` puts the layer's own operand first.
        order: dict[str, Any] = {"reverse": True} if live == [False, True] and not commutes else {}
        dims = reader.weight(other)
        if dims is not None and prod(dims) > 1:
            # An initializer of its own: a learned tensor (ConvNeXt's layer scale, ViT's
            # position embedding); its parameters are counted.
            return kind, {"tensor_shape": list(dims), **order}, prod(dims)
        value = reader.value(other)
        if value is None:
            return f"{kind} by a constant whose value is unknown"
        if value.size == 1:
            return kind, {"scalar": _number(value.item()), **order}, 0
        return kind, {"tensor_shape": list(value.shape), "constant": True, **order}, 0

    return elementwise


def _number(value: Any) -> Union[int, float]:
    return (
        int(value)
        if isinstance(value, (bool, int)) or float(value).is_integer() and abs(value) < 2**53
        else float(value)
    )


def _pow(reader: Reader, node: Any, attrs: dict[str, Any], shapes: list[Shape]) -> Mapped:
    value = reader.value(arg(node, 1))
    if len(shapes) != 1 or value is None or value.size != 1:
        return "only a tensor to a constant scalar power maps"
    return "Pow", {"exponent": _number(value.item())}, 0


def _concat(reader: Reader, node: Any, attrs: dict[str, Any], shapes: list[Shape]) -> Mapped:
    axis = int(attrs.get("axis", 1))
    if len(shapes) == len(node.input):
        return "Concat", {"dim": axis}, 0
    # torchvision ViT's class token: a (1, 1, E) initializer expanded to the batch (or, at
    # batch 1, the initializer itself: the dynamo exporter's) and concatenated in front.
    token = reader.expanded.get(node.input[0]) or reader.weight(node.input[0])
    class_token = token is not None and len(token) == 3 and token[:2] == (1, 1)
    if class_token and token and len(node.input) == 2 and len(shapes) == 1 and axis in (1, -2):
        return "ClassToken", {}, prod(token)
    return "a constant operand of Concat has no layer kind (only ViT's class token in front)"


def _flatten(reader: Reader, node: Any, attrs: dict[str, Any], shapes: list[Shape]) -> Mapped:
    axis = int(attrs.get("axis", 1))
    if shapes and len(shapes[0]) == 2 and axis == 1:
        return "Identity", {}, 0  # ONNX's Flatten of a matrix keeps it
    return "Flatten", ({} if axis == 1 else {"start_dim": axis, "end_dim": -1}), 0


def _reshaped(reader: Reader, node: Any, shapes: list[Shape], out: Optional[Shape]) -> Mapped:
    if out is None or not shapes:
        return "its output shape is unknown (neither a constant nor onnx's shape inference gives it)"
    (shape,) = shapes[:1]
    if prod(out) != prod(shape):
        return f"it reshapes {list(shape)} ({prod(shape)} elements) to {list(out)} ({prod(out)})"
    if len(shape) >= 2 and len(out) == 2 and out == (shape[0], prod(shape[1:])):
        return "Flatten", {}, 0
    return "Reshape", {"shape": list(out)}, 0


def _reshape(reader: Reader, node: Any, attrs: dict[str, Any], shapes: list[Shape]) -> Mapped:
    target = _ints(reader.listed(arg(node, 1)))
    out: Optional[Shape] = None
    if target is not None and shapes:
        out = _reshape_target(shapes[0], target, bool(attrs.get("allowzero", 0)))
    return _reshaped(reader, node, shapes, out or reader.inferred(node.output[0]))


def _reshape_target(shape: Shape, target: list[int], allowzero: bool) -> Optional[Shape]:
    """ONNX Reshape's target: 0 copies the input's dim (unless allowzero), one -1 is inferred."""
    dims = [shape[i] if d == 0 and not allowzero and i < len(shape) else d for i, d in enumerate(target)]
    if dims.count(-1) > 1 or any(d < -1 for d in dims):
        return None
    if -1 in dims:
        known = prod(d for d in dims if d != -1)
        if known <= 0 or prod(shape) % known:
            return None
        dims[dims.index(-1)] = prod(shape) // known
    return tuple(dims)


def _axes(reader: Reader, node: Any, attrs: dict[str, Any], index: int) -> Optional[list[int]]:
    if "axes" in attrs:
        return [int(a) for a in attrs["axes"]]
    return _ints(reader.listed(arg(node, index))) if arg(node, index) else None


def _unsqueeze(reader: Reader, node: Any, attrs: dict[str, Any], shapes: list[Shape]) -> Mapped:
    axes = _axes(reader, node, attrs, 1)
    if axes is None or not shapes:
        return "its axes are not constant"
    rank = len(shapes[0]) + len(axes)
    out = list(shapes[0])
    for axis in sorted(a % rank for a in axes):
        out.insert(axis, 1)
    return _reshaped(reader, node, shapes, tuple(out))


def _squeeze(reader: Reader, node: Any, attrs: dict[str, Any], shapes: list[Shape]) -> Mapped:
    if not shapes:
        return "no input shape"
    shape = shapes[0]
    axes = _axes(reader, node, attrs, 1)
    if axes is None:
        if arg(node, 1):
            return "its axes are not constant"
        axes = [i for i, d in enumerate(shape) if d == 1]
    drop = {a % len(shape) for a in axes} if shape else set()
    if any(shape[a] != 1 for a in drop):
        return f"it squeezes a dim that is not 1 in {list(shape)}"
    return _reshaped(reader, node, shapes, tuple(d for i, d in enumerate(shape) if i not in drop))


def _transpose(reader: Reader, node: Any, attrs: dict[str, Any], shapes: list[Shape]) -> Mapped:
    perm = list(attrs.get("perm", []))
    if not perm and shapes:
        perm = list(reversed(range(len(shapes[0]))))
    return "Permute", {"dims": perm}, 0


def _gather(reader: Reader, node: Any, attrs: dict[str, Any], shapes: list[Shape]) -> Mapped:
    index = reader.value(arg(node, 1))
    if len(shapes) != 1 or index is None or index.ndim != 0:
        return "only a constant scalar index (x[:, 0]) maps, to Select"
    return "Select", {"dim": int(attrs.get("axis", 0)), "index": int(index.item())}, 0


def _softmax(kind: str) -> Mapper:
    def softmax(reader: Reader, node: Any, attrs: dict[str, Any], shapes: list[Shape]) -> Mapped:
        return kind, {"dim": int(attrs.get("axis", -1))}, 0

    return softmax


_PAD_KINDS = {"constant": "ConstantPad", "reflect": "ReflectionPad", "edge": "ReplicationPad", "wrap": "CircularPad"}


def _pad(reader: Reader, node: Any, attrs: dict[str, Any], shapes: list[Shape]) -> Mapped:
    mode = attrs.get("mode", b"constant")
    mode = mode.decode() if isinstance(mode, bytes) else str(mode)
    pads = _ints(reader.listed(arg(node, 1))) if arg(node, 1) else _ints(attrs.get("pads"))
    if not shapes or pads is None or arg(node, 3) or mode not in _PAD_KINDS:
        return "only a constant padding of every dim (no axes input) maps"
    rank = len(shapes[0])
    if len(pads) != 2 * rank or any(p < 0 for p in pads):
        return f"pads {pads} are not 2 x {rank} non-negative sizes"
    spatial = rank - 2 if rank > 2 else rank - 1
    if spatial not in (1, 2, 3) or any(pads[: rank - spatial]) or any(pads[rank : 2 * rank - spatial]):
        return "only padding of the 1 to 3 trailing (spatial) dims maps"
    begin, end = pads[rank - spatial : rank], pads[2 * rank - spatial :]
    padding: list[int] = []
    for b, e in reversed(list(zip(begin, end, strict=True))):  # PyTorch: the last dim first
        padding += [b, e]
    value = reader.value(arg(node, 2)) if arg(node, 2) else None
    if arg(node, 2) and (value is None or value.size != 1):
        return "its padding value is not a constant"
    fill = _number(value.item()) if value is not None else 0
    if mode == "constant" and fill == 0:
        return f"ZeroPad{spatial}d", {"padding": _one(padding)}, 0
    args: dict[str, Any] = {"padding": _one(padding)}
    if mode == "constant":
        args["value"] = fill
    return f"{_PAD_KINDS[mode]}{spatial}d", args, 0


def _resize(reader: Reader, node: Any, attrs: dict[str, Any], shapes: list[Shape]) -> Mapped:
    if not shapes:
        return "no input shape"
    shape = shapes[0]
    rank = len(shape) - 2
    mode = attrs.get("mode", b"nearest")
    mode = mode.decode() if isinstance(mode, bytes) else str(mode)
    transform = attrs.get("coordinate_transformation_mode", b"half_pixel")
    transform = transform.decode() if isinstance(transform, bytes) else str(transform)
    # Upsample (opset 9) has the scales as input 1; Resize has roi, scales, sizes.
    scales_at, sizes_at = (1, -1) if node.op_type == "Upsample" else (2, 3)
    sizes = _ints(reader.listed(arg(node, sizes_at))) if sizes_at > 0 and arg(node, sizes_at) else None
    scales = reader.listed(arg(node, scales_at)) if arg(node, scales_at) else None
    if rank not in (1, 2, 3) or (sizes is None and not scales) or "axes" in attrs:
        return "only a resize of 1- to 3-D feature maps by constant scales or sizes maps"
    if sizes is None and scales is not None and len(scales) == len(shape):
        if [float(s) for s in scales[:2]] != [1.0, 1.0]:
            return "only a resize of the spatial dims maps"
        spatial = [float(s) for s in scales[2:]]
        if all(s.is_integer() and s == spatial[0] for s in spatial):
            args: dict[str, Any] = {"scale_factor": int(spatial[0])}
        else:
            args = {"size": _one([int(d * s) for d, s in zip(shape[2:], spatial, strict=True)])}
    elif sizes is not None and len(sizes) == len(shape) and list(sizes[:2]) == list(shape[:2]):
        args = {"size": _one(sizes[2:])}
    else:
        return "its scales or sizes do not cover every dim"
    if mode == "nearest":
        nearest = attrs.get("nearest_mode", b"round_prefer_floor")
        nearest = nearest.decode() if isinstance(nearest, bytes) else str(nearest)
        if transform == "asymmetric" and nearest == "floor" or node.op_type == "Upsample":
            args["mode"] = "nearest"
        elif transform in ("half_pixel", "pytorch_half_pixel") and nearest == "round_prefer_ceil":
            args["mode"] = "nearest-exact"
        else:
            return f"nearest resize with {transform} coordinates and {nearest} rounding has no PyTorch mode"
        return "Upsample", args, 0
    names = {"linear": {1: "linear", 2: "bilinear", 3: "trilinear"}, "cubic": {2: "bicubic"}}
    torch_mode = names.get(mode, {}).get(rank)
    if torch_mode is None or transform not in ("align_corners", "half_pixel", "pytorch_half_pixel"):
        return f"{mode} resize of a {rank}-D map with {transform} coordinates has no PyTorch mode"
    args["mode"] = torch_mode
    args["align_corners"] = transform == "align_corners"
    return "Upsample", args, 0


def _split(reader: Reader, node: Any, attrs: dict[str, Any], shapes: list[Shape]) -> Mapped:
    if not shapes:
        return "no input shape"
    axis = int(attrs.get("axis", 0))
    rank = len(shapes[0])
    if not -rank <= axis < rank:
        return f"axis {axis} is out of range for {list(shapes[0])}"
    size = shapes[0][axis]
    sections = _ints(reader.listed(arg(node, 1))) if arg(node, 1) else _ints(attrs.get("split"))
    outputs = len(node.output)
    if sections is None:
        if arg(node, 1) or not outputs or size % outputs:
            return "its split sizes are not constant"
        sections = [size // outputs] * outputs
    return "Split", {"split_size_or_sections": sections, "dim": axis}, 0


def _reduce_mean(reader: Reader, node: Any, attrs: dict[str, Any], shapes: list[Shape]) -> Mapped:
    axes = _axes(reader, node, attrs, 1)
    if not axes:
        return "a mean over every dim (no axes) has no layer kind"
    keepdim = bool(attrs.get("keepdims", 1))
    return "Mean", {"dim": axes[0] if len(axes) == 1 else axes, "keepdim": keepdim}, 0


NODES: dict[str, Mapper] = {
    "Conv": _convolution(transposed=False),
    "ConvTranspose": _convolution(transposed=True),
    "Gemm": _gemm,
    "MatMul": _matmul,
    "BatchNormalization": _batch_norm,
    "LayerNormalization": _layer_norm,
    "Relu": _simple("ReLU"),
    "LeakyRelu": _leaky_relu,
    "Sigmoid": _simple("Sigmoid"),
    "HardSigmoid": _hard_sigmoid,
    "Tanh": _simple("Tanh"),
    "HardSwish": _simple("Hardswish"),
    "Elu": _simple("ELU"),
    "Selu": _simple("SELU"),
    "Gelu": _simple("GELU"),
    "Mish": _simple("Mish"),
    "Neg": _simple("Neg"),
    "Abs": _simple("Abs"),
    "Sqrt": _simple("Sqrt"),
    "Clip": _clip,
    "MaxPool": _pool("MaxPool"),
    "AveragePool": _pool("AvgPool"),
    "GlobalAveragePool": _global_pool("AdaptiveAvgPool"),
    "GlobalMaxPool": _global_pool("AdaptiveMaxPool"),
    "Add": _elementwise("Add", commutes=True),
    "Mul": _elementwise("Mul", commutes=True),
    "Sub": _elementwise("Sub", commutes=False),
    "Div": _elementwise("Div", commutes=False),
    "Pow": _pow,
    "Reciprocal": _simple("Div", scalar=1, reverse=True),
    "Concat": _concat,
    "Split": _split,
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Unsqueeze": _unsqueeze,
    "Squeeze": _squeeze,
    "Transpose": _transpose,
    "Gather": _gather,
    "Pad": _pad,
    "Resize": _resize,
    "Upsample": _resize,
    "ReduceMean": _reduce_mean,
    "Softmax": _softmax("Softmax"),
    "LogSoftmax": _softmax("LogSoftmax"),
}
