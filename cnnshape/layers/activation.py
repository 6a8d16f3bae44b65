"""Elementwise layers: activations, dropout (identity at inference) and Identity.

They keep the shape and cost no MACs in torchvision's convention; only PReLU has
parameters. Softmax and LogSoftmax mix values along `dim`.
"""

from __future__ import annotations

from math import prod
from typing import Annotated, Literal, Optional

from pydantic import Field, model_validator

from cnnshape.errors import ShapeError
from cnnshape.layers.base import RF, Bool, Float, Int, Layer, Op, PosInt, Result, Shape
from cnnshape.layers.torchside import TorchSide


class _Elementwise(Layer):
    family = "activation"
    op_family = "activation"

    def infer(self, shapes: list[Shape]) -> Result:
        return Result([shapes[0]])


class _Inplace(_Elementwise):
    inplace: Bool = False

    def in_place(self) -> bool:
        return self.inplace


class Identity(_Elementwise):
    """Passes its input through unchanged (a placeholder, or a named tap point).

    ```yaml
    - Identity: {name: features}
    ```
    """

    pytorch = TorchSide("nn.Identity")
    op_name = "identity"
    op_view = True
    op_family = "other"


class ReLU(_Inplace):
    """max(0, x).

    ```yaml
    - ReLU
    - ReLU: {inplace: true}
    ```
    """

    pytorch = TorchSide("nn.ReLU", functions={"F.relu": (("inplace", False),), "torch.relu": (), "method.relu": ()})
    op_name = "relu"
    op_saves = ("output",)


class ReLU6(_Inplace):
    """min(max(0, x), 6), as in MobileNet.

    ```yaml
    - ReLU6
    ```
    """

    pytorch = TorchSide("nn.ReLU6", functions={"F.relu6": (("inplace", False),)})
    op_name = "relu6"
    op_saves = ("input",)

    def ops(self, shapes: list[Shape], out: list[Shape]) -> list[Op]:
        """hardtanh keeps its input for backward; in place (hardtanh_), PyTorch keeps a
        separate tensor of the same size, not the overwritten one (measured, torch 2.14)."""
        (shape,) = shapes
        if self.inplace:
            return [Op("relu6", "activation", (shape,), shape, view=True, saved_extra=(("act", prod(shape)),))]
        return [Op("relu6", "activation", (shape,), shape, saves=("input",))]


class LeakyReLU(_Inplace):
    """max(0, x) + negative_slope * min(0, x).

    ```yaml
    - LeakyReLU: {negative_slope: 0.2}
    ```
    """

    pytorch = TorchSide("nn.LeakyReLU", functions={"F.leaky_relu": (("negative_slope", 0.01), ("inplace", False))})
    op_name = "leaky_relu"
    op_saves = ("input",)

    negative_slope: Float = 0.01


class PReLU(_Elementwise):
    """Leaky ReLU with a learned slope: `num_parameters` is 1 or the channel count.

    ```yaml
    - PReLU                       # one shared slope (PyTorch's default)
    - PReLU: {num_parameters: 64} # one per channel
    ```
    """

    pytorch = TorchSide("nn.PReLU")
    op_name = "prelu"

    num_parameters: PosInt = 1
    init: Float = 0.25

    def infer(self, shapes: list[Shape]) -> Result:
        (shape,) = shapes
        channels = shape[1] if len(shape) >= 2 else 1
        if self.num_parameters not in (1, channels):
            raise ShapeError(f"PReLU num_parameters={self.num_parameters} must be 1 or the channel count {channels}")
        return Result([shape], params=self.num_parameters, working=[f"params: {self.num_parameters} slope(s)"])

    def ops(self, shapes: list[Shape], out: list[Shape]) -> list[Op]:
        return [
            Op("prelu", "activation", (shapes[0],), out[0], params=(("weight", self.num_parameters),), saves=("input",))
        ]


class ELU(_Inplace):
    """x if x > 0 else alpha * (exp(x) - 1).

    ```yaml
    - ELU: {alpha: 1.0}
    ```
    """

    pytorch = TorchSide("nn.ELU", functions={"F.elu": (("alpha", 1.0), ("inplace", False))})
    op_name = "elu"
    op_saves = ("input",)

    alpha: Float = 1.0


class SELU(_Inplace):
    """Scaled ELU (self-normalising networks).

    ```yaml
    - SELU
    ```
    """

    pytorch = TorchSide("nn.SELU", functions={"F.selu": (("inplace", False),)})
    op_name = "selu"
    op_saves = ("input",)


class GELU(_Elementwise):
    """Gaussian error linear unit; `approximate: tanh` for the tanh form.

    ```yaml
    - GELU
    ```
    """

    pytorch = TorchSide("nn.GELU", functions={"F.gelu": (("approximate", "none"),)})
    op_name = "gelu"
    op_saves = ("input",)

    approximate: Literal["none", "tanh"] = "none"


class SiLU(_Inplace):
    """x * sigmoid(x) (swish), as in EfficientNet.

    ```yaml
    - SiLU
    ```
    """

    pytorch = TorchSide("nn.SiLU", functions={"F.silu": (("inplace", False),)})
    op_name = "silu"
    op_saves = ("input",)


class Mish(_Inplace):
    """x * tanh(softplus(x)).

    ```yaml
    - Mish
    ```
    """

    pytorch = TorchSide("nn.Mish", functions={"F.mish": (("inplace", False),)})
    op_name = "mish"
    op_saves = ("input",)


class Sigmoid(_Elementwise):
    """1 / (1 + exp(-x)).

    ```yaml
    - Sigmoid
    ```
    """

    pytorch = TorchSide("nn.Sigmoid", functions={"torch.sigmoid": (), "F.sigmoid": (), "method.sigmoid": ()})
    op_name = "sigmoid"
    op_saves = ("output",)


class Tanh(_Elementwise):
    """Hyperbolic tangent.

    ```yaml
    - Tanh
    ```
    """

    pytorch = TorchSide("nn.Tanh", functions={"torch.tanh": (), "F.tanh": (), "method.tanh": ()})
    op_name = "tanh"
    op_saves = ("output",)


class Abs(_Elementwise):
    """Absolute value, elementwise (torch.abs).

    ```yaml
    - Abs: {from: difference}
    ```
    """

    pytorch = TorchSide("runtime.Abs", functions={"torch.abs": (), "method.abs": (), "operator.abs": ()})
    op_name = "abs"


class Neg(_Elementwise):
    """-x, elementwise (torch.neg).

    ```yaml
    - Neg
    ```
    """

    pytorch = TorchSide("runtime.Neg", functions={"torch.neg": (), "method.neg": (), "operator.neg": ()})
    op_name = "neg"


class Pow(_Elementwise):
    """x ** exponent, elementwise (torch.pow with a number as the exponent); or, with
    `base`, base ** x (torch.pow with a number as the base: `2 ** x`).

    ```yaml
    - Pow: {exponent: 2}   # x ** 2
    - Pow: {base: 2}       # 2 ** x
    ```
    """

    pytorch = TorchSide(
        "runtime.Pow",
        ("exponent",),
        functions={
            "torch.pow": (("exponent", None),),
            "method.pow": (("exponent", None),),
            "operator.pow": (("exponent", None),),
        },
    )
    op_name = "pow"

    exponent: Optional[Float] = None
    base: Optional[Float] = None

    @model_validator(mode="after")
    def _one_number(self) -> Pow:
        if (self.exponent is None) == (self.base is None):
            raise ValueError("give exactly one of exponent (x ** exponent) and base (base ** x)")
        return self

    def infer(self, shapes: list[Shape]) -> Result:
        text = f"x ** {self.exponent}" if self.base is None else f"{self.base} ** x"
        return Result([shapes[0]], working=[f"{text}: the shape is kept"])

    def ops(self, shapes: list[Shape], out: list[Shape]) -> list[Op]:
        # x ** e keeps x for backward (e * x ** (e - 1)); b ** x keeps x and its result
        # (PyTorch's pow_backward_exponent reads both; measured in tests/test_memory_torch.py).
        saves = ("input",) if self.base is None else ("input", "output")
        return [Op(self.op_name, self.op_family, tuple(shapes), out[0], saves=saves)]


class Sqrt(_Elementwise):
    """Square root, elementwise (torch.sqrt).

    ```yaml
    - Sqrt
    ```
    """

    pytorch = TorchSide("runtime.Sqrt", functions={"torch.sqrt": (), "method.sqrt": ()})
    op_name = "sqrt"
    op_saves = ("output",)


class Hardswish(_Inplace):
    """x * relu6(x + 3) / 6, as in MobileNetV3.

    ```yaml
    - Hardswish
    ```
    """

    pytorch = TorchSide("nn.Hardswish", functions={"F.hardswish": (("inplace", False),)})
    op_name = "hardswish"
    op_saves = ("input",)


class Hardsigmoid(_Inplace):
    """relu6(x + 3) / 6, as in MobileNetV3's squeeze-excitation.

    ```yaml
    - Hardsigmoid
    ```
    """

    pytorch = TorchSide("nn.Hardsigmoid", functions={"F.hardsigmoid": (("inplace", False),)})
    op_name = "hardsigmoid"
    op_saves = ("input",)


class _SoftmaxBase(_Elementwise):
    dim: Optional[Int] = None

    def _dim(self, shape: Shape) -> int:
        if self.dim is None:
            # PyTorch's legacy implicit dim (_get_softmax_dim).
            return 0 if len(shape) in (0, 1, 3) else 1
        if not -len(shape) <= self.dim < len(shape):
            raise ShapeError(f"dim {self.dim} is out of range for a {len(shape)}-D input")
        return self.dim % len(shape)

    def infer(self, shapes: list[Shape]) -> Result:
        (shape,) = shapes
        dim = self._dim(shape)
        warnings = (
            [] if self.dim is not None else [f"no dim given; PyTorch's implicit choice is dim={dim}, write it out"]
        )
        return Result([shape], warnings=warnings)

    def ops(self, shapes: list[Shape], out: list[Shape]) -> list[Op]:
        (shape,) = shapes
        return [Op(self.op_name, "activation", (shape,), shape, window=shape[self._dim(shape)], saves=("output",))]

    def receptive_field(self, rfs: list[RF], shapes: list[Shape], out: list[Shape]) -> list[RF]:
        rf, dim = rfs[0], self._dim(shapes[0])
        if rf.kind == "flat" or (rf.kind == "spatial" and dim in rf.dims and shapes[0][dim] > 1):
            return [rf.globalised()]
        return [rf]


class Softmax(_SoftmaxBase):
    """Softmax along `dim`.

    ```yaml
    - Softmax: {dim: 1}
    ```
    """

    pytorch = TorchSide(
        "nn.Softmax",
        functions={
            "F.softmax": (("dim", None), ("_stacklevel", 3), ("dtype", None)),
            "torch.softmax": (("dim", None),),
            "method.softmax": (("dim", None),),
        },
    )
    op_name = "softmax"
    op_saves = ("output",)


class LogSoftmax(_SoftmaxBase):
    """Log of softmax along `dim`.

    ```yaml
    - LogSoftmax: {dim: 1}
    ```
    """

    pytorch = TorchSide(
        "nn.LogSoftmax",
        functions={
            "F.log_softmax": (("dim", None), ("_stacklevel", 3), ("dtype", None)),
            "torch.log_softmax": (("dim", None),),
            "method.log_softmax": (("dim", None),),
        },
    )
    op_name = "log_softmax"
    op_saves = ("output",)


class _DropoutBase(_Elementwise):
    p: Annotated[Float, Field(ge=0, le=1)] = 0.5
    inplace: Bool = False

    def ops(self, shapes: list[Shape], out: list[Shape]) -> list[Op]:
        """Identity at inference; in training a new tensor and a mask kept for backward
        (native_dropout's bool mask; channel dropout's per-channel noise is smaller)."""
        (shape,) = shapes
        mask = (("bool", prod(shape)),) if self.p > 0 else ()
        return [
            Op(
                self.op_name,
                "other",
                (shape,),
                shape,
                saved_extra=mask,
                view=True,
                train_view=self.p == 0 or self.inplace,
            )
        ]


class Dropout(_DropoutBase):
    """Zeroes elements with probability p in training; identity at inference.

    ```yaml
    - Dropout: {p: 0.5}
    ```
    """

    pytorch = TorchSide("nn.Dropout", functions={"F.dropout": (("p", 0.5), ("training", True), ("inplace", False))})
    op_name = "dropout"
    op_family = "other"


class Dropout1d(_DropoutBase):
    """Zeroes whole channels of (N, C, L) in training.

    ```yaml
    - Dropout1d: {p: 0.1}
    ```
    """

    pytorch = TorchSide("nn.Dropout1d", functions={"F.dropout1d": (("p", 0.5), ("training", True), ("inplace", False))})
    op_name = "dropout"
    op_family = "other"


class Dropout2d(_DropoutBase):
    """Zeroes whole channels of (N, C, H, W) in training.

    ```yaml
    - Dropout2d: {p: 0.1}
    ```
    """

    pytorch = TorchSide("nn.Dropout2d", functions={"F.dropout2d": (("p", 0.5), ("training", True), ("inplace", False))})
    op_name = "dropout"
    op_family = "other"


class Dropout3d(_DropoutBase):
    """Zeroes whole channels of (N, C, D, H, W) in training.

    ```yaml
    - Dropout3d: {p: 0.1}
    ```
    """

    pytorch = TorchSide("nn.Dropout3d", functions={"F.dropout3d": (("p", 0.5), ("training", True), ("inplace", False))})
    op_name = "dropout"
    op_family = "other"


class AlphaDropout(_DropoutBase):
    """Dropout that keeps SELU's self-normalising property.

    ```yaml
    - AlphaDropout: {p: 0.1}
    ```
    """

    pytorch = TorchSide(
        "nn.AlphaDropout", functions={"F.alpha_dropout": (("p", 0.5), ("training", False), ("inplace", False))}
    )
    op_name = "dropout"
    op_family = "other"


class FeatureAlphaDropout(_DropoutBase):
    """Channel-wise alpha dropout.

    ```yaml
    - FeatureAlphaDropout: {p: 0.1}
    ```
    """

    pytorch = TorchSide(
        "nn.FeatureAlphaDropout",
        functions={"F.feature_alpha_dropout": (("p", 0.5), ("training", False), ("inplace", False))},
    )
    op_name = "dropout"
    op_family = "other"


class StochasticDepth(_Elementwise):
    """torchvision.ops.StochasticDepth: drops whole residual branches in training
    (`mode: row` per sample, `batch` for all); identity at inference.

    ```yaml
    - StochasticDepth: {p: 0.1, mode: row}
    ```
    """

    pytorch = TorchSide(
        "runtime.StochasticDepth",
        ("p", "mode"),
        modules=("torchvision.ops.StochasticDepth",),
        functions={"torchvision.ops.stochastic_depth": (("p", None), ("mode", None))},
    )
    op_name = "stochastic_depth"
    op_family = "other"

    p: Annotated[Float, Field(ge=0, le=1)]
    mode: Literal["row", "batch"]

    def ops(self, shapes: list[Shape], out: list[Shape]) -> list[Op]:
        """x * noise in training: the noise (one value per sample, or one) is kept for backward."""
        (shape,) = shapes
        noise = shape[0] if self.mode == "row" else 1
        return [
            Op(
                "stochastic_depth",
                "other",
                (shape,),
                shape,
                saved_extra=(("act", noise),) if self.p > 0 else (),
                view=True,
                train_view=self.p == 0,
            )
        ]


KINDS = [
    Identity,
    ReLU,
    ReLU6,
    LeakyReLU,
    PReLU,
    ELU,
    SELU,
    GELU,
    SiLU,
    Mish,
    Sigmoid,
    Tanh,
    Abs,
    Neg,
    Pow,
    Sqrt,
    Hardswish,
    Hardsigmoid,
    Softmax,
    LogSoftmax,
    Dropout,
    Dropout1d,
    Dropout2d,
    Dropout3d,
    AlphaDropout,
    FeatureAlphaDropout,
    StochasticDepth,
]
