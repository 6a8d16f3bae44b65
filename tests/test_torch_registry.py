"""The PyTorch side every layer kind declares (cnnshape/layers/torchside.py): complete for
every kind, or a stated reason why a kind has none; every named class, function and
argument exists in the installed torch with the name and order declared."""

from __future__ import annotations

import inspect

import pytest

from cnnshape.layers import REGISTRY
from cnnshape.layers.torchside import TorchSide

KINDS = sorted(REGISTRY)


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_declares_its_pytorch_side_or_why_not(kind: str) -> None:
    cls = REGISTRY[kind]
    side = cls.pytorch
    if side is None:
        assert cls.no_pytorch.strip(), f"{kind} has no PyTorch side and does not say why (set no_pytorch)"
        return
    assert isinstance(side, TorchSide)
    prefix = side.ctor.split(".", 1)[0]
    assert prefix in ("nn", "runtime", "torchvision"), (
        f"{kind}: constructor {side.ctor!r} is not nn., runtime. or torchvision."
    )
    fields = set(cls.model_fields)
    inferred = side.inferred_args()
    for name in side.positional:
        assert name in fields or name in inferred, f"{kind}: positional {name!r} is neither a field nor inferred"
    for item in side.inferred:
        assert (
            isinstance(item.dim, int)
            or item.dim == "channel"
            or (item.dim.startswith("field:") and item.dim[len("field:") :] in fields)
        ), f"{kind}: bad dim {item.dim!r}"
    for target, signature in side.functions.items():
        assert target.split(".", 1)[0] in ("F", "torch", "method", "operator", "torchvision"), target
        for name, _ in signature:
            assert name.isidentifier(), f"{kind}: {target} declares argument {name!r}"
    assert side.tensors in ("first", "all", "sequence", "qkv")
    assert side.call in ("tensors", "query_key_value")


def test_kinds_with_a_torch_class_name_their_own_class() -> None:
    # The exporter writes `nn.<class>` and verify finds a module's kind by class name.
    for kind, cls in REGISTRY.items():
        if cls.pytorch is not None and cls.pytorch.ctor.startswith(("nn.", "runtime.")):
            assert cls.pytorch.class_name == kind, f"{kind} is built by {cls.pytorch.ctor}"


@pytest.mark.parametrize("kind", KINDS)
def test_declared_torch_names_exist(kind: str) -> None:
    torch = pytest.importorskip("torch")
    from cnnshape.bridge import runtime
    from cnnshape.bridge.fx_map import _resolve

    side = REGISTRY[kind].pytorch
    if side is None:
        return
    ctor = _resolve(side.ctor)
    assert isinstance(ctor, type) and issubclass(ctor, torch.nn.Module), side.ctor
    if side.shipped:
        assert getattr(runtime, side.class_name) is ctor
    for name in side.modules:
        if name.startswith("torchvision"):
            pytest.importorskip("torchvision")
        assert isinstance(_resolve(name), type), name
    for target in side.functions:
        if target.startswith("torchvision"):
            pytest.importorskip("torchvision")
        assert _resolve(target) is not None, f"{kind}: {target} does not exist in torch {torch.__version__}"
        if target.startswith("method."):
            assert hasattr(torch.Tensor, target.split(".", 1)[1]), target


@pytest.mark.parametrize("kind", KINDS)
def test_positional_order_is_the_constructors(kind: str) -> None:
    pytest.importorskip("torch")
    from cnnshape.bridge.fx_map import _resolve

    side = REGISTRY[kind].pytorch
    if side is None:
        return
    params = [p for p in inspect.signature(_resolve(side.ctor).__init__).parameters if p != "self"]
    # The declared positional arguments are the constructor's first parameters, in order.
    assert list(side.positional) == params[: len(side.positional)], f"{kind}: {side.positional} vs {params}"


def _python_signature(target: str) -> list[str] | None:
    from cnnshape.bridge.fx_map import _resolve

    found = _resolve(target)
    try:
        parameters = inspect.signature(found).parameters.values()
    except (TypeError, ValueError):
        return None  # a builtin without a Python signature: nothing to compare
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters):
        return None  # a dispatcher (F.adaptive_max_pool2d: *args, **kwargs)
    return [p.name for p in parameters]


@pytest.mark.parametrize("kind", KINDS)
def test_declared_function_signatures_follow_torch(kind: str) -> None:
    pytest.importorskip("torch")
    side = REGISTRY[kind].pytorch
    if side is None:
        return
    for target, signature in side.functions.items():
        if not target.startswith("F.") or not signature:
            continue
        params = _python_signature(target)
        if params is None:
            continue
        # After the tensor, torch's parameters in the declared order (torch may have more).
        declared = [name for name, _ in signature]
        assert params[1 : 1 + len(declared)] == declared, f"{kind}: {target} takes {params}, declared {declared}"
        defaults = {p.name: p.default for p in inspect.signature(_resolve_target(target)).parameters.values()}
        for name, default in signature:
            if defaults.get(name, inspect.Parameter.empty) is not inspect.Parameter.empty:
                assert defaults[name] == default, f"{kind}: {target}'s {name} defaults to {defaults[name]!r}"


def _resolve_target(target: str):
    from cnnshape.bridge.fx_map import _resolve

    return _resolve(target)


def test_mac_rules_count_what_torchvision_counts() -> None:
    """Conv, transposed conv and linear MACs on torch modules, against fvcore's count."""
    torch = pytest.importorskip("torch")
    fvcore = pytest.importorskip("fvcore.nn")
    from cnnshape.bridge.verify import count_macs

    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1, groups=1),
        torch.nn.Conv2d(8, 8, 3, stride=2, groups=4),
        torch.nn.ConvTranspose2d(8, 4, 2, stride=2),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 14 * 14, 10),
    ).eval()
    x = torch.zeros(2, 3, 16, 16)
    with torch.no_grad():
        ours, _ = count_macs(model, lambda: model(x))
    flops = fvcore.FlopCountAnalysis(model, x)
    flops.unsupported_ops_warnings(False)
    assert ours == flops.total()  # fvcore counts one multiply-add as one "flop"
