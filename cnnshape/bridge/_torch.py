"""torch, imported quietly: without NumPy, which cnnshape never uses, torch warns "Failed to
initialize NumPy" on import, and that warning would open every verify and import run."""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
    import torch

__all__ = ["torch"]
