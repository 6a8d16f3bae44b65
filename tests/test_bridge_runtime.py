"""The modules cnnshape ships into exported files (cnnshape/bridge/runtime.py), each
against the PyTorch or torchvision operation it stands for, measured here."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from cnnshape.bridge import runtime  # noqa: E402
from cnnshape.bridge.codegen import RUNTIME_NAMES, runtime_source  # noqa: E402


def _x(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(0))


def test_merges_equal_the_torch_operations() -> None:
    a, b, c = _x(2, 3, 4), _x(2, 3, 4) + 1, _x(1, 3, 1)
    assert torch.equal(runtime.Add()(a, b, c), a + b + c)
    assert torch.equal(runtime.Mul()(a, b, c), a * b * c)
    assert torch.equal(runtime.Concat()(a, b), torch.cat([a, b], dim=1))
    assert torch.equal(runtime.Concat(dim=2)(a, b), torch.cat([a, b], dim=2))


def test_splits_equal_the_torch_operations() -> None:
    x = _x(2, 6, 5)
    assert all(torch.equal(p, q) for p, q in zip(runtime.Chunk(3)(x), torch.chunk(x, 3, dim=1), strict=True))
    assert [tuple(t.shape) for t in runtime.Split([1, 2, 3])(x)] == [(2, 1, 5), (2, 2, 5), (2, 3, 5)]
    assert torch.equal(runtime.Select(1, 0)(x), x[:, 0])
    assert torch.equal(runtime.Reshape([2, -1])(x), x.reshape(2, 30))
    assert torch.equal(runtime.Permute([0, 2, 1])(x), x.permute(0, 2, 1))
    assert torch.equal(runtime.Mean([1, 2])(x), x.mean(dim=[1, 2]))
    assert runtime.Mean(1, keepdim=True)(x).shape == (2, 1, 5)
    assert torch.equal(runtime.Amax(-1)(x), x.max(dim=-1)[0])
    assert torch.equal(runtime.Amax([1, 2], keepdim=True)(x), torch.amax(x, dim=(1, 2), keepdim=True))


def test_channel_shuffle_equals_torchs() -> None:
    x = _x(2, 12, 3, 3)
    assert torch.equal(runtime.ChannelShuffle(3)(x), torch.nn.ChannelShuffle(3)(x))


def test_learned_tensors() -> None:
    x = _x(2, 5, 8)
    token = runtime.ClassToken(8)
    assert sum(p.numel() for p in token.parameters()) == 8
    out = token(x)
    assert out.shape == (2, 6, 8) and torch.equal(out[:, 1:], x)
    embedding = runtime.PositionEmbedding(5, 8)
    assert sum(p.numel() for p in embedding.parameters()) == 5 * 8
    assert torch.equal(embedding(x), x + embedding.embedding)
    scale = runtime.LayerScale(8, dim=-1, init_value=0.5)
    assert torch.equal(scale(x), x * 0.5)
    assert sum(p.numel() for p in runtime.LayerScale(6).parameters()) == 6


def test_stochastic_depth_equals_torchvisions() -> None:
    ops = pytest.importorskip("torchvision.ops")
    x = _x(8, 4, 3, 3)
    for mode in ("row", "batch"):
        ours, theirs = runtime.StochasticDepth(0.3, mode).train(), ops.StochasticDepth(0.3, mode).train()
        torch.manual_seed(1)
        expected = theirs(x)
        torch.manual_seed(1)
        assert torch.equal(ours(x), expected)
        assert torch.equal(ours.eval()(x), x)


def test_make_divisible_equals_torchvisions() -> None:
    utils = pytest.importorskip("torchvision.models._utils")
    for value in [1, 3, 7.5, 8, 12, 15.9, 16, 24.3, 31, 100, 1000]:
        for divisor in (1, 4, 8, 16):
            assert runtime.make_divisible(value, divisor) == utils._make_divisible(value, divisor)


def test_div_keeps_exact_integer_division_an_int() -> None:
    assert runtime._div(6, 3) == 2 and isinstance(runtime._div(6, 3), int)
    assert runtime._div(7, 2) == 3.5
    assert runtime._div(1.5, 0.5) == 3.0


def test_exported_files_carry_the_runtime_source_verbatim() -> None:
    import ast
    import inspect

    sources = runtime_source(RUNTIME_NAMES)
    named = {}
    for source in sources:
        (node,) = ast.parse(source).body
        assert isinstance(node, (ast.ClassDef, ast.FunctionDef))
        named[node.name] = source
    assert sorted(named) == sorted(RUNTIME_NAMES) == sorted(runtime.__all__)
    for name, source in named.items():
        assert source.rstrip() == inspect.getsource(getattr(runtime, name)).rstrip()


def test_frozen_batch_norm_equals_torchvisions() -> None:
    ops = pytest.importorskip("torchvision.ops")
    x = _x(2, 4, 3, 3)
    ours, theirs = runtime.FrozenBatchNorm2d(4, eps=1e-3), ops.FrozenBatchNorm2d(4, eps=1e-3)
    for name, buffer in theirs.named_buffers():
        buffer.copy_(torch.arange(1.0, 5.0) * (0.5 if name == "running_mean" else 1.5))
    ours.load_state_dict(theirs.state_dict())
    assert torch.allclose(ours(x), theirs(x))
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())
    assert [(n, b.shape) for n, b in ours.named_buffers()] == [(n, b.shape) for n, b in theirs.named_buffers()]
