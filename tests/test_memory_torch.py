"""Training memory against PyTorch on the CPU (optional: skipped without torch).

The zoo spec is exported (cnnshape.bridge.export) and built in training mode; one forward
pass runs under torch.autograd.graph.saved_tensors_hooks, which sees every tensor autograd
keeps for backward. Those are counted once per storage, leaving out the parameters' and
buffers' own storages (cnnshape counts those apart). One optimizer step then gives the
optimizer state's bytes. Both must equal cnnshape.memory's figures exactly.
"""

from __future__ import annotations

from math import prod
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from peer_counts import exported  # noqa: E402

from cnnshape.memory import training  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# Small inputs keep the forward pass quick; the rules do not depend on the size.
CASES = {
    "specs/resnet18.yaml": (2, 3, 64, 64),
    "specs/mobilenet_v2.yaml": (2, 3, 64, 64),
    "specs/vgg11_bn.yaml": (2, 3, 32, 32),
    "specs/seed-lenet.yaml": (4, 1, 32, 32),
}


def _saved_bytes(net: torch.nn.Module, x: torch.Tensor) -> int:
    own = {p.untyped_storage().data_ptr() for p in net.parameters()}
    own |= {b.untyped_storage().data_ptr() for b in net.buffers()}
    storages: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in own:
            storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        out = net(x)
    del out
    return sum(storages.values())


@pytest.mark.parametrize("spec", sorted(CASES))
def test_saved_for_backward_matches_pytorch(spec: str) -> None:
    analysed, module = exported(str(ROOT / spec), CASES[spec])
    torch.manual_seed(0)
    net = module.build().train()
    x = torch.randn(CASES[spec])
    # The one documented residual (docs/memory.md): cnnshape counts dropout's bool mask
    # (1 byte per element, as CUDA keeps it); on the CPU, dropout multiplies by a float32
    # noise tensor and keeps that (4 bytes): 3 bytes more per element of every dropout.
    dropout_elements = sum(prod(row.output_shape) for row in analysed.report.rows if row.kind == "Dropout")
    assert _saved_bytes(net, x) - training(analysed.report).saved_bytes == 3 * dropout_elements


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam", "adamw"])
def test_optimizer_state_matches_pytorch(optimizer: str) -> None:
    spec = "specs/resnet18.yaml"
    analysed, module = exported(str(ROOT / spec), CASES[spec])
    net = module.build().train()
    make = {
        "sgd": lambda params: torch.optim.SGD(params, lr=0.1),
        "momentum": lambda params: torch.optim.SGD(params, lr=0.1, momentum=0.9),
        "adam": lambda params: torch.optim.Adam(params),
        "adamw": lambda params: torch.optim.AdamW(params),
    }[optimizer]
    opt = make(net.parameters())
    net(torch.randn(CASES[spec])).sum().backward()
    opt.step()
    state = sum(value.nbytes for per_param in opt.state.values() for value in per_param.values() if torch.is_tensor(value))
    grads = sum(p.grad.nbytes for p in net.parameters())
    memory = training(analysed.report, optimizer)
    assert memory.optimizer_bytes == state
    assert memory.gradient_bytes == grads
    assert memory.param_bytes == sum(p.nbytes for p in net.parameters())
