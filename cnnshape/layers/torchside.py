"""How a layer kind meets PyTorch, declared next to its shape rules: the one table the
bridge (export, verify, import) and the catalog read. Plain data and pure functions only;
nothing here imports torch.

A kind's class sets `pytorch = TorchSide(...)`; a kind with no PyTorch counterpart sets
`pytorch = None` and says why in `no_pytorch`.
"""

from __future__ import annotations

from collections.abc import Mapping
from math import prod
from types import MappingProxyType
from typing import Any, Literal, NamedTuple, Optional, Union

Shape = tuple[int, ...]

# Where an inferred size is read from: an input dim (negative counts from the end), the
# channel dim of an N-d layer ("channel": 1, or 0 for an unbatched input), or the dim
# named by one of the layer's own fields ("field:dim").
DimSpec = Union[int, str]


# Both records are NamedTuples, immutable like the class attributes they are: Python 3.11
# builds a frozen dataclass from ten generated methods, each compiled when its module is
# imported (about 0.6 ms apiece, on every run's start-up path); a NamedTuple costs a tenth.


class Inferred(NamedTuple):
    """A constructor argument PyTorch needs and cnnshape reads from an input's shape."""

    arg: str
    dim: DimSpec = 1
    input: int = 0
    # Written even when the spec gives it (a torch-only argument with no spec field).
    always: bool = False


# Positional fx signatures after the tensor: (argument name, PyTorch's default).
Signature = tuple[tuple[str, Any], ...]


class TorchSide(NamedTuple):
    """A kind's PyTorch side.

    ctor: the class the exported code constructs: `nn.Conv2d`, or `runtime.Add` for a
      module cnnshape ships (cnnshape/bridge/runtime.py, copied into the exported file).
    positional: constructor arguments written positionally, in PyTorch's order.
    inferred: sizes read from the input (`in_channels` from the channel dim, ...).
    modules: further module classes that import maps onto this kind
      (`torchvision.ops.StochasticDepth`); the ctor class itself always maps.
    functions: fx call targets that map onto this kind, with the signature after the
      tensor: `F.relu`, `torch.relu`, `method.relu` (a tensor method), `operator.add`.
    tensors: how a function call passes its tensors: "first" (the first argument),
      "all" (every positional argument, Add's `a + b`), "sequence" (a list in the first
      argument, torch.cat's), "qkv" (the first three: F.scaled_dot_product_attention's
      query, key and value; the signature binds what follows them).
    call: how forward() calls the module: "tensors" (`m(x, y)`) or "query_key_value"
      (nn.MultiheadAttention: `m(q, k, v, need_weights=False)[0]`).
    returns: how the call's result nests: "flat" (a tensor or a tuple of them) or
      "output_and_state" (nn.LSTM: `output, (h_n, c_n)`).
    input_dtype: what the layer reads when it takes the network input: "float", or
      "long" for indices (nn.Embedding); verify and the exported file's demo feed that.
    """

    ctor: str
    positional: tuple[str, ...] = ()
    inferred: tuple[Inferred, ...] = ()
    modules: tuple[str, ...] = ()
    functions: Mapping[str, Signature] = MappingProxyType({})
    tensors: Literal["first", "all", "sequence", "qkv"] = "first"
    call: Literal["tensors", "query_key_value"] = "tensors"
    returns: Literal["flat", "output_and_state"] = "flat"
    input_dtype: Literal["float", "long"] = "float"

    @property
    def class_name(self) -> str:
        return self.ctor.rsplit(".", 1)[-1]

    @property
    def shipped(self) -> bool:
        """True when the class is one of cnnshape's runtime helpers."""
        return self.ctor.startswith("runtime.")

    def inferred_args(self) -> set[str]:
        return {item.arg for item in self.inferred}


def resolve_dim(spec: DimSpec, layer: Any, shape: Shape, ndim: Optional[int]) -> int:
    """The dim an inferred size is read from, for this layer and input shape."""
    if isinstance(spec, int):
        return spec
    if spec == "channel":
        spatial = ndim if ndim is not None else 2
        return 0 if len(shape) == spatial + 1 else 1
    if spec.startswith("field:"):
        return int(getattr(layer, spec[len("field:") :]))
    raise ValueError(f"unknown dim spec {spec!r}")


# --- MAC rules for verify: torchvision's convention (conv and linear/matmul weights) ------
# Each takes the torch module (read by attribute only), the input shapes and the first
# output's shape, and returns the MACs of one call.


def conv_macs(module: Any, inputs: list[Shape], output: Shape) -> int:
    return prod(output) * (module.in_channels // module.groups) * prod(module.kernel_size)


def conv_transpose_macs(module: Any, inputs: list[Shape], output: Shape) -> int:
    return prod(inputs[0]) * (module.out_channels // module.groups) * prod(module.kernel_size)


def linear_macs(module: Any, inputs: list[Shape], output: Shape) -> int:
    rows = prod(inputs[0]) // module.in_features
    return rows * module.in_features * module.out_features


def attention_macs(module: Any, inputs: list[Shape], output: Shape) -> int:
    """q/k/v and output projections plus q @ k^T and weights @ v, as PyTorch computes them."""
    query = inputs[0]
    key = inputs[1] if len(inputs) > 1 else query
    if len(query) == 2:
        batch, tokens, source = 1, query[0], key[0]
    elif module.batch_first:
        batch, tokens, source = query[0], query[1], key[1]
    else:
        batch, tokens, source = query[1], query[0], key[0]
    embed = module.embed_dim
    projections = tokens * embed * embed + source * embed * (module.kdim + module.vdim) + tokens * embed * embed
    attended = source + int(module.bias_k is not None) + int(module.add_zero_attn)
    return batch * projections + 2 * batch * tokens * attended * embed


def recurrent_macs(module: Any, inputs: list[Shape], output: Shape) -> int:
    """RNN, GRU and LSTM: every weight matrix (weight_ih, weight_hh, weight_hr) applied once
    per time step and sample, as PyTorch multiplies them; read from the module's own
    parameters (biases and gate nonlinearities are not weight MACs)."""
    shape = inputs[0]
    steps = shape[0] * (shape[1] if len(shape) == 3 else 1)
    per_step = sum(param.numel() for name, param in module.named_parameters(recurse=False) if name.startswith("weight"))
    return steps * per_step
