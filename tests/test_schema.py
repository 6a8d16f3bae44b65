"""`cnnshape schema`: a valid JSON Schema that accepts every zoo spec and rejects the
mistakes an editor should underline."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from conftest import cli

from cnnshape.schema import spec_schema

SPECS = sorted((Path(__file__).parent.parent / "specs").glob("*.yaml"))


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = spec_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_every_zoo_spec_is_valid(validator, path):
    errors = [error.message for error in validator.iter_errors(yaml.safe_load(path.read_text()))]
    assert errors == []


@pytest.mark.parametrize(
    "text",
    [
        "name: t\ninput: [1, 3, 8, 8]\nlayers:\n  - Conv2d: {out_channels: 8, kernal_size: 3}\n",  # misspelt argument
        "name: t\ninput: [1, 3, 8, 8]\nlayers:\n  - Conv2d: {out_channels: 8}\n",  # missing kernel_size
        "name: t\ninput: [1, 3, 8, 8]\nlayer:\n  - ReLU\n",  # misspelt key
        "name: t\ninput: [1, 3, 8, 8]\nlayers:\n  - Conv2d: {out_channels: eight, kernel_size: 3}\n",  # not a number
        "name: t\ninput: [1, 3, 8, 8]\nlayers:\n  - {Conv2d: {out_channels: 8, kernel_size: 3}, ReLU: null}\n",  # two kinds
        "name: t\ninput: [1, 3, 8, 8]\nlayers: []\n",  # no layers
    ],
)
def test_mistakes_are_rejected(validator, text):
    assert list(validator.iter_errors(yaml.safe_load(text)))


def test_substitutions_are_accepted_anywhere_an_argument_goes(validator):
    text = (
        "name: t\ninput: [1, 3, $size, $size]\nargs: {size: 8, w: 4}\n"
        'layers:\n  - Conv2d: {out_channels: $w, kernel_size: "$(w - 1)", repeat: $w, if: $(w > 2)}\n'
    )
    assert list(validator.iter_errors(yaml.safe_load(text))) == []


def test_cli_prints_and_writes_the_schema(tmp_path):
    printed = cli("schema")
    assert printed.exit_code == 0
    assert json.loads(printed.output)["title"] == "cnnshape network spec"
    target = tmp_path / "cnnshape.schema.json"
    written = cli("schema", "--output", str(target))
    assert written.exit_code == 0
    assert json.loads(target.read_text()) == json.loads(printed.output)
