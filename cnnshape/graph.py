"""From a validated spec to a resolved graph: blocks expanded, `repeat` and `if` applied,
`$` substitutions evaluated, every layer's arguments checked by its kind, and every
reference resolved to an earlier tensor.

The graph is a flat list of nodes in execution order (references only point backwards),
plus the block instances that group them, which is what makes analysis linear.
"""

from __future__ import annotations

import contextlib
import keyword
import re
from dataclasses import dataclass, field
from math import prod
from typing import Any, NamedTuple, Union

from pydantic import ValidationError

from cnnshape.errors import Issue, Loc, Problem, Severity, ShapeError, SpecError, did_you_mean
from cnnshape.expr import ExprError, has_substitution, referenced_names, substitute
from cnnshape.layers import NOT_YET, REGISTRY
from cnnshape.layers.base import MAX_ELEMENTS, Layer, Result, Shape, fmt_shape
from cnnshape.source import Source
from cnnshape.spec import NAME_RE, BlockDef, LayerCall, NetworkSpec, parse_layer_entry, pydantic_issues

MAX_NODES = 250_000  # expanded layers in one network (100k-layer specs work; a hostile one stops early)
MAX_REFERENCES = 1_000_000  # layer inputs in one network: `from` lists cannot multiply the work
MAX_BLOCK_DEPTH = 64

# Variables a block reads from its inputs' shapes (see docs/spec.md, "A block's input").
INPUT_VARIABLES = ("input_shape", "input_channels", "input_spatial", "input_shapes", "input_channel_list")


class Ref(NamedTuple):
    """One tensor: output `output` of node `node` (node 0 is the network input)."""

    node: int
    output: int = 0


# eq=False on these records: nothing compares them, and each generated method costs import time.
@dataclass(slots=True, eq=False)  # 250,000 of them at the layer limit: no dict per node
class Node:
    """One layer instance."""

    index: int
    name: str  # qualified: "basicblock_2.conv2d_1"
    kind: str
    layer: Layer | None  # None: the network input, or a layer whose arguments were invalid
    inputs: list[Ref]
    loc: Loc
    block: int | None  # innermost block instance, index into Graph.blocks
    depth: int  # 0 at top level
    context: str = ""  # "in basicblock_2", for messages about block internals
    training_only: bool = False  # runs only in training mode (e.g. an auxiliary head)
    shares: int | None = None  # the node whose weights it reuses (`share:`): its parameters count there
    trainable: bool = True  # `trainable: false` on it or an enclosing block use


@dataclass(eq=False)
class BlockInstance:
    """One use of a block: its nodes are the contiguous range [first, end)."""

    index: int
    name: str
    kind: str
    parent: int | None
    depth: int
    loc: Loc
    first: int = 0
    end: int = 0
    outputs: list[Ref] = field(default_factory=list)
    inputs: list[Ref] = field(default_factory=list)  # the tensors the use reads
    args: dict[str, Any] = field(default_factory=dict)  # its variables: the network's args, then the block's


@dataclass(eq=False)
class Graph:
    name: str
    input_shape: tuple[int, ...]
    nodes: list[Node]
    blocks: list[BlockInstance]
    outputs: list[Ref]
    output_names: list[str]
    args: dict[str, Any]
    problems: list[Problem] = field(default_factory=list)  # errors and warnings found so far
    # Layers already inferred during expansion (for blocks that read their input's shape),
    # so analysis does not infer them twice.
    results: dict[int, Result] = field(default_factory=dict)
    # The network's inputs, in order: nodes 0 .. len(inputs) - 1 (one called "input", or
    # the names of `input: {name: shape, ...}`).
    inputs: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)

    @property
    def first_layer(self) -> int:
        """Index of the first layer node (the nodes before it are the inputs)."""
        return max(1, len(self.inputs))


@dataclass(eq=False)
class _Scope:
    """Names visible inside one network or block use."""

    prefix: str
    inputs: list[Ref]
    variables: dict[str, Any]
    block: int | None
    depth: int
    context: str
    names: dict[str, Union[list[Ref], _Scope]] = field(default_factory=dict)
    # Every copy of a named entry, in order, for `name.*` (empty when it was skipped).
    copies: dict[str, list[Union[list[Ref], _Scope]]] = field(default_factory=dict)
    outputs: list[Ref] = field(default_factory=list)  # a block scope's result
    counters: dict[str, int] = field(default_factory=dict)
    later: set[str] = field(default_factory=set)  # names given further down this layers list
    training_only: bool = False  # inside a block used with `training_only: true`
    trainable: bool = True  # false inside a block used with `trainable: false`
    # What each named entry made, for `share:`: a node index, or a block instance's index.
    made: dict[str, tuple[str, int]] = field(default_factory=dict)
    # Where each variable's value was written (a block use's argument, a block default, a
    # network arg, or the command line), followed through `name: $other`: a bad value is
    # reported there.
    origins: dict[str, Union[Loc, _CommandLine]] = field(default_factory=dict)


class _CommandLine(NamedTuple):  # an immutable value; a NamedTuple class is cheaper to make than a dataclass
    """The origin of a network arg given with `--set NAME=VALUE`: no place in the file."""

    name: str
    value: Any


FAILED = object()  # a substitution that failed: its problem is already recorded


def _bare_name(value: Any) -> str | None:
    """`c` for the value `$c` (a whole value that is one variable), else None."""
    if isinstance(value, str) and value.startswith("$") and value[1:].isidentifier():
        return value[1:]
    return None


def _raw_at(args: dict[str, Any], path: tuple) -> Any:
    """The value as written at `path` inside a layer's arguments (None if it is not there)."""
    value: Any = args
    for step in path:
        if (
            isinstance(value, dict)
            and step in value
            or isinstance(value, list)
            and isinstance(step, int)
            and 0 <= step < len(value)
        ):
            value = value[step]
        else:
            return None
    return value


_WORD = re.compile(r"(?<![A-Za-z0-9_])[A-Za-z_][A-Za-z0-9_]*")


def _uses_failed(value: Any, variables: dict[str, Any]) -> bool:
    """True when a substitution mentions a variable whose own substitution failed (each
    word of the value looked up once: linear in the value, whatever the number of args)."""
    return any(variables.get(word) is FAILED for word in _WORD.findall(repr(value)))


class _Broken(Exception):
    """A reference could not be resolved; the issue is already recorded."""


InputShape = Union[tuple[int, ...], dict[str, tuple[int, ...]]]  # `--input`: the one input, or some by name


def build(
    spec: NetworkSpec,
    source: Source,
    overrides: dict[str, Any] | None = None,
    input_shape: InputShape | None = None,
) -> Graph:
    """Expand and resolve a spec. Problems that leave the graph analysable are returned in
    graph.problems (so shape problems can be reported with them); others raise SpecError."""
    return _Builder(spec, source).run(overrides or {}, input_shape)


class _Builder:
    def __init__(self, spec: NetworkSpec, source: Source):
        self.spec = spec
        self.source = source
        self.nodes: list[Node] = []
        self.blocks: list[BlockInstance] = []
        self.issues: dict[tuple, Issue] = {}
        self.block_stack: list[str] = []
        self.network_variables: dict[str, Any] = {}
        self.skipped_blocks: set[str] = set()
        self.references = 0
        self.overrides: dict[str, Any] = {}
        self.network_origins: dict[str, Any] = {}
        self.input_ok = True  # a made-up input shape would only produce made-up shape errors
        # Shapes known so far, for blocks that read their input: each node's output shapes
        # (None: unknown), inferred in order and at most once, only when a block asks.
        self.known: list[list[Shape] | None] = []
        self.results: dict[int, Result] = {}
        self.reads_input: dict[str, bool] = {}
        # Validated layers by kind and arguments: a network repeats a few layer settings
        # many times, and a layer is frozen, so equal arguments share one instance.
        self.validated: dict[tuple[str, str], Layer] = {}

    # -- issues ---------------------------------------------------------------------------

    def issue(
        self,
        loc: Loc,
        code: str,
        message: str,
        scope: _Scope | None = None,
        at_key: bool = False,
        severity: Severity = "error",
    ) -> None:
        key = (tuple(loc), code, message)
        if key not in self.issues:
            suffix = f" ({scope.context})" if scope is not None and scope.context else ""
            self.issues[key] = Issue(tuple(loc), code, message + suffix, severity, at_key=at_key)

    def problems(self) -> list[Problem]:
        return self.source.pending + self.source.problems(list(self.issues.values()))

    def fail(self) -> SpecError:
        return SpecError(self.problems())

    # -- entry ----------------------------------------------------------------------------

    def run(self, overrides: dict[str, Any], input_override: InputShape | None) -> Graph:
        spec = self.spec
        self.overrides = overrides
        variables = self.network_variables = self._network_args(overrides)
        inputs = self._inputs(variables, input_override)
        for where, declared in [(("args",), spec.args)] + [
            (("blocks", b, "args"), d.args) for b, d in spec.blocks.items()
        ]:
            for arg in declared:
                if keyword.iskeyword(arg) or arg == "repeat_index" or (where[0] == "blocks" and arg in INPUT_VARIABLES):
                    why = (
                        "is a Python keyword, so expressions cannot use it"
                        if keyword.iskeyword(arg)
                        else "is set by `repeat` for each copy"
                        if arg == "repeat_index"
                        else "is set from the block's input"
                    )
                    self.issue(where + (arg,), "bad-value", f"argument name {arg!r} {why}; rename it", at_key=True)
        for block in spec.blocks:
            if block in REGISTRY:
                self.issue(
                    ("blocks", block),
                    "duplicate-name",
                    f"block {block!r} has the name of a built-in layer kind; rename it (e.g. {block}Block)",
                    at_key=True,
                )
        named = isinstance(spec.input, dict)
        for index, (name, input_shape) in enumerate(inputs):
            self.nodes.append(Node(index, name, "Input", None, [], ("input", name) if named else ("input",), None, 0))
            self.known.append([input_shape] if self.input_ok else None)
        self.network_origins = {
            name: _CommandLine(name, overrides[name]) if name in overrides else ("args", name) for name in spec.args
        }
        top = _Scope(
            "", [Ref(i) for i in range(len(inputs))], variables, None, 0, "", origins=dict(self.network_origins)
        )
        if named:
            for index, (name, _) in enumerate(inputs):
                top.names[name] = [Ref(index)]
        self.expand(spec.layers, ("layers",), top)
        outputs, names = self._outputs(spec.outputs, ("outputs",), top)
        used = {block.kind for block in self.blocks} | self.skipped_blocks
        for block in spec.blocks:
            if block not in used:
                self.issue(
                    ("blocks", block),
                    "unused-block",
                    f"block {block!r} is never used, so its layers are not checked",
                    at_key=True,
                    severity="warning",
                )
        if not self.input_ok:
            raise self.fail()
        return Graph(
            spec.name,
            inputs[0][1],
            self.nodes,
            self.blocks,
            outputs,
            names,
            variables,
            self.problems(),
            self.results,
            inputs,
        )

    def _network_args(self, overrides: dict[str, Any]) -> dict[str, Any]:

        for key in overrides:
            if key not in self.spec.args:
                hint = did_you_mean(key, self.spec.args) or (
                    f"; the spec's args are: {', '.join(self.spec.args)}"
                    if self.spec.args
                    else "; the spec declares no args"
                )
                self.issue(
                    ("args",), "unknown-argument", f"--set {key}: the spec has no argument {key!r}{hint}", at_key=True
                )
        variables: dict[str, Any] = {}
        for key, value in self.spec.args.items():
            if key in overrides and self._override_fits(key, overrides[key], value):
                variables[key] = overrides[key]
                continue
            # An arg may use only those above it: each word of its value is looked up once
            # (not every later arg searched for: 20,000 args would take minutes).
            words = _WORD.findall(str(value)) if has_substitution(value) else []
            later = [word for word in words if word in self.spec.args and word not in variables]
            if later:
                self.issue(
                    ("args", key),
                    "bad-expression",
                    (
                        f"{later[0]!r} is declared below {key!r} (or is {key!r} itself); args are evaluated "
                        "top to bottom, so move it above"
                    ),
                )
                variables[key] = FAILED
                continue
            variables[key] = self.subst(value, variables, ("args", key))
        return variables

    def _override_note(self, raw: Any) -> str:
        """ " (from --set width=-5)" when a bad value came from a command-line override, so
        the user looks there rather than at the file (which says something else)."""
        if not self.overrides or not has_substitution(raw):
            return ""
        used = [k for k in self.overrides if re.search(rf"\b{re.escape(k)}\b", str(raw))]
        return "".join(f" (from --set {k}={self.overrides[k]!r})" for k in used[:1])

    def _override_fits(self, key: str, value: Any, default: Any) -> bool:
        """An override must have its default's type (ints and floats mix); else one error
        at the arg, instead of one at every layer that uses it."""
        if has_substitution(default) or default is None or value is None:
            return True  # null switches an optional feature off (`--set se_ratio=null`)
        kinds = {bool: "true or false", int: "a number", float: "a number", str: "text", list: "a list"}

        def sort(item: Any) -> str:
            return kinds.get(type(item), type(item).__name__)

        if sort(value) == sort(default):
            return True
        self.issue(
            ("args", key),
            "bad-value",
            f"--set {key}={value!r}: expected {sort(default)}, like the spec's default {default!r}",
            at_key=True,
        )
        return False

    def _inputs(self, variables: dict[str, Any], override: InputShape | None) -> list[tuple[str, tuple[int, ...]]]:
        """Each network input's name and shape: from the spec, or from `--input`."""
        written = self.spec.input
        if not isinstance(written, dict):
            if isinstance(override, dict):
                self.issue(
                    ("input",),
                    "unknown-argument",
                    (f"--input {', '.join(override)}=...: this spec has one unnamed input; give just its shape"),
                    at_key=True,
                )
                override = None
            return [("input", override or self._input_shape(written, variables, ("input",)))]
        if override is not None and not isinstance(override, dict):
            if len(written) > 1:
                self.issue(
                    ("input",),
                    "unknown-argument",
                    (
                        f"--input: this spec has {len(written)} inputs ({', '.join(written)}); set each as NAME=SHAPE, "
                        f"e.g. --input '{next(iter(written))}=1,3,224,224'"
                    ),
                    at_key=True,
                )
            override = {next(iter(written)): override}
        import difflib

        given = override or {}
        for name in given:
            if name not in written:
                close = difflib.get_close_matches(name, list(written), n=1)
                self.issue(
                    ("input",),
                    "unknown-argument",
                    (
                        f"--input {name}=...: the spec has no input {name!r}"
                        + (f"; did you mean {close[0]!r}?" if close else f"; its inputs are: {', '.join(written)}")
                    ),
                    at_key=True,
                )
        inputs = []
        for name, dims in written.items():
            if not NAME_RE.match(name) or name == "input":
                self.issue(
                    ("input", name),
                    "bad-value",
                    f"input name {name!r} must be an identifier other than 'input'",
                    at_key=True,
                )
            inputs.append((name, given.get(name) or self._input_shape(dims, variables, ("input", name))))
        return inputs

    def _input_shape(self, written: list[Any], variables: dict[str, Any], base: Loc) -> tuple[int, ...]:
        dims = []
        for i, dim in enumerate(written):
            value = self.subst(dim, variables, base + (i,))
            if value is FAILED:
                value, self.input_ok = 1, False
            elif isinstance(value, bool) or not isinstance(value, int) or value < 1:
                self.issue(base + (i,), "bad-value", f"input dimension must be a positive integer, got {value!r}")
                value, self.input_ok = 1, False
            dims.append(value)
        return tuple(dims)

    def _outputs(self, names: list[str] | None, loc: Loc, scope: _Scope) -> tuple[list[Ref], list[str]]:
        """The output tensors and a name for each (`pool.1` for one output of several)."""
        if not names:
            return scope.outputs, [self._label(ref) for ref in scope.outputs]
        refs: list[Ref] = []
        labels: list[str] = []
        for i, name in enumerate(names):
            try:
                found = self.lookup(name, scope, loc + (i,))
            except _Broken:
                continue
            refs.extend(found)
            labels.extend([name] if len(found) == 1 else [f"{name}.{j}" for j in range(len(found))])
        return refs, labels

    def _label(self, ref: Ref) -> str:
        node = self.nodes[ref.node]
        several = node.layer is not None and node.layer.num_outputs() > 1
        return f"{node.name}.{ref.output}" if several else node.name

    # -- substitution ---------------------------------------------------------------------

    def subst(self, value: Any, variables: dict[str, Any], loc: Loc, scope: _Scope | None = None) -> Any:
        if not has_substitution(value):
            return value
        if _uses_failed(value, variables):
            return FAILED  # a variable it uses could not be evaluated; that is reported already
        try:
            return substitute(value, variables)
        except ExprError as exc:
            self.issue(loc, "bad-expression", str(exc), scope)
            return FAILED

    # -- expansion ------------------------------------------------------------------------

    def expand(self, entries: list[Any], base: Loc, scope: _Scope) -> None:
        """Expand a `layers:` list into nodes; scope.outputs ends as the last layer's tensors."""
        previous = list(scope.inputs)
        scope.later = {
            body["name"]
            for raw in entries
            if isinstance(raw, dict) and len(raw) == 1
            for body in raw.values()
            if isinstance(body, dict) and isinstance(body.get("name"), str)
        }
        for i, raw in enumerate(entries):
            loc = base + (i,)
            call = parse_layer_entry(raw, loc)
            if isinstance(call, Issue):
                self.issue(call.loc, call.code, call.message, scope)
                previous = self._broken(previous)
                continue
            previous = self.expand_call(call, scope, previous)
        scope.outputs = previous

    def _broken(self, previous: list[Ref]) -> list[Ref]:
        """A stand-in tensor after a layer that could not be built: analysis skips its users."""
        node = Node(len(self.nodes), "<invalid>", "<invalid>", None, list(previous), (), None, 0)
        self.nodes.append(node)
        return [Ref(node.index)]

    def _reserved(
        self, call: LayerCall, scope: _Scope, key: str, raw: Any, fallback: Any, valid: Any, wanted: str
    ) -> Any:
        """A reserved key's value after substitution; one located error and `fallback` if it
        is not `wanted` (a failed substitution is already reported)."""
        if key not in call.present:
            return raw  # not written: the default, which needs no checking
        value = self.subst(raw, scope.variables, call.args_loc + (key,), scope)
        if value is FAILED:
            return fallback
        if not valid(value):
            self.issue(call.args_loc + (key,), "bad-value", f"{key!r} must be {wanted}, got {value!r}", scope)
            return fallback
        return value

    def _checked_reserved(self, call: LayerCall, scope: _Scope) -> tuple[Any, Any, Any]:
        """`if`, `repeat` and `name` after substitution and checks (training_only and
        trainable are set on the call)."""
        is_flag = lambda value: isinstance(value, bool)  # noqa: E731
        enabled = self._reserved(call, scope, "if", call.if_, True, is_flag, "true or false")
        repeat = self._reserved(
            call,
            scope,
            "repeat",
            call.repeat,
            1,
            lambda value: not isinstance(value, bool) and isinstance(value, int) and 0 <= value <= MAX_NODES,
            f"an integer from 0 to {MAX_NODES:,}",
        )
        name = self._reserved(
            call,
            scope,
            "name",
            call.name,
            None,
            lambda value: value is None or (isinstance(value, str) and bool(NAME_RE.match(value)) and value != "input"),
            "an identifier other than 'input'",
        )
        call.training_only = self._reserved(
            call, scope, "training_only", call.training_only, False, is_flag, "true or false"
        )
        call.trainable = self._reserved(call, scope, "trainable", call.trainable, True, is_flag, "true or false")
        return enabled, repeat, name

    def expand_call(self, call: LayerCall, scope: _Scope, previous: list[Ref]) -> list[Ref]:
        if not call.present and call.kind in REGISTRY and call.kind not in self.spec.blocks:
            # Most entries: one layer with arguments only, fed by the entry before it; what
            # follows would find every reserved key at its default.
            return self.add_layer(call, self._local_name(call.kind, None, 0, 1, scope), scope, previous)
        args_loc = call.args_loc
        if call.present:
            enabled, repeat, name = self._checked_reserved(call, scope)
        else:  # no reserved key written: the defaults, which need no checking
            enabled, repeat, name = True, 1, None
        if name is not None and name in scope.names:
            self.issue(args_loc + ("name",), "duplicate-name", f"name {name!r} is already used in this scope", scope)
        inputs_ok = True
        try:
            inputs = self.resolve_from(call, scope, previous)
        except _Broken:
            inputs, inputs_ok = self._broken(previous), False
        is_block = call.kind in self.spec.blocks
        if not is_block and call.kind not in REGISTRY:
            if call.kind in NOT_YET:
                hint = (
                    "; it is a PyTorch module cnnshape does not support yet (`cnnshape layers` lists the kinds it has)"
                )
            else:
                hint = (
                    did_you_mean(call.kind, [*REGISTRY, *self.spec.blocks], n=3)
                    or "; layer kinds are PyTorch class names (`cnnshape layers` lists them)"
                )
            self.issue(
                call.loc + (call.kind,), "unknown-kind", f"unknown layer kind {call.kind!r}{hint}", scope, at_key=True
            )
            return self._broken(inputs)
        reuse = self._shared(call, scope, is_block) if "share" in call.present else None
        if "share" in call.present and reuse is None:
            return self._broken(inputs)  # reported; its arguments are not guessed
        if not enabled or repeat == 0:
            # A skipped layer stands for what it would have consumed; its argument names
            # are still checked, so a typo does not hide until the layer is switched on.
            self._check_argument_names(call, scope)
            if is_block:
                self.skipped_blocks.add(call.kind)
                self._check_skipped_cycle(call, scope)
            merges = not is_block and (REGISTRY[call.kind].max_inputs or 2) > 1
            stand_in = self._stand_in(
                call, scope, name, inputs, inputs_ok and merges, "if" if not enabled else "repeat"
            )
            if name is not None:
                scope.names[name] = stand_in
                scope.copies[name] = []
            return stand_in
        if "else" in call.present:
            # Checked while the layer is on, so switching it off cannot reveal a typo.
            with contextlib.suppress(_Broken):
                self._resolve(call.else_, call.args_loc + ("else",), scope)
        outputs = inputs
        result: Union[list[Ref], _Scope] = inputs
        every: list[Union[list[Ref], _Scope]] = []
        shared = scope.variables
        for copy in range(repeat):
            before = len(self.nodes)
            local = self._local_name(call.kind, name, copy, repeat, scope)
            if is_block:
                # Each copy's arguments may use its position: `p: $(0.1 * repeat_index)`.
                scope.variables = {**shared, "repeat_index": copy}
                try:
                    result = self.expand_block(call, local, scope, outputs, reuse)
                finally:
                    scope.variables = shared
                outputs = result.outputs
            else:
                outputs = result = self.add_layer(call, local, scope, outputs, copy, inputs_ok, reuse)
            every.append(result)
            # Stop a huge `repeat` as soon as one copy shows where it is going.
            grown = len(self.nodes) - before
            if grown and self.layer_count + grown * (repeat - copy - 1) > MAX_NODES:
                self.issue(
                    args_loc + ("repeat",),
                    "limit",
                    (
                        f"repeat: {repeat:,} copies of {grown:,} layer(s) would expand the network past "
                        f"{MAX_NODES:,} layers"
                    ),
                    scope,
                )
                raise self.fail()
        if name is not None:
            scope.names[name] = result
            scope.copies[name] = every
        return outputs

    def _stand_in(
        self, call: LayerCall, scope: _Scope, name: str | None, inputs: list[Ref], check: bool, switch: str
    ) -> list[Ref]:
        """What a skipped entry stands for: its `else`, or its inputs. A skipped merge (Add,
        Mul, Concat, ...) standing for several tensors must say so: it silently turned a
        residual block's output into two tensors before. Other entries (a block use, a
        one-input layer) pass several tensors through unchanged, as they receive them."""
        if "else" in call.present:
            try:
                return self._resolve(call.else_, call.args_loc + ("else",), scope)
            except _Broken:
                return self._broken(inputs)
        if check and len(inputs) > 1:
            label = f"{name} ({call.kind})" if name else call.kind
            tensors = ", ".join(self._label(ref) for ref in inputs)
            where = switch if switch in call.present else "if"
            written = (
                call.from_ if isinstance(call.from_, list) and call.from_ and isinstance(call.from_[0], str) else None
            )
            example = written[0] if written else f"{self._label(inputs[0]).removeprefix(scope.prefix)}"
            self.issue(
                call.args_loc + (where,),
                "skipped-merge",
                (
                    f"{label} is skipped ({where}: {'false' if where == 'if' else 0}) and would stand for its "
                    f"{len(inputs)} inputs ({tensors}); say which tensor stands for it with `else:` (e.g. `else: {example}`)"
                ),
                scope,
            )
            return self._broken(inputs)  # its users are not checked against a guess
        return inputs

    def _check_skipped_cycle(self, call: LayerCall, scope: _Scope) -> None:
        """A block use switched off (`if: false`, `repeat: 0`) is not expanded, but a block
        that reaches itself is still a cycle (docs/spec.md): follow the block uses as
        written, whatever their `if` and `repeat`, to the blocks being expanded or back."""
        stack = self.block_stack
        targets = set(stack) | {call.kind}
        paths: dict[str, list[str]] = {call.kind: [call.kind]}
        pending = [call.kind]
        while pending:
            block = pending.pop(0)
            for used in self._block_uses(block):
                path = paths[block] + [used]
                if used in targets:
                    start = stack[stack.index(used) :] if used in stack and used != call.kind else []
                    chain = " -> ".join(start + path)
                    self.issue(
                        call.loc + (call.kind,), "cycle", f"block {used!r} uses itself: {chain}", scope, at_key=True
                    )
                    return
                if used not in paths:
                    paths[used] = path
                    pending.append(used)

    def _block_uses(self, block: str) -> list[str]:
        """The blocks a block's layers name as their kind, as written."""
        uses = []
        for raw in self.spec.blocks[block].layers:
            kind = next(iter(raw), None) if isinstance(raw, dict) and len(raw) == 1 else raw
            if isinstance(kind, str) and kind in self.spec.blocks:
                uses.append(kind)
        return uses

    def _check_argument_names(self, call: LayerCall, scope: _Scope) -> None:

        known = (
            list(self.spec.blocks[call.kind].args)
            if call.kind in self.spec.blocks
            else list(REGISTRY[call.kind].model_fields)
        )
        for key in call.args:
            if key not in known:
                hint = did_you_mean(str(key), known)
                self.issue(
                    call.args_loc + (key,),
                    "unknown-argument",
                    f"{call.kind}: unknown argument {key!r}{hint}",
                    scope,
                    at_key=True,
                )

    def _local_name(self, kind: str, name: str | None, copy: int, repeat: int, scope: _Scope) -> str:
        if name is not None:
            return name if repeat == 1 else f"{name}_{copy + 1}"
        stem = kind.lower()
        count = scope.counters.get(stem, 0)
        while True:
            count += 1
            local = f"{stem}_{count}"
            if local not in scope.names and local not in scope.later:
                scope.counters[stem] = count
                return local

    @property
    def layer_count(self) -> int:
        return len(self.nodes) - 1  # node 0 is the network input

    def _check_size(self, loc: Loc, inputs: int) -> None:
        self.references += inputs
        if self.layer_count >= MAX_NODES:
            self.issue(loc, "limit", f"the network expands to more than {MAX_NODES:,} layers")
            raise self.fail()
        if self.references > MAX_REFERENCES:
            self.issue(
                loc, "limit", f"the layers' inputs add up to more than {MAX_REFERENCES:,} references (`from` lists)"
            )
            raise self.fail()

    def add_layer(
        self,
        call: LayerCall,
        local: str,
        scope: _Scope,
        inputs: list[Ref],
        copy: int = 0,
        inputs_ok: bool = True,
        shared: int | None = None,
    ) -> list[Ref]:
        """One copy (`repeat_index` = `copy`) of a layer entry, fed by `inputs`."""
        self._check_size(call.loc, len(inputs))
        args_loc = call.args_loc
        # The validated-layer key is the arguments' repr (it tells 1 from 1.0 and True, as
        # validation does). Most entries have no `$` anywhere, which the same text shows,
        # so they skip the substitution pass (and its variables): one C-level repr per layer.
        text = repr(call.args)
        if "$" in text:
            # Each copy's arguments may use its position: `p: $(0.1 * repeat_index)`.
            variables = {**scope.variables, "repeat_index": copy}
            values = {
                key: self.subst(value, variables, args_loc + (key,), scope) if has_substitution(value) else value
                for key, value in call.args.items()
            }
        else:
            values = call.args
        layer = None
        if shared is not None:
            layer = self.nodes[shared].layer  # the same module: its arguments are the original's
        elif values is call.args or not any(value is FAILED for value in values.values()):
            key = (call.kind, text if values is call.args else repr(values))
            layer = self.validated.get(key)
            try:
                if layer is None:
                    layer = self.validated[key] = REGISTRY[call.kind].model_validate(values)
            except ValidationError as exc:
                cls = REGISTRY[call.kind]
                fields = list(cls.model_fields)
                for issue in pydantic_issues(exc, args_loc, "argument", fields=fields, data=values):
                    origin = self._override_note(
                        call.args.get(issue.loc[len(args_loc)]) if len(issue.loc) > len(args_loc) else None
                    )
                    loc, at_key, message = issue.loc, issue.at_key, f"{call.kind}: {issue.message}{origin}"
                    name = _bare_name(_raw_at(call.args, issue.loc[len(args_loc) :]))
                    written = None if at_key or name is None else scope.origins.get(name)
                    if isinstance(written, _CommandLine):
                        if not origin:
                            message += f" (from --set {written.name}={written.value!r})"
                    elif written is not None:
                        # `out_channels: $c` with a bad `c`: the place to fix is where c's
                        # value was written (the block use), not the block's layer line.
                        line, _ = self.source.locate(loc)
                        loc, message = written, f"{message} (read as ${name} at line {line})"
                    self.issue(loc, issue.code, message, scope, at_key)
        if layer is not None and inputs_ok:
            least, most = layer.input_count()
            if not least <= len(inputs) <= (most or len(inputs)):
                want = str(least) if least == most else f"at least {least}"
                sources = sorted({self.nodes[ref.node].name for ref in inputs})
                hint = ""
                if len(sources) == 1 and len(inputs) > 1 and most == 1:
                    hint = f"; {sources[0]} has {len(inputs)} outputs: pick one with `from: {sources[0]}.0`"
                self.issue(
                    args_loc + ("from",),
                    "bad-value",
                    f"{scope.prefix + local} ({call.kind}) takes {want} input(s), got {len(inputs)}{hint}",
                    scope,
                )
                layer = None
        qualified = scope.prefix + local
        # A layer fed by a training-only layer cannot run in eval mode either.
        training_only = call.training_only or scope.training_only
        for ref in inputs:  # a loop, not any() over a generator: cheaper, once per layer
            training_only = training_only or self.nodes[ref.node].training_only
        node = Node(
            len(self.nodes),
            qualified,
            call.kind,
            layer,
            list(inputs),
            args_loc,
            scope.block,
            scope.depth,
            scope.context,
            training_only,
            shared,
            call.trainable is not False and scope.trainable,
        )
        if shared is not None:
            node.trainable = self.nodes[shared].trainable  # one tensor: the original says
        self.nodes.append(node)
        refs = [Ref(node.index, i) for i in range(layer.num_outputs() if layer is not None else 1)]
        scope.names[local] = refs
        scope.made[local] = ("node", node.index)
        return refs

    def expand_block(
        self, call: LayerCall, local: str, scope: _Scope, inputs: list[Ref], shared: int | None = None
    ) -> _Scope:
        block: BlockDef = self.spec.blocks[call.kind]
        qualified = scope.prefix + local
        if call.kind in self.block_stack or len(self.block_stack) >= MAX_BLOCK_DEPTH:
            if call.kind in self.block_stack:
                chain = " -> ".join(self.block_stack[self.block_stack.index(call.kind) :] + [call.kind])
                self.issue(
                    call.loc + (call.kind,), "cycle", f"block {call.kind!r} uses itself: {chain}", scope, at_key=True
                )
            else:
                self.issue(
                    call.loc + (call.kind,),
                    "limit",
                    f"blocks nest more than {MAX_BLOCK_DEPTH} deep",
                    scope,
                    at_key=True,
                )
            broken = _Scope(qualified + ".", inputs, {}, scope.block, scope.depth, scope.context)
            broken.outputs = self._broken(inputs)
            return broken
        if shared is not None:  # the same modules: the original use's arguments
            variables, origins = dict(self.blocks[shared].args), dict[str, Any]()
        else:
            variables, origins = self._block_args(call, block, scope, self._input_variables(call.kind, block, inputs))
        instance = BlockInstance(
            len(self.blocks),
            qualified,
            call.kind,
            scope.block,
            scope.depth,
            call.loc + (call.kind,),
            first=len(self.nodes),
            inputs=list(inputs),
            args=variables,
        )
        self.blocks.append(instance)
        inner = _Scope(
            qualified + ".",
            list(inputs),
            variables,
            instance.index,
            scope.depth + 1,
            f"in {qualified}",
            origins=origins,
        )
        inner.training_only = scope.training_only or call.training_only
        inner.trainable = scope.trainable and call.trainable is not False
        self.block_stack.append(call.kind)
        try:
            self.expand(block.layers, ("blocks", call.kind, "layers"), inner)
            if block.outputs:
                inner.outputs, _ = self._outputs(block.outputs, ("blocks", call.kind, "outputs"), inner)
        finally:
            self.block_stack.pop()
        instance.end = len(self.nodes)
        instance.outputs = inner.outputs
        scope.names[local] = inner
        scope.made[local] = ("block", instance.index)
        if shared is not None:
            self._share_nodes(call, scope, instance, self.blocks[shared])
        return inner

    def _shared(self, call: LayerCall, scope: _Scope, is_block: bool) -> int | None:
        """The node or block use whose weights `share: NAME` names (same kind, earlier, in
        this scope or inside a block use of it); None after a located error."""
        loc = call.args_loc + ("share",)
        if call.args:
            first = next(iter(call.args))
            self.issue(
                call.args_loc + (first,),
                "bad-value",
                (
                    f"{call.kind} shares the weights of {call.share!r}, so its arguments are that entry's; remove {first!r}"
                ),
                scope,
                at_key=True,
            )
            return None
        if not isinstance(call.share, str) or not call.share:
            self.issue(
                loc, "bad-value", f"'share' takes the name of an earlier layer or block use, got {call.share!r}", scope
            )
            return None
        where, parts = scope, call.share.split(".")
        for part in parts[:-1]:
            inner = where.names.get(part)
            if not isinstance(inner, _Scope):
                self._unknown_reference(call.share, part, where, loc, scope)
                return None
            where = inner
        made = where.made.get(parts[-1])
        if made is None:
            self._unknown_reference(call.share, parts[-1], where, loc, scope)
            return None
        what, index = made
        kind = self.nodes[index].kind if what == "node" else self.blocks[index].kind
        if kind != call.kind or (what == "block") != is_block:
            self.issue(
                loc,
                "bad-value",
                f"{call.share!r} is a {kind}, not a {call.kind}: only the same kind can share weights",
                scope,
            )
            return None
        if what == "node" and self.nodes[index].layer is None:
            return None  # its own problem is reported
        if what == "node" and self.nodes[index].shares is not None:
            return self.nodes[index].shares
        return index

    def _share_nodes(self, call: LayerCall, scope: _Scope, instance: BlockInstance, original: BlockInstance) -> None:
        """Pair each layer of a sharing block use with the original use's (same order)."""
        mine, theirs = range(instance.first, instance.end), range(original.first, original.end)
        if len(mine) != len(theirs) or any(
            self.nodes[a].kind != self.nodes[b].kind for a, b in zip(mine, theirs, strict=True)
        ):
            self.issue(
                call.args_loc + ("share",),
                "bad-value",
                (f"{instance.name} cannot share the weights of {original.name}: the uses expand to different layers"),
                scope,
            )
            return
        for a, b in zip(mine, theirs, strict=True):
            node, source = self.nodes[a], self.nodes[b]
            node.shares = source.shares if source.shares is not None else b
            node.trainable = self.nodes[node.shares].trainable

    def _input_variables(self, kind: str, block: BlockDef, inputs: list[Ref]) -> dict[str, Any]:
        """`input_shape`, `input_channels`, ... for a block use, when the block reads them
        (shapes are inferred only then); FAILED when an input's shape is unknown (its
        problem is reported by analysis)."""
        if kind not in self.reads_input:
            pattern = r"\b(" + "|".join(INPUT_VARIABLES) + r")\b"
            self.reads_input[kind] = re.search(pattern, repr((block.args, block.layers))) is not None
        if not self.reads_input[kind]:
            return {}
        shapes = self.shapes_of(inputs)
        if not shapes:
            return dict.fromkeys(INPUT_VARIABLES, FAILED)
        first = list(shapes[0])
        return {
            "input_shape": first,
            "input_channels": first[1] if len(first) > 1 else None,
            "input_spatial": first[2:],
            "input_shapes": [list(shape) for shape in shapes],
            "input_channel_list": [shape[1] if len(shape) > 1 else None for shape in shapes],
        }

    def shapes_of(self, refs: list[Ref]) -> list[Shape] | None:
        """The shapes of earlier tensors (None if one is unknown). Nodes not yet inferred
        are inferred now, in order and each once, so expansion stays linear."""
        for index in range(len(self.known), len(self.nodes)):
            self.known.append(self._infer(self.nodes[index]))
        return self._known_shapes(refs)

    def _known_shapes(self, refs: list[Ref]) -> list[Shape] | None:
        shapes = []
        for ref in refs:
            out = self.known[ref.node]
            if out is None or ref.output >= len(out):
                return None
            shapes.append(out[ref.output])
        return shapes

    def _infer(self, node: Node) -> list[Shape] | None:
        """A node's output shapes, or None when they cannot be known (analysis says why)."""
        if node.layer is None:
            return None
        shapes = self._known_shapes(node.inputs)
        if shapes is None:
            return None
        try:
            result = node.layer.infer(shapes)
        except ShapeError:
            return None
        if any(min(shape, default=1) <= 0 or prod(shape) > MAX_ELEMENTS for shape in result.shapes):
            return None
        self.results[node.index] = result
        return list(result.shapes)

    def _block_args(
        self, call: LayerCall, block: BlockDef, scope: _Scope, input_vars: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The block use's variables, and where each value was written (see _Scope.origins)."""

        given: dict[str, Any] = {}
        origins = dict(self.network_origins)  # the block sees the network's args, then its own
        for key, value in call.args.items():
            if key not in block.args:
                hint = did_you_mean(str(key), block.args) or (
                    f"; its args are: {', '.join(block.args)}" if block.args else f"; block {call.kind} takes no args"
                )
                self.issue(
                    call.args_loc + (key,),
                    "unknown-argument",
                    f"block {call.kind} has no argument {key!r}{hint}",
                    scope,
                    at_key=True,
                )
                continue
            given[key] = self.subst(value, scope.variables, call.args_loc + (key,), scope)
            origins[key] = scope.origins.get(_bare_name(value) or "", call.args_loc + (key,))
        # Defaults see the network's args, the input's shape, every given value and the
        # defaults before them.
        input_vars = input_vars or {}
        variables = dict(self.network_variables)
        variables.update(input_vars)
        variables.update(given)
        for key, default in block.args.items():
            if key in given:
                self._check_tied(call, key, default, given[key], input_vars, scope, variables)
                continue
            variables[key] = self.subst(default, variables, ("blocks", call.kind, "args", key), scope)
            origins[key] = origins.get(_bare_name(default) or "", ("blocks", call.kind, "args", key))
        return variables, origins

    def _check_tied(
        self,
        call: LayerCall,
        key: str,
        default: Any,
        value: Any,
        input_vars: dict[str, Any],
        scope: _Scope,
        variables: dict[str, Any],
    ) -> None:
        """An argument whose default reads only the input's shape (`c1: $input_channels`)
        says what the input is; a value given at the use must agree with the real input."""
        names = referenced_names(default)
        if not names or not names <= set(INPUT_VARIABLES) or value is FAILED or not input_vars:
            return
        if any(input_vars.get(name) is FAILED for name in names):
            return
        real = self.subst(default, {**self.network_variables, **input_vars}, ("blocks", call.kind, "args", key), scope)
        if real is FAILED or (real == value and isinstance(real, bool) == isinstance(value, bool)):
            return
        shapes = ", ".join(fmt_shape(tuple(shape)) for shape in input_vars["input_shapes"])
        self.issue(
            call.args_loc + (key,),
            "input-mismatch",
            (
                f"block {call.kind}: {key}={value!r} disagrees with its input {shapes}, for which `{key}: {default}` "
                f"gives {real!r}; leave {key!r} out of the use (it is read from the input), or fix the layers before it"
            ),
            scope,
        )
        variables[key] = real  # the real input's value, so nothing inside cascades from the wrong one

    # -- references -----------------------------------------------------------------------

    def resolve_from(self, call: LayerCall, scope: _Scope, previous: list[Ref]) -> list[Ref]:
        if "from" not in call.present:
            return previous
        return self._resolve(call.from_, call.args_loc + ("from",), scope)

    def _resolve(self, raw: Any, loc: Loc, scope: _Scope) -> list[Ref]:
        """The tensors a `from` (or `else`) value names, in order."""
        value = self.subst(raw, scope.variables, loc, scope)
        if value is FAILED:
            raise _Broken
        names = value if isinstance(value, list) else [value]
        refs: list[Ref] = []
        broken = False
        for i, name in enumerate(names):
            where = loc + (i,) if isinstance(value, list) else loc
            if not isinstance(name, str) or not name:
                self.issue(
                    where, "bad-value", f"{loc[-1]!r} takes a layer name or a list of names, got {name!r}", scope
                )
                broken = True
                continue
            try:
                refs.extend(self.lookup(name, scope, where))
            except _Broken:
                broken = True
            if self.references + len(refs) > MAX_REFERENCES:  # `m.*` lists cannot multiply the work
                self.issue(
                    where,
                    "limit",
                    f"the layers' inputs add up to more than {MAX_REFERENCES:,} references (`from` lists)",
                )
                raise self.fail()
        if broken:
            raise _Broken
        return refs

    def lookup(self, dotted: str, scope: _Scope, loc: Loc) -> list[Ref]:
        """Resolve `name`, `name.0` (one output), `block_use.inner_name` or `name.*` (every
        copy of a repeated entry) in `scope`."""
        parts = dotted.split(".")
        if "*" in parts:
            return self._lookup_copies(dotted, parts, scope, loc)
        head = parts[0]
        if head == "input":
            found: Union[list[Ref], _Scope] = scope.inputs
        elif head in scope.names:
            found = scope.names[head]
        else:
            self._unknown_reference(dotted, head, scope, loc)
            raise _Broken
        return self._walk(found, parts[1:], dotted, scope, loc)

    def _lookup_copies(self, dotted: str, parts: list[str], scope: _Scope, loc: Loc) -> list[Ref]:
        """`name.*`: the outputs of every copy of `name` in order (`name.*.0`, `use.*.inner`:
        the rest of the reference applied to each copy); nothing when it was skipped."""
        star = parts.index("*")
        if star == 0 or parts.count("*") > 1 or parts[star - 1] == "input" or parts[star - 1].isdigit():
            self.issue(
                loc,
                "unknown-reference",
                (
                    f"{dotted!r}: `*` follows the name of a repeated layer or block use, once (`m.*`, `m.*.0`, `use.m.*`)"
                ),
                scope,
            )
            raise _Broken
        container = scope
        for part in parts[: star - 1]:
            inner = container.names.get(part)
            if not isinstance(inner, _Scope):
                self._unknown_reference(dotted, part, container, loc, scope)
                raise _Broken
            container = inner
        name = parts[star - 1]
        if name in container.copies:
            copies = container.copies[name]
        elif name in container.names:
            copies = [container.names[name]]  # an unnamed entry: one copy
        else:
            self._unknown_reference(dotted, name, container, loc, scope)
            raise _Broken
        refs: list[Ref] = []
        for found in copies:
            refs.extend(self._walk(found, parts[star + 1 :], dotted, scope, loc))
        return refs

    def _walk(
        self, found: Union[list[Ref], _Scope], parts: list[str], dotted: str, scope: _Scope, loc: Loc
    ) -> list[Ref]:
        """The rest of a dotted reference: inner names of block uses and output indices."""
        for part in parts:
            if isinstance(found, _Scope):
                if part in found.names:
                    found = found.names[part]
                    continue
                if not part.isdigit():
                    self._unknown_reference(dotted, part, found, loc, scope)
                    raise _Broken
                found = found.outputs
            if isinstance(found, list) and part.isdigit():
                index = int(part)
                tensors = found
                if index >= len(tensors):
                    self.issue(
                        loc,
                        "unknown-reference",
                        f"{dotted!r}: output {index} does not exist ({len(tensors)} output(s))",
                        scope,
                    )
                    raise _Broken
                found = [tensors[index]]
                continue
            self.issue(
                loc,
                "unknown-reference",
                f"{dotted!r}: {part!r} is not an output index or a layer inside a block",
                scope,
            )
            raise _Broken
        return found.outputs if isinstance(found, _Scope) else found

    def _unknown_reference(self, dotted: str, part: str, where: _Scope, loc: Loc, scope: _Scope | None = None) -> None:
        hint = did_you_mean(part, [*where.names, "input"])
        if part in where.later and part not in where.names:
            self.issue(
                loc,
                "forward-reference",
                f"{dotted!r} is defined further down; `from` may only name earlier layers, so the graph has no cycles",
                scope or where,
            )
            return
        inside = [
            f"{use}.{part}" for use, value in where.names.items() if isinstance(value, _Scope) and part in value.names
        ]
        if not hint:
            hint = (
                f"; to reach into a block use, write {inside[-1]!r}"
                if inside
                else "; a reference may name only layers defined earlier in the same network or block"
            )
        self.issue(loc, "unknown-reference", f"unknown layer {dotted!r}{hint}", scope or where)
