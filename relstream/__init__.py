"""relstream: the CLI, settings and local stack shared by every relstream package."""

from __future__ import annotations

__version__ = "0.1.0"
