"""The imported model as spec text: ops grouped into block uses (each custom submodule one
use; uses of one class with one structure share a block with args), written in YAML flow
style that cnnshape reads back as the same values."""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from typing import Any, Optional, Union

from cnnshape.bridge.imported import Op
from cnnshape.layers import REGISTRY
from cnnshape.spec import NAME_RE, RESERVED

# --- the spec -----------------------------------------------------------------------------


def yaml_value(value: Any) -> str:
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
        return "[" + ", ".join(yaml_value(item) for item in value) + "]"
    text = str(value)
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", text) and text.lower() not in (
        "true",
        "false",
        "yes",
        "no",
        "on",
        "off",
        "null",
        "y",
        "n",
    ):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass
class Scope:
    """A module instance that becomes a block use (or the model itself)."""

    path: str
    cls: type
    module: Any
    items: list[Any] = field(default_factory=list)  # Op or Scope, in execution order
    inputs: list[tuple[str, int]] = field(default_factory=list)
    outputs: list[tuple[str, int]] = field(default_factory=list)
    local: str = ""
    block: str = ""  # its block's name, once grouped
    use_args: dict[str, Any] = field(default_factory=dict)
    training_only: bool = False  # every op in it runs only in training mode
    call: int = 0  # which call of its module (0: the first); each call is a block use
    # False when every op with parameters in it is frozen; None when none has parameters.
    trainable: Optional[bool] = None

    def mark_training_only(self) -> None:
        for item in self.items:
            if isinstance(item, Scope):
                item.mark_training_only()
        self.training_only = bool(self.path) and all(op.training_only for op in self.ops())

    def mark_trainable(self) -> Optional[bool]:
        states = {item.mark_trainable() if isinstance(item, Scope) else item.trainable for item in self.items}
        states.discard(None)
        self.trainable = None if not states else False not in states or True in states
        if not self.path:
            self.trainable = True  # the model: its frozen layers and uses are marked one by one
        return self.trainable

    def marked(self, item: Any) -> bool:
        """Written `training_only: true`: training-only, inside a use that is not."""
        return bool(item.training_only) and not self.training_only

    def frozen(self, item: Any) -> bool:
        """Written `trainable: false`: frozen (all its parameters), inside a use that is not."""
        return item.trainable is False and self.trainable is not False

    def ops(self) -> list[Op]:
        found: list[Op] = []
        for item in self.items:
            found += item.ops() if isinstance(item, Scope) else [item]
        return found


class SpecWriter:
    """Groups ops into block uses and writes the spec text."""

    def __init__(
        self,
        model: Any,
        ops: list[Op],
        outputs: list[tuple[str, int]],
        inputs: Union[tuple[int, ...], dict[str, tuple[int, ...]]],
        name: str,
        origin: str = "",
        containers: tuple[type, ...] = (),
    ):
        self.model = model
        self.containers = containers  # module classes that are not blocks (nn.Sequential, ...)
        self.origin = origin or f"{type(model).__module__}.{type(model).__qualname__}"
        self.ops = ops
        self.outputs = outputs
        # The network's inputs in order; ops read input j as ("input", j). One is written
        # `input: SHAPE`, several as named inputs (spec names: identifiers, not `input`).
        shapes = dict(inputs) if isinstance(inputs, dict) else {"x": tuple(inputs)}
        self.input_names: list[str] = []
        for wanted in shapes:
            given = wanted if NAME_RE.fullmatch(wanted) and wanted != "input" else re.sub(r"\W", "_", wanted) + "_"
            while given in self.input_names:
                given += "_"
            self.input_names.append(given)
        self.input_shapes = list(shapes.values())
        self.name = name
        self.blocks: dict[str, tuple[list[Scope], dict[str, Any], dict[tuple, str]]] = {}
        self.block_count = 0
        # id of a layer or block use -> the earlier one whose weights it reuses (`share:`)
        self.shares: dict[int, Any] = {}
        self.parents: dict[int, Scope] = {}

    # -- the scope tree --------------------------------------------------------------------

    def tree(self) -> Scope:
        root = Scope("", type(self.model), self.model)
        scopes: dict[tuple[str, int], Scope] = {("", 0): root}
        order = {op.node: i for i, op in enumerate(self.ops)}
        for op in self.ops:
            parts = op.owner.split(".") if op.owner else []
            parent = root
            for depth in range(1, len(parts) + 1):
                path = ".".join(parts[:depth])
                module = self.model.get_submodule(path)
                if isinstance(module, self.containers):
                    continue
                key = (path, op.calls.get(path, 0))  # each call of a module: its own use
                scope = scopes.get(key)
                if scope is None:
                    scope = scopes[key] = Scope(path, type(module), module, call=key[1])
                    parent.items.append(scope)
                parent = scope
            parent.items.append(op)
        # A module whose operations are not contiguous cannot be one block use: inline it.
        self._inline_split(root, order)
        self._find_shares(root)
        self._wire(root)
        root.mark_training_only()
        root.mark_trainable()
        return root

    # -- weight sharing -----------------------------------------------------------------------

    def _find_shares(self, root: Scope) -> None:
        """Each later call of weights already used shares the first (`share:`): a block use
        shares an earlier use of the same module (its layers are that use's), a layer the
        earlier layer with the same weights. `share:` names an entry of its own scope or
        inside one of its block uses, so a sharing entry whose original is elsewhere has
        the block uses around it written out inline until it can name it."""
        while True:
            self.shares, self.parents = {}, {}
            first: dict[tuple[str, str], Any] = {}
            self._walk_shares(root, first)
            moved = False
            for sharer_id, original in list(self.shares.items()):
                sharer_scope = self.parents[sharer_id]
                ancestors = self._ancestors(self.parents[id(original)])
                if any(scope is sharer_scope for scope in ancestors):
                    continue
                # Inline the uses between the common scope and the sharing entry.
                common = next(s for s in self._ancestors(sharer_scope) if any(s is a for a in ancestors))
                scope = sharer_scope
                while scope is not common:
                    parent = self.parents[id(scope)]
                    index = next(i for i, item in enumerate(parent.items) if item is scope)
                    parent.items[index : index + 1] = scope.items
                    scope = parent
                moved = True
                break
            if not moved:
                return

    def _walk_shares(self, scope: Scope, first: dict[tuple[str, str], Any]) -> None:
        for item in scope.items:
            self.parents[id(item)] = scope
            if isinstance(item, Scope):
                stateful = any(True for _ in item.module.parameters()) or any(True for _ in item.module.buffers())
                key = ("use", item.path)
                if stateful and key in first:
                    self.shares[id(item)] = first[key]
                    self._walk_parents(item)  # its layers are the original's: no sharing of their own
                    continue
                first.setdefault(key, item)
                self._walk_shares(item, first)
            elif item.weights:
                key = ("layer", item.weights)
                if key in first:
                    self.shares[id(item)] = first[key]
                else:
                    first[key] = item

    def _walk_parents(self, scope: Scope) -> None:
        for item in scope.items:
            self.parents[id(item)] = scope
            if isinstance(item, Scope):
                self._walk_parents(item)

    def _ancestors(self, scope: Scope) -> list[Scope]:
        """The scope and every scope around it, innermost first."""
        chain = [scope]
        while id(chain[-1]) in self.parents:
            chain.append(self.parents[id(chain[-1])])
        return chain

    def _share_ref(self, item: Any) -> str:
        """`share:`'s value for a sharing entry: its original's name seen from its scope
        (`conv1`, or `tower.conv1` inside a block use); "" when it shares nothing."""
        original = self.shares.get(id(item))
        if original is None:
            return ""
        scope = self.parents[id(item)]
        names = [original.local]
        current = self.parents[id(original)]
        while current is not scope:
            names.append(current.local)
            current = self.parents[id(current)]
        return ".".join(reversed(names))

    def _inline_split(self, scope: Scope, order: dict[str, int]) -> None:
        items: list[Any] = []
        for item in scope.items:
            if isinstance(item, Scope):
                self._inline_split(item, order)
                indices = sorted(order[op.node] for op in item.ops())
                if indices != list(range(indices[0], indices[0] + len(indices))):
                    items += item.items
                    continue
            items.append(item)
        items.sort(
            key=lambda item: min(order[op.node] for op in item.ops()) if isinstance(item, Scope) else order[item.node]
        )
        scope.items = items

    def _wire(self, scope: Scope) -> None:
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
            if isinstance(item, Scope):
                self._wire(item)

    # -- names --------------------------------------------------------------------------------

    def _name_items(self, scope: Scope) -> None:
        # At top level the network's named inputs take the place of layer names.
        taken: set[str] = set() if scope.path or len(self.input_names) == 1 else set(self.input_names)
        for item in scope.items:
            if isinstance(item, Scope):
                relative = item.path[len(scope.path) + 1 :] if scope.path else item.path
                wanted = relative.replace(".", "_")
                fallback = item.cls.__name__.lower()
            else:
                if item.path:
                    relative = item.path[len(scope.path) + 1 :] if scope.path else item.path
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
            if isinstance(item, Scope):
                self._name_items(item)

    def module_rows(self, scope: Scope, prefix: str = "") -> dict[str, list[str]]:
        """Torch module path -> the spec's layer names (as the report names its rows) of
        the calls of that module, in order; after text() has named everything."""
        rows: dict[str, list[str]] = {}
        for item in scope.items:
            full = f"{prefix}{item.local}"
            if isinstance(item, Scope):
                for path, names in self.module_rows(item, full + ".").items():
                    rows.setdefault(path, []).extend(names)
            elif item.path:
                rows.setdefault(item.path, []).append(full)
        return rows

    # -- blocks ---------------------------------------------------------------------------------

    def _body(self, scope: Scope) -> tuple[list[tuple], dict[tuple, Any]]:
        """The scope's entries as (structure, values): structure ignores argument values."""
        where: dict[tuple[str, int], str] = {}
        for item in scope.items:
            if isinstance(item, Scope):
                for k, ref in enumerate(item.outputs):
                    where[ref] = f"{item.local}.{k}" if len(item.outputs) > 1 else item.local
            else:
                for i in range(item.n_outputs):
                    where[(item.node, i)] = f"{item.local}.{i}" if item.n_outputs > 1 else item.local
        if not scope.path and len(self.input_names) > 1:
            # The network's named inputs; the first entry's default input is all of them.
            for j, name in enumerate(self.input_names):
                where[("input", j)] = name
            previous = list(self.input_names)
        else:
            for j, ref in enumerate(scope.inputs):
                where[ref] = "input" if len(scope.inputs) == 1 else f"input.{j}"
            previous = ["input"] if len(scope.inputs) == 1 else [f"input.{j}" for j in range(len(scope.inputs))]
        structure: list[tuple] = []
        values: dict[tuple, Any] = {}
        for item in scope.items:
            sources = [where[ref] for ref in item.inputs]
            share = self._share_ref(item)
            if isinstance(item, Scope):
                # Every arg of the inner block, defaults included, so that a value that
                # differs between uses of this block is seen whichever use has the default.
                kind, args, n_out = item.block, self._use_values(item), len(item.outputs)
                outs = [item.local] if n_out == 1 else [f"{item.local}.{k}" for k in range(n_out)]
            else:
                kind, args, n_out = item.kind, item.args, item.n_outputs
                outs = [item.local] if n_out == 1 else [f"{item.local}.{k}" for k in range(n_out)]
            if share:
                args = {}  # a sharing entry's arguments are its original's
            from_ = None if sources == previous else sources
            frozen = scope.frozen(item) and not share
            structure.append((kind, item.local, tuple(sorted(args)), tuple(sources), scope.marked(item), share, frozen))
            for key, value in args.items():
                values[(item.local, key)] = value
            previous = outs
            item.__dict__["_from"] = from_  # written as `from:` only when it is not the entry above
        outputs = [where[ref] for ref in scope.outputs]
        structure.append(("outputs", tuple(outputs)))
        return structure, values

    def group_all(self, root: Scope) -> None:
        # Deepest scopes first, so a parent's structure sees its children's block names.
        levels: dict[int, list[Scope]] = {}

        def walk(scope: Scope, depth: int) -> None:
            levels.setdefault(depth, []).append(scope)
            for item in scope.items:
                if isinstance(item, Scope):
                    walk(item, depth + 1)

        walk(root, 0)
        for depth in sorted(levels, reverse=True):
            if depth == 0:
                continue
            groups: dict[tuple, list[Scope]] = {}
            for scope in levels[depth]:
                structure, _ = self._body(scope)
                key = (scope.cls, _signature(scope.cls), tuple(structure), len(scope.inputs))
                groups.setdefault(key, []).append(scope)
            for (cls, _, _, _), members in groups.items():
                self._make_block(cls, members)

    def _make_block(self, cls: type, members: list[Scope]) -> None:
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
                if all(
                    _same(getattr(member.module, param, _MISSING), value)
                    for member, value in zip(members, values, strict=True)
                ):
                    chosen = param
                    break
            if chosen is None or not NAME_RE.match(chosen):
                field_names = {key[1] for key in keys}
                if len(field_names) == 1 and fields.count(keys[0][1]) == len(keys):
                    chosen = keys[0][1]  # the only arg for this field: out_channels
                else:
                    chosen = f"{keys[0][0]}_{keys[0][1]}"
            while chosen in args or chosen in RESERVED:
                chosen += "_"
            args[chosen] = values[0]
            for key in keys:
                arg_of[key] = chosen
        for member in members:
            member.block = name
        self.blocks[name] = (members, args, arg_of)
        for member, body in zip(members, bodies, strict=True):
            member.use_args = {}
            for key, arg in arg_of.items():
                if body[1][key] != args[arg]:
                    member.use_args[arg] = body[1][key]

    def _use_values(self, scope: Scope) -> dict[str, Any]:
        """A block use's value of every arg of its block (its own or the block's default)."""
        defaults = self.blocks[scope.block][1] if scope.block in self.blocks else {}
        return {**defaults, **scope.use_args}

    # -- text ---------------------------------------------------------------------------------

    def _entries(self, scope: Scope, substitutions: dict[tuple, str]) -> list[str]:
        self._body(scope)  # sets each item's `from`
        lines: list[str] = []
        for item in scope.items:
            share = self._share_ref(item)
            if share:
                kind, args = (item.block if isinstance(item, Scope) else item.kind), {"share": share}
            elif isinstance(item, Scope):
                # An inner block use passes on the outer block's args (`fc1: $fc1`); a value
                # all outer uses agree on is written only where it is not the inner default.
                kind, args = item.block, {}
                for key, value in self._use_values(item).items():
                    if (item.local, key) in substitutions:
                        args[key] = "$" + substitutions[(item.local, key)]
                    elif key in item.use_args:
                        args[key] = value
            else:
                kind, args = item.kind, dict(item.args)
                for key in list(args):
                    if (item.local, key) in substitutions:
                        args[key] = "$" + substitutions[(item.local, key)]
            fields = [
                f"{key}: {yaml_value(value) if not (isinstance(value, str) and value.startswith('$')) else value}"
                for key, value in args.items()
            ]
            fields.append(f"name: {item.local}")
            if scope.marked(item):
                fields.append("training_only: true")
            if scope.frozen(item) and not share:
                fields.append("trainable: false")
            sources = item.__dict__.get("_from")
            if sources:
                fields.append(f"from: {sources[0]}" if len(sources) == 1 else f"from: [{', '.join(sources)}]")
            where = f"  # {item.path}" if getattr(item, "path", "") else ""
            lines.append(f"- {kind}: {{{', '.join(fields)}}}{where}")
        return lines

    def text(self, root: Scope) -> str:
        self._name_items(root)
        self.group_all(root)
        out = [
            f"# Imported by `cnnshape import` from {self.origin}.",
            "# Layer kinds and arguments as PyTorch's; custom modules became blocks.",
            f"name: {yaml_value(self.name)}",
        ]
        if len(self.input_names) == 1:
            out.append(f"input: {yaml_value(list(self.input_shapes[0]))}")
        else:
            shapes = zip(self.input_names, self.input_shapes, strict=True)
            out.append("input: {" + ", ".join(f"{name}: {yaml_value(list(shape))}" for name, shape in shapes) + "}")
        if self.blocks:
            out.append("blocks:")
            for name, (members, args, arg_of) in self.blocks.items():
                first = members[0]
                paths = list(dict.fromkeys(member.path for member in members))  # a module called twice: once
                uses = ", ".join(paths[:4]) + (", ..." if len(paths) > 4 else "")
                out.append(f"  {name}:")
                out.append(f"    description: {yaml_value(f'{first.cls.__qualname__} ({uses})')}")
                if args:
                    out.append(
                        "    args: {" + ", ".join(f"{key}: {yaml_value(value)}" for key, value in args.items()) + "}"
                    )
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

    def _outputs_line(self, scope: Scope) -> str:
        structure, _ = self._body(scope)
        outputs = list(structure[-1][1])
        last = scope.items[-1] if scope.items else None
        if last is not None:
            n_out = len(last.outputs) if isinstance(last, Scope) else last.n_outputs
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
        return str(inspect.signature(cls))
    except (TypeError, ValueError):
        return ""


def _signature_names(cls: type) -> list[str]:
    try:
        return [p for p in inspect.signature(cls).parameters if p != "self"]
    except (TypeError, ValueError):
        return []
