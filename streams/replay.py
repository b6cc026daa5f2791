"""`relstream replay`: contract files → Kafka, in event-time order, at a chosen speed.

The catalog goes first (keyed by item_id, stamped with the log's first event time), then
the search log sorted by event time (stable, so equal times keep file order). Feedback is
keyed by its search's query, so a query's events stay ordered on one partition. Lines are
sent as they were read, unknown fields included. Bad lines go to the dead-letter topic
with `file:line` and the reason; every valid line is still sent. Replaying a file twice
sends every event twice: consumers drop the second copy by `event_id` (the stream
processor keeps a bounded window of recent ids, `streams/processor/state.py`).

Speed (`relstream bench replay`): lines are checked by `streams.log_fields` (pydantic only
for lines that are not plainly valid), held as plain tuples, and sent through
`EventProducer.send_raw_many` with the garbage collector's view of the heap frozen.
"""

from __future__ import annotations

import gc
import gzip
import io
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from pathlib import Path
from typing import NamedTuple

from relstream.core.errors import SchemaError
from relstream.core.kafka_io import EventProducer
from relstream.core.schemas import (
    CatalogEvent,
    CatalogItem,
    FeedbackEvent,
    SearchEvent,
    decode_catalog_line,
    decode_search_log_line,
    normalize_query,
)
from relstream.core.settings import CommonSettings
from relstream.core.topics import CATALOG, SEARCH_LOG
from streams.errors import ReplayError
from streams.log_fields import decode_log_fields


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


class LogLine(NamedTuple):
    """A validated search-log line, ready to send."""

    ts_ms: int
    key: str
    raw: bytes
    type: str
    event_id: str
    request_id: str

    @property
    def event(self) -> SearchEvent | FeedbackEvent:
        """The line as a typed event (parsed again, on demand)."""
        return decode_search_log_line(self.raw)


Row = tuple[int, str, bytes, str, str, str]
"""A `LogLine`'s values as a plain tuple. Replay holds every line of a file at once (to
sort it), and the cyclic garbage collector rescans every live container on each full
pass while kafka-python allocates per send; a tuple of only ints, strings and bytes
drops out of its watch, a `LogLine` (or a pydantic event) does not. With 100k pydantic
events that rescanning was most of replay's time."""


def open_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(line number, bytes) of a JSONL file, gzip when the name ends in `.gz`."""
    if not path.exists():
        raise ReplayError(f"no such file: {path}")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:  # type: ignore[operator]
        for lineno, line in enumerate(io.BufferedReader(fh), start=1):  # type: ignore[arg-type]
            line = line.rstrip(b"\r\n")
            if line and not line.isspace():  # as `line.strip()`, without the copy
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
    return [LogLine._make(row) for row in read_search_log_rows(path, producer, stats)]


def read_search_log_rows(
    path: Path, producer: EventProducer | None, stats: ReplayStats
) -> list[Row]:
    """`read_search_log` as plain tuples, the form replay itself sends from."""
    rows: list[Row] = []
    query_of_request: dict[str, str] = {}
    normalized: dict[str, str] = {}  # queries repeat: normalise each spelling once
    rekey = False
    for lineno, raw in open_lines(path):
        try:
            kind, event_id, request_id, query, ts_ms = decode_log_fields(raw)
        except SchemaError as exc:
            _reject(producer, stats, str(exc), raw, f"{path}:{lineno}")
            continue
        if query is None:
            key = query_of_request.get(request_id)
            if key is None:  # its search comes later in the file, or not at all
                key, rekey = request_id, True
        else:
            key = normalized.get(query)
            if key is None:
                key = normalized[query] = normalize_query(query)
            if query_of_request.setdefault(request_id, key) != key:
                query_of_request[request_id], rekey = key, True  # the last search wins
        rows.append((ts_ms, key, raw, kind, event_id, request_id))
    if rekey:
        # Every line goes under its request's (last) search query; a feedback line whose
        # search is not in the file keeps its own request key.
        rows = [(ts_ms, query_of_request.get(request_id, request_id), raw, kind, event_id,
                 request_id) for ts_ms, _, raw, kind, event_id, request_id in rows]
    rows.sort(key=itemgetter(0))  # stable: equal times keep file order
    return rows


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
    # kafka-python allocates a few objects per record that live until their batch is
    # acknowledged, so the cyclic GC runs full passes every few thousand records, each
    # walking the whole heap (every loaded module, class and function): ~15% of a bulk
    # send's CPU. Frozen objects are skipped until `unfreeze`; new ones are still
    # collected. Process-wide, so only for an unpaced replay, which ends soon: at worst
    # an old cycle elsewhere in the process is freed a little later.
    frozen = speed is None
    if frozen:
        gc.freeze()
    try:
        rows = read_search_log_rows(search_log, producer, stats) if search_log else []
        if catalog is not None:
            items = read_catalog(catalog, producer, stats)
            ts = catalog_ts or (LogLine._make(rows[0]).event.ts if rows else None)
            for item in items:
                event = CatalogEvent(ts=ts or _now(), item=item)
                producer.send(CATALOG, event, key=item.item_id)
                stats.produced += 1
                stats.by_type["catalog"] += 1
            producer.flush()
        stats.by_type.update(map(itemgetter(3), rows))  # row[3]: the event type
        if speed is None:
            _send_all(producer, rows, progress)
        else:
            pacer = Pacer(speed)
            bar = _progress(len(rows), progress, "replay")
            for ts_ms, key, raw, _, _, _ in rows:
                pacer.wait_for(ts_ms)
                producer.send_raw(SEARCH_LOG, raw, key, ts_ms)
                if bar is not None:
                    bar.update(1)
            if bar is not None:
                bar.close()
        stats.produced += len(rows)
        producer.flush()
    finally:
        if frozen:
            gc.unfreeze()
        producer.close()
    stats.seconds = time.monotonic() - started
    return stats


def _send_all(producer: EventProducer, rows: list[Row], progress: bool) -> None:
    """As fast as possible: the bulk send path, in chunks so a progress bar can move."""
    bar = _progress(len(rows), progress, "replay")
    chunk = 20_000 if bar is not None else max(len(rows), 1)
    for start in range(0, len(rows), chunk):
        part = rows[start:start + chunk]
        sent = producer.send_raw_many(
            SEARCH_LOG, ((raw, key, ts_ms) for ts_ms, key, raw, _, _, _ in part))
        if bar is not None:
            bar.update(sent)
    if bar is not None:
        bar.close()


def _now() -> datetime:
    from relstream.core.schemas import utcnow

    return utcnow()


def _progress(total: int, enabled: bool, desc: str):  # type: ignore[no-untyped-def]
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="ev", mininterval=0.5)
