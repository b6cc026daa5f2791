"""`relstream replay`: contract files → Kafka, in event-time order, at a chosen speed.

The catalog goes first (keyed by item_id, stamped with the log's first event time), then
the search log sorted by event time (stable, so equal times keep file order). Feedback is
keyed by its search's query, so a query's events stay ordered on one partition. Lines are
sent as they were read, unknown fields included. Bad lines go to the dead-letter topic
with `file:line` and the reason; every valid line is still sent. Replaying a file twice
sends every event twice: consumers drop the second copy by `event_id` (`streams.dedup`).
"""

from __future__ import annotations

import gzip
import io
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from relstream.settings import CommonSettings
from streams.errors import ReplayError, SchemaError
from streams.kafka_io import EventProducer
from streams.schemas import (
    CatalogEvent,
    CatalogItem,
    FeedbackEvent,
    SearchEvent,
    decode_catalog_line,
    decode_search_log_line,
    normalize_query,
    ts_millis,
)
from streams.topics import CATALOG, SEARCH_LOG


@dataclass
class ReplayStats:
    produced: int = 0
    dead_lettered: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    bad_reasons: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def events_per_s(self) -> float:
        return self.produced / self.seconds if self.seconds > 0 else float("nan")


@dataclass(frozen=True)
class LogLine:
    """A validated search-log line, ready to send."""

    ts_ms: int
    key: str
    raw: bytes
    event: SearchEvent | FeedbackEvent


def open_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(line number, bytes) of a JSONL file, gzip when the name ends in `.gz`."""
    if not path.exists():
        raise ReplayError(f"no such file: {path}")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:  # type: ignore[operator]
        for lineno, line in enumerate(io.BufferedReader(fh), start=1):  # type: ignore[arg-type]
            line = line.rstrip(b"\r\n")
            if line.strip():
                yield lineno, line


def read_catalog(
    path: Path, producer: EventProducer | None, stats: ReplayStats
) -> list[CatalogItem]:
    """Valid, unique catalog items; bad or duplicate lines are dead-lettered."""
    items: list[CatalogItem] = []
    seen: set[str] = set()
    for lineno, raw in open_lines(path):
        try:
            item = decode_catalog_line(raw)
            if item.item_id in seen:
                raise SchemaError(f"duplicate item_id {item.item_id!r} (must be unique)")
        except SchemaError as exc:
            _reject(producer, stats, str(exc), raw, f"{path}:{lineno}")
            continue
        seen.add(item.item_id)
        items.append(item)
    return items


def read_search_log(
    path: Path, producer: EventProducer | None, stats: ReplayStats
) -> list[LogLine]:
    """Valid search-log lines sorted by event time; bad lines are dead-lettered."""
    events: list[tuple[bytes, SearchEvent | FeedbackEvent]] = []
    query_of_request: dict[str, str] = {}
    for lineno, raw in open_lines(path):
        try:
            event = decode_search_log_line(raw)
        except SchemaError as exc:
            _reject(producer, stats, str(exc), raw, f"{path}:{lineno}")
            continue
        if isinstance(event, SearchEvent):
            query_of_request[event.request_id] = normalize_query(event.query)
        events.append((raw, event))
    lines: list[LogLine] = []
    for raw, event in events:
        if isinstance(event, SearchEvent):
            key = query_of_request[event.request_id]
        else:
            # A feedback line whose search is not in the file keeps its own request key.
            key = query_of_request.get(event.request_id, event.request_id)
        lines.append(LogLine(ts_millis(event.ts), key, raw, event))
    lines.sort(key=lambda line: line.ts_ms)
    return lines


def _reject(
    producer: EventProducer | None, stats: ReplayStats, reason: str, raw: bytes, where: str
) -> None:
    stats.dead_lettered += 1
    stats.bad_reasons[reason.split(":")[0]] += 1
    if producer is not None:
        producer.dead_letter("replay", reason, raw, where)


class Pacer:
    """Sleeps so that event time advances `speed` times faster than wall time."""

    def __init__(self, speed: float | None) -> None:
        if speed is not None and speed <= 0:
            raise ReplayError(f"--speed must be > 0, got {speed}")
        self.speed = speed
        self._t0_event: int | None = None
        self._t0_wall = 0.0

    def wait_for(self, ts_ms: int) -> None:
        if self.speed is None:
            return
        if self._t0_event is None:
            self._t0_event, self._t0_wall = ts_ms, time.monotonic()
            return
        due = self._t0_wall + (ts_ms - self._t0_event) / 1000 / self.speed
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def replay_files(
    settings: CommonSettings,
    catalog: Path | None,
    search_log: Path | None,
    speed: float | None = None,
    progress: bool = False,
    catalog_ts: datetime | None = None,
) -> ReplayStats:
    """Produce the files to Kafka; returns what was sent and what was dead-lettered."""
    if catalog is None and search_log is None:
        raise ReplayError("nothing to replay: give a catalog and/or a search log")
    stats = ReplayStats()
    producer = EventProducer(settings, client_id="relstream-replay")
    started = time.monotonic()
    try:
        lines = read_search_log(search_log, producer, stats) if search_log else []
        if catalog is not None:
            items = read_catalog(catalog, producer, stats)
            ts = catalog_ts or (lines[0].event.ts if lines else None)
            for item in items:
                event = CatalogEvent(ts=ts or _now(), item=item)
                producer.send(CATALOG, event, key=item.item_id)
                stats.produced += 1
                stats.by_type["catalog"] += 1
            producer.flush()
        pacer = Pacer(speed)
        bar = _progress(len(lines), progress, "replay")
        for line in lines:
            pacer.wait_for(line.ts_ms)
            producer.send_raw(SEARCH_LOG, line.raw, line.key, line.ts_ms)
            stats.produced += 1
            stats.by_type[line.event.type] += 1
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        producer.flush()
    finally:
        producer.close()
    stats.seconds = time.monotonic() - started
    return stats


def _now() -> datetime:
    from streams.schemas import utcnow

    return utcnow()


def _progress(total: int, enabled: bool, desc: str):  # type: ignore[no-untyped-def]
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="ev", mininterval=0.5)
