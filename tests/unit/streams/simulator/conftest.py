"""Tiny simulated worlds, built once per module: 500 items and a few hundred searches."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from streams.simulator.config import SimConfig
from streams.simulator.world import simulate

TINY = {"items": 500, "searches": 300, "days": 1.0, "cot_share": 0.5}


@pytest.fixture(scope="session")
def make_world(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """Build (and cache by arguments) a tiny world; returns its folder."""
    cache: dict[tuple, Path] = {}

    def build(**overrides: object) -> Path:
        args = {**TINY, **overrides}
        key = tuple(sorted(args.items()))
        if key not in cache:
            out = tmp_path_factory.mktemp("world")
            simulate(SimConfig(out=out, **args))  # type: ignore[arg-type]
            cache[key] = out
        return cache[key]

    return build
