"""Ultralytics model YAMLs read as shipped: parameters measured with the ultralytics package
at test time, parse_model's rules by hand, and errors located in the user's file."""

from __future__ import annotations

import copy
import importlib.util
import os
import re
from pathlib import Path

import pytest
from conftest import cli

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
# RT-DETR: RTDETRDecoder's query selection (TopK, Gather) and deformable attention (GridSample).
RTDETR = {
    "rt-detr/rtdetr-l.yaml",
    "rt-detr/rtdetr-x.yaml",
    "rt-detr/rtdetr-resnet50.yaml",
    "rt-detr/rtdetr-resnet101.yaml",
    "v8/yolov8-rtdetr.yaml",
}
# YOLO-World and YOLOE: modules that read the class text embeddings, a second input.
TEXT_CONFIGS = {
    "v8/yolov8-world.yaml",
    "v8/yolov8-worldv2.yaml",
    "v8/yoloe-v8.yaml",
    "v8/yoloe-v8-seg.yaml",
    "11/yoloe-11.yaml",
    "11/yoloe-11-seg.yaml",
    "26/yoloe-26.yaml",
    "26/yoloe-26-seg.yaml",
}
# Configs whose every scale must analyse with Ultralytics' parameter count (the rest must
# either do so or name the module cnnshape's library lacks, located in the file).
MUST_MATCH = {
    "v3/yolov3.yaml",
    "v3/yolov3-spp.yaml",
    "v3/yolov3-tiny.yaml",
    "v5/yolov5.yaml",
    "v5/yolov5-p6.yaml",
    "v6/yolov6.yaml",
    *(
        f"v8/yolov8{s}.yaml"
        for s in (
            "",
            "-p2",
            "-p6",
            "-seg",
            "-seg-p6",
            "-pose",
            "-pose-p6",
            "-obb",
            "-cls",
            "-ghost",
            "-ghost-p2",
            "-ghost-p6",
        )
    ),
    *(f"11/yolo11{s}.yaml" for s in ("", "-seg", "-pose", "-obb", "-cls")),
    *(f"26/yolo26{s}.yaml" for s in ("", "-p2", "-p6", "-obb", "-cls", "-seg", "-depth", "-sem", "-pose")),
    *(f"12/yolo12{s}.yaml" for s in ("", "-seg", "-pose", "-obb", "-cls")),
    *(f"v10/yolov10{s}.yaml" for s in "nsmblx"),
    *(f"v9/yolov9{s}.yaml" for s in ("t", "s", "m", "c", "c-seg", "e", "e-seg")),
    "v8/yolov8-cls-resnet50.yaml",
    "v8/yolov8-cls-resnet101.yaml",
    *TEXT_CONFIGS,
    *RTDETR,
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
        assert any(
            re.search(r"module '[\w.]+' is not in cnnshape's module library yet", p.message)
            or "module 'TorchVision' is not supported" in p.message
            for p in errors
        ), errors
        return
    if "TorchVision" in path.read_text(encoding="utf-8"):
        pytest.skip("building it in Ultralytics would download torchvision weights")
    assert report.totals.params == _ultralytics_params(path, scale)


def test_nc_is_a_network_setting() -> None:
    path = _root() / "v8" / "yolov8.yaml"
    report = analyze_file(path, {"scale": "s", "nc": 20})
    assert report.totals.params == _ultralytics_params(path, "s", nc=20)
    assert report.rows[-1].output_shapes == [(1, 4 + 20, 8400)]  # boxes and 20 class scores per anchor


@pytest.mark.parametrize(
    ("config", "model_class"),
    [
        ("v8/yolov8-world.yaml", "WorldModel"),
        ("v8/yoloe-v8-seg.yaml", "YOLOESegModel"),
        ("11/yoloe-11.yaml", "YOLOEModel"),
    ],
)
def test_text_input_and_outputs_equal_ultralytics(config: str, model_class: str) -> None:
    """The text input is what Ultralytics' model feeds its text-guided modules when no classes
    are set (WorldModel's txt_feats, YOLOEModel's class embeddings), and the outputs have the
    shapes of the model's eval forward on a 640 x 640 image (built on the CPU, measured)."""
    torch = pytest.importorskip("torch")
    from ultralytics.nn import tasks

    path = _root() / config
    data = tasks.yaml_model_load(path)
    data["scale"] = "n"
    model = getattr(tasks, model_class)(copy.deepcopy(data), verbose=False).eval()
    text = model.txt_feats if model_class == "WorldModel" else model.get_cls_pe(None, None)
    with torch.no_grad():
        result = model(torch.zeros(1, 3, 640, 640))
    outputs = [result[0]] if model_class != "YOLOESegModel" else list(result[0])  # (y, preds) or ((y, protos), preds)
    report = analyze_file(path, {"scale": "n"})
    assert report.inputs == {"image": (1, 3, 640, 640), "text": tuple(text.shape)}
    assert [o.shape for o in report.outputs] == [tuple(o.shape) for o in outputs]
    assert report.totals.params == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(("config", "scale"), [("v8/yolov8-rtdetr.yaml", "n"), ("rt-detr/rtdetr-resnet50.yaml", "l")])
def test_rtdetr_output_equals_ultralytics(config: str, scale: str) -> None:
    """RTDETRDecoder's eval output, the top num_queries (query, class) pairs as (B, 300, 6),
    has the shape of the model's forward on a 640 x 640 image (built on the CPU, measured)."""
    torch = pytest.importorskip("torch")
    from ultralytics.nn import tasks

    data = tasks.yaml_model_load(_root() / config)
    data["scale"] = scale
    model = tasks.RTDETRDetectionModel(copy.deepcopy(data), verbose=False).eval()
    with torch.no_grad():
        predictions, _ = model(torch.zeros(1, 3, 640, 640))
    report = analyze_file(_root() / config, {"scale": scale})
    assert [o.shape for o in report.outputs] == [tuple(predictions.shape)]
    assert report.totals.params == sum(p.numel() for p in model.parameters())


def test_text_guided_nc_is_a_network_setting() -> None:
    path = _root() / "v8" / "yolov8-world.yaml"
    report = analyze_file(path, {"scale": "s", "nc": 20})
    assert report.totals.params == _ultralytics_params(path, "s", nc=20)
    assert report.inputs["text"] == (1, 20, 512)  # the 20 classes' embeddings
    assert report.rows[-1].output_shapes == [(1, 4 + 20, 8400)]


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


@pytest.mark.parametrize(
    ("row", "code", "where", "text"), BROKEN_ROWS, ids=[b[1] + str(i) for i, b in enumerate(BROKEN_ROWS)]
)
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


@pytest.mark.parametrize(
    ("config", "scale"), [("v8/yolov8.yaml", "n"), ("11/yolo11.yaml", "m"), ("v8/yolov8-seg.yaml", "s")]
)
def test_rows_as_parse_model_prints_them(config: str, scale: str) -> None:
    """Ultralytics' own view (index, from, repeats, arguments) and each row's parameters,
    against what parse_model logs when it builds the model."""
    import logging

    torch = pytest.importorskip("torch")
    from ultralytics.nn.tasks import parse_model, yaml_model_load
    from ultralytics.utils import LOGGER

    path = _root() / config
    data = yaml_model_load(path)
    data["scale"] = scale
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    LOGGER.addHandler(handler)
    level = LOGGER.level
    LOGGER.setLevel(logging.INFO)
    try:
        with torch.device("meta"):
            parse_model(copy.deepcopy(data), ch=3, verbose=True)
    finally:
        LOGGER.removeHandler(handler)
        LOGGER.setLevel(level)
    # f"{i:>3}{f!s:>20}{n_:>3}{np:10.0f}  {module:<45}{args!s:<30}"
    printed = [line for line in "\n".join(lines).splitlines() if re.match(r"^\s*\d+\s", line)]
    report = analyze_file(path, {"scale": scale})
    view = report.source_view
    assert view is not None and view.columns == ["#", "from", "n", "arguments"]
    params = {row.name: row.params for row in report.rows}
    assert len(printed) == len(view.cells)
    for line in printed:
        index, frm, n, np_ = int(line[:3]), line[3:23].strip(), int(line[23:26]), int(line[26:36])
        args = line[83:].strip()
        cells = view.cells[f"model_{index}"]
        assert cells[:3] == [str(index), frm, str(n)]
        assert cells[3] == args
        assert params[f"model_{index}"] == np_


def _numbers(report: object) -> tuple:
    totals = report.totals  # type: ignore[attr-defined]
    return (totals.params, totals.buffers, totals.macs, totals.activation_bytes, [o.shape for o in report.outputs])  # type: ignore[attr-defined]


def test_convert_writes_a_native_spec_with_the_same_numbers(tmp_path: Path) -> None:
    from cnnshape.dialects import native_yaml
    from cnnshape.source import load_text

    text = native_yaml(load_text(TINY, "tiny.yaml"), {"scale": "a"})
    assert "backbone" not in text and "layers:" in text
    converted = analyze_text(text, "converted.yaml")
    assert not converted.warnings
    assert _numbers(converted) == _numbers(analyze_text(TINY, "tiny.yaml", overrides={"scale": "a"}))
    # nc stays a setting of the converted spec
    assert analyze_text(text, "converted.yaml", overrides={"nc": 5}).args["nc"] == 5


@pytest.mark.parametrize(
    ("config", "scale"), [("v8/yolov8.yaml", "n"), ("11/yolo11.yaml", "s"), ("v8/yolov8-pose.yaml", "m")]
)
def test_convert_command_round_trips_shipped_configs(config: str, scale: str, tmp_path: Path) -> None:

    path = _root() / config
    out = tmp_path / "native.yaml"
    result = cli("convert", str(path), "--scale", scale, "-o", str(out))
    assert result.exit_code == 0, result.output
    converted = analyze_file(out)
    assert not converted.warnings
    assert _numbers(converted) == _numbers(analyze_file(path, {"scale": scale}))
    assert converted.totals.params == _ultralytics_params(path, scale)


def test_docs_session_is_real_output(tmp_path: Path) -> None:
    """docs/ultralytics.md's console blocks are what the commands print (run in order, in a
    folder holding the shipped yolov8.yaml and yolo11.yaml and the page's broken.yaml)."""
    import shlex
    import shutil
    import subprocess
    import sys

    from test_docs import _shows

    root = _root()
    shutil.copy(root / "v8" / "yolov8.yaml", tmp_path)
    shutil.copy(root / "11" / "yolo11.yaml", tmp_path)
    shutil.copy(root / "v8" / "yolov8-world.yaml", tmp_path)
    page = (Path(__file__).parent.parent / "docs" / "ultralytics.md").read_text(encoding="utf-8")
    broken = next(block for block in re.findall(r"```yaml\n(.*?)```", page, re.S) if block.startswith("# broken.yaml"))
    (tmp_path / "broken.yaml").write_text(broken, encoding="utf-8")
    blocks = re.findall(r"```console\n(.*?)```", page, re.S)
    assert len(blocks) >= 5
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")
    }
    env.update(
        COLUMNS="160",
        PYTHONPATH=os.pathsep.join(filter(None, [str(Path(__file__).parent.parent), env.get("PYTHONPATH")])),
        PYTHONIOENCODING="utf-8",
        PYTHONWARNINGS="ignore",
    )
    for block in blocks:
        command, *shown = [row.rstrip() for row in block.splitlines()]
        assert command.startswith("$ cnnshape ")
        result = subprocess.run(
            [sys.executable, "-m", "cnnshape", *shlex.split(command)[2:]],
            capture_output=True,
            text=True,
            encoding="utf-8",
            cwd=tmp_path,
            env=env,
            timeout=300,
        )
        actual = [row.rstrip() for row in (result.stdout + result.stderr).splitlines()]
        while actual and not actual[-1]:
            actual.pop()  # the page's blocks end at their last line of text
        assert result.returncode == (1 if any(": error: " in row for row in shown) else 0), result.stderr
        assert _shows(shown, actual) if shown else True, f"{command}\n" + "\n".join(actual)


def test_convert_prints_to_stdout_without_output(tmp_path: Path) -> None:

    tiny, native = tmp_path / "tiny.yaml", tmp_path / "native.yaml"
    tiny.write_text(TINY, encoding="utf-8")
    result = cli("convert", str(tiny), "--scale", "a")
    assert result.exit_code == 0, result.output
    assert "\nlayers:\n" in result.stdout and "name: model_0" in result.stdout
    assert cli("convert", str(tiny), "--scale", "a", "-o", str(native)).exit_code == 0
    again = cli("convert", str(native))
    assert again.exit_code == 1 and "already a native cnnshape spec" in again.output


@pytest.mark.parametrize("config", ["v8/yolov8.yaml", "11/yolo11.yaml", "v8/yolov8-rtdetr.yaml"])
def test_exported_pytorch_model_verifies(config: str) -> None:
    """The PyTorch bridge builds the translated model and measures it (shapes, params, buffers;
    RT-DETR's decoder holds one query_pos_head that every decoder layer calls)."""
    pytest.importorskip("torch")

    result = cli("verify", str(_root() / config), "--set", "scale=n")
    assert result.exit_code == 0, result.output
    assert f"{_ultralytics_params(_root() / config, 'n'):,}" in result.output


# --- --scale on every command ------------------------------------------------------------

SCALE_COMMANDS = [
    ["summary", "{yolo}", "-f", "json"],
    ["explain", "{yolo}", "-f", "json", "-l", "model_0"],
    ["graph", "{yolo}"],
    ["compare", "{yolo}", "{yolo}", "-f", "json"],
    ["sweep", "{yolo}", "-f", "json"],
    ["lint", "{yolo}", "{native}", "-f", "json"],
    ["export", "{yolo}"],
]


@pytest.mark.parametrize("command", SCALE_COMMANDS, ids=[c[0] for c in SCALE_COMMANDS])
def test_scale_option_on_every_command(command: list[str], tmp_path: Path) -> None:
    """`--scale s` means `--set scale=s` on every command that reads a spec; the numbers are
    Ultralytics' own (yolov8s: parameters measured by building it)."""

    if command[0] == "export":
        pytest.importorskip("torch")
    yolo = tmp_path / "yolov8.yaml"
    yolo.write_text((_root() / "v8" / "yolov8.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    native = Path(__file__).parent.parent / "specs" / "resnet18.yaml"
    argv = [part.format(yolo=yolo, native=native) for part in command]
    with_scale = cli(*argv, "--scale", "s")
    assert with_scale.exit_code == 0, with_scale.output
    if command[0] != "lint":  # lint takes no --set: its --scale is for the Ultralytics files only
        with_set = cli(*argv, "--set", "scale=s")
        assert with_set.exit_code == 0, with_set.output
        assert with_scale.stdout == with_set.stdout
    if command[0] in ("summary", "compare", "sweep"):
        import json

        data = json.loads(with_scale.stdout)
        params = {
            "summary": lambda d: d["totals"]["params"],
            "compare": lambda d: d["totals"]["params"]["a"],
            "sweep": lambda d: d["points"][0]["params"],
        }[command[0]](data)
        assert params == _ultralytics_params(_root() / "v8" / "yolov8.yaml", "s")
    if command[0] == "lint":
        assert '"default-scale"' not in with_scale.stdout


def test_sweep_scale_takes_a_list() -> None:

    path = _root() / "v8" / "yolov8.yaml"
    result = cli("sweep", str(path), "--scale", "{n,s}", "-f", "csv")
    assert result.exit_code == 0, result.output
    rows = [line.split(",") for line in result.stdout.splitlines()[1:]]
    assert [(row[0], int(row[1])) for row in rows] == [
        ("n", _ultralytics_params(path, "n")),
        ("s", _ultralytics_params(path, "s")),
    ]


# --- Ultralytics' GFLOPs, measured --------------------------------------------------------

# A folder holding the ultralytics-thop package alone (.ci/run: `pip install --target DIR
# --no-deps ultralytics-thop`): thop 0.1.1, which the `thop` convention's tests need, owns
# the `thop` module of the shared environment, and without ultralytics-thop's `thop`
# Ultralytics' get_flops returns 0.
THOP_DIR = os.environ.get("CNNSHAPE_ULTRALYTICS_THOP_DIR")
# Every config is measured at its first scale, and these at every scale (the rules read only
# shapes, which the scale changes): CI's two cores build about 80 models in this test.
EVERY_SCALE = {
    "v8/yolov8.yaml",
    "v8/yolov8-seg.yaml",
    "v8/yolov8-world.yaml",
    "11/yolo11.yaml",
    "12/yolo12.yaml",
    "26/yolo26.yaml",
    "26/yoloe-26-seg.yaml",
    "v8/yolov8-rtdetr.yaml",
}


def _flops_cases() -> dict[str, list[tuple[str, str | None]]]:
    by_family: dict[str, list[tuple[str, str | None]]] = {}
    seen: set[str] = set()
    for config, scale in CASES:
        if config in EVERY_SCALE or config not in seen:
            by_family.setdefault(config.split("/")[0], []).append((config, scale))
        seen.add(config)
    return by_family


FLOPS_CASES = _flops_cases()


@pytest.mark.skipif(not THOP_DIR, reason="CNNSHAPE_ULTRALYTICS_THOP_DIR (a folder holding ultralytics-thop) is not set")
@pytest.mark.parametrize("family", sorted(FLOPS_CASES) or ["none"])
def test_gflops_equal_ultralytics_get_flops(family: str) -> None:
    """cnnshape's `ultralytics` convention against the GFLOPs model.info() prints: Ultralytics'
    get_flops(model, 640), measured at test time with ultralytics-thop (tests/ultralytics_flops.py)."""
    from cnnshape.count import CONVENTIONS, count

    assert THOP_DIR is not None
    root = _root()
    analysed = {}
    for config, scale in FLOPS_CASES[family]:
        if "TorchVision" in (root / config).read_text(encoding="utf-8"):
            continue  # building it in Ultralytics downloads torchvision weights
        try:
            analysed[f"{config}:{scale or ''}"] = analyze_file(root / config, {"scale": scale} if scale else {})
        except SpecError:
            assert config not in MUST_MATCH  # the missing module is test_shipped_config_params_equal_ultralytics's
    if not analysed:
        pytest.skip(f"no {family} config analyses yet")
    measured = _measure(list(analysed))
    wrong = []
    for case, report in analysed.items():
        theirs = measured[case]
        assert "error" not in theirs, (case, theirs)
        assert theirs["params"] == report.totals.params, case
        ours = count(report, CONVENTIONS["ultralytics"]).flops
        assert theirs["gflops"] > 0, case  # 0.0 is get_flops' answer when thop is missing or failed
        # AIFI builds its sin-cos position embedding in its forward with two `@` products,
        # (H*W, 1) @ (1, C/4) for the rows and the columns, which ultralytics-thop counts:
        # 2 x H*W x C/4 MACs, H*W*C FLOPs; cnnshape has no layer for a constant
        # (docs/ultralytics.md#rt-detr). The AIFI rows' outputs are (B, C, H, W).
        explained = sum(
            r.output_shapes[0][1] * r.output_shapes[0][2] * r.output_shapes[0][3]
            for r in report.rows
            if r.kind == "AIFI"
        )
        if ours + explained != round(theirs["gflops"] * 1e9):
            wrong.append(f"{case}: cnnshape {ours:,} + {explained:,}, Ultralytics {round(theirs['gflops'] * 1e9):,}")
        ((_, shown),) = report.source_view.figures  # type: ignore[union-attr]
        assert shown == ours
    assert not wrong, "\n".join(wrong)


def test_json_has_ultralytics_view() -> None:
    """summary -f json carries each row as parse_model states it; the rows' FLOPs add up to
    the network's in the ultralytics convention."""
    import json

    from cnnshape.count import CONVENTIONS, count

    path = _root() / "v8" / "yolov8.yaml"
    result = cli("summary", str(path), "--scale", "n", "-f", "json")
    assert result.exit_code == 0, result.output
    view = json.loads(result.stdout)["source_view"]
    data = yaml_rows(path)
    assert view["format"] == "Ultralytics" and len(view["rows"]) == len(data)
    for index, (row, written) in enumerate(zip(view["rows"], data, strict=True)):
        # from, module as written; repeats n = 3 and 6 become max(round(n * 0.33), 1) = 1, 2
        assert (row["index"], row["from"], row["module"]) == (index, written[0], written[2])
        assert row["repeats"] == (max(round(written[1] * 0.33), 1) if written[1] > 1 else 1)
    # row 0: Conv(c1=3, c2=make_divisible(64 * 0.25, 8) = 16, k=3, s=2)
    assert view["rows"][0]["args"] == [3, 16, 3, 2]
    report = analyze_file(path, {"scale": "n"})
    total = count(report, CONVENTIONS["ultralytics"]).flops
    assert sum(row["flops"] for row in view["rows"]) == total == view["flops"][0]["flops"]
    assert [h["label"] for h in view["highlights"]] == ["level 0 (row 15)", "level 1 (row 18)", "level 2 (row 21)"]


def yaml_rows(path: Path) -> list[list[object]]:
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return list(data["backbone"]) + list(data["head"])


def _measure(cases: list[str], *flags: str) -> dict[str, dict]:
    """Ultralytics' own figures for CONFIG:SCALE cases, from tests/ultralytics_flops.py."""
    import json
    import subprocess
    import sys

    assert THOP_DIR is not None
    script = Path(__file__).with_name("ultralytics_flops.py")
    result = subprocess.run(
        [sys.executable, str(script), THOP_DIR, *flags, *cases],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    measured: dict[str, dict] = json.loads(result.stdout.strip().splitlines()[-1])
    return measured


@pytest.mark.skipif(not THOP_DIR, reason="CNNSHAPE_ULTRALYTICS_THOP_DIR (a folder holding ultralytics-thop) is not set")
def test_row_flops_equal_ultralytics_per_layer_profile() -> None:
    """JSON's per-row FLOPs against Ultralytics' per-layer profile (thop.profile on each row's
    module with the inputs it gets, as BaseModel._profile_one_layer does)."""
    from cnnshape.render.json import source_view

    cases = {"v8/yolov8.yaml:n": ("v8/yolov8.yaml", "n"), "v8/yolov8-seg.yaml:s": ("v8/yolov8-seg.yaml", "s")}
    measured = _measure(list(cases), "--rows")
    for case, (config, scale) in cases.items():
        view = source_view(analyze_file(_root() / config, {"scale": scale}))
        assert view is not None
        assert [row["flops"] for row in view["rows"]] == measured[case]["rows"], case


@pytest.mark.parametrize("activation", [None, "nn.LeakyReLU(0.1)", "torch.nn.Hardswish()"])
def test_activation_key_sets_the_conv_activation(activation: str | None) -> None:
    """yolov6.yaml's `activation: torch.nn.ReLU()` (parse_model sets Conv.default_act from it):
    each activation module Ultralytics builds is one layer of that kind here."""
    import collections

    torch = pytest.importorskip("torch")
    from ultralytics.nn.tasks import parse_model, yaml_model_load

    path = _root() / "v6" / "yolov6.yaml"
    data = yaml_model_load(path)
    data["scale"] = "n"
    text = path.read_text(encoding="utf-8")
    if activation is not None:
        data["activation"] = activation
        text = text.replace("activation: torch.nn.ReLU()", f"activation: {activation}")
    with torch.device("meta"):
        model, _ = parse_model(copy.deepcopy(data), ch=3, verbose=False)
    theirs = collections.Counter(
        type(m).__name__
        for _, m in model.named_modules(remove_duplicate=False)
        if isinstance(m, (torch.nn.ReLU, torch.nn.SiLU, torch.nn.LeakyReLU, torch.nn.Hardswish))
    )
    report = analyze_text(text, "yolov6n.yaml")
    ours = collections.Counter(
        row.kind for row in report.rows if row.kind in ("ReLU", "SiLU", "LeakyReLU", "Hardswish")
    )
    assert ours == theirs and len(theirs) == 1
    assert report.totals.params == sum(p.numel() for p in model.parameters())
    if activation == "nn.LeakyReLU(0.1)":
        from cnnshape.dialects import native_yaml
        from cnnshape.source import load_text

        assert "LeakyReLU: {negative_slope: 0.1, if: $act, name: act}" in native_yaml(load_text(text, "yolov6n.yaml"))


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("__import__('os').system('true')", "bad-value"),
        ("nn.Conv2d(3, 4, 1)", "unknown-kind"),
        ("nn.ELU(1.0, True)", "bad-value"),
        # Deep enough to exhaust Python's parser (MemoryError, RecursionError) if it got there
        ("nn.ReLU(" + "-" * 200_000 + "1)", "bad-value"),
        ("nn.ReLU(" + "1+" * 100_000 + "1)", "bad-value"),
    ],
    ids=["import", "conv", "elu-args", "deep-unary", "long-sum"],
)
def test_bad_activation_is_located(value: str, code: str) -> None:
    spec = TINY.replace("nc: 3\n", f"nc: 3\nactivation: {value}\n")
    with pytest.raises(SpecError) as caught:
        analyze_text(spec, "mine.yaml", overrides={"scale": "a"})
    (problem,) = caught.value.problems
    assert (problem.line, problem.code) == (2, code), problem


@pytest.mark.skipif(not THOP_DIR, reason="CNNSHAPE_ULTRALYTICS_THOP_DIR (a folder holding ultralytics-thop) is not set")
def test_ultralytics_convention_equals_ultralytics_thop_on_the_zoo() -> None:
    """`--count ultralytics` on every zoo spec: ultralytics-thop's profile() of the spec
    exported to PyTorch, measured at test time (tests/ultralytics_thop_zoo.py), to the digit."""
    import json
    import subprocess
    import sys

    pytest.importorskip("torch")
    from cnnshape.count import CONVENTIONS, count

    assert THOP_DIR is not None
    root = Path(__file__).parent.parent
    specs = sorted(str(path) for path in (root / "specs").glob("*.yaml"))
    script = Path(__file__).with_name("ultralytics_thop_zoo.py")
    env = {
        **os.environ,
        "PYTHONWARNINGS": "ignore",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])),
    }
    result = subprocess.run(
        [sys.executable, str(script), THOP_DIR, *specs], capture_output=True, text=True, timeout=600, env=env
    )
    assert result.returncode == 0, result.stderr[-3000:]
    theirs = json.loads(result.stdout.strip().splitlines()[-1])
    ours = {spec: count(analyze_file(spec), CONVENTIONS["ultralytics"]).macs for spec in specs}
    assert ours == theirs


def test_rtdetr_decoder_other_than_the_library_is_located() -> None:
    """An RTDETRDecoder row with three decoder layers (ndl, its seventh argument as
    parse_model passes them, the sixth written) is an error at that argument."""
    text = (_root() / "v8" / "yolov8-rtdetr.yaml").read_text(encoding="utf-8")
    row = "RTDETRDecoder, [nc]]"
    assert text.count(row) == 1
    text = text.replace(row, "RTDETRDecoder, [nc, 256, 300, 4, 8, 3]]")
    with pytest.raises(SpecError) as caught:
        analyze_text(text, "mine.yaml", overrides={"scale": "n"})
    (problem,) = [p for p in caught.value.problems if p.severity == "error"]
    line = next(n for n, line in enumerate(text.splitlines(), 1) if "RTDETRDecoder, [nc" in line)
    col = text.splitlines()[line - 1].index(", 3]]") + 3
    assert (problem.code, problem.line, problem.col) == ("bad-value", line, col), problem
    assert "ndl=3" in problem.message
