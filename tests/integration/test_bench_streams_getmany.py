"""The `getmany → StreamState` row of `relstream bench streams` counts what the file holds:
every event of a replayed synthetic log once, every item delta once (a rate over work
that was not done would be no rate)."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from relstream.core.settings import CommonSettings
from relstream.core.topics import SEARCH_LOG, topic_name
from relstream.tools.bench.streams import _expected_deltas, _getmany_state
from relstream.tools.synthetic_log import write_synthetic_log
from streams.processor.settings import ProcessorSettings
from streams.replay import replay_files

pytestmark = pytest.mark.integration


def test_getmany_state_row_counts_every_event_and_delta(stack_settings: CommonSettings,
                                                         tmp_path: Path) -> None:
    log = tmp_path / "search_log.jsonl"
    n = write_synthetic_log(log, 1500, seed=3, items=300)
    replay_files(stack_settings, None, log)
    settings = ProcessorSettings(**stack_settings.model_dump())
    got, seconds, counters = asyncio.run(
        _getmany_state(settings, topic_name(SEARCH_LOG, settings.topic_prefix), n))
    stats = Counter(counters)
    assert got == n and seconds > 0
    assert stats["search"] + stats["feedback"] == n
    assert stats["query_counted"] == stats["search"] + stats["feedback"] - stats[
        "orphan_feedback"] - stats["duplicates"]
    assert stats["item_counted"] == _expected_deltas(log)
