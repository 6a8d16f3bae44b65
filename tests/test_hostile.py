"""Hostile input, end to end: each case runs `cnnshape` in a child process under a memory
cap (1 GiB) and a time cap (60 s of CPU: a blow-up or a quadratic path fails whatever else
the machine is running; a hang, which uses no CPU, meets a wall-clock timeout ten times
that), and must end with its exact outcome: a located `line:col [code]` error and exit 1,
or a clean result, and never a traceback. Nothing is timed.

Positions are worked out by hand from each text (see the comments); numbers that a case
checks (parameters, limits) are written out."""

from __future__ import annotations

import importlib.util
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

MEMORY_CAP = 1 << 30  # 1 GiB for the child
TIME_CAP = 60  # seconds of CPU: a bound on blow-ups, far above any honest run
HANG_CAP = 10 * TIME_CAP  # seconds of wall clock: a bound on hangs, even on a busy machine
ROOT = Path(__file__).resolve().parent.parent


def capped(
    command: list[str], *, torch: bool = False, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """`command` in a child under the caps. The memory cap is on address space, except for
    a child that imports PyTorch (`torch=True`: verify, or an exported file), whose shared
    libraries alone map more than 1 GiB: there it caps the data segment (heap and anonymous
    mappings, where a blow-up grows) at the same 1 GiB."""
    limit = resource.RLIMIT_DATA if torch else resource.RLIMIT_AS

    def cap() -> None:
        resource.setrlimit(limit, (MEMORY_CAP, MEMORY_CAP))
        resource.setrlimit(resource.RLIMIT_CPU, (TIME_CAP, TIME_CAP))

    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "120", "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=HANG_CAP,
        preexec_fn=cap,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )


def run(
    path: Path | str, *args: str, command: str = "summary", torch: bool = False, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    """`cnnshape COMMAND PATH ARGS...` under the caps."""
    return capped([sys.executable, "-m", "cnnshape", command, str(path), *args], torch=torch, cwd=cwd)


def billion_laughs() -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]
    return "\n".join(lines + ["name: bomb", "input: [1, 3, 8, 8]", "layers: *a9"]) + "\n"


def nested_blocks(depth: int) -> str:
    lines = ["name: nest", "input: [1, 3, 8, 8]", "blocks:"]
    for i in range(depth):
        inner = f"B{i + 1}" if i + 1 < depth else "ReLU"
        lines += [f"  B{i}:", "    layers:", f"      - {inner}"]
    return "\n".join(lines + ["layers:", "  - B0"]) + "\n"


CASES = {
    "alias-bomb": (billion_laughs(), "limit"),
    "deep-sequence": ("name: d\ninput: [1]\nlayers: " + "[" * 20000 + "]" * 20000 + "\n", "yaml-syntax"),
    "deep-mapping": ("name: d\ninput: [1]\nlayers:\n  - x: " + "{a: " * 5000 + "1" + "}" * 5000 + "\n", "yaml-syntax"),
    "huge-repeat-of-a-block": (
        "name: r\ninput: [1, 3, 8, 8]\nblocks:\n  B:\n    layers:\n      - ReLU: {repeat: 100}\n"
        "layers:\n  - B: {repeat: 200000}\n",
        "limit",
    ),
    "nested-repeats": (
        "name: r\ninput: [1, 3, 8, 8]\nblocks:\n  B:\n    layers:\n      - ReLU: {repeat: 1000}\n"
        "  C:\n    layers:\n      - B: {repeat: 1000}\nlayers:\n  - C: {repeat: 1000}\n",
        "limit",
    ),
    "repeat-past-the-limit": ("name: r\ninput: [1, 3, 8, 8]\nlayers:\n  - ReLU: {repeat: 10000000}\n", "bad-value"),
    "blocks-nested-too-deep": (nested_blocks(80), "limit"),
    "block-cycle": (
        "name: c\ninput: [1, 3, 8, 8]\nblocks:\n  A:\n    layers: [B]\n  B:\n    layers: [A]\nlayers: [A]\n",
        "cycle",
    ),
    "huge-tensor": ("name: t\ninput: [1, 3, 100000000, 100000000]\nlayers:\n  - ReLU\n", "limit"),
    "huge-channels": (
        "name: t\ninput: [1, 3, 8, 8]\nlayers:\n  - Conv2d: {out_channels: 100000000000000, kernel_size: 3}\n",
        "limit",
    ),
    "power-tower": (
        "name: p\ninput: [1, 3, 8, 8]\nargs: {w: '$(10 ** 10 ** 10)'}\nlayers:\n  - ReLU\n",
        "bad-expression",
    ),
    "string-doubling": (
        "name: s\ninput: [1, 3, 8, 8]\nargs:\n  s0: abcdefghij\n"
        + "".join(f"  s{i + 1}: $s{i}$s{i}\n" for i in range(40))
        + "layers:\n  - ReLU\n",
        "bad-expression",
    ),
    "long-expression": (
        "name: e\ninput: [1, 3, 8, 8]\nargs: {w: '$(" + "1+" * 5000 + "1)'}\nlayers:\n  - ReLU\n",
        "bad-expression",
    ),
    "python-object-tag": (
        "name: x\ninput: [1]\nlayers: !!python/object/apply:os.system ['true']\n",
        "yaml-unsupported",
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_spec_gives_a_located_error(tmp_path, name):
    text, code = CASES[name]
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    result = run(path)
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line.startswith(str(path))]
    assert lines, result.stderr[-2000:]
    assert any(f"[{code}]" in line for line in lines), result.stderr[-2000:]


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path):
    path = tmp_path / "big.yaml"
    with path.open("w") as handle:
        handle.write("name: big\ninput: [1, 3, 8, 8]\nlayers:\n")
        line = "  - ReLU  # " + "x" * 100 + "\n"
        handle.write(line * (17 * 1024 * 1024 // len(line)))
    result = run(path)
    assert result.returncode == 1 and "[limit]" in result.stderr and "Traceback" not in result.stderr


# --- issue 17: each case with its exact place ---------------------------------------------

HEAD = "name: t\ninput: [1, 3, 8, 8]\n"


def _primes(count: int) -> list[int]:
    primes: list[int] = []
    candidate = 2
    while len(primes) < count:
        if all(candidate % p for p in primes if p * p <= candidate):
            primes.append(candidate)
        candidate += 1
    return primes


def _rf_growth() -> str:
    # Up by p then down by p, for the first 2,000 primes: the shapes stay put while the
    # receptive field's stride and padding become fractions over ever larger products of
    # primes. The product of the first 16 primes, 32,589,158,477,190,044,730 (> 2**63),
    # is reached at pair 16, whose ConvTranspose1d is line 3 + 2 * 16 - 1 = 34.
    lines = ["name: rf", "input: [1, 1, 16]", "layers:"]
    for p in _primes(2000):
        lines.append(f"  - ConvTranspose1d: {{out_channels: 1, kernel_size: {p}, stride: {p}}}")
        lines.append(f"  - Conv1d: {{out_channels: 1, kernel_size: {p}, stride: {p}}}")
    return "\n".join(lines) + "\n"


def _many_values() -> str:
    # 7.9 million list items in 15.8 MB (under the 16 MiB file limit). The document's values
    # in order: the root mapping, `name`, `n`, `input`, its list, `1` (6), `args`, its
    # mapping, `a`, its list (10); item k is value 10 + k, so value 2,000,001 is item
    # 1,999,991, at column len("args: {a: [") + 1 + 2 * (1,999,991 - 1) = 3,999,992.
    return "name: n\ninput: [1]\nargs: {a: [" + ",".join(["1"] * 7_900_000) + "]}\nlayers: [ReLU]\n"


LOCATED = {
    # §3: 0 ** -1 is a division by zero; the value starts after "args: {v: " (10 chars).
    "zero-to-a-negative-power": (HEAD + "args: {v: '$(0 ** -1)'}\nlayers:\n  - ReLU\n", "3:11 bad-expression"),
    # §3: merge keys that merge no mapping; the value after "  - ReLU: {<<: " (15 chars).
    "merge-key-scalar": (HEAD + "layers:\n  - ReLU: {<<: 5}\n", "4:16 yaml-unsupported"),
    "merge-key-list-of-scalars": (HEAD + "layers:\n  - ReLU: {<<: [5]}\n", "4:17 yaml-unsupported"),
    # §3: receptive-field fractions past 2**63 (see _rf_growth), at the layer's kind.
    "receptive-field-digits": (_rf_growth(), "34:5 limit"),
    # §4: the node limit while parsing (see _many_values).
    "values-past-the-limit-while-parsing": (_many_values(), "3:3999992 limit"),
    # §4: `$l$l` splices a 20,000-item list twice into text: past 10,000 characters.
    "splicing-a-long-list": (
        HEAD + "args:\n  l: [" + ", ".join(["1"] * 20000) + "]\n  s: $l$l\nlayers:\n  - ReLU\n",
        "5:6 bad-expression",
    ),
    # §5: Linear(2**49, 2**49) holds 2**98 + 2**49 parameters, past 2**50 per layer.
    "parameters-past-2-50": (
        "name: t\ninput: [1, 562949953421312]\nlayers:\n  - Linear: {out_features: 562949953421312}\n",
        "4:5 limit",
    ),
    # §5: a block that uses itself where the use is switched off is still a cycle.
    "cycle-behind-if-false": (
        HEAD + "blocks:\n  A:\n    layers:\n      - ReLU\n      - A: {if: false}\nlayers: [A]\n",
        "7:9 cycle",
    ),
    "cycle-behind-repeat-0": (
        HEAD + "blocks:\n  A:\n    layers:\n      - ReLU\n      - A: {repeat: 0}\nlayers: [A]\n",
        "7:9 cycle",
    ),
    "cycle-through-another-block": (
        HEAD
        + "blocks:\n  A:\n    layers:\n      - ReLU\n      - B\n  B:\n    layers:\n      - A: {repeat: 0}\nlayers: [B]\n",
        "10:9 cycle",
    ),
    # §2: a name is an identifier to its end: `relu\n` is not one (a regex `$` let it
    # through); "  - ReLU: {name: " is 17 characters.
    "name-with-a-trailing-newline": (HEAD + 'layers:\n  - ReLU: {name: "relu\\n"}\n', "4:18 bad-value"),
    # §5: (-8) ** 0.5 is complex; "args: {v: " is 10 characters.
    "complex-number": (HEAD + "args: {v: '$((-8) ** 0.5)'}\nlayers:\n  - ReLU\n", "3:11 bad-expression"),
    # §5: NaN and infinities as layer arguments, each at its value.
    "eps-nan": (HEAD + "layers:\n  - BatchNorm2d: {eps: .nan}\n", "4:24 bad-value"),
    "momentum-minus-inf": (HEAD + "layers:\n  - BatchNorm2d: {momentum: -.inf}\n", "4:29 bad-value"),
    "negative-slope-inf": (HEAD + "layers:\n  - LeakyReLU: {negative_slope: .inf}\n", "4:33 bad-value"),
    # §5: YAML 1.1 read 1:30 as 90; it is the text '1:30', which out_channels refuses
    # (located where the arg was written: after "args: {a: ").
    "sexagesimal-is-text": (
        HEAD + "args: {a: 1:30}\nlayers:\n  - Conv2d: {out_channels: $a, kernel_size: 1}\n",
        "3:11 bad-value",
    ),
    # §5: a full-width `ａ` is not the arg `a`; "  - Conv2d: {out_channels: " is 27 chars.
    "full-width-name": (
        HEAD + "args: {a: 4}\nlayers:\n  - Conv2d: {out_channels: $(\uff41), kernel_size: 1}\n",
        "5:28 bad-expression",
    ),
}


def _assert_located(result: subprocess.CompletedProcess, path: Path, expected: str) -> None:
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    where, code = expected.split()
    lines = [line for line in result.stderr.splitlines() if line.startswith(f"{path}:")]
    assert any(line.startswith(f"{path}:{where}:") and line.endswith(f"[{code}]") for line in lines), result.stderr[
        -2000:
    ]


@pytest.mark.parametrize("name", sorted(LOCATED))
def test_issue_17_case_gives_its_located_error(tmp_path: Path, name: str) -> None:
    text, expected = LOCATED[name]
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    _assert_located(run(path), path, expected)


def test_nan_and_infinities_are_refused_with_their_own_messages(tmp_path: Path) -> None:
    path = tmp_path / "nan.yaml"
    path.write_text(
        HEAD + "layers:\n  - BatchNorm2d: {eps: .nan, momentum: -.inf}\n  - LeakyReLU: {negative_slope: .inf}\n"
    )
    result = run(path)
    # "  - BatchNorm2d: {eps: " is 23 characters, ".nan, momentum: " 16 more.
    for where in ("4:24", "4:40", "5:33"):
        assert f"{path}:{where}: error: " in result.stderr and "finite" in result.stderr, result.stderr


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "symlink-to-dev-zero", "sparse-3-gb"])
def test_files_that_are_not_small_regular_files_are_refused_unread(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "spec.yaml"
    if kind == "fifo":
        os.mkfifo(path)  # nobody writes: reading it would block forever
    elif kind == "dev-zero":
        path = Path("/dev/zero")
    elif kind == "symlink-to-dev-zero":
        path.symlink_to("/dev/zero")
    else:
        with path.open("wb") as handle:
            handle.truncate(3 * 1024**3)  # sparse: no disk used, 3 GiB of zeros to read
    code = "limit" if kind == "sparse-3-gb" else "file-unreadable"
    _assert_located(run(path), path, f"1:1 {code}")


def test_one_bad_expression_does_not_empty_a_sarif_run(tmp_path: Path) -> None:
    folder = tmp_path / "specs"
    folder.mkdir()
    (folder / "good.yaml").write_text(HEAD + "layers:\n  - ReLU\n")
    (folder / "zero.yaml").write_text(HEAD + "args: {v: '$(0 ** -1)'}\nlayers:\n  - ReLU\n")
    result = run(folder, "-f", "sarif", command="lint")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    import json

    results = json.loads(result.stdout)["runs"][0]["results"]
    located = {
        (
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].rsplit("/", 1)[-1],
            r["locations"][0]["physicalLocation"]["region"]["startLine"],
            r["ruleId"],
        )
        for r in results
    }
    assert ("zero.yaml", 3, "bad-expression") in located, located


def test_an_alias_bomb_through_set_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "net.yaml"
    path.write_text(HEAD + "args: {v: [1]}\nlayers:\n  - ReLU\n")
    lines = ["[&a0 [x, x, x, x, x, x, x, x, x, x]"] + [
        f"&a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)
    ]
    result = run(path, "--set", "v=" + ", ".join(lines) + "]")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert "alias" in result.stderr


def test_an_input_of_5000_digits_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "net.yaml"
    path.write_text(HEAD + "layers:\n  - ReLU\n")
    result = run(path, "--input", "1," + "9" * 5000)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]


def test_a_sweep_grid_is_counted_before_it_is_expanded(tmp_path: Path) -> None:
    path = tmp_path / "net.yaml"
    path.write_text(HEAD + "layers:\n  - ReLU\n")
    # 1,000 x 1,000 x 1,000 = 10**9 shapes if expanded first.
    result = run(path, "--input", "1,{1..1000},{1..1000},{1..1000}", command="sweep")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert "1,000" in result.stderr


@pytest.mark.parametrize(
    ("name", "args"),
    [
        # 2,000 args each reading the one before, and 20,000 plain args: read in linear time.
        ("chained-args", "".join(f"  a{i}: $a{i - 1}\n" for i in range(1, 2000))),
        ("plain-args", "".join(f"  b{i}: {i}\n" for i in range(20000))),
    ],
)
def test_many_network_args_analyse(tmp_path: Path, name: str, args: str) -> None:
    path = tmp_path / f"{name}.yaml"
    path.write_text(HEAD + "args:\n  a0: 3\n" + args + "layers:\n  - Conv2d: {out_channels: $a0, kernel_size: 1}\n")
    result = run(path, "-f", "json")
    assert result.returncode == 0, result.stderr[-2000:]
    import json

    assert json.loads(result.stdout)["totals"]["params"] == 3 * 3 + 3  # 1x1 conv 3 -> 3 and its bias


def test_an_outputs_list_of_200000_entries(tmp_path: Path) -> None:
    # Linear all the way: the totals list the first 100 outputs and count the rest.
    path = tmp_path / "outputs.yaml"
    path.write_text(HEAD + "layers:\n  - ReLU: {name: r}\noutputs: [" + ", ".join(["r"] * 200_000) + "]\n")
    result = run(path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "199,900 more, 200,000 in all" in result.stdout


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="export needs the torch extra")
def test_export_of_a_long_repeat_finishes(tmp_path: Path) -> None:
    """`ReLU: {repeat: 50000}` (export's limit) exports its 50,000 copies under the caps.
    Looking up each copy used to scan every copy (quadratic: 48 s at 40,000 copies); now it
    finishes, with one module per copy, and the file compiles."""
    spec = tmp_path / "rep.yaml"
    spec.write_text("name: r\ninput: [1, 3, 8, 8]\nlayers:\n  - ReLU: {repeat: 50000}\n")
    out = tmp_path / "rep.py"
    done = run(spec, "--to", "pytorch", "-o", str(out), command="export")
    assert done.returncode == 0, done.stderr[-2000:]
    code = out.read_text()
    compile(code, str(out), "exec")  # parses; nothing is run
    assert code.count(" = nn.ReLU()") == 50000


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="export needs the torch extra")
def test_export_past_its_limit_is_refused_under_the_caps(tmp_path: Path) -> None:
    """`ReLU: {repeat: 250000}` is within the layer limit, but its exported file would take
    about 1.8 GB to compile: export says so and exits 1 (it was a MemoryError traceback
    under the 1 GiB cap), and writes nothing."""
    spec = tmp_path / "rep.yaml"
    spec.write_text("name: r\ninput: [1, 3, 8, 8]\nlayers:\n  - ReLU: {repeat: 250000}\n")
    out = tmp_path / "rep.py"
    done = run(spec, "--to", "pytorch", "-o", str(out), command="export")
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert "the network has 250,000 layers; export writes one module per layer and stops at 50,000" in done.stderr
    assert not out.exists()


# --- the layer limit, whole: 250,000 layers under the caps --------------------------------

# 125,000 3x3 convolutions (16 -> 16 channels, padding 1: the 32x32 map keeps its size),
# then 125,000 ReLUs: 250,000 layers, the documented limit. By hand:
#   parameters per conv  3*3*16*16 + 16 = 2,320;   x 125,000 = 290,000,000
#   MACs per conv        (16*32*32 outputs) x (16*3*3) = 16,384 x 144 = 2,359,296;
#                        x 125,000 = 294,912,000,000
#   receptive field      each 3x3, stride-1 conv widens it by 2: 1 + 2 * 125,000 = 250,001,
#                        padding 125,000; ReLUs keep it.
LIMIT_CHAIN = (
    "name: limit\ninput: [1, 16, 32, 32]\nlayers:\n"
    "  - Conv2d: {out_channels: 16, kernel_size: 3, padding: 1, repeat: 125000}\n"
    "  - ReLU: {repeat: 125000}\n"
)
WHOLE_FIELD = {"size": 250_001, "stride": 1, "padding": 125_000, "exact": True}  # the last layer's, per axis


def test_250000_layers_as_json_under_the_caps(tmp_path: Path) -> None:
    import json

    path = tmp_path / "limit.yaml"
    path.write_text(LIMIT_CHAIN)
    result = run(path, "--format", "json")
    assert result.returncode == 0, result.stderr[-2000:]
    data = json.loads(result.stdout)
    assert data["totals"]["layers"] == 250_000 and len(data["layers"]) == 250_000
    assert data["totals"]["params"] == 290_000_000
    assert data["totals"]["macs"] == 294_912_000_000
    assert data["layers"][-1]["name"] == "relu_125000"
    assert data["layers"][-1]["receptive_field"]["axes"][0] == WHOLE_FIELD


def test_250000_layers_written_out_as_json_under_the_caps(tmp_path: Path) -> None:
    """LIMIT_CHAIN's layers with no `repeat`: 250,000 lines of YAML (8.5 MB), each layer
    its own value with its own position. Built from the parser's events, positions
    recorded only when a problem needs them, it peaks at about 585 MiB of RSS and also
    runs under a 600 MiB cap; when PyYAML's node tree and 1.25 million recorded positions
    coexisted it took 832 MiB and failed under an 800 MiB cap."""
    import json

    path = tmp_path / "written.yaml"
    conv = "  - Conv2d: {out_channels: 16, kernel_size: 3, padding: 1}\n"
    path.write_text("name: limit\ninput: [1, 16, 32, 32]\nlayers:\n" + conv * 125_000 + "  - ReLU\n" * 125_000)
    result = run(path, "--format", "json")
    assert result.returncode == 0, result.stderr[-2000:]
    data = json.loads(result.stdout)
    # The totals worked out above LIMIT_CHAIN: 2,320 parameters and 2,359,296 MACs per conv.
    assert data["totals"]["layers"] == 250_000 and len(data["layers"]) == 250_000
    assert data["totals"]["params"] == 125_000 * 2_320 == 290_000_000
    assert data["totals"]["macs"] == 125_000 * 2_359_296 == 294_912_000_000
    assert [data["layers"][i]["name"] for i in (0, 124_999, 125_000, -1)] == [
        "conv2d_1",
        "conv2d_125000",
        "relu_1",
        "relu_125000",
    ]
    assert data["layers"][-1]["receptive_field"]["axes"][0] == WHOLE_FIELD


def test_a_problem_in_a_written_out_250000_layer_file_is_located(tmp_path: Path) -> None:
    """A large file is loaded without positions; a problem makes it walk the text again,
    recording them, and each problem is located exactly. The file is the one above with
    two convolutions changed: layer 100,000 (line 3 + 100,000) has `out_channels: 0`,
    after "  - Conv2d: {out_channels: " (27 characters), and the next one writes
    `kernel_size` twice."""
    path = tmp_path / "written.yaml"
    conv = "  - Conv2d: {out_channels: 16, kernel_size: 3, padding: 1}\n"
    bad = "  - Conv2d: {out_channels: 0, kernel_size: 3, padding: 1}\n"
    dup = "  - Conv2d: {out_channels: 16, kernel_size: 3, kernel_size: 3, padding: 1}\n"
    layers = conv * 99_999 + bad + dup + conv * 24_999 + "  - ReLU\n" * 125_000
    path.write_text("name: limit\ninput: [1, 16, 32, 32]\nlayers:\n" + layers)
    result = run(path, "--format", "json")
    _assert_located(result, path, "100003:28 bad-value")
    # The second `kernel_size` on line 100,004 follows "  - Conv2d: {out_channels: 16,
    # kernel_size: 3, " (47 characters).
    _assert_located(result, path, "100004:48 yaml-unsupported")
    assert "duplicate key 'kernel_size' (first at line 100004)" in result.stderr


def test_250000_layers_as_a_table_under_the_caps(tmp_path: Path) -> None:
    path = tmp_path / "limit.yaml"
    path.write_text(LIMIT_CHAIN)
    result = run(path)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    rows = [line.split() for line in lines if line.startswith((" conv2d_", " relu_"))]
    assert len(rows) == 250_000
    assert rows[0][:2] == ["conv2d_1", "Conv2d"] and rows[-1][:2] == ["relu_125000", "ReLU"]
    assert rows[-1][-3:] == ["250001", "s1", "p125000"]  # the receptive field, whole
    totals = [line.strip("│ ").split() for line in lines if line.startswith("│")]  # the Totals panel
    assert ["Parameters", "290,000,000"] in [words[:2] for words in totals]
    assert ["Layers", "250,000"] in [words[:2] for words in totals]


def test_explaining_250000_layers_as_json_under_the_caps(tmp_path: Path) -> None:
    # Issue 17 section 4: `explain -f json` at 250,000 layers took 2.3 GB.
    import json

    path = tmp_path / "limit.yaml"
    path.write_text(LIMIT_CHAIN)
    result = run(path, "--format", "json", command="explain")
    assert result.returncode == 0, result.stderr[-2000:]
    layers = json.loads(result.stdout)["layers"]
    assert len(layers) == 250_000
    conv = layers[124_999]  # the last convolution: 3*3*16*16 + 16 parameters (see LIMIT_CHAIN)
    assert (conv["name"], conv["params"], conv["macs"]) == ("conv2d_125000", 2_320, 2_359_296)
    assert layers[-1]["receptive_field"]["axes"][0]["size"] == 250_001
