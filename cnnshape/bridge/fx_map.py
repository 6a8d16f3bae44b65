"""torch.fx tracing and mapping: load the target model, trace it, and map every module and
function call onto a layer kind by what the kinds declare (cnnshape/layers/torchside.py):
their constructor classes, the further module classes they accept, and their fx call
targets. What cannot be mapped is collected, located by module path. Imports torch.
"""

from __future__ import annotations

import importlib
import importlib.util
import operator
import os
import re
import sys
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

from cnnshape.bridge._torch import torch  # first: torch imported quietly

# isort: split
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from cnnshape.bridge.imported import Op, Unmapped
from cnnshape.layers import REGISTRY
from cnnshape.layers.split import takes_everything


class TargetError(Exception):
    """The TARGET cannot be loaded or traced; message for the user."""


# --- loading the target -------------------------------------------------------------------


def load_target(target: str, paths: Sequence[str] = ()) -> nn.Module:
    """`pkg.module:attr` or `path/to/file.py:attr`: a module instance, class or factory;
    `timm:NAME`: timm's model NAME, built without weights.

    This imports (runs) the target's module. `paths` are folders put first on sys.path
    for the import (`--path .` for the current folder, which is never added unasked)."""
    if target.startswith("timm:"):
        return _timm_model(target[len("timm:") :])
    where, sep, attr = target.rpartition(":")
    if not sep or not where or not attr:
        raise TargetError(f"expected TARGET as pkg.module:attr or path/to/file.py:attr, got {target!r}")
    added = [str(Path(path).resolve()) for path in paths]
    # `python -m cnnshape` puts the current folder first on sys.path; a `torchvision.py`
    # lying there must not run unless the user asked for the folder (`--path .`).
    here = os.getcwd()
    dropped = [entry for entry in sys.path if entry in ("", ".", here) and here not in added]
    saved = list(sys.path)
    sys.path[:] = added + [entry for entry in sys.path if entry not in dropped]
    try:
        if where.endswith(".py") or "/" in where or "\\" in where:
            path = Path(where)
            if not path.is_file():
                raise TargetError(f"{where}: no such file")
            name = "cnnshape_import_" + re.sub(r"\W", "_", path.stem)
            spec = importlib.util.spec_from_file_location(name, path)
            if spec is None or spec.loader is None:
                raise TargetError(f"{where}: not a Python file")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            folder = str(path.resolve().parent)
            sys.path.insert(0, folder)  # the file's own folder, as `python file.py` would have it
            try:
                spec.loader.exec_module(module)
            finally:
                sys.path.remove(folder)
        else:
            module = importlib.import_module(where)
    except TargetError:
        raise
    except Exception as exc:  # the user's code: any failure is theirs to see
        raise TargetError(f"cannot import {where}: {type(exc).__name__}: {exc}") from None
    finally:
        sys.path[:] = saved
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
    raise TargetError(
        f"{target} is a {type(obj).__name__}: expected an nn.Module instance, class or zero-argument factory"
    )


def _timm_model(name: str) -> nn.Module:
    """timm.create_model(NAME, pretrained=False): the architecture only, nothing downloaded."""
    try:
        import timm
    except ImportError:
        raise TargetError("timm:NAME needs timm, which is not installed: pip install timm") from None
    if not re.fullmatch(r"[A-Za-z0-9_.\-]+", name):
        raise TargetError(f"expected timm:NAME with a timm model name, got {name!r}")
    if not timm.is_model(name):
        from cnnshape.errors import did_you_mean

        hint = did_you_mean(name, timm.list_models())
        raise TargetError(f"timm has no model {name!r}{hint}")
    try:
        made = timm.create_model(name, pretrained=False)
    except Exception as exc:  # timm's code: any failure is for the user to see
        raise TargetError(f"timm.create_model({name!r}) failed: {type(exc).__name__}: {exc}") from None
    if not isinstance(made, nn.Module):
        raise TargetError(f"timm.create_model({name!r}) returned a {type(made).__name__}, not an nn.Module")
    return made


# --- what the registry maps ---------------------------------------------------------------


def _resolve(name: str) -> Any:
    """The torch object a declared target names (None when this torch lacks it); a tensor
    method stays its name, as fx records it."""
    prefix, _, attr = name.partition(".")
    if prefix == "method":
        return attr
    if prefix == "runtime":
        from cnnshape.bridge import runtime

        return getattr(runtime, attr, None)
    roots = {"F": F, "torch": torch, "nn": nn, "operator": operator}
    if prefix in roots:
        return getattr(roots[prefix], attr, None)
    module_name, _, attr = name.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attr, None)
    except ImportError:
        return None  # torchvision not installed: its classes cannot occur either


@lru_cache(maxsize=1)
def module_table() -> dict[type, str]:
    """Module class -> kind: every kind's constructor class and the classes it accepts."""
    table: dict[type, str] = {}
    for kind, cls in REGISTRY.items():
        side = cls.pytorch
        if side is None:
            continue
        for name in (side.ctor, *side.modules):
            found = _resolve(name)
            if isinstance(found, type):
                table.setdefault(found, kind)
    return table


def module_kind(cls: type) -> Optional[str]:
    """The kind a module class maps onto: a declared class, or a verbatim copy of one of
    cnnshape's runtime helpers (an exported file carries its own `LayerScale`, `Add`, ...;
    the same name and the same compiled `__init__` and `forward`)."""
    kind = module_table().get(cls)
    return kind if kind is not None else _runtime_copy(cls)


@lru_cache(maxsize=256)
def _runtime_copy(cls: type) -> Optional[str]:
    from cnnshape.bridge import runtime

    original = getattr(runtime, cls.__name__, None)
    if not isinstance(original, type) or original is cls or not issubclass(cls, nn.Module):
        return None
    for method in ("__init__", "forward"):
        mine, theirs = getattr(cls, method, None), getattr(original, method, None)
        code, their_code = getattr(mine, "__code__", None), getattr(theirs, "__code__", None)
        if code is None or their_code is None or _placeless(code) != _placeless(their_code):
            return None
    return module_table().get(original)


def _placeless(code: Any) -> Any:
    """A code object without where it was written (file, first line): equal for copies."""
    return code.replace(co_filename="", co_firstlineno=1)


@lru_cache(maxsize=1)
def function_table() -> dict[Any, list[tuple[str, str]]]:
    """fx call target -> [(kind, declared target name)], in registry order (a kind whose
    from_torch_call declines leaves the call to the next: a view is a Flatten or a Reshape)."""
    table: dict[Any, list[tuple[str, str]]] = {}
    for kind, cls in REGISTRY.items():
        side = cls.pytorch
        if side is None:
            continue
        for name in side.functions:
            found = _resolve(name)
            if found is not None:
                table.setdefault(found, []).append((kind, name))
    return table


# --- tracing ------------------------------------------------------------------------------

_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


class _Tracer(fx.Tracer):
    """Mapped modules and torch.nn modules are leaves (mapped or reported whole); custom
    modules are traced through."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        if isinstance(m, _CONTAINERS):
            return False
        return module_kind(type(m)) is not None or type(m).__module__.startswith(("torch.nn", "torch.ao.nn"))


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


# Calls that return their input unchanged: no layer, the name stands for the input.
_PASS_THROUGH = {"contiguous", "clone", "detach", torch.clone}


def _number(value: Any) -> bool:
    """A plain Python number (not a bool, not a tensor)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _bind(names: Sequence[tuple[str, Any]], args: Sequence[Any], kwargs: dict) -> dict[str, Any]:
    """The declared arguments after the tensor: positional, then keywords, then defaults;
    a positional argument beyond the declared ones is kept under "*" (a kind declines it)."""
    bound = {name: default for name, default in names}
    for (name, _), value in zip(names, args, strict=False):  # fewer args: defaults stay; more: kept under "*" below
        bound[name] = value
    if len(args) > len(names):
        bound["*"] = list(args[len(names) :])
    bound.update({key: value for key, value in kwargs.items() if key in bound})
    return bound


def _functional_name(name: str) -> str:
    """BatchNorm2d, batch_norm -> batchnorm; Conv2d, conv2d -> conv2d; LayerNorm -> layernorm."""
    name = name.replace("_", "").lower()
    return re.sub(r"(norm)\dd$", r"\1", name)


def _plain(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, torch.dtype):
        return str(value)
    return value


def _shapes(value: Any) -> list[tuple[int, ...]]:
    if isinstance(value, torch.Tensor):
        return [tuple(value.shape)]
    return [tuple(t.shape) for t in value if isinstance(t, torch.Tensor)]


class Mapper:
    """Maps the traced graph's nodes to _Ops, collecting what it cannot map."""

    def __init__(
        self,
        gm: fx.GraphModule,
        values: dict[str, Any],
        root: Optional[nn.Module] = None,
        eval_paths: Optional[set[str]] = None,
        input_names: Sequence[str] = ("x",),
    ):
        self.gm = gm
        # Traced in training mode: the module paths eval mode runs (the rest is training-only).
        self.eval_paths = eval_paths
        self.root = root if root is not None else gm  # the traced model, its own module classes
        self.values = values
        self.ops: list[Op] = []
        self.unmapped: list[Unmapped] = []
        self.refs: dict[str, list[tuple[str, int]]] = {}  # node -> the tensors it stands for
        # node -> the parameter it is computed from alone (self.gamma.reshape(1, -1, 1, 1))
        self.learned: dict[str, str] = {}
        # The network's inputs (forward()'s tensor arguments), in order; more than one is
        # written as named inputs.
        self.input_names = list(input_names)
        # id of each parameter or buffer an op used -> the weights key of its first user,
        # and that key's full set: a later module with the same set shares its weights.
        self.weight_owner: dict[int, str] = {}
        self.weight_sets: dict[str, frozenset[int]] = {}
        # A learned table gathered by a fixed index (node name -> RelativePositionBias args).
        self.gathered: dict[str, dict[str, Any]] = {}

    def value(self, arg: Any) -> Any:
        if isinstance(arg, fx.Node):
            return self.values[arg.name]
        if isinstance(arg, (list, tuple)):
            return type(arg)(self.value(a) for a in arg)
        if isinstance(arg, slice):  # x[:, :c] with c read from a size: slice(None, c_node)
            return slice(self.value(arg.start), self.value(arg.stop), self.value(arg.step))
        return arg

    def tensor_refs(self, arg: Any) -> Optional[list[tuple[str, int]]]:
        if isinstance(arg, fx.Node) and arg.name in self.refs:
            return self.refs[arg.name]
        return None

    def owner(self, node: fx.Node) -> str:
        return self._owners(node)[0]

    def _owners(self, node: fx.Node) -> tuple[str, dict[str, int]]:
        """The innermost custom module the node runs in, and the call index of every
        custom module around it (torch.fx keys a module's second call `path@1`)."""
        stack = node.meta.get("nn_module_stack") or {}
        owner = ""
        calls: dict[str, int] = {}
        for key, (path, cls) in stack.items():
            path = key if isinstance(key, str) and not path else path
            if node.op == "call_module" and path == node.target:
                continue
            if isinstance(cls, type) and issubclass(cls, _CONTAINERS):
                continue
            if isinstance(cls, type) and cls.__module__.startswith(("torch.nn", "torch.ao.nn")):
                continue
            owner = path
            suffix = key[len(path) + 1 :] if isinstance(key, str) and key.startswith(f"{path}@") else ""
            calls[path] = int(suffix) if suffix.isdigit() else 0
        return owner, calls

    def where(self, node: fx.Node) -> str:
        if node.op == "call_module":
            return str(node.target)
        owner = self.owner(node)
        return f"{owner}.forward ({node.name})" if owner else f"forward ({node.name})"

    def miss(self, node: fx.Node, op: str, reason: str) -> None:
        self.unmapped.append(Unmapped(self.where(node), op, reason))

    def run(self) -> Optional[list[tuple[str, int]]]:
        outputs: Optional[list[tuple[str, int]]] = None
        for node in self.gm.graph.nodes:
            if node.op == "placeholder":
                # The network's inputs, in forward()'s order; any other argument was traced
                # at its default (checked by fx's own asserts).
                if node.target in self.input_names:
                    self.refs[node.name] = [("input", self.input_names.index(str(node.target)))]
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
                    self.miss(
                        node, "output", f"returns a {type(self.value(item)).__name__}, not a tensor cnnshape can follow"
                    )
                return None
            refs += found
        return refs

    def _inputs(self, node: fx.Node, args: list[Any], what: str) -> Optional[list[tuple[str, int]]]:
        refs: list[tuple[str, int]] = []
        for arg in args:
            found = self.tensor_refs(arg)
            if found is None:
                if isinstance(arg, fx.Node) and (arg.op == "get_attr" or arg.name in self.learned):
                    attr = arg.target if arg.op == "get_attr" else self.learned[arg.name]
                    self.miss(
                        node,
                        what,
                        f"uses the parameter or buffer {attr!r} directly; wrap it in a module cnnshape knows",
                    )
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

    def add(
        self,
        node: fx.Node,
        kind: str,
        args: dict[str, Any],
        inputs: list[tuple[str, int]],
        path: str = "",
        weights: tuple[str, list[torch.Tensor]] = ("", []),
    ) -> None:
        """One mapped op. `weights`: what owns the parameters and buffers it uses (a module
        path, a parameter's name) and those tensors: the same tensors as an earlier op's
        are that op's weights, shared (`share:`); their requires_grad is `trainable`."""
        cls = REGISTRY[kind]
        try:
            layer = cls.model_validate(args)
        except Exception as exc:
            self.miss(node, kind, f"arguments cnnshape does not accept: {exc}".splitlines()[0])
            return
        own, tensors = weights
        what = f"module {type(self.root.get_submodule(path)).__name__}" if path else kind
        key = self._weights_key(node, what, own, tensors)
        if key is None:
            return
        params = [t for t in tensors if isinstance(t, nn.Parameter)]
        trainable = {p.requires_grad for p in params}
        if len(trainable) > 1:
            frozen = [n for n, p in self._named(own, params) if not p.requires_grad]
            self.miss(
                node,
                what,
                f"freezes some of its parameters ({', '.join(frozen)}) and not the others: "
                "`trainable: false` freezes a whole layer",
            )
            return
        n_outputs = layer.num_outputs()
        owner, calls = self._owners(node)
        training_only = self.eval_paths is not None and (path or owner) not in self.eval_paths
        self.ops.append(
            Op(
                node.name,
                kind,
                args,
                inputs,
                path,
                owner,
                n_outputs,
                training_only=training_only,
                calls=calls,
                weights=key,
                trainable=trainable.pop() if trainable else None,
            )
        )
        self.refs[node.name] = [(node.name, i) for i in range(n_outputs)]

    def _named(self, key: str, params: Sequence[torch.Tensor]) -> list[tuple[str, torch.Tensor]]:
        """The parameters' names under the module (or parameter) `key`."""
        ids = {id(p) for p in params}
        try:
            owner = self.root.get_submodule(key)
        except AttributeError:
            return [(key, p) for p in params]
        return [(name, p) for name, p in owner.named_parameters() if id(p) in ids]

    def _weights_key(self, node: fx.Node, what: str, key: str, tensors: list[torch.Tensor]) -> Optional[str]:
        """The key of the op's weights: its own, or that of the earlier op whose weights are
        exactly the same tensors (a module called twice, a module assigned to two
        attributes, a tied `decoder.weight = encoder.weight`); None after a located error
        when it shares some of another op's tensors but not all."""
        if not tensors:
            return ""
        ids = frozenset(id(t) for t in tensors)
        owners = {self.weight_owner[i] for i in ids if i in self.weight_owner}
        if not owners:
            self.weight_sets[key] = ids
            for i in ids:
                self.weight_owner[i] = key
            return key
        (first, *more) = sorted(owners)
        if more or self.weight_sets[first] != ids:
            self.miss(
                node,
                what,
                f"shares some of its parameters or buffers with {', '.join(sorted(owners))} but not all: "
                "`share:` reuses a whole layer (tie every tensor of the layer, or none)",
            )
            return None
        return first

    # -- modules -------------------------------------------------------------------------

    def _module(self, node: fx.Node) -> None:
        assert isinstance(node.target, str)  # a call_module's target is the module's path
        module = self.gm.get_submodule(node.target)
        what = f"module {type(module).__name__}"
        kind = module_kind(type(module))
        if kind is None:
            self.miss(node, what, "no cnnshape layer kind of this name (docs/torch.md lists the mapping)")
            return
        cls = REGISTRY[kind]
        side = cls.pytorch
        assert side is not None
        tensor_args = list(node.args)
        if side.call == "query_key_value":
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
        # A module called again (or holding another's tensors) shares the first call's weights.
        weights = [*module.parameters(), *module.buffers()]
        self.add(node, kind, cls.from_torch_module(module, in_shape), inputs, str(node.target), (node.target, weights))
        if side.call == "query_key_value":
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
        if not isinstance(out, torch.Tensor) and not (
            isinstance(out, (tuple, list)) and out and all(isinstance(t, torch.Tensor) for t in out)
        ):
            return  # sizes, shapes and other plain values: read where they are used
        args, kwargs = list(node.args), dict(node.kwargs)
        first = args[0] if args else None
        if self._learned_call(node, args, kwargs, out, what):
            return
        if target is operator.getitem and self._pick_output(node):
            return
        if isinstance(target, type) and issubclass(target, tuple):
            # A named tuple of outputs (GoogLeNetOutputs(logits, aux2, aux1)): its tensors.
            refs = self._inputs(node, [*args, *kwargs.values()], what)
            if refs is not None:
                self.refs[node.name] = refs
            return
        if target in _PASS_THROUGH or (
            target is operator.getitem
            and isinstance(self.value(first), torch.Tensor)
            and len(args) == 2
            and takes_everything(self.value(args[1]), tuple(self.value(first).shape))
        ):
            # x.contiguous(), or x[:, :H, :W] taking all of x (Swin's crop after no padding).
            refs = self._inputs(node, [first], what)
            if refs is not None:
                self.refs[node.name] = refs
            return
        candidates = function_table().get(target, []) if isinstance(target, str) == (node.op == "call_method") else []
        reasons: list[str] = []
        for kind, declared in candidates:
            mapped = self._map_call(node, kind, declared, args, kwargs, out, what, reasons)
            if mapped:
                return
        if self._own_weights_call(node, what):
            return
        if reasons:
            self.miss(node, what, reasons[0])
        elif not (target is getattr and isinstance(first, fx.Node) and self._reported(first)):
            self.miss(node, what, "no cnnshape layer kind for this operation (docs/torch.md lists the mapping)")

    def _map_call(
        self,
        node: fx.Node,
        kind: str,
        declared: str,
        args: list[Any],
        kwargs: dict[str, Any],
        out: Any,
        what: str,
        reasons: list[str],
    ) -> bool:
        """Map one call onto `kind` as it declares; False when the kind declines it."""
        cls = REGISTRY[kind]
        side = cls.pytorch
        assert side is not None
        signature = side.functions[declared]
        number_first: Optional[bool] = None
        if side.tensors == "all":
            values = [self.value(a) for a in args]
            is_tensor = [isinstance(v, torch.Tensor) for v in values]
            if len(args) == 2 and not kwargs and sum(is_tensor) == 1 and _number(values[is_tensor.index(False)]):
                # A tensor and a number (`x * self.scale`): the kind's scalar operand.
                number_first = not is_tensor[0]
                tensors, rest = [args[is_tensor.index(True)]], [values[is_tensor.index(False)]]
            elif len(args) < 2 or kwargs or not all(is_tensor):
                reasons.append(
                    f"only tensors combined with tensors or numbers map to {kind}; a keyword argument or "
                    "another operand has no layer kind"
                )
                return False
            else:
                tensors, rest = args, []
        elif side.tensors == "qkv":
            if len(args) < 3 or not all(isinstance(self.value(a), torch.Tensor) for a in args[:3]):
                return False
            tensors, rest = args[:3], args[3:]
        elif side.tensors == "sequence":
            if not args or not isinstance(args[0], (list, tuple)):
                return False
            tensors, rest = list(args[0]), args[1:]
        else:
            if not args or not isinstance(self.value(args[0]), torch.Tensor):
                return False
            tensors, rest = [args[0]], args[1:]
        rest_values = [self.value(a) for a in rest]
        kw_values = {key: self.value(value) for key, value in kwargs.items()}
        if signature:
            bound = _bind(signature, rest_values, kw_values)
        else:  # varargs (x.permute(0, 2, 3, 1)) or none: passed on as they came
            bound = dict(kw_values)
            if rest_values:
                bound["*"] = rest_values
        if declared != "operator.getitem":
            bound = {key: _plain(value) for key, value in bound.items()}
        if number_first is not None:
            bound["number_first"] = number_first
        in_value = self.value(tensors[0])
        in_shape = tuple(in_value.shape) if isinstance(in_value, torch.Tensor) else ()
        layer_args = cls.from_torch_call(declared, bound, in_shape, _shapes(out))
        if layer_args is None:
            return False
        inputs = self._inputs(node, tensors, what)
        if inputs is not None:
            self.add(node, kind, layer_args, inputs)
        return True

    def _param_of(self, arg: Any) -> Optional[str]:
        """The parameter a node is, or is computed from alone; None for anything else."""
        if not isinstance(arg, fx.Node):
            return None
        if arg.op == "get_attr":
            return str(arg.target) if isinstance(self.values.get(arg.name), nn.Parameter) else None
        return self.learned.get(arg.name)

    def _learned_call(self, node: fx.Node, args: list[Any], kwargs: dict[str, Any], out: Any, what: str) -> bool:
        """A parameter used directly in forward() as a learned layer: a per-channel scale
        (`x * self.gamma`: LayerScale), a (1, L, E) embedding added to a sequence
        (PositionEmbedding), a (1, 1, E) token concatenated before it (ClassToken). An
        operation on the parameter alone (a reshape, ViT's `class_token.expand(n, -1, -1)`)
        stands for the parameter until such a use."""
        tensor_args = [a for a in node.all_input_nodes if isinstance(self.values.get(a.name), torch.Tensor)]
        params = [self._param_of(a) for a in tensor_args]
        if not any(params) or not isinstance(out, torch.Tensor):
            return False
        if all(params) and len(set(params)) == 1:
            self.learned[node.name] = str(params[0])
            return True
        if self._gathered_table(node, args, tensor_args, params):
            return True
        learned = [a for a, p in zip(tensor_args, params, strict=True) if p]
        others = [a for a, p in zip(tensor_args, params, strict=True) if not p]
        if len(learned) != 1 or len(others) != 1:
            return False
        param_name = str(self._param_of(learned[0]))
        size = self.root.get_parameter(param_name).numel()
        value, x = self.values[learned[0].name], self.values[others[0].name]
        name = node.target if isinstance(node.target, str) else getattr(node.target, "__name__", "")
        kind: Optional[str] = None
        layer_args: dict[str, Any] = {}
        if learned[0].name in self.gathered and name in ("add", "iadd", "add_"):
            kind = "RelativePositionBias"
            layer_args = self.gathered[learned[0].name]
        elif name in ("mul", "imul", "mul_") and value.dim() <= x.dim() and tuple(out.shape) == tuple(x.shape):
            wide = [i for i, s in enumerate(value.shape) if s != 1]
            dim = wide[0] + x.dim() - value.dim() if len(wide) == 1 else -1
            if len(wide) == 1 and x.shape[dim] == size == value.shape[wide[0]]:
                kind = "LayerScale"
                layer_args = {} if dim == 1 else {"dim": dim if dim < x.dim() - 1 else -1}
        elif (
            name in ("add", "iadd", "add_")
            and x.dim() == 3
            and tuple(value.shape) == (1, *x.shape[1:])
            and tuple(out.shape) == tuple(x.shape)
        ):
            kind = "PositionEmbedding"
        elif node.target is torch.cat and x.dim() == 3 and size == x.shape[-1]:
            sequence = args[0] if args else kwargs.get("tensors")
            dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
            if isinstance(sequence, (list, tuple)) and list(sequence) == [learned[0], others[0]] and dim in (1, -2):
                kind = "ClassToken"
        if kind is None:
            return False
        inputs = self._inputs(node, [others[0]], what)
        if inputs is not None:
            # A second use of the parameter shares the first's weights.
            self.add(node, kind, layer_args, inputs, weights=(param_name, [self.root.get_parameter(param_name)]))
        return True

    def _gathered_table(self, node: fx.Node, args: list[Any], tensor_args: list[fx.Node], params: list[Any]) -> bool:
        """`table[:, index]`: a parameter indexed by a fixed integer buffer along one dim
        (LeViT's attention_biases[:, attention_bias_idxs]) stands for the table until it is
        added to a tensor (RelativePositionBias)."""
        if (
            node.target is not operator.getitem
            or len(args) != 2
            or len(tensor_args) != 2
            or tensor_args[0] is not args[0]
        ):
            return False
        table, index = tensor_args
        index_value = self.values.get(index.name)
        if not params[0] or params[1] or index.op != "get_attr" or not isinstance(index_value, torch.Tensor):
            return False
        if index_value.dtype not in (torch.long, torch.int32) or index_value.dim() == 0:
            return False
        items = list(args[1]) if isinstance(args[1], tuple) else [args[1]]
        at = [i for i, item in enumerate(items) if item is index]
        if len(at) != 1 or any(item != slice(None) for i, item in enumerate(items) if i != at[0]):
            return False
        self.learned[node.name] = str(params[0])
        table_shape = list(self.values[table.name].shape)
        self.gathered[node.name] = {
            "table_shape": table_shape,
            "index_shape": list(index_value.shape),
            **({"dim": at[0]} if at[0] else {}),
        }
        return True

    def _own_weights_call(self, node: fx.Node, what: str) -> bool:
        """A subclass of a mapped torch module that calls the functional form of its base
        with its own weights (timm's BatchNormAct2d: F.batch_norm(x, self.running_mean, ...);
        torchvision's LayerNorm2d: F.layer_norm(x, ..., self.weight, self.bias)) maps as
        that base module, its arguments read from the module's attributes."""
        name = getattr(node.target, "__name__", "")
        if node.op != "call_function" or not name or not isinstance(node.args[0] if node.args else None, fx.Node):
            return False
        paths = {str(arg.target).rpartition(".")[0] for arg in node.all_input_nodes if arg.op == "get_attr"}
        if len(paths) != 1:
            return False
        (path,) = paths
        try:
            module = self.root.get_submodule(path)
        except AttributeError:
            return False
        table = module_table()
        base = next((cls for cls in type(module).__mro__[1:] if cls in table), None)
        if base is None or _functional_name(base.__name__) != _functional_name(name):
            return False
        first = self.value(node.args[0])
        out = self.values.get(node.name)
        if not isinstance(first, torch.Tensor) or not isinstance(out, torch.Tensor):
            return False
        inputs = self._inputs(node, [node.args[0]], what)
        if inputs is None:
            return True
        kind = table[base]
        weights = [*module.parameters(), *module.buffers()]
        self.add(
            node, kind, REGISTRY[kind].from_torch_module(module, tuple(first.shape)), inputs, weights=(path, weights)
        )
        return True

    def _pick_output(self, node: fx.Node) -> bool:
        """`outputs[i]` of a multi-output op: the name stands for that output (no layer)."""
        source, index = node.args
        refs = self.tensor_refs(source)
        value = self.values.get(source.name) if isinstance(source, fx.Node) else None
        if refs is None or not isinstance(value, (tuple, list)) or not isinstance(index, int):
            return False
        picked = refs[index] if index < len(refs) else None
        if picked is None or picked[0] == "<weights>":
            self.miss(
                node,
                "call_function operator.getitem",
                "uses MultiheadAttention's attention weights, which cnnshape does not model",
            )
            return True
        self.refs[node.name] = [picked]
        return True
