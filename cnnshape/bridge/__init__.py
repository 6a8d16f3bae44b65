"""The PyTorch bridge (the optional `torch` extra): export a spec as PyTorch code, verify
cnnshape's numbers against PyTorch, and import a PyTorch model as a spec.

Only verify.py and fx_import.py import torch, and only when their commands run; export.py
writes text and never imports it. Nothing outside this package imports any of them except
the thin commands in cli.py.
"""

INSTALL_HINT = "pip install 'torch>=2.1'"  # what the torch extra adds (cnnshape is not on PyPI)
