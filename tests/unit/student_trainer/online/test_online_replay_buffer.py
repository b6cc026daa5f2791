"""Replay buffer: bounded, reservoir is uniform over the stream, recency favours the new."""

from __future__ import annotations

import pytest

from student_trainer.online.replay_buffer import ReplayBuffer, ReplayBufferError


def test_buffer_is_bounded_and_counts_everything_seen() -> None:
    buf: ReplayBuffer[int] = ReplayBuffer(10, "reservoir", seed=1)
    buf.extend(range(1000))
    assert len(buf) == 10 and buf.seen == 1000
    assert len(set(buf.sample(10))) == 10
    assert len(buf.sample(50)) == 10  # never more than it holds
    assert buf.sample(0) == []


def test_reservoir_keeps_old_and_new_alike() -> None:
    # Over many seeds, items from the first and the second half of the stream are kept
    # about equally often (p = capacity / seen for every item).
    first = second = 0
    for seed in range(200):
        buf: ReplayBuffer[int] = ReplayBuffer(20, "reservoir", seed=seed)
        buf.extend(range(200))
        first += sum(1 for i in buf.items() if i < 100)
        second += sum(1 for i in buf.items() if i >= 100)
    assert first + second == 200 * 20
    assert 0.4 < first / (first + second) < 0.6


def test_recency_keeps_the_newest_and_samples_them_more() -> None:
    buf: ReplayBuffer[int] = ReplayBuffer(100, "recency", seed=0)
    buf.extend(range(1000))
    assert sorted(buf.items()) == list(range(900, 1000))
    picks = [i for _ in range(300) for i in buf.sample(10)]
    newer = sum(1 for i in picks if i >= 950)
    assert newer / len(picks) > 0.6  # weights halve every 25 labels of age


def test_state_round_trip_continues_identically() -> None:
    a: ReplayBuffer[str] = ReplayBuffer(8, "reservoir", seed=3)
    a.extend([f"x{i}" for i in range(50)])
    b: ReplayBuffer[str] = ReplayBuffer(1, "recency", seed=99)
    b.load_state_dict(a.state_dict())
    a.extend([f"y{i}" for i in range(20)])
    b.extend([f"y{i}" for i in range(20)])
    assert a.items() == b.items()
    assert a.sample(5) == b.sample(5)


def test_bad_parameters_and_states_are_refused() -> None:
    with pytest.raises(ReplayBufferError, match="capacity"):
        ReplayBuffer(0)
    with pytest.raises(ReplayBufferError, match="policy"):
        ReplayBuffer(5, "lifo")  # type: ignore[arg-type]
    with pytest.raises(ReplayBufferError, match="not a replay buffer state"):
        ReplayBuffer(5).load_state_dict({"capacity": 5})
