"""A spec as readable PyTorch code: one nn.Module class per block, submodules named as the
spec names them, forward() mirroring the graph. Writes text only; never imports torch.

The code is written from the spec's own block definitions, so a block's class takes the
block's args and evaluates the spec's `$(expressions)` in Python (`if:` becomes `if`, a
`repeat:` that depends on an arg becomes a loop). Sizes cnnshape infers (`in_channels`,
`in_features`, `num_features`, ...) are written as an expression of the block's args, or
of the block input's size (an `in_channels` constructor argument), once that expression is
checked against every use of the block in the spec. A block whose uses cannot share one
class (a size no expression explains, names that shift between uses) is written as one
specialised class per distinct use instead: always correct, less general.
"""

from __future__ import annotations

import ast
import keyword
import re
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Optional

from cnnshape.expr import ExprError, has_substitution, substitute
from cnnshape.graph import Graph, Node, Ref, _Builder
from cnnshape.report import Report
from cnnshape.spec import LayerCall, NetworkSpec, parse_layer_entry


class ExportError(Exception):
    """The spec uses something the exporter cannot write as PyTorch code; message for the user."""


class _Unsupported(Exception):
    """One class cannot serve every use of this block; write specialised classes instead."""


# --- the analysed spec, with what the graph does not keep --------------------------------


class Copy(NamedTuple):
    """One copy made by a layer entry: its local name and its node or block instance."""

    local: str
    node: Optional[int]
    block: Optional[int]


class _RecordingBuilder(_Builder):
    """graph.build, also recording which entry made each node and each block's arguments."""

    def __init__(self, spec: NetworkSpec, source: Any):
        super().__init__(spec, source)
        self.block_vars: dict[int, dict[str, Any]] = {}
        self.block_inputs: dict[int, list[Ref]] = {}
        self.entry_copies: dict[tuple, list[Copy]] = {}
        self.node_entry: dict[int, tuple] = {}
        self.block_entry: dict[int, tuple] = {}
        self._stack: list[tuple[tuple, list[Copy]]] = []

    def expand_call(self, call: LayerCall, scope: Any, previous: list[Ref]) -> list[Ref]:
        key = (scope.block, tuple(call.loc))
        copies: list[Copy] = []
        self._stack.append((key, copies))
        try:
            return super().expand_call(call, scope, previous)
        finally:
            self._stack.pop()
            self.entry_copies[key] = copies

    def add_layer(self, call: LayerCall, local: str, scope: Any, inputs: list[Ref], inputs_ok: bool = True) -> list[Ref]:
        refs = super().add_layer(call, local, scope, inputs, inputs_ok)
        key, copies = self._stack[-1]
        copies.append(Copy(local, refs[0].node, None))
        self.node_entry[refs[0].node] = key
        return refs

    def expand_block(self, call: LayerCall, local: str, scope: Any, inputs: list[Ref]) -> Any:
        index = len(self.blocks)
        key, copies = self._stack[-1]
        self.block_inputs[index] = list(inputs)
        result = super().expand_block(call, local, scope, inputs)
        if len(self.blocks) > index and self.blocks[index].name == scope.prefix + local:
            copies.append(Copy(local, None, index))
            self.block_entry[index] = key
        return result

    def _block_args(self, call: LayerCall, block: Any, scope: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        variables, origins = super()._block_args(call, block, scope)
        self.block_vars[len(self.blocks)] = variables
        return variables, origins


@dataclass
class Analysed:
    """Every stage of one analysis, plus the records export needs."""

    spec: NetworkSpec
    graph: Graph
    report: Report
    block_vars: dict[int, dict[str, Any]]
    block_inputs: dict[int, list[Ref]]
    entry_copies: dict[tuple, list[Copy]]
    node_entry: dict[int, tuple]
    block_entry: dict[int, tuple]
    shapes: dict[Ref, tuple[int, ...]] = field(default_factory=dict)

    def shape(self, ref: Ref) -> tuple[int, ...]:
        return self.shapes[ref]


def analyse_source(source: Any, overrides: Optional[dict[str, Any]] = None,
                   input_shape: Optional[tuple[int, ...]] = None) -> Analysed:
    """Analyse a spec as the pipeline does (raises SpecError with every problem)."""
    from cnnshape.analysis import analyze
    from cnnshape.dialects import settle
    from cnnshape.spec import parse_network

    source, overrides = settle(source, overrides)
    spec = parse_network(source)
    builder = _RecordingBuilder(spec, source)
    graph = builder.run(overrides or {}, input_shape)
    report = analyze(graph, source)
    rows = {row.name: row for row in report.rows if not row.is_block}
    shapes: dict[Ref, tuple[int, ...]] = {Ref(0): graph.input_shape}
    for node in graph.nodes[1:]:
        row = rows.get(node.name)
        if row is not None:
            for i, shape in enumerate(row.output_shapes):
                shapes[Ref(node.index, i)] = tuple(shape)
    return Analysed(spec, graph, report, builder.block_vars, builder.block_inputs, builder.entry_copies,
                    builder.node_entry, builder.block_entry, shapes)


def analyse_file(path: Any, overrides: Optional[dict[str, Any]] = None,
                 input_shape: Optional[tuple[int, ...]] = None) -> Analysed:
    from cnnshape.source import load_file

    return analyse_source(load_file(path), overrides, input_shape)


# --- how each kind is written -----------------------------------------------------------

# Kinds without a torch.nn class: small modules written into the exported file.
HELPERS: dict[str, str] = {
    "Add": '''
class Add(nn.Module):
    """cnnshape's Add: the elementwise sum of the inputs (broadcasting), e.g. a residual join."""

    def forward(self, *tensors):
        out = tensors[0]
        for tensor in tensors[1:]:
            out = out + tensor
        return out
''',
    "Mul": '''
class Mul(nn.Module):
    """cnnshape's Mul: the elementwise product of the inputs (broadcasting), e.g. an SE gate."""

    def forward(self, *tensors):
        out = tensors[0]
        for tensor in tensors[1:]:
            out = out * tensor
        return out
''',
    "Concat": '''
class Concat(nn.Module):
    """cnnshape's Concat: torch.cat along `dim` (default 1, the channels)."""

    def __init__(self, dim=1):
        super().__init__()
        self.dim = dim

    def forward(self, *tensors):
        return torch.cat(tensors, dim=self.dim)
''',
    "Chunk": '''
class Chunk(nn.Module):
    """cnnshape's Chunk: torch.chunk into `chunks` pieces along `dim` (default 1)."""

    def __init__(self, chunks, dim=1):
        super().__init__()
        self.chunks, self.dim = chunks, dim

    def forward(self, x):
        return torch.chunk(x, self.chunks, dim=self.dim)
''',
    "Split": '''
class Split(nn.Module):
    """cnnshape's Split: torch.split into pieces of the given sizes along `dim` (default 1)."""

    def __init__(self, split_size_or_sections, dim=1):
        super().__init__()
        self.sections, self.dim = list(split_size_or_sections), dim

    def forward(self, x):
        return torch.split(x, self.sections, dim=self.dim)
''',
    "Select": '''
class Select(nn.Module):
    """cnnshape's Select: x.select(dim, index), e.g. ViT's class token x[:, 0]."""

    def __init__(self, dim, index):
        super().__init__()
        self.dim, self.index = dim, index

    def forward(self, x):
        return x.select(self.dim, self.index)
''',
    "Reshape": '''
class Reshape(nn.Module):
    """cnnshape's Reshape: torch.reshape to `shape` (batch included)."""

    def __init__(self, shape):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x):
        return x.reshape(self.shape)
''',
    "Permute": '''
class Permute(nn.Module):
    """cnnshape's Permute: torch.permute, e.g. NCHW -> NHWC for a channels-last LayerNorm."""

    def __init__(self, dims):
        super().__init__()
        self.dims = tuple(dims)

    def forward(self, x):
        return x.permute(self.dims)
''',
    "Mean": '''
class Mean(nn.Module):
    """cnnshape's Mean: torch.mean over `dim`."""

    def __init__(self, dim, keepdim=False):
        super().__init__()
        self.dim, self.keepdim = dim, keepdim

    def forward(self, x):
        return x.mean(dim=self.dim, keepdim=self.keepdim)
''',
    "ChannelShuffle": '''
class ChannelShuffle(nn.Module):
    """cnnshape's ChannelShuffle: interleaves the channels of `groups` groups (ShuffleNet)."""

    def __init__(self, groups):
        super().__init__()
        self.groups = groups

    def forward(self, x):
        n, c = x.shape[:2]
        grouped = x.reshape(n, self.groups, c // self.groups, *x.shape[2:])
        return grouped.transpose(1, 2).reshape(x.shape)
''',
    "ClassToken": '''
class ClassToken(nn.Module):
    """cnnshape's ClassToken: prepends a learned token to a (N, L, E) sequence (ViT)."""

    def __init__(self, embed_dim):
        super().__init__()
        self.token = nn.Parameter(torch.zeros(1, 1, embed_dim))

    def forward(self, x):
        return torch.cat([self.token.expand(x.shape[0], -1, -1), x], dim=1)
''',
    "PositionEmbedding": '''
class PositionEmbedding(nn.Module):
    """cnnshape's PositionEmbedding: adds a learned (1, L, E) embedding (ViT)."""

    def __init__(self, length, embed_dim):
        super().__init__()
        self.embedding = nn.Parameter(torch.empty(1, length, embed_dim).normal_(std=0.02))

    def forward(self, x):
        return x + self.embedding
''',
    "LayerScale": '''
class LayerScale(nn.Module):
    """cnnshape's LayerScale: a learned scale per channel of `dim` (ConvNeXt)."""

    def __init__(self, channels, dim=1, init_value=1e-6):
        super().__init__()
        self.dim = dim
        self.scale = nn.Parameter(torch.full((channels,), float(init_value)))

    def forward(self, x):
        shape = [1] * x.dim()
        shape[self.dim] = -1
        return x * self.scale.view(shape)
''',
    "StochasticDepth": '''
class StochasticDepth(nn.Module):
    """torchvision.ops.StochasticDepth: drops whole residual branches while training."""

    def __init__(self, p, mode):
        super().__init__()
        self.p, self.mode = p, mode

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        survival = 1.0 - self.p
        size = [x.shape[0]] + [1] * (x.dim() - 1) if self.mode == "row" else [1] * x.dim()
        noise = torch.empty(size, dtype=x.dtype, device=x.device).bernoulli_(survival)
        if survival > 0.0:
            noise.div_(survival)
        return x * noise
''',
}

FUNCTION_HELPERS = {
    "_div": '''
def _div(a, b):
    """cnnshape's `/`: an int when two ints divide exactly, else a float."""
    if isinstance(a, int) and isinstance(b, int) and a % b == 0:
        return a // b
    return a / b
''',
    "make_divisible": '''
def make_divisible(value, divisor=8, min_value=None):
    """torchvision's _make_divisible: round to a multiple of `divisor`, never down by >10%."""
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return int(rounded)
''',
}

# Constructor arguments written positionally, in PyTorch's order (the rest by keyword).
_POSITIONAL = {
    "Conv": ("in_channels", "out_channels", "kernel_size"),
    "ConvTranspose": ("in_channels", "out_channels", "kernel_size"),
    "Linear": ("in_features", "out_features"),
    "BatchNorm": ("num_features",),
    "InstanceNorm": ("num_features",),
    "LayerNorm": ("normalized_shape",),
    "GroupNorm": ("num_groups", "num_channels"),
    "MultiheadAttention": ("embed_dim", "num_heads"),
    "TransformerEncoderLayer": ("d_model", "nhead"),
    "MaxPool": ("kernel_size",),
    "AvgPool": ("kernel_size",),
    "AdaptiveAvgPool": ("output_size",),
    "AdaptiveMaxPool": ("output_size",),
    "ClassToken": ("embed_dim",),
    "PositionEmbedding": ("length", "embed_dim"),
    "LayerScale": ("channels",),
}


def _family(kind: str) -> str:
    return re.sub(r"[123]d$", "", kind)


def _channel_dim(kind: str, rank: int) -> int:
    """The dim a convolution or instance norm reads its channels from (0 when unbatched)."""
    match = re.search(r"([123])d$", kind)
    spatial = int(match.group(1)) if match else 2
    return 0 if rank == spatial + 1 else 1


def inferred_sizes(node: Node, shapes: list[tuple[int, ...]]) -> list[tuple[str, int, int]]:
    """The constructor sizes PyTorch needs but the spec leaves to inference: (argument,
    input index, dim it is read from) for this layer with these input shapes."""
    kind, layer = node.kind, node.layer
    family = _family(kind)
    rank = len(shapes[0])
    given = layer.model_fields_set if layer is not None else set()
    wanted: list[tuple[str, int, int]] = []
    if family in ("Conv", "ConvTranspose"):
        wanted.append(("in_channels", 0, _channel_dim(kind, rank)))
    elif family == "Linear":
        wanted.append(("in_features", 0, -1))
    elif family == "BatchNorm":
        wanted.append(("num_features", 0, 1))
    elif family == "InstanceNorm":
        wanted.append(("num_features", 0, _channel_dim(kind, rank)))
    elif family == "GroupNorm":
        wanted.append(("num_channels", 0, 1))
    elif family == "LayerNorm":
        wanted.append(("normalized_shape", 0, -1))
    elif family == "MultiheadAttention" or family == "ClassToken":
        wanted.append(("embed_dim", 0, -1))
    elif family == "PositionEmbedding":
        wanted += [("length", 0, 1), ("embed_dim", 0, -1)]
    elif family == "LayerScale":
        wanted.append(("channels", 0, layer.dim))
    return [item for item in wanted if item[0] not in given or item[0] in ("channels", "length")]


# Names that must not become nn.Module attributes (they would shadow its methods).
_MODULE_ATTRS = {
    "training", "forward", "train", "eval", "parameters", "buffers", "children", "modules", "named_modules",
    "named_parameters", "named_buffers", "named_children", "add_module", "register_module", "register_buffer",
    "register_parameter", "state_dict", "load_state_dict", "apply", "to", "cpu", "cuda", "float", "double",
    "half", "bfloat16", "type", "zero_grad", "requires_grad_", "get_submodule", "get_parameter", "get_buffer",
    "extra_repr", "dump_patches", "call_super_init", "share_memory", "xpu", "ipu", "mtia", "compile",
}


def attr_name(local: str) -> str:
    """The attribute a spec-local name becomes: the same, unless it would shadow nn.Module."""
    return local + "_" if local in _MODULE_ATTRS or keyword.iskeyword(local) else local


def module_path(qualified: str) -> str:
    """The torch submodule path of a spec's qualified layer name (`layer1.down_conv`)."""
    return ".".join(attr_name(part) for part in qualified.split("."))


def _camel(name: str) -> str:
    words = re.split(r"[^A-Za-z0-9]+", name)
    text = "".join(word[:1].upper() + word[1:] for word in words if word)
    if not text or not text[0].isalpha():
        text = "Net" + text
    return text


def _literal(value: Any, as_tuple: bool = True) -> str:
    """Python source for a plain value (lists as tuples for layer arguments)."""
    if isinstance(value, (list, tuple)):
        items = [_literal(item, as_tuple) for item in value]
        if as_tuple:
            return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
        return "[" + ", ".join(items) + "]"
    return repr(value)


# --- expressions ---------------------------------------------------------------------------


class _Translator(ast.NodeTransformer):
    """A cnnshape expression as the same expression in Python."""

    def __init__(self, loop_var: Optional[str], copy: Optional[int], needs: set[str]):
        self.loop_var, self.copy, self.needs = loop_var, copy, needs

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id in ("true", "True"):
            return ast.Constant(True)
        if node.id in ("false", "False"):
            return ast.Constant(False)
        if node.id == "repeat_index":
            if self.loop_var is not None:
                return ast.Name(self.loop_var, ast.Load())
            return ast.Constant(self.copy or 0)
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, ast.Div):
            self.needs.add("_div")
            return ast.Call(ast.Name("_div", ast.Load()), [node.left, node.right], [])
        return node

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id in ("ceil", "floor"):
            self.needs.add("math")
            node.func = ast.Attribute(ast.Name("math", ast.Load()), node.func.id, ast.Load())
        elif isinstance(node.func, ast.Name) and node.func.id == "make_divisible":
            self.needs.add("make_divisible")
        return node


_WHOLE_NAME = re.compile(r"^\$([A-Za-z_][A-Za-z0-9_]*)$")


def translate(value: Any, needs: set[str], loop_var: Optional[str] = None, copy: Optional[int] = None,
              as_tuple: bool = True) -> str:
    """Python source for a spec value that may hold `$name` / `$(expr)` substitutions."""
    if isinstance(value, list):
        items = [translate(item, needs, loop_var, copy, as_tuple) for item in value]
        if as_tuple:
            return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
        return "[" + ", ".join(items) + "]"
    if not has_substitution(value):
        return _literal(value, as_tuple)
    text = value.strip()
    match = _WHOLE_NAME.match(text)
    if match:
        expr = match.group(1)
    elif text.startswith("$(") and text.endswith(")") and "$" not in text[2:]:
        expr = text[2:-1]
    else:
        raise _Unsupported(f"text with embedded substitutions: {value!r}")
    tree = ast.parse(expr.strip(), mode="eval")
    tree = _Translator(loop_var, copy, needs).visit(tree)
    return ast.unparse(ast.fix_missing_locations(tree))


# --- one class ----------------------------------------------------------------------------


@dataclass
class ClassInfo:
    """A written class: what its users must pass."""

    name: str
    symbolic: bool  # takes the block's args (else: a specialised class without args)
    in_params: list[tuple[str, int, int]] = field(default_factory=list)  # (param, block input, dim)
    args: list[str] = field(default_factory=list)
    n_inputs: int = 1
    n_outputs: int = 1


@dataclass
class _Binding:
    """What a spec name means in forward(): Python variables, one per tensor."""

    names: list[str]
    partial: bool = False  # stands for tensors of different counts in different uses
    block_use: bool = False


RESERVED_VARS = {"self", "x", "torch", "nn", "math", "range", "getattr", "super", "None", "True", "False", "i"}

# Argument fields whose values are sizes: tried first when explaining an inferred size.
_SIZE_FIELDS = ("out_channels", "out_features", "embed_dim", "d_model", "num_features", "num_channels")


def _times(value: Any, factor: int) -> Any:
    return value * factor if isinstance(value, int) and not isinstance(value, bool) else None


def _floordiv(value: Any, divisor: int) -> Any:
    return value // divisor if isinstance(value, int) and not isinstance(value, bool) else None


def _plus_times(base: Any, copy: int, step: Any) -> Any:
    ok = all(isinstance(v, int) and not isinstance(v, bool) for v in (base, step))
    return base + copy * step if ok else None


class _ClassWriter:
    """Writes one class for a block kind (or the network) from its definition."""

    def __init__(self, exporter: _Exporter, kind: Optional[str], instances: list[Optional[int]], symbolic: bool,
                 class_name: str):
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
            self.n_inputs = 1
        else:
            block = spec.blocks[kind]
            self.entries = block.layers
            self.base = ("blocks", kind, "layers")
            self.variables = [self.a.block_vars[i] for i in instances]
            self.block_args = dict(block.args)
            counts = {len(self.a.block_inputs[i]) for i in instances}
            if len(counts) != 1:
                raise _Unsupported("uses with different numbers of inputs")
            self.n_inputs = counts.pop()
            if symbolic and any(name in RESERVED_VARS or name in exporter.globals_taken for name in self.block_args):
                raise _Unsupported("an argument named like a name the generated code needs")
        self.needs = exporter.needs
        self.init: list[str] = []
        self.fwd: list[str] = []
        self.attrs: set[str] = set()
        self.vars: set[str] = set(RESERVED_VARS)
        self.env: dict[str, _Binding] = {}
        self.training_vars: set[str] = set()
        self.flags: dict[str, str] = {}  # condition -> the attribute holding it
        self._open_if: Optional[tuple] = None  # (flag, init length, forward length, `else:` index)
        self.shifts: list[tuple[str, str, Any, int]] = []  # unnamed conditional entries: (stem, flag, if, copies)
        self.in_params: list[tuple[str, int, int]] = []
        self.input_vars = ["x"] if self.n_inputs == 1 else [f"x_{j}" for j in range(self.n_inputs)]
        self.vars.update(self.input_vars)

    # -- names -------------------------------------------------------------------------

    def _var(self, name: str) -> str:
        base = name + "_" if keyword.iskeyword(name) or name in RESERVED_VARS else name
        candidate, n = base, 1
        while candidate in self.vars:
            n += 1
            candidate = f"{base}_v{n}"
        self.vars.add(candidate)
        return candidate

    def _attr(self, local: str) -> str:
        name = attr_name(local)
        if name in self.attrs:
            raise ExportError(f"two submodules would both be called {name!r}")
        self.attrs.add(name)
        return name

    def _flag(self, hint: str) -> str:
        name = hint if hint.isidentifier() and hint not in _MODULE_ATTRS and not keyword.iskeyword(hint) else "use_flag"
        while name in self.attrs:
            name = "use_" + name
        self.attrs.add(name)
        return name

    # -- values --------------------------------------------------------------------------

    def _eval(self, raw: Any, position: int, copy: int = 0) -> Any:
        return substitute(raw, {**self.variables[position], "repeat_index": copy})

    def _value(self, raw: Any, position: int, copy: int, loop_var: Optional[str], as_tuple: bool = True) -> str:
        if self.symbolic and has_substitution(raw):
            return translate(raw, self.needs, loop_var, copy, as_tuple)
        return _literal(self._eval(raw, position, copy) if has_substitution(raw) else raw, as_tuple)

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
            raise _Unsupported("a size that differs between copies")
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
                candidates.append((translate(raw, set(), loop_var), evaluator(raw), raw))
        for name in self.block_args:
            candidates.append((name, evaluator(f"${name}"), f"${name}"))
        if not self.root:
            for j in range(self.n_inputs):
                for dim in (1, -1):
                    def input_size(position: int, copy: int, j: int = j, dim: int = dim) -> Any:
                        shape = self.a.shape(self.a.block_inputs[self.instances[position]][j])
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
            translate(raw, self.needs, loop_var)  # records the helpers it needs
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
        raise _Unsupported("no expression explains an inferred size")

    def _param_name(self, j: int, dim: int) -> str:
        for name, jj, dd in self.in_params:
            if (jj, dd) == (j, dim):
                return name
        base = {1: "in_channels", -1: "in_features"}.get(dim, f"in_dim{dim}")
        name = base if j == 0 else f"{base}_{j}"
        while name in self.block_args or name in RESERVED_VARS or name in self.ex.globals_taken:
            name = "input_" + name
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
                while a.graph.blocks[owner].parent != instance:
                    owner = a.graph.blocks[owner].parent
                inputs = a.block_inputs.get(owner) or []
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
        head = parts[0]
        if head == "input":
            binding = _Binding(list(self.input_vars))
        elif head in self.env:
            binding = self.env[head]
        else:
            raise _Unsupported(f"a reference to {ref!r}, a copy inside a loop")
        rest = parts[1:]
        if rest and rest[0].isdigit():
            index = int(rest[0])
            if index >= len(binding.names):
                raise _Unsupported(f"{ref!r} is missing in some uses")
            binding = _Binding([binding.names[index]])
            rest = rest[1:]
        if rest:
            raise ExportError(f"`{ref}` reaches inside a block use; export writes a block as a class whose "
                              "forward returns only the block's outputs, so name it in the block's `outputs`")
        if binding.partial:
            raise _Unsupported(f"{ref!r} stands for different tensors in different uses")
        return binding

    def _inputs(self, call: LayerCall, previous: _Binding) -> _Binding:
        if "from" not in call.present:
            if previous.partial:
                raise _Unsupported("the entry above stands for different tensors in different uses")
            return previous
        values = [self._eval(call.from_, p) if has_substitution(call.from_) else call.from_ for p in range(len(self.instances))]
        if any(value != values[0] for value in values):
            raise _Unsupported("`from` differs between uses")
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
            previous = self._entry(call, loc, previous)
        outputs_raw = self.a.spec.outputs if self.root else self.a.spec.blocks[self.kind].outputs
        if outputs_raw:
            result: list[str] = []
            for name in outputs_raw:
                result += self._resolve(name).names
        else:
            if previous.partial:
                raise _Unsupported("the last entry stands for different tensors in different uses")
            result = previous.names
        self.outputs = result
        return ClassInfo(self.class_name, self.symbolic, list(self.in_params), list(self.block_args),
                         self.n_inputs, len(result))

    def _entry(self, call: LayerCall, loc: tuple, previous: _Binding) -> _Binding:
        a = self.a
        copies = [a.entry_copies.get((inst, tuple(loc)), []) for inst in self.instances]
        counts = [len(c) for c in copies]
        is_block = call.kind in a.spec.blocks
        inputs = self._inputs(call, previous)
        loop = self.symbolic and has_substitution(call.repeat)
        conditional = self.symbolic and has_substitution(call.if_)
        if not loop and len({c for c in counts if c}) > 1:
            raise _Unsupported("a repeat count that differs between uses")
        if not any(counts):
            # Off (or repeated 0 times) in every use: the name stands for its inputs.
            if call.name is not None and not has_substitution(call.name):
                self.env[call.name] = _Binding(list(inputs.names), inputs.partial)
            return _Binding(list(inputs.names), inputs.partial)
        training = call.training_only is True or any(v in self.training_vars for v in inputs.names)
        if has_substitution(call.training_only):
            raise _Unsupported("`training_only` given by an expression")
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
            self.fwd.append(f"{', '.join(outs)} = {self._call(call, target, current.names)}")
            produced.append((local, outs))
            current = _Binding(outs)
        outputs = current
        if conditional or training:
            init_lines, fwd_lines = self.init[init_start:], self.fwd[fwd_start:]
            del self.init[init_start:], self.fwd[fwd_start:]
            if conditional:
                cond = translate(call.if_, self.needs)
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
                stand = inputs.names
                partial = len(stand) != len(outputs.names)
                for var, source in zip(outputs.names, stand):
                    self.fwd.append(f"    {var} = {source}")
                if len(stand) < len(outputs.names):
                    outputs = _Binding(outputs.names[:len(stand)], partial=True)
                elif partial:
                    outputs = _Binding(outputs.names, partial=True)
                self._open_if = (flag, len(self.init), len(self.fwd), else_at)
                if training:
                    raise _Unsupported("a training-only layer with `if`")
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
            raise _Unsupported("layer names that differ between uses")
        bases = set()
        for p, name in zip(present, names):
            match = re.fullmatch(rf"{re.escape(stem)}_(\d+)", name)
            if not match:
                raise _Unsupported("layer names that differ between uses")
            on = sum(weight * bool(self._eval(raw, p)) for _, raw, weight in shifts)
            bases.add(int(match.group(1)) - on)
        if len(bases) != 1:
            raise _Unsupported("layer names that differ between uses")
        terms = " + ".join([str(bases.pop())] + [f"{weight} * self.{flag}" if weight != 1 else f"self.{flag}"
                                                 for flag, _, weight in shifts])
        return f'f"{stem}_{{{terms}}}"'

    def _loop(self, call: LayerCall, copies: list[list[Copy]], inputs: _Binding, is_block: bool,
              training: bool) -> _Binding:
        if training or len(inputs.names) != 1:
            raise _Unsupported("a repeat loop over a multi-input or training-only layer")
        pattern: Optional[str] = None
        for instance_copies in copies:
            locals_ = [c.local for c in instance_copies]
            if not locals_:
                continue
            if call.name is not None:
                if len(locals_) == 1:
                    raise _Unsupported("a named repeat of one copy (its name loses the _1)")
                this = f'f"{call.name}_{{i + 1}}"'
                if locals_ != [f"{call.name}_{k + 1}" for k in range(len(locals_))]:
                    raise _Unsupported("unexpected copy names")
            else:
                stem = call.kind.lower()
                match = re.fullmatch(rf"{re.escape(stem)}_(\d+)", locals_[0])
                if not match:
                    raise _Unsupported("unexpected copy names")
                start = int(match.group(1))
                if locals_ != [f"{stem}_{start + k}" for k in range(len(locals_))]:
                    raise _Unsupported("copy names that are not consecutive")
                this = f'f"{stem}_{{i + {start}}}"' if start else f'f"{stem}_{{i}}"'
            if pattern is not None and pattern != this:
                raise _Unsupported("copy names that differ between uses")
            pattern = this
        assert pattern is not None
        base = call.name or call.kind.lower()
        count = translate(call.repeat, self.needs)
        if self.symbolic and has_substitution(call.if_):
            count = f"({count}) if ({translate(call.if_, self.needs)}) else 0"
        counter = self._flag(f"num_{base}")
        present = [p for p, c in enumerate(copies) if c]
        # Every copy must have the same constructor; `i` stands for the copy index.
        ctor, n_out = self._ctor(call, copies, None, present, is_block, "i")
        if n_out != 1:
            raise _Unsupported("a repeat loop over a multi-output layer")
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
        """(instance position, copy index, copy) for copy k, or for every copy of a loop."""
        out = []
        for p in present:
            for index, copy in enumerate(copies[p]):
                if k is None or index == k:
                    out.append((p, index, copy))
        return out

    def _ctor(self, call: LayerCall, copies: list[list[Copy]], k: Optional[int], present: list[int], is_block: bool,
              loop_var: Optional[str]) -> tuple[str, int]:
        a = self.a
        wants = self._wants(copies, k, present)
        p0, c0, first = wants[0]
        copy_index = c0 if k is not None else None
        if is_block:
            infos = {id(self.ex.class_of_instance[copy.block]) for _, _, copy in wants}
            if len(infos) != 1:
                raise _Unsupported(f"uses of {call.kind} that need different classes")
            info = self.ex.class_of_instance[first.block]
            arguments: list[str] = []
            if info.symbolic:
                for name, j, dim in info.in_params:
                    sizes = [(p, c, a.shape(a.block_inputs[copy.block][j])[dim]) for p, c, copy in wants]
                    chain = self._chain(a.block_inputs[first.block][j], p0)
                    arguments.append(f"{name}={self._size(sizes, chain, loop_var)}")
                for key, raw in call.args.items():
                    if self.symbolic:
                        arguments.append(f"{key}={self._value(raw, p0, c0, loop_var, as_tuple=False)}")
                    else:
                        arguments.append(f"{key}={_literal(a.block_vars[first.block][key], as_tuple=False)}")
            return f"{info.name}({', '.join(arguments)})", info.n_outputs
        node = a.graph.nodes[first.node]
        layer = node.layer
        in_shapes = [a.shape(ref) for ref in node.inputs]
        values: dict[str, str] = {}
        for key, raw in call.args.items():
            if loop_var is None and self.symbolic:
                values[key] = self._value(raw, p0, c0 if copy_index is not None else 0, None)
            elif loop_var is not None:
                values[key] = self._value(raw, p0, 0, loop_var)
            else:
                values[key] = _literal(getattr(layer, key))
        for name, j, dim in inferred_sizes(node, in_shapes):
            sizes = []
            for p, c, copy in wants:
                other = a.graph.nodes[copy.node]
                sizes.append((p, c, a.shape(other.inputs[j])[dim]))
            chain = self._chain(node.inputs[j], p0)
            values[name] = self._size(sizes, chain, loop_var)
        if call.kind == "LayerScale":
            values = {key: values[key] for key in ("channels", "dim", "init_value") if key in values}
        return self._torch_ctor(call.kind, values), layer.num_outputs()

    def _torch_ctor(self, kind: str, values: dict[str, str]) -> str:
        if kind in HELPERS:
            self.ex.helpers.add(kind)
            name = kind
        else:
            name = f"nn.{kind}"
        positional = _POSITIONAL.get(_family(kind), ())
        # Positional only while the leading arguments are all present.
        parts = []
        for key in positional:
            if key not in values:
                break
            parts.append(values[key])
        used = set(positional[:len(parts)])
        parts += [f"{key}={value}" for key, value in values.items() if key not in used]
        return f"{name}({', '.join(parts)})"

    def _call(self, call: LayerCall, target: str, inputs: list[str]) -> str:
        if call.kind == "MultiheadAttention":
            query, key, value = (inputs * 3)[:3] if len(inputs) == 1 else inputs
            return f"{target}({query}, {key}, {value}, need_weights=False)[0]"
        return f"{target}({', '.join(inputs)})"

    # -- the class text ---------------------------------------------------------------------

    def text(self, description: str = "", note: str = "") -> str:
        lines = [f"class {self.class_name}(nn.Module):"]
        doc = description or (f"The network {self.a.spec.name!r}." if self.root else f"cnnshape block {self.kind}.")
        if note:
            doc = f"{doc}\n\n    {note}"
        lines.append(f'    """{doc}"""')
        lines.append("")
        params = ["self"] + [f"{name}: int" for name, _, _ in self.in_params]
        computed: list[str] = []
        if self.symbolic and not self.root:
            for name, default in self.block_args.items():
                if has_substitution(default):
                    params.append(f"{name}=None")
                    computed.append(f"if {name} is None:")
                    computed.append(f"    {name} = {translate(default, self.needs, as_tuple=False)}")
                else:
                    params.append(f"{name}={_literal(default, as_tuple=False)}")
        lines.append(f"    def __init__({', '.join(params)}):")
        lines.append("        super().__init__()")
        lines += ["        " + line for line in computed + self.init]
        lines.append("")
        lines.append(f"    def forward(self, {', '.join(self.input_vars)}):")
        lines += ["        " + line for line in self.fwd]
        lines.append(f"        return {', '.join(self.outputs)}")
        return "\n".join(lines) + "\n"


# --- the file ------------------------------------------------------------------------------


class _Exporter:
    def __init__(self, analysed: Analysed):
        self.a = analysed
        self.helpers: set[str] = set()
        self.needs: set[str] = set()
        self.classes: list[str] = []
        self.class_of_instance: dict[int, ClassInfo] = {}
        self.done: set[str] = set()
        self.taken: set[str] = set(HELPERS) | set(FUNCTION_HELPERS) | {"build", "torch", "nn", "math", "INPUT_SHAPE"}
        self.globals_taken: set[str] = self.taken | set(analysed.spec.blocks)

    def _class_name(self, wanted: str) -> str:
        name, n = wanted, 1
        while name in self.taken:
            n += 1
            name = f"{wanted}_{n}"
        self.taken.add(name)
        return name

    def ensure(self, kind: str) -> None:
        """Write the class(es) of a block kind, after the classes it uses."""
        if kind in self.done:
            return
        self.done.add(kind)
        spec = self.a.spec
        for raw in spec.blocks[kind].layers:
            call = parse_layer_entry(raw, ())
            if isinstance(call, LayerCall) and call.kind in spec.blocks:
                self.ensure(call.kind)
        instances = [b.index for b in self.a.graph.blocks if b.kind == kind]
        if not instances:
            return
        description = spec.blocks[kind].description or ""
        helpers, needs = set(self.helpers), set(self.needs)
        try:
            writer = _ClassWriter(self, kind, instances, True, kind)
            info = writer.write()
            self.taken.add(kind)
            self.classes.append(writer.text(description))
            for index in instances:
                self.class_of_instance[index] = info
            return
        except _Unsupported as exc:
            self.helpers, self.needs = helpers, needs
            reason = str(exc)
        # Specialised classes: one per distinct use, identical ones shared.
        by_text: dict[str, ClassInfo] = {}
        for index in instances:
            writer = _ClassWriter(self, kind, [index], False, "__NAME__")
            info = writer.write()
            args = ", ".join(f"{key}={value!r}" for key, value in self.a.block_vars[index].items()
                             if key in spec.blocks[kind].args)
            body = writer.text(description, note=f"Specialised for {args} (one class cannot serve every use: {reason}).")
            if body not in by_text:
                name = self._class_name(kind)
                info.name = name
                by_text[body] = info
                self.classes.append(body.replace("__NAME__", name, 1))
            self.class_of_instance[index] = by_text[body]

    def write(self) -> str:
        a = self.a
        for raw in a.spec.layers:
            call = parse_layer_entry(raw, ())
            if isinstance(call, LayerCall) and call.kind in a.spec.blocks:
                self.ensure(call.kind)
        for name in a.graph.args:
            if name in self.globals_taken or keyword.iskeyword(name):
                raise ExportError(f"the spec's arg {name!r} has the name of something the generated code defines")
        root_name = self._class_name(_camel(a.spec.name))
        helpers, needs = set(self.helpers), set(self.needs)
        try:
            writer = _ClassWriter(self, None, [None], True, root_name)
            writer.write()
        except _Unsupported:
            self.helpers, self.needs = helpers, needs
            writer = _ClassWriter(self, None, [None], False, root_name)
            writer.write()
        root = writer.text(a.spec.description or "")
        parts = [self._header(root_name)]
        parts += [HELPERS[name].strip("\n") + "\n" for name in HELPERS if name in self.helpers]
        parts += [FUNCTION_HELPERS[name].strip("\n") + "\n" for name in FUNCTION_HELPERS if name in self.needs]
        parts += self.classes
        parts.append(root)
        parts.append(self._footer(root_name))
        return "\n\n".join(part.rstrip("\n") + "\n" for part in parts)

    def _header(self, root_name: str) -> str:
        a = self.a
        lines = [
            f'"""{a.spec.name}: PyTorch code written by `cnnshape export` from {a.report.file}.',
            "",
            f"build() returns the model for the spec's input {list(a.graph.input_shape)}. The submodules are",
            "named as the spec names its layers, so `cnnshape verify` can compare them one by one.",
            '"""',
            "",
        ]
        if "math" in self.needs:
            lines.append("import math")
            lines.append("")
        lines += ["import torch", "from torch import nn", ""]
        lines.append(f"INPUT_SHAPE = {tuple(a.graph.input_shape)!r}")
        if a.graph.args:
            lines.append("")
            lines.append("# The spec's args, as analysed (with any --set applied); the classes read them.")
            for name, value in a.graph.args.items():
                lines.append(f"{name} = {_literal(value, as_tuple=False)}")
        return "\n".join(lines) + "\n"

    def _footer(self, root_name: str) -> str:
        return (
            "def build():\n"
            f'    """The network for an input of shape INPUT_SHAPE."""\n'
            f"    return {root_name}()\n"
            "\n"
            "\n"
            'if __name__ == "__main__":\n'
            "    model = build().eval()\n"
            "    with torch.no_grad():\n"
            "        out = model(torch.zeros(INPUT_SHAPE))\n"
            "    shapes = [tuple(t.shape) for t in (out if isinstance(out, tuple) else (out,)) if t is not None]\n"
            '    print("output", *shapes, "parameters", sum(p.numel() for p in model.parameters()))\n'
        )


def export_analysed(analysed: Analysed) -> str:
    """The PyTorch source for an analysed spec."""
    return _Exporter(analysed).write()


def export_file(path: Any, overrides: Optional[dict[str, Any]] = None,
                input_shape: Optional[tuple[int, ...]] = None) -> str:
    """The PyTorch source for a spec file (raises SpecError, ExportError)."""
    return export_analysed(analyse_file(path, overrides, input_shape))
