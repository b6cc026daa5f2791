"""Replay and record against the real broker: order, keys, timestamps, dedup, dead letters."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from relstream.core.schemas import (
    CatalogEvent,
    DeadLetter,
    SearchEvent,
    decode_event,
    normalize_query,
    ts_millis,
)
from relstream.core.settings import CommonSettings
from relstream.core.topics import CATALOG, DEAD_LETTER, SEARCH_LOG
from relstream.tools.synthetic_log import write_synthetic_log
from streams.record import record_topic
from streams.replay import replay_files
from tests.integration.kafka_read import read_topic

pytestmark = pytest.mark.integration


def test_replay_examples_in_order_with_event_time_and_keys(
    stack_settings: CommonSettings, examples_dir: Path
) -> None:
    stats = replay_files(stack_settings, examples_dir / "catalog.jsonl",
                         examples_dir / "search_log.jsonl")
    assert stats.produced == 9 and stats.dead_lettered == 0
    log = read_topic(stack_settings, SEARCH_LOG)
    events = [decode_event(r.value) for r in log]
    assert sorted(e.event_id for e in events) == ["e1", "e2", "e3", "e4"]
    for record, event in zip(log, events, strict=True):
        assert record.timestamp == ts_millis(event.ts)
    by_key: dict[bytes, list] = defaultdict(list)
    for record, event in zip(log, events, strict=True):
        by_key[record.key].append(event)
    assert {k.decode() for k in by_key} == {normalize_query("stride runner 4 mens black"),
                                             "waterproof hiking boots"}
    for evs in by_key.values():
        assert isinstance(evs[0], SearchEvent)  # the search precedes its feedback
        assert [e.ts for e in evs] == sorted(e.ts for e in evs)
    catalog = [decode_event(r.value) for r in read_topic(stack_settings, CATALOG)]
    assert all(isinstance(c, CatalogEvent) for c in catalog)
    assert sorted(c.item.item_id for c in catalog) == [
        "sku-1001", "sku-1002", "sku-2001", "sku-3001", "sku-4001"]


def test_second_replay_is_absorbed_by_event_id_dedup(
    stack_settings: CommonSettings, examples_dir: Path
) -> None:
    for _ in range(2):
        replay_files(stack_settings, None, examples_dir / "search_log.jsonl")
    records = read_topic(stack_settings, SEARCH_LOG)
    assert len(records) == 8
    # The second copy of each event carries the first one's event_id: that is what the
    # stream processor's recent-id window drops (tests/unit/streams/processor/test_state.py).
    ids = Counter(decode_event(r.value).event_id for r in records)
    assert len(ids) == 4 and set(ids.values()) == {2}


def test_broken_lines_are_dead_lettered_and_valid_ones_delivered(
    stack_settings: CommonSettings, examples_dir: Path, tmp_path: Path
) -> None:
    good = (examples_dir / "search_log.jsonl").read_text().splitlines()
    search = json.loads(good[0])
    bad = [
        '{"type": "search", "event_id": ',                              # bad JSON
        json.dumps({k: v for k, v in search.items() if k != "user_id"}),  # missing field
        json.dumps({**search, "event_id": "x1", "results": "sku-1"}),    # wrong type
        json.dumps({**search, "event_id": "x2", "type": "pageview"}),    # unknown type
        json.dumps({**search, "event_id": "x3", "query": "q" * 10_000_000}),  # a 10 MB line
    ]
    path = tmp_path / "broken.jsonl"
    path.write_text("\n".join([good[0], bad[0], good[1], *bad[1:], *good[2:]]) + "\n")
    stats = replay_files(stack_settings, None, path)
    assert stats.produced == 4 and stats.dead_lettered == 5
    delivered = sorted(decode_event(r.value).event_id
                       for r in read_topic(stack_settings, SEARCH_LOG))
    assert delivered == ["e1", "e2", "e3", "e4"]
    letters = [decode_event(r.value) for r in read_topic(stack_settings, DEAD_LETTER)]
    assert all(isinstance(d, DeadLetter) for d in letters)
    reasons = sorted(d.reason for d in letters)
    assert len(reasons) == 5
    for expected in ("not valid JSON", "user_id", "results", "unknown type 'pageview'",
                     "exceeds"):
        assert any(expected in r for r in reasons), (expected, reasons)
    big = next(d for d in letters if "exceeds" in d.reason)
    assert big.original_size > 10_000_000 and big.location.endswith(":7")


def test_large_generated_log_and_record_of_a_time_range(
    stack_settings: CommonSettings, tmp_path: Path
) -> None:
    path = tmp_path / "big.jsonl"
    n = write_synthetic_log(path, 30_000, seed=3)
    stats = replay_files(stack_settings, None, path)
    assert stats.produced == n == 30_000 and stats.dead_lettered == 0
    records = read_topic(stack_settings, SEARCH_LOG, timeout_s=120)
    assert len(records) == n
    # Record a middle stretch back to a file and compare with the source lines.
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    times = sorted(x["ts"] for x in lines)
    since, until = times[n // 3], times[2 * n // 3]
    from relstream.cli.streams import _parse_ts

    out = tmp_path / "recorded.jsonl.gz"
    count = record_topic(stack_settings, SEARCH_LOG, out, _parse_ts(since), _parse_ts(until))
    expected = {x["event_id"] for x in lines if since <= x["ts"] < until}
    import gzip

    recorded = [json.loads(x) for x in gzip.open(out, "rt").read().splitlines()]
    assert count == len(expected) and {x["event_id"] for x in recorded} == expected
    assert [x["ts"] for x in recorded] == sorted(x["ts"] for x in recorded)
    # The recorded file replays like any contract file.
    again = replay_files(stack_settings.model_copy(update={"topic_prefix": "re-" +
                                                           stack_settings.topic_prefix}),
                         None, out)
    assert again.produced == count and again.dead_lettered == 0


def test_replay_puts_each_key_where_kafkas_default_partitioner_does(
    stack_settings: CommonSettings, tmp_path: Path
) -> None:
    """Replay routes keys itself (one hash per distinct key); a bare producer must agree,
    or a query's events would split across partitions between replay and live traffic."""
    from kafka import KafkaProducer

    from relstream.core.topics import ensure_topics, topic_name

    path = tmp_path / "log.jsonl"
    write_synthetic_log(path, 3000, seed=9)
    replay_files(stack_settings, None, path)
    replayed = {r.key: r.partition for r in read_topic(stack_settings, SEARCH_LOG)}
    bare = stack_settings.model_copy(update={"topic_prefix": "bare-" + stack_settings.topic_prefix})
    ensure_topics(bare.kafka_client_config(), bare.topic_prefix)
    producer = KafkaProducer(**bare.kafka_client_config())
    for key in replayed:
        producer.send(topic_name(SEARCH_LOG, bare.topic_prefix), value=b"{}", key=key)
    producer.flush()
    producer.close()
    expected = {r.key: r.partition for r in read_topic(bare, SEARCH_LOG)}
    assert len(replayed) > 100 and len(set(replayed.values())) > 1
    assert replayed == expected
