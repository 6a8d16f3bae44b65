"""Every registered layer kind has formula cases in the test_layers_* suite."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from cnnshape.layers import REGISTRY

HERE = Path(__file__).parent
SUITE = sorted(p for p in HERE.glob("test_layers_*.py") if p.name != Path(__file__).name)


def _formula_kinds(path: Path) -> set[str]:
    # load by path so this works whatever import mode pytest uses
    spec = importlib.util.spec_from_file_location(f"_coverage_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return set(getattr(module, "FORMULA_KINDS", set()))


def test_every_kind_has_formula_cases():
    covered = set().union(*(_formula_kinds(path) for path in SUITE))
    assert sorted(set(REGISTRY) - covered) == []
    assert sorted(covered - set(REGISTRY)) == []  # no case names a kind that does not exist


@pytest.mark.parametrize("kind", sorted(REGISTRY))
def test_every_kind_rejects_unknown_arguments(kind):
    # strict models: a misspelt argument is an error, never silently ignored
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        REGISTRY[kind].model_validate({"no_such_argument": 1})
