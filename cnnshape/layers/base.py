"""What every layer kind is: a strict pydantic model of its PyTorch arguments with pure
methods from input shapes to output shape, parameters, MACs and receptive field.

Shared helpers for the families live here too: argument types, the output-size formula,
and the receptive-field state a tensor carries.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from math import prod
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, NamedTuple, Optional, Union, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, Strict, field_validator, model_validator

from cnnshape.errors import ShapeError
from cnnshape.layers.torchside import TorchSide, resolve_dim

Shape = tuple[int, ...]

MAX_ELEMENTS = 2**50  # per tensor; past this a spec is a mistake or an attack

AXES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}  # spatial axes' names by count, PyTorch's order


def axis_names(n: int) -> tuple[str, ...]:
    """The names of n spatial axes (`axis 3`, ... past three)."""
    return AXES.get(n, tuple(f"axis {i}" for i in range(n)))


def group_axes(texts: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(axis, text) pairs with equal texts merged: ('H, W', text) when the axes agree."""
    names: dict[str, list[str]] = {}
    for name, text in texts:
        names.setdefault(text, []).append(name)
    return [(", ".join(axes), text) for text, axes in names.items()]


Int = Annotated[int, Strict()]
PosInt = Annotated[int, Strict(), Field(ge=1)]
NonNegInt = Annotated[int, Strict(), Field(ge=0)]
IntOrTuple = Union[PosInt, tuple[PosInt, ...]]
NonNegIntOrTuple = Union[NonNegInt, tuple[NonNegInt, ...]]
# Finite only: no layer argument means anything at NaN or infinity (eps, momentum, slopes,
# dropout, scale factors), and PyTorch takes them silently (docs/spec.md, Limits).
Float = Union[Annotated[float, Strict(), Field(allow_inf_nan=False)], Annotated[int, Strict()]]
Bool = Annotated[bool, Strict()]


# --- receptive field --------------------------------------------------------------------

Number = Union[int, Fraction]


# Receptive fields (and Op below) are immutable value records, made thousands of times per
# analysis (one per layer of a 10,000-layer chain): NamedTuples, which build about twice as
# fast as frozen dataclasses and cost a fraction to define at import. Equality and hashing
# stay by value, as the frozen dataclasses' were.
class AxisRF(NamedTuple):
    """Receptive field along one spatial axis: size, effective stride, effective padding."""

    size: int = 1
    stride: Number = 1
    padding: Number = 0
    exact: bool = True

    def step(self, kernel: int, stride: Number, padding: Number, exact: bool = True) -> AxisRF:
        """google-research/receptive_field recurrence for one layer (kernel already dilated).

        After upsampling the stride is a fraction; the size is then rounded up to whole
        input pixels and marked approximate.
        """
        size = self.size + (kernel - 1) * self.stride
        if type(size) is not int:  # a Fraction (isinstance against Fraction is slow)
            if size.denominator != 1:
                size, exact = -(-size.numerator // size.denominator), False
            size = int(size)
        return AxisRF(size, self.stride * stride, self.padding + padding * self.stride, self.exact and exact)

    @property
    def centre(self) -> Number:
        """Input coordinate of the centre of output position 0, times two (stays exact)."""
        return (self.size - 1) - 2 * self.padding


class RF(NamedTuple):
    """The receptive-field state a tensor carries.

    spatial: `dims` are the tensor's spatial dims and `axes` their fields;
    flat: spatial positions were flattened into features (axes kept for display);
    global: every element depends on the whole input.
    global_context: a path that sees the whole input was joined in (squeeze-and-excitation
    gating, a pooled branch): `axes` are the local field along the other paths.
    """

    kind: Literal["spatial", "flat", "global"] = "spatial"
    dims: tuple[int, ...] = ()
    axes: tuple[AxisRF, ...] = ()
    unaligned: bool = False
    global_context: bool = False

    @staticmethod
    def for_input(shape: Shape) -> RF:
        spatial = tuple(range(2, len(shape)))
        return RF("spatial", spatial, (AxisRF(),) * len(spatial))  # one immutable field for every axis

    def steps(self, steps: Sequence[tuple[int, Number, Number]], exact: bool = True) -> RF:
        """Apply one (dilated kernel, stride, left padding) step per trailing spatial axis."""
        if self.kind != "spatial":
            return self
        if len(self.axes) < len(steps):
            if not self.dims:
                return self
            # An unbatched input ([C, H, W]): the layer's trailing dims are its spatial axes.
            last, missing = self.dims[-1], len(steps) - len(self.axes)
            grown = RF(
                "spatial",
                tuple(range(last + 1 - len(steps), last + 1)),
                (AxisRF(),) * missing + self.axes,
                self.unaligned,
                self.global_context,
            )
            return grown.steps(steps, exact)
        n = len(steps)
        if not n:
            return self
        keep, stepped = self.axes[: len(self.axes) - n], self.axes[len(self.axes) - n :]
        if stepped.count(stepped[0]) == n and steps.count(steps[0]) == n:
            # H and W usually carry equal fields and take one step: step once, share the result
            # (fields are immutable; this runs for every layer).
            axes = keep + (stepped[0].step(*steps[0], exact),) * n
        else:
            axes = keep + tuple(axis.step(*step, exact) for axis, step in zip(stepped, steps, strict=True))
        return RF(self.kind, self.dims, axes, self.unaligned, self.global_context)

    def globalised(self) -> RF:
        return RF("global", (), self.axes, self.unaligned)

    def flattened(self) -> RF:
        return (
            RF("flat", (), self.axes, self.unaligned, self.global_context)
            if self.kind == "spatial" and self.dims
            else self
        )

    def with_dims(self, dims: tuple[int, ...]) -> RF:
        return self._replace(dims=dims)


def merge_rfs(rfs: list[RF]) -> RF:
    """Receptive field where paths meet: the largest field wins, misalignment is flagged.
    A global path joining local ones (an SE gate) keeps the local field, marked as having
    global context; only global paths give a global field."""
    kinds = {rf.kind for rf in rfs}
    unaligned = any(rf.unaligned for rf in rfs)
    if "global" in kinds:
        local = [rf for rf in rfs if rf.kind != "global"]
        if not local:
            return rfs[0]._replace(unaligned=unaligned)
        merged = merge_rfs(local)
        return merged._replace(unaligned=merged.unaligned or unaligned, global_context=True)
    context = any(rf.global_context for rf in rfs)
    if "flat" in kinds:
        # Flattened paths keep their last spatial field for display: the merge shows the
        # largest per axis, whichever order the paths are listed in.
        flat = [rf for rf in rfs if rf.kind == "flat"]
        if len({len(rf.axes) for rf in flat}) == 1:
            widest = tuple(
                max(per_path, key=lambda axis: axis.size) for per_path in zip(*(rf.axes for rf in flat), strict=True)
            )
            return RF("flat", (), widest, unaligned, context)
        return max(flat, key=lambda rf: max((axis.size for axis in rf.axes), default=0))._replace(
            unaligned=unaligned, global_context=context
        )
    first = rfs[0]
    if any(len(rf.axes) != len(first.axes) for rf in rfs):
        return first._replace(unaligned=True, global_context=context)
    axes = []
    for per_path in zip(*(rf.axes for rf in rfs), strict=True):
        largest = max(per_path, key=lambda axis: axis.size)
        exact = all(axis.exact for axis in per_path)  # approximate fields cannot be compared
        if exact and (len({axis.stride for axis in per_path}) > 1 or len({axis.centre for axis in per_path}) > 1):
            unaligned = True
        axes.append(largest)
    return RF("spatial", first.dims, tuple(axes), unaligned, context)


# --- results ----------------------------------------------------------------------------


@dataclass
class Result:
    """What a layer computes from its input shapes."""

    shapes: list[Shape]
    params: int = 0
    buffers: int = 0
    macs: int = 0
    working: list[str] = field(default_factory=list)  # how each number was reached
    warnings: list[str] = field(default_factory=list)
    findings: list[tuple[str, str]] = field(default_factory=list)  # (lint rule code, message): legal but suspect
    # The input was read as one sample without a batch dimension ([C, H, W] into a Conv2d),
    # which PyTorch allows for some kinds; usually a spec that forgot the batch.
    unbatched: bool = False


# --- operations, as the counting conventions read them ----------------------------------

# What a layer's work is, by kind of operation (the `--count` breakdown's rows).
OP_FAMILIES = ("conv", "linear", "matmul", "norm", "activation", "pooling", "elementwise", "resample", "other")


class Op(NamedTuple):  # a value record, as AxisRF: quicker to define at import and to build
    """One operation a layer performs, described by the facts the peers' counting rules
    read (fvcore's jit handles read the same facts off a traced graph; thop's and ptflops'
    hooks off the module and its input and output).

    `name` is the operation as PyTorch runs it ('conv', 'linear', 'batch_norm', 'relu',
    'add', ...: cnnshape.count.OP_NAMES lists them); the conventions are tables keyed on it.
    """

    name: str
    family: str  # one of OP_FAMILIES
    inputs: tuple[Shape, ...]
    output: Shape
    macs: int = 0  # multiply-accumulates of its weights (torchvision's count)
    weight: Shape = ()  # the weight tensor's shape as PyTorch stores it (conv, linear)
    groups: int = 1
    bias: bool = False  # adds a learned bias (conv, linear, norms)
    affine: bool = False  # a normalisation with a learned scale
    window: int = 1  # pooling: input elements per output (kernel area)
    mode: str = ""  # resampling mode (Upsample), activation variant
    # The module's named parameters as `named_parameters(recurse=False)` lists them, with
    # their element counts (torchinfo reads these names).
    params: tuple[tuple[str, int], ...] = ()
    attrs: tuple[tuple[str, int], ...] = ()  # op-specific sizes (attention: heads, lengths)
    # What autograd keeps for the backward pass (training memory, cnnshape.memory): which of
    # its tensors ("input": the first, "inputs": all, "output"), plus tensors of its own as
    # (dtype, elements): batch-norm statistics, max-pool indices, a dropout mask. dtype is
    # "float32", "int64", "bool", "act" (the layer input's type) or "half" (a tensor made
    # by a convolution or matmul: 16-bit under mixed precision).
    saves: tuple[str, ...] = ()
    saved_extra: tuple[tuple[str, int], ...] = ()
    view: bool = False  # its output shares the input's storage (a view, or an in-place op)
    train_view: Optional[bool] = None  # the same in training mode, where it differs (dropout)

    def attr(self, key: str) -> int:
        return dict(self.attrs)[key]


def weight_params(weight: Shape, bias: bool, bias_size: int) -> tuple[tuple[str, int], ...]:
    """A module's named parameters for Op.params: `weight`, and `bias` when it has one."""
    return (("weight", prod(weight)),) + ((("bias", bias_size),) if bias else ())


# --- the base class ---------------------------------------------------------------------

# A kind's pydantic model is built the first time the kind is used, not when its family is
# imported: building a model class (its fields from the annotations, its validators) costs
# about 0.7 ms, and a spec uses a handful of the 70-odd kinds. A family file declares a kind
# as a pydantic model would be declared (typed fields with defaults, `@field_validator`,
# `@model_validator`, ClassVars); that class is plain, and its model is a subclass of it
# and of BaseModel made from the same declarations (`model_of`), so every method, ClassVar
# and `isinstance` check holds for the validated instance.


def _probe(cls: type, value: Any) -> Any:
    return value


# What pydantic's public validator decorators leave in a class body, found by applying
# them (pydantic names that type only in a private module): model_of copies these from a
# kind's declarations into its model. tests/test_layers_registry.py checks that every
# validator declared in a family reaches its kinds' models, so a pydantic release that
# changes this fails there, not silently.
_VALIDATOR_TYPES = (type(field_validator("x")(_probe)), type(model_validator(mode="before")(_probe)))

_MODELS: dict[type, type[BaseModel]] = {}
_RESOLVED: set[type] = set()
_BUILDING = threading.RLock()  # one model per kind, also when threads meet a kind at once


def model_of(cls: type) -> type[BaseModel]:
    """The pydantic model of a layer kind, built on first use (itself for a model)."""
    model = _MODELS.get(cls)
    if model is not None:
        return model
    with _BUILDING:
        model = _MODELS.get(cls)
        if model is not None:
            return model
        namespace: dict[str, Any] = {
            "__module__": cls.__module__,
            "__qualname__": cls.__qualname__,
            "__doc__": cls.__doc__,
            # built now, the model is about to be used: no deferred rebuild on first validation
            "model_config": ConfigDict(defer_build=False),
        }
        # The validators of the kind and its bases: pydantic reads them from the model's
        # own namespace and its BaseModel bases only; a subclass's validator of the same
        # name overrides its base's, as in a model hierarchy.
        for base in reversed(cls.__mro__):
            _resolve_annotations(base)
            for name, value in vars(base).items():
                if isinstance(value, _VALIDATOR_TYPES):
                    namespace[name] = value
        model = _Built(cls.__name__, (cls, BaseModel), namespace)
        _MODELS[cls] = _MODELS[model] = model
    return model


def _resolve_annotations(cls: type) -> None:
    """Replace a declaring class's own string annotations (`from __future__ import
    annotations`) by the objects they name, once: pydantic evaluates every string annotation
    of a model's bases each time it builds a model, and Layer's ClassVars and a family's
    shared bases (_ConvNd, _PoolNd, ...) would be evaluated again for every kind (a third
    of building a small kind's model)."""
    if cls in _RESOLVED or cls is object:
        return
    own = vars(cls).get("__annotations__")
    if own and any(isinstance(value, str) for value in own.values()):
        hints = get_type_hints(cls, include_extras=True)  # the class's MRO, its module's names
        cls.__annotations__ = {name: hints.get(name, value) for name, value in own.items()}
    _RESOLVED.add(cls)


class _Declared(type):
    """Metaclass of the declaring classes: `Kind(...)` and `Kind.model_*` go to the model."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return type.__call__(model_of(cls), *args, **kwargs)

    def __getattr__(cls, name: str) -> Any:
        if name.startswith("model_"):
            return getattr(model_of(cls), name)
        raise AttributeError(f"type object {cls.__name__!r} has no attribute {name!r}")


class _Built(_Declared, type(BaseModel)):  # type: ignore[misc]
    """Metaclass of the built models: pydantic's, with the declaring classes' behaviour."""


if TYPE_CHECKING:
    _LayerBase = BaseModel
else:

    class _LayerBase(metaclass=_Declared):
        pass


class Layer(_LayerBase):
    """A layer kind: its fields are the PyTorch constructor's arguments (input sizes inferred)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    family: ClassVar[str] = ""
    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int | None] = 1

    @classmethod
    def kind(cls) -> str:
        return cls.__name__

    def num_outputs(self) -> int:
        """How many tensors the layer returns (known from its arguments alone)."""
        return 1

    def input_count(self) -> tuple[int, Optional[int]]:
        """How many inputs this layer takes (least, most; None: any), from its arguments:
        `Mul: {scalar: 0.5}` takes one where a bare Mul takes two or more."""
        return self.min_inputs, self.max_inputs

    def infer(self, shapes: list[Shape]) -> Result:
        """Output shape(s), parameters, buffers, MACs and working, from input shapes."""
        raise NotImplementedError(f"{self.kind()} has no shape formula")

    def receptive_field(self, rfs: list[RF], shapes: list[Shape], out: list[Shape]) -> list[RF]:
        """Receptive field of each output; default: an elementwise op keeps its input's."""
        return [rfs[0]] * len(out)

    def rf_findings(self, rfs: list[RF], shapes: list[Shape]) -> list[tuple[str, str]]:
        """Lint findings that need the inputs' receptive-field state (which dims are spatial)."""
        return []

    def bias_size(self, out: list[Shape]) -> int:
        """How many of the parameters are an additive per-channel bias (conv, linear)."""
        return 0

    # The operation PyTorch runs for this kind (see Op.name); a kind with one operation
    # sets these and the default `ops` describes it; others override `ops`.
    op_name: ClassVar[str] = ""
    op_family: ClassVar[str] = "other"
    op_saves: ClassVar[tuple[str, ...]] = ()  # what autograd keeps for backward (Op.saves)
    op_view: ClassVar[bool] = False  # the output is a view of the input (Op.view)

    def in_place(self) -> bool:
        """Whether the layer overwrites its input (inplace=True) instead of allocating."""
        return False

    def ops(self, shapes: list[Shape], out: list[Shape]) -> list[Op]:
        """The operations this layer performs, for the counting conventions (cnnshape.count)
        and the memory model (cnnshape.memory)."""
        if not self.op_name:
            raise NotImplementedError(f"{self.kind()} does not describe its operations")
        return [
            Op(
                self.op_name,
                self.op_family,
                tuple(shapes),
                out[0] if out else (),
                saves=self.op_saves,
                view=self.op_view or self.in_place(),
            )
        ]

    # A normalisation that subtracts a per-channel mean makes the bias of the layer
    # feeding it useless (BatchNorm, InstanceNorm).
    cancels_bias: ClassVar[bool] = False

    # --- the PyTorch side (cnnshape/layers/torchside.py; read by the bridge and catalog) --

    pytorch: ClassVar[Optional[TorchSide]] = None
    no_pytorch: ClassVar[str] = ""  # why a kind has no PyTorch side, when it has none
    # MACs of one call of the torch module, by torchvision's convention; None: costs none.
    torch_macs: ClassVar[Optional[Callable[..., int]]] = None

    def torch_unsupported(self) -> str:
        """Why this layer, with these arguments, has no PyTorch module form ('' when it has)."""
        return ""

    def torch_side(self) -> Optional[TorchSide]:
        """The PyTorch side export builds this layer with: the kind's, unless these arguments
        need another class (`padding: tf_same` needs runtime.Conv2dSame, which pads per
        input size)."""
        return self.pytorch

    def torch_inferred(self, shapes: list[Shape]) -> list[tuple[str, int, int]]:
        """The constructor sizes PyTorch needs but the spec leaves to inference: (argument,
        input index, dim it is read from) for this layer with these input shapes."""
        side = self.pytorch
        if side is None:
            return []
        given = self.model_fields_set
        ndim = getattr(type(self), "ndim", None)
        out = []
        for item in side.inferred:
            if item.always or item.arg not in given:
                shape = shapes[item.input]
                dim = (
                    self._channel_dim(shape)
                    if item.dim == "channel" and hasattr(self, "_channel_dim")
                    else resolve_dim(item.dim, self, shape, ndim)
                )
                out.append((item.arg, item.input, dim))
        return out

    @classmethod
    def from_torch_call(
        cls, target: str, bound: dict[str, Any], in_shape: Shape, out_shapes: list[Shape]
    ) -> Optional[dict[str, Any]]:
        """This kind's arguments for an fx call `target` (a key of pytorch.functions) whose
        arguments after the tensor are `bound` (plain values); None when it does not map.
        Default: the bound values that are this kind's arguments, leaving out PyTorch's
        defaults (a call-only argument such as F.dropout's `training` is not one); a
        positional argument beyond the declared signature ("*") declines the call."""
        if "*" in bound:
            return None
        return {
            key: value for key, value in bound.items() if key in cls.model_fields and not cls.is_default(key, value)
        }

    @classmethod
    def from_torch_module(cls, module: Any, in_shape: Optional[Shape]) -> dict[str, Any]:
        """This kind's arguments read from a torch module's attributes (defaults left out)."""
        side = cls.pytorch
        inferred = side.inferred_args() if side is not None else set()
        values: dict[str, Any] = {}
        for name in cls.model_fields:
            if name in inferred or not hasattr(module, name):
                continue
            value = getattr(module, name)
            if name == "bias":
                if getattr(module, "affine", True) is False or getattr(module, "elementwise_affine", True) is False:
                    continue
                value = value is not None
            elif hasattr(value, "dtype") and hasattr(value, "shape"):
                continue  # a tensor (a parameter or buffer)
            value = plain(value)
            if name in PER_AXIS and isinstance(value, list) and value and all(v == value[0] for v in value):
                value = value[0]  # kernel_size: 3 rather than [3, 3]
            values[name] = value
        return {key: value for key, value in values.items() if not cls.is_default(key, value)}

    @classmethod
    def is_default(cls, name: str, value: Any) -> bool:
        """True when `value` is what the field means when left out."""
        info = cls.model_fields.get(name)
        if info is None or info.is_required():
            return False
        default = info.default
        if isinstance(default, tuple):
            default = list(default)
        if isinstance(value, tuple):
            value = list(value)
        if default is None and value == []:
            return True  # F.max_pool2d's stride=[] means "the kernel size", as None does
        if isinstance(value, list) and not isinstance(default, list) and value and all(v == default for v in value):
            return True
        return value == default and type(value) is not bool or value is default


PER_AXIS = {"kernel_size", "stride", "padding", "dilation", "output_padding"}


def plain(value: Any) -> Any:
    """A value read from torch as plain data: tuples (torch.Size too) as lists."""
    if isinstance(value, (tuple, list)):
        return [plain(v) for v in value]
    if type(value).__name__ == "dtype":
        return str(value)
    return value


# --- helpers shared by the families -----------------------------------------------------


def ntuple(value: Any, n: int, name: str) -> tuple[int, ...]:
    """An int or an n-tuple argument as an n-tuple (PyTorch's _ntuple)."""
    if isinstance(value, int):
        return (value,) * n
    value = tuple(value)
    if len(value) != n:
        raise ValueError(f"{name} needs 1 or {n} values, got {len(value)}")
    return value


def tf_same_pads(
    sizes: Sequence[int], kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int]
) -> tuple[list[int], list[int]]:
    """TensorFlow's SAME padding (timm's pad_same) per axis: (totals, lefts). The output is
    ceil(I / S); the total is max((out - 1)*S + D*(K - 1) + 1 - I, 0), the smaller half on
    the left (the odd one after)."""
    totals = [
        max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)
        for size, k, s, d in zip(sizes, kernel, stride, dilation, strict=True)
    ]
    return totals, [total // 2 for total in totals]


def with_tf_same(values: dict[str, Any], module: Any) -> dict[str, Any]:
    """Import: a module that pads per call as TensorFlow's SAME (cnnshape's runtime
    Conv2dSame, MaxPool2dSame, ...: padding 0 of its own, `tf_same` set) is `padding: tf_same`."""
    if getattr(module, "tf_same", False):
        values["padding"] = "tf_same"
    return values


def tf_same_working(axis: str, size: int, kernel: int, stride: int, dilation: int, total: int) -> str:
    """How tf_same's padding on one axis was reached, as `explain` shows it."""
    out = -(-size // stride)
    dil = f"{dilation}*({kernel}-1)" if dilation != 1 else f"({kernel}-1)"
    return (
        f"{axis}: tf_same: out = ceil(I / S) = ceil({size}/{stride}) = {out}; padding "
        f"max((out-1)*S + {'dil*(K-1)' if dilation != 1 else '(K-1)'} + 1 - I, 0) = "
        f"max(({out}-1)*{stride} + {dil} + 1 - {size}, 0) = {total}: {total // 2} before, {total - total // 2} after"
    )


def check_rank(kind: str, shape: Shape, ranks: tuple[int, ...], meaning: str) -> None:
    if len(shape) not in ranks:
        want = " or ".join(f"{r}-D" for r in ranks)
        raise ShapeError(f"{kind} expects a {want} input ({meaning}), got {len(shape)}-D {fmt_shape(shape)}")


def fmt_shape(shape: Shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


def window_out(
    axis: str,
    size: int,
    kernel: int,
    stride: int,
    pad_total: int,
    dilation: int = 1,
    ceil_mode: bool = False,
    pad_left: int | None = None,
) -> tuple[int, str]:
    """PyTorch's output size for a sliding window, and the working as text: the formula
    in the seed's notation, then with the numbers put in.

    floor((I + P_total - D(K-1) - 1) / S) + 1; with ceil_mode the last window must start
    inside the input or its left padding (PyTorch's pooling_output_shape).
    """
    span = size + pad_total - dilation * (kernel - 1) - 1
    rounding = "ceil" if ceil_mode else "floor"
    symmetric = pad_left is None and pad_total % 2 == 0
    pad_text = f"2*{pad_total // 2}" if symmetric else str(pad_total)
    dil_text = f"{dilation}*({kernel}-1)" if dilation != 1 else f"({kernel}-1)"
    formula = f"{rounding}((I + {'2P' if symmetric else 'P_total'} - {'dil*(K-1)' if dilation != 1 else '(K-1)'} - 1) / S) + 1"
    # With ceil_mode, PyTorch rounds up even a window larger than the input (as long as
    # the result is positive): MaxPool2d(4, 4, ceil_mode=True) on 3x3 gives 1x1.
    if span < 0 and not (ceil_mode and -(-span // stride) + 1 >= 1):
        raise ShapeError(
            f"{axis}: window {dilation * (kernel - 1) + 1} is larger than the padded input "
            f"{size + pad_total} ({size} + padding {pad_total})"
        )
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    note = ""
    if ceil_mode and (out - 1) * stride >= size + (pad_total // 2 if pad_left is None else pad_left):
        out -= 1
        note = ", less 1: the last window would start in the right padding"
    working = f"{axis}: {formula} = {rounding}(({size} + {pad_text} - {dil_text} - 1) / {stride}) + 1 = {out + (1 if note else 0)}{note}"
    if note:
        working += f" = {out}"
    return out, working


def window_findings(
    axis: str,
    size: int,
    kernel: int,
    stride: int,
    pad_total: int,
    pad_left: int,
    dilation: int = 1,
    ceil_mode: Optional[bool] = None,
) -> list[tuple[str, str]]:
    """What a reviewer would flag about one axis of a sliding window (lint rules)."""
    findings = []
    k_eff = dilation * (kernel - 1) + 1
    span = size + pad_total - k_eff
    pad_right = pad_total - pad_left
    unread = 0 if ceil_mode else span % stride  # None: the layer has no ceil_mode (a convolution)
    dropped = unread - pad_right
    if dropped > 0:
        findings.append(
            (
                "dropped-input",
                (
                    f"{axis}: the last {dropped} of {size} positions are never read: (I + P - K_eff) = {span} "
                    f"is not a multiple of stride {stride}; add {stride - dropped} to the total padding or crop the input"
                    + (", or use ceil_mode" if ceil_mode is not None else "")
                ),
            )
        )
    if k_eff % 2 == 0 and pad_left == pad_right and pad_left > 0:
        findings.append(
            (
                "even-kernel-padding",
                (
                    f"{axis}: even kernel {k_eff} with symmetric padding {pad_left} shifts the output centre "
                    "half a position; use an odd kernel or asymmetric padding"
                ),
            )
        )
    if size == 1 and k_eff > 1:
        findings.append(
            (
                "collapsed-input",
                (
                    f"{axis}: the input is already 1 wide, so this {k_eff}-wide window sees padding around "
                    "a single position; the network shrinks the map earlier than it means to (a larger input?)"
                ),
            )
        )
    return findings
