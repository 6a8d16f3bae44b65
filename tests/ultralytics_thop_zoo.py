"""ultralytics-thop's profile() of cnnshape specs exported to PyTorch, measured in a process of
its own (tests/ultralytics_flops.py says why: two packages install `thop`).

Usage: python ultralytics_thop_zoo.py THOP_DIR SPEC ...  Prints one JSON object: {SPEC: the
count profile(model, inputs=(x,))[0] returns, as an integer, or an error text}.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(thop_dir: str, specs: list[str]) -> dict[str, object]:
    sys.path.insert(0, thop_dir)
    sys.path.insert(1, str(Path(__file__).parent))
    import thop

    if Path(thop.__file__).resolve().parent.parent != Path(thop_dir).resolve():
        raise SystemExit(f"thop comes from {thop.__file__}, not from {thop_dir}")
    from peer_counts import model

    counted: dict[str, object] = {}
    for spec in specs:
        try:
            net, x = model(spec, "meta")
            counted[spec] = round(thop.profile(net, inputs=(x,), verbose=False)[0])
        except Exception as exc:  # reported to the test, which names the spec
            counted[spec] = f"{type(exc).__name__}: {exc}"
    return counted


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2:])))
