"""Benchmarks for cnnshape (run by hand, never in the test suite).

    python bench/bench.py            # all
    python bench/bench.py --quick    # skip the 100k-layer spec

Reports, side by side:
- start-up: `cnnshape summary specs/resnet50.yaml --format json` against the import floor
  of its own dependencies (`python -c "import typer, rich, yaml, pydantic"`), best of N;
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
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(cmd: list[str], check: bool = True) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one child process, measured by GNU time when
    available (ru_maxrss of RUSAGE_CHILDREN is a maximum over all children so far)."""
    timer = ["/usr/bin/time", "-f", "%e %M"] if os.path.exists("/usr/bin/time") else []
    start = time.perf_counter()
    done = subprocess.run(timer + cmd, check=check, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    elapsed = time.perf_counter() - start
    if timer:
        last = done.stderr.strip().splitlines()[-1].split()
        return float(last[0]), int(last[1])
    return elapsed, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss


def best(cmd: list[str], repeat: int) -> float:
    return min(run(cmd)[0] for _ in range(repeat))


def synthetic(layers: int, folder: Path) -> Path:
    path = folder / f"chain-{layers}.yaml"
    lines = [f"name: chain-{layers}", "input: [1, 16, 32, 32]", "layers:"]
    lines += ["  - Conv2d: {out_channels: 16, kernel_size: 3, padding: 1}", "  - ReLU"] * (layers // 2)
    path.write_text("\n".join(lines) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    py = sys.executable
    spec = "specs/resnet50.yaml" if (ROOT / "specs/resnet50.yaml").exists() else "specs/resnet18.yaml"

    floor = best([py, "-c", "import typer, rich, yaml, pydantic"], options.repeat)
    json_run = best([py, "-m", "cnnshape", "summary", spec, "--format", "json"], options.repeat)
    table_run = best([py, "-m", "cnnshape", "summary", spec], options.repeat)
    print(f"start-up ({spec}, best of {options.repeat})")
    print(f"  import floor (typer, rich, yaml, pydantic)  {floor * 1000:7.0f} ms")
    print(f"  summary --format json                      {json_run * 1000:7.0f} ms  ({json_run / floor:.2f} x floor)")
    print(f"  summary (table)                            {table_run * 1000:7.0f} ms  ({table_run / floor:.2f} x floor)")

    print("PyTorch-hook tools on the same ResNet-50 (plain torch.nn), one run each")
    ours, ours_peak = run([py, "-m", "cnnshape", "summary", spec])
    print(f"  cnnshape summary                           {ours:6.2f} s  peak {ours_peak / 1024:7.1f} MiB")
    for tool in ("torchinfo", "ptflops"):
        try:
            __import__("torch")
            __import__(tool)
        except ImportError:
            print(f"  {tool:<42} not installed")
            continue
        elapsed, peak = run([py, str(ROOT / "bench" / "torch_resnet50.py"), tool])
        print(f"  {tool:<42} {elapsed:6.2f} s  peak {peak / 1024:7.1f} MiB  ({elapsed / ours:.1f} x cnnshape)")

    sizes = [1_000, 10_000] + ([] if options.quick else [100_000])
    print("scaling (synthetic Conv2d/ReLU chains, --format json)")
    with tempfile.TemporaryDirectory() as tmp:
        for layers in sizes:
            path = synthetic(layers, Path(tmp))
            elapsed, peak = run([py, "-m", "cnnshape", "summary", str(path), "--format", "json"])
            print(f"  {layers:>7,} layers  {elapsed:6.2f} s  {elapsed / layers * 1e6:6.1f} us/layer  peak {peak / 1024:7.1f} MiB")

    print("lint: 1,000 zoo specs in one call")
    with tempfile.TemporaryDirectory() as tmp:
        zoo = sorted((ROOT / "specs").glob("*.yaml"))
        for i in range(1000):
            source = zoo[i % len(zoo)]
            (Path(tmp) / f"{i:04d}-{source.name}").write_text(source.read_text())
        elapsed, peak = run([py, "-m", "cnnshape", "lint", tmp, "--format", "json", "--no-config"], check=False)
        print(f"  1,000 specs  {elapsed:6.2f} s  {elapsed:.2f} ms/spec  peak {peak / 1024:7.1f} MiB")


if __name__ == "__main__":
    os.environ.setdefault("NO_COLOR", "1")
    main()
