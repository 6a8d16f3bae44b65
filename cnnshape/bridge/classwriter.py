"""One spec class as PyTorch: a block kind (or the network) written from its definition in
the spec, so the class takes the block's args and evaluates its `$(expressions)` in Python.
Every name, value and expression goes through the safe writer (codegen.py).
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional, TypeVar

from cnnshape.bridge.analysed import Copy
from cnnshape.bridge.codegen import Namespace, Unsupported, docstring, literal, safe_identifier
from cnnshape.bridge.codegen import translate as translate_value
from cnnshape.expr import ExprError, has_substitution, substitute
from cnnshape.graph import Ref
from cnnshape.layers import REGISTRY
from cnnshape.spec import LayerCall, parse_layer_entry

if TYPE_CHECKING:
    from cnnshape.bridge.export import _Exporter


T = TypeVar("T")


def _some(value: Optional[T]) -> T:
    """A value the analysis guarantees (a use's block index, a built node's layer)."""
    assert value is not None
    return value


class ExportError(Exception):
    """The spec uses something the exporter cannot write as PyTorch code; message for the user."""


# Names that must not become nn.Module attributes (they would shadow its methods).
_MODULE_ATTRS = {
    "training",
    "forward",
    "train",
    "eval",
    "parameters",
    "buffers",
    "children",
    "modules",
    "named_modules",
    "named_parameters",
    "named_buffers",
    "named_children",
    "add_module",
    "register_module",
    "register_buffer",
    "register_parameter",
    "state_dict",
    "load_state_dict",
    "apply",
    "to",
    "cpu",
    "cuda",
    "float",
    "double",
    "half",
    "bfloat16",
    "type",
    "zero_grad",
    "requires_grad_",
    "get_submodule",
    "get_parameter",
    "get_buffer",
    "extra_repr",
    "dump_patches",
    "call_super_init",
    "share_memory",
    "xpu",
    "ipu",
    "mtia",
    "compile",
}


def attr_name(local: str) -> str:
    """The attribute a spec-local name becomes: the same, unless it would shadow nn.Module
    (a trailing `_`) or Python would mangle it inside a class (a leading `__`)."""
    name = safe_identifier(local)
    return name + "_" if name in _MODULE_ATTRS or keyword.iskeyword(name) else name


def module_path(qualified: str) -> str:
    """The torch submodule path of a spec's qualified layer name (`layer1.down_conv`)."""
    return ".".join(attr_name(part) for part in qualified.split("."))


# --- one class ----------------------------------------------------------------------------


@dataclass
class ClassInfo:
    """A written class: what its users must pass."""

    name: str
    symbolic: bool  # takes the block's args (else: a specialised class without args)
    in_params: list[tuple[str, int, int]] = field(default_factory=list)  # (param, block input, dim)
    args: list[str] = field(default_factory=list)
    arg_idents: dict[str, str] = field(default_factory=dict)  # spec arg -> the constructor's parameter
    n_inputs: int = 1
    n_outputs: int = 1


@dataclass
class _Binding:
    """What a spec name means in forward(): Python variables, one per tensor."""

    names: list[str]
    partial: bool = False  # stands for tensors of different counts in different uses
    block_use: bool = False


# Argument fields whose values are sizes: tried first when explaining an inferred size.
_SIZE_FIELDS = ("out_channels", "out_features", "embed_dim", "d_model", "num_features", "num_channels")


_ARG = object()  # marks a candidate size that is one of the block's args


def _times(value: Any, factor: int) -> Any:
    return value * factor if isinstance(value, int) and not isinstance(value, bool) else None


def _floordiv(value: Any, divisor: int) -> Any:
    return value // divisor if isinstance(value, int) and not isinstance(value, bool) else None


def _plus_times(base: Any, copy: int, step: Any) -> Any:
    ok = all(isinstance(v, int) and not isinstance(v, bool) for v in (base, step))
    return base + copy * step if ok else None


class _ClassWriter:
    """Writes one class for a block kind (or the network) from its definition."""

    def __init__(
        self, exporter: _Exporter, kind: Optional[str], instances: list[Optional[int]], symbolic: bool, class_name: str
    ):
        self.ex = exporter
        self.a = exporter.a
        self.kind = kind
        self.root = kind is None
        self.instances = instances
        self.symbolic = symbolic
        self.class_name = class_name
        spec = self.a.spec
        if self.root:
            self.entries = spec.layers
            self.base: tuple = ("layers",)
            self.variables = [dict(self.a.graph.args)]
            self.block_args: dict[str, Any] = {}
            self.n_inputs = max(1, len(self.a.graph.inputs))
        else:
            assert kind is not None
            block = spec.blocks[kind]
            self.entries = block.layers
            self.base = ("blocks", kind, "layers")
            self.variables = [self.a.block_vars(_some(i)) for i in instances]
            self.block_args = dict(block.args)
            counts = {len(self.a.block_inputs(_some(i))) for i in instances}
            if len(counts) != 1:
                raise Unsupported("uses with different numbers of inputs")
            self.n_inputs = counts.pop()
        self.needs = exporter.needs
        # Identifiers: __init__'s parameters and forward()'s variables, clear of every
        # module-level name; spec names resolve through `scope` as the evaluator's do.
        self.params = Namespace(outer=exporter.module_ns)
        self.arg_idents = {name: self.params.bind(name) for name in self.block_args} if symbolic else {}
        self.scope: dict[str, str] = {**exporter.arg_idents, **self.arg_idents}
        self.fwd_ns = Namespace(outer=exporter.module_ns)
        self.init: list[str] = []
        self.fwd: list[str] = []
        self.attrs: set[str] = set()
        self.env: dict[str, _Binding] = {}
        self.copies_env: dict[str, list[_Binding]] = {}  # every copy of a named entry, for `name.*`
        self.training_vars: set[str] = set()
        self.flags: dict[str, str] = {}  # condition -> the attribute holding it
        self._open_if: Optional[tuple] = None  # (flag, init length, forward length, `else:` index)
        self.shifts: list[tuple[str, str, Any, int]] = []  # unnamed conditional entries: (stem, flag, if, copies)
        self.in_params: list[tuple[str, int, int]] = []
        if kind is None and len(self.a.graph.inputs) > 1:
            # The network's named inputs: forward(self, x1, x2, ...) with checked identifiers.
            self.input_vars = [self.fwd_ns.fresh(name) for name, _ in self.a.graph.inputs]
            for var, (name, _) in zip(self.input_vars, self.a.graph.inputs, strict=True):
                self.env[name] = _Binding([var])
        else:
            self.input_vars = ["x"] if self.n_inputs == 1 else [f"x_{j}" for j in range(self.n_inputs)]
            for var in self.input_vars:
                self.fwd_ns.reserve(var)

    # -- names -------------------------------------------------------------------------

    def _var(self, name: str) -> str:
        return self.fwd_ns.fresh(name)

    def _attr(self, local: str) -> str:
        name = attr_name(local)
        if name in self.attrs:
            raise ExportError(f"two submodules would both be called {name!r}")
        self.attrs.add(name)
        return name

    def _flag(self, hint: str) -> str:
        name = attr_name(hint) if hint.isidentifier() else "use_flag"
        while name in self.attrs:
            name = "use_" + name
        self.attrs.add(name)
        return name

    # -- values --------------------------------------------------------------------------

    def _eval(self, raw: Any, position: int, copy: int = 0) -> Any:
        return substitute(raw, {**self.variables[position], "repeat_index": copy})

    def _translate(
        self,
        raw: Any,
        loop_var: Optional[str] = None,
        copy: Optional[int] = None,
        as_tuple: bool = True,
        needs: Optional[set[str]] = None,
    ) -> str:
        """A spec value with substitutions as Python, names resolved in this class's scope."""
        return translate_value(raw, self.scope, self.needs if needs is None else needs, loop_var, copy, as_tuple)

    def _value(self, raw: Any, position: int, copy: int, loop_var: Optional[str], as_tuple: bool = True) -> str:
        if self.symbolic and has_substitution(raw):
            return self._translate(raw, loop_var, copy, as_tuple)
        return literal(self._eval(raw, position, copy) if has_substitution(raw) else raw, as_tuple)

    def _size(self, wants: list[tuple[int, int, int]], chain: list[Any], loop_var: Optional[str]) -> str:
        """An expression for a size cnnshape inferred: `wants` holds (instance position,
        copy, value); the expression must give each value in its instance and copy.

        Tried in order: the size arguments of the layers the tensor came through, the
        block's args, a constructor argument for the block input's size, an arg times a
        constant, and in a loop a base plus a fixed step per copy (DenseNet)."""
        values = {value for _, _, value in wants}
        if len(values) == 1 and (self.root or not self.symbolic):
            return str(values.pop())
        if not self.symbolic:
            raise Unsupported("a size that differs between copies")
        # A candidate: (expression or (input, dim), value(position, copy), raw spec value or None).
        candidates: list[tuple] = []

        def evaluator(raw: Any):
            def value(position: int, copy: int) -> Any:
                try:
                    return self._eval(raw, position, copy)
                except (ExprError, TypeError):
                    return None

            return value

        for raw in chain:
            if "repeat_index" not in str(raw):
                try:
                    candidates.append((self._translate(raw, loop_var, needs=set()), evaluator(raw), raw))
                except Unsupported:
                    continue
        for name, ident in self.arg_idents.items():
            candidates.append((ident, lambda position, copy, name=name: self.variables[position].get(name), _ARG))
        if not self.root:
            for j in range(self.n_inputs):
                for dim in (1, -1):

                    def input_size(position: int, copy: int, j: int = j, dim: int = dim) -> Any:
                        shape = self.a.shape(self.a.block_inputs(_some(self.instances[position]))[j])
                        return shape[dim] if -len(shape) <= dim < len(shape) else None

                    candidates.append(((j, dim), input_size, None))

        def fits(value: Any) -> bool:
            for position, copy, want in wants:
                got = value(position, copy)
                if isinstance(got, bool) or got != want:
                    return False
            return True

        def use(candidate: tuple) -> str:
            expr, _, raw = candidate
            if raw is None:
                return self._param_name(*expr)
            if raw is not _ARG:
                self._translate(raw, loop_var)  # records the helpers it needs
            return expr

        def named(candidate: tuple) -> bool:
            return candidate[2] is None or str(candidate[0]).isidentifier()

        for candidate in candidates:
            if fits(candidate[1]):
                return use(candidate)
        for candidate in filter(named, candidates):
            first = candidate[1](wants[0][0], wants[0][1])
            if not isinstance(first, int) or isinstance(first, bool) or first <= 0:
                continue
            want = wants[0][2]
            if want % first == 0 and fits(lambda p, c, f=candidate[1], r=want // first: _times(f(p, c), r)):
                return f"{use(candidate)} * {want // first}"
            if first % want == 0 and fits(lambda p, c, f=candidate[1], d=first // want: _floordiv(f(p, c), d)):
                return f"{use(candidate)} // {first // want}"
        if loop_var is not None:
            for base in filter(named, candidates):
                for step in candidates:
                    if step[2] is None or not str(step[0]).isidentifier():
                        continue
                    if fits(lambda p, c, b=base[1], s=step[1]: _plus_times(b(p, 0), c, s(p, c))):
                        return f"{use(base)} + {loop_var} * {use(step)}"
        raise Unsupported("no expression explains an inferred size")

    def _param_name(self, j: int, dim: int) -> str:
        for name, jj, dd in self.in_params:
            if (jj, dd) == (j, dim):
                return name
        base = {1: "in_channels", -1: "in_features"}.get(dim, f"in_dim{dim}")
        name = self.params.fresh(base if j == 0 else f"{base}_{j}")
        self.in_params.append((name, j, dim))
        return name

    def _chain(self, ref: Ref, position: int) -> list[Any]:
        """Size-like argument values of the layers the tensor `ref` came through, nearest
        first, staying inside this body: candidates for explaining a size."""
        a = self.a
        instance = self.instances[position]
        found: list[Any] = []
        seen = 0
        while ref.node != 0 and seen < 32:
            seen += 1
            key = self._entry_of(ref.node, instance)
            if key is None:
                break
            call = parse_layer_entry(self._entry_raw(key[1]), key[1])
            if isinstance(call, LayerCall):
                ordered = [call.args[f] for f in _SIZE_FIELDS if f in call.args]
                ordered += [v for k, v in call.args.items() if k not in _SIZE_FIELDS]
                found += [v for v in ordered if isinstance(v, (int, str)) and not isinstance(v, bool)]
            node = a.graph.nodes[ref.node]
            owner = node.block
            if owner == instance or owner is None and instance is None:
                if not node.inputs:
                    break
                ref = node.inputs[0]
            else:
                assert owner is not None
                while a.graph.blocks[owner].parent != instance:
                    owner = _some(a.graph.blocks[owner].parent)
                inputs = a.block_inputs(owner)
                if not inputs:
                    break
                ref = inputs[0]
        return found

    def _entry_of(self, node_index: int, instance: Optional[int]) -> Optional[tuple]:
        a = self.a
        node = a.graph.nodes[node_index]
        owner = node.block
        if owner == instance:
            return a.node_entry.get(node_index)
        while owner is not None and a.graph.blocks[owner].parent != instance:
            owner = a.graph.blocks[owner].parent
        if owner is None:
            return None
        return a.block_entry.get(owner)

    def _entry_raw(self, loc: tuple) -> Any:
        return self.entries[loc[-1]] if tuple(loc[:-1]) == self.base else None

    # -- references --------------------------------------------------------------------

    def _resolve(self, ref: str) -> _Binding:
        parts = ref.split(".")
        if len(parts) == 2 and parts[1] == "*":  # every copy of a repeated entry
            if parts[0] not in self.copies_env:
                raise Unsupported(f"{ref!r}: the copies of an entry repeated in a loop or under a condition")
            return _Binding([name for binding in self.copies_env[parts[0]] for name in binding.names])
        if "*" in parts:
            raise Unsupported(f"{ref!r}: a collection reaching inside block uses")
        head = parts[0]
        if head == "input":
            binding = _Binding(list(self.input_vars))
        elif head in self.env:
            binding = self.env[head]
        else:
            raise Unsupported(f"a reference to {ref!r}, a copy inside a loop")
        rest = parts[1:]
        if rest and rest[0].isdigit():
            index = int(rest[0])
            if index >= len(binding.names):
                raise Unsupported(f"{ref!r} is missing in some uses")
            binding = _Binding([binding.names[index]])
            rest = rest[1:]
        if rest:
            raise ExportError(
                f"`{ref}` reaches inside a block use; export writes a block as a class whose "
                "forward returns only the block's outputs, so name it in the block's `outputs`"
            )
        if binding.partial:
            raise Unsupported(f"{ref!r} stands for different tensors in different uses")
        return binding

    def _inputs(self, call: LayerCall, previous: _Binding) -> _Binding:
        if "from" not in call.present:
            if previous.partial:
                raise Unsupported("the entry above stands for different tensors in different uses")
            return previous
        return self._references(call.from_, "from")

    def _references(self, raw: Any, key: str) -> _Binding:
        """The tensors a `from` or `else` value names (the same in every use)."""
        values = [self._eval(raw, p) if has_substitution(raw) else raw for p in range(len(self.instances))]
        if any(value != values[0] for value in values):
            raise Unsupported(f"`{key}` differs between uses")
        names = values[0] if isinstance(values[0], list) else [values[0]]
        out: list[str] = []
        for name in names:
            out += self._resolve(str(name)).names
        return _Binding(out)

    # -- entries -------------------------------------------------------------------------

    def write(self) -> ClassInfo:
        previous = _Binding(list(self.input_vars))
        for i, raw in enumerate(self.entries):
            loc = self.base + (i,)
            call = parse_layer_entry(raw, loc)
            if not isinstance(call, LayerCall):
                raise Unsupported("an entry that does not parse")  # never: the spec analysed
            previous = self._entry(call, loc, previous)
        outputs_raw = self.a.spec.outputs if self.kind is None else self.a.spec.blocks[self.kind].outputs
        if outputs_raw:
            result: list[str] = []
            for name in outputs_raw:
                result += self._resolve(name).names
        else:
            if previous.partial:
                raise Unsupported("the last entry stands for different tensors in different uses")
            result = previous.names
        self.outputs = result
        return ClassInfo(
            self.class_name,
            self.symbolic,
            list(self.in_params),
            list(self.block_args),
            dict(self.arg_idents),
            self.n_inputs,
            len(result),
        )

    def _entry(self, call: LayerCall, loc: tuple, previous: _Binding) -> _Binding:
        a = self.a
        copies = [a.entry_copies.get((inst, tuple(loc)), []) for inst in self.instances]
        counts = [len(c) for c in copies]
        is_block = call.kind in a.spec.blocks
        inputs = self._inputs(call, previous)
        loop = self.symbolic and has_substitution(call.repeat)
        conditional = self.symbolic and has_substitution(call.if_)
        if not loop and len({c for c in counts if c}) > 1:
            raise Unsupported("a repeat count that differs between uses")
        stand_in = self._references(call.else_, "else") if "else" in call.present else inputs
        if not any(counts):
            # Off (or repeated 0 times) in every use: the name stands for its `else` or inputs.
            if call.name is not None and not has_substitution(call.name):
                self.env[call.name] = _Binding(list(stand_in.names), stand_in.partial)
                self.copies_env[call.name] = []
            return _Binding(list(stand_in.names), stand_in.partial)
        training = call.training_only is True or any(v in self.training_vars for v in inputs.names)
        if has_substitution(call.training_only):
            raise Unsupported("`training_only` given by an expression")
        if loop:
            return self._loop(call, copies, inputs, is_block, training)
        present = [p for p, c in enumerate(copies) if c]
        repeat = max(counts)
        shifting = [self._shifting_name(call, copies, k, present) for k in range(repeat)]
        init_start, fwd_start = len(self.init), len(self.fwd)
        current = inputs
        produced: list[tuple[str, list[str]]] = []
        for k in range(repeat):
            local = copies[present[0]][k].local
            ctor, n_out = self._ctor(call, copies, k, present, is_block, None)
            if shifting[k] is None:
                attr = self._attr(local)
                self.init.append(f"self.{attr} = {ctor}")
                target = f"self.{attr}"
            else:
                self.init.append("# cnnshape numbers unnamed layers per use: this name depends on the layers above")
                self.init.append(f"self.add_module({shifting[k]}, {ctor})")
                target = f"getattr(self, {shifting[k]})"
            outs = [self._var(local)] if n_out == 1 else [self._var(f"{local}_{j}") for j in range(n_out)]
            self.fwd.append(f"{self._targets(call, outs)} = {self._call(call, target, current.names)}")
            produced.append((local, outs))
            current = _Binding(outs)
        outputs = current
        if conditional or training:
            init_lines, fwd_lines = self.init[init_start:], self.fwd[fwd_start:]
            del self.init[init_start:], self.fwd[fwd_start:]
            if conditional:
                cond = self._translate(call.if_)
                flag = self.flags.get(cond)
                if flag is None:
                    flag = self.flags[cond] = self._flag(cond if cond.isidentifier() else f"use_{produced[0][0]}")
                    self.init.append(f"self.{flag} = {cond}")
                # Consecutive layers under one condition share one `if`.
                open_if = self._open_if
                if open_if is not None and open_if[:3] == (flag, len(self.init), len(self.fwd)):
                    else_at = open_if[3]
                    self.init += ["    " + line for line in init_lines]
                    self.fwd[else_at:else_at] = ["    " + line for line in fwd_lines]
                    else_at += len(fwd_lines)
                else:
                    self.init.append(f"if self.{flag}:")
                    self.init += ["    " + line for line in init_lines]
                    self.fwd.append(f"if self.{flag}:")
                    self.fwd += ["    " + line for line in fwd_lines]
                    else_at = len(self.fwd)
                    self.fwd.append("else:")
                if call.name is None:
                    self.shifts.append((call.kind.lower(), flag, call.if_, repeat))
                stand = stand_in.names
                partial = len(stand) != len(outputs.names)
                # a partial stand-in covers the first outputs only
                for var, source in zip(outputs.names, stand, strict=False):
                    self.fwd.append(f"    {var} = {source}")
                if len(stand) < len(outputs.names):
                    outputs = _Binding(outputs.names[: len(stand)], partial=True)
                elif partial:
                    outputs = _Binding(outputs.names, partial=True)
                self._open_if = (flag, len(self.init), len(self.fwd), else_at)
                if training:
                    raise Unsupported("a training-only layer with `if`")
            else:
                self.init += init_lines
                self.fwd.append("if self.training:  # a training-only layer (`training_only: true`)")
                self.fwd += ["    " + line for line in fwd_lines]
                self.fwd.append("else:")
                for _, outs in produced:
                    for var in outs:
                        self.fwd.append(f"    {var} = None")
                        self.training_vars.add(var)
        for local, outs in produced:
            self.env[local] = _Binding(outs, outputs.partial and len(outs) != len(outputs.names), is_block)
        if call.name is not None and repeat > 1:
            self.env[produced[-1][0].rsplit("_", 1)[0]] = outputs
        if call.name is not None and repeat == 1:
            self.env[produced[0][0]] = outputs
        if call.name is not None and not has_substitution(call.name) and not conditional:
            self.copies_env[call.name] = [self.env[local] for local, _ in produced]
        return outputs

    def _shifting_name(self, call: LayerCall, copies: list[list[Copy]], k: int, present: list[int]) -> Optional[str]:
        """None when copy k has one name in every use; else an f-string that computes it from
        the flags of the unnamed conditional layers above of the same kind, which shift
        cnnshape's automatic numbering (MBConv's optional expansion conv)."""
        names = [copies[p][k].local for p in present]
        if len(set(names)) == 1:
            return None
        stem = call.kind.lower()
        shifts = [(flag, raw, weight) for kind, flag, raw, weight in self.shifts if kind == stem]
        if call.name is not None or not shifts:
            raise Unsupported("layer names that differ between uses")
        bases = set()
        for p, name in zip(present, names, strict=True):
            match = re.fullmatch(rf"{re.escape(stem)}_(\d+)", name)
            if not match:
                raise Unsupported("layer names that differ between uses")
            on = sum(weight * bool(self._eval(raw, p)) for _, raw, weight in shifts)
            bases.add(int(match.group(1)) - on)
        if len(bases) != 1:
            raise Unsupported("layer names that differ between uses")
        terms = " + ".join(
            [str(bases.pop())]
            + [f"{weight} * self.{flag}" if weight != 1 else f"self.{flag}" for flag, _, weight in shifts]
        )
        return f"{literal(stem + '_')} + str({terms})"

    def _loop(
        self, call: LayerCall, copies: list[list[Copy]], inputs: _Binding, is_block: bool, training: bool
    ) -> _Binding:
        if training or len(inputs.names) != 1:
            raise Unsupported("a repeat loop over a multi-input or training-only layer")
        pattern: Optional[str] = None
        for instance_copies in copies:
            locals_ = [c.local for c in instance_copies]
            if not locals_:
                continue
            if call.name is not None:
                if len(locals_) == 1:
                    raise Unsupported("a named repeat of one copy (its name loses the _1)")
                this = f"{literal(call.name + '_')} + str(i + 1)"
                if locals_ != [f"{call.name}_{k + 1}" for k in range(len(locals_))]:
                    raise Unsupported("unexpected copy names")
            else:
                stem = call.kind.lower()
                match = re.fullmatch(rf"{re.escape(stem)}_(\d+)", locals_[0])
                if not match:
                    raise Unsupported("unexpected copy names")
                start = int(match.group(1))
                if locals_ != [f"{stem}_{start + k}" for k in range(len(locals_))]:
                    raise Unsupported("copy names that are not consecutive")
                this = f"{literal(stem + '_')} + str(i + {start})" if start else f"{literal(stem + '_')} + str(i)"
            if pattern is not None and pattern != this:
                raise Unsupported("copy names that differ between uses")
            pattern = this
        assert pattern is not None
        base = call.name or call.kind.lower()
        count = self._translate(call.repeat)
        if self.symbolic and has_substitution(call.if_):
            count = f"({count}) if ({self._translate(call.if_)}) else 0"
        counter = self._flag(f"num_{base}")
        present = [p for p, c in enumerate(copies) if c]
        # Every copy must have the same constructor; `i` stands for the copy index.
        ctor, n_out = self._ctor(call, copies, None, present, is_block, "i")
        if n_out != 1:
            raise Unsupported("a repeat loop over a multi-output layer")
        self.init.append(f"self.{counter} = {count}")
        self.init.append(f"for i in range(self.{counter}):")
        self.init.append(f"    self.add_module({pattern}, {ctor})")
        var = self._var(base)
        self.fwd.append(f"{var} = {inputs.names[0]}")
        self.fwd.append(f"for i in range(self.{counter}):")
        target = f"getattr(self, {pattern})"
        self.fwd.append(f"    {var} = {self._call(call, target, [var])}")
        outputs = _Binding([var])
        if call.name is not None:
            self.env[call.name] = outputs
        return outputs

    # -- one constructor and one call ------------------------------------------------------

    def _wants(self, copies: list[list[Copy]], k: Optional[int], present: list[int]) -> list[tuple[int, int, Copy]]:
        """(instance position, copy index, copy) for copy k, or for every copy of a loop.
        Copy k is looked up, not searched for: this runs once per copy, and a scan of every
        copy each time made export quadratic in `repeat`."""
        if k is not None:
            return [(p, k, copies[p][k]) for p in present if k < len(copies[p])]
        return [(p, index, copy) for p in present for index, copy in enumerate(copies[p])]

    def _ctor(
        self,
        call: LayerCall,
        copies: list[list[Copy]],
        k: Optional[int],
        present: list[int],
        is_block: bool,
        loop_var: Optional[str],
    ) -> tuple[str, int]:
        """The module an entry's copy holds, and how many outputs it returns: a new one, the
        earlier module it shares (`share:`), frozen with requires_grad_(False) when
        `trainable: false` (nn.Module.requires_grad_ returns the module)."""
        ctor, n_out = self._new_module(call, copies, k, present, is_block, loop_var)
        if "share" in call.present:
            ctor = self._shared_module(call)
        if "trainable" in call.present and call.trainable is not True:
            if call.trainable is not False:
                raise Unsupported("`trainable` given by an expression")
            if "share" not in call.present:  # a shared module is frozen (or not) where it is made
                ctor = f"{ctor}.requires_grad_(False)"
        return ctor, n_out

    def _shared_module(self, call: LayerCall) -> str:
        """`self.<path>`: the earlier submodule of this class that `share: NAME` names."""
        target = call.share
        if not isinstance(target, str) or has_substitution(target):
            raise Unsupported("`share` given by an expression")
        head = attr_name(target.split(".")[0])
        if head not in self.attrs:
            raise ExportError(
                f"`share: {target}` names a module this class does not hold by that name "
                "(a copy inside a loop, or a layer of another block)"
            )
        return "self." + module_path(target)

    def _new_module(
        self,
        call: LayerCall,
        copies: list[list[Copy]],
        k: Optional[int],
        present: list[int],
        is_block: bool,
        loop_var: Optional[str],
    ) -> tuple[str, int]:
        a = self.a
        wants = self._wants(copies, k, present)
        p0, c0, first = wants[0]
        copy_index = c0 if k is not None else None
        if is_block:
            infos = {id(self.ex.class_of_instance[_some(copy.block)]) for _, _, copy in wants}
            if len(infos) != 1:
                raise Unsupported(f"uses of {call.kind} that need different classes")
            info = self.ex.class_of_instance[_some(first.block)]
            arguments: list[str] = []
            if info.symbolic:
                for name, j, dim in info.in_params:
                    sizes = [(p, c, a.shape(a.block_inputs(_some(copy.block))[j])[dim]) for p, c, copy in wants]
                    chain = self._chain(a.block_inputs(_some(first.block))[j], p0)
                    arguments.append(f"{name}={self._size(sizes, chain, loop_var)}")
                for key, raw in call.args.items():
                    param = info.arg_idents[key]
                    if self.symbolic:
                        arguments.append(f"{param}={self._value(raw, p0, c0, loop_var, as_tuple=False)}")
                    else:
                        arguments.append(f"{param}={literal(a.block_vars(_some(first.block))[key], as_tuple=False)}")
            return f"{info.name}({', '.join(arguments)})", info.n_outputs
        node = a.graph.nodes[_some(first.node)]
        layer = _some(node.layer)
        if layer.torch_unsupported():
            raise ExportError(f"{node.name} ({call.kind}): {layer.torch_unsupported()}")
        in_shapes = [a.shape(ref) for ref in node.inputs]
        values: dict[str, str] = {}
        for key, raw in call.args.items():
            if loop_var is None and self.symbolic:
                values[key] = self._value(raw, p0, c0 if copy_index is not None else 0, None)
            elif loop_var is not None:
                values[key] = self._value(raw, p0, 0, loop_var)
            else:
                values[key] = literal(getattr(layer, key))
        for name, j, dim in layer.torch_inferred(in_shapes):
            sizes = []
            for p, c, copy in wants:
                other = a.graph.nodes[_some(copy.node)]
                sizes.append((p, c, a.shape(other.inputs[j])[dim]))
            chain = self._chain(node.inputs[j], p0)
            values[name] = self._size(sizes, chain, loop_var)
        side = layer.torch_side()
        built_by = {_ctor_name(_some(a.graph.nodes[_some(copy.node)].layer).torch_side()) for _, _, copy in wants}
        if len(built_by) > 1:
            raise Unsupported(f"copies of {call.kind} that PyTorch builds with different classes")
        return self._torch_ctor(layer, side, values), layer.num_outputs()

    def _torch_ctor(self, layer: Any, side: Any, values: dict[str, str]) -> str:
        """The constructor call, from the layer's PyTorch side (its kind's, or the class
        its arguments need)."""
        cls = type(layer)
        if side is None:
            raise ExportError(f"{cls.kind()} has no PyTorch counterpart: {cls.no_pytorch}")
        if side.shipped:
            self.ex.helpers.add(side.class_name)
            name = side.class_name
        elif side.ctor.startswith("nn."):
            name = "nn." + side.class_name
        else:
            raise ExportError(f"{cls.kind()} is built by {side.ctor}, which an exported file does not import")
        # Positional only while the leading arguments are all present.
        parts = []
        for key in side.positional:
            if key not in values:
                break
            parts.append(values[key])
        used = set(side.positional[: len(parts)])
        parts += [f"{_keyword(key)}={value}" for key, value in values.items() if key not in used]
        return f"{name}({', '.join(parts)})"

    def _targets(self, call: LayerCall, outs: list[str]) -> str:
        """The names a call's result is unpacked into, nested as the module returns them."""
        side = REGISTRY[call.kind].pytorch if call.kind in REGISTRY else None
        if side is not None and side.returns == "output_and_state" and len(outs) > 2:
            return f"{outs[0]}, ({', '.join(outs[1:])})"
        return ", ".join(outs)

    def _call(self, call: LayerCall, target: str, inputs: list[str]) -> str:
        side = REGISTRY[call.kind].pytorch if call.kind in REGISTRY else None
        if side is not None and side.call == "query_key_value":
            query, key, value = (inputs * 3)[:3] if len(inputs) == 1 else inputs
            return f"{target}({query}, {key}, {value}, need_weights=False)[0]"
        return f"{target}({', '.join(inputs)})"

    # -- the class text ---------------------------------------------------------------------

    def text(self, description: str = "", note: str = "") -> str:
        lines = [f"class {self.class_name}(nn.Module):"]
        doc = description or (f"The network {self.a.spec.name!r}." if self.root else f"cnnshape block {self.kind}.")
        if note:
            doc = f"{doc}\n\n{note}"
        lines.append(docstring(doc, "    "))
        lines.append("")
        params = ["self"] + [f"{name}: int" for name, _, _ in self.in_params]
        computed: list[str] = []
        if self.symbolic and not self.root:
            for name, default in self.block_args.items():
                ident = self.arg_idents[name]
                if has_substitution(default):
                    params.append(f"{ident}=None")
                    computed.append(f"if {ident} is None:")
                    computed.append(f"    {ident} = {self._translate(default, as_tuple=False)}")
                else:
                    params.append(f"{ident}={literal(default, as_tuple=False)}")
        lines.append(f"    def __init__({', '.join(params)}):")
        lines.append("        super().__init__()")
        lines += ["        " + line for line in computed + self.init]
        lines.append("")
        lines.append(f"    def forward(self, {', '.join(self.input_vars)}):")
        lines += ["        " + line for line in self.fwd]
        lines.append(f"        return {', '.join(self.outputs)}")
        return "\n".join(lines) + "\n"


def _ctor_name(side: Any) -> Optional[str]:
    return None if side is None else side.ctor


def _keyword(key: str) -> str:
    """A layer argument's name as a keyword argument: a pydantic field name, so always an
    identifier; checked anyway, since it is written into code."""
    if not key.isidentifier() or keyword.iskeyword(key) or not key.isascii():
        raise ExportError(f"argument name {key!r} cannot be written as a keyword argument")
    return key
