"""`relstream record`: a topic's time range → the contract file format, for replay.

Start offsets come from `offsets_for_times` per partition; reading stops at the end
offsets taken when recording began, so a live topic does not keep the command running.
Events are merged across partitions by event time and written without the fields that
only exist on the wire (`schema_version`), so the file replays like any contract file.
"""

from __future__ import annotations

import gzip
import json
from datetime import datetime
from pathlib import Path

from kafka import TopicPartition

from relstream.core.errors import SchemaError
from relstream.core.kafka_io import make_consumer
from relstream.core.schemas import CatalogEvent, decode_event, ts_millis
from relstream.core.settings import CommonSettings
from relstream.core.topics import CATALOG, SEARCH_LOG, topic_name
from streams.errors import ReplayError

RECORDABLE = (SEARCH_LOG, CATALOG)


def record_topic(
    settings: CommonSettings, topic: str, out: Path,
    since: datetime | None = None, until: datetime | None = None, progress: bool = False,
) -> int:
    """Write the events of `topic` with since <= ts < until to `out`; returns the count."""
    if topic not in RECORDABLE:
        raise ReplayError(f"can record {RECORDABLE}, not {topic!r}")
    name = topic_name(topic, settings.topic_prefix)
    consumer = make_consumer(settings, [], group_id=None)
    try:
        parts = consumer.partitions_for_topic(name)
        if not parts:
            raise ReplayError(f"topic {name!r} does not exist on {settings.kafka_bootstrap}")
        tps = [TopicPartition(name, p) for p in sorted(parts)]
        consumer.assign(tps)
        end = consumer.end_offsets(tps)
        start = consumer.beginning_offsets(tps)
        if since is not None:
            found = consumer.offsets_for_times({tp: ts_millis(since) for tp in tps})
            start = {tp: (found[tp].offset if found[tp] else end[tp]) for tp in tps}
        for tp in tps:
            consumer.seek(tp, start[tp])
        rows = _read_until(consumer, end, until, progress)
    finally:
        consumer.close()
    rows.sort(key=lambda r: r[0])
    out.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if out.suffix == ".gz" else open
    with opener(out, "wt", encoding="utf-8") as fh:  # type: ignore[operator]
        for _, line in rows:
            fh.write(line + "\n")
    return len(rows)


def _read_until(consumer, end, until, progress):  # type: ignore[no-untyped-def]
    remaining = {tp for tp, off in end.items() if consumer.position(tp) < off}
    total = sum(end[tp] - consumer.position(tp) for tp in remaining)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, desc="record", unit="ev", mininterval=0.5)
    rows: list[tuple[int, str]] = []
    while remaining:
        for tp, records in consumer.poll(timeout_ms=1000, max_records=5000).items():
            for rec in records:
                if rec.offset >= end[tp]:
                    continue
                if bar is not None:
                    bar.update(1)
                try:
                    event = decode_event(rec.value)
                except SchemaError:
                    continue  # bad bytes are the dead-letter topic's business, not a file's
                if until is not None and event.ts >= until:
                    continue
                rows.append((ts_millis(event.ts), _contract_line(event)))
        remaining = {tp for tp in remaining if consumer.position(tp) < end[tp]}
    if bar is not None:
        bar.close()
    return rows


def _contract_line(event: object) -> str:
    if isinstance(event, CatalogEvent):
        data = event.item.model_dump(mode="json", exclude_none=True)
    else:
        data = event.model_dump(mode="json", exclude_none=True)  # type: ignore[attr-defined]
        data.pop("schema_version", None)
    return json.dumps(data, ensure_ascii=False)
