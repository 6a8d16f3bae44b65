"""Benchmarks for cnnshape (run by hand, never in the test suite).

    python bench/bench.py                  # all
    python bench/bench.py --quick          # skip the 100k-layer spec
    python bench/bench.py --only startup   # one part: startup, tools, scaling, lint

Reports, side by side:
- start-up: `cnnshape summary specs/resnet50.yaml` (json and table) and
  `cnnshape.analyze` in a fresh process against the library floor (bench/library_floor.py:
  PyYAML + one pydantic model, no Typer), each with its target ratio; against the import
  floor of its own dependencies (`python -c "import typer, rich, yaml, pydantic"`) and
  against the stack floor (bench/stack_floor.py: the smallest Typer + PyYAML + pydantic
  program doing the same kind of job), with one pydantic model alone for scale; all
  interleaved round by round, best and median;
- the PyTorch-hook tools on the same network (a plain torch.nn ResNet-50), where
  torch, torchinfo and ptflops are installed: wall time and peak memory;
- scaling: synthetic conv/ReLU chains of 1k, 10k and 100k layers with `--format json`:
  wall time and peak memory (ru_maxrss of the child), and time per layer (linear = flat);
- lint: 1,000 zoo specs (copies of specs/*.yaml) in one `cnnshape lint` call.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def child_env() -> dict[str, str]:
    """The environment for measured children: an installed package has its bytecode
    compiled (pip does it), so a PYTHONDONTWRITEBYTECODE left in the shell must not make
    every run compile cnnshape from source (about 40 ms) while the dependencies load .pyc."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def run(cmd: list[str], check: bool = True) -> tuple[float, int, float]:
    """Wall seconds, peak RSS (KiB) and CPU seconds (user + system) of one child process,
    measured by GNU time when available (ru_maxrss of RUSAGE_CHILDREN is a maximum over
    all children so far)."""
    timer = ["/usr/bin/time", "-f", "%e %M %U %S"] if os.path.exists("/usr/bin/time") else []
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        timer + cmd,
        check=check,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=child_env(),
    )
    elapsed = time.perf_counter() - start
    if timer:
        last = done.stderr.strip().splitlines()[-1].split()
        return float(last[0]), int(last[1]), float(last[2]) + float(last[3])
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, after.ru_maxrss, cpu


def wall(cmd: list[str]) -> float:
    """Wall seconds of one child, by perf_counter (GNU time's %e has 10 ms steps)."""
    return timed(cmd)[0]


def timed(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one child. On a busy machine the
    CPU time moves far less than the wall time: the child is waiting, not working."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT, env=child_env())
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def startup(commands: dict[str, list[str]], rounds: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Each command once per round, in turn, after one warm-up run each (which also
    writes any missing bytecode): load that drifts during the run hits all of them alike.
    Wall and CPU seconds per command."""
    for cmd in commands.values():
        wall(cmd)
    times: dict[str, list[float]] = {label: [] for label in commands}
    cpu: dict[str, list[float]] = {label: [] for label in commands}
    for _ in range(rounds):
        for label, cmd in commands.items():
            elapsed, used = timed(cmd)
            times[label].append(elapsed)
            cpu[label].append(used)
    return times, cpu


def synthetic(layers: int, folder: Path) -> Path:
    path = folder / f"chain-{layers}.yaml"
    lines = [f"name: chain-{layers}", "input: [1, 16, 32, 32]", "layers:"]
    lines += ["  - Conv2d: {out_channels: 16, kernel_size: 3, padding: 1}", "  - ReLU"] * (layers // 2)
    path.write_text("\n".join(lines) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=15, help="start-up rounds")
    parser.add_argument(
        "--only",
        choices=("startup", "tools", "scaling", "lint"),
        action="append",
        help="run only these parts (repeatable); default: all",
    )
    options = parser.parse_args()
    py = sys.executable
    spec = "specs/resnet50.yaml" if (ROOT / "specs/resnet50.yaml").exists() else "specs/resnet18.yaml"

    parts = set(options.only or ("startup", "tools", "scaling", "lint"))
    if "startup" in parts:
        report_startup(py, spec, options.rounds)
    if "tools" in parts:
        report_tools(py, spec)
    if "scaling" in parts:
        report_scaling(py, options.quick)
    if "lint" in parts:
        report_lint(py)


PYDANTIC_MODEL = "from pydantic import BaseModel\nclass M(BaseModel):\n    x: int\nM(x=1)"


# Start-up targets (issue 15): each a ratio of medians in one run, against its floor.
TARGETS = {
    "cnnshape summary --format json": ("stack", 1.25),
    "cnnshape summary (table)": ("stack", 1.5),
    "cnnshape.analyze (fresh process)": ("library", 1.25),
}


def report_startup(py: str, spec: str, rounds: int) -> None:
    commands = {
        "python -c pass": [py, "-c", "pass"],
        "import floor: import typer, rich, yaml, pydantic": [py, "-c", "import typer, rich, yaml, pydantic"],
        "one pydantic model, validated once (no Typer)": [py, "-c", PYDANTIC_MODEL],
        "stack floor: bench/stack_floor.py, same job shape": [
            py,
            str(ROOT / "bench" / "stack_floor.py"),
            "summary",
            spec,
            "--format",
            "json",
        ],
        "library floor: bench/library_floor.py": [py, str(ROOT / "bench" / "library_floor.py"), spec],
        "cnnshape summary --format json": [py, "-m", "cnnshape", "summary", spec, "--format", "json"],
        "cnnshape summary (table)": [py, "-m", "cnnshape", "summary", spec],
        "cnnshape.analyze (fresh process)": [py, "-c", f"import cnnshape; cnnshape.analyze({spec!r})"],
    }
    times, cpu = startup(commands, rounds)
    best = {label: min(values) for label, values in times.items()}
    median = {label: statistics.median(values) for label, values in times.items()}
    cpu_median = {label: statistics.median(values) for label, values in cpu.items()}
    floors = {"import": list(commands)[1], "stack": list(commands)[3], "library": list(commands)[4]}
    print(f"start-up ({spec}; {rounds} interleaved rounds; wall best / median, then CPU median)")
    for label in commands:
        ratios = ""
        if label not in ("python -c pass", floors["import"]):
            ratios = f"  {median[label] / median[floors['import']]:.2f} x import floor"
            if label.startswith("cnnshape"):
                ratios += f", {median[label] / median[floors['stack']]:.2f} x stack floor"
            if label in TARGETS:
                floor, target = TARGETS[label]
                ratio = median[label] / median[floors[floor]]
                cpu_ratio = cpu_median[label] / cpu_median[floors[floor]]
                ratios += (
                    f"; target <= {target} x {floor} floor: {ratio:.2f} {'met' if ratio <= target else 'NOT MET'}"
                    f" (CPU {cpu_ratio:.2f})"
                )
        print(
            f"  {label:<50} {best[label] * 1000:5.0f} / {median[label] * 1000:5.0f} ms  CPU {cpu_median[label] * 1000:5.0f} ms{ratios}"
        )


def report_tools(py: str, spec: str) -> None:
    print("PyTorch-hook tools on the same ResNet-50 (plain torch.nn), best of 3 each")
    ours, ours_peak, _ = min(run([py, "-m", "cnnshape", "summary", spec]) for _ in range(3))
    print(f"  cnnshape summary                           {ours:6.2f} s  peak {ours_peak / 1024:7.1f} MiB")
    for tool in ("torchinfo", "ptflops"):
        try:
            __import__("torch")
            __import__(tool)
        except ImportError:
            print(f"  {tool:<42} not installed")
            continue
        elapsed, peak, _ = min(run([py, str(ROOT / "bench" / "torch_resnet50.py"), tool]) for _ in range(3))
        print(f"  {tool:<42} {elapsed:6.2f} s  peak {peak / 1024:7.1f} MiB  ({elapsed / ours:.1f} x cnnshape)")


def report_scaling(py: str, quick: bool) -> None:
    sizes = [1_000, 10_000] + ([] if quick else [100_000])
    print("scaling (synthetic Conv2d/ReLU chains, --format json; best of 3 up to 10k layers)")
    with tempfile.TemporaryDirectory() as tmp:
        for layers in sizes:
            path = synthetic(layers, Path(tmp))
            # Best of three where a run is short enough for noise to matter.
            runs = [
                run([py, "-m", "cnnshape", "summary", str(path), "--format", "json"])
                for _ in range(3 if layers <= 10_000 else 1)
            ]
            elapsed, peak, _ = min(runs)
            cpu = min(used for _, _, used in runs)
            target = (
                "  (target <= 0.5 s: " + ("met" if elapsed <= 0.5 else "NOT MET") + f", CPU {cpu:.2f} s)"
                if layers == 10_000
                else ""
            )
            print(
                f"  {layers:>7,} layers  {elapsed:6.2f} s  CPU {cpu:6.2f} s  {elapsed / layers * 1e6:6.1f} us/layer  peak {peak / 1024:7.1f} MiB{target}"
            )


def report_lint(py: str) -> None:
    print("lint: 1,000 zoo specs in one call")
    with tempfile.TemporaryDirectory() as tmp:
        zoo = sorted((ROOT / "specs").glob("*.yaml"))
        for i in range(1000):
            source = zoo[i % len(zoo)]
            (Path(tmp) / f"{i:04d}-{source.name}").write_text(source.read_text())
        elapsed, peak, _ = run([py, "-m", "cnnshape", "lint", tmp, "--format", "json", "--no-config"], check=False)
        print(f"  1,000 specs  {elapsed:6.2f} s  {elapsed:.2f} ms/spec  peak {peak / 1024:7.1f} MiB")


if __name__ == "__main__":
    os.environ.setdefault("NO_COLOR", "1")
    main()
