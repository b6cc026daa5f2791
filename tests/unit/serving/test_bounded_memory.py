"""Serving's in-memory buffers are bounded in bytes, not only in entries: the metrics
buffer while ClickHouse is down, the label store behind /v1/explain, refused versions."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from relstream.core.clickhouse import get_client
from relstream.core.schemas import (
    CotSteps,
    DimensionCheck,
    FeedbackEvent,
    TeacherInfo,
    TeacherLabel,
)
from relstream.core.settings import CommonSettings
from serving.label_store import LabelStore
from serving.metrics_writer import MetricsWriter, RequestRow
from serving.model_holder import REFUSED_KEEP, ModelHolder
from serving.model_pool import ModelPool, TooManyModels

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _big_row(k: int) -> RequestRow:
    """The largest row the API lets through: 200 long item ids and a 512-char query."""
    return RequestRow(
        request_id=f"r{k}".ljust(128, "x"), experiment="e", user_id="u".ljust(128, "u"),
        arm="A", model_name="m", model_version="1", query="q" * 512,
        item_ids=[f"{k}-{i}".ljust(128, "i") for i in range(200)], scores=[0.5] * 200,
        latency_ms=1.0, ts=T0)


def test_metrics_buffer_is_capped_in_bytes(tmp_path: Path) -> None:
    down = CommonSettings(clickhouse_url="http://127.0.0.1:9/default", state_dir=tmp_path)
    writer = MetricsWriter(lambda: get_client(down), batch_size=10, buffer_max=100_000,
                           buffer_max_bytes=1_000_000)
    for k in range(100):
        writer.submit(_big_row(k))
    feedback = [FeedbackEvent(ts=T0, event_id=f"f{k}", request_id="r" * 5000, user_id="u",
                              item_id="i", action="click") for k in range(50)]
    writer.submit_feedback(feedback)
    assert 0 < writer.buffered_bytes <= 1_000_000
    assert writer.buffered < 100 and writer.dropped == 150 - writer.buffered
    held = writer.buffered_bytes
    assert not writer.flush()  # ClickHouse is down: rows kept, bytes unchanged
    assert writer.buffered_bytes == held


def _label(k: int, cot_chars: int) -> TeacherLabel:
    return TeacherLabel(
        ts=T0 + timedelta(seconds=k), event_id=f"l{k}", query=f"query {k}", item_id=f"i{k}",
        grade_probs={"E": 0.7, "S": 0.1, "C": 0.1, "I": 0.1}, raw_cot="x" * cot_chars,
        steps=CotSteps(query_analysis={"brand": "stride"}, item_analysis={"brand": "stride"},
                       checks=[DimensionCheck(dimension="brand", status="match",
                                              evidence=["stride"] * 20)], grade="E"),
        teacher=TeacherInfo(model="t"))


def test_label_store_is_capped_in_bytes_and_drops_the_raw_cot() -> None:
    store = LabelStore(max_labels=200_000, max_bytes=200_000)
    store.add(_label(k, cot_chars=50_000) for k in range(1000))
    assert 0 < store.bytes <= 200_000 and 0 < len(store) < 1000
    newest = store.get("query 999", "i999")
    assert newest is not None and newest.raw_cot == "" and newest.grade == "E"
    assert store.get("query 0", "i0") is None  # the oldest went first
    store.add([_label(999, 10)])  # replacing a pair does not count it twice
    assert store.bytes <= 200_000 and store.get("query 999", "i999") is not None


def test_refused_versions_are_bounded(registry: Path, tmp_path: Path) -> None:
    root = tmp_path / "reg"
    shutil.copytree(registry, root)
    holder = ModelHolder(root, "cross_encoder", "1")
    holder.refresh()
    for v in range(3, 3 + 3 * REFUSED_KEEP):  # present but broken versions
        (root / "cross_encoder" / str(v)).mkdir()
        assert not holder.load(str(v))
    assert len(holder.refused_versions) == REFUSED_KEEP
    assert holder.refused_versions[-1] == str(2 + 3 * REFUSED_KEEP)  # the newest kept
    holder.close()


def test_pool_refuses_too_many_models_and_unloads_unused_ones(registry: Path) -> None:
    pool = ModelPool(registry, max_holders=2)
    try:
        pool.ensure([("cross_encoder", "1"), ("cross_encoder", "2"), ("two_tower", "1")])
        raise AssertionError("a third (model, version) pair must be refused")
    except TooManyModels as exc:
        assert "3 (model, version) pairs" in str(exc) and "max_holders" in str(exc)
    assert pool.holders() == []
    for v in ("1", "2", "7", "8"):
        pool.ensure([("cross_encoder", "latest"), ("cross_encoder", v)])
        pool.retain([("cross_encoder", "latest"), ("cross_encoder", v)])
        assert len(pool.holders()) == 2
    assert pool.get("cross_encoder", "1") is None and pool.get("cross_encoder", "8")
    pool.close()
