"""torchvision's convention (cnnshape's default): multiply-accumulates of convolution and
linear/matmul weights only, as torchvision's model tables report `_ops` (GFLOPS there is
this count). Bias, normalisation, activation, pooling and elementwise work cost nothing."""

from __future__ import annotations

from cnnshape.count.base import Convention, weight_macs

CONVENTION = Convention(
    name="torchvision",
    title="torchvision model docs: _ops (MACs of conv, linear and attention matmul weights)",
    version="torchvision 0.29.1",
    source="https://github.com/pytorch/vision/blob/main/references/classification/README.md",
    rules={
        "conv": weight_macs,
        "conv_transpose": weight_macs,  # over the input positions, as torchvision and fvcore count it
        "linear": weight_macs,
        "matmul": weight_macs,  # torch.matmul of two activations (no weights; as the attention matmuls)
        "recurrent": weight_macs,  # every weight matrix once per time step and sample
        "attention_in_proj": weight_macs,
        "attention_matmul": weight_macs,  # q @ k^T and weights @ v
        "attention_out_proj": weight_macs,
    },
)
