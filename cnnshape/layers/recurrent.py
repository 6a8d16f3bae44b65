"""Recurrent layers: RNN, LSTM and GRU over a sequence (L, N, H_in), or (N, L, H_in) with
`batch_first`, or one unbatched sequence (L, H_in); and Embedding, the lookup table that
usually feeds them.

Parameters are counted as PyTorch stores them: per layer and direction `weight_ih`
(G*H x in), `weight_hh` (G*H x H_out) and, with `bias`, two G*H biases, where G is 1 (RNN),
3 (GRU) or 4 (LSTM); an LSTM with `proj_size` P adds `weight_hr` (P x H) and its H_out is P.
MACs follow the weights as PyTorch multiplies them (docs/conventions.md): every weight
matrix once per time step and sample.
"""

from __future__ import annotations

from math import prod
from typing import Annotated, ClassVar, Literal, Optional

from pydantic import Field, model_validator

from cnnshape.errors import ShapeError
from cnnshape.layers.base import RF, Bool, Float, Int, Layer, Op, PosInt, Result, Shape, check_rank, fmt_shape
from cnnshape.layers.torchside import Inferred, TorchSide, recurrent_macs


class _Recurrent(Layer):
    family = "recurrent"
    op_family = "linear"
    gates: ClassVar[int] = 1
    op_name = "recurrent"

    hidden_size: PosInt
    num_layers: PosInt = 1
    bias: Bool = True
    batch_first: Bool = False
    dropout: Annotated[Float, Field(ge=0, le=1)] = 0.0
    bidirectional: Bool = False
    input_size: Optional[PosInt] = None

    def _proj(self) -> int:
        return 0

    def _out_size(self) -> int:
        """H_out: the hidden state's size (the projection's, for an LSTM with proj_size)."""
        return self._proj() or self.hidden_size

    def num_outputs(self) -> int:
        return 2  # output, h_n

    def _sequence(self, shape: Shape) -> tuple[Optional[int], int, int]:
        """(batch or None when unbatched, length, features) of the input."""
        check_rank(self.kind(), shape, (2, 3), "L, N, H_in; or N, L, H_in with batch_first; or L, H_in unbatched")
        if len(shape) == 2:
            return None, shape[0], shape[1]
        if self.batch_first:
            return shape[0], shape[1], shape[2]
        return shape[1], shape[0], shape[2]

    def _weights(self, features: int) -> list[tuple[str, Shape]]:
        """Every parameter as PyTorch names and shapes it, in named_parameters() order."""
        gate_rows, hidden, out_size, proj = (
            self.gates * self.hidden_size,
            self.hidden_size,
            self._out_size(),
            self._proj(),
        )
        directions = ("", "_reverse") if self.bidirectional else ("",)
        weights: list[tuple[str, Shape]] = []
        for layer in range(self.num_layers):
            width = features if layer == 0 else out_size * len(directions)
            for suffix in directions:
                weights += [
                    (f"weight_ih_l{layer}{suffix}", (gate_rows, width)),
                    (f"weight_hh_l{layer}{suffix}", (gate_rows, out_size)),
                ]
                if self.bias:
                    weights += [
                        (f"bias_ih_l{layer}{suffix}", (gate_rows,)),
                        (f"bias_hh_l{layer}{suffix}", (gate_rows,)),
                    ]
                if proj:
                    weights.append((f"weight_hr_l{layer}{suffix}", (proj, hidden)))
        return weights

    def _state_shapes(self, batch: Optional[int]) -> list[Shape]:
        stacked = self.num_layers * (2 if self.bidirectional else 1)
        lead = (stacked,) if batch is None else (stacked, batch)
        return [lead + (self._out_size(),)]

    def infer(self, shapes: list[Shape]) -> Result:
        (shape,) = shapes
        batch, length, features = self._sequence(shape)
        if self.input_size is not None and self.input_size != features:
            raise ShapeError(
                f"{self.kind()} declares input_size={self.input_size} but its input {fmt_shape(shape)} "
                f"has {features} features",
                hint="batch_first: true if the input is (N, L, H_in)" if len(shape) == 3 else "",
            )
        directions = 2 if self.bidirectional else 1
        out_features = directions * self._out_size()
        output = shape[:-1] + (out_features,)
        weights = self._weights(features)
        params = sum(prod(size) for _, size in weights)
        per_step = sum(prod(size) for name, size in weights if name.startswith("weight"))
        steps = length * (batch or 1)
        macs = per_step * steps
        gate_text = f"G = {self.gates} gate{'s' if self.gates > 1 else ''}"
        working = [
            f"{gate_text}, H = {self.hidden_size}, H_out = {self._out_size()}, {self.num_layers} layer(s) x {directions} direction(s)",
            f"params: {' + '.join(f'{name} {fmt_shape(size)}' for name, size in weights[: 5 if self._proj() else 4])}"
            + (" + ..." if len(weights) > (5 if self._proj() else 4) else "")
            + f" = {params:,}",
            f"MACs: weights {per_step:,} per time step and sample x {length} steps x {batch or 1} = {macs:,}",
            f"output: {fmt_shape(output)}; h_n: {fmt_shape(self._state_shapes(batch)[0])}",
        ]
        if self.dropout and self.num_layers == 1:
            warnings = ["dropout acts between stacked layers: with num_layers 1 it does nothing (PyTorch warns too)"]
        else:
            warnings = []
        return Result(
            [output, *self._state_shapes(batch)], params=params, macs=macs, working=working, warnings=warnings
        )

    def bias_size(self, out: list[Shape]) -> int:
        return 0  # the biases are inside the gates: no per-channel bias a norm would cancel

    def ops(self, shapes: list[Shape], out: list[Shape]) -> list[Op]:
        (shape,) = shapes
        features = self._sequence(shape)[2]
        weights = self._weights(features)
        macs = self.infer(shapes).macs
        # What the peers' RNN hooks read off the module (ptflops, thop, deepspeed).
        attrs = (
            ("gates", self.gates),
            ("hidden", self.hidden_size),
            ("layers", self.num_layers),
            ("directions", 2 if self.bidirectional else 1),
            ("features", features),
            ("proj", self._proj()),
        )
        return [
            Op(
                self.op_name,
                "linear",
                (shape,),
                out[0],
                macs=macs,
                bias=self.bias,
                params=tuple((name, prod(size)) for name, size in weights),
                attrs=attrs,
                saves=("input", "output"),
            )
        ]

    def receptive_field(self, rfs: list[RF], shapes: list[Shape], out: list[Shape]) -> list[RF]:
        # Every step's state carries the sequence so far (both ways when bidirectional).
        return [rfs[0].globalised() for _ in out]


class RNN(_Recurrent):
    """Elman RNN: h_t = tanh(W_ih x_t + b_ih + W_hh h_(t-1) + b_hh); outputs `output` and
    `h_n` (`name.0`, `name.1`).

    ```yaml
    - RNN: {hidden_size: 64, num_layers: 2, batch_first: true}
    ```
    """

    pytorch = TorchSide("nn.RNN", inferred=(Inferred("input_size", -1),))
    torch_macs = staticmethod(recurrent_macs)

    nonlinearity: Literal["tanh", "relu"] = "tanh"


class GRU(_Recurrent):
    """Gated recurrent unit (3 gates); outputs `output` and `h_n` (`name.0`, `name.1`).

    ```yaml
    - GRU: {hidden_size: 128, bidirectional: true}
    ```
    """

    pytorch = TorchSide("nn.GRU", inferred=(Inferred("input_size", -1),))
    torch_macs = staticmethod(recurrent_macs)
    gates = 3


class LSTM(_Recurrent):
    """Long short-term memory (4 gates); outputs `output`, `h_n` and `c_n` (`name.0`,
    `name.1`, `name.2`); `proj_size` projects the hidden state (H_out = proj_size).

    ```yaml
    - LSTM: {hidden_size: 256, num_layers: 2, bidirectional: true}   # CRNN's sequence model
    ```
    """

    pytorch = TorchSide("nn.LSTM", inferred=(Inferred("input_size", -1),), returns="output_and_state")
    torch_macs = staticmethod(recurrent_macs)
    gates = 4

    proj_size: Int = 0

    @model_validator(mode="after")
    def _projection(self) -> LSTM:
        if self.proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable projections")
        if self.proj_size >= self.hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size (PyTorch)")
        return self

    def _proj(self) -> int:
        return self.proj_size

    def num_outputs(self) -> int:
        return 3  # output, h_n, c_n

    def _state_shapes(self, batch: Optional[int]) -> list[Shape]:
        (hidden,) = super()._state_shapes(batch)
        return [hidden, hidden[:-1] + (self.hidden_size,)]  # c_n keeps the full hidden size


class Embedding(Layer):
    """A lookup table: integer indices of any shape -> that shape + (embedding_dim,);
    num_embeddings x embedding_dim parameters, no MACs.

    ```yaml
    - Embedding: {num_embeddings: 10000, embedding_dim: 128}   # (N, L) token ids -> (N, L, 128)
    ```
    """

    pytorch = TorchSide("nn.Embedding", ("num_embeddings", "embedding_dim"), input_dtype="long")
    op_name = "embedding"
    op_family = "other"

    family = "recurrent"

    num_embeddings: PosInt
    embedding_dim: PosInt
    padding_idx: Optional[Int] = None
    max_norm: Optional[Float] = None
    norm_type: Float = 2.0
    scale_grad_by_freq: Bool = False
    sparse: Bool = False

    @model_validator(mode="after")
    def _padding_index(self) -> Embedding:
        if self.padding_idx is not None and not -self.num_embeddings <= self.padding_idx < self.num_embeddings:
            raise ValueError("padding_idx must be within num_embeddings (PyTorch)")
        return self

    def infer(self, shapes: list[Shape]) -> Result:
        (shape,) = shapes
        params = self.num_embeddings * self.embedding_dim
        out = shape + (self.embedding_dim,)
        return Result(
            [out],
            params=params,
            working=[
                f"params: num_embeddings*embedding_dim = {self.num_embeddings}*{self.embedding_dim} = {params:,}",
                f"output: {fmt_shape(shape)} + ({self.embedding_dim},) = {fmt_shape(out)}",
            ],
        )

    def ops(self, shapes: list[Shape], out: list[Shape]) -> list[Op]:
        weight = (self.num_embeddings, self.embedding_dim)
        return [
            Op(
                "embedding",
                "other",
                (shapes[0],),
                out[0],
                weight=weight,
                params=(("weight", prod(weight)),),
                saves=("input",),
            )
        ]


KINDS = [RNN, LSTM, GRU, Embedding]
