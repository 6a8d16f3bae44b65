"""The safe writer for generated Python: every piece of spec text that reaches the code
goes through one of these, so a spec cannot inject code.

- names: `Namespace` turns any spec name into a plain ASCII identifier that is not a
  keyword, a builtin or a name the generated file uses itself, one identifier per name;
- values: `literal` writes plain data as Python literals (`repr` for strings, including
  docstrings; `float('nan')` for a NaN); anything else is refused;
- expressions: `Translator` rebuilds an expression from the evaluator's own parse tree
  (`cnnshape.expr.parse`), node type by node type, names resolved as the evaluator
  resolves them; it never pastes the spec's text;
- the file: `check_module` parses the finished source before anyone writes or runs it.

Imports neither torch nor anything that does.
"""

from __future__ import annotations

import ast
import builtins
import keyword
import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Optional

from cnnshape.expr import FUNCTIONS, ExprError, _find_close, has_substitution, parse

# Names the generated file defines or uses at module level, and the helpers it may copy
# from cnnshape/bridge/runtime.py. Spec names never become any of these.
RUNTIME_NAMES = (
    "_Operand",
    "Add",
    "Mul",
    "Sub",
    "Div",
    "Maximum",
    "Minimum",
    "Abs",
    "Neg",
    "Pow",
    "Sqrt",
    "pad_same",
    "_axes",
    "_ConvSame",
    "Conv1dSame",
    "Conv2dSame",
    "Conv3dSame",
    "_PoolSame",
    "_MaxPoolSame",
    "MaxPool1dSame",
    "MaxPool2dSame",
    "MaxPool3dSame",
    "_AvgPoolSame",
    "AvgPool1dSame",
    "AvgPool2dSame",
    "AvgPool3dSame",
    "MatMul",
    "Concat",
    "Chunk",
    "Split",
    "Select",
    "Unbind",
    "Slice",
    "Reshape",
    "Permute",
    "ExpandAs",
    "ReshapeAs",
    "Mean",
    "Amax",
    "Sum",
    "TopK",
    "Gather",
    "GridSample",
    "ScaledDotProductAttention",
    "ShiftedWindowAttention",
    "ShiftedWindowAttentionV2",
    "RelativePositionalMultiHeadAttention",
    "PatchMergingPad",
    "ChannelShuffle",
    "ClassToken",
    "PositionEmbedding",
    "LayerScale",
    "RelativePositionBias",
    "FrozenBatchNorm2d",
    "StochasticDepth",
    "_div",
    "make_divisible",
)
FILE_NAMES = frozenset(
    {
        "torch",
        "nn",
        "math",
        "annotations",
        "build",
        "INPUT_SHAPE",
        "INPUT_SHAPES",
        "SPEC_NAME",
        "SPEC_FILE",
        "model",
        "out",
        "shapes",
        "self",
        "x",
        "i",
        "t",
        "p",
    }
)
RESERVED = (
    frozenset(keyword.kwlist)
    | frozenset(keyword.softkwlist)
    | frozenset(dir(builtins))
    | FILE_NAMES
    | frozenset(RUNTIME_NAMES)
)


class CodegenError(Exception):
    """Something that cannot be written safely (a value of an unexpected type)."""


class Unsupported(Exception):
    """This expression or value cannot be written symbolically; write the evaluated value."""


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def safe_identifier(text: str) -> str:
    """A plain ASCII identifier for any text: kept when it is one, else characters outside
    [A-Za-z0-9_] become `_xHH_`/`_uHHHH_`; never a leading digit or a leading `__`
    (which Python would mangle inside a class)."""
    if not _IDENT.fullmatch(text):
        parts = []
        for char in text:
            if re.fullmatch(r"[A-Za-z0-9_]", char):
                parts.append(char)
            elif ord(char) < 0x100:
                parts.append(f"_x{ord(char):02x}_")
            else:
                parts.append(f"_u{ord(char):04x}_")
        text = "".join(parts) or "_"
        if text[0].isdigit():
            text = "n" + text
    if text.startswith("__"):
        text = "v" + text
    return text


class Namespace:
    """Identifiers for one Python scope: each spec name gets one safe identifier, distinct
    from every reserved name and every identifier given out here or in `outer`."""

    def __init__(self, reserved: Iterable[str] = (), outer: Optional[Namespace] = None):
        self.reserved = set(RESERVED) | set(reserved)
        self.outer = outer
        self.names: dict[Any, str] = {}
        self.used: set[str] = set()

    def _free(self, ident: str) -> bool:
        scope: Optional[Namespace] = self
        while scope is not None:
            if ident in scope.reserved or ident in scope.used:
                return False
            scope = scope.outer
        return True

    def fresh(self, hint: str) -> str:
        """A new identifier like `hint`."""
        base = safe_identifier(hint)
        ident, n = base, 1
        while not self._free(ident):
            n += 1
            ident = safe_identifier(f"{base}_{n}")  # `_` + `_2` must not start with `__`
        self.used.add(ident)
        return ident

    def bind(self, key: Any, hint: Optional[str] = None) -> str:
        """The identifier for `key` (a spec name), made on first use."""
        if key not in self.names:
            self.names[key] = self.fresh(hint if hint is not None else str(key))
        return self.names[key]

    def reserve(self, ident: str) -> None:
        self.reserved.add(ident)


# --- values ------------------------------------------------------------------------------


def literal_node(value: Any, as_tuple: bool = True) -> ast.expr:
    """The AST of a plain value: None, bool, int, float (NaN and infinities too), str,
    lists (as tuples for layer arguments) and dicts of those."""
    if value is None or isinstance(value, (bool, int, str)):
        return ast.Constant(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ast.Call(ast.Name("float", ast.Load()), [ast.Constant("nan")], [])
        if math.isinf(value):
            node: ast.expr = ast.Call(ast.Name("float", ast.Load()), [ast.Constant("inf")], [])
            return ast.UnaryOp(ast.USub(), node) if value < 0 else node
        return ast.Constant(value)
    if isinstance(value, (list, tuple)):
        items = [literal_node(item, as_tuple) for item in value]
        return ast.Tuple(items, ast.Load()) if as_tuple else ast.List(items, ast.Load())
    if isinstance(value, dict):
        keys: list[Optional[ast.expr]] = [literal_node(key, as_tuple) for key in value]
        return ast.Dict(keys, [literal_node(item, as_tuple) for item in value.values()])
    raise CodegenError(f"cannot write a value of type {type(value).__name__} as Python")


def unparse(node: ast.expr) -> str:
    return ast.unparse(ast.fix_missing_locations(node))


def literal(value: Any, as_tuple: bool = True) -> str:
    """Python source for a plain value (see literal_node); strings are repr literals."""
    return unparse(literal_node(value, as_tuple))


def docstring(text: str, indent: str) -> str:
    """A docstring line: the text as one repr literal (never inside hand-made quotes)."""
    return indent + repr(str(text))


# --- expressions -------------------------------------------------------------------------

_WHOLE_NAME = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def whole_expression(value: str) -> Optional[tuple[str, Any]]:
    """("name", name) for a value that is exactly `$name`, ("expr", tree) for exactly
    `$(expr)`; None for text around or between substitutions (a string in the spec)."""
    match = _WHOLE_NAME.fullmatch(value)
    if match:
        return "name", match.group(1)
    if value.startswith("$(") and value.endswith(")"):
        try:
            if _find_close(value, 1) == len(value) - 1:
                return "expr", parse(value[2:-1])
        except ExprError:
            return None
    return None


# How the evaluator's functions are written: a builtin of the same behaviour, math's, or a
# runtime helper copied into the file.
_FUNCTION_CODE = {
    "min": ("builtin", "min"),
    "max": ("builtin", "max"),
    "abs": ("builtin", "abs"),
    "int": ("builtin", "int"),
    "float": ("builtin", "float"),
    "round": ("builtin", "round"),
    "ceil": ("math", "ceil"),
    "floor": ("math", "floor"),
    "gcd": ("math", "gcd"),
    "make_divisible": ("runtime", "make_divisible"),
}
_BINOPS = (ast.Add, ast.Sub, ast.Mult, ast.FloorDiv, ast.Mod, ast.Pow)
_CMPOPS = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE)


class Translator:
    """Rebuilds an evaluator parse tree as Python, node by node over the evaluator's own
    whitelist. `scope` maps each name the evaluator would find to its identifier in the
    generated code; names resolve as the evaluator resolves them (scope first, then
    true/false), so an arg named `true` stays the arg."""

    def __init__(
        self, scope: Mapping[str, str], needs: set[str], loop_var: Optional[str] = None, copy: Optional[int] = None
    ):
        self.scope, self.needs, self.loop_var, self.copy = scope, needs, loop_var, copy

    def name(self, name: str) -> ast.expr:
        if name == "repeat_index":
            return ast.Name(self.loop_var, ast.Load()) if self.loop_var is not None else ast.Constant(self.copy or 0)
        if name in self.scope:
            return ast.Name(self.scope[name], ast.Load())
        raise Unsupported(f"unknown name {name!r}")

    def visit(self, node: ast.AST) -> ast.expr:
        if isinstance(node, ast.Constant):
            if node.value is None or isinstance(node.value, (bool, int, float, str)):
                return literal_node(node.value)
        elif isinstance(node, ast.Name):
            if node.id in self.scope or node.id == "repeat_index":
                return self.name(node.id)
            if node.id in ("true", "True"):
                return ast.Constant(True)
            if node.id in ("false", "False"):
                return ast.Constant(False)
            raise Unsupported(f"unknown name {node.id!r}")
        elif isinstance(node, ast.BinOp):
            left, right = self.visit(node.left), self.visit(node.right)
            if isinstance(node.op, ast.Div):
                self.needs.add("_div")
                return ast.Call(ast.Name("_div", ast.Load()), [left, right], [])
            if isinstance(node.op, _BINOPS):
                return ast.BinOp(left, type(node.op)(), right)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub, ast.UAdd)):
            return ast.UnaryOp(type(node.op)(), self.visit(node.operand))
        elif isinstance(node, ast.BoolOp) and isinstance(node.op, (ast.And, ast.Or)):
            return ast.BoolOp(type(node.op)(), [self.visit(value) for value in node.values])
        elif isinstance(node, ast.Compare) and all(isinstance(op, _CMPOPS) for op in node.ops):
            return ast.Compare(
                self.visit(node.left), [type(op)() for op in node.ops], [self.visit(item) for item in node.comparators]
            )
        elif isinstance(node, ast.IfExp):
            return ast.IfExp(self.visit(node.test), self.visit(node.body), self.visit(node.orelse))
        elif isinstance(node, ast.Subscript):
            return ast.Subscript(self.visit(node.value), self.visit(node.slice), ast.Load())
        elif isinstance(node, (ast.List, ast.Tuple)):
            return ast.List([self.visit(item) for item in node.elts], ast.Load())  # the evaluator makes lists
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
            code = _FUNCTION_CODE.get(node.func.id)
            if code is not None and node.func.id in FUNCTIONS:
                where, name = code
                func: ast.expr
                if where == "math":
                    self.needs.add("math")
                    func = ast.Attribute(ast.Name("math", ast.Load()), name, ast.Load())
                else:
                    if where == "runtime":
                        self.needs.add(name)
                    func = ast.Name(name, ast.Load())
                return ast.Call(func, [self.visit(arg) for arg in node.args], [])
        raise Unsupported(f"{type(node).__name__} cannot be written as Python")


def translate(
    value: Any,
    scope: Mapping[str, str],
    needs: set[str],
    loop_var: Optional[str] = None,
    copy: Optional[int] = None,
    as_tuple: bool = True,
) -> str:
    """Python source for a spec value that may hold `$name` / `$(expr)` substitutions."""
    return unparse(translate_node(value, scope, needs, loop_var, copy, as_tuple))


def translate_node(
    value: Any,
    scope: Mapping[str, str],
    needs: set[str],
    loop_var: Optional[str] = None,
    copy: Optional[int] = None,
    as_tuple: bool = True,
) -> ast.expr:
    if isinstance(value, list):
        items = [translate_node(item, scope, needs, loop_var, copy, as_tuple) for item in value]
        return ast.Tuple(items, ast.Load()) if as_tuple else ast.List(items, ast.Load())
    if not has_substitution(value):
        return literal_node(value, as_tuple)
    whole = whole_expression(value)
    if whole is None:
        raise Unsupported(f"text with embedded substitutions: {value!r}")
    translator = Translator(scope, needs, loop_var, copy)
    kind, body = whole
    if kind == "name":
        return translator.name(body)
    return translator.visit(body)


# --- the file ----------------------------------------------------------------------------


def runtime_source(names: Iterable[str]) -> list[str]:
    """The source of the named classes and functions of cnnshape/bridge/runtime.py, in the
    module's order, read from its file (export never imports torch)."""
    path = Path(__file__).with_name("runtime.py")
    text = path.read_text(encoding="utf-8")
    defined = {
        node.name: node
        for node in ast.parse(text).body
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)) and node.name in RUNTIME_NAMES
    }
    # The named ones and the runtime names they use (a base class such as _Operand).
    wanted, pending = set(), [name for name in names if name in defined]
    while pending:
        name = pending.pop()
        if name not in wanted:
            wanted.add(name)
            pending += [
                used.id for used in ast.walk(defined[name]) if isinstance(used, ast.Name) and used.id in defined
            ]
    found = []
    for node in defined.values():
        if node.name in wanted:
            segment = ast.get_source_segment(text, node)
            assert segment is not None
            found.append(segment + "\n")
    return found


def check_module(text: str) -> str:
    """The generated source, once it parses as Python; else an internal error (a bug)."""
    try:
        ast.parse(text)
    except SyntaxError as exc:
        raise CodegenError(
            f"the generated code does not parse (a cnnshape bug): {exc.msg} at line {exc.lineno}"
        ) from None
    return text
