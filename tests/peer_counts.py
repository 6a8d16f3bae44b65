"""Run the peer counting tools on a spec exported to PyTorch (for the optional tests of
cnnshape.count): each function returns the tool's own headline figure, unrounded."""

from __future__ import annotations

import contextlib
import copy
import io
import warnings
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import torch

from cnnshape.bridge.export import Analysed, analyse_file, export_analysed
from cnnshape.bridge.verify import load_code


@lru_cache(maxsize=4)
def exported(
    spec: str, input_shape: tuple[int, ...] | None = None, overrides: tuple[tuple[str, Any], ...] = ()
) -> tuple[Analysed, Any]:
    """The analysed spec (with `--set` style `overrides`) and its exported module (built per
    device by `model`)."""
    analysed = analyse_file(spec, dict(overrides) or None, input_shape)
    return analysed, load_code(export_analysed(analysed), analysed.graph.name.replace("-", "_"))


def model(spec: str, device: str, input_shape: tuple[int, ...] | None = None) -> tuple[torch.nn.Module, torch.Tensor]:
    analysed, module = exported(spec, input_shape)
    torch.manual_seed(0)
    with torch.device(device):
        built = module.build().eval()
    return built, torch.zeros(analysed.graph.input_shape, device=device)


@contextlib.contextmanager
def _quiet():
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
    ):
        warnings.simplefilter("ignore")
        yield


def fvcore(net: torch.nn.Module, x: torch.Tensor) -> int:
    from fvcore.nn import FlopCountAnalysis

    with _quiet():
        analysis = FlopCountAnalysis(net, x)
        analysis.unsupported_ops_warnings(False)
        analysis.uncalled_modules_warnings(False)
        return int(analysis.total())


def _ptflops(backend: str) -> Callable[[torch.nn.Module, torch.Tensor], int]:
    def run(net: torch.nn.Module, x: torch.Tensor) -> int:
        from ptflops import get_model_complexity_info

        with _quiet():
            macs, _ = get_model_complexity_info(
                net, tuple(x.shape[1:]), as_strings=False, print_per_layer_stat=False, backend=backend
            )
        return int(macs)

    return run


def thop(net: torch.nn.Module, x: torch.Tensor) -> int:
    import thop as thop_module

    with _quiet():
        macs, _ = thop_module.profile(copy.deepcopy(net), inputs=(x,), verbose=False)
    return int(macs)


def torchinfo(net: torch.nn.Module, x: torch.Tensor) -> int:
    import torchinfo as torchinfo_module

    with _quiet():
        return int(torchinfo_module.summary(net, input_data=x, verbose=0, device=x.device).total_mult_adds)


def deepspeed_profile(net: torch.nn.Module, x: torch.Tensor) -> tuple[int, int]:
    """DeepSpeed's flops profiler: (MACs, FLOPs) as get_model_profile returns them."""
    import logging

    logging.getLogger("DeepSpeed").setLevel(logging.ERROR)
    with _quiet():
        from deepspeed.profiling.flops_profiler import get_model_profile

        flops, macs, _ = get_model_profile(net, args=[x], print_profile=False, as_string=False, warm_up=0)
    return int(macs), int(flops)


def deepspeed(net: torch.nn.Module, x: torch.Tensor) -> int:
    return deepspeed_profile(net, x)[0]


# convention -> (the module that must be importable, the device it runs on, the runner).
# fvcore traces with torch.jit (no meta tensors); ptflops' pytorch backend counts the
# Python-level calls that meta kernels make too, so both run on the CPU.
TOOLS: dict[str, tuple[str, str, Callable[[torch.nn.Module, torch.Tensor], int]]] = {
    "fvcore": ("fvcore", "cpu", fvcore),
    "ptflops": ("ptflops", "cpu", _ptflops("pytorch")),
    "ptflops-aten": ("ptflops", "meta", _ptflops("aten")),
    "thop": ("thop", "meta", thop),
    "torchinfo": ("torchinfo", "meta", torchinfo),
    "deepspeed": ("deepspeed", "cpu", deepspeed),
}
