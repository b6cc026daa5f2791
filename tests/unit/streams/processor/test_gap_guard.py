"""GapGuard spots offsets a Faust stream skipped (the fetch itself is covered by the
stream-processor SIGKILL drill on the real broker)."""

from __future__ import annotations

from streams.processor.gap_guard import GapGuard


def test_contiguous_offsets_have_no_gap() -> None:
    guard = GapGuard({"bootstrap_servers": "unused:9092"})
    assert [guard.missing("t", 0, o) for o in range(5)] == [None] * 5


def test_a_jump_is_the_skipped_range() -> None:
    guard = GapGuard({"bootstrap_servers": "unused:9092"})
    assert guard.missing("t", 0, 38) is None
    assert guard.missing("t", 0, 40) == (39, 40)
    assert guard.missing("t", 0, 86) == (41, 86)
    assert guard.missing("t", 1, 7) is None, "partitions are tracked apart"


def test_first_message_is_checked_against_the_committed_offset() -> None:
    guard = GapGuard({"bootstrap_servers": "unused:9092"}, committed=lambda topic, partition: 12)
    assert guard.missing("t", 3, 15) == (12, 15)
    fresh = GapGuard({"bootstrap_servers": "unused:9092"}, committed=lambda topic, partition: 12)
    assert fresh.missing("t", 3, 12) is None


def test_redelivery_after_a_seek_back_is_not_a_gap() -> None:
    guard = GapGuard({"bootstrap_servers": "unused:9092"})
    for offset in (10, 11, 12):
        guard.missing("t", 0, offset)
    assert guard.missing("t", 0, 5) is None
    assert guard.missing("t", 0, 13) is None
