"""Ultralytics' own GFLOPs of shipped model YAMLs, as model.info() computes them (get_flops at
imgsz 640), measured in a process of its own.

Usage: python ultralytics_flops.py THOP_DIR [--rows] CONFIG:SCALE ...  (CONFIG relative
to ultralytics/cfg/models; SCALE may be empty). Prints one JSON object: {"CONFIG:SCALE":
{"gflops": float, "params": int} or {"error": text}}; with --rows, each row's FLOPs too
("rows": [int, ...], as Ultralytics' per-layer profile counts them).

Ultralytics' GFLOPs come from the `thop` of the ultralytics-thop package; thop 0.1.1 installs
a module of the same name (the `thop` convention's tests use it), so THOP_DIR, a folder
holding ultralytics-thop alone (`pip install --target THOP_DIR --no-deps ultralytics-thop`),
goes first on sys.path here. The weights' random initialisation is skipped: it takes most
of the build time and changes no count.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main(thop_dir: str, cases: list[str], rows: bool = False) -> dict[str, dict[str, object]]:
    sys.path.insert(0, thop_dir)
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_VERBOSE", "False")
    import thop
    import torch

    if Path(thop.__file__).resolve().parent.parent != Path(thop_dir).resolve():
        raise SystemExit(f"thop comes from {thop.__file__}, not from {thop_dir}")
    torch.set_num_threads(1)
    for name in (
        "kaiming_uniform_",
        "kaiming_normal_",
        "uniform_",
        "normal_",
        "constant_",
        "zeros_",
        "ones_",
        "trunc_normal_",
        "xavier_uniform_",
        "xavier_normal_",
    ):
        setattr(torch.nn.init, name, lambda tensor, *args, **kwargs: tensor)
    import ultralytics
    from ultralytics.nn import tasks
    from ultralytics.utils.torch_utils import get_flops

    root = Path(ultralytics.__file__).parent / "cfg" / "models"
    by_task = {
        "detect": tasks.DetectionModel,
        "segment": tasks.SegmentationModel,
        "pose": tasks.PoseModel,
        "obb": tasks.OBBModel,
        "classify": tasks.ClassificationModel,
        "depth": tasks.DepthModel,
        "semantic": tasks.SemanticSegmentationModel,
    }
    measured: dict[str, dict[str, object]] = {}
    for case in cases:
        config, _, scale = case.partition(":")
        data = tasks.yaml_model_load(root / config)
        data["scale"] = scale or data.get("scale")
        heads = {row[2] for row in data["head"]}
        if "RTDETRDecoder" in heads:
            cls = tasks.RTDETRDetectionModel
        elif heads & {"YOLOEDetect", "YOLOESegment", "YOLOESegment26"}:
            cls = tasks.YOLOESegModel if heads & {"YOLOESegment", "YOLOESegment26"} else tasks.YOLOEModel
        elif "WorldDetect" in heads:
            cls = tasks.WorldModel
        else:
            cls = by_task[tasks.guess_model_task(data)]
        try:
            model = cls(data, verbose=False)
            gflops = get_flops(model, 640)
        except Exception as exc:  # reported to the test, which says which model failed
            measured[case] = {"error": f"{type(exc).__name__}: {exc}"}
            continue
        measured[case] = {"gflops": gflops, "params": sum(p.numel() for p in model.parameters())}
        if rows:
            measured[case]["rows"] = row_flops(model, thop, torch)
    return measured


def row_flops(model: object, thop: object, torch: object) -> list[int]:
    """Each row's FLOPs as Ultralytics profiles one layer (BaseModel._profile_one_layer:
    thop.profile(m, inputs=...)[0] x 2), on the inputs it gets in a 640 x 640 forward pass."""
    inputs: dict[int, tuple] = {}
    layers = list(model.model)  # type: ignore[attr-defined]
    hooks = [m.register_forward_pre_hook(lambda m, args, i=i: inputs.setdefault(i, args)) for i, m in enumerate(layers)]
    model.eval()  # type: ignore[attr-defined]
    with torch.no_grad():  # type: ignore[attr-defined]
        model(torch.zeros(1, 3, 640, 640))  # type: ignore[attr-defined,operator]
    for hook in hooks:
        hook.remove()
    return [round(2 * thop.profile(m, inputs=inputs[i], verbose=False)[0]) for i, m in enumerate(layers)]  # type: ignore[attr-defined]


if __name__ == "__main__":
    rows = "--rows" in sys.argv
    print(json.dumps(main(sys.argv[1], [arg for arg in sys.argv[2:] if arg != "--rows"], rows)))
