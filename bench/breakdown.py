"""Where the time of one analysis goes, part by part (run by hand, never in the test suite).

    python bench/breakdown.py specs/resnet50.yaml     # start-up: what cnnshape.analyze pays
    python bench/breakdown.py --chain 10000           # the 10,000-layer chain of bench.py

Each part is CPU milliseconds (`time.process_time`, steadier than wall time on a busy
machine), the median over fresh processes, measured inside one `cnnshape.analyze`-like run
plus the JSON text `summary --format json` writes. The first two rows are what
bench/library_floor.py pays too (Python itself, then PyYAML, pydantic and a first model);
the rest is cnnshape's own cost above that floor. Class creation is timed by wrapping
`dataclasses`' and pydantic's class builders, so those rows are parts of the rows they sit
under (marked "of which").
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

ROWS = (
    ("start", "Python start-up (interpreter, site)"),
    ("floor", "PyYAML + pydantic imported, a first model built and validated"),
    ("imports", "cnnshape's modules on the analysis path"),
    ("dataclasses", "  of which: building their dataclasses"),
    ("spec_models", "  of which: building the spec's pydantic models"),
    ("yaml", "YAML read (positions kept up to 20,000 values)"),
    ("spec", "the spec's structure validated"),
    ("families", "layer families imported (first use)"),
    ("kind_models", "the kinds' pydantic models built (first use)"),
    ("graph", "graph built (the rest: expansion, arguments validated)"),
    ("analysis", "analysis (shapes, counts, receptive fields, rows)"),
    ("json", "JSON text of summary --format json"),
)


def child(spec: str) -> dict[str, float]:
    """One instrumented run in this (fresh) process; CPU seconds per part."""
    clock = time.process_time
    start = clock()
    import yaml  # noqa: F401
    from pydantic import BaseModel

    class First(BaseModel):
        x: int

    First(x=1)
    floor = clock()

    import dataclasses

    import pydantic._internal._model_construction as construction

    spent = {"dataclasses": 0.0, "spec_models": 0.0, "kind_models": 0.0, "families": 0.0}

    def timed(key: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            began = clock()
            try:
                return function(*args, **kwargs)
            finally:
                spent[key] += clock() - began

        return wrapper

    dataclasses._process_class = timed("dataclasses", dataclasses._process_class)  # type: ignore[attr-defined]
    original_new = construction.ModelMetaclass.__new__
    construction.ModelMetaclass.__new__ = timed("spec_models", original_new)  # type: ignore[method-assign]
    import cnnshape.analysis
    import cnnshape.api
    import cnnshape.dialects
    import cnnshape.graph
    import cnnshape.pipeline
    import cnnshape.source
    import cnnshape.spec  # noqa: F401

    imported = clock()
    construction.ModelMetaclass.__new__ = original_new  # type: ignore[method-assign]

    from cnnshape import layers
    from cnnshape.layers import base

    base.model_of = timed("kind_models", base.model_of)
    load_family = layers.Registry.__getitem__

    def first_use(self: layers.Registry, kind: str) -> Any:
        if kind in self.loaded:
            return self.loaded[kind]
        return timed("families", load_family)(self, kind)

    layers.Registry.__getitem__ = first_use  # type: ignore[method-assign]
    import gc

    from cnnshape.analysis import analyze
    from cnnshape.dialects import settle
    from cnnshape.graph import build
    from cnnshape.render.json import chunks
    from cnnshape.source import load_file
    from cnnshape.spec import parse_network

    gc.disable()  # as the command line runs
    began = clock()
    source = load_file(spec)
    read = clock()
    source, overrides = settle(source, {})
    network = parse_network(source)
    validated = clock()
    graph = build(network, source, overrides, None)
    built = clock()
    report = analyze(graph, source, "float32")
    analysed = clock()
    for _ in chunks(report):
        pass
    written = clock()
    return {
        "start": start,
        "floor": floor - start,
        "imports": imported - floor,
        "dataclasses": spent["dataclasses"],
        "spec_models": spent["spec_models"],
        "yaml": read - began,
        "spec": validated - read,
        "families": spent["families"],
        "kind_models": spent["kind_models"],
        "graph": built - validated - spent["families"] - spent["kind_models"],
        "analysis": analysed - built,
        "json": written - analysed,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("spec", nargs="?", default="specs/resnet50.yaml")
    parser.add_argument("--chain", type=int, help="a synthetic Conv2d/ReLU chain of this many layers instead")
    parser.add_argument("--runs", type=int, default=7, help="fresh processes (median)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        print(json.dumps(child(options.spec)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        spec = options.spec
        if options.chain:
            sys.path.insert(0, str(ROOT / "bench"))
            from bench import synthetic

            spec = str(synthetic(options.chain, Path(tmp)))
        env = dict(os.environ)
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # as bench.py: compiled bytecode, as installed
        command = [sys.executable, str(Path(__file__).resolve()), spec, "--child"]
        subprocess.run(command, check=True, capture_output=True, cwd=ROOT, env=env)  # writes any bytecode
        runs = [
            json.loads(subprocess.run(command, check=True, capture_output=True, cwd=ROOT, env=env, text=True).stdout)
            for _ in range(options.runs)
        ]
    parts = {key: statistics.median(run[key] for run in runs) for key, _ in ROWS}
    total = sum(value for key, value in parts.items() if key not in ("dataclasses", "spec_models"))
    print(
        f"{options.chain and f'{options.chain:,}-layer chain' or spec}: CPU ms, median of {options.runs} fresh processes"
    )
    for key, label in ROWS:
        print(f"  {label:<62} {parts[key] * 1000:7.1f}")
    print(f"  {'total':<62} {total * 1000:7.1f}")
    above = total - parts["start"] - parts["floor"]
    print(f"  {'cnnshape above the library floor (all rows but the first two)':<62} {above * 1000:7.1f}")


if __name__ == "__main__":
    main()
