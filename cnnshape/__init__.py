"""cnnshape: analyze CNN architectures written as YAML specs, without a framework."""

__version__ = "0.2.0.dev0"
