"""An ONNX model as a cnnshape spec: read the graph with the `onnx` package, walk it once in
order, fold the constants (the exporter's shape arithmetic), map every other node onto a
layer kind by its op type (the table is bridge/onnx_map.py) and let that kind infer the
node's output shape, which onnx's own shape inference cross-checks tensor by tensor. The
spec is written with the same writer as the torch.fx import, analysed again, and must give
the file's own numbers: its parameters (the declared sizes of the initializers the mapped
nodes use as weights; batch-norm means and variances are buffers) and its output shapes.
Weights' data is never needed: it is dropped on load, and external data is never opened.
Imports onnx and numpy, never torch.

ONNX is a flat graph: no blocks, every node one layer.
"""

from __future__ import annotations

import re
from math import prod
from typing import Any, Optional

from cnnshape.bridge.imported import ImportResult, Op, Unmapped, check_spec
from cnnshape.bridge.onnx_map import NODES, arg
from cnnshape.layers import REGISTRY

MAX_ONNX_BYTES = 2**31 - 1  # protobuf's own limit on one message

Shape = tuple[int, ...]


class OnnxError(Exception):
    """The file is not a readable ONNX model; message for the user."""


def _attrs(node: Any) -> dict[str, Any]:
    from onnx import helper

    return {attr.name: helper.get_attribute_value(attr) for attr in node.attribute}


MAX_CONSTANT = 64  # elements: larger constants are never materialised (a declared size is only a number)


class Reader:
    """Walks the graph once in order: constants folded, every other node mapped onto a
    layer kind and inferred by it, each tensor's shape checked against onnx's."""

    def __init__(self, model: Any, input_shape: Optional[Shape]):
        self.model = model
        self.graph = model.graph
        self.initializers = {init.name: init for init in self.graph.initializer}
        self.values: dict[str, Any] = {}  # small constants with a known value (numpy arrays)
        self.constants: set[str] = set()  # computed without the input: shapes, pads, scales
        self.expanded: dict[str, Shape] = {}  # Expand of an initializer (ViT's class token)
        self.onnx_shapes: dict[str, Shape] = {}  # onnx's shape inference, fully known shapes only
        self.shapes: dict[str, Shape] = {}  # each tensor's shape as the mapped kinds give it
        self.refs: dict[str, tuple[str, int]] = {}
        self.ops: list[Op] = []
        self.by_node: dict[str, Op] = {}
        self.uses: dict[str, int] = {}
        self.unmapped: list[Unmapped] = []
        self.params = 0
        self.input_shape = input_shape

    # -- values ----------------------------------------------------------------------------

    def weight(self, name: str) -> Optional[Shape]:
        """An initializer's declared dims (its data is never read)."""
        init = self.initializers.get(name)
        if init is None or any(d < 0 for d in init.dims):
            return None
        return tuple(int(d) for d in init.dims)

    def value(self, name: str) -> Any:
        """A small constant's value (a numpy array), None when unknown or large."""
        if name in self.values:
            return self.values[name]
        init = self.initializers.get(name)
        return _tensor_value(init) if init is not None else None

    def listed(self, name: str) -> Optional[list[Any]]:
        value = self.value(name)
        return None if value is None else value.reshape(-1).tolist()

    def is_tensor(self, name: str) -> bool:
        return name in self.refs

    def inferred(self, name: str) -> Optional[Shape]:
        return self.onnx_shapes.get(name)

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
        for dim, size in zip(dims, shape, strict=True):
            dim.Clear()
            dim.dim_value = size
        # Shapes the exporter wrote for its own input size are inferred again for this one.
        for value in self.graph.output:
            value.type.tensor_type.ClearField("shape")
        del self.graph.value_info[:]
        try:
            inferred = onnx.shape_inference.infer_shapes(self.model, strict_mode=False, data_prop=True)
        except Exception as exc:  # onnx's checker on a malformed graph
            raise OnnxError(f"onnx shape inference failed: {type(exc).__name__}: {exc}".splitlines()[0]) from None
        for value in [*inferred.graph.value_info, *inferred.graph.output, *inferred.graph.input]:
            tensor = value.type.tensor_type
            if tensor.HasField("shape") and all(d.HasField("dim_value") and d.dim_value > 0 for d in tensor.shape.dim):
                self.onnx_shapes[value.name] = tuple(d.dim_value for d in tensor.shape.dim)
        self.refs[first.name] = ("input", 0)
        self.shapes[first.name] = self.input_shape
        for node in self.graph.node:
            for name in node.input:
                self.uses[name] = self.uses.get(name, 0) + 1

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

    def output_shapes(self) -> list[Shape]:
        """The graph's output shapes: onnx's inference where it knows them, else the mapped kinds'."""
        return [self.onnx_shapes.get(value.name) or self.shapes.get(value.name, ()) for value in self.graph.output]

    def node(self, index: int, node: Any) -> None:
        op_type = node.op_type
        what = f"op {op_type}"
        if not node.output or not node.output[0]:
            self.unmapped.append(Unmapped(self.where(index, node), what, "the node has no output"))
            return
        if op_type == "Identity" and arg(node, 0) in self.initializers:
            # The exporter's alias of one constant for several nodes (equal folded biases).
            self.initializers[node.output[0]] = self.initializers[node.input[0]]
            return
        tensors = [name for name in node.input if name in self.refs]
        if op_type == "Shape" and tensors and tensors[0] in self.shapes:
            tensors = []  # the shape of a tensor is a constant: fold it
        if not tensors:
            # Computed from constants alone (the exporter's shapes, pads, scales): folded
            # when small, otherwise only known to be a constant.
            self.fold(node)
            return
        if any(name and name not in self.refs and not self.is_constant(name) for name in node.input):
            return  # its producer is already reported
        if op_type in ("Identity", "Dropout"):
            if len(node.output) > 1 and any(node.output[1:]):
                self.unmapped.append(Unmapped(self.where(index, node), what, "a dropout mask has no layer kind"))
                return
            self.refs[node.output[0]] = self.refs[tensors[0]]
            self.shapes[node.output[0]] = self.shapes[tensors[0]]
            return
        mapper = NODES.get(op_type)
        if mapper is None:
            self.unmapped.append(
                Unmapped(
                    self.where(index, node),
                    what,
                    "no cnnshape layer kind for this ONNX op (docs/torch.md lists the mapping)",
                )
            )
            return
        in_shapes = [self.shapes[name] for name in tensors]
        try:
            mapped = mapper(self, node, _attrs(node), in_shapes)
        except Exception as exc:  # an attribute of the wrong type in a hand-made file
            mapped = f"cannot be read: {type(exc).__name__}: {exc}".splitlines()[0]
        if isinstance(mapped, str):
            self.unmapped.append(Unmapped(self.where(index, node), what, mapped))
            return
        kind, args, weights = mapped
        if self.fuse_bias(node, kind, args, tensors, weights):
            return
        try:
            result = REGISTRY[kind].model_validate(args).infer(in_shapes)
        except Exception as exc:  # pydantic's ValidationError, the kind's ShapeError
            self.unmapped.append(Unmapped(self.where(index, node), what, f"{kind}{args}: {exc}".splitlines()[0]))
            return
        outputs = [name for name in node.output]
        for i, name in enumerate(outputs[: len(result.shapes)]):
            onnx_shape = self.onnx_shapes.get(name)
            if name and onnx_shape is not None and onnx_shape != tuple(result.shapes[i]):
                self.unmapped.append(
                    Unmapped(
                        self.where(index, node),
                        what,
                        f"as {kind} its output is {list(result.shapes[i])}; onnx's shape inference gives {list(onnx_shape)}",
                    )
                )
                return
        self.params += weights
        # torch.onnx.export names a node /layer1/layer1.0/conv1/Conv: the module path is
        # layer1.0.conv1; the writer names the layer after it (layer1_0_conv1).
        parts = node.name.strip("/").split("/") if node.name else []
        where = parts[0] if parts else f"{op_type.lower()}_{index}"
        for part in parts[1:-1]:
            where = part if part.startswith(where + ".") else f"{where}.{part}"
        op = Op(f"node_{index}", kind, args, [self.refs[t] for t in tensors], where, "", len(result.shapes))
        self.ops.append(op)
        self.by_node[op.node] = op
        for i, name in enumerate(outputs[: len(result.shapes)]):
            if name:
                self.refs[name] = (op.node, i)
                self.shapes[name] = tuple(result.shapes[i])

    def is_constant(self, name: str) -> bool:
        return name in self.constants or name in self.initializers or name in self.values

    def fuse_bias(self, node: Any, kind: str, args: dict[str, Any], tensors: list[str], weights: int) -> bool:
        """MatMul by a weight then Add of a 1-D initializer is one Linear with a bias
        (how the exporter writes nn.Linear on 3-D input)."""
        if kind != "Add" or list(args) != ["tensor_shape"] or len(tensors) != 1 or self.uses.get(tensors[0]) != 1:
            return False
        node_name, _ = self.refs[tensors[0]]
        producer = self.by_node.get(node_name)
        if producer is None or producer.kind != "Linear" or producer.args.get("bias", True):
            return False
        if args["tensor_shape"] != [producer.args["out_features"]]:
            return False
        del producer.args["bias"]
        self.params += weights
        self.refs[node.output[0]] = self.refs[tensors[0]]
        self.shapes[node.output[0]] = self.shapes[tensors[0]]
        return True

    def fold(self, node: Any) -> None:
        """A node of constants: its value when it is small and the op is one of the
        exporter's shape arithmetic; it stays a constant (value unknown) otherwise."""
        for name in node.output:
            self.constants.add(name)
        if node.op_type == "Expand" and arg(node, 0) in self.initializers:
            token = self.weight(node.input[0])
            if token is not None:
                self.expanded[node.output[0]] = token
        try:
            value = _evaluate(self, node, _attrs(node))
        except Exception:  # anything numpy refuses: the value stays unknown
            value = None
        if value is not None and value.size <= MAX_CONSTANT:
            self.values[node.output[0]] = value


_DATA_FIELDS = ("raw_data", "float_data", "int32_data", "int64_data", "double_data", "uint64_data", "string_data")


def _drop_weights(model: Any) -> None:
    """Only an initializer's dims count: the data of every one larger than a constant is
    dropped before onnx's shape inference, which copies the whole model (VGG-16: 550 MB,
    ten seconds) and reads none of it."""
    for init in model.graph.initializer:
        if len(init.dims) and prod(init.dims) > MAX_CONSTANT:
            for name in _DATA_FIELDS:
                init.ClearField(name)


def _tensor_value(tensor: Any) -> Any:
    """A TensorProto's value when it is small and stored in the file (never external data)."""
    from onnx import TensorProto, numpy_helper

    if tensor.data_location == TensorProto.EXTERNAL or any(d < 0 for d in tensor.dims):
        return None
    if prod(tensor.dims) > MAX_CONSTANT:
        return None
    try:
        return numpy_helper.to_array(tensor)
    except Exception:  # dims that disagree with the data in a hand-made file
        return None


def _evaluate(reader: Reader, node: Any, attrs: dict[str, Any]) -> Any:
    """The value of a constant node, by numpy, for the ops shape arithmetic uses."""
    import numpy as np

    op = node.op_type
    if op == "Constant":
        if "value" in attrs:
            return _tensor_value(attrs["value"])
        for key in ("value_int", "value_float", "value_ints", "value_floats"):
            if key in attrs:
                return np.array(attrs[key])
        return None
    if op == "Shape":
        shape = reader.shapes[node.input[0]]
        start, end = attrs.get("start", 0), attrs.get("end", len(shape))
        return np.array(shape[start:end], dtype=np.int64)
    args: list[Any] = [reader.value(name) if name else None for name in node.input]
    if any(a is None for a in args[:1]):
        return None
    a: Any = args[0]
    if op in ("Identity", "Cast"):
        return a
    if op == "ConstantOfShape":
        if prod(int(d) for d in a.reshape(-1)) > MAX_CONSTANT:
            return None
        fill = _tensor_value(attrs["value"]) if "value" in attrs else np.zeros(1)
        return np.full([int(d) for d in a.reshape(-1)], fill.reshape(-1)[0] if fill is not None else 0)
    if op == "Gather":
        return np.take(a, args[1], axis=attrs.get("axis", 0))
    if op == "Unsqueeze":
        axes = attrs.get("axes") or args[1].reshape(-1).tolist()
        for axis in sorted(axes):
            a = np.expand_dims(a, axis)
        return a
    if op == "Squeeze":
        axes = attrs.get("axes") or (args[1].reshape(-1).tolist() if len(args) > 1 else None)
        return np.squeeze(a, axis=tuple(axes) if axes else None)
    if op == "Concat":
        return np.concatenate(args, axis=attrs.get("axis", 0))
    if op == "Slice":
        starts, ends = args[1].reshape(-1), args[2].reshape(-1)
        axes = args[3].reshape(-1) if len(args) > 3 and args[3] is not None else range(len(starts))
        steps = args[4].reshape(-1) if len(args) > 4 and args[4] is not None else [1] * len(starts)
        index = [slice(None)] * a.ndim
        for axis, start, end, step in zip(axes, starts, ends, steps, strict=True):
            index[int(axis)] = slice(int(start), int(end), int(step))
        return a[tuple(index)]
    if op == "Transpose":
        return np.transpose(a, attrs.get("perm") or None)
    if op == "Reshape":
        return a.reshape([int(d) for d in args[1].reshape(-1)])
    unary = {"Neg": np.negative, "Sqrt": np.sqrt, "Floor": np.floor, "Ceil": np.ceil, "Not": np.logical_not}
    if op in unary:
        return unary[op](a)
    binary = {
        "Add": np.add,
        "Sub": np.subtract,
        "Mul": np.multiply,
        "Mod": np.mod,
        "Equal": np.equal,
        "Less": np.less,
        "Greater": np.greater,
        "Max": np.maximum,
        "Min": np.minimum,
    }
    if op in binary and len(args) == 2 and args[1] is not None:
        return binary[op](a, args[1])
    if op == "Div" and len(args) == 2 and args[1] is not None:
        integer = a.dtype.kind in "iu" and args[1].dtype.kind in "iu"
        return np.floor_divide(a, args[1]) if integer else np.divide(a, args[1])
    if op == "Where" and len(args) == 3 and all(x is not None for x in args):
        return np.where(a, args[1], args[2])
    return None


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
    del data
    if not model.graph.node:
        raise OnnxError("not a readable ONNX model: the graph has no nodes")
    _drop_weights(model)
    reader = Reader(model, input_shape)
    reader.infer()
    outputs = reader.run()
    onnx_outputs = reader.output_shapes()
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
