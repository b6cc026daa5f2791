"""Progress lines, rate-limited repeated warnings, and pushes bounded in rows."""

from __future__ import annotations

import json
import logging

from streams.processor.aggregates import CtrPrior
from streams.processor.policy import LabelRequestPolicy, PolicyParams
from streams.processor.progress import Progress, RepeatFilter
from streams.processor.state import StreamState, Tables
from tests.conftest import ManualClock


def test_progress_line_every_interval_with_done_total_rate_and_eta() -> None:
    clock = ManualClock(100.0)
    progress = Progress("restoring tables", "records", interval_s=10, clock=clock)
    assert progress.line() is None  # nothing read yet
    progress.update(1000)
    assert progress.line() is None  # not a whole interval yet
    clock.now += 10
    progress.update(600)
    assert progress.line() == ("restoring tables: 400/1,000 records (40%) in 10 s, 40/s, "
                               "~15 s left")
    clock.now += 5
    progress.update(500)
    assert progress.line() is None
    clock.now += 5
    progress.update(700)  # more work arrived: the total grows, done stays
    assert progress.total == 1200 and progress.done == 500
    assert progress.line() == ("restoring tables: 500/1,200 records (42%) in 20 s, 25/s, "
                               "~28 s left")
    progress.update(0)
    assert progress.line(force=True) == "restoring tables: 1,200/1,200 records (100%) in 20 s, 60/s"


def _record(msg: str, level: int = logging.WARNING, name: str = "faust") -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, None, None)


def test_repeat_filter_one_line_per_interval_with_the_count_held_back() -> None:
    clock = ManualClock(100.0)
    repeat = RepeatFilter(interval_s=30, clock=clock)
    passed = []
    for k in range(50):  # one "producer buffer full" a second, sizes differing
        clock.now += 1
        record = _record(f"producer buffer full size {101 + k % 7}")
        if repeat.filter(record):
            passed.append(record.getMessage())
    assert passed == ["producer buffer full size 101",
                      "producer buffer full size 103 [and 29 more like it in the last 30 s]"]
    # Through mode's formatter too (it wraps args that are not a tuple).
    from mode.utils.logging import ExtensionFormatter

    clock.now += 31
    record = _record("producer buffer full size %d")
    record.args = (104,)
    assert repeat.filter(record)
    assert ExtensionFormatter().format(record).endswith(
        "producer buffer full size 104 [and 19 more like it in the last 50 s]")
    # Other kinds and lower levels are not held back by it.
    assert repeat.filter(_record("pushing aggregates to Feast failed"))
    assert repeat.filter(_record("producer buffer full size 9", name="other"))
    assert all(repeat.filter(_record("info 1", logging.INFO)) for _ in range(3))


def test_repeat_filter_off_at_zero_interval() -> None:
    repeat = RepeatFilter(interval_s=0, clock=ManualClock(100.0))
    assert all(repeat.filter(_record("producer buffer full size 101")) for _ in range(5))


def test_collect_rows_bounded_pushes_everything_in_steps() -> None:
    # Event clock: both states' rows are as of the same time (a wall clock moves on).
    state = StreamState(Tables({}, {}, {}, {}),
                        LabelRequestPolicy(PolicyParams(clock="event")), CtrPrior(0.05, 20))
    for n in range(30):
        raw = json.dumps({"type": "search", "event_id": f"s{n}",
                          "ts": "2026-03-01T12:00:00.000Z", "request_id": f"r{n}",
                          "user_id": "u", "query": f"q{n % 10}",
                          "results": [{"item_id": f"i{n % 7}", "position": 1}]}).encode()
        for _, delta in state.on_search_log(f"q{n % 10}".encode(), raw, "here").deltas:
            state.on_item_delta(delta)
    full = StreamState(state.t, state.policy, state.prior)
    full.rebuild()
    everything = full.collect_rows()
    state.collect_rows()
    state.rebuild()
    total = state.dirty_count  # 10 queries, 7 items, 30 pairs
    assert total == sum(len(rows) for rows in everything.values()) == 10 + 7 + 30
    got: dict[str, list] = {view: [] for view in everything}
    steps = 0
    while state.dirty_count:
        rows = state.collect_rows(limit=4)
        assert 0 < sum(len(r) for r in rows.values()) <= 4
        for view, view_rows in rows.items():
            got[view] += view_rows
        steps += 1
    assert steps == 12  # ceil(47 / 4)

    def key(row: dict) -> tuple:
        return (row.get("query", ""), row.get("item_id", ""))

    for view in everything:
        assert sorted(got[view], key=key) == sorted(everything[view], key=key)
