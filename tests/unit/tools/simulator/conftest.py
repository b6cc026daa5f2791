"""Tiny simulated worlds, built once per session (`SimConfig.tiny`, overridable per test)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from relstream.tools.simulator.config import SimConfig
from relstream.tools.simulator.world import simulate


@pytest.fixture(scope="session")
def make_world(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """Build (and cache by arguments) a tiny world; returns its folder."""
    cache: dict[tuple, Path] = {}

    def build(**overrides: object) -> Path:
        key = tuple(sorted(overrides.items()))
        if key not in cache:
            out = tmp_path_factory.mktemp("world")
            simulate(SimConfig.tiny(out, **overrides))
            cache[key] = out
        return cache[key]

    return build
