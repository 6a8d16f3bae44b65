"""A PyTorch model as a cnnshape spec: trace it with torch.fx, map every module and function
call to a layer kind, and write a readable spec in which each custom submodule becomes a
block use, uses of one class with one structure sharing one block with args.

What cannot be mapped is reported, located by module path, and nothing is written. The
spec written is analysed again and its parameter count and output shapes compared with
PyTorch's, so a mapping mistake cannot pass silently. Imports torch; only the `import`
command reaches this module.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import math
import operator
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from cnnshape.bridge._torch import torch  # first: torch imported quietly

# isort: split
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from cnnshape.layers import REGISTRY
from cnnshape.spec import NAME_RE


class TargetError(Exception):
    """The TARGET cannot be loaded or traced; message for the user."""


@dataclass
class Unmapped:
    """One operation with no cnnshape layer kind, located in the model."""

    where: str  # module path ("layer1.0.conv1") or "forward" for the top level
    op: str  # what it is: "call_function operator.mul", "module TransformerEncoder"
    reason: str

    def format(self) -> str:
        return f"{self.where}: {self.op}: {self.reason}"


@dataclass
class ImportResult:
    text: str  # the spec (empty when something is unmapped)
    unmapped: list[Unmapped]
    torch_params: int
    torch_outputs: list[tuple[int, ...]]
    layers: int
    blocks: int
    problems: list[str] = field(default_factory=list)  # the written spec disagrees with PyTorch

    @property
    def ok(self) -> bool:
        return not self.unmapped and not self.problems


# --- loading the target -------------------------------------------------------------------


def load_target(target: str) -> nn.Module:
    """`pkg.module:attr` or `path/to/file.py:attr`: a module instance, class or factory."""
    where, sep, attr = target.rpartition(":")
    if not sep or not where or not attr:
        raise TargetError(f"expected TARGET as pkg.module:attr or path/to/file.py:attr, got {target!r}")
    try:
        if where.endswith(".py") or "/" in where or "\\" in where:
            path = Path(where)
            if not path.is_file():
                raise TargetError(f"{where}: no such file")
            name = "cnnshape_import_" + re.sub(r"\W", "_", path.stem)
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            sys.path.insert(0, str(path.resolve().parent))
            try:
                spec.loader.exec_module(module)
            finally:
                sys.path.remove(str(path.resolve().parent))
        else:
            # `pkg.module:attr` from the project folder, as `python -c "import pkg.module"` would find it.
            if os.getcwd() not in sys.path and "" not in sys.path:
                sys.path.insert(0, os.getcwd())
            module = importlib.import_module(where)
    except TargetError:
        raise
    except Exception as exc:  # the user's code: any failure is theirs to see
        raise TargetError(f"cannot import {where}: {type(exc).__name__}: {exc}") from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise TargetError(f"{where} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if isinstance(obj, nn.Module):
        return obj
    if callable(obj):
        try:
            made = obj()
        except Exception as exc:
            raise TargetError(f"{target}() failed: {type(exc).__name__}: {exc}") from None
        if isinstance(made, nn.Module):
            return made
        raise TargetError(f"{target}() returned a {type(made).__name__}, not an nn.Module")
    raise TargetError(f"{target} is a {type(obj).__name__}: expected an nn.Module instance, class or zero-argument factory")


# --- tracing ------------------------------------------------------------------------------

_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


class _Tracer(fx.Tracer):
    """torch.nn modules are leaves (mapped or reported whole); custom modules are traced through."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        if isinstance(m, _CONTAINERS):
            return False
        return type(m).__module__.startswith(("torch.nn", "torch.ao.nn"))


class _Recorder(fx.Interpreter):
    """Runs the traced graph once, keeping every node's value."""

    def __init__(self, module: fx.GraphModule):
        super().__init__(module)
        self.values: dict[str, Any] = {}

    def run_node(self, n: fx.Node) -> Any:
        value = super().run_node(n)
        self.values[n.name] = value
        return value


# --- one mapped operation -----------------------------------------------------------------


@dataclass
class _Op:
    """A traced operation mapped to a layer kind."""

    node: str  # fx node name
    kind: str
    args: dict[str, Any]
    inputs: list[tuple[str, int]]  # (fx node name or "input", output index)
    path: str  # module path of a module call, else ""
    owner: str  # module path of the innermost custom module it runs in ("" for the model)
    n_outputs: int = 1
    local: str = ""


def _plain(value: Any) -> Any:
    if isinstance(value, torch.Size):
        return [int(v) for v in value]
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, torch.dtype):
        return str(value)
    return value


def _module_args(kind: str, module: nn.Module, in_shape: Optional[tuple[int, ...]]) -> dict[str, Any]:
    """A torch.nn module's constructor arguments as cnnshape arguments (defaults left out)."""
    cls = REGISTRY[kind]
    values: dict[str, Any] = {}
    if kind == "TransformerEncoderLayer":
        attention = module.self_attn
        values = {
            "d_model": attention.embed_dim,
            "nhead": attention.num_heads,
            "dim_feedforward": module.linear1.out_features,
            "dropout": module.dropout.p,
            "activation": "gelu" if getattr(module, "activation_relu_or_gelu", 1) == 2 else "relu",
            "layer_norm_eps": module.norm1.eps,
            "batch_first": attention.batch_first,
            "norm_first": module.norm_first,
            "bias": module.linear1.bias is not None,
        }
    elif kind == "MultiheadAttention":
        values = {
            "num_heads": module.num_heads,
            "dropout": float(module.dropout),
            "bias": module.in_proj_bias is not None,
            "add_bias_kv": module.bias_k is not None,
            "add_zero_attn": module.add_zero_attn,
            "batch_first": module.batch_first,
        }
        if module.kdim != module.embed_dim:
            values["kdim"] = module.kdim
        if module.vdim != module.embed_dim:
            values["vdim"] = module.vdim
    else:
        inferred = {"in_channels", "in_features", "num_features", "num_channels", "embed_dim"}
        for name in cls.model_fields:
            if name in inferred or not hasattr(module, name):
                continue
            value = getattr(module, name)
            if name == "bias":
                if getattr(module, "affine", True) is False or getattr(module, "elementwise_affine", True) is False:
                    continue
                value = value is not None
            elif isinstance(value, torch.Tensor):
                continue
            value = _plain(value)
            if name in _PER_AXIS and isinstance(value, list) and value and all(v == value[0] for v in value):
                value = value[0]  # kernel_size: 3 rather than [3, 3]
            values[name] = value
        if kind == "LayerNorm" and in_shape is not None and values.get("normalized_shape") == [in_shape[-1]]:
            del values["normalized_shape"]
    return {key: value for key, value in values.items() if not _is_default(cls, key, value)}


_PER_AXIS = {"kernel_size", "stride", "padding", "dilation", "output_padding"}


def _is_default(cls: Any, name: str, value: Any) -> bool:
    info = cls.model_fields[name]
    if info.is_required():
        return False
    default = info.default
    if isinstance(default, tuple):
        default = list(default)
    if isinstance(value, list) and not isinstance(default, list) and value and all(v == default for v in value):
        return True
    return value == default and type(value) is not bool or value is default


def _norm_dim(dim: int, rank: int) -> int:
    return dim + rank if dim < 0 else dim


# Functions and methods: (kind, [(argument name, default)] after the tensor).
_ELEMENTWISE: dict[Any, str] = {
    F.relu: "ReLU", torch.relu: "ReLU", "relu": "ReLU", F.relu6: "ReLU6",
    F.gelu: "GELU", F.silu: "SiLU", F.mish: "Mish", F.hardswish: "Hardswish", F.hardsigmoid: "Hardsigmoid",
    torch.sigmoid: "Sigmoid", F.sigmoid: "Sigmoid", "sigmoid": "Sigmoid",
    torch.tanh: "Tanh", F.tanh: "Tanh", "tanh": "Tanh", F.selu: "SELU",
}
_PASS_THROUGH = {"contiguous", "clone", "detach", torch.clone}


def _bind(names: list[tuple[str, Any]], args: tuple, kwargs: dict) -> dict[str, Any]:
    bound = {name: default for name, default in names}
    for (name, _), value in zip(names, args):
        bound[name] = value
    bound.update({key: value for key, value in kwargs.items() if key in bound})
    return bound


class _Mapper:
    """Maps the traced graph's nodes to _Ops, collecting what it cannot map."""

    def __init__(self, gm: fx.GraphModule, values: dict[str, Any]):
        self.gm = gm
        self.values = values
        self.ops: list[_Op] = []
        self.unmapped: list[Unmapped] = []
        self.refs: dict[str, list[tuple[str, int]]] = {}  # node -> the tensors it stands for
        self.module_calls: dict[str, int] = {}

    def value(self, arg: Any) -> Any:
        if isinstance(arg, fx.Node):
            return self.values[arg.name]
        if isinstance(arg, (list, tuple)):
            return type(arg)(self.value(a) for a in arg)
        return arg

    def tensor_refs(self, arg: Any) -> Optional[list[tuple[str, int]]]:
        if isinstance(arg, fx.Node) and arg.name in self.refs:
            return self.refs[arg.name]
        return None

    def owner(self, node: fx.Node) -> str:
        stack = node.meta.get("nn_module_stack") or {}
        owner = ""
        for key, (path, cls) in stack.items():
            path = key if isinstance(key, str) and not path else path
            if node.op == "call_module" and path == node.target:
                continue
            if isinstance(cls, type) and issubclass(cls, _CONTAINERS):
                continue
            if isinstance(cls, type) and cls.__module__.startswith(("torch.nn", "torch.ao.nn")):
                continue
            owner = path
        return owner

    def where(self, node: fx.Node) -> str:
        if node.op == "call_module":
            return str(node.target)
        owner = self.owner(node)
        return f"{owner}.forward ({node.name})" if owner else f"forward ({node.name})"

    def miss(self, node: fx.Node, op: str, reason: str) -> None:
        self.unmapped.append(Unmapped(self.where(node), op, reason))

    def run(self) -> Optional[list[tuple[str, int]]]:
        outputs: Optional[list[tuple[str, int]]] = None
        placeholders = 0
        for node in self.gm.graph.nodes:
            if node.op == "placeholder":
                placeholders += 1
                if placeholders > 1:
                    self.miss(node, f"input {node.name}", "forward() takes more than one input; a spec has one")
                else:
                    self.refs[node.name] = [("input", 0)]
            elif node.op == "output":
                outputs = self._outputs(node)
            elif node.op == "get_attr":
                continue  # a parameter or buffer: reported if a mapped op needs it as a tensor
            elif node.op == "call_module":
                self._module(node)
            else:
                self._function(node)
        return outputs

    def _outputs(self, node: fx.Node) -> Optional[list[tuple[str, int]]]:
        result = node.args[0]
        items = list(result) if isinstance(result, (tuple, list)) else [result]
        refs: list[tuple[str, int]] = []
        for item in items:
            found = self.tensor_refs(item)
            if found is None:
                if not (isinstance(item, fx.Node) and self._reported(item)):
                    self.miss(node, "output", f"returns a {type(self.value(item)).__name__}, not a tensor cnnshape can follow")
                return None
            refs += found
        return refs

    def _inputs(self, node: fx.Node, args: list[Any], what: str) -> Optional[list[tuple[str, int]]]:
        refs: list[tuple[str, int]] = []
        for arg in args:
            found = self.tensor_refs(arg)
            if found is None:
                if isinstance(arg, fx.Node) and arg.op == "get_attr":
                    self.miss(node, what, f"uses the parameter or buffer {arg.target!r} directly; wrap it in a module cnnshape knows")
                elif isinstance(arg, fx.Node) and isinstance(self.values.get(arg.name), torch.Tensor):
                    return None  # its producer is already reported
                elif not isinstance(arg, fx.Node) or not self._reported(arg):
                    self.miss(node, what, f"an input is a {type(self.value(arg)).__name__}, not a tensor")
                return None
            refs += found
        return refs

    def _reported(self, node: fx.Node) -> bool:
        """True when this node, or one it reads, is already reported as unmapped."""
        where = {u.where for u in self.unmapped}
        stack, seen = [node], set()
        while stack:
            current = stack.pop()
            if current.name in seen:
                continue
            seen.add(current.name)
            if self.where(current) in where:
                return True
            stack += [a for a in current.all_input_nodes]
        return False

    def add(self, node: fx.Node, kind: str, args: dict[str, Any], inputs: list[tuple[str, int]], path: str = "") -> None:
        cls = REGISTRY[kind]
        try:
            layer = cls.model_validate(args)
        except Exception as exc:
            self.miss(node, kind, f"arguments cnnshape does not accept: {exc}".splitlines()[0])
            return
        n_outputs = layer.num_outputs()
        self.ops.append(_Op(node.name, kind, args, inputs, path, self.owner(node), n_outputs))
        self.refs[node.name] = [(node.name, i) for i in range(n_outputs)]

    # -- modules -------------------------------------------------------------------------

    def _module(self, node: fx.Node) -> None:
        module = self.gm.get_submodule(node.target)
        kind = type(module).__name__
        what = f"module {kind}"
        self.module_calls[node.target] = self.module_calls.get(node.target, 0) + 1
        if self.module_calls[node.target] > 1:
            self.miss(node, what, "called more than once (shared weights): a spec layer owns its parameters")
            return
        if kind not in REGISTRY:
            self.miss(node, what, "no cnnshape layer kind of this name (docs/torch.md lists the mapping)")
            return
        tensor_args = list(node.args)
        if kind == "MultiheadAttention":
            names = ["query", "key", "value"]
            tensor_args = [node.args[i] if i < len(node.args) else node.kwargs.get(n) for i, n in enumerate(names)]
            extra = {k for k in node.kwargs if k not in names and k not in ("need_weights", "average_attn_weights")}
            if extra or len(node.args) > 3 or any(a is None for a in tensor_args):
                self.miss(node, what, "called with masks or other arguments cnnshape does not model")
                return
            if tensor_args[0] is tensor_args[1] is tensor_args[2]:
                tensor_args = tensor_args[:1]
        elif node.kwargs:
            self.miss(node, what, f"called with keyword arguments {sorted(node.kwargs)}")
            return
        inputs = self._inputs(node, tensor_args, what)
        if inputs is None:
            return
        first = self.value(tensor_args[0])
        in_shape = tuple(first.shape) if isinstance(first, torch.Tensor) else None
        self.add(node, kind, _module_args(kind, module, in_shape), inputs, str(node.target))
        if kind == "MultiheadAttention":
            # nn.MultiheadAttention returns (output, weights); cnnshape's kind is the output.
            self.refs[node.name] = [(node.name, 0), ("<weights>", 0)]

    # -- functions and methods ---------------------------------------------------------------

    def _function(self, node: fx.Node) -> None:
        target = node.target
        name = target if isinstance(target, str) else getattr(target, "__name__", str(target))
        owner = getattr(target, "__module__", None) or ""
        owner = {"_operator": "operator", "builtins": "", "torch._C._nn": "torch.nn.functional"}.get(owner, owner)
        what = f"{node.op} {owner + '.' if owner else ''}{name}"
        out = self.values.get(node.name)
        if not isinstance(out, torch.Tensor) and not (isinstance(out, (tuple, list)) and out and all(isinstance(t, torch.Tensor) for t in out)):
            return  # sizes, shapes and other plain values: read where they are used
        args, kwargs = list(node.args), dict(node.kwargs)
        first = args[0] if args else None
        x = self.value(first) if first is not None else None
        rank = x.dim() if isinstance(x, torch.Tensor) else 0
        if target is operator.getitem:
            self._getitem(node, what)
            return
        if target in _PASS_THROUGH:
            refs = self._inputs(node, [first], what)
            if refs is not None:
                self.refs[node.name] = refs
            return
        if target in (operator.add, torch.add, "add", operator.iadd, "add_", operator.mul, torch.mul, "mul", operator.imul, "mul_"):
            kind = "Add" if target in (operator.add, torch.add, "add", operator.iadd, "add_") else "Mul"
            if len(args) != 2 or kwargs or not all(isinstance(self.value(a), torch.Tensor) for a in args):
                self.miss(node, what, "only a tensor plus (or times) a tensor maps to Add (Mul); a constant operand has no layer kind")
                return
            inputs = self._inputs(node, args, what)
            if inputs is not None:
                self.add(node, kind, {}, inputs)
            return
        if target in (torch.cat, torch.concat):
            bound = _bind([("tensors", None), ("dim", 0)], tuple(args), kwargs)
            inputs = self._inputs(node, list(bound["tensors"]), what)
            dim = self.value(bound["dim"])
            if inputs is not None:
                self.add(node, "Concat", {} if dim == 1 else {"dim": dim}, inputs)
            return
        rest = tuple(self.value(a) for a in args[1:])
        kwargs = {key: self.value(value) for key, value in kwargs.items()}
        mapped = self._map_call(target, rest, kwargs, x, out, rank) if isinstance(x, torch.Tensor) else None
        if mapped is None:
            if not (target is getattr and isinstance(first, fx.Node) and self._reported(first)):
                self.miss(node, what, "no cnnshape layer kind for this operation (docs/torch.md lists the mapping)")
            return
        inputs = self._inputs(node, [first], what)
        if inputs is None:
            return
        kind, layer_args = mapped
        self.add(node, kind, layer_args, inputs)

    def _getitem(self, node: fx.Node, what: str) -> None:
        source, index = node.args
        refs = self.tensor_refs(source)
        value = self.values.get(source.name) if isinstance(source, fx.Node) else None
        if refs is not None and isinstance(value, (tuple, list)) and isinstance(index, int):
            picked = refs[index] if index < len(refs) else None
            if picked is None or picked[0] == "<weights>":
                self.miss(node, what, "uses MultiheadAttention's attention weights, which cnnshape does not model")
                return
            self.refs[node.name] = [picked]
            return
        if refs is not None and isinstance(value, torch.Tensor):
            index = index if isinstance(index, tuple) else (index,)
            ints = [(i, item) for i, item in enumerate(index) if isinstance(item, int)]
            slices_ok = all(isinstance(item, int) or item == slice(None) for item in index)
            if slices_ok and len(ints) == 1:
                self.add(node, "Select", {"dim": ints[0][0], "index": ints[0][1]}, refs)
                return
        self.miss(node, what, "only x[:, i]-style indexing (Select) and picking an output of a split maps to cnnshape")

    def _map_call(self, target: Any, rest: tuple, kwargs: dict, x: torch.Tensor, out: Any,
                  rank: int) -> Optional[tuple[str, dict[str, Any]]]:
        """(kind, arguments) for one function or method call on tensor x, or None."""
        if target in _ELEMENTWISE:
            kind = _ELEMENTWISE[target]
            if kind == "GELU":
                approximate = kwargs.get("approximate", rest[0] if rest else "none")
                return kind, {} if approximate == "none" else {"approximate": approximate}
            return kind, {}
        if target in (F.leaky_relu, "leaky_relu"):
            slope = _bind([("negative_slope", 0.01)], rest, kwargs)["negative_slope"]
            return "LeakyReLU", {} if slope == 0.01 else {"negative_slope": slope}
        if target is F.elu:
            alpha = _bind([("alpha", 1.0)], rest, kwargs)["alpha"]
            return "ELU", {} if alpha == 1.0 else {"alpha": alpha}
        if target in (F.softmax, torch.softmax, "softmax", F.log_softmax, torch.log_softmax, "log_softmax"):
            dim = _bind([("dim", None)], rest, kwargs)["dim"]
            kind = "LogSoftmax" if "log" in getattr(target, "__name__", str(target)) else "Softmax"
            return kind, {} if dim is None else {"dim": dim}
        if target is F.dropout:
            p = _bind([("p", 0.5)], rest, kwargs)["p"]
            return "Dropout", {} if p == 0.5 else {"p": p}
        if target in (torch.flatten, "flatten"):
            bound = _bind([("start_dim", 0), ("end_dim", -1)], rest, kwargs)
            flat = {"start_dim": bound["start_dim"], "end_dim": bound["end_dim"]}
            return "Flatten", {k: v for k, v in flat.items() if not _is_default(REGISTRY["Flatten"], k, v)}
        if target in ("view", "reshape", torch.reshape, "squeeze", "unsqueeze", torch.squeeze, torch.unsqueeze):
            shape = tuple(out.shape)
            if rank >= 2 and len(shape) == 2 and shape == (x.shape[0], math.prod(x.shape[1:])):
                return "Flatten", {}
            return "Reshape", {"shape": list(shape)}
        if target in ("permute", torch.permute):
            dims = rest[0] if len(rest) == 1 and isinstance(rest[0], (tuple, list)) else rest
            dims = kwargs.get("dims", dims)
            return "Permute", {"dims": [int(d) for d in dims]}
        if target in ("transpose", torch.transpose):
            bound = _bind([("dim0", 0), ("dim1", 1)], rest, kwargs)
            order = list(range(rank))
            a, b = _norm_dim(bound["dim0"], rank), _norm_dim(bound["dim1"], rank)
            order[a], order[b] = order[b], order[a]
            return "Permute", {"dims": order}
        if target in ("mean", torch.mean):
            bound = _bind([("dim", None), ("keepdim", False)], rest, kwargs)
            dim = bound["dim"]
            dim = [] if dim is None else (list(dim) if isinstance(dim, (tuple, list)) else dim)
            return "Mean", {"dim": dim, **({"keepdim": True} if bound["keepdim"] else {})}
        if target in ("chunk", torch.chunk):
            bound = _bind([("chunks", None), ("dim", 0)], rest, kwargs)
            return "Chunk", {"chunks": bound["chunks"], **({} if bound["dim"] == 1 else {"dim": bound["dim"]})}
        if target in ("split", torch.split):
            bound = _bind([("split_size_or_sections", None), ("dim", 0)], rest, kwargs)
            dim = _norm_dim(bound["dim"], rank)
            sections = [int(t.shape[dim]) for t in out]
            return "Split", {"split_size_or_sections": sections, **({} if dim == 1 else {"dim": dim})}
        if target in ("select", torch.select):
            bound = _bind([("dim", None), ("index", None)], rest, kwargs)
            return "Select", {"dim": bound["dim"], "index": bound["index"]}
        if target is F.adaptive_avg_pool2d or target is F.adaptive_avg_pool1d:
            size = _plain(_bind([("output_size", None)], rest, kwargs)["output_size"])
            return ("AdaptiveAvgPool2d" if target is F.adaptive_avg_pool2d else "AdaptiveAvgPool1d"), {"output_size": size}
        if target in (F.max_pool2d, F.avg_pool2d):
            kind = "MaxPool2d" if target is F.max_pool2d else "AvgPool2d"
            names = [("kernel_size", None), ("stride", None), ("padding", 0)]
            names += [("dilation", 1), ("ceil_mode", False), ("return_indices", False)] if kind == "MaxPool2d" else [
                ("ceil_mode", False), ("count_include_pad", True), ("divisor_override", None)]
            bound = _bind(names, rest, kwargs)
            if bound["stride"] in (None, [], ()):
                bound.pop("stride")
            return kind, {k: _plain(v) for k, v in bound.items() if not _is_default(REGISTRY[kind], k, _plain(v))}
        if target is F.interpolate:
            bound = _bind([("size", None), ("scale_factor", None), ("mode", "nearest"), ("align_corners", None)], rest, kwargs)
            return "Upsample", {k: _plain(v) for k, v in bound.items() if v is not None and not (k == "mode" and v == "nearest")}
        return None


# --- the spec -----------------------------------------------------------------------------


def _yaml(value: Any) -> str:
    """A value in YAML flow style that cnnshape reads back as the same value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)
        if "e" in text and "." not in text.split("e")[0]:
            mantissa, exponent = text.split("e")
            text = f"{mantissa}.0e{exponent}"  # YAML 1.1 reads 1e-05 as a string
        if text in ("inf", "-inf", "nan"):
            return f".{text}" if not text.startswith("-") else "-.inf"
        return text
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_yaml(item) for item in value) + "]"
    text = str(value)
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", text) and text.lower() not in (
            "true", "false", "yes", "no", "on", "off", "null", "y", "n"):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass
class _Scope:
    """A module instance that becomes a block use (or the model itself)."""

    path: str
    cls: type
    module: nn.Module
    items: list[Any] = field(default_factory=list)  # _Op or _Scope, in execution order
    inputs: list[tuple[str, int]] = field(default_factory=list)
    outputs: list[tuple[str, int]] = field(default_factory=list)
    local: str = ""
    block: str = ""  # its block's name, once grouped
    use_args: dict[str, Any] = field(default_factory=dict)

    def ops(self) -> list[_Op]:
        found: list[_Op] = []
        for item in self.items:
            found += item.ops() if isinstance(item, _Scope) else [item]
        return found


class _Writer:
    """Groups ops into block uses and writes the spec text."""

    def __init__(self, model: nn.Module, ops: list[_Op], outputs: list[tuple[str, int]], input_shape: tuple[int, ...],
                 name: str, origin: str = ""):
        self.model = model
        self.origin = origin or f"{type(model).__module__}.{type(model).__qualname__}"
        self.ops = ops
        self.outputs = outputs
        self.input_shape = input_shape
        self.name = name
        self.blocks: dict[str, tuple[list[str], dict[str, Any], list[Any], list[str]]] = {}
        self.block_count = 0

    # -- the scope tree --------------------------------------------------------------------

    def tree(self) -> _Scope:
        root = _Scope("", type(self.model), self.model)
        scopes = {"": root}
        order = {op.node: i for i, op in enumerate(self.ops)}
        for op in self.ops:
            parts = op.owner.split(".") if op.owner else []
            parent = root
            for depth in range(1, len(parts) + 1):
                path = ".".join(parts[:depth])
                module = self.model.get_submodule(path)
                if isinstance(module, _CONTAINERS):
                    continue
                scope = scopes.get(path)
                if scope is None:
                    scope = scopes[path] = _Scope(path, type(module), module)
                    parent.items.append(scope)
                parent = scope
            parent.items.append(op)
        # A module whose operations are not contiguous cannot be one block use: inline it.
        self._inline_split(root, order)
        self._wire(root)
        return root

    def _inline_split(self, scope: _Scope, order: dict[str, int]) -> None:
        items: list[Any] = []
        for item in scope.items:
            if isinstance(item, _Scope):
                self._inline_split(item, order)
                indices = sorted(order[op.node] for op in item.ops())
                if indices != list(range(indices[0], indices[0] + len(indices))):
                    items += item.items
                    continue
            items.append(item)
        items.sort(key=lambda item: min(order[op.node] for op in item.ops()) if isinstance(item, _Scope) else order[item.node])
        scope.items = items

    def _wire(self, scope: _Scope) -> None:
        """Each scope's inputs (tensors from outside it) and outputs (tensors used outside)."""
        inside = {op.node for op in scope.ops()}
        consumers: dict[tuple[str, int], set[str]] = {}
        for op in self.ops:
            for ref in op.inputs:
                consumers.setdefault(ref, set()).add(op.node)
        for op in scope.ops():
            for ref in op.inputs:
                if ref[0] not in inside and ref not in scope.inputs:
                    scope.inputs.append(ref)
        if scope.path:
            for op in scope.ops():
                for i in range(op.n_outputs):
                    ref = (op.node, i)
                    if (consumers.get(ref, set()) - inside) or ref in self.outputs:
                        scope.outputs.append(ref)
        else:
            scope.outputs = list(self.outputs)
        for item in scope.items:
            if isinstance(item, _Scope):
                self._wire(item)

    # -- names --------------------------------------------------------------------------------

    def _name_items(self, scope: _Scope) -> None:
        taken: set[str] = set()
        for item in scope.items:
            if isinstance(item, _Scope):
                relative = item.path[len(scope.path) + 1:] if scope.path else item.path
                wanted = relative.replace(".", "_")
                fallback = item.cls.__name__.lower()
            else:
                if item.path:
                    relative = item.path[len(scope.path) + 1:] if scope.path else item.path
                    wanted = relative.replace(".", "_")
                else:
                    # fx numbers calls across the whole model (relu_7); number them per scope.
                    wanted = "select" if item.kind == "Select" else re.sub(r"_\d+$", "", item.node)
                fallback = item.kind.lower()
            if not wanted or not wanted[0].isalpha() and wanted[0] != "_":
                wanted = f"{fallback}_{wanted}"
            if wanted == "input" or not NAME_RE.match(wanted):
                wanted = re.sub(r"\W", "_", wanted) + "_"
            name, n = wanted, 1
            while name in taken:
                n += 1
                name = f"{wanted}_{n}"
            taken.add(name)
            item.local = name
            if isinstance(item, _Scope):
                self._name_items(item)

    # -- blocks ---------------------------------------------------------------------------------

    def _body(self, scope: _Scope) -> tuple[list[tuple], dict[tuple, Any]]:
        """The scope's entries as (structure, values): structure ignores argument values."""
        where: dict[tuple[str, int], str] = {}
        for item in scope.items:
            if isinstance(item, _Scope):
                for k, ref in enumerate(item.outputs):
                    where[ref] = f"{item.local}.{k}" if len(item.outputs) > 1 else item.local
            else:
                for i in range(item.n_outputs):
                    where[(item.node, i)] = f"{item.local}.{i}" if item.n_outputs > 1 else item.local
        for j, ref in enumerate(scope.inputs):
            where[ref] = "input" if len(scope.inputs) == 1 else f"input.{j}"
        structure: list[tuple] = []
        values: dict[tuple, Any] = {}
        previous: list[str] = ["input"] if len(scope.inputs) == 1 else [f"input.{j}" for j in range(len(scope.inputs))]
        for item in scope.items:
            sources = [where[ref] for ref in item.inputs]
            if isinstance(item, _Scope):
                kind, args, n_out = item.block, item.use_args, len(item.outputs)
                outs = [item.local] if n_out == 1 else [f"{item.local}.{k}" for k in range(n_out)]
            else:
                kind, args, n_out = item.kind, item.args, item.n_outputs
                outs = [item.local] if n_out == 1 else [f"{item.local}.{k}" for k in range(n_out)]
            from_ = None if sources == previous else sources
            structure.append((kind, item.local, tuple(sorted(args)), tuple(sources)))
            for key, value in args.items():
                values[(item.local, key)] = value
            previous = outs
            item.__dict__["_from"] = from_  # written as `from:` only when it is not the entry above
        outputs = [where[ref] for ref in scope.outputs]
        structure.append(("outputs", tuple(outputs)))
        return structure, values

    def group_all(self, root: _Scope) -> None:
        # Deepest scopes first, so a parent's structure sees its children's block names.
        levels: dict[int, list[_Scope]] = {}

        def walk(scope: _Scope, depth: int) -> None:
            levels.setdefault(depth, []).append(scope)
            for item in scope.items:
                if isinstance(item, _Scope):
                    walk(item, depth + 1)

        walk(root, 0)
        for depth in sorted(levels, reverse=True):
            if depth == 0:
                continue
            groups: dict[tuple, list[_Scope]] = {}
            for scope in levels[depth]:
                structure, _ = self._body(scope)
                key = (scope.cls, _signature(scope.cls), tuple(structure), len(scope.inputs))
                groups.setdefault(key, []).append(scope)
            for (cls, _, _, _), members in groups.items():
                self._make_block(cls, members)

    def _make_block(self, cls: type, members: list[_Scope]) -> None:
        name = cls.__name__ if NAME_RE.match(cls.__name__) else "Block"
        base, n = name, 1
        while name in self.blocks or name in REGISTRY:
            n += 1
            name = f"{base}_{n}"
        bodies = [self._body(member) for member in members]
        differing = [key for key in bodies[0][1] if any(body[1].get(key) != bodies[0][1][key] for body in bodies[1:])]
        # Values that vary together (conv1 and conv2 widths) become one arg.
        slots: dict[tuple, list[tuple]] = {}
        for key in differing:
            per = tuple(_hashable(body[1][key]) for body in bodies)
            slots.setdefault(per, []).append(key)
        params = _signature_names(cls)
        fields = [key[1] for keys in slots.values() for key in keys]
        args: dict[str, Any] = {}
        arg_of: dict[tuple, str] = {}
        for keys in slots.values():
            values = [bodies[i][1][keys[0]] for i in range(len(bodies))]
            chosen = None
            for param in params:
                if param in args:
                    continue
                if all(_same(getattr(member.module, param, _MISSING), value) for member, value in zip(members, values)):
                    chosen = param
                    break
            if chosen is None or not NAME_RE.match(chosen):
                field_names = {key[1] for key in keys}
                if len(field_names) == 1 and fields.count(keys[0][1]) == len(keys):
                    chosen = keys[0][1]  # the only arg for this field: out_channels
                else:
                    chosen = f"{keys[0][0]}_{keys[0][1]}"
            while chosen in args or chosen in ("name", "from", "repeat", "if", "training_only"):
                chosen += "_"
            args[chosen] = values[0]
            for key in keys:
                arg_of[key] = chosen
        for member in members:
            member.block = name
        self.blocks[name] = (members, args, arg_of)
        for member, body in zip(members, bodies):
            member.use_args = {}
            for key, arg in arg_of.items():
                if body[1][key] != args[arg]:
                    member.use_args[arg] = body[1][key]

    # -- text ---------------------------------------------------------------------------------

    def _entries(self, scope: _Scope, substitutions: dict[tuple, str]) -> list[str]:
        self._body(scope)  # sets each item's `from`
        lines: list[str] = []
        for item in scope.items:
            if isinstance(item, _Scope):
                kind, args = item.block, dict(item.use_args)
            else:
                kind, args = item.kind, dict(item.args)
                for key in list(args):
                    if (item.local, key) in substitutions:
                        args[key] = "$" + substitutions[(item.local, key)]
            fields = [f"{key}: {_yaml(value) if not (isinstance(value, str) and value.startswith('$')) else value}"
                      for key, value in args.items()]
            fields.append(f"name: {item.local}")
            sources = item.__dict__.get("_from")
            if sources:
                fields.append(f"from: {sources[0]}" if len(sources) == 1 else f"from: [{', '.join(sources)}]")
            where = f"  # {item.path}" if getattr(item, "path", "") else ""
            lines.append(f"- {kind}: {{{', '.join(fields)}}}{where}")
        return lines

    def text(self, root: _Scope) -> str:
        self._name_items(root)
        self.group_all(root)
        out = [
            f"# Imported by `cnnshape import` from {self.origin}.",
            "# Layer kinds and arguments as PyTorch's; custom modules became blocks.",
            f"name: {_yaml(self.name)}",
            f"input: {_yaml(list(self.input_shape))}",
        ]
        if self.blocks:
            out.append("blocks:")
            for name, (members, args, arg_of) in self.blocks.items():
                first = members[0]
                uses = ", ".join(member.path for member in members[:4]) + (", ..." if len(members) > 4 else "")
                out.append(f"  {name}:")
                out.append(f"    description: {_yaml(f'{first.cls.__qualname__} ({uses})')}")
                if args:
                    out.append("    args: {" + ", ".join(f"{key}: {_yaml(value)}" for key, value in args.items()) + "}")
                out.append("    layers:")
                substitutions = {key: arg for key, arg in arg_of.items()}
                out += ["      " + line for line in self._entries(first, substitutions)]
                outputs = self._outputs_line(first)
                if outputs:
                    out.append(f"    {outputs}")
        out.append("layers:")
        out += ["  " + line for line in self._entries(root, {})]
        outputs = self._outputs_line(root)
        if outputs:
            out.append(outputs)
        return "\n".join(out) + "\n"

    def _outputs_line(self, scope: _Scope) -> str:
        structure, _ = self._body(scope)
        outputs = list(structure[-1][1])
        last = scope.items[-1] if scope.items else None
        if last is not None:
            n_out = len(last.outputs) if isinstance(last, _Scope) else last.n_outputs
            if n_out == 1 and outputs == [last.local]:
                return ""
        return "outputs: [" + ", ".join(outputs) + "]"


_MISSING = object()


def _hashable(value: Any) -> Any:
    return tuple(_hashable(v) for v in value) if isinstance(value, (list, tuple)) else value


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return list(a) == list(b)
    return a is not _MISSING and type(a) is type(b) and a == b or (isinstance(a, tuple) and list(a) == b)


def _signature(cls: type) -> str:
    try:
        return str(inspect.signature(cls.__init__))
    except (TypeError, ValueError):
        return ""


def _signature_names(cls: type) -> list[str]:
    try:
        return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    except (TypeError, ValueError):
        return []


# --- the whole import ---------------------------------------------------------------------


def import_model(model: nn.Module, input_shape: tuple[int, ...], name: Optional[str] = None,
                 origin: str = "") -> ImportResult:
    """Trace, map, write the spec and check it against PyTorch."""
    model = model.eval()
    try:
        tracer = _Tracer()
        graph = tracer.trace(model)
        gm = fx.GraphModule(tracer.root, graph)
    except Exception as exc:
        raise TargetError(f"torch.fx cannot trace {type(model).__name__}: {type(exc).__name__}: {exc}".splitlines()[0]) from None
    recorder = _Recorder(gm)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    try:
        with torch.no_grad():
            result = recorder.run(torch.zeros(input_shape, device=device))
    except Exception as exc:
        raise TargetError(f"running {type(model).__name__} on a {list(input_shape)} input failed: {type(exc).__name__}: {exc}".splitlines()[0]) from None
    torch_outputs = [tuple(t.shape) for t in (result if isinstance(result, (tuple, list)) else [result]) if isinstance(t, torch.Tensor)]
    torch_params = sum(p.numel() for p in model.parameters())
    mapper = _Mapper(gm, recorder.values)
    outputs = mapper.run()
    if mapper.unmapped or outputs is None:
        return ImportResult("", mapper.unmapped, torch_params, torch_outputs, len(mapper.ops), 0)
    spec_name = name or type(model).__name__.lower()
    writer = _Writer(model, mapper.ops, outputs, input_shape, spec_name, origin)
    text = writer.text(writer.tree())
    result = ImportResult(text, [], torch_params, torch_outputs, len(mapper.ops), len(writer.blocks))
    result.problems = _check(text, torch_params, torch_outputs)
    return result


def _check(text: str, torch_params: int, torch_outputs: list[tuple[int, ...]]) -> list[str]:
    """The written spec, analysed by cnnshape, must agree with PyTorch."""
    from cnnshape.errors import SpecError
    from cnnshape.pipeline import analyze_text

    try:
        report = analyze_text(text, "<imported spec>")
    except SpecError as exc:
        return [f"the written spec does not analyse: {problem.format()}" for problem in exc.problems if problem.severity == "error"]
    problems = []
    if report.totals.params != torch_params:
        problems.append(f"parameters: the spec has {report.totals.params:,}, PyTorch {torch_params:,}")
    spec_outputs = [tuple(output.shape) for output in report.outputs]
    if spec_outputs != torch_outputs:
        problems.append(f"output shapes: the spec gives {spec_outputs}, PyTorch {torch_outputs}")
    return problems


def import_target(target: str, input_shape: tuple[int, ...], name: Optional[str] = None) -> ImportResult:
    return import_model(load_target(target), input_shape, name, target)


__all__ = ["ImportResult", "TargetError", "Unmapped", "import_model", "import_target", "load_target"]
