"""The spec format as a JSON Schema (draft 2020-12), generated from the pydantic models and
the layer registry, for editors (yaml-language-server) and other tools.

Every layer argument also accepts a `$name` / `$(expr)` string, since substitutions are
evaluated later; block uses are open (`additionalProperties`), since block names are the
file's own.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import BaseModel

SUBSTITUTION = {"type": "string", "pattern": r"^.*\$", "description": "a $name or $(expr) substitution"}
RESERVED: dict[str, dict[str, Any]] = {
    "name": {
        "type": "string",
        "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$|\$",
        "description": "the layer's name in its scope",
    },
    "from": {
        "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
        "description": "input(s): earlier layer names, `input`, `name.N`, `block_use.inner`, `name.*` (every copy)",
    },
    "repeat": {"anyOf": [{"type": "integer", "minimum": 0}, SUBSTITUTION], "description": "chained copies"},
    "if": {"anyOf": [{"type": "boolean"}, SUBSTITUTION], "description": "false skips the layer"},
    "else": {
        "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
        "description": "what a skipped layer (if: false, repeat: 0) stands for: references, like `from`",
    },
    "training_only": {"anyOf": [{"type": "boolean"}, SUBSTITUTION], "description": "runs only in training mode"},
    "share": {
        "type": "string",
        "description": "an earlier layer or block use (same kind) whose weights this entry reuses",
    },
    "trainable": {
        "anyOf": [{"type": "boolean"}, SUBSTITUTION],
        "description": "false freezes the parameters (non-trainable)",
    },
}


def _allow_substitution(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, SUBSTITUTION]} if schema else schema


def _layer_schema(cls: type[BaseModel]) -> tuple[dict[str, Any], dict[str, Any]]:
    """One layer kind's arguments as a schema (each may be a substitution), and the
    definitions it refers to."""
    raw = cls.model_json_schema()
    properties = {key: _allow_substitution(value) for key, value in raw.get("properties", {}).items()}
    properties.update(copy.deepcopy(RESERVED))
    body: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
        "description": (cls.__doc__ or "").strip().split("\n")[0],
    }
    if raw.get("required"):
        body["required"] = raw["required"]
    defs = raw.get("$defs", {})
    return {"anyOf": [{"type": "null"}, body]} if not raw.get("required") else body, defs


def spec_schema() -> dict[str, Any]:
    """The whole spec file's JSON Schema."""
    from cnnshape.layers import REGISTRY
    from cnnshape.spec import NetworkSpec

    schema = NetworkSpec.model_json_schema()
    defs = schema.setdefault("$defs", {})
    kinds: dict[str, Any] = {}
    for kind, cls in sorted(REGISTRY.items()):
        kinds[kind], layer_defs = _layer_schema(cls)
        defs.update(layer_defs)
    defs["Layer"] = {
        "description": "a layer: a kind name, or a one-key mapping `Kind: {arguments}` (a block's name works too)",
        "anyOf": [
            {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"},
            {
                "type": "object",
                "minProperties": 1,
                "maxProperties": 1,
                "properties": kinds,
                "additionalProperties": {
                    "description": "a block use: the block's args and the reserved keys",
                    "type": ["object", "null"],
                },
            },
        ],
    }
    schema["properties"]["layers"] = {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/Layer"}}
    block = defs.get("BlockDef")
    if block is not None:
        block["properties"]["layers"] = {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/Layer"}}
    schema["properties"]["input"]["items"] = {"anyOf": [{"type": "integer", "minimum": 1}, SUBSTITUTION]}
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "cnnshape network spec"
    return schema
