"""The Faust app is wired from settings: ids, topics, partitions, state dir (no broker)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from relstream.core.topics import PARTITIONS
from streams.processor.app import Processor, broker_urls, item_partition, policy_params
from streams.processor.settings import ProcessorSettings


def test_app_from_settings(tmp_path: Path) -> None:
    settings = ProcessorSettings(state_dir=tmp_path, topic_prefix="t1-",
                                 kafka_bootstrap="127.0.0.1:1,127.0.0.1:2",
                                 label_budget_per_minute=7)
    proc = Processor(settings)
    assert proc.app.conf.id == "t1-relstream-streams"
    assert proc.search_topic.get_topic_name() == "t1-search-log"
    assert proc.delta_topic.get_topic_name() == "t1-relstream-streams-item-deltas"
    assert {t.partitions for t in proc.app.tables.values()} == {PARTITIONS}
    assert Path(proc.app.conf.datadir).is_relative_to(tmp_path)
    assert broker_urls(settings.kafka_bootstrap) == ["kafka://127.0.0.1:1", "kafka://127.0.0.1:2"]
    assert policy_params(settings).budget_per_minute == 7
    assert policy_params(settings).new_query_hours == 6  # the default


def test_new_query_hours_from_the_environment(tmp_path: Path, monkeypatch: Any) -> None:
    """The demo sets RELSTREAM_NEW_QUERY_HOURS on its stream processor; out of range is
    refused at start-up, not at the first candidate."""
    import pydantic

    monkeypatch.setenv("RELSTREAM_NEW_QUERY_HOURS", "0")
    assert policy_params(ProcessorSettings(state_dir=tmp_path)).new_query_hours == 0
    monkeypatch.setenv("RELSTREAM_NEW_QUERY_HOURS", "24")
    with pytest.raises(pydantic.ValidationError):
        ProcessorSettings(state_dir=tmp_path)


def test_item_partition_matches_kafka_default_partitioner() -> None:
    from aiokafka.partitioner import DefaultPartitioner

    parts = list(range(PARTITIONS))
    for k in range(50):
        key = f"sku-{k}"
        assert item_partition(key) == DefaultPartitioner()(key.encode(), parts, parts)
