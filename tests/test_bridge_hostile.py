"""A spec is untrusted input, and `cnnshape verify` runs what `cnnshape export` writes:
spec text must never become code (issue 17 section 1). Each attack below once ran a shell
command; each payload here would create a marker file `pwned` in the working folder if
any of it ran. Outcomes are exact: the export parses, imports and builds without touching
the marker, and verify gives cnnshape's numbers.

Every export, verify and import of an attack, of every zoo and corpus spec and of the
hypothesis examples runs in a child under tests/test_hostile.py's caps (`capped`: 1 GiB,
60 s of CPU), as the hostile corpus does. Two tests call export in this process on fixed,
payload-free texts (an arg named `true`, NaN and infinities) to look at the code itself."""

from __future__ import annotations

import ast
import json
import math
import subprocess
import sys
import tempfile
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
from cnnshape.bridge.export import export_analysed  # noqa: E402
from cnnshape.bridge.verify import load_code  # noqa: E402
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
    Python whose working folder is `folder` (where a payload would create `pwned`). The
    child fails (exit 3) the moment anything asks to run a command (an audit hook on
    os.system, exec, spawn, fork and subprocess, set once torch is imported) and after any
    file whose import or build leaves the marker. Prints one JSON line per file
    (SPEC_NAME, SPEC_FILE, each class's docstring, the module's int values, each Conv2d's
    out_channels), then `built N`."""
    script = (
        "import importlib.util, json, os, sys, torch\n"
        "RUNS = ('os.system', 'os.exec', 'os.posix_spawn', 'os.spawn', 'os.fork', 'subprocess.Popen')\n"
        "def refuse(event, args):\n"
        "    if event in RUNS:\n"
        "        sys.stderr.write(f'asked to run a command: {event} {args!r}\\n')\n"
        "        os._exit(3)\n"
        "sys.addaudithook(refuse)\n"
        "for i, path in enumerate(sys.argv[1:]):\n"
        "    spec = importlib.util.spec_from_file_location(f'exported_{i}', path)\n"
        "    module = importlib.util.module_from_spec(spec)\n"
        "    spec.loader.exec_module(module)\n"
        "    with torch.device('meta'):\n"
        "        model = module.build()\n"
        "    if os.path.exists('pwned'):\n"
        "        sys.exit(f'{path} touched the marker')\n"
        "    docs = {k: v.__doc__ for k, v in vars(module).items() if isinstance(v, type) and v.__module__ == module.__name__}\n"
        "    values = [v for k, v in vars(module).items() if not k.startswith('__') and type(v) is int]\n"
        "    convs = [m.out_channels for m in model.modules() if isinstance(m, torch.nn.Conv2d)]\n"
        "    row = {'name': module.SPEC_NAME, 'file': module.SPEC_FILE, 'docs': docs, 'values': values, 'convs': convs}\n"
        "    print(json.dumps(row))\n"
        "print('built', len(sys.argv) - 1)\n"
    )
    return capped([sys.executable, "-c", script, *map(str, files)], torch=True, cwd=folder)


# `cnnshape export` of many specs in one capped child (no torch): per spec, what became of
# it (refused with located problems, an export error and its message, or exported with the
# analysed name and block descriptions), as one JSON line.
EXPORT_SCRIPT = """
import json, sys
from pathlib import Path
from cnnshape.bridge.analysed import analyse_source
from cnnshape.bridge.export import ExportError, export_analysed
from cnnshape.errors import SpecError
from cnnshape.source import load_file
for spec, out in zip(sys.argv[1::2], sys.argv[2::2]):
    row = {"spec": spec, "out": out}
    try:
        analysed = analyse_source(load_file(spec))
        Path(out).write_text(export_analysed(analysed), encoding="utf-8")
    except SpecError:
        row["outcome"] = "refused"
    except ExportError as exc:
        row.update(outcome="export-error", message=str(exc))
    else:
        blocks = {name: block.description for name, block in analysed.spec.blocks.items()}
        row.update(outcome="exported", name=analysed.spec.name, blocks=blocks)
    print(json.dumps(row))
"""


def _export_in_subprocess(specs: list[Path], folder: Path) -> dict[str, dict]:
    """Export each spec (to exported_I.py in `folder`) in one child under the caps, from
    `folder`: {spec: its EXPORT_SCRIPT row}."""
    folder.mkdir(parents=True, exist_ok=True)
    pairs = [str(part) for i, spec in enumerate(specs) for part in (spec, folder / f"exported_{i}.py")]
    done = capped([sys.executable, "-c", EXPORT_SCRIPT, *pairs], cwd=folder)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-3000:]
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [row["spec"] for row in rows] == [str(spec) for spec in specs]
    return {row["spec"]: row for row in rows}


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
    for number, (payload, module) in enumerate(zip(PAYLOADS[1:], found, strict=True)):
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


ZOO = sorted((ROOT / "specs").glob("*.yaml"))
CORPUS = sorted((ROOT / "tests" / "specs").glob("*/*.yaml"))  # valid, small and invalid


def test_every_zoo_and_corpus_spec_exports_to_inert_code(tmp_path: Path) -> None:
    """Every zoo and corpus spec that analyses is exported (in a capped child), plain and
    with a payload in every place text goes; each result parses, and all of them are
    imported and built in another capped child, which fails if anything runs a command."""
    plain = _export_in_subprocess(ZOO + CORPUS, tmp_path / "plain")
    exported = [path for path in ZOO + CORPUS if plain[str(path)]["outcome"] == "exported"]
    for path in ZOO + CORPUS:
        row = plain[str(path)]
        if row["outcome"] == "export-error":
            assert "reaches inside a block use" in row["message"]  # the documented limit (docs/torch.md)
        elif path.parent.name != "invalid":
            assert row["outcome"] == "exported", row
    healthy = [path for path in ZOO + CORPUS if path.parent.name != "invalid"]
    assert len([path for path in exported if path in healthy]) >= len(healthy) - 2
    hostile: list[Path] = []
    for path in exported:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or "layers" not in data:
            continue  # another dialect (an Ultralytics file): no native names to poison
        folder = tmp_path / "hostile" / path.stem
        folder.mkdir(parents=True)
        hostile.append(_spec(yaml.safe_dump(_hostile(data), allow_unicode=True, sort_keys=False), folder, HOSTILE_FILE))
    poisoned = _export_in_subprocess(hostile, tmp_path / "hostile")
    assert [row["outcome"] for row in poisoned.values()] == ["exported"] * len(hostile)
    written = [Path(plain[str(path)]["out"]) for path in exported] + [Path(row["out"]) for row in poisoned.values()]
    for path in written:
        ast.parse(path.read_text(encoding="utf-8"))
    done = _import_in_subprocess(written, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines()[-1] == f"built {len(written)}"
    assert not list(tmp_path.rglob("pwned"))


# --- any text, through export ---------------------------------------------------------------

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
TEXTS = st.tuples(TEXT, TEXT, TEXT, TEXT.filter(bool), TEXT.filter(bool))


def _any_text_spec(name: str, description: str, block_description: str, arg: str, block_arg: str) -> str:
    return yaml.safe_dump(
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


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.lists(TEXTS, min_size=1, max_size=12))
@example(batch=[("", "", "", "_", "0")])  # `_` is taken: `__2` would be class-mangled
def test_any_names_and_descriptions_export_to_code_that_keeps_them_as_data(
    batch: list[tuple[str, str, str, str, str]],
) -> None:
    """Each example is a batch of specs, exported in one capped child and imported in
    another (a child per spec would pay torch's import for each): up to 60 specs in all.
    A spec cnnshape refuses (a keyword as an arg name, ...) has nothing to export."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        specs = [_spec(_any_text_spec(*texts), folder, f"spec_{i}.yaml") for i, texts in enumerate(batch)]
        rows = _export_in_subprocess(specs, folder / "out")
        assert {row["outcome"] for row in rows.values()} <= {"refused", "exported"}, rows
        exported = [row for row in rows.values() if row["outcome"] == "exported"]
        if not exported:
            return
        for row in exported:
            ast.parse(Path(row["out"]).read_text(encoding="utf-8"))
        done = _import_in_subprocess([Path(row["out"]) for row in exported], folder)
        assert done.returncode == 0, done.stderr[-3000:]
        found = [json.loads(line) for line in done.stdout.splitlines()[:-1]]
        assert len(found) == len(exported)
        for row, module in zip(exported, found, strict=True):
            assert module["name"] == row["name"]
            assert module["docs"]["B"] == (row["blocks"]["B"] or "cnnshape block B.")
            assert 3 in module["values"]  # the network arg, under some identifier
            assert module["convs"] == [2, 4]
        assert not list(folder.rglob("pwned"))
