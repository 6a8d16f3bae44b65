"""The PyTorch bridge (the optional `torch` extra): export a spec as PyTorch code, verify
cnnshape's numbers against PyTorch, and import a PyTorch model as a spec.

By job: analysed.py (one analysis with what export reads), codegen.py (the safe writer:
identifiers, literals, expressions from the evaluator's parse tree), classwriter.py and
export.py (a spec as a module), runtime.py (the helper modules exported files carry),
verify.py, fx_map.py (tracing and mapping onto the kinds' declared PyTorch sides),
spec_writer.py and fx_import.py (a model as a spec), cli.py (the commands).

Only runtime.py, verify.py, fx_map.py and fx_import.py import torch, and only when their
commands run; export never imports it. Nothing outside this package imports any of them
except the thin commands in cli.py.
"""

INSTALL_HINT = "pip install 'torch>=2.1'"  # what the torch extra adds (cnnshape is not on PyPI)
