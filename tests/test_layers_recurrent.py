"""Formula cases of RNN, LSTM, GRU, Embedding and MaxUnpool: parameters and MACs worked out
by hand below, and parameters, buffers and every output's shape measured with PyTorch at
test time (optional tests)."""

from __future__ import annotations

import itertools

import pytest
from pydantic import ValidationError

from cnnshape.errors import ShapeError
from cnnshape.layers import REGISTRY
from cnnshape.pipeline import analyze_text

FORMULA_KINDS = {"RNN", "LSTM", "GRU", "Embedding", "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d"}


def test_lstm_by_hand() -> None:
    # LSTM(64 -> 256), 2 layers, bidirectional; G = 4 gates, so 4*256 = 1024 rows.
    #  layer 0, per direction: W_ih 1024x64 + W_hh 1024x256 + 2 biases of 1024
    #                          = 65,536 + 262,144 + 2,048 = 329,728
    #  layer 1 reads both directions (512): 1024x512 + 1024x256 + 2,048 = 788,480
    #  total: 2 x (329,728 + 788,480) = 2,236,416
    # MACs per time step and sample: every weight once = 2 x (65,536 + 262,144 + 524,288 + 262,144)
    #  = 2,228,224; 25 steps, batch 1: 55,705,600.
    result = REGISTRY["LSTM"](hidden_size=256, num_layers=2, bidirectional=True).infer([(25, 1, 64)])
    assert result.params == 2_236_416
    assert result.macs == 55_705_600
    # output (L, N, 2*256); h_n and c_n (2 layers x 2 directions, N, 256)
    assert result.shapes == [(25, 1, 512), (4, 1, 256), (4, 1, 256)]


def test_projected_lstm_by_hand() -> None:
    # proj_size 5 of hidden 20, input 10: W_ih 80x10, W_hh 80x5, biases 2x80, W_hr 5x20
    # = 800 + 400 + 160 + 100 = 1,460; h_n is (1, N, 5), c_n keeps (1, N, 20).
    result = REGISTRY["LSTM"](hidden_size=20, proj_size=5, batch_first=True).infer([(3, 7, 10)])
    assert result.params == 1_460
    assert result.shapes == [(3, 7, 5), (1, 3, 5), (1, 3, 20)]
    with pytest.raises(ValidationError):
        REGISTRY["LSTM"](hidden_size=20, proj_size=20)


def test_gru_and_rnn_by_hand() -> None:
    # GRU(32 -> 16): 3 gates, 48 rows: 48x32 + 48x16 + 2x48 = 1,536 + 768 + 96 = 2,400
    gru = REGISTRY["GRU"](hidden_size=16).infer([(12, 32)])  # unbatched (L, H_in)
    assert gru.params == 2_400 and gru.shapes == [(12, 16), (1, 16)]
    assert gru.macs == 12 * (1_536 + 768)
    # RNN without bias: 16x8 + 16x16 = 384
    assert REGISTRY["RNN"](hidden_size=16, bias=False).infer([(5, 2, 8)]).params == 384


def test_declared_input_size_is_checked() -> None:
    with pytest.raises(ShapeError):
        REGISTRY["GRU"](hidden_size=16, input_size=10).infer([(4, 2, 8)])
    with pytest.raises(ShapeError):
        REGISTRY["RNN"](hidden_size=16).infer([(1, 4, 2, 8)])


def test_embedding_by_hand() -> None:
    # 10,000 x 128 = 1,280,000 parameters; (N, L) ids -> (N, L, 128)
    result = REGISTRY["Embedding"](num_embeddings=10_000, embedding_dim=128).infer([(4, 50)])
    assert (result.params, result.macs, result.shapes) == (1_280_000, 0, [(4, 50, 128)])
    with pytest.raises(ValidationError):
        REGISTRY["Embedding"](num_embeddings=10, embedding_dim=4, padding_idx=10)


def test_max_unpool_by_hand() -> None:
    # (I - 1)*S - 2P + K: H (16 - 1)*2 - 0 + 2 = 32, W (50 - 1)*2 + 2 = 100
    layer = REGISTRY["MaxUnpool2d"](kernel_size=2)
    assert layer.infer([(1, 64, 16, 50)] * 2).shapes == [(1, 64, 32, 100)]
    with pytest.raises(ShapeError, match="same shape"):
        layer.infer([(1, 64, 16, 50), (1, 64, 16, 49)])


def test_segnet_style_unpool_in_a_spec() -> None:
    report = analyze_text("""
name: unpool
input: [1, 3, 32, 32]
layers:
  - MaxPool2d: {kernel_size: 2, return_indices: true, name: pool}
  - MaxUnpool2d: {kernel_size: 2, from: [pool.0, pool.1], name: up}
""")
    assert tuple(report.rows[-1].output_shapes[0]) == (1, 3, 32, 32)


# --- measured with PyTorch ----------------------------------------------------------------

RECURRENT_CASES = [
    (kind, layers, bidirectional, bias, batch_first, proj, unbatched)
    for kind, layers, bidirectional, bias, batch_first, proj, unbatched in itertools.product(
        ("RNN", "GRU", "LSTM"), (1, 3), (False, True), (True, False), (False, True), (0, 4), (False, True)
    )
    if not (proj and kind != "LSTM")
]


@pytest.mark.parametrize("kind, layers, bidirectional, bias, batch_first, proj, unbatched", RECURRENT_CASES)
def test_recurrent_measured_with_torch(kind, layers, bidirectional, bias, batch_first, proj, unbatched) -> None:
    torch = pytest.importorskip("torch")
    args = {
        "hidden_size": 12,
        "num_layers": layers,
        "bidirectional": bidirectional,
        "bias": bias,
        "batch_first": batch_first,
        **({"proj_size": proj} if proj else {}),
    }
    shape = (7, 10) if unbatched else ((3, 7, 10) if batch_first else (7, 3, 10))
    module = getattr(torch.nn, kind)(input_size=10, **args)
    output, state = module(torch.zeros(shape))
    measured = [tuple(output.shape)] + [tuple(t.shape) for t in (state if isinstance(state, tuple) else (state,))]
    result = REGISTRY[kind](**args).infer([shape])
    assert result.shapes == measured
    assert result.params == sum(p.numel() for p in module.parameters())
    assert result.buffers == sum(b.numel() for b in module.buffers())
    # Each weight matrix once per time step and sample, from torch's own parameter shapes.
    weights = sum(p.numel() for name, p in module.named_parameters() if name.startswith("weight"))
    assert result.macs == weights * 7 * (1 if unbatched else 3)


@pytest.mark.parametrize("shape", [(5,), (2, 9), (2, 3, 4)])
def test_embedding_measured_with_torch(shape) -> None:
    torch = pytest.importorskip("torch")
    module = torch.nn.Embedding(100, 16, padding_idx=0)
    result = REGISTRY["Embedding"](num_embeddings=100, embedding_dim=16, padding_idx=0).infer([shape])
    assert result.shapes == [tuple(module(torch.zeros(shape, dtype=torch.long)).shape)]
    assert result.params == sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize(
    "n, kernel, stride, padding",
    [
        (1, 2, None, 0),
        (1, 3, 2, 1),
        (2, 2, None, 0),
        (2, 3, 2, 1),
        (2, [3, 2], [2, 1], [1, 0]),
        (3, 2, None, 0),
    ],
)
def test_max_unpool_measured_with_torch(n, kernel, stride, padding) -> None:
    torch = pytest.importorskip("torch")
    pool = getattr(torch.nn, f"MaxPool{n}d")(kernel, stride, padding)
    unpool = getattr(torch.nn, f"MaxUnpool{n}d")(kernel, stride, padding)
    values = pool(torch.rand((2, 3) + (9, 8, 7)[-n:]))
    # Index 0 for every value: always inside the output (a pooled index from a dropped
    # last row would not be, and torch refuses it).
    measured = tuple(unpool(values, torch.zeros_like(values, dtype=torch.long)).shape)
    layer = REGISTRY[f"MaxUnpool{n}d"](kernel_size=kernel, stride=stride, padding=padding)
    assert layer.infer([tuple(values.shape)] * 2).shapes == [measured]


CRNN = """
name: crnn
input: [2, 1, 32, 64]
layers:
  - Conv2d: {out_channels: 16, kernel_size: 3, padding: 1}
  - MaxPool2d: {kernel_size: 2, return_indices: true, name: pool}
  - MaxUnpool2d: {kernel_size: 2, from: [pool.0, pool.1]}
  - MaxPool2d: {kernel_size: [32, 4]}
  - Flatten: {start_dim: 1, end_dim: 2}
  - Permute: {dims: [2, 0, 1]}
  - LSTM: {hidden_size: 32, num_layers: 2, bidirectional: true, proj_size: 8, name: rnn}
  - GRU: {hidden_size: 8, from: rnn.0, name: gru}
  - RNN: {hidden_size: 8, from: gru.0, nonlinearity: relu, name: elman}
  - Linear: {out_features: 37, from: elman.0}
"""

TOKENS = """
name: tokens
input: [2, 20]
layers:
  - Embedding: {num_embeddings: 1000, embedding_dim: 32}
  - GRU: {hidden_size: 16, batch_first: true, name: gru}
  - Linear: {out_features: 5, from: gru.0}
"""


@pytest.mark.parametrize("spec", [CRNN, TOKENS], ids=["crnn", "tokens"])
def test_export_and_verify(spec: str) -> None:
    pytest.importorskip("torch")
    from cnnshape.bridge.export import analyse_source, export_analysed
    from cnnshape.bridge.verify import verify_analysed
    from cnnshape.source import load_text

    analysed = analyse_source(load_text(spec, "rnn.yaml"))
    result = verify_analysed(analysed, device="cpu")
    assert result.ok, (result.mismatches, [t for t in result.totals if not t.ok])
    if spec is TOKENS:
        assert "dtype=torch.long" in export_analysed(analysed)
