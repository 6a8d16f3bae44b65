"""`cnnshape lint`: rules, budgets, expectations, suppressions, configuration, file
collection, reporters, and the zoo staying clean.

Every rule in cnnshape.lint.RULES has a failing example `tests/lint/<code>-fail.yaml` and
its fixed version `tests/lint/<code>-pass.yaml`. Their leading header lines say what lint
must report:

    # expect: LINE:COL CODE     one per expected problem (the position was worked out by
                                reading the file: the layer's kind, the `bias` key, the
                                block's name, the key under `expect:`)
    # expect: nothing           the fixed example: no problem at all

The rest of the file (its body) appears verbatim in docs/rules.md.
`python tools/gen_docs.py --write` regenerates the generated parts of docs/rules.md (the
rule table and each rule's examples); tests/test_docs.py checks they are current.

Numbers (parameters, MACs, bytes) are worked out by hand, never taken from cnnshape.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import sys
import threading
from collections import Counter
from functools import partial
from pathlib import Path

import pytest
from conftest import cli

from cnnshape.errors import Problem
from cnnshape.lint import RULES, Config, FileResult, LintResult, collect, lint_file, lint_paths
from cnnshape.render.lint import REPORTERS, github

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = Path(__file__).resolve().parent / "lint"
SPECS = ROOT / "specs"
RULES_MD = ROOT / "docs" / "rules.md"
CI_MD = ROOT / "docs" / "ci.md"
HOOKS = ROOT / ".pre-commit-hooks.yaml"

EXPECT = re.compile(r"^# expect: (\d+):(\d+) ([a-z-]+)$")
NOTHING = "# expect: nothing"
TEXT_LINE = re.compile(
    r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): (?P<severity>error|warning) (?P<code>[a-z-]+) (?P<message>\S.*)$"
)
SUMMARY = re.compile(r"^(\d+) file\(s\) checked: (\d+) error\(s\), (\d+) warning\(s\)(?:, (\d+) suppressed)?$")


# --- helpers ----------------------------------------------------------------------------


def read_example(path: Path) -> tuple[list[tuple[int, int, str]], str]:
    """(expected (line, col, code) list, body) of an example: the body is the file without
    its `# expect:` header lines."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    expected: list[tuple[int, int, str]] = []
    nothing = False
    count = 0
    for line in lines:
        if not line.startswith("# expect:"):
            break
        count += 1
        text = line.rstrip("\n")
        if text == NOTHING:
            nothing = True
            continue
        match = EXPECT.match(text)
        assert match, f"{path.name}:{count}: malformed header line {text!r}"
        expected.append((int(match[1]), int(match[2]), match[3]))
    assert nothing != bool(expected), f"{path.name}: say `# expect: nothing` or list the problems, not both or neither"
    return expected, "".join(lines[count:])


def example(code: str, kind: str) -> Path:
    return EXAMPLES / f"{code}-{kind}.yaml"


run = partial(cli, "lint", width=200)


def places(result: FileResult) -> Counter:
    return Counter((p.line, p.col, p.code) for p in result.problems)


def lines_of(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.strip()]


def summary_of(output: str) -> tuple[int, int, int, int]:
    match = SUMMARY.match(lines_of(output)[-1])
    assert match, f"no summary line in:\n{output}"
    return int(match[1]), int(match[2]), int(match[3]), int(match[4] or 0)


def copy_example(code: str, kind: str, folder: Path, name: str | None = None) -> Path:
    target = folder / (name or f"{code}-{kind}.yaml")
    shutil.copyfile(example(code, kind), target)
    return target


def add_comment(path: Path, line: int, comment: str) -> None:
    """Append `comment` to line `line` (1-based) of a file."""
    lines = path.read_text(encoding="utf-8").split("\n")
    lines[line - 1] += "  " + comment
    path.write_text("\n".join(lines), encoding="utf-8")


def within(seconds: float, function):
    """Run `function` in a daemon thread; fail if it has not finished after `seconds`."""
    outcome: dict = {}

    def target() -> None:
        try:
            outcome["value"] = function()
        except BaseException as exc:  # re-raised in the test's thread
            outcome["error"] = exc

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"still running after {seconds} s (a symlink loop?)"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test runs in an empty folder (no pyproject.toml above it) outside GitHub Actions."""
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.chdir(tmp_path)
    above = [
        folder / "pyproject.toml" for folder in [tmp_path, *tmp_path.parents] if (folder / "pyproject.toml").is_file()
    ]
    assert not above, "a pyproject.toml above the temporary folder would configure lint"
    return tmp_path


# --- the examples: one failing and one fixed spec per rule ------------------------------


def _example_cases() -> list:
    return [pytest.param(example(code, kind), id=f"{code}-{kind}") for code in RULES for kind in ("fail", "pass")]


def test_every_rule_has_a_failing_and_a_fixed_example() -> None:
    wanted = {f"{code}-{kind}.yaml" for code in RULES for kind in ("fail", "pass")}
    present = {path.name for path in EXAMPLES.glob("*.yaml")}
    assert present == wanted


def test_default_severities() -> None:
    """What breaks the build by default: the checks a spec asks for (budgets, expect);
    the design rules only warn."""
    errors = {"budget", "expect"}
    assert {code: rule.severity for code, rule in RULES.items()} == {
        code: "error" if code in errors else "warning" for code in RULES
    }


@pytest.mark.parametrize("path", _example_cases())
def test_example(path: Path) -> None:
    expected, _ = read_example(path)
    result = lint_file(path, Config())
    shown = "\n".join(f"{p.line}:{p.col} {p.code} {p.message}" for p in result.problems)
    assert places(result) == Counter(expected), f"{path.name}: expected {sorted(expected)}, got\n{shown}"
    code = path.stem.rsplit("-", 1)[0]
    for problem in result.problems:
        assert problem.code == code, "a rule's failing example shows that rule alone"
        assert problem.severity == RULES[code].severity
        assert problem.file == str(path)
        assert problem.message.strip() and "\n" not in problem.message
    # The fixed version passes by being fixed, not by a suppression comment.
    assert result.suppressed == 0 and "cnnshape:" not in path.read_text(encoding="utf-8")


# --- severities and exit codes ----------------------------------------------------------


def test_warnings_exit_0_and_1_with_strict() -> None:
    path = str(example("dominant-layer", "fail"))
    plain = run(path, "--format", "text")
    assert plain.exit_code == 0, plain.output
    assert summary_of(plain.stdout) == (1, 0, 1, 0)
    strict = run(path, "--format", "text", "--strict")
    assert strict.exit_code == 1
    assert summary_of(strict.stdout) == (1, 0, 1, 0)


def test_errors_exit_1() -> None:
    result = run(str(example("budget", "fail")), "--format", "text")
    assert result.exit_code == 1
    assert summary_of(result.stdout) == (1, 1, 0, 0)


@pytest.mark.parametrize("code", list(RULES))
def test_fixed_examples_exit_0_even_with_strict(code: str) -> None:
    result = run(str(example(code, "pass")), "--format", "text", "--strict")
    assert result.exit_code == 0, result.output
    assert summary_of(result.stdout) == (1, 0, 0, 0)


@pytest.mark.parametrize(
    "args, says",
    [
        (["no-such-file.yaml"], "no-such-file.yaml: no such file or directory"),
        (["*.nothing"], "*.nothing: the pattern matches no file"),
        (["--max-params", "lots", "SPEC"], "the command line: max-params: expected a number"),
        (["--max-macs", "4.1.1G", "SPEC"], "the command line: max-macs: expected a number"),
        (["--select", "no-such-rule", "SPEC"], "the command line: select: unknown rule 'no-such-rule'; known rules: "),
        (
            ["--select", "dominant-layr", "SPEC"],
            "the command line: select: unknown rule 'dominant-layr'; did you mean 'dominant-layer'?",
        ),
        (["--ignore", "shape", "SPEC"], "the command line: ignore: unknown rule 'shape'"),
    ],
)
def test_usage_errors_exit_2(args: list[str], says: str) -> None:
    spec = str(example("dropped-input", "pass"))
    result = run(*[spec if arg == "SPEC" else arg for arg in args])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("cnnshape lint: ") and says in result.stderr
    assert result.stdout == ""


def test_a_missing_path_among_good_ones_exits_2_before_linting() -> None:
    result = run(str(example("dominant-layer", "fail")), "missing/", "--format", "text")
    assert result.exit_code == 2
    assert "missing/: no such file or directory" in result.stderr
    assert result.stdout == ""


def test_an_unknown_format_exits_2() -> None:
    assert run(str(example("dropped-input", "pass")), "--format", "xml").exit_code == 2


def test_no_path_exits_2() -> None:
    assert run().exit_code == 2


# --- budgets ----------------------------------------------------------------------------

# tests/lint/budget-pass.yaml (width 32, 1x3x32x32, float32), by hand:
#   conv 3x3, 3 -> 32, pad 1         32x32   27*32   =    864 params   27*32 * 1024 =   884,736 MACs
#   batch norm 32                             2*32   =     64
#   conv 3x3 s2, 32 -> 32, pad 1     16x16   288*32  =  9,216 params  288*32 * 256  = 2,359,296 MACs
#   batch norm 32                                    =     64
#   conv 3x3 s2, 32 -> 32, pad 1     8x8     288*32  =  9,216 params  288*32 * 64   =   589,824 MACs
#   batch norm 32                                    =     64
#   global pool, flatten             32
#   linear 32 -> 10                          320+10  =    330 params                      320 MACs
# activations: every layer's output, 3 each at 32x32x32, 32x16x16 and 32x8x8 (conv, norm,
# ReLU), then 32 (pool), 32 (flatten) and 10 (linear) elements.
BUDGET_SPEC = EXAMPLES / "budget-pass.yaml"
PARAMS = 864 + 64 + 9_216 + 64 + 9_216 + 64 + 330
MACS = 884_736 + 2_359_296 + 589_824 + 320
TOTALS = {
    "max_params": PARAMS,  # 19,818
    "max_macs": MACS,  # 3,834,176
    "max_flops": 2 * MACS,  # 7,668,352
    "max_param_bytes": 4 * PARAMS,  # 79,272
    "max_activation_bytes": 4 * (3 * 32 * 32 * 32 + 3 * 32 * 16 * 16 + 3 * 32 * 8 * 8 + 32 + 32 + 10),  # 516,392
}
BUDGET_SPEC_NAME_LINE = 3  # budgets from flags or pyproject point at the network (`name:`)
BUDGET_SPEC_EXPECT_LINE = 19  # `expect:`; its keys follow at column 3


def test_the_budget_numbers_by_hand_match_the_analysis() -> None:
    from cnnshape.pipeline import analyze_file

    totals = analyze_file(BUDGET_SPEC).totals
    assert {key: getattr(totals, key[4:]) for key in TOTALS} == TOTALS


@pytest.mark.parametrize("key", list(TOTALS))
def test_budget_from_a_flag(key: str) -> None:
    flag = "--" + key.replace("_", "-")
    value = TOTALS[key]
    at_limit = run(str(BUDGET_SPEC), flag, str(value), "--format", "text")
    assert at_limit.exit_code == 0, at_limit.output
    over = run(str(BUDGET_SPEC), flag, str(value - 1), "--format", "text")
    assert over.exit_code == 1
    (line,) = lines_of(over.stdout)[:-1]
    match = TEXT_LINE.match(line)
    assert match and (int(match["line"]), int(match["col"]), match["code"]) == (BUDGET_SPEC_NAME_LINE, 1, "budget")
    assert f"{value:,}" in match["message"] and "the command line" in match["message"] and "by 1" in match["message"]


@pytest.mark.parametrize(
    "flag, value, exceeded",
    [
        ("--max-params", "19.818K", False),  # exactly 19,818
        ("--max-params", "19.817K", True),
        ("--max-macs", "3.9M", False),
        ("--max-macs", "3.8M", True),  # 3,834,176 > 3,800,000
        ("--max-flops", "7.67M", False),
        ("--max-param-bytes", "78KiB", False),  # 79,872 bytes >= 79,272
        ("--max-param-bytes", "77KiB", True),  # 78,848 bytes < 79,272
        ("--max-activation-bytes", "0.5MiB", False),  # 524,288 bytes >= 516,392
        ("--max-activation-bytes", "500KB", True),  # 500,000 bytes < 516,392
    ],
)
def test_budget_flags_take_human_units(flag: str, value: str, exceeded: bool) -> None:
    result = run(str(BUDGET_SPEC), flag, value, "--format", "text")
    assert result.exit_code == (1 if exceeded else 0), result.output


def _with_expect(entries: str) -> str:
    """budget-pass.yaml with its `expect:` section replaced by `entries`."""
    text = BUDGET_SPEC.read_text(encoding="utf-8")
    head = text[: text.index("\nexpect:\n") + len("\nexpect:\n")]
    assert head.count("\n") == BUDGET_SPEC_EXPECT_LINE
    return head + entries


@pytest.mark.parametrize("key", list(TOTALS))
def test_budget_from_expect(tmp_path: Path, key: str) -> None:
    spec = tmp_path / "net.yaml"
    spec.write_text(_with_expect(f"  {key}: {TOTALS[key]}\n"), encoding="utf-8")
    assert lint_file(spec, Config()).problems == []
    spec.write_text(_with_expect(f"  {key}: {TOTALS[key] - 1}\n"), encoding="utf-8")
    result = lint_file(spec, Config())
    assert places(result) == Counter({(BUDGET_SPEC_EXPECT_LINE + 1, 3, "budget"): 1})
    (problem,) = result.problems
    assert problem.severity == "error" and "the spec's expect" in problem.message


def test_budget_in_human_units_from_expect(tmp_path: Path) -> None:
    spec = tmp_path / "net.yaml"
    spec.write_text(_with_expect("  max_param_bytes: 77KiB\n  max_activation_bytes: 0.5MiB\n"), encoding="utf-8")
    assert places(lint_file(spec, Config())) == Counter({(BUDGET_SPEC_EXPECT_LINE + 1, 3, "budget"): 1})


def test_budgets_from_expect_and_from_a_flag_are_both_checked(tmp_path: Path) -> None:
    spec = tmp_path / "net.yaml"
    spec.write_text(_with_expect("  max_params: 10K\n"), encoding="utf-8")
    result = lint_file(spec, Config(budgets={"max_params": 15_000}))
    assert places(result) == Counter(
        {(BUDGET_SPEC_EXPECT_LINE + 1, 3, "budget"): 1, (BUDGET_SPEC_NAME_LINE, 1, "budget"): 1}
    )


# --- expectations -----------------------------------------------------------------------

# A stride-4 feature extractor; its output is [1, 32, 16, 16] with a receptive field of
# 3 (stem) + 2 * 2 (3x3 at stride 2) = 7.
FEATURES = """\
name: features
input: [1, 3, 64, 64]
layers:
  - Conv2d: {out_channels: 32, kernel_size: 3, stride: 2, padding: 1, bias: false, name: stem}
  - BatchNorm2d
  - ReLU
  - Conv2d: {out_channels: 32, kernel_size: 3, stride: 2, padding: 1, bias: false, name: stage1}
  - BatchNorm2d
  - ReLU
expect:
"""
EXPECT_KEY_LINE = 11


@pytest.mark.parametrize(
    "entries, expected, says",
    [
        ("  output_shape: [1, 32, 16, 16]\n", [], None),
        ("  output_shape: [1, 32, 8, 8]\n", [(EXPECT_KEY_LINE, 3)], "expected [1, 32, 8, 8]"),
        ("  shapes:\n    stem: [1, 32, 32, 32]\n    stage1: [1, 32, 16, 16]\n", [], None),
        (
            "  shapes:\n    stem: [1, 32, 32, 32]\n    stage1: [1, 64, 16, 16]\n",
            [(EXPECT_KEY_LINE + 2, 5)],
            "stage1 has shape [1, 32, 16, 16]",
        ),
        ("  shapes:\n    stage_1: [1, 32, 16, 16]\n", [(EXPECT_KEY_LINE + 1, 5)], "did you mean 'stage1'"),
        ("  min_receptive_field: 7\n", [], None),
        ("  min_receptive_field: 8\n", [(EXPECT_KEY_LINE, 3)], "is 7 on its smallest axis"),
    ],
    ids=["output-ok", "output-wrong", "shapes-ok", "shapes-wrong", "shapes-unknown-name", "rf-ok", "rf-too-small"],
)
def test_expectation(tmp_path: Path, entries: str, expected: list, says: str | None) -> None:
    spec = tmp_path / "features.yaml"
    spec.write_text(FEATURES + entries, encoding="utf-8")
    result = lint_file(spec, Config(select={"expect"}))
    assert places(result) == Counter((line, col, "expect") for line, col in expected)
    if says:
        assert says in result.problems[0].message
        assert result.problems[0].severity == "error"


def test_a_global_receptive_field_meets_any_minimum(tmp_path: Path) -> None:
    """A classifier ends in a global pool: every output sees the whole input."""
    spec = tmp_path / "net.yaml"
    spec.write_text(_with_expect("  min_receptive_field: 1000\n"), encoding="utf-8")
    assert lint_file(spec, Config()).problems == []


def test_expectations_in_a_file_with_errors_are_not_checked(tmp_path: Path) -> None:
    spec = tmp_path / "net.yaml"
    spec.write_text(
        FEATURES.replace(
            "{out_channels: 32, kernel_size: 3, stride: 2, padding: 1, bias: false, name: stage1}",
            "{out_channels: 32, in_channels: 4, kernel_size: 3, stride: 2, padding: 1, bias: false, name: stage1}",
        )
        + "  output_shape: [1, 1]\n",
        encoding="utf-8",
    )
    assert places(lint_file(spec, Config())) == Counter({(7, 5, "shape"): 1})


# --- suppression comments ---------------------------------------------------------------


def test_suppression_on_the_layers_line(tmp_path: Path) -> None:
    path = copy_example("dominant-layer", "fail", tmp_path)
    add_comment(path, 16, "# cnnshape: disable=dominant-layer  (a deliberate baseline)")
    result = lint_file(path, Config())
    assert (result.problems, result.suppressed) == ([], 1)
    text = run(str(path), "--format", "text")
    assert text.exit_code == 0 and summary_of(text.stdout) == (1, 0, 0, 1)
    assert lines_of(text.stdout)[-1].endswith(", 1 suppressed")
    data = json.loads(run(str(path), "--format", "json").stdout)
    assert (data["warnings"], data["suppressed"]) == (0, 1)


@pytest.mark.parametrize(
    "line, comment",
    [
        (15, "# cnnshape: disable=dominant-layer"),  # the line above the layer
        (16, "# cnnshape: disable=dropped-input"),  # another rule
        (16, "# cnnshape: disabled=dominant-layer"),  # a typo is not `disable`
        (16, "# cnnshape: disable-files=dominant-layer"),
        (16, "# cnnshape disable=dominant-layer"),  # no colon
    ],
)
def test_suppression_that_does_not_apply(tmp_path: Path, line: int, comment: str) -> None:
    path = copy_example("dominant-layer", "fail", tmp_path)
    add_comment(path, line, comment)
    result = lint_file(path, Config())
    assert places(result) == Counter({(16, 5, "dominant-layer"): 1}) and result.suppressed == 0


@pytest.mark.parametrize(
    "comment",
    [
        "# cnnshape: disable",
        "# cnnshape: disable=dominant-layer",
        "# cnnshape: disable = dropped-input, dominant-layer",
        "# cnnshape: disable=dominant-layer,unused-output: the classifier is the point of this test",
        "#cnnshape:disable=dominant-layer",
    ],
)
def test_suppression_forms(tmp_path: Path, comment: str) -> None:
    path = copy_example("dominant-layer", "fail", tmp_path)
    add_comment(path, 16, comment)
    result = lint_file(path, Config())
    assert (result.problems, result.suppressed) == ([], 1)


def test_suppression_on_a_block_style_layer_is_on_its_kind_line(tmp_path: Path) -> None:
    path = copy_example("bias-before-norm", "fail", tmp_path)
    add_comment(path, 20, "# cnnshape: disable=bias-before-norm")  # `  - Linear:`
    result = lint_file(path, Config())
    assert places(result) == Counter({(9, 5, "bias-before-norm"): 1, (12, 71, "bias-before-norm"): 1})
    assert result.suppressed == 1


def test_suppression_for_the_whole_file(tmp_path: Path) -> None:
    path = copy_example("even-kernel-padding", "fail", tmp_path)
    with path.open("a", encoding="utf-8") as file:
        file.write("# cnnshape: disable-file=even-kernel-padding  (DCGAN's 4x4 stride-2 convolutions, on purpose)\n")
    result = lint_file(path, Config())
    assert (result.problems, result.suppressed) == ([], 3)
    assert summary_of(run(str(path), "--format", "text").stdout) == (1, 0, 0, 3)


def test_suppression_for_the_whole_file_of_another_rule(tmp_path: Path) -> None:
    path = copy_example("even-kernel-padding", "fail", tmp_path)
    add_comment(path, 5, "# cnnshape: disable-file=dropped-input")
    result = lint_file(path, Config())
    assert len(result.problems) == 3 and result.suppressed == 0


def test_disable_file_without_codes_silences_every_rule_but_not_errors(tmp_path: Path) -> None:
    path = tmp_path / "net.yaml"
    path.write_text(
        "# cnnshape: disable-file\n"
        "name: net\n"
        "input: [1, 3, 8, 8]\n"
        "layers:\n"
        "  - Softmax\n"
        "  - Linear: {out_features: 10, in_features: 3}  # cnnshape: disable\n",
        encoding="utf-8",
    )
    result = lint_file(path, Config())
    # The Linear expects 3 features and gets 8: a spec error, which no comment hides; the
    # Softmax's layer-warning (no dim) is silenced.
    assert places(result) == Counter({(6, 5, "shape"): 1})
    assert result.suppressed == 1


def test_warnings_in_a_file_with_errors_obey_configuration_and_comments(tmp_path: Path) -> None:
    path = tmp_path / "net.yaml"
    path.write_text(
        "name: net\n"
        "input: [1, 8, 32, 32]\n"
        "blocks:\n"
        "  Unused:\n"
        "    layers: [ReLU]\n"
        "layers:\n"
        "  - Conv2d: {out_channels: 8, kernel_size: 2, stride: 2, name: a}\n"
        "  - Conv2d: {out_channels: 8, kernel_size: 3, stride: 2, padding: 1, from: input, name: b}\n"
        "  - Add: {from: [a, b]}\n"
        "  - Linear: {out_features: 10, in_features: 3}\n",
        encoding="utf-8",
    )
    everything = lint_file(path, Config())
    assert places(everything) == Counter({(4, 3, "unused-block"): 1, (9, 5, "unaligned-rf"): 1, (10, 5, "shape"): 1})
    ignored = lint_file(path, Config(ignore={"unused-block"}, severity={"unaligned-rf": "error"}))
    assert places(ignored) == Counter({(9, 5, "unaligned-rf"): 1, (10, 5, "shape"): 1})
    assert {p.code: p.severity for p in ignored.problems} == {"unaligned-rf": "error", "shape": "error"}
    add_comment(path, 9, "# cnnshape: disable=unaligned-rf")
    commented = lint_file(path, Config())
    assert places(commented) == Counter({(4, 3, "unused-block"): 1, (10, 5, "shape"): 1}) and commented.suppressed == 1


def test_a_block_used_many_times_reports_its_finding_once(tmp_path: Path) -> None:
    """Suppressed counts are counted like reported findings: once per place."""
    path = tmp_path / "net.yaml"
    path.write_text(
        "name: net\n"
        "input: [1, 3, 32, 32]\n"
        "blocks:\n"
        "  ConvBN:\n"
        "    layers:\n"
        "      - Conv2d: {out_channels: 16, kernel_size: 3, padding: 1}\n"
        "      - BatchNorm2d\n"
        "layers:\n"
        "  - ConvBN: {repeat: 4}\n",
        encoding="utf-8",
    )
    result = lint_file(path, Config(select={"bias-before-norm"}))
    assert places(result) == Counter({(6, 9, "bias-before-norm"): 1})
    assert result.problems[0].message.endswith("(and 3 more at this line: other axes or other uses of the block)")
    add_comment(path, 6, "# cnnshape: disable=bias-before-norm")
    assert lint_file(path, Config(select={"bias-before-norm"})).suppressed == 1


# --- [tool.cnnshape] in pyproject.toml --------------------------------------------------


def _project(folder: Path, table: str) -> None:
    (folder / "pyproject.toml").write_text(
        f"[project]\nname = 'models'\n\n[tool.cnnshape]\n{table}\n", encoding="utf-8"
    )
    (folder / "specs").mkdir(exist_ok=True)
    for code in ("dominant-layer", "even-kernel-padding"):
        copy_example(code, "fail", folder / "specs")
    copy_example("budget", "pass", folder / "specs")


def _codes(output: str) -> Counter:
    return Counter(m["code"] for m in map(TEXT_LINE.match, lines_of(output)[:-1]) if m)


def test_config_select(_isolated: Path) -> None:
    _project(_isolated, 'select = ["dominant-layer"]')
    result = run("specs", "--format", "text")
    assert result.exit_code == 0 and _codes(result.stdout) == Counter({"dominant-layer": 1})


def test_config_ignore(_isolated: Path) -> None:
    _project(_isolated, 'ignore = ["dominant-layer"]')
    result = run("specs", "--format", "text")
    assert _codes(result.stdout) == Counter({"even-kernel-padding": 3})


def test_config_severity(_isolated: Path) -> None:
    _project(_isolated, '[tool.cnnshape.severity]\ndominant-layer = "error"')
    result = run("specs", "--format", "text")
    assert result.exit_code == 1
    assert summary_of(result.stdout) == (3, 1, 3, 0)
    assert any(line.split(": ", 1)[1].startswith("error dominant-layer ") for line in lines_of(result.stdout)[:-1])


def test_config_budget(_isolated: Path) -> None:
    _project(_isolated, 'max-params = "10K"')
    result = run("specs/budget-pass.yaml", "--format", "text")
    assert result.exit_code == 1
    (line,) = lines_of(result.stdout)[:-1]
    assert line.startswith(f"specs/budget-pass.yaml:{BUDGET_SPEC_NAME_LINE}:1: error budget 19,818 parameters")
    assert "pyproject.toml [tool.cnnshape]" in line


def test_config_strict_and_dominant_share(_isolated: Path) -> None:
    _project(_isolated, "strict = true\nmax_params = 1_000_000")
    assert run("specs", "--format", "text").exit_code == 1  # warnings fail under strict
    (_isolated / "pyproject.toml").write_text(
        '[tool.cnnshape]\nstrict = true\ndominant-share = 0.9\nignore = ["even-kernel-padding"]\n', encoding="utf-8"
    )
    result = run("specs", "--format", "text")
    assert result.exit_code == 0 and summary_of(result.stdout) == (3, 0, 0, 0)  # 87% < 90%


def test_config_is_found_from_a_subfolder(_isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _project(_isolated, 'ignore = ["dominant-layer", "even-kernel-padding"]')
    monkeypatch.chdir(_isolated / "specs")
    result = run(".", "--format", "text", "--strict")
    assert result.exit_code == 0, result.output


def test_flags_combine_with_the_config(_isolated: Path) -> None:
    _project(_isolated, 'ignore = ["dominant-layer"]')
    # --ignore adds to the configured list; --select replaces a configured select.
    assert _codes(run("specs", "--format", "text", "--ignore", "even-kernel-padding").stdout) == Counter()
    assert _codes(run("specs", "--format", "text", "--select", "dominant-layer").stdout) == Counter()
    assert _codes(run("specs", "--format", "text", "--no-config").stdout) == Counter(
        {"dominant-layer": 1, "even-kernel-padding": 3}
    )


@pytest.mark.parametrize(
    "table, says",
    [
        ("selct = []", "selct: unknown key; did you mean 'select'?"),
        ("zzz = []", "zzz: unknown key; known keys: select, ignore"),
        ('select = "dominant-layer"', "select: expected a list of rule codes"),
        ('ignore = ["dominant-layers"]', "ignore: unknown rule 'dominant-layers'; did you mean 'dominant-layer'?"),
        ('severity = {dominant-layer = "fatal"}', 'severities are "error" or "warning", got \'fatal\''),
        ('max-params = "a lot"', "max-params"),
        ("dominant-share = 1.5", "expected a fraction between 0 and 1"),
        ('strict = "yes"', "expected true or false"),
        ("[oops", "cannot read"),
    ],
)
def test_bad_config_exits_2(_isolated: Path, table: str, says: str) -> None:
    _project(_isolated, table)  # the table's first line is line 5 of pyproject.toml
    result = run("specs", "--format", "text")
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and says in result.stderr
    assert result.stderr.startswith("pyproject.toml:5:") and ": error: " in result.stderr
    assert run("specs", "--format", "text", "--no-config").exit_code == 0


# Columns counted by hand: `ignore = [` is 10 characters, so the first item is at column 11.
@pytest.mark.parametrize(
    "toml, where, says",
    [
        # Unknown keys: at the key, with the nearest known one (in the spelling the user writes).
        (
            '[project]\nname = "m"\n\n[tool.cnnshape]\nmax-param = "25M"\n',
            "5:1",
            "max-param: unknown key; did you mean 'max-params'?",
        ),
        (
            "[tool.cnnshape]\nstrict = true\n  max_param = 1\n",
            "3:3",
            "max_param: unknown key; did you mean 'max_params'?",
        ),
        # Unknown rule codes: at the item of the list, or at the key of the severity table.
        (
            '[tool.cnnshape]\nignore = ["budget", "dominant-layers"]\n',
            "2:21",
            "ignore: unknown rule 'dominant-layers'; did you mean 'dominant-layer'?",
        ),
        (
            '[tool.cnnshape]\nselect = [\n    "budget",  # "bias-befor-norm"\n    "bias-befor-norm",\n]\n',
            "4:5",
            "select: unknown rule 'bias-befor-norm'; did you mean 'bias-before-norm'?",
        ),
        (
            '[tool.cnnshape]\nstrict = true\n\n[tool.cnnshape.severity]\nbudget = "error"\ndominant-layr = "error"\n',
            "6:1",
            "severity: unknown rule 'dominant-layr'; did you mean 'dominant-layer'?",
        ),
        (
            '[tool.cnnshape]\nseverity.dominant-layr = "error"\n',
            "2:10",
            "severity: unknown rule 'dominant-layr'; did you mean 'dominant-layer'?",
        ),
        # Wrong values: at the value.
        ('[tool.cnnshape]\nstrict = "yes"\n', "2:10", "strict: expected true or false, got 'yes'"),
        ('[tool.cnnshape]\nselect = "budget"\n', "2:10", "select: expected a list of rule codes"),
        ('[tool.cnnshape]\nselect = ["budget", 3]\n', "2:21", "select: expected a list of rule codes, got 3"),
        (
            '[tool.cnnshape]\nseverity = { budget = "warn" }\n',
            "2:23",
            "severity: severities are \"error\" or \"warning\", got 'warn'; did you mean 'warning'?",
        ),
        (
            "[tool.cnnshape]\ndominant-share = 1.5\n",
            "2:18",
            "dominant-share: expected a fraction between 0 and 1, got 1.5",
        ),
        # The table written as dotted keys or inline, and a string that only looks like the table.
        (
            'tool.cnnshape.max-param = "25M"\n\n[project]\nname = "m"\n',
            "1:15",
            "max-param: unknown key; did you mean 'max-params'?",
        ),
        (
            '[tool]\ncnnshape = { strict = true, max-parms = "1M" }\n',
            "2:29",
            "max-parms: unknown key; did you mean 'max-params'?",
        ),
        (
            '[tool.black]\nx = """\n[tool.cnnshape]\nstrict = 1\n"""\n\n[tool.cnnshape]\nstrict = 1\n',
            "8:10",
            "strict: expected true or false, got 1",
        ),
        # Not a table at all: at its header.
        ("[project]\nname = 'm'\n[[tool.cnnshape]]\nstrict = true\n", "3:1", "[tool.cnnshape] must be a table"),
    ],
)
def test_config_errors_say_where(_isolated: Path, toml: str, where: str, says: str) -> None:
    (_isolated / "pyproject.toml").write_text(toml, encoding="utf-8")
    copy_example("budget", "pass", _isolated)
    result = run("budget-pass.yaml", "--format", "text")
    assert result.exit_code == 2, result.output
    assert result.stderr == f"pyproject.toml:{where}: error: {says}\n"


def test_config_syntax_errors_say_where(_isolated: Path) -> None:
    copy_example("budget", "pass", _isolated)
    (_isolated / "pyproject.toml").write_text("[tool.cnnshape]\nstrict = tru\n", encoding="utf-8")
    assert run("budget-pass.yaml").stderr.startswith("pyproject.toml:2:10: error: cannot read: ")
    (_isolated / "pyproject.toml").write_bytes(b"[tool.cnnshape]\nmax-params = '25\xb5'\n")
    assert run("budget-pass.yaml").stderr.startswith("pyproject.toml:2:17: error: cannot read: not UTF-8")
    # Columns count characters, not bytes. Line 1 holds two 2-byte characters, which must not
    # shift line 3, where the bad byte follows "max = '" (7 characters): column 8. In the
    # second file it follows "max = 'é" on line 2: 8 characters in 9 bytes, column 9.
    (_isolated / "pyproject.toml").write_bytes("# déjà vu\n[tool.cnnshape]\nmax = '".encode() + b"\xb5'\n")
    assert run("budget-pass.yaml").stderr.startswith("pyproject.toml:3:8: error: cannot read: not UTF-8")
    (_isolated / "pyproject.toml").write_bytes("[tool.cnnshape] # déjà\nmax = 'é".encode() + b"\xb5'\n")
    assert run("budget-pass.yaml").stderr.startswith("pyproject.toml:2:9: error: cannot read: not UTF-8")


def test_config_errors_name_the_file_as_seen_from_here(_isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _project(_isolated, 'max-param = "25M"')
    monkeypatch.chdir(_isolated / "specs")
    result = run(".")
    assert result.exit_code == 2
    assert result.stderr.startswith("../pyproject.toml:5:1: error: max-param: unknown key")


def test_a_flag_budget_names_the_command_line_even_with_a_config(_isolated: Path) -> None:
    _project(_isolated, 'ignore = ["dominant-layer"]')
    result = run("specs/budget-pass.yaml", "--format", "text", "--max-params", "10K")
    assert "from the command line" in result.stdout


# --- which files --------------------------------------------------------------------------


def _tree(root: Path) -> None:
    good = example("dropped-input", "pass").read_text(encoding="utf-8")
    for name in ("a.yaml", "sub/b.yml", "sub/deeper/c.yaml", ".hidden/d.yaml", "sub/.e.yaml"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(good, encoding="utf-8")
    (root / "notes.txt").write_text("not a spec", encoding="utf-8")
    (root / "sub" / "README.md").write_text("# not a spec", encoding="utf-8")


def test_a_directory_is_searched_for_yaml_and_yml(_isolated: Path) -> None:
    _tree(_isolated / "models")
    # Hidden folders and files are skipped, like .github/ and .pre-commit-config.yaml.
    assert [str(p) for p in collect(["models"])] == ["models/a.yaml", "models/sub/b.yml", "models/sub/deeper/c.yaml"]
    result = run("models/", "--format", "text", "--strict")
    assert result.exit_code == 0 and summary_of(result.stdout) == (3, 0, 0, 0)


@pytest.mark.parametrize(
    "pattern, found",
    [
        ("models/*.yaml", ["models/a.yaml"]),
        ("models/**/*.yml", ["models/sub/b.yml"]),
        ("models/**/*.yaml", ["models/a.yaml", "models/sub/deeper/c.yaml"]),
        ("models/sub/**", ["models/sub/README.md", "models/sub/b.yml", "models/sub/deeper/c.yaml"]),
        ("models/s?b/*.y*ml", ["models/sub/b.yml"]),
        ("models/.hidden/*.yaml", ["models/.hidden/d.yaml"]),
        ("**/c.yaml", ["models/sub/deeper/c.yaml"]),
    ],
)
def test_globs(_isolated: Path, pattern: str, found: list[str]) -> None:
    _tree(_isolated / "models")
    assert [str(p) for p in collect([pattern])] == found


def test_an_absolute_glob(_isolated: Path) -> None:
    _tree(_isolated / "models")
    assert collect([str(_isolated / "models" / "**" / "*.yml")]) == [_isolated / "models" / "sub" / "b.yml"]


def test_a_file_named_twice_is_linted_once(_isolated: Path) -> None:
    _tree(_isolated / "models")
    assert [str(p) for p in collect(["models/a.yaml", "models", "./models/a.yaml", "models/*.yaml"])] == [
        "models/a.yaml",
        "models/sub/b.yml",
        "models/sub/deeper/c.yaml",
    ]


@pytest.mark.skipif(not hasattr(os, "symlink") or sys.platform == "win32", reason="needs symlinks")
def test_symlink_loops_do_not_hang(_isolated: Path) -> None:
    models = _isolated / "models"
    (models / "sub").mkdir(parents=True)
    shutil.copyfile(example("dropped-input", "pass"), models / "good.yaml")
    (models / "loop").symlink_to(".")  # a folder that contains itself
    (models / "sub" / "up").symlink_to("..")  # and one that points back up
    (models / "sub" / "again").symlink_to("../sub")
    (models / "self.yaml").symlink_to("self.yaml")  # a file link to itself
    result = within(20, lambda: run("models", "--format", "text"))
    assert result.exit_code == 1
    assert lines_of(result.stdout)[0].startswith("models/self.yaml:1:1: error file-unreadable ")
    assert summary_of(result.stdout) == (2, 1, 0, 0)  # good.yaml once, self.yaml once
    for pattern in ("models/**/*.yaml", "models/**"):
        assert within(20, lambda pattern=pattern: collect([pattern])) == [
            models.relative_to(_isolated) / "good.yaml",
            models.relative_to(_isolated) / "self.yaml",
        ]


# Five specs, four of them broken in different ways, one of them in a subfolder: lint
# reports every problem of every file, each at its place, and exits 1.
BROKEN = {
    "a-duplicate-key.yaml": ("name: a\ninput: [1, 3, 8, 8]\nlayers: [ReLU]\nlayers: [Sigmoid]\n"),
    "b-names.yaml": (
        "name: b\n"
        "input: [1, 3, 8, 8]\n"
        "layers:\n"
        "  - Conv2d: {out_channels: 8, kernel_size: 3, out_channel: 4}\n"
        "  - Relu\n"
    ),
    "c-ok.yaml": ("name: c\ninput: [1, 3, 8, 8]\nlayers:\n  - Conv2d: {out_channels: 8, kernel_size: 3, padding: 1}\n"),
    "nested/d-shape.yaml": (
        "name: d\n"
        "input: [1, 3, 8, 8]\n"
        "layers:\n"
        "  - Conv2d: {out_channels: 8, kernel_size: 3}\n"
        "  - Linear: {out_features: 10, in_features: 3}\n"
    ),
    "nested/e-warning.yml": (
        "name: e\n"
        "input: [1, 3, 32, 32]\n"
        "layers:\n"
        "  - Conv2d: {out_channels: 8, kernel_size: 4, stride: 2, padding: 1}\n"
    ),
}
BROKEN_PROBLEMS = [
    ("broken/a-duplicate-key.yaml", 4, 1, "error", "yaml-unsupported"),  # the second `layers`
    ("broken/b-names.yaml", 4, 47, "error", "unknown-argument"),  # out_channel
    ("broken/b-names.yaml", 5, 5, "error", "unknown-kind"),  # Relu
    ("broken/nested/d-shape.yaml", 5, 5, "error", "shape"),  # 6 features, not 3
    ("broken/nested/e-warning.yml", 4, 5, "warning", "even-kernel-padding"),
]


def test_a_directory_of_broken_specs_reports_every_problem(_isolated: Path) -> None:
    for name, text in BROKEN.items():
        (_isolated / "broken" / name).parent.mkdir(parents=True, exist_ok=True)
        (_isolated / "broken" / name).write_text(text, encoding="utf-8")
    result = run("broken", "--format", "text")
    assert result.exit_code == 1
    found = [TEXT_LINE.match(line) for line in lines_of(result.stdout)[:-1]]
    assert all(found), result.stdout
    assert [(m["file"], int(m["line"]), int(m["col"]), m["severity"], m["code"]) for m in found] == BROKEN_PROBLEMS
    assert summary_of(result.stdout) == (5, 4, 1, 0)
    data = json.loads(run("broken", "--format", "json").stdout)
    assert [(p["file"], p["line"], p["column"], p["severity"], p["code"]) for p in data["problems"]] == BROKEN_PROBLEMS


# --- reporters ----------------------------------------------------------------------------


def _sample() -> LintResult:
    """Three example files: 3 warnings, 1 error (budget), 1 clean file."""
    return lint_paths(
        [
            str(example("even-kernel-padding", "fail")),
            str(example("budget", "fail")),
            str(example("dropped-input", "pass")),
        ],
        Config(),
    )


def test_reporters_registry() -> None:
    assert set(REPORTERS) == {"text", "github", "json", "sarif"}


def test_text_reporter() -> None:
    output = REPORTERS["text"](_sample())
    lines = output.split("\n")
    assert [tuple(TEXT_LINE.match(line).group("file", "line", "col", "severity", "code")) for line in lines[:-1]] == [
        (str(example("even-kernel-padding", "fail")), "8", "5", "warning", "even-kernel-padding"),
        (str(example("even-kernel-padding", "fail")), "10", "5", "warning", "even-kernel-padding"),
        (str(example("even-kernel-padding", "fail")), "13", "5", "warning", "even-kernel-padding"),
        (str(example("budget", "fail")), "22", "3", "error", "budget"),
    ]
    assert lines[-1] == "3 file(s) checked: 1 error(s), 3 warning(s)"


def test_github_reporter_escapes_data_and_properties() -> None:
    problem = Problem("dir:a,b/100%.yaml", 3, 5, "error", "budget", "50% over\nbudget: a, b\r")
    result = LintResult([FileResult(problem.file, [problem])])
    assert github(result) == (
        "::error file=dir%3Aa%2Cb/100%25.yaml,line=3,col=5,title=budget::50%25 over%0Abudget: a, b%0D\n"
        "1 file(s) checked: 1 error(s), 0 warning(s)"
    )


def test_a_directory_without_specs_is_a_usage_error(tmp_path: Path) -> None:
    # a renamed or emptied folder must not keep CI green by checking nothing
    (tmp_path / "README.md").write_text("no specs here\n")
    result = run(str(tmp_path))
    assert result.exit_code == 2
    assert "holds no" in result.output


def test_github_reporter_output() -> None:
    output = REPORTERS["github"](_sample())
    warning = str(example("even-kernel-padding", "fail"))
    expected_heads = [
        f"::warning file={warning},line=8,col=5,title=even-kernel-padding::conv2d_1 (Conv2d): H: even kernel 4 ",
        f"::warning file={warning},line=10,col=5,title=even-kernel-padding::conv2d_2 (Conv2d): H: even kernel 4 ",
        f"::warning file={warning},line=13,col=5,title=even-kernel-padding::conv2d_3 (Conv2d): H: even kernel 4 ",
        f"::error file={example('budget', 'fail')},line=22,col=3,title=budget::76,490 parameters ",
        "3 file(s) checked: 1 error(s), 3 warning(s)",  # _sample: 3 files; a plain line shows lint ran
    ]
    lines = output.split("\n")
    assert len(lines) == len(expected_heads)
    for line, head in zip(lines, expected_heads, strict=True):
        assert line.startswith(head), line


def test_format_auto_is_github_under_github_actions() -> None:
    path = str(example("dominant-layer", "fail"))
    actions = run(path, env={"GITHUB_ACTIONS": "true"})
    assert actions.stdout.startswith(
        f"::warning file={path},line=16,col=5,title=dominant-layer::linear_1 (Linear) holds 524,416 of 601,354"
    )
    assert actions.exit_code == 0
    local = run(path)
    assert local.stdout.startswith(f"{path}:16:5: warning dominant-layer linear_1 (Linear)")


def test_json_reporter() -> None:
    data = json.loads(REPORTERS["json"](_sample()))
    assert set(data) == {"schema_version", "files", "errors", "warnings", "suppressed", "problems"}
    assert data["schema_version"] == 1
    assert (data["files"], data["errors"], data["warnings"], data["suppressed"]) == (3, 1, 3, 0)
    assert [tuple(p) for p in data["problems"]] == [("file", "line", "column", "severity", "code", "message")] * 4
    budget = data["problems"][3]
    assert {k: v for k, v in budget.items() if k != "message"} == {
        "file": str(example("budget", "fail")),
        "line": 22,
        "column": 3,
        "severity": "error",
        "code": "budget",
    }
    # budget-fail.yaml at width 64: 27*64 + 2 * 576*64 + 3 * 2*64 + (64*10 + 10) = 76,490 parameters.
    assert budget["message"].startswith("76,490 parameters") and "50,000" in budget["message"]
    assert budget["message"].endswith("by 26,490")


def _sarif_model():
    from pydantic_sarif.model import StaticAnalysisResultsFormatSarifVersion210JsonSchema

    return StaticAnalysisResultsFormatSarifVersion210JsonSchema


def test_sarif_is_valid_sarif_2_1_0() -> None:
    model = _sarif_model()
    log = json.loads(REPORTERS["sarif"](_sample()))
    model.model_validate(log)
    (run_,) = log["runs"]
    rules = [rule["id"] for rule in run_["tool"]["driver"]["rules"]]
    assert rules == ["budget", "even-kernel-padding"]
    assert [(r["ruleId"], rules[r["ruleIndex"]], r["level"]) for r in run_["results"]] == [
        ("even-kernel-padding", "even-kernel-padding", "warning")
    ] * 3 + [("budget", "budget", "error")]
    region = run_["results"][3]["locations"][0]["physicalLocation"]
    assert region == {
        "artifactLocation": {"uri": str(example("budget", "fail"))},
        "region": {"startLine": 22, "startColumn": 3},
    }
    # A clean run is a valid log too.
    model.model_validate(json.loads(REPORTERS["sarif"](lint_paths([str(example("budget", "pass"))], Config()))))


@pytest.mark.parametrize(
    "mutate",
    [
        lambda log: log.__setitem__("version", "2.0.0"),
        lambda log: log["runs"][0]["results"][0].__setitem__("level", "fatal"),
        lambda log: log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"].__setitem__(
            "startLine", 0
        ),
        lambda log: log["runs"][0]["results"][0].__setitem__("message", "a string, not an object"),
        lambda log: log["runs"][0]["tool"].pop("driver"),
    ],
    ids=["version", "level", "start-line", "message", "driver"],
)
def test_the_sarif_check_can_fail(mutate) -> None:
    from pydantic import ValidationError

    log = json.loads(REPORTERS["sarif"](_sample()))
    broken = copy.deepcopy(log)
    mutate(broken)
    with pytest.raises(ValidationError):
        _sarif_model().model_validate(broken)


# --- the zoo is clean -------------------------------------------------------------------

SUPPRESSION = re.compile(
    r"#\s*cnnshape:\s*disable(?:-file)?(?:\s*=\s*[A-Za-z0-9_-]+(?:\s*,\s*[A-Za-z0-9_-]+)*)?(?P<why>\s+\S.*)?$"
)


def test_the_zoo_is_clean(monkeypatch: pytest.MonkeyPatch) -> None:
    """`cnnshape lint specs/` from the repository, exactly as CI runs it, whatever specs/ holds."""
    monkeypatch.chdir(ROOT)
    result = run("specs/", "--format", "text", "--strict")
    count = len(list(SPECS.rglob("*.yaml"))) + len(list(SPECS.rglob("*.yml")))
    assert result.exit_code == 0, result.stdout
    files, errors, warnings, _ = summary_of(result.stdout)
    assert (files, errors, warnings) == (count, 0, 0), result.stdout


def test_every_zoo_suppression_says_why() -> None:
    for path in sorted(SPECS.glob("*.y*ml")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if "cnnshape:" in line:
                match = SUPPRESSION.search(line)
                assert match and match["why"], f"{path.name}:{number}: a suppression needs a reason after the codes"


# --- docs/rules.md, docs/ci.md, .pre-commit-hooks.yaml --------------------------------


def test_rules_md_documents_every_rule() -> None:
    text = RULES_MD.read_text(encoding="utf-8")
    for code in RULES:
        assert f"\n## {code}\n" in text, f"docs/rules.md has no `## {code}` section"
        for kind in ("fail", "pass"):
            _, body = read_example(example(code, kind))
            assert body in text, f"docs/rules.md does not include tests/lint/{code}-{kind}.yaml verbatim"


def test_ci_md() -> None:
    text = CI_MD.read_text(encoding="utf-8")
    for needle in (
        "actions/checkout",
        "actions/setup-python",
        "uses: cnnshape/cnnshape@",
        'pip install "git+https://github.com/cnnshape/cnnshape@v0.1.0"',
        "cnnshape lint specs/ --format github",
        "github/codeql-action/upload-sarif",
        "--format sarif",
        ".pre-commit-config.yaml",
        "cnnshape-lint",
        "[tool.cnnshape]",
        "# yaml-language-server: $schema=",
        "cnnshape schema",
    ):
        assert needle in text, f"docs/ci.md does not mention {needle!r}"
    # Every configuration key is documented.
    for key in (
        "select",
        "ignore",
        "severity",
        "strict",
        "dominant-share",
        "max-params",
        "max-macs",
        "max-flops",
        "max-param-bytes",
        "max-activation-bytes",
    ):
        assert f"`{key}`" in text, f"docs/ci.md does not document [tool.cnnshape] {key}"
    import yaml

    for block in re.findall(r"^```yaml\n(.*?)^```", text, re.MULTILINE | re.DOTALL):
        yaml.safe_load(block)  # every YAML snippet parses


def test_ci_md_config_example_is_valid(_isolated: Path) -> None:
    """The [tool.cnnshape] example in docs/ci.md is accepted as it is written."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]

    from cnnshape.lint import config_from_table

    text = CI_MD.read_text(encoding="utf-8")
    (block,) = [b for b in re.findall(r"^```toml\n(.*?)^```", text, re.MULTILINE | re.DOTALL) if "[tool.cnnshape]" in b]
    config = config_from_table(tomllib.loads(block)["tool"]["cnnshape"], "docs/ci.md")
    assert config.budgets and config.severity


def test_ci_md_config_error_example_is_real_output(_isolated: Path) -> None:
    """The configuration error shown in docs/ci.md is what lint says, line and column included."""
    lines = CI_MD.read_text(encoding="utf-8").splitlines()
    (shown,) = [line for line in lines if line.startswith("pyproject.toml:")]
    (_isolated / "pyproject.toml").write_text('[tool.cnnshape]\nstrict = true\nmax-param = "25M"\n', encoding="utf-8")
    copy_example("budget", "pass", _isolated)
    result = run("budget-pass.yaml")
    assert result.exit_code == 2 and result.stderr == shown + "\n"


def test_pre_commit_hook() -> None:
    import yaml

    (hook,) = yaml.safe_load(HOOKS.read_text(encoding="utf-8"))
    assert hook["id"] == "cnnshape-lint"
    assert hook["entry"] == "cnnshape lint"
    assert hook["language"] == "python"
    assert hook["types"] == ["yaml"]
    files = re.compile(hook["files"])
    for name in ("specs/resnet18.yaml", "models/specs/tiny.yml"):
        assert files.search(name), name
    for name in (".github/workflows/ci.yml", ".pre-commit-config.yaml", "docker-compose.yaml", "specs/README.md"):
        assert not files.search(name), name
