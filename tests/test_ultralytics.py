"""Ultralytics model YAMLs read as shipped: parameters measured with the ultralytics package
at test time, parse_model's rules by hand, and errors located in the user's file."""

from __future__ import annotations

import copy
import importlib.util
import os
import re
from pathlib import Path

import pytest

from cnnshape.errors import SpecError
from cnnshape.pipeline import analyze_file, analyze_text

# Never let ultralytics reach the network or write settings into the home folder.
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", "False")


def _configs() -> list[tuple[str, str | None]]:
    """(config path relative to cfg/models, scale) for every shipped config and scale,
    found without importing ultralytics (collection stays fast)."""
    spec = importlib.util.find_spec("ultralytics")
    if spec is None or spec.origin is None:
        return []
    import yaml

    root = Path(spec.origin).parent / "cfg" / "models"
    cases: list[tuple[str, str | None]] = []
    for path in sorted(root.rglob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        scales = list(data.get("scales") or {}) or [None]
        cases += [(path.relative_to(root).as_posix(), scale) for scale in scales]
    return cases


CASES = _configs()
# Configs whose every scale must analyse with Ultralytics' parameter count (the rest must
# either do so or name the module cnnshape's library lacks, located in the file).
MUST_MATCH = {
    "v8/yolov8.yaml", "v8/yolov8-p2.yaml", "11/yolo11.yaml", "26/yolo26.yaml", "26/yolo26-p2.yaml",
    "26/yolo26-p6.yaml", "v3/yolov3.yaml", "v5/yolov5.yaml", "v5/yolov5-p6.yaml",
}


def _root() -> Path:
    ultralytics = pytest.importorskip("ultralytics")
    return Path(ultralytics.__file__).parent / "cfg" / "models"


def _ultralytics_params(path: Path, scale: str | None, **settings: object) -> int:
    """Parameters of the model Ultralytics builds from the file (on the meta device: no
    memory, no weights, no forward pass)."""
    torch = pytest.importorskip("torch")
    from ultralytics.nn.tasks import parse_model, yaml_model_load

    data = yaml_model_load(path)
    data["scale"] = scale or data.get("scale")
    data.update(settings)
    with torch.device("meta"):
        model, _ = parse_model(copy.deepcopy(data), ch=data.get("channels", 3), verbose=False)
    return sum(p.numel() for p in model.parameters())


@pytest.mark.skipif(not CASES, reason="ultralytics is not installed")
@pytest.mark.parametrize(("config", "scale"), CASES or [("none", None)], ids=[f"{c}-{s}" for c, s in CASES] or ["none"])
def test_shipped_config_params_equal_ultralytics(config: str, scale: str | None) -> None:
    path = _root() / config
    overrides = {"scale": scale} if scale else {}
    try:
        report = analyze_file(path, overrides)
    except SpecError as exc:
        assert config not in MUST_MATCH, exc.problems
        errors = [p for p in exc.problems if p.severity == "error"]
        # A located statement of what is missing, in the user's file, never a traceback.
        assert errors and all(p.file == str(path) and p.line > 1 for p in errors), errors
        assert any(re.search(r"module '[\w.]+' is not in cnnshape's module library yet", p.message) for p in errors), errors
        return
    if "TorchVision" in path.read_text(encoding="utf-8"):
        pytest.skip("building it in Ultralytics would download torchvision weights")
    assert report.totals.params == _ultralytics_params(path, scale)


def test_nc_is_a_network_setting() -> None:
    path = _root() / "v8" / "yolov8.yaml"
    report = analyze_file(path, {"scale": "s", "nc": 20})
    assert report.totals.params == _ultralytics_params(path, "s", nc=20)
    assert report.rows[-1].output_shapes == [(1, 4 + 20, 8400)]  # boxes and 20 class scores per anchor


# --- parse_model's rules, by hand ------------------------------------------------------

TINY = """\
nc: 3
scales:
  a: [0.5, 0.25, 64]
  b: [1.0, 1.0, 1024]
backbone:
  - [-1, 1, Conv, [64, 3, 2]]
  - [-1, 3, C2f, [128, True]]
head:
  - [[-1, 0], 1, Concat, [1]]
"""


def test_width_depth_and_cap_by_hand() -> None:
    # Scale a: Conv c2 = ceil(min(64, 64) * 0.25 / 8) * 8 = 16; C2f c2 = min(128, 64) * 0.25
    # = 16; n = max(round(3 * 0.5), 1) = 2 (round(1.5) is 2).
    # Conv 3x3 3->16: 3*16*9 = 432 weights + BN 32 = 464.
    # C2f(16, 16, n=2, shortcut): c = 8; cv1 16->16 1x1: 256 + 32 = 288; two Bottlenecks
    # 8->8 3x3 twice: 2 * 2 * (8*8*9 + 16) = 2368; cv2 (2+2)*8=32 -> 16: 512 + 32 = 544.
    report = analyze_text(TINY, "tiny.yaml", overrides={"scale": "a"})
    assert report.totals.params == 464 + 288 + 2368 + 544
    # Concat of the C2f's 16 channels and row 0's 16: 32 channels at 320x320.
    assert report.rows[-1].output_shapes == [(1, 32, 320, 320)]


def test_scale_from_the_file_name_and_the_first_scale_noted(tmp_path: Path) -> None:
    named = tmp_path / "yolov8b.yaml"  # 'b' is not a scale letter Ultralytics guesses
    named.write_text(TINY, encoding="utf-8")
    report = analyze_file(named)
    (note,) = [w for w in report.warnings if w.code == "default-scale"]
    assert note.file == str(named) and (note.line, note.col) == (2, 1)
    assert "using 'a'" in note.message


BROKEN_ROWS = [
    ("  - [-1, 1, Conv]\n", "bad-layer", (7, 5), "a row is [from, repeats, module, args]"),
    ("  - [-4, 1, Conv, [8]]\n", "unknown-reference", (7, 6), "points to row -3"),
    ("  - [-1, 1, Cnov, [8]]\n", "unknown-kind", (7, 13), "did you mean 'Conv'?"),
    ("  - [-1, 1, Conv, [8, 3, 1, null, 1, 1, true, 9]]\n", "bad-value", (7, 19), "takes at most 8 arguments"),
    ("  - [-1, 0, Conv, [8]]\n", "bad-value", (7, 10), "repeats must be a positive integer"),
]


@pytest.mark.parametrize(("row", "code", "where", "text"), BROKEN_ROWS, ids=[b[1] + str(i) for i, b in enumerate(BROKEN_ROWS)])
def test_broken_rows_are_located(row: str, code: str, where: tuple[int, int], text: str) -> None:
    spec = TINY.replace("  - [-1, 3, C2f, [128, True]]\n", row)
    with pytest.raises(SpecError) as caught:
        analyze_text(spec, "mine.yaml", overrides={"scale": "a"})
    (problem,) = [p for p in caught.value.problems if p.severity == "error"]
    assert (problem.file, problem.code, (problem.line, problem.col)) == ("mine.yaml", code, where), problem
    assert text in problem.message


def test_concat_of_mismatched_sizes_is_located_at_the_row() -> None:
    # Row 1 halves the size again (160 x 160); the Concat joins it with row 0 (320 x 320).
    spec = TINY.replace("  - [-1, 3, C2f, [128, True]]\n", "  - [-1, 1, Conv, [8, 3, 2]]\n")
    with pytest.raises(SpecError) as caught:
        analyze_text(spec, "mine.yaml", overrides={"scale": "a"})
    errors = [p for p in caught.value.problems if p.severity == "error"]
    assert [(p.code, p.file, p.line) for p in errors] == [("shape", "mine.yaml", 9)], errors


def test_unknown_scale_is_located_at_scales() -> None:
    with pytest.raises(SpecError) as caught:
        analyze_text(TINY, "mine.yaml", overrides={"scale": "q"})
    (problem,) = caught.value.problems
    assert (problem.line, problem.col, problem.code) == (2, 1, "bad-value")
    assert "this file's scales are a, b" in problem.message
