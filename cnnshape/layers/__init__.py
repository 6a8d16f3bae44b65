"""The registry of layer kinds: one explicit table of every kind and the family module
that defines it (cnnshape/layers/<family>.py, whose KINDS lists its classes).

A family is imported when one of its kinds is first looked up, so an analysis pays only
for the families its spec uses; iterating the registry imports them all. Importing a
family is cheap: each kind's pydantic model is built when the kind is first validated
(cnnshape.layers.base.model_of). tests/test_layers_registry.py checks the table
against every family's KINDS.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from types import ModuleType
from typing import Any

from cnnshape.layers.base import Layer

FAMILY_NAMES = (
    "conv",
    "pool",
    "linear",
    "norm",
    "activation",
    "merge",
    "reshape",
    "resample",
    "split",
    "attention",
    "learned",
    "recurrent",
)

# Every kind -> its family module, in FAMILY_NAMES order and each family's KINDS order
# (the order `cnnshape layers` lists and "did you mean" breaks ties by).
KIND_FAMILY: dict[str, str] = {
    "Conv1d": "conv",
    "Conv2d": "conv",
    "Conv3d": "conv",
    "ConvTranspose1d": "conv",
    "ConvTranspose2d": "conv",
    "ConvTranspose3d": "conv",
    "MaxPool1d": "pool",
    "MaxPool2d": "pool",
    "MaxPool3d": "pool",
    "AvgPool1d": "pool",
    "AvgPool2d": "pool",
    "AvgPool3d": "pool",
    "AdaptiveAvgPool1d": "pool",
    "AdaptiveAvgPool2d": "pool",
    "AdaptiveAvgPool3d": "pool",
    "AdaptiveMaxPool1d": "pool",
    "AdaptiveMaxPool2d": "pool",
    "AdaptiveMaxPool3d": "pool",
    "MaxUnpool1d": "pool",
    "MaxUnpool2d": "pool",
    "MaxUnpool3d": "pool",
    "Linear": "linear",
    "BatchNorm1d": "norm",
    "BatchNorm2d": "norm",
    "BatchNorm3d": "norm",
    "InstanceNorm1d": "norm",
    "InstanceNorm2d": "norm",
    "InstanceNorm3d": "norm",
    "LayerNorm": "norm",
    "GroupNorm": "norm",
    "LocalResponseNorm": "norm",
    "FrozenBatchNorm2d": "norm",
    "Identity": "activation",
    "ReLU": "activation",
    "ReLU6": "activation",
    "LeakyReLU": "activation",
    "PReLU": "activation",
    "ELU": "activation",
    "SELU": "activation",
    "GELU": "activation",
    "SiLU": "activation",
    "Mish": "activation",
    "Sigmoid": "activation",
    "Tanh": "activation",
    "Abs": "activation",
    "Neg": "activation",
    "Pow": "activation",
    "Sqrt": "activation",
    "Hardswish": "activation",
    "Hardsigmoid": "activation",
    "Softmax": "activation",
    "LogSoftmax": "activation",
    "Dropout": "activation",
    "Dropout1d": "activation",
    "Dropout2d": "activation",
    "Dropout3d": "activation",
    "AlphaDropout": "activation",
    "FeatureAlphaDropout": "activation",
    "StochasticDepth": "activation",
    "Add": "merge",
    "Mul": "merge",
    "Sub": "merge",
    "Div": "merge",
    "Maximum": "merge",
    "Minimum": "merge",
    "Concat": "merge",
    "MatMul": "merge",
    "Flatten": "reshape",
    "Unflatten": "reshape",
    "Reshape": "reshape",
    "Permute": "reshape",
    "ExpandAs": "reshape",
    "ReshapeAs": "reshape",
    "Mean": "reshape",
    "Amax": "reshape",
    "Sum": "reshape",
    "Upsample": "resample",
    "PixelShuffle": "resample",
    "GridSample": "resample",
    "PatchMergingPad": "resample",
    "ZeroPad1d": "resample",
    "ZeroPad2d": "resample",
    "ZeroPad3d": "resample",
    "ConstantPad1d": "resample",
    "ConstantPad2d": "resample",
    "ConstantPad3d": "resample",
    "ReflectionPad1d": "resample",
    "ReflectionPad2d": "resample",
    "ReflectionPad3d": "resample",
    "ReplicationPad1d": "resample",
    "ReplicationPad2d": "resample",
    "ReplicationPad3d": "resample",
    "CircularPad1d": "resample",
    "CircularPad2d": "resample",
    "CircularPad3d": "resample",
    "Chunk": "split",
    "Split": "split",
    "Unbind": "split",
    "ChannelShuffle": "split",
    "Select": "split",
    "Slice": "split",
    "TopK": "split",
    "Gather": "split",
    "MultiheadAttention": "attention",
    "TransformerEncoderLayer": "attention",
    "ScaledDotProductAttention": "attention",
    "ShiftedWindowAttention": "attention",
    "ShiftedWindowAttentionV2": "attention",
    "RelativePositionalMultiHeadAttention": "attention",
    "ClassToken": "learned",
    "PositionEmbedding": "learned",
    "LayerScale": "learned",
    "RelativePositionBias": "learned",
    "RNN": "recurrent",
    "LSTM": "recurrent",
    "GRU": "recurrent",
    "Embedding": "recurrent",
}


class Registry(Mapping[str, type[Layer]]):
    """Kind name -> layer class, reading KIND_FAMILY; `kind in REGISTRY` imports nothing."""

    def __init__(self, table: Mapping[str, str]):
        self.table = table
        self.loaded: dict[str, type[Layer]] = {}

    def __getitem__(self, kind: str) -> type[Layer]:
        found = self.loaded.get(kind)
        if found is None:
            family = importlib.import_module(f"cnnshape.layers.{self.table[kind]}")
            self.loaded.update({cls.kind(): cls for cls in family.KINDS})
            found = self.loaded[kind]
        return found

    def __contains__(self, kind: object) -> bool:
        return kind in self.table

    def __iter__(self) -> Iterator[str]:
        return iter(self.table)

    def __len__(self) -> int:
        return len(self.table)


REGISTRY = Registry(KIND_FAMILY)


def __getattr__(name: str) -> Any:
    if name == "FAMILIES":  # every family module, imported: for listings of all kinds
        families: tuple[ModuleType, ...] = tuple(
            importlib.import_module(f"cnnshape.layers.{family}") for family in FAMILY_NAMES
        )
        return families
    raise AttributeError(f"module 'cnnshape.layers' has no attribute {name!r}")


# torch.nn modules without a formula here yet: named as such instead of "did you mean".
NOT_YET = frozenset(
    """
    RNNCell LSTMCell GRUCell EmbeddingBag Transformer TransformerEncoder
    TransformerDecoder TransformerDecoderLayer Bilinear LazyLinear LazyConv1d LazyConv2d
    LazyConv3d Hardtanh Softplus Softsign Softshrink Hardshrink Tanhshrink Threshold GLU CELU
    RReLU LogSigmoid Softmin Softmax2d LPPool1d LPPool2d
    FractionalMaxPool2d FractionalMaxPool3d Fold Unfold PixelUnshuffle UpsamplingNearest2d
    UpsamplingBilinear2d SyncBatchNorm CosineSimilarity PairwiseDistance RMSNorm
""".split()
)
