"""Run action.yml's steps as GitHub runs a composite action, in a temporary workspace.

    python .ci/action_test.py            # from the repository root (.ci/run does it)

Each step's `run:` script goes through `bash --noprofile --norc -eo pipefail` (what
`shell: bash` means on a runner) with the variables a runner sets (GITHUB_ACTIONS,
GITHUB_ACTION_PATH, GITHUB_WORKSPACE, RUNNER_TEMP) and the step's `env:`, with
`${{ inputs.NAME }}` filled from the inputs given (else the action's defaults). Any other
`${{ }}` expression is refused: the runner here would not know its value.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")

GOOD = (
    "name: good\ninput: [1, 3, 32, 32]\nlayers:\n  - Conv2d: {out_channels: 8, kernel_size: 3, padding: 1}\n  - ReLU\n"
)
BAD = "name: bad\ninput: [1, 3, 32, 32]\nlayers:\n  - Conv2d: {out_channels: 8, kernel_size: 3}\n  - MaxPool2D: {kernel_size: 2}\n"


def run_action(inputs: dict[str, str], workspace: Path, temp: Path) -> tuple[int, str]:
    """Every step in order, stopping at the first that fails: (exit code, output)."""
    action = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    assert action["runs"]["using"] == "composite", "action.yml must be a composite action"
    declared = action["inputs"]
    unknown = set(inputs) - set(declared)
    assert not unknown, f"inputs not declared in action.yml: {unknown}"
    values = {name: inputs.get(name, spec.get("default", "")) for name, spec in declared.items()}

    def fill(text: str) -> str:
        def value(match: re.Match[str]) -> str:
            inner = match.group(1)
            name = inner.removeprefix("inputs.")
            assert inner.startswith("inputs.") and name in values, (
                f"expression the test cannot evaluate: {match.group(0)}"
            )
            return str(values[name])

        return EXPRESSION.sub(value, text)

    output = []
    for step in action["runs"]["steps"]:
        assert step.get("shell") == "bash", f"step {step.get('name')!r}: composite run steps need `shell: bash`"
        script = temp / "step.sh"
        script.write_text(fill(step["run"]), encoding="utf-8")
        env = {
            **os.environ,
            "GITHUB_ACTIONS": "true",
            "GITHUB_ACTION_PATH": str(ROOT),
            "GITHUB_WORKSPACE": str(workspace),
            "RUNNER_TEMP": str(temp),
            **{key: fill(str(value)) for key, value in (step.get("env") or {}).items()},
        }
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=workspace,
            env=env,
            capture_output=True,
            text=True,
        )
        output.append(done.stdout + done.stderr)
        if done.returncode != 0:
            return done.returncode, "".join(output)
    return 0, "".join(output)


def check(label: str, condition: bool, output: str) -> None:
    if not condition:
        sys.exit(f"action.yml: {label} failed; the steps printed:\n{output}")
    print(f"action.yml: {label}: ok")


def check_doc_refs() -> None:
    """Every release docs/ci.md pins (`rev: vX`, `@vX`) is a tag here, and the pre-commit
    hook it names exists at that tag."""
    text = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
    refs = sorted(set(re.findall(r"rev: (v[0-9.]+)", text)) | set(re.findall(r"cnnshape@(v[0-9.]+)", text)))
    check("docs/ci.md pins a release", bool(refs), text[:0])
    for ref in refs:
        hooks = subprocess.run(
            ["git", "show", f"refs/tags/{ref}:.pre-commit-hooks.yaml"], cwd=ROOT, capture_output=True, text=True
        )
        check(
            f"docs/ci.md's {ref} is a tag with the cnnshape-lint hook",
            hooks.returncode == 0 and "id: cnnshape-lint" in hooks.stdout,
            hooks.stderr,
        )


def check_release_notes() -> None:
    """CHANGELOG.md's 0.1.0 section is what the tag released (its [Unreleased] then)."""
    old = subprocess.run(["git", "show", "refs/tags/v0.1.0:CHANGELOG.md"], cwd=ROOT, capture_output=True, text=True)
    check("tag v0.1.0 has a CHANGELOG", old.returncode == 0, old.stderr)
    released = old.stdout.split("## [Unreleased]\n\n", 1)[1].rstrip()
    now = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    section = now.split("## [0.1.0] - 2026-11-29\n\n", 1)[1].split("\n[Unreleased]:")[0].rstrip()
    check("CHANGELOG's 0.1.0 section is what v0.1.0 released", section == released, "")


def has_tag(tag: str) -> bool:
    done = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"refs/tags/{tag}"], cwd=ROOT, capture_output=True, text=True
    )
    return done.returncode == 0


def main() -> None:
    if has_tag("v0.1.0"):
        check_doc_refs()
        check_release_notes()
    else:
        print(
            "action.yml: docs/ci.md's tag and the 0.1.0 notes: not checked (no tag v0.1.0 in this clone; `git fetch --tags`)"
        )
    with tempfile.TemporaryDirectory() as folder:
        workspace, temp = Path(folder) / "workspace", Path(folder) / "runner-temp"
        (workspace / "specs").mkdir(parents=True)
        temp.mkdir()
        (workspace / "specs" / "good.yaml").write_text(GOOD)
        (workspace / "specs" / "bad.yaml").write_text(BAD)

        # The defaults: this checkout installed, specs/ linted; the bad spec fails the step
        # with an annotation at its line and column (MaxPool2D: line 5, column 5).
        code, output = run_action({}, workspace, temp)
        check("a spec with an error fails the step", code == 1, output)
        check(
            "the error is an annotation at its place",
            "::error file=specs/bad.yaml,line=5,col=5,title=unknown-kind::unknown layer kind 'MaxPool2D'" in output,
            output,
        )
        check("the installed version is printed", re.search(r"^cnnshape \d+\.\d+", output, re.M) is not None, output)

        # paths and args: only the good spec, with a budget it exceeds (8*3*3*3 + 8 = 224
        # parameters against 200) and one it meets.
        code, output = run_action({"paths": "specs/good.yaml", "args": "--max-params 200"}, workspace, temp)
        check("args reach cnnshape lint (a budget)", code == 1 and "title=budget::" in output, output)
        code, output = run_action(
            {"paths": "specs/good.yaml\nspecs/g*.yaml", "args": "--max-params 224"}, workspace, temp
        )
        check(
            "a clean spec passes; paths split at newlines; a glob reaches cnnshape",
            code == 0 and "checked: 0 error(s), 0 warning(s)" in output,
            output,
        )

        # version: a tag of a repository (here this clone, as a git URL) instead of the checkout.
        if has_tag("v0.1.0"):
            code, output = run_action(
                {"paths": "specs/good.yaml", "version": "v0.1.0", "repository": f"file://{ROOT}"}, workspace, temp
            )
            check("version installs that tag (cnnshape 0.1.0)", code == 0 and "cnnshape 0.1.0\n" in output, output)
        else:
            print("action.yml: version: not checked (this clone has no tag v0.1.0; `git fetch --tags`)")


if __name__ == "__main__":
    main()
