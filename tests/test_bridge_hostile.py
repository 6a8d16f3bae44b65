"""A spec is untrusted input, and `cnnshape verify` runs what `cnnshape export` writes:
spec text must never become code (issue 17 section 1). Each attack below once ran a shell
command; each payload here would create a marker file `pwned` in the working folder if
any of it ran. Outcomes are exact: the export parses, imports and builds without touching
the marker, and verify gives cnnshape's numbers.

Every export, verify and import of an attack runs in a child under tests/test_hostile.py's
caps (`capped`: 1 GiB, 60 s of CPU), as the hostile corpus does."""

from __future__ import annotations

import ast
import json
import math
import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest
import yaml

torch = pytest.importorskip("torch")

from conftest import cli  # noqa: E402
from hypothesis import HealthCheck, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from test_hostile import capped  # noqa: E402
from test_hostile import run as run_capped  # noqa: E402

from cnnshape.bridge.analysed import analyse_source  # noqa: E402
from cnnshape.bridge.export import ExportError, export_analysed, export_file  # noqa: E402
from cnnshape.bridge.verify import load_code  # noqa: E402
from cnnshape.errors import SpecError  # noqa: E402
from cnnshape.source import load_text  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TOUCH = "__import__('os').system('touch pwned')"
PAYLOADS = [
    f"x = {TOUCH}\ny",  # an arg name that is a statement
    f'a"""; {TOUCH}; """b',  # closes a docstring
    f"a'''; {TOUCH}; '''b",
    f"\\'; {TOUCH} #",
    f"}}{{{TOUCH}}}",
    'C:\\Users\\me "quoted" \\N{oops} \\x',  # ordinary text that broke the old export
]
HOSTILE_FILE = f'a""";{TOUCH};""".yaml'

run = partial(cli, width=200)


def _import_in_subprocess(files: list[Path], folder: Path) -> subprocess.CompletedProcess:
    """Import each exported file and build its model on the meta device, in a fresh capped
    Python whose working folder is `folder` (where a payload would create `pwned`). Prints
    one JSON line per file (SPEC_NAME, SPEC_FILE and each class's docstring), then
    `built N`."""
    script = (
        "import importlib.util, json, sys, torch\n"
        "for i, path in enumerate(sys.argv[1:]):\n"
        "    spec = importlib.util.spec_from_file_location(f'exported_{i}', path)\n"
        "    module = importlib.util.module_from_spec(spec)\n"
        "    spec.loader.exec_module(module)\n"
        "    with torch.device('meta'):\n"
        "        module.build()\n"
        "    docs = {k: v.__doc__ for k, v in vars(module).items() if isinstance(v, type) and v.__module__ == module.__name__}\n"
        "    print(json.dumps({'name': module.SPEC_NAME, 'file': module.SPEC_FILE, 'docs': docs}))\n"
        "print('built', len(sys.argv) - 1)\n"
    )
    return capped([sys.executable, "-c", script, *map(str, files)], torch=True, cwd=folder)


def _exported(spec: Path, folder: Path, name: str = "exported.py") -> tuple[str, Path]:
    """`cnnshape export` of `spec` (under the caps, from `folder`): the code, and its file."""
    out = folder / name
    done = run_capped(spec, "--to", "pytorch", "-o", str(out), command="export", cwd=folder)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-3000:]
    return out.read_text(encoding="utf-8"), out


def _spec(text: str, folder: Path, name: str = "spec.yaml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _verified(path: Path) -> None:
    """verify (which runs the export; under the caps) agrees with the analysis on every
    total: parameters, buffers and MACs each `ok`."""
    done = run_capped(path, command="verify", torch=True, cwd=path.parent)
    assert done.returncode == 0 and "Traceback" not in done.stderr, (done.stdout + done.stderr)[-3000:]
    checked = {
        line.split()[0]
        for line in done.stdout.splitlines()
        if line.split()[:1] in (["params"], ["buffers"], ["MACs"]) and line.split()[-1] == "ok"
    }
    assert checked == {"params", "buffers", "MACs"}, done.stdout[-3000:]
    assert not (path.parent / "pwned").exists()


# --- each attack of issue 17 section 1 -------------------------------------------------------


def test_an_arg_name_that_is_a_statement_stays_a_name(tmp_path: Path) -> None:
    spec = _spec(
        f"""
name: args
input: [1, 3, 8, 8]
args: {{{json.dumps(PAYLOADS[0])}: 1, c: 4}}
blocks:
  B:
    args: {{{json.dumps(PAYLOADS[0])}: 2, width: 4}}
    layers:
      - Conv2d: {{out_channels: $width, kernel_size: 1}}
layers:
  - B: {{width: $c}}
""",
        tmp_path,
    )
    code, written = _exported(spec, tmp_path)
    ast.parse(code)
    assert "x_x20__x3d__x20___import__" in code  # the name, mangled to an identifier
    _verified(spec)
    done = _import_in_subprocess([written], tmp_path)
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "pwned").exists()


def _write(code: str, folder: Path, name: str = "exported.py") -> Path:
    path = folder / name
    path.write_text(code, encoding="utf-8")
    return path


def test_text_in_docstrings_and_the_file_name_stays_text(tmp_path: Path) -> None:
    written = []
    for number, payload in enumerate(PAYLOADS[1:]):
        folder = tmp_path / str(number)
        folder.mkdir()
        text = yaml.safe_dump(
            {
                "name": payload,
                "description": payload,
                "input": [1, 3, 8, 8],
                "blocks": {
                    "B": {"description": payload, "layers": [{"Conv2d": {"out_channels": 4, "kernel_size": 1}}]}
                },
                "layers": ["B", "ReLU"],
            }
        )
        spec = _spec(text, folder, HOSTILE_FILE)
        code, out = _exported(spec, folder)
        ast.parse(code)
        written.append(out)
        _verified(spec)
    done = _import_in_subprocess(written, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    found = [json.loads(line) for line in done.stdout.splitlines()[:-1]]
    for number, (payload, module) in enumerate(zip(PAYLOADS[1:], found)):
        assert payload == module["name"] and module["file"].endswith(f"{number}/{HOSTILE_FILE}"), module
        assert module["docs"]["B"] == payload
        assert any(doc == payload for key, doc in module["docs"].items() if key != "B"), module["docs"]
    assert not (tmp_path / "pwned").exists() and not any(
        (tmp_path / str(n) / "pwned").exists() for n in range(len(written))
    )


def test_an_arg_named_true_means_the_arg_in_both(tmp_path: Path) -> None:
    spec = _spec(
        f"""
name: truth
input: [1, 3, 8, 8]
blocks:
  B:
    args: {{"true": false}}
    layers:
      - Conv2d: {{out_channels: "$(8 if true else 16)", kernel_size: 1}}
      - Conv2d: {{out_channels: "$({TOUCH} if true else 4)", kernel_size: 1}}
      - ReLU: {{if: $true}}
layers:
  - B
""",
        tmp_path,
    )
    summary = run_capped(spec, "--format", "json", cwd=tmp_path)
    assert summary.returncode == 0, summary.stderr[-3000:]
    # cnnshape reads the arg (false): 16 channels, then 4, and no ReLU.
    shapes = [tuple(row["output_shape"]) for row in json.loads(summary.stdout)["layers"]]
    assert shapes == [(1, 16, 8, 8), (1, 4, 8, 8)]
    code, written = _exported(spec, tmp_path)
    assert "__import__" not in code  # the call outside the evaluator's whitelist never reaches the code
    ast.parse(code)
    _verified(spec)
    done = _import_in_subprocess([written], tmp_path)
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "pwned").exists()


def test_an_expression_with_an_arg_named_true_is_translated_with_the_arg() -> None:
    text = """
name: truth
input: [1, 3, 8, 8]
blocks:
  B:
    args: {"true": false}
    layers:
      - Conv2d: {out_channels: "$(8 if true else 16)", kernel_size: 1}
layers:
  - B
  - B: {"true": true}
"""
    analysed = analyse_source(load_text(text))
    code = export_analysed(analysed)
    assert "def __init__(self, in_channels: int, true=False):" in code
    assert "nn.Conv2d(in_channels, 8 if true else 16, 1)" in code
    module = load_code(code)
    model = module.build()
    assert [m.out_channels for m in model.modules() if isinstance(m, torch.nn.Conv2d)] == [16, 8]


@pytest.mark.parametrize(
    "block",
    [
        "nn",
        "super",
        "build",
        "torch",
        "INPUT_SHAPE",
        "SPEC_NAME",
        "math",
        "_div",
        "make_divisible",
        "x",
        "self",
        "range",
    ],
)
def test_blocks_named_like_the_files_own_names(block: str, tmp_path: Path) -> None:
    spec = _spec(
        f"""
name: {block}
input: [1, 3, 8, 8]
args: {{torch: 2, nn: 3}}
blocks:
  {block}:
    args: {{super: 4, build: 1}}
    layers:
      - Conv2d: {{out_channels: "$(super * build)", kernel_size: 1}}
      - Conv2d: {{out_channels: "$(torch * nn)", kernel_size: 1}}
layers:
  - {block}
  - {block}: {{super: 8}}
  - Add: {{from: [{block.lower()}_1, {block.lower()}_2]}}
""",
        tmp_path,
    )
    code, _ = _exported(spec, tmp_path)
    ast.parse(code)
    _verified(spec)


def test_nan_and_infinities_are_written_as_floats() -> None:
    text = """
name: floats
input: [1, 3, 8, 8]
args: {a: .nan, b: .inf, c: -.inf, d: [.nan, 1.5]}
layers:
  - Conv2d: {out_channels: 4, kernel_size: 1}
"""
    code = export_analysed(analyse_source(load_text(text)))
    assert "a = float('nan')" in code and "b = float('inf')" in code and "c = -float('inf')" in code
    module = load_code(code)
    assert math.isnan(module.a) and module.b == math.inf and module.c == -math.inf and math.isnan(module.d[0])


def test_import_never_runs_a_module_from_the_current_folder_unasked(tmp_path: Path) -> None:
    (tmp_path / "torchvision.py").write_text("open('pwned', 'w').close()\n", encoding="utf-8")
    (tmp_path / "evilmod.py").write_text(
        "open('pwned', 'w').close()\nimport torch\nnet = torch.nn.ReLU()\n", encoding="utf-8"
    )
    command = [sys.executable, "-m", "cnnshape", "import"]
    capped([*command, "torchvision.models:resnet18", "--input", "1,3,32,32"], torch=True, cwd=tmp_path)
    assert not (tmp_path / "pwned").exists(), "a torchvision.py in the current folder ran"
    done = capped([*command, "evilmod:net", "--input", "1,3,8,8"], torch=True, cwd=tmp_path)
    assert done.returncode == 1 and "cannot import evilmod" in done.stderr, done.stderr
    assert not (tmp_path / "pwned").exists()
    # Asked for, the folder is searched (and its module runs: import runs code, as documented).
    done = capped([*command, "evilmod:net", "--input", "1,3,8,8", "--path", "."], torch=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "pwned").exists()


def test_import_help_says_it_runs_the_target() -> None:
    result = run("import", "--help")
    assert "runs that code" in " ".join(result.output.split())
    assert "--path" in result.output


# --- every zoo and corpus spec, plain and with payloads, in a fresh Python --------------------


def _hostile(data: dict) -> dict:
    """The spec with a payload in every place text can go: name, descriptions, an arg name
    at network and block level."""
    data = dict(data)
    data["name"] = PAYLOADS[1]
    data["description"] = PAYLOADS[2]
    data["args"] = {**(data.get("args") or {}), PAYLOADS[0]: 1}
    blocks = {}
    for name, block in (data.get("blocks") or {}).items():
        block = dict(block)
        block["description"] = PAYLOADS[3]
        block["args"] = {**(block.get("args") or {}), PAYLOADS[4]: 2}
        blocks[name] = block
    if blocks:
        data["blocks"] = blocks
    return data


SPEC_FILES = sorted((ROOT / "specs").glob("*.yaml")) + sorted((ROOT / "tests" / "specs" / "valid").glob("*.yaml"))


def test_every_zoo_and_valid_spec_exports_to_inert_code(tmp_path: Path) -> None:
    written: list[Path] = []
    exported = 0
    for path in SPEC_FILES:
        try:
            plain = export_file(path)
        except SpecError:
            continue  # a spec that does not analyse is not exported
        except ExportError as exc:
            assert "reaches inside a block use" in str(exc)  # the documented limit (docs/torch.md)
            continue
        exported += 1
        ast.parse(plain)
        written.append(_write(plain, tmp_path, f"plain_{path.stem}.py"))
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or "layers" not in data:
            continue  # another dialect (an Ultralytics file): no native names to poison
        hostile = _spec(yaml.safe_dump(_hostile(data), allow_unicode=True, sort_keys=False), tmp_path, HOSTILE_FILE)
        code = export_file(hostile)
        ast.parse(code)
        written.append(_write(code, tmp_path, f"hostile_{path.stem}.py"))
    assert exported >= len(SPEC_FILES) - 2
    done = _import_in_subprocess(written, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines()[-1] == f"built {len(written)}"
    assert not (tmp_path / "pwned").exists()


# --- any text, through export ---------------------------------------------------------------

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=TEXT, description=TEXT, block_description=TEXT, arg=TEXT.filter(bool), block_arg=TEXT.filter(bool))
@example(
    name="", description="", block_description="", arg="_", block_arg="0"
)  # `_` is taken: `__2` would be class-mangled
def test_any_names_and_descriptions_export_to_code_that_keeps_them_as_data(
    name: str, description: str, block_description: str, arg: str, block_arg: str
) -> None:
    text = yaml.safe_dump(
        {
            "name": name,
            "description": description,
            "input": [1, 2, 4, 4],
            "args": {arg: 3},
            "blocks": {
                "B": {
                    "description": block_description,
                    "args": {block_arg: 5, "w": 2},
                    "layers": [{"Conv2d": {"out_channels": "$w", "kernel_size": 1}}],
                }
            },
            "layers": ["B", {"B": {"w": 4}}],
        },
        allow_unicode=True,
        sort_keys=False,
    )
    try:
        analysed = analyse_source(load_text(text))
    except SpecError:
        return  # refused with located problems (a keyword as an arg name, ...): nothing to export
    spec = analysed.spec
    code = export_analysed(analysed)
    ast.parse(code)
    module = load_code(code)
    assert spec.name == module.SPEC_NAME
    assert module.B.__doc__ == (spec.blocks["B"].description or "cnnshape block B.")
    values = {key: value for key, value in vars(module).items() if not key.startswith("__")}
    assert 3 in values.values()  # the network arg, under some identifier
    with torch.device("meta"):
        model = module.build()
    assert [m.out_channels for m in model.modules() if isinstance(m, torch.nn.Conv2d)] == [2, 4]
