"""One layer, no spec file: `cnnshape calc conv2d --input 1,128,40,50 --out-channels 64 ...`.

The kind and its arguments become a one-layer network that goes through the same
pipeline as any spec, so the numbers and the working are exactly summary's.
"""

from __future__ import annotations

from typing import Any

from cnnshape.report import Report


class CalcError(ValueError):
    """A kind, argument or value that cannot be used; the message says why, with a hint."""


class CalcUsageError(CalcError):
    """A mistake in the command line itself (unknown kind or option, missing or repeated
    option): a usage error, exit 2, where a value the layer refuses is a problem, exit 1."""


def parse_arguments(tokens: list[str]) -> dict[str, Any]:
    """`--out-channels 64 --kernel-size=[1,7] --bias false` -> {'out_channels': 64, ...}.

    Names map to PyTorch's argument names (dashes become underscores); values are read
    like YAML values in a spec: 3, [1, 7], false, same, 1e-5. A value may start with a
    dash (`--dim -1`).
    """
    from cnnshape.source import load_scalar

    arguments: dict[str, Any] = {}
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if not token.startswith("--") or len(token) < 3:
            raise CalcUsageError(f"expected a layer argument like --out-channels 64, got {token!r}")
        name, sep, text = token[2:].partition("=")
        if not sep:
            if i + 1 >= len(tokens):
                raise CalcUsageError(f"--{name} needs a value")
            text = tokens[i + 1]
            i += 1
        i += 1
        key = name.replace("-", "_")
        if key in arguments:
            raise CalcUsageError(f"--{name} is given twice")
        try:
            value = load_scalar(text) if text.strip() else ""
        except ValueError as exc:  # past the YAML limits (an alias bomb)
            raise CalcUsageError(f"--{name}: {exc}") from None
        arguments[key] = text if value is None or isinstance(value, dict) else value
    return arguments


def check_arguments(kind: str, arguments: dict[str, Any]) -> None:
    """Every argument is one of the kind's; else CalcError with the closest names."""
    from cnnshape.errors import did_you_mean
    from cnnshape.layers import REGISTRY

    fields = list(REGISTRY[kind].model_fields)
    for key in arguments:
        if key not in fields:
            hint = did_you_mean(key, fields, n=3, spell=lambda name: "--" + name.replace("_", "-"))
            listed = ", ".join("--" + name.replace("_", "-") for name in fields) or "none"
            raise CalcUsageError(
                f"{kind} has no argument --{key.replace('_', '-')}{hint} ({kind}'s arguments: {listed})"
            )
    missing = [
        name for name, info in REGISTRY[kind].model_fields.items() if info.is_required() and name not in arguments
    ]
    if missing:
        raise CalcUsageError(f"{kind} needs " + ", ".join("--" + name.replace("_", "-") for name in missing))


def calc(kind: str, arguments: dict[str, Any], input_shape: tuple[int, ...], dtype: str = "float32") -> Report:
    """Analyse one layer of `kind` (any case) on `input_shape`; CalcError on any problem.

    A kind with several inputs (Add, Mul, Concat) gets the input that many times.
    """
    import yaml

    from cnnshape.catalog import UnknownKind, resolve
    from cnnshape.errors import SpecError
    from cnnshape.layers import REGISTRY
    from cnnshape.pipeline import analyze_source
    from cnnshape.source import load_text

    try:
        kind = resolve(kind)
    except UnknownKind as exc:
        raise CalcUsageError(str(exc)) from None
    check_arguments(kind, arguments)
    entry = dict(arguments)
    inputs = REGISTRY[kind].min_inputs
    if inputs > 1:
        entry["from"] = ["input"] * inputs
    spec = {"name": f"calc {kind}", "input": list(input_shape), "layers": [{kind: entry}]}
    text = yaml.safe_dump(spec, sort_keys=False, default_flow_style=None)
    try:
        return analyze_source(load_text(text, f"<{kind}>"), dtype=dtype)
    except SpecError as exc:
        raise CalcError("\n".join(problem.message for problem in exc.problems if problem.severity == "error")) from None
