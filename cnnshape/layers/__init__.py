"""The registry of layer kinds: every family module's KINDS, by PyTorch class name."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from cnnshape.layers import activation, attention, conv, learned, linear, merge, norm, pool, resample, reshape, split
from cnnshape.layers.base import Layer

FAMILIES = (conv, pool, linear, norm, activation, merge, reshape, resample, split, attention, learned)

REGISTRY: dict[str, type[Layer]] = {cls.kind(): cls for family in FAMILIES for cls in family.KINDS}


# torch.nn modules without a formula here yet: named as such instead of "did you mean".
NOT_YET = frozenset(["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell", "Embedding", "EmbeddingBag", "Transformer", "TransformerEncoder", "TransformerDecoder", "TransformerDecoderLayer", "Bilinear", "LazyLinear", "LazyConv1d", "LazyConv2d", "LazyConv3d", "Hardtanh", "Softplus", "Softsign", "Softshrink", "Hardshrink", "Tanhshrink", "Threshold", "GLU", "CELU", "RReLU", "LogSigmoid", "Softmin", "Softmax2d", "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d", "ReplicationPad1d", "ReplicationPad2d", "ReplicationPad3d", "ConstantPad1d", "ConstantPad2d", "ConstantPad3d", "CircularPad1d", "CircularPad2d", "CircularPad3d", "ZeroPad1d", "ZeroPad3d", "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d", "LPPool1d", "LPPool2d", "FractionalMaxPool2d", "FractionalMaxPool3d", "Fold", "Unfold", "PixelUnshuffle", "UpsamplingNearest2d", "UpsamplingBilinear2d", "SyncBatchNorm", "CosineSimilarity", "PairwiseDistance", "RMSNorm"])


def suggest(kind: str, extra: Sequence[str] = ()) -> list[str]:
    """The closest known kind names for "did you mean" hints: a case slip first, else the
    best matches (several when they are equally close, e.g. BatchNorm1d/2d/3d)."""
    names = list(REGISTRY) + list(extra)
    for name in names:
        if name.lower() == kind.lower():
            return [name]
    close = difflib.get_close_matches(kind, names, n=3, cutoff=0.6)
    if not close:
        return []
    top = difflib.SequenceMatcher(None, kind, close[0]).ratio()
    return [name for name in close if difflib.SequenceMatcher(None, kind, name).ratio() == top]


def did_you_mean(options: list[str]) -> str:
    """"; did you mean 'A'?" or "; did you mean 'A', 'B' or 'C'?" (empty without options)."""
    if not options:
        return ""
    quoted = [repr(option) for option in options]
    listed = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
    return f"; did you mean {listed}?"
