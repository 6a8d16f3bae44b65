"""Property-based tests (hypothesis): random conv/pool/linear stacks give exactly the
closed-form shapes of PyTorch's documentation, and randomly mutated specs never produce
anything but located problems (no traceback)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cnnshape.errors import SpecError
from cnnshape.pipeline import analyze_text

# --- closed forms, written from PyTorch's docs (nn.Conv2d, nn.MaxPool2d) ---------------


def conv_out(size: int, k: int, s: int, p: int, d: int) -> int:
    # nn.Conv2d: floor((H_in + 2*padding - dilation*(kernel_size-1) - 1) / stride + 1)
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def pool_out(size: int, k: int, s: int, p: int, ceil_mode: bool) -> int:
    # nn.MaxPool2d, with PyTorch's pooling_output_shape rule for ceil_mode: the last
    # window must start inside the input or its left padding.
    span = size + 2 * p - (k - 1) - 1
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


conv = st.fixed_dictionaries(
    {
        "kind": st.just("Conv2d"),
        "out_channels": st.integers(1, 16),
        "kernel_size": st.integers(1, 5),
        "stride": st.integers(1, 3),
        "dilation": st.integers(1, 2),
        "pad": st.integers(0, 2),
        "bias": st.booleans(),
    }
)
pool = st.fixed_dictionaries(
    {
        "kind": st.just("MaxPool2d"),
        "kernel_size": st.integers(2, 3),
        "stride": st.integers(1, 2),
        "pad": st.integers(0, 1),
        "ceil_mode": st.booleans(),
    }
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    channels=st.integers(1, 8),
    height=st.integers(8, 48),
    width=st.integers(8, 48),
    layers=st.lists(st.one_of(conv, pool), min_size=1, max_size=6),
    features=st.integers(1, 32),
)
def test_random_stacks_match_the_closed_forms(channels, height, width, layers, features):
    lines = ["name: random", f"input: [2, {channels}, {height}, {width}]", "layers:"]
    c, h, w = channels, height, width
    params = 0
    macs = 0
    for layer in layers:
        if layer["kind"] == "Conv2d":
            k, s, p, d = layer["kernel_size"], layer["stride"], layer["pad"], layer["dilation"]
            h, w = conv_out(h, k, s, p, d), conv_out(w, k, s, p, d)
            assume(h >= 1 and w >= 1)
            out = layer["out_channels"]
            params += out * c * k * k + (out if layer["bias"] else 0)
            macs += 2 * out * h * w * c * k * k  # batch 2: output elements x (C_in * K * K)
            c = out
            lines.append(
                f"  - Conv2d: {{out_channels: {out}, kernel_size: {k}, stride: {s}, padding: {p}, "
                f"dilation: {d}, bias: {str(layer['bias']).lower()}}}"
            )
        else:
            k, s, p = layer["kernel_size"], layer["stride"], layer["pad"]
            assume(p <= k // 2)
            assume(h + 2 * p >= k and w + 2 * p >= k)
            h, w = pool_out(h, k, s, p, layer["ceil_mode"]), pool_out(w, k, s, p, layer["ceil_mode"])
            assume(h >= 1 and w >= 1)
            lines.append(
                f"  - MaxPool2d: {{kernel_size: {k}, stride: {s}, padding: {p}, "
                f"ceil_mode: {str(layer['ceil_mode']).lower()}}}"
            )
    lines += ["  - Flatten", f"  - Linear: {{out_features: {features}}}"]
    params += c * h * w * features + features
    macs += 2 * c * h * w * features
    report = analyze_text("\n".join(lines) + "\n")
    assert report.outputs[0].shape == (2, features)
    assert report.totals.params == params
    assert report.totals.macs == macs


# --- mutation: any edit of a real spec gives a result or located problems ------------

SPECS = sorted((Path(__file__).parent.parent / "specs").glob("*.yaml"))
SMALL = [p.read_text() for p in SPECS if p.stat().st_size < 6000]
NOISE = list(" -:{}[],$()#&*!|>'\"\t0123456789abcXYZ_.\n") + ["\x00", "\xff", "é", "-1", "0", "99999999999", "1e400"]


@st.composite
def mutated(draw):
    text = draw(st.sampled_from(SMALL))
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.integers(0, max(0, len(text) - 1)))
        action = draw(st.sampled_from(["insert", "delete", "replace", "duplicate-line", "drop-line"]))
        if action == "insert":
            text = text[:where] + draw(st.sampled_from(NOISE)) + text[where:]
        elif action == "delete":
            text = text[:where] + text[where + draw(st.integers(1, 8)) :]
        elif action == "replace":
            text = text[:where] + draw(st.sampled_from(NOISE)) + text[where + 1 :]
        else:
            lines = text.split("\n")
            i = draw(st.integers(0, len(lines) - 1))
            lines[i : i + 1] = [lines[i], lines[i]] if action == "duplicate-line" else []
            text = "\n".join(lines)
    return text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=mutated())
def test_mutated_specs_never_raise_anything_but_located_problems(text):
    try:
        analyze_text(text, "mutant.yaml")
    except SpecError as exc:
        assert exc.problems, "a SpecError always carries its problems"
        for problem in exc.problems:
            assert problem.file == "mutant.yaml"
            assert problem.line >= 1 and problem.col >= 1
            assert problem.message.strip() and "\n" not in problem.message


def test_there_are_small_specs_to_mutate():
    assert len(SMALL) >= 3
