"""Safe evaluation of `$name` and `$(expr)` substitutions in spec values.

Expressions are parsed with `ast` and walked over a small whitelist of node types: integer
and float arithmetic, comparisons, and/or/not, `a if c else b`, list literals and a few
pure functions. Nothing is ever passed to eval() or exec(), and results are bounded so a
hostile spec cannot make a number with a billion digits.
"""

from __future__ import annotations

import ast
import functools
import math
import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

MAX_EXPR_CHARS = 400
MAX_INT = 2**63 - 1
MAX_EXPONENT = 128
MAX_STRING = 10_000
MAX_STEPS = 200_000  # evaluation steps in one expression: comprehensions cannot multiply the work

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class ExprError(Exception):
    """A substitution that cannot be evaluated; the message is for the user."""


def _div(a: Any, b: Any) -> Any:
    if b == 0:
        raise ExprError("division by zero")
    if isinstance(a, int) and isinstance(b, int) and a % b == 0:
        return a // b
    return a / b


def _floordiv(a: Any, b: Any) -> Any:
    if b == 0:
        raise ExprError("division by zero")
    return a // b


def _mod(a: Any, b: Any) -> Any:
    if b == 0:
        raise ExprError("modulo by zero")
    return a % b


def _pow(a: Any, b: Any) -> Any:
    if abs(b) > MAX_EXPONENT:
        raise ExprError(f"exponent {b} is larger than {MAX_EXPONENT}")
    if a == 0 and b < 0:
        raise ExprError("0 cannot be raised to a negative power (division by zero)")
    if a < 0 and b != int(b):
        raise ExprError(f"{a} ** {b} is not a real number; expressions give real numbers only")
    return a**b


_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: _div,
    ast.FloorDiv: _floordiv,
    ast.Mod: _mod,
    ast.Pow: _pow,
}
_CMPOPS: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}


def _round(x: Any, ndigits: Any = None) -> Any:
    return round(x) if ndigits is None else round(x, ndigits)


def make_divisible(value: Any, divisor: Any = 8, min_value: Any = None) -> int:
    """torchvision's _make_divisible: round to a multiple of `divisor`, never down by >10%."""
    if divisor <= 0:
        raise ExprError("make_divisible needs a positive divisor")
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return int(rounded)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "min": min,
    "max": max,
    "abs": abs,
    "int": int,
    "float": float,
    "round": _round,
    "ceil": math.ceil,
    "floor": math.floor,
    "make_divisible": make_divisible,
    "gcd": lambda a, b: math.gcd(_integer(a), _integer(b)),
    "log": lambda x, base=math.e: _log(x, base),
    "sqrt": lambda x: math.sqrt(_positive(x, "sqrt", zero=True)),
    "len": lambda items: len(_sized(items)),
    "sum": lambda items: _check(sum(_number(item) for item in _items(items))),
    "range": lambda *args: _range(*args),
}


def _positive(value: Any, name: str, zero: bool = False) -> Any:
    value = _number(value)
    if value < 0 or (value == 0 and not zero):
        raise ExprError(f"{name} needs a {'non-negative' if zero else 'positive'} number, got {value!r}")
    return value


def _log(value: Any, base: Any) -> float:
    """Natural log, or log to `base` (RegNet's width rule: log(w / w_0) / log(w_m))."""
    if _positive(base, "log's base") == 1:
        raise ExprError("log's base must not be 1")
    return math.log(_positive(value, "log"), base)


def _sized(value: Any) -> Any:
    if not isinstance(value, (list, str)):
        raise ExprError(f"len takes a list or text, got {value!r}")
    return value


def _items(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise ExprError(f"expected a list, got {value!r}")
    return value


def _range(*args: Any) -> list[int]:
    """Python's range as a list, at most MAX_STRING items."""
    if not 1 <= len(args) <= 3:
        raise ExprError("range takes 1 to 3 integers")
    numbers = [_integer(arg) for arg in args]
    if len(numbers) == 3 and numbers[2] == 0:
        raise ExprError("range's step must not be 0")
    span = range(*numbers)
    if len(span) > MAX_STRING:
        raise ExprError(f"range has more than {MAX_STRING:,} items")
    return list(span)


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ExprError(f"expected an integer, got {value!r}")
    return value


def _number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ExprError(f"expected a number, got {value!r}")
    return value


def _check(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
        raise ExprError("integer result is out of range (more than 63 bits)")
    if isinstance(value, float) and not math.isfinite(value):
        raise ExprError("result is not a finite number")
    if isinstance(value, complex):
        raise ExprError("result is a complex number; expressions give real numbers only")
    if isinstance(value, (str, list)) and len(value) > MAX_STRING:
        raise ExprError(f"result is longer than {MAX_STRING:,} characters or items")
    return value


def parse(text: str) -> ast.expr:
    """The parse tree of one expression (the inside of `$( )`), as the evaluator walks it;
    the exporter translates this same tree into Python."""
    if len(text) > MAX_EXPR_CHARS:
        raise ExprError(f"expression is longer than {MAX_EXPR_CHARS} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise ExprError(f"cannot parse expression {text!r}: {exc.msg}") from None
    except (ValueError, RecursionError, MemoryError):
        raise ExprError(f"cannot parse expression {text!r}") from None
    _check_names(text.strip(), tree)
    return tree


@functools.lru_cache(maxsize=1024)
def _parsed(text: str) -> ast.expr:
    """parse(), once per distinct text: a block's expressions are evaluated again at each of
    its uses (and each copy of a `repeat`), and the evaluator only reads the tree."""
    return parse(text)


def evaluate(text: str, scope: Mapping[str, Any]) -> Any:
    """Evaluate one expression (the inside of `$( )`) against `scope`."""
    tree = _parsed(text)
    try:
        return _Evaluator(scope).visit(tree)
    except RecursionError:
        raise ExprError("expression nests too deeply") from None
    except (TypeError, ValueError, OverflowError, ZeroDivisionError) as exc:
        raise ExprError(f"{exc} in {text!r}") from None


def _check_names(text: str, tree: ast.AST) -> None:
    """Names as written: Python's parser folds identifiers to NFKC, so a full-width `ａ`
    would silently read the arg `a`; only ASCII names are taken."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            written = ast.get_source_segment(text, node)
            if written != node.id or not node.id.isascii():
                raise ExprError(
                    f"name {written!r} is not plain ASCII (Python would read it as {node.id!r}); "
                    "names in expressions are ASCII letters, digits and _"
                )


class _Evaluator:
    def __init__(self, scope: Mapping[str, Any]):
        self.scope = scope
        self.steps = 0

    def visit(self, node: ast.AST) -> Any:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise ExprError(f"expression takes more than {MAX_STEPS:,} steps to evaluate")
        method = getattr(self, "visit_" + type(node).__name__, None)
        if method is None:
            raise ExprError(f"{type(node).__name__} is not allowed in an expression")
        return _check(method(node))

    def visit_Constant(self, node: ast.Constant) -> Any:
        if node.value is None or isinstance(node.value, (bool, int, float, str)):
            return node.value
        raise ExprError(f"constant {node.value!r} is not allowed")

    def visit_Name(self, node: ast.Name) -> Any:
        if node.id in self.scope:
            return self.scope[node.id]
        if node.id in ("true", "True"):
            return True
        if node.id in ("false", "False"):
            return False
        raise ExprError(_unknown_name(node.id, self.scope))

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        op = _BINOPS.get(type(node.op))
        if op is None:
            raise ExprError(f"operator {type(node.op).__name__} is not allowed")
        left, right = self.visit(node.left), self.visit(node.right)
        if isinstance(node.op, ast.Add) and isinstance(left, str) and isinstance(right, str):
            return left + right
        return op(_number(left), _number(right))

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Any:
        operand = self.visit(node.operand)
        if isinstance(node.op, ast.Not):
            return not operand
        if isinstance(node.op, ast.USub):
            return -_number(operand)
        if isinstance(node.op, ast.UAdd):
            return +_number(operand)
        raise ExprError(f"operator {type(node.op).__name__} is not allowed")

    def visit_BoolOp(self, node: ast.BoolOp) -> Any:
        if isinstance(node.op, ast.And):
            value: Any = True
            for item in node.values:
                value = self.visit(item)
                if not value:
                    return value
            return value
        value = False
        for item in node.values:
            value = self.visit(item)
            if value:
                return value
        return value

    def visit_Compare(self, node: ast.Compare) -> Any:
        left = self.visit(node.left)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            fn = _CMPOPS.get(type(op))
            if fn is None:
                raise ExprError(f"comparison {type(op).__name__} is not allowed")
            right = self.visit(comparator)
            if not fn(left, right):
                return False
            left = right
        return True

    def visit_IfExp(self, node: ast.IfExp) -> Any:
        return self.visit(node.body) if self.visit(node.test) else self.visit(node.orelse)

    def visit_Subscript(self, node: ast.Subscript) -> Any:
        container, index = self.visit(node.value), self.visit(node.slice)
        if not isinstance(container, (list, str)) or isinstance(index, bool) or not isinstance(index, int):
            raise ExprError("indexing takes a list and an integer, like blocks[0]")
        if not -len(container) <= index < len(container):
            raise ExprError(f"index {index} is out of range for {len(container)} items")
        return container[index]

    def visit_ListComp(self, node: ast.ListComp) -> Any:
        """`[expr for name in items if condition]`: one `for`, a plain name, over a list."""
        if len(node.generators) != 1:
            raise ExprError("a list comprehension may have one `for`")
        loop = node.generators[0]
        if not isinstance(loop.target, ast.Name) or loop.is_async:
            raise ExprError("a list comprehension's `for` takes one name: [w * 2 for w in widths]")
        items = self.visit(loop.iter)
        if not isinstance(items, list):
            raise ExprError(f"a list comprehension runs over a list, got {items!r}")
        outer, result = self.scope, []
        try:
            for item in items:
                self.scope = {**outer, loop.target.id: item}
                if all(self.visit(condition) for condition in loop.ifs):
                    result.append(self.visit(node.elt))
        finally:
            self.scope = outer
        return result

    def visit_List(self, node: ast.List) -> Any:
        return [self.visit(item) for item in node.elts]

    visit_Tuple = visit_List

    def visit_Attribute(self, node: ast.Attribute) -> Any:
        raise ExprError(f"attribute access ('.{node.attr}') is not allowed in expressions")

    def visit_Call(self, node: ast.Call) -> Any:
        if isinstance(node.func, ast.Attribute):
            raise ExprError(f"method calls ('.{node.func.attr}()') are not allowed; use one of {', '.join(FUNCTIONS)}")
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            name = node.func.id if isinstance(node.func, ast.Name) else "this call"
            raise ExprError(f"function {name!r} is not available; use one of {', '.join(FUNCTIONS)}")
        if node.keywords:
            raise ExprError("keyword arguments are not allowed in expressions")
        args = [self.visit(arg) for arg in node.args]
        return FUNCTIONS[node.func.id](*args)


def _unknown_name(name: str, scope: Mapping[str, Any]) -> str:
    from cnnshape.errors import did_you_mean

    message = f"unknown name {name!r}"
    hint = did_you_mean(name, scope)
    if hint:
        return message + hint
    if scope:
        return f"{message}; known names: {', '.join(sorted(scope))}"
    return f"{message}; declare it under `args:`"


def _find_close(text: str, start: int) -> int:
    """Index of the `)` that closes the `(` at text[start]."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return i
    raise ExprError(
        f"unclosed '$(' in {text!r}; inside a flow mapping {{...}} YAML splits at commas, "
        'so quote the value: "$(max(1, c))"'
    )


def has_substitution(value: Any) -> bool:
    """True when a value (or anything inside it) contains `$`."""
    if isinstance(value, str):
        return "$" in value
    if isinstance(value, list):
        return any(has_substitution(item) for item in value)
    if isinstance(value, dict):
        return any(has_substitution(item) for item in value.values())
    return False


def referenced_names(value: Any) -> set[str]:
    """The variable names a value's substitutions read (`$name` and names inside `$(...)`,
    not function names); empty when it has none or does not parse."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= referenced_names(item)
        return found
    if not isinstance(value, str) or "$" not in value:
        return found
    i = 0
    while i < len(value):
        j = value.find("$", i)
        if j < 0:
            break
        if value.startswith("$$", j):
            i = j + 2
        elif value.startswith("$(", j):
            try:
                end = _find_close(value, j + 1)
                tree = ast.parse(value[j + 2 : end].strip(), mode="eval")
            except (ExprError, SyntaxError, ValueError, RecursionError, MemoryError):
                return found
            called = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
            found |= {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and id(node) not in called}
            i = end + 1
        else:
            match = _NAME.match(value, j + 1)
            if not match:
                return found
            found.add(match.group())
            i = match.end()
    return found - {"true", "True", "false", "False"}


def substitute(value: Any, scope: Mapping[str, Any]) -> Any:
    """Replace `$name` and `$(expr)` inside a value; a whole-string one keeps its type."""
    if isinstance(value, list):
        return [substitute(item, scope) for item in value]
    if isinstance(value, dict):
        return {key: substitute(item, scope) for key, item in value.items()}
    if not isinstance(value, str) or "$" not in value:
        return value
    pieces: list[Any] = []
    i = 0
    while i < len(value):
        char = value[i]
        if char != "$":
            j = value.find("$", i)
            j = len(value) if j < 0 else j
            pieces.append(value[i:j])
            i = j
            continue
        if value.startswith("$$", i):
            pieces.append("$")
            i += 2
        elif value.startswith("$(", i):
            end = _find_close(value, i + 1)
            pieces.append(evaluate(value[i + 2 : end], scope))
            i = end + 1
        else:
            match = _NAME.match(value, i + 1)
            if not match:
                raise ExprError(f"'$' must be followed by a name or '(' in {value!r}; write '$$' for a dollar sign")
            name = match.group()
            if name not in scope:
                raise ExprError(_unknown_name(name, scope))
            pieces.append(scope[name])
            i = match.end()
    if len(pieces) == 1:
        return pieces[0]
    texts, length = [], 0
    for piece in pieces:  # bounded as it grows: `$a$a$a...` over a long list stops early
        texts.append(piece if isinstance(piece, str) else _text_of(piece))
        length += len(texts[-1])
        if length > MAX_STRING:
            raise ExprError(f"result is longer than {MAX_STRING:,} characters or items")
    return _check("".join(texts))


def _text_of(value: Any) -> str:
    """A value spliced into text; a list too long to ever fit is refused before str()."""
    if isinstance(value, list) and len(value) > MAX_STRING:
        raise ExprError(f"result is longer than {MAX_STRING:,} characters or items")
    return str(value)
