"""Spec format 2, blocks and references: a block reads its input's shape, `name.*`
collections over repeated entries, and `else:` for skipped layers.

Expected numbers are worked out by hand in each test (Conv2d params = k*k*c_in*c_out + c_out
with bias; BatchNorm2d 2C) or measured with Ultralytics' own modules (optional tests).
"""

from __future__ import annotations

import pytest

from cnnshape.errors import SpecError
from cnnshape.pipeline import analyze_text
from cnnshape.report import Report, Row


def leaf(report: Report, name: str) -> Row:
    found = [row for row in report.rows if row.name == name]
    assert len(found) == 1, [row.name for row in report.rows]
    return found[0]


def errors(text: str) -> list[tuple[int, int, str, str]]:
    with pytest.raises(SpecError) as info:
        analyze_text(text, "t.yaml")
    return [(p.line, p.col, p.code, p.message) for p in info.value.problems if p.severity == "error"]


# --- a block reads its input ------------------------------------------------------------

INPUT_VARS = """
name: t
input: [2, 6, 10, 12]
blocks:
  Probe:
    args:
      c: $input_channels
      hw: $input_spatial
      both: $input_channel_list
      shapes: $input_shapes
      full: $input_shape
    layers:
      - Conv2d: {out_channels: "$(c + sum_of_two)", kernel_size: 1, from: input.0}
layers:
  - Conv2d: {out_channels: 4, kernel_size: 3, name: a}     # (2, 4, 8, 10)
  - Probe: {from: [input, a], name: p}
"""


def test_input_variables_describe_every_input() -> None:
    text = INPUT_VARS.replace("sum_of_two", "both[0] + both[1] + hw[0] + hw[1] + shapes[1][3] + full[0]")
    report = analyze_text(text, "t.yaml")
    # input 0 is the network input (2, 6, 10, 12); input 1 is `a`: 3x3 valid conv -> (2, 4, 8, 10).
    # out_channels = c + both[0] + both[1] + hw[0] + hw[1] + shapes[1][3] + full[0]
    #              = 6 + 6 + 4 + 10 + 12 + 10 + 2 = 50
    assert leaf(report, "p.conv2d_1").output_shape == (2, 50, 10, 12)
    assert leaf(report, "p.conv2d_1").params == 1 * 1 * 6 * 50 + 50


def test_each_repeated_copy_reads_its_own_input() -> None:
    # Each copy doubles the channels it receives: 3 -> 6 -> 12 -> 24.
    text = """
name: t
input: [1, 3, 8, 8]
blocks:
  Double:
    layers:
      - Conv2d: {out_channels: $(2 * input_channels), kernel_size: 1}
layers:
  - Double: {repeat: 3, name: d}
"""
    report = analyze_text(text, "t.yaml")
    assert [leaf(report, f"d_{i}.conv2d_1").params for i in (1, 2, 3)] == [3 * 6 + 6, 6 * 12 + 12, 12 * 24 + 24]
    assert report.outputs[0].shape == (1, 24, 8, 8)


def test_tied_argument_given_right_is_accepted_and_wrong_is_located() -> None:
    text = """
name: t
input: [1, 8, 4, 4]
blocks:
  Unit:
    args: {c1: $input_channels, c2: 8}
    layers:
      - Conv2d: {out_channels: $c2, kernel_size: 1}
layers:
  - Unit: {c1: 8, c2: 16}
  - Unit: {c1: 8, c2: 4}
"""
    found = errors(text)
    # The second use receives the first's 16 channels, not 8: the error is at its `c1: 8`.
    assert [(line, col, code) for line, col, code, _ in found] == [(11, 16, "input-mismatch")]
    assert "c1=8 disagrees with its input (1, 16, 4, 4)" in found[0][3]
    assert analyze_text(text.replace("{c1: 8, c2: 4}", "{c1: 16, c2: 4}"), "t.yaml").totals.params == (8 * 16 + 16) + (
        16 * 4 + 4
    )


def test_an_argument_that_only_defaults_to_a_number_is_not_tied() -> None:
    # `c1: 8` is a plain default: a use may give anything (the pre-format-2 behaviour).
    text = """
name: t
input: [1, 8, 4, 4]
blocks:
  Unit:
    args: {c1: 8}
    layers:
      - Conv2d: {out_channels: $c1, kernel_size: 1}
layers:
  - Unit: {c1: 3}
"""
    assert analyze_text(text, "t.yaml").totals.params == 8 * 3 + 3


def test_unknown_input_shape_is_reported_once_upstream() -> None:
    # The pool cannot fit (kernel 9 > 4): analysis says so, and the block that reads its
    # input's channels does not add an error of its own.
    text = """
name: t
input: [1, 8, 4, 4]
blocks:
  Unit:
    layers:
      - Conv2d: {out_channels: $(input_channels * 2), kernel_size: 1}
layers:
  - MaxPool2d: {kernel_size: 9}
  - Unit
"""
    assert [code for _, _, code, _ in errors(text)] == ["shape"]


def test_expansion_infers_each_layer_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shapes read during expansion are reused by analysis: every layer's formula runs once,
    so blocks that read their input keep the analysis linear. (Each use widens by one
    channel, so no two layers are equal: equal ones are computed once, the next test.)"""
    from cnnshape.layers.conv import Conv2d

    calls: list[int] = []
    original = Conv2d.infer
    monkeypatch.setattr(Conv2d, "infer", lambda self, shapes: calls.append(1) or original(self, shapes))
    text = """
name: t
input: [1, 4, 8, 8]
blocks:
  Wider:
    layers:
      - Conv2d: {out_channels: $(input_channels + 1), kernel_size: 3, padding: 1}
layers:
  - Wider: {repeat: 200}
"""
    report = analyze_text(text, "t.yaml")
    assert report.totals.layers == 200
    assert len(calls) == 200


def test_equal_layers_on_equal_shapes_are_computed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from cnnshape.layers.conv import Conv2d

    calls: list[int] = []
    original = Conv2d.infer
    monkeypatch.setattr(Conv2d, "infer", lambda self, shapes: calls.append(1) or original(self, shapes))
    text = """
name: t
input: [1, 4, 8, 8]
layers:
  - Conv2d: {out_channels: 4, kernel_size: 3, padding: 1, repeat: 50}
  - Conv2d: {out_channels: 4, kernel_size: 3, padding: 1}
"""
    report = analyze_text(text, "t.yaml")
    assert len(calls) == 1
    # Every row keeps its numbers: 4*4*3*3 + 4 = 148 parameters and 4*3*3 * 4*8*8 = 9,216 MACs each.
    assert [row.params for row in report.rows] == [148] * 51 and report.totals.params == 51 * 148
    assert [row.macs for row in report.rows] == [9216] * 51 and len({row.name for row in report.rows}) == 51


# --- collections: name.* ----------------------------------------------------------------

C2F = """
name: c2f
input: [1, 32, 40, 40]
args: {n: 2}
layers:
  - Conv2d: {out_channels: 32, kernel_size: 1, name: cv1}
  - Chunk: {chunks: 2, name: y}
  - Conv2d: {out_channels: 16, kernel_size: 3, padding: 1, from: y.1, repeat: $n, name: m}
  - Concat: {from: [y.0, y.1, m.*]}
  - Conv2d: {out_channels: 32, kernel_size: 1, name: cv2}
"""


@pytest.mark.parametrize("n", [0, 1, 3])
def test_collection_concatenates_every_copy(n: int) -> None:
    report = analyze_text(C2F, "t.yaml", overrides={"n": n})
    # cv1: 32*32 + 32 = 1056; each m: 9*16*16 + 16 = 2320; Concat: 16 + 16 + 16n channels;
    # cv2: (32 + 16n) * 32 + 32.
    assert leaf(report, "concat_1").output_shape == (1, 32 + 16 * n, 40, 40)
    assert report.totals.params == 1056 + n * 2320 + (32 + 16 * n) * 32 + 32


def test_collection_forms() -> None:
    text = """
name: t
input: [1, 2, 4, 4]
blocks:
  Pair:
    layers:
      - Conv2d: {out_channels: 3, kernel_size: 1, name: inner, from: input.0}
      - MaxPool2d: {kernel_size: 1, return_indices: true, name: pool}
layers:
  - Pair: {repeat: 2, name: u}
  - Concat: {from: [u.*.inner], name: inners}             # inner of each copy: 3 + 3
  - Concat: {from: ["u.*.0"], name: firsts}               # output 0 of each copy: 3 + 3
  - ReLU: {name: once}
  - Concat: {from: [once.*, once.*], name: single}        # not repeated: one copy each
  - ReLU: {name: skip, if: false}
  - Concat: {from: [input, skip.*], name: skipped}         # skipped: contributes nothing
"""
    report = analyze_text(text, "t.yaml")
    assert leaf(report, "inners").output_shape == (1, 6, 4, 4)
    assert leaf(report, "inners").inputs == ["u_1.inner", "u_2.inner"]
    assert leaf(report, "firsts").output_shape == (1, 6, 4, 4)
    assert leaf(report, "firsts").inputs == ["u_1.pool.0", "u_2.pool.0"]
    assert leaf(report, "single").output_shape == (1, 12, 4, 4)
    assert leaf(report, "skipped").inputs == ["input"]


def test_collection_of_a_huge_repeat_is_bounded() -> None:
    text = """
name: t
input: [1, 1, 1]
layers:
  - Identity: {repeat: 200000, name: m}
  - Concat: {from: [m.*, m.*, m.*, m.*, m.*, m.*]}
"""
    found = errors(text)
    assert [code for _, _, code, _ in found] == ["limit"]


# --- else ---------------------------------------------------------------------------------


def test_else_says_what_a_skipped_layer_stands_for() -> None:
    text = """
name: t
input: [1, 8, 4, 4]
args: {residual: false}
layers:
  - Conv2d: {out_channels: 8, kernel_size: 1, name: project}
  - Add: {from: [project, input], name: sum, if: $residual, else: project}
  - Conv2d: {out_channels: 2, kernel_size: 1}
"""
    report = analyze_text(text, "t.yaml")
    assert leaf(report, "conv2d_1").inputs == ["project"]
    # On: the Add runs and `else` is ignored.  8*8+8 + 8*2+2 either way.
    on = analyze_text(text, "t.yaml", overrides={"residual": True})
    assert leaf(on, "conv2d_1").inputs == ["sum"]
    assert report.totals.params == on.totals.params == 72 + 18


def test_else_is_checked_while_the_layer_is_on() -> None:
    text = """
name: t
input: [1, 8, 4, 4]
layers:
  - ReLU: {name: a}
  - Add: {from: [a, input], else: nope}
"""
    assert [(line, col, code) for line, col, code, _ in errors(text)] == [(6, 35, "unknown-reference")]


# --- Ultralytics' C2f, measured ---------------------------------------------------------

ULTRALYTICS_C2F = """
name: c2f
input: [1, $c1, 40, 40]
args: {c1: 48, c2: 64, n: 2, shortcut: true}
blocks:
  Conv:                       # ultralytics.nn.modules.conv.Conv: conv (no bias), BN, SiLU
    args: {c2: 16, k: 1}
    layers:
      - Conv2d: {out_channels: $c2, kernel_size: $k, padding: $(k // 2), bias: false}
      - BatchNorm2d: {eps: 0.001, momentum: 0.03}
      - SiLU
  Bottleneck:
    args: {c1: $input_channels, c2: 16, shortcut: true}
    layers:
      - Conv: {c2: $c2, k: 3}
      - Conv: {c2: $c2, k: 3, name: cv2}
      - Add: {from: [input, cv2], if: $(shortcut and c1 == c2), else: cv2}
  C2f:
    args: {c1: $input_channels, c2: 64, n: 1, shortcut: false, e: 0.5, c: $(int(c2 * e))}
    layers:
      - Conv: {c2: $(2 * c), name: cv1}
      - Chunk: {chunks: 2, name: y}
      - Bottleneck: {c2: $c, shortcut: $shortcut, from: y.1, repeat: $n, name: m}
      - Concat: {from: [y.0, y.1, m.*]}
      - Conv: {c2: $c2, name: cv2}
layers:
  - C2f: {c2: $c2, n: $n, shortcut: $shortcut}
"""


@pytest.mark.parametrize("c1,c2,n,shortcut", [(48, 64, 2, True), (64, 64, 0, False), (32, 128, 3, False)])
def test_c2f_matches_ultralytics(c1: int, c2: int, n: int, shortcut: bool) -> None:
    torch = pytest.importorskip("torch")
    block = pytest.importorskip("ultralytics.nn.modules.block")
    module = block.C2f(c1, c2, n, shortcut)
    expected = sum(p.numel() for p in module.parameters())
    out = module.eval()(torch.zeros(1, c1, 40, 40)).shape
    report = analyze_text(ULTRALYTICS_C2F, "t.yaml", overrides={"c1": c1, "c2": c2, "n": n, "shortcut": shortcut})
    assert report.totals.params == expected
    assert report.outputs[0].shape == tuple(out)


def test_c2f_exports_to_pytorch_with_the_same_parameters(tmp_path) -> None:
    """The bridge writes the new syntax too: the exported module, built with PyTorch, has
    Ultralytics' own C2f parameter count."""
    torch = pytest.importorskip("torch")
    block = pytest.importorskip("ultralytics.nn.modules.block")
    from cnnshape.bridge.export import export_file
    from cnnshape.bridge.verify import load_code

    path = tmp_path / "c2f.yaml"
    path.write_text(ULTRALYTICS_C2F, encoding="utf-8")
    model = load_code(export_file(path)).build()
    expected = sum(p.numel() for p in block.C2f(48, 64, 2, True).parameters())
    assert sum(p.numel() for p in model.parameters()) == expected
    assert tuple(model.eval()(torch.zeros(1, 48, 40, 40)).shape) == (1, 64, 40, 40)
