"""`RecoveryStall`: when a restore that stopped moving is nudged, and when the worker
restarts (the worker side is tested on the broker in tests/integration/test_recovery_stall.py)."""

from __future__ import annotations

from streams.processor.recovery import RecoveryStall


def feed(stall: RecoveryStall, readings: list[tuple[float, int]]) -> list[tuple[float, str]]:
    return [(t, a) for t, left in readings if (a := stall.update(left, t)) is not None]


def test_a_moving_restore_is_left_alone() -> None:
    stall = RecoveryStall(stall_s=10)
    # Slow but steady: one record every 9 s never stalls; the end of the restore neither.
    readings = [(9.0 * i, 100 - i) for i in range(50)] + [(500.0, 0), (900.0, 0)]
    assert feed(stall, readings) == []


def test_a_stall_is_nudged_then_restarted() -> None:
    stall = RecoveryStall(stall_s=10)
    readings = [(float(t), 397) for t in range(0, 31)]
    assert feed(stall, readings) == [(10.0, "nudge"), (20.0, "restart"), (30.0, "restart")]
    assert stall.nudges == 1


def test_progress_after_a_nudge_forgets_it() -> None:
    stall = RecoveryStall(stall_s=10)
    readings = [(float(t), 50) for t in range(0, 11)]        # nudged at 10
    readings += [(11.0, 49)]                                 # it moved
    readings += [(float(t), 49) for t in range(12, 22)]      # stuck again: a nudge first
    assert feed(stall, readings) == [(10.0, "nudge"), (21.0, "nudge")]


def test_a_growing_restore_restarts_the_clock() -> None:
    stall = RecoveryStall(stall_s=10)
    # A new rebalance adds partitions at t=8: more left, not a stall of what was there.
    readings = [(0.0, 10), (8.0, 10), (9.0, 300), (18.0, 300), (19.0, 300)]
    assert feed(stall, readings) == [(19.0, "nudge")]


def test_a_finished_restore_starts_afresh() -> None:
    stall = RecoveryStall(stall_s=10)
    readings = [(0.0, 5), (10.0, 5), (11.0, 0), (12.0, 7), (21.0, 7), (22.0, 7)]
    assert feed(stall, readings) == [(10.0, "nudge"), (22.0, "nudge")]
