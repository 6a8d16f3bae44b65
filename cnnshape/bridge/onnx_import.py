"""An ONNX model as a cnnshape spec: read the graph with the `onnx` package, map each node
onto a layer kind by its op type and attributes (initializers give the weight shapes), and
write the spec with the same writer as the torch.fx import. The written spec is analysed
again and must give the ONNX file's own numbers: its parameters (the initializers the
mapped nodes use as weights; batch-norm means and variances are buffers) and the output
shapes of onnx's shape inference. Imports onnx, never torch.

ONNX is a flat graph: no blocks, every node one layer.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from math import prod
from typing import Any, Optional

from cnnshape.bridge.imported import ImportResult, Op, Unmapped, check_spec
from cnnshape.layers import REGISTRY

MAX_ONNX_BYTES = 2**31 - 1  # protobuf's own limit on one message


class OnnxError(Exception):
    """The file is not a readable ONNX model; message for the user."""


Shape = tuple[int, ...]


def _attrs(node: Any) -> dict[str, Any]:
    from onnx import helper

    return {attr.name: helper.get_attribute_value(attr) for attr in node.attribute}


def _pairs(pads: list[int], rank: int) -> Optional[list[int]]:
    """ONNX pads [begin..., end...] as PyTorch's symmetric padding, or None when uneven."""
    if not pads:
        return [0] * rank
    begin, end = list(pads[:rank]), list(pads[rank:])
    return begin if begin == end else None


def _arg(node: Any, index: int) -> str:
    """The name of a node's input `index`, "" when it has no such input (a malformed node)."""
    return node.input[index] if len(node.input) > index else ""


def _one(values: list[int]) -> Any:
    """[3, 3] -> 3; [1, 2] stays a list."""
    return values[0] if values and all(v == values[0] for v in values) else values


class _Reader:
    def __init__(self, model: Any, input_shape: Optional[Shape]):
        self.model = model
        self.graph = model.graph
        self.initializers = {init.name: init for init in self.graph.initializer}
        self.constants: dict[str, Any] = {}
        self.shapes: dict[str, Shape] = {}
        self.refs: dict[str, tuple[str, int]] = {}
        self.ops: list[Op] = []
        self.unmapped: list[Unmapped] = []
        self.params = 0
        self.input_shape = input_shape

    # -- values ----------------------------------------------------------------------------

    def weight(self, name: str) -> Optional[Shape]:
        init = self.initializers.get(name)
        return tuple(int(d) for d in init.dims) if init is not None else None

    def constant(self, name: str) -> Optional[list[Any]]:
        from onnx import numpy_helper

        if name in self.constants:
            return list(self.constants[name]) or None
        init = self.initializers.get(name)
        if init is None or prod(init.dims) > 64:
            return None
        return numpy_helper.to_array(init).reshape(-1).tolist()

    def infer(self) -> None:
        import onnx

        graph_inputs = [value for value in self.graph.input if value.name not in self.initializers]
        if len(graph_inputs) != 1:
            raise OnnxError(f"the graph has {len(graph_inputs)} inputs; a spec has one")
        (first,) = graph_inputs
        dims = first.type.tensor_type.shape.dim
        declared = tuple(d.dim_value if d.HasField("dim_value") else 0 for d in dims)
        shape = self.input_shape or declared
        if not shape or any(d <= 0 for d in shape):
            raise OnnxError(f"the input {first.name!r} has dynamic sizes {list(declared)}; give them with --input")
        if len(shape) != len(declared):
            raise OnnxError(
                f"--input {list(shape)} has {len(shape)} dims; the model's input {first.name!r} has {len(declared)}"
            )
        self.input_shape = tuple(shape)
        for dim, size in zip(dims, shape):
            dim.Clear()
            dim.dim_value = size
        # Shapes the exporter wrote for its own input size are inferred again for this one.
        for value in self.graph.output:
            value.type.tensor_type.ClearField("shape")
        del self.graph.value_info[:]
        try:
            inferred = onnx.shape_inference.infer_shapes(self.model, strict_mode=False)
        except Exception as exc:  # onnx's checker on a malformed graph
            raise OnnxError(f"onnx shape inference failed: {type(exc).__name__}: {exc}".splitlines()[0]) from None
        for value in [*inferred.graph.value_info, *inferred.graph.output, *inferred.graph.input]:
            tensor = value.type.tensor_type
            if tensor.HasField("shape"):
                self.shapes[value.name] = tuple(d.dim_value for d in tensor.shape.dim)
        self.refs[first.name] = ("input", 0)

    # -- nodes -----------------------------------------------------------------------------

    def where(self, index: int, node: Any) -> str:
        return f"node {node.name or index}"

    def run(self) -> list[tuple[str, int]]:
        for index, node in enumerate(self.graph.node):
            self.node(index, node)
        outputs: list[tuple[str, int]] = []
        for value in self.graph.output:
            if value.name in self.refs:
                outputs.append(self.refs[value.name])
            elif not self.unmapped:
                self.unmapped.append(Unmapped(f"output {value.name}", "output", "is not computed from the input"))
        return outputs

    def node(self, index: int, node: Any) -> None:
        op_type = node.op_type
        what = f"op {op_type}"
        if not node.output or not node.output[0]:
            self.unmapped.append(Unmapped(self.where(index, node), what, "the node has no output"))
            return
        if op_type == "Constant":
            from onnx import numpy_helper

            value = _attrs(node).get("value")
            values: list[Any] = []
            if value is not None and hasattr(value, "dims") and prod(value.dims) <= 64:
                values = numpy_helper.to_array(value).reshape(-1).tolist()
            self.constants[node.output[0]] = values
            return
        if op_type == "Identity" and _arg(node, 0) in self.initializers:
            # The exporter's alias of one constant for several nodes (equal folded biases).
            self.initializers[node.output[0]] = self.initializers[node.input[0]]
            return
        tensors = [name for name in node.input if name and name not in self.initializers and name not in self.constants]
        if not tensors:
            # Computed from constants alone (the exporter's pads or shapes): a constant too.
            for name in node.output:
                self.constants.setdefault(name, [])
            return
        if any(name not in self.refs for name in tensors):
            return  # its producer is already reported
        if op_type in ("Identity", "Dropout"):
            if tensors:
                self.refs[node.output[0]] = self.refs[tensors[0]]
            return
        mapper = _NODES.get(op_type)
        if mapper is None:
            self.unmapped.append(
                Unmapped(
                    self.where(index, node),
                    what,
                    "no cnnshape layer kind for this ONNX op (docs/torch.md lists the mapping)",
                )
            )
            return
        mapped = mapper(self, node, _attrs(node), [self.shapes.get(name, ()) for name in tensors])
        if isinstance(mapped, str):
            self.unmapped.append(Unmapped(self.where(index, node), what, mapped))
            return
        kind, args, weights = mapped
        try:
            REGISTRY[kind].model_validate(args)
        except Exception as exc:
            self.unmapped.append(
                Unmapped(self.where(index, node), what, f"arguments cnnshape does not accept: {exc}".splitlines()[0])
            )
            return
        self.params += weights
        # torch.onnx.export names a node /layer1/layer1.0/conv1/Conv: the module path is
        # layer1.0.conv1; the writer names the layer after it (layer1_0_conv1).
        parts = node.name.strip("/").split("/") if node.name else []
        where = parts[0] if parts else f"{op_type.lower()}_{index}"
        for part in parts[1:-1]:
            where = part if part.startswith(where + ".") else f"{where}.{part}"
        op = Op(f"node_{index}", kind, args, [self.refs[t] for t in tensors], where, "")
        self.ops.append(op)
        self.refs[node.output[0]] = (op.node, 0)


# --- op type -> (kind, args, parameters) or a reason ------------------------------------------

Mapped = Any  # tuple[str, dict[str, Any], int] | str


def _conv(reader: _Reader, node: Any, attrs: dict[str, Any], shapes: list[Shape]) -> Mapped:
    weight = reader.weight(_arg(node, 1))
    if weight is None or len(weight) not in (3, 4, 5):
        return "its weight is not an initializer of a 1-, 2- or 3-D convolution"
    rank = len(weight) - 2
    padding = _pairs(list(attrs.get("pads", [])), rank)
    if padding is None or attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        return "uneven or automatic padding has no PyTorch convolution argument"
    bias = len(node.input) > 2 and bool(node.input[2])
    args: dict[str, Any] = {"out_channels": weight[0], "kernel_size": _one(list(weight[2:]))}
    for key, name, default in (("strides", "stride", 1), ("dilations", "dilation", 1)):
        value = _one(list(attrs.get(key, [default] * rank)))
        if value != default:
            args[name] = value
    if any(padding):
        args["padding"] = _one(padding)
    if attrs.get("group", 1) != 1:
        args["groups"] = attrs["group"]
    if not bias:
        args["bias"] = False
    bias_size = reader.weight(_arg(node, 2)) if bias else ()
    return f"Conv{rank}d", args, prod(weight) + (prod(bias_size) if bias_size else 0)


def _gemm(reader: _Reader, node: Any, attrs: dict[str, Any], shapes: list[Shape]) -> Mapped:
    weight = reader.weight(_arg(node, 1))
    if weight is None or attrs.get("transA", 0) or attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0:
        return "only x @ W.T + b with W an initializer maps to Linear"
    out_features = weight[0] if attrs.get("transB", 0) else weight[1]
    bias = reader.weight(_arg(node, 2))
    args: dict[str, Any] = {"out_features": out_features}
    if bias is None:
        args["bias"] = False
    return "Linear", args, prod(weight) + (prod(bias) if bias else 0)


def _matmul(reader: _Reader, node: Any, attrs: dict[str, Any], shapes: list[Shape]) -> Mapped:
    weight = reader.weight(_arg(node, 1))
    if weight is None or len(weight) != 2:
        return "only x @ W with W a 2-D initializer maps (to Linear without bias)"
    return "Linear", {"out_features": weight[1], "bias": False}, prod(weight)


def _batch_norm(reader: _Reader, node: Any, attrs: dict[str, Any], shapes: list[Shape]) -> Mapped:
    rank = len(shapes[0]) if shapes else 4
    kind = {2: "BatchNorm1d", 3: "BatchNorm1d", 4: "BatchNorm2d", 5: "BatchNorm3d"}.get(rank)
    scale = reader.weight(_arg(node, 1))
    if kind is None or scale is None:
        return "only a batch norm of 2- to 5-D input with initializer weights maps"
    args: dict[str, Any] = {}
    eps = float(attrs.get("epsilon", 1e-5))
    if abs(eps - 1e-5) > 1e-12:
        args["eps"] = eps
    return kind, args, 2 * prod(scale)  # scale and bias; mean and variance are buffers


def _pool(kind: str) -> Callable[..., Mapped]:
    def pool(reader: _Reader, node: Any, attrs: dict[str, Any], shapes: list[Shape]) -> Mapped:
        kernel = list(attrs.get("kernel_shape", []))
        rank = len(kernel)
        padding = _pairs(list(attrs.get("pads", [])), rank)
        if rank != 2 or padding is None or attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            return "only 2-D pooling with even, explicit padding maps"
        args: dict[str, Any] = {"kernel_size": _one(kernel), "stride": _one(list(attrs.get("strides", [1] * rank)))}
        if any(padding):
            args["padding"] = _one(padding)
        if attrs.get("ceil_mode", 0):
            args["ceil_mode"] = True
        if kind == "AvgPool2d" and not attrs.get("count_include_pad", 0) and any(padding):
            args["count_include_pad"] = False
        return kind, args, 0

    return pool


def _simple(kind: str, **fixed: Any) -> Callable[..., Mapped]:
    def simple(reader: _Reader, node: Any, attrs: dict[str, Any], shapes: list[Shape]) -> Mapped:
        return kind, dict(fixed), 0

    return simple


def _merge(kind: str) -> Callable[..., Mapped]:
    def merge(reader: _Reader, node: Any, attrs: dict[str, Any], shapes: list[Shape]) -> Mapped:
        if len(shapes) != len(node.input):
            return f"only tensors combined with tensors map to {kind}; a constant operand has no layer kind"
        return kind, {}, 0

    return merge


def _clip(reader: _Reader, node: Any, attrs: dict[str, Any], shapes: list[Shape]) -> Mapped:
    bounds = [attrs.get("min"), attrs.get("max")]
    for i, name in enumerate(node.input[1:3]):
        value = reader.constant(name) if name else None
        if value:
            bounds[i] = value[0]
    if bounds == [0.0, 6.0] or bounds == [0, 6]:
        return "ReLU6", {}, 0
    return f"a clip to {bounds} has no layer kind (only ReLU6's [0, 6])"


def _concat(reader: _Reader, node: Any, attrs: dict[str, Any], shapes: list[Shape]) -> Mapped:
    if len(shapes) != len(node.input):
        return "a constant operand has no layer kind"
    return "Concat", {"dim": int(attrs.get("axis", 1))}, 0


def _flatten(reader: _Reader, node: Any, attrs: dict[str, Any], shapes: list[Shape]) -> Mapped:
    axis = int(attrs.get("axis", 1))
    return "Flatten", ({} if axis == 1 else {"start_dim": axis}), 0


def _reshape(reader: _Reader, node: Any, attrs: dict[str, Any], shapes: list[Shape]) -> Mapped:
    out = reader.shapes.get(node.output[0])
    if not out or not shapes:
        return "its output shape is unknown to onnx's shape inference"
    (shape,) = shapes
    if len(shape) >= 2 and out == (shape[0], prod(shape[1:])):
        return "Flatten", {}, 0
    return "Reshape", {"shape": list(out)}, 0


def _transpose(reader: _Reader, node: Any, attrs: dict[str, Any], shapes: list[Shape]) -> Mapped:
    return "Permute", {"dims": list(attrs.get("perm", []))}, 0


def _softmax(kind: str) -> Callable[..., Mapped]:
    def softmax(reader: _Reader, node: Any, attrs: dict[str, Any], shapes: list[Shape]) -> Mapped:
        return kind, {"dim": int(attrs.get("axis", -1))}, 0

    return softmax


_NODES: dict[str, Callable[..., Mapped]] = {
    "Conv": _conv,
    "Gemm": _gemm,
    "MatMul": _matmul,
    "BatchNormalization": _batch_norm,
    "Relu": _simple("ReLU"),
    "Sigmoid": _simple("Sigmoid"),
    "Tanh": _simple("Tanh"),
    "HardSwish": _simple("Hardswish"),
    "Elu": _simple("ELU"),
    "Selu": _simple("SELU"),
    "Gelu": _simple("GELU"),
    "Mish": _simple("Mish"),
    "MaxPool": _pool("MaxPool2d"),
    "AveragePool": _pool("AvgPool2d"),
    "GlobalAveragePool": _simple("AdaptiveAvgPool2d", output_size=1),
    "GlobalMaxPool": _simple("AdaptiveMaxPool2d", output_size=1),
    "Clip": _clip,
    "Add": _merge("Add"),
    "Mul": _merge("Mul"),
    "Sub": _merge("Sub"),
    "Concat": _concat,
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Transpose": _transpose,
    "Softmax": _softmax("Softmax"),
    "LogSoftmax": _softmax("LogSoftmax"),
}


def import_onnx(
    path: str, input_shape: Optional[Shape] = None, name: Optional[str] = None, spec_path: Optional[str] = None
) -> ImportResult:
    """Read, map, write the spec and check it against the ONNX file's own numbers."""
    try:
        import onnx
    except ImportError:
        raise OnnxError("importing .onnx files needs onnx, which is not installed: pip install onnx") from None
    from cnnshape.errors import SpecError
    from cnnshape.source import read_bytes

    try:
        data = read_bytes(path, MAX_ONNX_BYTES)
    except SpecError as exc:
        raise OnnxError("; ".join(problem.message for problem in exc.problems)) from None
    try:
        model = onnx.load_model_from_string(data)
    except Exception as exc:  # protobuf's DecodeError and whatever else bad bytes raise
        raise OnnxError(f"not a readable ONNX model: {type(exc).__name__}: {exc}".splitlines()[0]) from None
    if not model.graph.node:
        raise OnnxError("not a readable ONNX model: the graph has no nodes")
    reader = _Reader(model, input_shape)
    reader.infer()
    outputs = reader.run()
    onnx_outputs = [reader.shapes.get(value.name, ()) for value in model.graph.output]
    if reader.unmapped or not outputs:
        return ImportResult("", reader.unmapped, reader.params, onnx_outputs, len(reader.ops), 0)
    from pathlib import Path

    from cnnshape.bridge.spec_writer import SpecWriter

    spec_name = name or re.sub(r"\W", "_", Path(path).stem) or "onnx_model"
    assert reader.input_shape is not None
    writer = SpecWriter(None, reader.ops, outputs, reader.input_shape, spec_name, str(path))
    text = writer.text(writer.tree())
    result = ImportResult(
        text, [], reader.params, onnx_outputs, len(reader.ops), 0, spec_path=spec_path or f"{spec_name}.yaml"
    )
    result.problems = check_spec(text, reader.params, onnx_outputs, result.spec_path, "the ONNX file")
    return result
