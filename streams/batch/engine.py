"""The batch engine: `relstream streams run --engine batch`.

Faust hands an agent one message at a time, and its own machinery caps a do-nothing agent
at ~8,400 messages/s on this machine (`relstream bench streams`), while the aggregation
path sends one changelog write per changed bucket and a second Kafka trip per search for
the item deltas: 510 events/s in all. This engine reads with one aiokafka consumer and
`getmany` (thousands of records per call), counts a whole batch in plain dicts
(`BatchState`), sends the item deltas of a batch as one message per target partition, and
persists state by snapshots instead of a changelog write per change:

- **Loop**: getmany → catalog records, then each search-log partition's records (counts,
  deltas out, dead letters), then the item-delta records (counts, label requests); every
  send of the batch is acknowledged before the next batch is read.
- **Snapshots** (`snapshots`): every `snapshot_interval_s`, on revocation and on shutdown,
  each owned partition's state and the offsets it covers go to a compacted topic; then the
  group commits those offsets (what `relstream streams lag` reads). A worker that takes a
  partition over (after a SIGKILL, a rebalance) restores its snapshot and resumes at the
  group's committed offsets (the snapshot's, or older): records the snapshot counted are
  recognised by its seen ids, the rest are counted into state that never saw them, so
  counts stay exact. Deltas sent a second time carry the same source offsets and are
  skipped by the item buckets' watermarks.
- **Partitions**: the range assignor gives a worker the same partition numbers of the
  search log, the item deltas and the catalog (four each), as Faust co-partitions its
  tables; a partition's snapshot holds its search-log side and its item side.
- **Label requests**: a snapshot records where the label-request topic ended; the worker
  that restores it reads the requests sent after it and counts their pairs as requested,
  so counting the same deltas again sends none twice.

Feast rows, offline part files and ClickHouse rows are made and written by a child
process (`sink_process`) from the window sums the worker hands it; the status file is the
Faust worker's (`streams.processor.app`).
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiokafka import ConsumerRebalanceListener
from pydantic_core import from_json, to_json

from relstream.core.errors import SchemaError
from relstream.core.schemas import DeadLetter, LabelRequest, decode_event
from relstream.core.topics import (
    CATALOG,
    DEAD_LETTER,
    LABEL_REQUESTS,
    PARTITIONS,
    SEARCH_LOG,
    TopicSpec,
    create_missing_topics,
    topic_name,
)
from streams.batch import snapshots
from streams.batch.sink_process import ForwardedMetrics, SinkProcess
from streams.batch.state import BatchState
from streams.processor.aggregates import CtrPrior
from streams.processor.app import policy_params
from streams.processor.clock import StreamClock
from streams.processor.policy import LabelRequestPolicy
from streams.processor.progress import install_repeat_filter, peak_rss_mb
from streams.processor.settings import ProcessorSettings

log = logging.getLogger(__name__)

DELTA_CHUNK = 4000
"""Most deltas in one message (~350 KB): a batch's deltas for one partition are split."""
SNAPSHOT_MAX_SHARE = 0.03
"""Most of the worker's time encoding snapshots may take (`BatchWorker._snapshot_every`)."""
SNAPSHOT_MAX_STRETCH = 12.0
"""The longest snapshot interval, in `snapshot_interval_s`s (60 s by default)."""
PUSH_POLL_S = 0.1
"""How often the push loop looks whether the sink process has room for a waiting backlog."""
FINAL_PUSH_S = 5.0
"""How long a stopping worker keeps pushing dirty rows before it stops the sink process:
what is left is pushed by the next start, which restores every entity dirty. A stop must
fit in a grace period (docker stop's is 10 s, the demo supervisor's 20 s) before SIGKILL."""


def delta_topic_name(settings: ProcessorSettings) -> str:
    return f"{settings.app_id()}-batch-deltas"


def snapshot_topic_name(settings: ProcessorSettings) -> str:
    return f"{settings.app_id()}-batch-snapshots"


def ensure_batch_topics(settings: ProcessorSettings) -> None:
    """The engine's own topics: item deltas (a week kept: a snapshot is never older than a
    few seconds, so the deltas after it are always there) and the compacted snapshots."""
    create_missing_topics(settings.kafka_client_config(), [
        TopicSpec(delta_topic_name(settings),
                  config={"retention.ms": str(7 * 24 * 3600 * 1000)}),
        TopicSpec(snapshot_topic_name(settings),
                  config={"cleanup.policy": "compact", "segment.ms": "60000",
                          "min.cleanable.dirty.ratio": "0.1"}),
    ])


def batch_group(settings: ProcessorSettings) -> str:
    """The engine's consumer group: its own, so offsets the Faust engine committed under
    the app id are never taken for positions of state this engine does not hold."""
    return f"{settings.app_id()}-batch"


class BatchWorker:
    """One worker of the batch engine: consumer, producer, state, pushes."""

    def __init__(self, settings: ProcessorSettings) -> None:
        self.settings = settings
        prefix = settings.topic_prefix
        self.search_topic = topic_name(SEARCH_LOG, prefix)
        self.catalog_topic = topic_name(CATALOG, prefix)
        self.label_topic = topic_name(LABEL_REQUESTS, prefix)
        self.dead_topic = topic_name(DEAD_LETTER, prefix)
        self.delta_topic = delta_topic_name(settings)
        self.snapshot_topic = snapshot_topic_name(settings)
        self.metrics = ForwardedMetrics()
        self.state = BatchState(
            LabelRequestPolicy(policy_params(settings)),
            CtrPrior(settings.ctr_prior, settings.ctr_prior_strength), self.metrics,
            clock=StreamClock(settings.label_clock,
                              max_skew_hours=settings.state_max_skew_hours),
            slack_hours=settings.state_slack_hours,
            max_seen_ids=settings.dedup_ids_per_partition)
        self.sinks = SinkProcess(settings)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="status")
        self.owned: set[int] = set()
        self.positions: dict[tuple[str, int], int] = {}
        """(topic, partition) → next offset to read, for the search log and the deltas."""
        self._previous: dict[int, tuple[str, int]] = {}
        """partition → (id, chunks) of its snapshot in force (tombstoned when replaced)."""
        self._lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._last_snapshot = time.monotonic()
        self._snapshot_encoding_s = 0.0
        self._last_full_sync = time.monotonic()
        self._started = time.time()
        self._first_event_at: float | None = None
        self._last_event_at: float | None = None
        self._last_delta_at: float | None = None
        self.consumer: Any = None
        self.producer: Any = None

    # --- lifecycle ----------------------------------------------------------------------

    async def run(self) -> None:
        from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
        from aiokafka.coordinator.assignors.range import RangePartitionAssignor

        common = self.settings.aiokafka_config()
        self.producer = AIOKafkaProducer(**common, acks="all", linger_ms=5,
                                         max_batch_size=512 * 1024)
        self.consumer = AIOKafkaConsumer(
            **common, group_id=batch_group(self.settings), enable_auto_commit=False,
            auto_offset_reset="earliest", partition_assignment_strategy=(
                RangePartitionAssignor,),
            session_timeout_ms=10_000, heartbeat_interval_ms=1000,
            max_partition_fetch_bytes=4 * 1024 * 1024, fetch_max_bytes=32 * 1024 * 1024,
            # A group that joins while a topic has no partition leaders yet (just created)
            # is assigned nothing for it until a metadata refresh makes it rebalance: 5 min
            # by default. A CI drill on a fresh broker sat 180 s without counting; 10 s
            # bounds that wait (the kafka-python consumers do the same, core.kafka_io).
            metadata_max_age_ms=10_000)
        await self.producer.start()
        await self.consumer.start()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stopping.set)
        pusher = asyncio.ensure_future(self._push_loop())
        clean = False
        try:
            # Join the group once Feast is imported and the repo applied in the push
            # process (~10 s), as the Faust worker does: a backlog counted meanwhile
            # could not be pushed anyway.
            while not self.sinks.ready and not self._stopping.is_set():
                for sums in self.sinks.poll():
                    self.state.mark_sums_dirty(sums)
                await asyncio.sleep(0.2)
            self.consumer.subscribe([self.search_topic, self.delta_topic, self.catalog_topic],
                                    listener=_Listener(self))
            while not self._stopping.is_set():
                batch = await self.consumer.getmany(
                    timeout_ms=200, max_records=self.settings.batch_max_records)
                async with self._lock:
                    if batch:
                        await self._handle(batch)
                    if time.monotonic() - self._last_snapshot >= self._snapshot_every():
                        await self._snapshot(set(self.owned))
            clean = True
        finally:
            pusher.cancel()
            # Only a clean stop is snapshotted: after an error the state may hold part of
            # a batch whose offsets were never recorded.
            if clean and self.owned:
                async with self._lock:
                    await self._snapshot(set(self.owned))
            await self.consumer.stop()
            await self.producer.stop()
            await self._final_push()
            self._executor.shutdown(wait=True)

    async def _final_push(self, timeout_s: float = FINAL_PUSH_S) -> None:
        """On a stop: push what is dirty for at most `timeout_s`, then stop the sink
        process; what is left is pushed by the next start (every aggregate is)."""
        self.sinks.closing = True  # a sink process that died now is not replaced
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and (self.state.dirty_count
                                                or self.sinks.in_flight):
            await self.push()
            await asyncio.sleep(0.2)
        self.sinks.forward(self.metrics.take())
        for sums in self.sinks.close():
            self.state.mark_sums_dirty(sums)
        if self.state.dirty_count:
            log.warning("%d aggregates not pushed to Feast before stopping; the next "
                        "start pushes every aggregate again", self.state.dirty_count)

    # --- one batch ----------------------------------------------------------------------

    async def _handle(self, batch: dict[Any, list[Any]]) -> None:
        state, sends = self.state, []
        by_topic: dict[str, list[tuple[Any, list[Any]]]] = {}
        for tp, records in batch.items():
            known = self.positions.get((tp.topic, tp.partition))
            if known is not None and records[0].offset < known:
                # Read again from the group's committed offset (a rebalance resets
                # positions to it): what the state already holds is skipped, not re-read.
                records = [r for r in records if r.offset >= known]
                self.consumer.seek(tp, known)
                self.state.stats["records_skipped_known"] += len(batch[tp]) - len(records)
                if not records:
                    continue
            by_topic.setdefault(tp.topic, []).append((tp, records))
        for tp, records in by_topic.get(self.catalog_topic, []):
            for r in records:
                dead = state.count_catalog(r.value, tp.partition,
                                           f"{tp.topic}/{tp.partition}/{r.offset}")
                sends += [await self._dead(d) for d in dead]
        for tp, records in by_topic.get(self.search_topic, []):
            deltas, dead = state.count_search_log(((r.key, r.value, r.offset) for r in records),
                                                  tp.partition, tp.topic)
            for target, entries in deltas.items():
                for k in range(0, len(entries), DELTA_CHUNK):
                    # pydantic-core's JSON (Rust): ~3x the stdlib's speed on these lists.
                    value = to_json({"s": tp.partition, "d": entries[k:k + DELTA_CHUNK]})
                    sends.append(await self.producer.send(self.delta_topic, value=value,
                                                          partition=target))
            sends += [await self._dead(d) for d in dead]
            self.positions[(tp.topic, tp.partition)] = records[-1].offset + 1
            self._last_event_at = time.time()
            self._first_event_at = self._first_event_at or self._last_event_at
        for tp, records in by_topic.get(self.delta_topic, []):
            for r in records:
                try:
                    message = from_json(r.value)
                    source, entries = int(message["s"]), message["d"]
                    requests = state.count_deltas(entries, source, tp.partition)
                except (ValueError, KeyError, TypeError, IndexError) as exc:
                    # Only this engine writes the topic; a message it cannot read is
                    # dead-lettered, not a reason to stop counting the others.
                    state.stats["dead_lettered"] += 1
                    sends.append(await self._dead(DeadLetter.of(
                        "streams-processor", f"unreadable item-delta message: {exc}",
                        r.value, f"{tp.topic}/{tp.partition}/{r.offset}")))
                    continue
                for request in requests:
                    sends.append(await self.producer.send(
                        self.label_topic, key=request.pair_key.encode(),
                        value=request.to_bytes(),
                        timestamp_ms=int(request.ts.timestamp() * 1000)))
            self.positions[(tp.topic, tp.partition)] = records[-1].offset + 1
            self._last_delta_at = time.time()
        if sends:
            await asyncio.gather(*sends)
        # The state is millions of small lists and dicts that live for hours; without
        # this every cyclic-GC pass that the batch's new objects trigger walks them all
        # (measured: half the time went into allocations). Frozen objects are still freed
        # by reference counting when dropped (state holds no reference cycles).
        gc.freeze()

    async def _dead(self, dead: Any) -> Any:
        return await self.producer.send(self.dead_topic, value=dead.to_bytes())

    # --- snapshots and partitions -------------------------------------------------------

    def _snapshot_every(self) -> float:
        """Seconds between snapshots: `snapshot_interval_s`, stretched so that writing
        them takes at most `SNAPSHOT_MAX_SHARE` of the time. A snapshot holds the
        partition's whole state, so it grows with the state (py-spy, 200,000 events of
        new queries at a 5 s interval: encoding snapshots was 8 % of the worker's time);
        a longer interval only means more records read again after a crash. Only the
        encoding is timed, and the stretch is capped: a CI run measured a first snapshot
        slowed by the broker (the label topic's offsets) and stretched the interval past
        the whole test, so a restart re-read the log from its start."""
        interval = self.settings.snapshot_interval_s
        return min(max(interval, self._snapshot_encoding_s / SNAPSHOT_MAX_SHARE),
                   interval * SNAPSHOT_MAX_STRETCH)

    async def _snapshot(self, partitions: set[int]) -> None:
        """Write the snapshot of each of `partitions`, then commit the offsets it covers."""
        from aiokafka import TopicPartition

        if not partitions:
            self._last_snapshot = time.monotonic()
            return
        started = time.monotonic()
        encoding = 0.0  # what `_snapshot_every` stretches by
        commits = {}
        # Where the label-request topic ends now: a worker restoring these snapshots
        # reads the requests sent after them, so it does not send them again.
        label_tps = [TopicPartition(self.label_topic, p) for p in range(PARTITIONS)]
        label_ends = {str(tp.partition): offset for tp, offset in
                      (await self.consumer.end_offsets(label_tps)).items()}
        for p in sorted(partitions):
            t_encode = time.monotonic()
            snap = self.state.snapshot(p)
            offsets = {"search": self.positions.get((self.search_topic, p)),
                       "deltas": self.positions.get((self.delta_topic, p))}
            snap["offsets"] = offsets
            snap["label_requests_end"] = label_ends
            sid, chunks = snapshots.encode(snap)
            encoding += time.monotonic() - t_encode
            sent = [await self.producer.send(self.snapshot_topic, key=snapshots.chunk_key(sid, n),
                                             value=chunk, partition=p)
                    for n, chunk in enumerate(chunks)]
            await asyncio.gather(*sent)
            await (await self.producer.send(self.snapshot_topic, key=snapshots.MANIFEST_KEY,
                                            value=snapshots.manifest(sid, len(chunks)),
                                            partition=p))
            old = self._previous.get(p)
            self._previous[p] = (sid, len(chunks))
            if old is not None:
                for n in range(old[1]):
                    await self.producer.send(self.snapshot_topic,
                                             key=snapshots.chunk_key(old[0], n), value=None,
                                             partition=p)
            for topic, name in ((self.search_topic, "search"), (self.delta_topic, "deltas")):
                if offsets[name] is not None:
                    commits[TopicPartition(topic, p)] = offsets[name]
            self.state.stats["snapshots"] += 1
            self.state.stats["snapshot_bytes"] += sum(len(c) for c in chunks)
        self._last_snapshot = time.monotonic()
        self._snapshot_encoding_s = encoding
        self.state.stats["snapshot_ms"] += int((self._last_snapshot - started) * 1000)
        if commits:
            try:
                # Bounded: a commit may wait for a rebalance, whose callbacks wait for
                # the lock this runs under.
                await asyncio.wait_for(self.consumer.commit(commits), timeout=5.0)
            except Exception as exc:  # the snapshot holds the offsets anyway
                log.warning("committing offsets after a snapshot failed: %s", exc)

    async def on_revoked(self, revoked: set[Any]) -> None:
        async with self._lock:
            partitions = {tp.partition for tp in revoked} & self.owned
            if partitions:
                await self._snapshot(partitions)

    async def on_assigned(self, assigned: set[Any]) -> None:
        # No seeks: every partition resumes at the group's committed offset, which is the
        # offset of its latest snapshot (committed after it) or older; whatever lies
        # between is in the restored `seen` ids and item watermarks, so re-reading it
        # counts nothing twice.
        async with self._lock:
            now = {tp.partition for tp in assigned if tp.topic == self.search_topic}
            for p in self.owned - now:
                self.state.drop(p)
                self._previous.pop(p, None)
                for topic in (self.search_topic, self.delta_topic):
                    self.positions.pop((topic, p), None)
            for p in sorted(now - self.owned):
                await self._restore(p)
            self.owned = now
            self.state.stats["rebalances"] += 1
            log.info("batch engine owns partitions %s", sorted(now))

    async def _restore(self, p: int) -> None:
        """Read partition `p`'s snapshot (if any) into the state."""
        from aiokafka import AIOKafkaConsumer, TopicPartition

        reader = AIOKafkaConsumer(**self.settings.aiokafka_config(), enable_auto_commit=False)
        await reader.start()
        try:
            tp = TopicPartition(self.snapshot_topic, p)
            reader.assign([tp])
            await reader.seek_to_beginning(tp)
            end = (await reader.end_offsets([tp]))[tp]
            records: list[tuple[bytes | None, bytes | None]] = []
            while await reader.position(tp) < end:
                got = await reader.getmany(tp, timeout_ms=1000)
                records += [(r.key, r.value) for r in got.get(tp, [])]
        finally:
            await reader.stop()
        found = snapshots.decode(records)
        if found is None:
            log.info("partition %d: no snapshot yet, reading it from the start", p)
            return
        snap, sid, chunks = found
        self.state.restore(snap)
        resent = await self._requests_since(snap.get("label_requests_end") or {}, p)
        self._previous[p] = (sid, chunks)
        for topic, name in ((self.search_topic, "search"), (self.delta_topic, "deltas")):
            if snap["offsets"][name] is not None:
                self.positions[(topic, p)] = int(snap["offsets"][name])
        log.info("partition %d: restored snapshot %s (search log from %s, deltas from %s; "
                 "%d label requests sent after it)", p, sid, snap["offsets"]["search"],
                 snap["offsets"]["deltas"], resent)

    async def _requests_since(self, ends: dict[str, int], p: int) -> int:
        """Mark the pairs of partition `p` requested after its snapshot (label-request
        offsets from `ends` on) as requested; returns how many."""
        from aiokafka import AIOKafkaConsumer, TopicPartition

        if not ends:
            return 0
        reader = AIOKafkaConsumer(**self.settings.aiokafka_config(), enable_auto_commit=False)
        await reader.start()
        found = 0
        try:
            tps = [TopicPartition(self.label_topic, int(k)) for k in ends]
            reader.assign(tps)
            last = await reader.end_offsets(tps)
            for tp in tps:
                reader.seek(tp, int(ends[str(tp.partition)]))
            while [tp for tp in tps if await reader.position(tp) < last[tp]]:
                for records in (await reader.getmany(*tps, timeout_ms=1000)).values():
                    for r in records:
                        try:
                            request = decode_event(r.value)
                        except SchemaError:
                            continue
                        if (isinstance(request, LabelRequest)
                                and self.state.item_partition(request.item_id) == p):
                            self.state.mark_requested(request)
                            found += 1
        finally:
            await reader.stop()
        return found

    # --- pushing ------------------------------------------------------------------------

    async def _push_loop(self) -> None:
        """A push every `push_interval_s`; in between, whenever the sink process has room
        and a full push (`push_max_rows`) is waiting, that is handed over at once. Waiting
        for the tick capped Feast at `push_max_rows` rows a second (5,000: a backlog of
        100,000 rows took 20 s where the sink process needs 10), while a trickle of
        changes still waits for the tick and coalesces."""
        interval = self.settings.push_interval_s
        chunk = self.settings.push_max_rows
        next_push = time.monotonic() + interval
        while True:
            await asyncio.sleep(min(interval, PUSH_POLL_S))
            try:
                if time.monotonic() >= next_push:
                    next_push = time.monotonic() + interval
                    await self.push()
                elif chunk and self.state.dirty_count >= chunk:
                    self._submit_rows()
            except Exception:  # never let the push timer die
                log.exception("push failed")

    async def push(self) -> None:
        """Changed aggregates and label-request rows to the sink process, the status
        file; as the Faust worker's `Processor.push`."""
        loop = asyncio.get_running_loop()
        if time.monotonic() - self._last_full_sync >= self.settings.full_sync_interval_s:
            self._last_full_sync = time.monotonic()
            self.state.mark_all_dirty()
        self._submit_rows()  # takes the sink process's answers first
        self.sinks.forward(self.metrics.take())
        if self.sinks.ready:  # the first status file says "started, Feast ready", as Faust's
            await loop.run_in_executor(self._executor, self._write_stats)

    def _submit_rows(self) -> None:
        """Hand the window sums of the next dirty entities to the sink process if it has
        room (it makes their Feast, offline and ClickHouse rows)."""
        state, sinks = self.state, self.sinks
        for sums in sinks.poll():
            state.mark_sums_dirty(sums)
        # Fill every free slot: one row set per tick (0.1 s) capped Feast at 10 sets a
        # second and left the child waiting with a backlog of 600,000 rows.
        while sinks.can_take() and state.dirty_count:
            sinks.submit(state.collect_sums(self.settings.push_max_rows or None))

    def _write_stats(self) -> None:
        """The same status file as the Faust worker's (`streams-stats.json`)."""
        path = self.settings.state_dir / "streams-stats.json"
        data = {"app_id": self.settings.app_id(), "engine": "batch", "started": self._started,
                "updated": time.time(), "owned_partitions": sorted(self.owned),
                "first_event_at": self._first_event_at, "last_event_at": self._last_event_at,
                "last_delta_at": self._last_delta_at,
                "stats": dict(self.state.stats), "state": self.state.state_size(),
                "snapshot_every_s": round(self._snapshot_every(), 2),
                "pushed": self.sinks.pushed, "push_in_flight": self.sinks.in_flight,
                "push_restarts": self.sinks.restarts, "dirty": self.state.dirty_count,
                "metrics_written": self.sinks.written.get("metrics_written", 0),
                "offline_rows": self.sinks.written.get("offline_rows", 0),
                "label_request_rows_dropped": self.metrics.dropped,
                "max_rss_mb": peak_rss_mb(),
                "sink_max_rss_mb": self.sinks.written.get("max_rss_mb"),
                "sink_pid": self.sinks.pid}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(path)


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    """aiokafka's rebalance callbacks, handed to the worker."""

    def __init__(self, worker: BatchWorker) -> None:
        self.worker = worker

    async def on_partitions_revoked(self, revoked: set[Any]) -> None:
        await self.worker.on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[Any]) -> None:
        await self.worker.on_assigned(assigned)


def run_batch_worker(settings: ProcessorSettings) -> None:
    """Run the batch engine until SIGTERM/SIGINT (creates its topics first)."""
    from relstream.core.broker_wait import wait_for_broker
    from relstream.core.topics import ensure_topics

    wait_for_broker(settings.kafka_client_config(), "stream processor")
    ensure_topics(settings.kafka_client_config(), settings.topic_prefix)
    ensure_batch_topics(settings)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    install_repeat_filter(settings.log_repeat_interval_s)
    for name in ("aiokafka", "kafka"):
        logging.getLogger(name).setLevel(logging.WARNING)
    worker = BatchWorker(settings)  # its sink process applies the Feast repo
    asyncio.run(worker.run())
    log.info("batch engine stopped: %s", dict(worker.state.stats))
