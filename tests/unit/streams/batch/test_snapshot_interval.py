"""How often the batch engine snapshots (`BatchWorker._snapshot_every`): stretched by the
time encoding took, never past `SNAPSHOT_MAX_STRETCH` intervals."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from streams.batch.engine import SNAPSHOT_MAX_SHARE, SNAPSHOT_MAX_STRETCH, BatchWorker


def _every(interval_s: float, took_s: float) -> float:
    # Only the two attributes it reads; a real BatchWorker starts a Feast push process.
    worker = SimpleNamespace(settings=SimpleNamespace(snapshot_interval_s=interval_s),
                             _snapshot_encoding_s=took_s)
    return BatchWorker._snapshot_every(worker)  # type: ignore[arg-type]


def test_a_quick_snapshot_keeps_the_interval() -> None:
    assert _every(5.0, 0.01) == 5.0


def test_a_slow_encoding_stretches_the_interval() -> None:
    assert _every(5.0, 0.3) == pytest.approx(0.3 / SNAPSHOT_MAX_SHARE)  # 10 s


def test_the_stretch_is_capped() -> None:
    # A CI run: one slow snapshot stretched the interval past the whole test, so a
    # SIGKILLed worker had nothing but its first (empty) snapshot to restore.
    assert _every(5.0, 40.0) == 5.0 * SNAPSHOT_MAX_STRETCH
