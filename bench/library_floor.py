"""The smallest library call on cnnshape's stack that does the same kind of job, for bench.py.

Reads a spec with PyYAML's C loader and validates two of its fields with one pydantic
model, without Typer: whatever it costs, any library that parses YAML and validates with
pydantic v2 pays before doing work of its own. `cnnshape.analyze(...)` in a fresh process
is measured against it.

    python bench/library_floor.py specs/resnet50.yaml
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict


class Spec(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    input: list[int]


def main(path: str) -> Spec:
    data = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    return Spec.model_validate(data)


if __name__ == "__main__":
    main(sys.argv[1])
