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


def test_the_kind_table_lists_every_kind_of_every_family_in_order():
    """layers/__init__.py's KIND_FAMILY is the one table of kinds: every family module's
    KINDS, in order, and every module of cnnshape/layers is a family (or the shared base)."""
    from cnnshape import layers

    modules = {path.stem for path in Path(layers.__file__).parent.glob("*.py")} - {"__init__", "base", "torchside"}
    assert sorted(layers.FAMILY_NAMES) == sorted(modules)
    expected = {
        cls.kind(): name
        for name in layers.FAMILY_NAMES
        for cls in importlib.import_module(f"cnnshape.layers.{name}").KINDS
    }
    missing = {kind: name for kind, name in expected.items() if layers.KIND_FAMILY.get(kind) != name}
    assert not missing, f"add to KIND_FAMILY in cnnshape/layers/__init__.py: {missing}"
    assert list(layers.KIND_FAMILY.items()) == list(expected.items()), (
        "KIND_FAMILY: list the kinds in family order, as each KINDS does"
    )
    for kind, name in layers.KIND_FAMILY.items():
        assert REGISTRY[kind].__module__ == f"cnnshape.layers.{name}"
        assert REGISTRY[kind].kind() == kind


def test_a_family_is_imported_when_a_spec_uses_it():
    import subprocess
    import sys

    code = (
        "import sys, cnnshape\n"
        "cnnshape.analyze('specs/seed-lenet.yaml')\n"
        "print(sorted(m.rsplit('.', 1)[1] for m in sys.modules if m.startswith('cnnshape.layers.')))\n"
        "from cnnshape.layers import REGISTRY\n"
        "print('RNNCell' in REGISTRY, 'Conv2d' in REGISTRY, len(dict(REGISTRY.items())) == len(REGISTRY))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=HERE.parent, check=True)
    # LeNet: Conv2d, ReLU, MaxPool2d, Flatten, Linear.
    assert done.stdout.splitlines() == [
        "['activation', 'base', 'conv', 'linear', 'pool', 'reshape', 'torchside']",
        "False True True",
    ]


def test_a_kinds_model_is_built_when_the_kind_is_first_used():
    import subprocess
    import sys

    code = (
        "import cnnshape\n"
        "from cnnshape.layers import FAMILIES\n"
        "from cnnshape.layers.base import _MODELS\n"
        "print(len(_MODELS))\n"
        "cnnshape.analyze('specs/seed-lenet.yaml')\n"
        "print(sorted({model.__name__ for model in _MODELS.values()}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=HERE.parent, check=True)
    # Every family imported, no model built; then the five kinds LeNet's layers name.
    assert done.stdout.splitlines() == ["0", "['Conv2d', 'Flatten', 'Linear', 'MaxPool2d', 'ReLU']"]


def test_a_declared_kind_and_its_model_are_one_kind():
    from pydantic import BaseModel, ValidationError

    from cnnshape.layers.conv import Conv2d, _ConvNd

    layer = Conv2d(out_channels=8, kernel_size=3)
    assert isinstance(layer, Conv2d) and isinstance(layer, _ConvNd) and isinstance(layer, BaseModel)
    assert type(layer) is REGISTRY["Conv2d"].model_validate({"out_channels": 8, "kernel_size": 3}).__class__
    assert type(layer).__name__ == "Conv2d" and type(layer).ndim == 2
    assert layer == Conv2d.model_validate({"out_channels": 8, "kernel_size": 3})
    # _ConvNd's validators apply to the kind: a 'same' padding with a stride is refused.
    with pytest.raises(ValidationError, match="padding='same' is not supported"):
        Conv2d(out_channels=8, kernel_size=3, stride=2, padding="same")
    with pytest.raises(ValidationError):
        layer.stride = 2  # frozen, as the declaration's model_config says


def test_every_declared_validator_reaches_its_kinds_models():
    """model_of copies a kind's validators into its model by the type pydantic's public
    decorators return (cnnshape.layers.base._VALIDATOR_TYPES); the decorators are found
    here from the family sources, so a pydantic release that changes that type fails here
    by name instead of letting bad arguments through."""
    import ast
    import inspect

    from cnnshape import layers

    checked = 0
    for family_name in layers.FAMILY_NAMES:
        family = importlib.import_module(f"cnnshape.layers.{family_name}")
        declared: dict[str, set[str]] = {}  # class name -> its validator methods, from the source
        for node in ast.walk(ast.parse(inspect.getsource(family))):
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef) and any(
                        isinstance(dec, ast.Call)
                        and isinstance(dec.func, ast.Name)
                        and dec.func.id in ("field_validator", "model_validator")
                        for dec in item.decorator_list
                    ):
                        declared.setdefault(node.name, set()).add(item.name)
        for cls in family.KINDS:
            model = cls.model_validate.__self__  # the built model
            decorators = model.__pydantic_decorators__
            found = set(decorators.field_validators) | set(decorators.model_validators)
            wanted = set().union(*(declared.get(base.__name__, set()) for base in cls.__mro__))
            assert wanted <= found, f"{cls.kind()}: validators {sorted(wanted - found)} did not reach its model"
            checked += len(wanted)
    assert checked > 0  # the scan found the families' validators
