"""The Faust app is wired from settings: ids, topics, partitions, state dir (no broker)."""

from __future__ import annotations

from pathlib import Path

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


def test_item_partition_matches_kafka_default_partitioner() -> None:
    from aiokafka.partitioner import DefaultPartitioner

    parts = list(range(PARTITIONS))
    for k in range(50):
        key = f"sku-{k}"
        assert item_partition(key) == DefaultPartitioner()(key.encode(), parts, parts)
