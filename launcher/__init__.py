"""launcher: approval-gated cloud launches driven by pull requests."""

__version__ = "0.1.0"
