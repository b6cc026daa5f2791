"""The Faust app: topics, changelog-backed tables, agents and the push timer.

Three agents share one `StreamState`: `search_log` (source topic keyed by query),
`item_deltas` (an internal topic keyed by item id, co-partitioned with the catalog) and
`catalog`. Tables use the memory store and are rebuilt from their changelog topics on
start, so a killed worker resumes exactly: Faust flushes the producer (changelog writes
and deltas) before it commits source offsets, and the per-bucket event-id sets drop
whatever the restart delivers again. A timer pushes changed aggregates to Feast and
metric rows to ClickHouse from a worker thread, never blocking the event loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from relstream.core.processes import RESTART_EXIT_CODE
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
from streams.processor.aggregates import CtrPrior
from streams.processor.clock import StreamClock, key_partition
from streams.processor.gap_guard import GapGuard, faust_committed
from streams.processor.metrics import MetricsWriter
from streams.processor.policy import LabelRequestPolicy, PolicyParams
from streams.processor.progress import (
    Progress,
    install_repeat_filter,
    peak_rss_mb,
    progress_log,
)
from streams.processor.recovery import RecoveryStall, nudge, stuck_partitions
from streams.processor.settings import ProcessorSettings
from streams.processor.state import Outputs, StreamState, Tables

log = logging.getLogger(__name__)


def broker_urls(bootstrap: str) -> list[str]:
    return [f"kafka://{hp.strip()}" for hp in bootstrap.split(",") if hp.strip()]


def policy_params(settings: ProcessorSettings) -> PolicyParams:
    return PolicyParams(
        budget_per_minute=settings.label_budget_per_minute, burst=settings.label_burst,
        reserve=settings.label_reserve, dedup_window_s=settings.label_dedup_window_s,
        tail_searches=settings.tail_searches, new_item_impressions=settings.new_item_impressions,
        new_query_hours=settings.new_query_hours, clock=settings.label_clock,
    )


class Processor:
    """The Faust app and everything it owns, built from settings."""

    def __init__(self, settings: ProcessorSettings, store: Any = None) -> None:
        import faust

        from streams.processor import faust_flush

        faust_flush.install()
        self.settings = settings
        prefix = settings.topic_prefix
        datadir = settings.state_dir / "faust"
        datadir.mkdir(parents=True, exist_ok=True)
        self.app = faust.App(
            settings.app_id(), broker=broker_urls(settings.kafka_bootstrap),
            broker_credentials=settings.faust_credentials(),
            datadir=str(datadir), store="memory://",
            topic_partitions=PARTITIONS, topic_replication_factor=1,
            broker_session_timeout=6, broker_heartbeat_interval=1,
            consumer_auto_offset_reset="earliest", producer_acks=-1,
            key_serializer="raw", value_serializer="raw", web_enabled=False,
            # Batch produce requests: without linger aiokafka sent ~1 request per message.
            producer_linger_ms=10,
            # A table write is a changelog message of its whole bucket (a few KB for a
            # busy query hour). In 16 KB batches (the default) a partition's batch filled
            # every few writes, and aiokafka then holds the next write until that batch is
            # acked: Faust's one sender loop stalled on broker round trips while the agents
            # kept writing, so its buffer overflowed ("producer buffer full", a line per
            # message during a replay).
            producer_max_batch_size=PRODUCER_BATCH_BYTES,
            table_standby_replicas=0,
        )
        app = self.app
        # Faust pauses the stream whenever more than `ProducerBuffer.max_messages` table
        # writes wait to be produced, and logs "producer buffer full" each time. Its 100
        # suits an app that writes a table once per event; a search event here writes ~11
        # buckets, so a backfill paused (and warned) every ~9 events. A deeper buffer keeps
        # the same backpressure at a bounded cost (writes are a few KB: ~10 MB at 2,000).
        # Faust reads the limit from the class; this process runs one app.
        from faust.transport.producer import ProducerBuffer

        ProducerBuffer.max_messages = settings.producer_buffer_messages
        raw: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw"}
        self.search_topic = app.topic(topic_name(SEARCH_LOG, prefix), **raw)
        self.catalog_topic = app.topic(topic_name(CATALOG, prefix), **raw)
        self.label_topic = app.topic(topic_name(LABEL_REQUESTS, prefix), **raw)
        self.dead_topic = app.topic(topic_name(DEAD_LETTER, prefix), **raw)
        self.delta_topic = app.topic(delta_topic_name(settings), partitions=PARTITIONS,
                                     internal=True, key_serializer="raw",
                                     value_serializer="json")

        def table(name: str) -> Any:
            # Keys and values (str, dicts of lists) go through JSON in the changelog.
            return app.Table(name, partitions=PARTITIONS)

        tables = Tables(*(table(name) for name in TABLE_NAMES))
        self.tables = tables
        self.metrics = MetricsWriter(settings, enabled=settings.metrics_to_clickhouse)
        self.state = StreamState(
            tables, LabelRequestPolicy(policy_params(settings)),
            CtrPrior(settings.ctr_prior, settings.ctr_prior_strength), self.metrics,
            clock=StreamClock(settings.label_clock,
                              max_skew_hours=settings.state_max_skew_hours),
            slack_hours=settings.state_slack_hours,
        )
        self.gaps = GapGuard(settings.kafka_client_config(), faust_committed(self.app))
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="feast-push")
        self._store: Any = store
        self._needs_rebuild = True
        self._started = time.time()
        self._first_event_at: float | None = None
        self._last_event_at: float | None = None
        self._last_delta_at: float | None = None
        self.pushed: dict[str, int] = {}
        self._offline: dict[str, list[dict[str, Any]]] = {}
        self._offline_flushed = time.monotonic()
        self._last_full_sync = time.monotonic()
        self._push_rest_until = 0.0
        self._recovery_progress: Progress | None = None
        self._resync_progress: Progress | None = None
        self._resync_left = 0
        self._recovery_watch: asyncio.Future[None] | None = None
        self._register()

    # --- wiring ---------------------------------------------------------------------------

    def _register(self) -> None:
        app, state = self.app, self.state

        async def on_search(key: bytes | None, value: bytes, where: str, partition: int
                            ) -> None:
            await self._send(state.on_search_log(key, value, where, partition))

        async def handle_deltas(batch: list[dict[str, Any]], partition: int) -> None:
            for delta in batch:
                await self._send(state.on_item_delta(delta, partition))

        async def on_deltas(key: bytes | None, value: bytes, where: str, partition: int
                            ) -> None:
            await handle_deltas(json.loads(value)["batch"], partition)

        @app.agent(self.search_topic, name="search_log")
        async def search_log(stream: Any) -> None:
            async for event in stream.events():
                msg = event.message
                await self._heal_gap(msg, on_search)
                await on_search(event.key, event.value, _where(msg), msg.partition)
                self._last_event_at = time.time()
                self._first_event_at = self._first_event_at or self._last_event_at

        @app.agent(self.delta_topic, name="item_deltas")
        async def item_deltas(stream: Any) -> None:
            async for event in stream.events():
                await self._heal_gap(event.message, on_deltas)
                await handle_deltas(event.value["batch"], event.message.partition)
                self._last_delta_at = time.time()

        @app.agent(self.catalog_topic, name="catalog")
        async def catalog(stream: Any) -> None:
            # No gap guard: the catalog topic is compacted, so its offsets have holes by
            # design (a skipped item comes back with its next catalog update).
            async for event in stream.events():
                await self._send(state.on_catalog(event.value, _where(event.message)))

        @app.on_rebalance_complete.connect  # type: ignore[arg-type]
        async def _rebalanced(sender: Any, **kwargs: Any) -> None:
            # Tables are recovered by now: whatever was counted before a crash but never
            # pushed is pushed on the next tick.
            self._needs_rebuild = True
            state.on_rebalance()
            state.stats["rebalances"] += 1

        @app.timer(interval=self.settings.push_interval_s)
        async def _push() -> None:
            # A push that took longer than the interval is followed by a rest as long as
            # it took, so the push thread (Feast: pure Python, holding the GIL) leaves the
            # event loop at least half the time even while a backfill keeps it busy.
            if time.monotonic() >= self._push_rest_until:
                started = time.monotonic()
                await self.push()
                took = time.monotonic() - started
                if took > self.settings.push_interval_s:
                    self._push_rest_until = time.monotonic() + took

        @app.on_partitions_assigned.connect  # type: ignore[arg-type]
        async def _assigned(sender: Any, *args: Any, **kwargs: Any) -> None:
            # Faust starts app timers and tasks only once the tables are restored, so the
            # restore's progress is watched by a task of our own, started here.
            if self._recovery_watch is None or self._recovery_watch.done():
                self._recovery_watch = asyncio.ensure_future(self._watch_recovery())

        @app.task
        async def _open_store() -> None:
            # The worker's logging set-up leaves client loggers at DEBUG: formatting their
            # per-request records cost ~6 % of the CPU.
            for name in ("aiokafka", "faust", "mode", "kafka"):
                logging.getLogger(name).setLevel(max(logging.INFO, log.getEffectiveLevel()))
            # The worker has set up logging by now (it replaces the root's handlers).
            install_repeat_filter(self.settings.log_repeat_interval_s)
            if self._store is None:
                loop = asyncio.get_running_loop()
                self._store = await loop.run_in_executor(self._executor, self._open_store_sync)

    async def _heal_gap(self, msg: Any, handle: Any) -> None:
        """Before handling `msg`: re-read and handle any offsets of its partition the stream
        skipped (see `gap_guard`)."""
        gap = self.gaps.missing(msg.topic, msg.partition, msg.offset)
        if gap is None:
            return
        loop = asyncio.get_running_loop()
        records = await loop.run_in_executor(None, self.gaps.fetch, msg.topic, msg.partition,
                                             *gap)
        self.state.stats["gap_refetched"] += len(records)
        for offset, key, value in records:
            await handle(key, value, f"{msg.topic}/{msg.partition}/{offset}", msg.partition)

    async def _send(self, out: Outputs) -> None:
        # One message per target partition rather than per item (a search touches ~10
        # items): the partition is the one the item's key hashes to, as on the catalog
        # topic, so catalog entries and deltas of an item meet on one worker.
        batches: dict[int, list[dict[str, Any]]] = {}
        for item_id, delta in out.deltas:
            batches.setdefault(item_partition(item_id), []).append(delta)
        for partition, batch in batches.items():
            await self.delta_topic.send(key=batch[0]["i"].encode(), value={"batch": batch},
                                        partition=partition)
        for request in out.requests:
            await self.label_topic.send(key=request.pair_key.encode(), value=request.to_bytes(),
                                        timestamp=request.ts.timestamp())
        for dead in out.dead:
            await self.dead_topic.send(value=dead.to_bytes())

    async def _watch_recovery(self) -> None:
        """Report the tables' restore until it is over (or never started in a minute)."""
        deadline = time.monotonic() + 60.0
        stall = RecoveryStall(self.settings.recovery_stall_s)
        while self.app.in_recovery or (self._recovery_progress is None
                                       and time.monotonic() < deadline):
            self.report_recovery()
            await self._check_stall(stall)
            await asyncio.sleep(1.0)
        self.report_recovery()

    async def _check_stall(self, stall: RecoveryStall) -> None:
        """Nudge a restore that stopped moving, then restart the worker if it stays stuck
        (see `streams.processor.recovery`)."""
        if not self.app.in_recovery:
            return
        tables: Any = self.app.tables  # the TableManager; its type lacks `recovery`
        recovery = tables.recovery
        action = stall.update(recovery.active_remaining_total(), time.monotonic())
        if action is None:
            return
        stuck = stuck_partitions(recovery)
        where = ", ".join(f"{tp.topic}/{tp.partition} {n}"
                          for tp, n in sorted(stuck.items())[:6])
        if action == "nudge":
            self.state.stats["recovery_nudges"] += 1
            log.warning("restoring the tables made no progress for %.0f s (%d records left "
                        "in %d changelog partitions: %s): asking Faust to fetch them again",
                        stall.stall_s, sum(stuck.values()), len(stuck), where)
            markers = await nudge(self.app, recovery, self.settings.kafka_client_config())
            if markers:
                log.warning("nothing but transaction markers is left to restore in %s "
                            "(read with a plain consumer): marked restored",
                            ", ".join(f"{tp.topic}/{tp.partition}" for tp in markers))
            return
        log.error("restoring the tables is still stuck after a nudge (%d records left: %s): "
                  "exiting with code %d to be restarted; every count is in the changelogs "
                  "and source topics, and a fresh worker restores them",
                  sum(stuck.values()), where, RESTART_EXIT_CODE)
        for handler in logging.getLogger().handlers:
            handler.flush()
        sys.stderr.flush()
        # Not SystemExit: Faust's services would try to stop in order, waiting on the very
        # restore that is stuck. A hard exit is what the SIGKILL drills show is safe.
        os._exit(RESTART_EXIT_CODE)

    def report_recovery(self) -> None:
        """A progress line while the tables are restored from their changelogs (Faust
        only logs its estimate at INFO, and only after 1,000 records)."""
        tables: Any = self.app.tables  # the TableManager; its type lacks `recovery`
        recovery = tables.recovery
        if self.app.in_recovery:
            remaining = recovery.active_remaining_total()
            if self._recovery_progress is None and remaining > 0:
                self._recovery_progress = Progress(
                    "restoring tables from their changelogs", "records",
                    self.settings.progress_interval_s)
            if self._recovery_progress is not None:
                self._recovery_progress.update(remaining)
                line = self._recovery_progress.line()
                if line:
                    progress_log().info(line)
        elif self._recovery_progress is not None:
            self._recovery_progress.update(0)
            progress_log().info("%s", self._recovery_progress.line(force=True))
            self._recovery_progress = None

    def _report_resync(self, pushed: int) -> None:
        """Progress of pushing every entity again (after a restart or a full sync); quiet
        unless it lasts longer than one progress interval."""
        progress = self._resync_progress
        if progress is None:
            return
        self._resync_left = max(0, self._resync_left - pushed)
        progress.update(self._resync_left)
        line = progress.line(force=self._resync_left == 0 and progress.reported)
        if line:
            progress_log().info(line)
        if self._resync_left == 0:
            self._resync_progress = None

    def _open_store_sync(self) -> Any:
        from feature_store.config import apply_repo

        return apply_repo(self.settings)

    # --- pushing ----------------------------------------------------------------------------

    async def push(self) -> None:
        """Push dirty aggregates to Feast and buffered metrics to ClickHouse."""
        loop = asyncio.get_running_loop()
        if self._store is None:
            # Feast is still importing (~10 s); dirty marks keep accumulating meanwhile.
            await loop.run_in_executor(None, self._write_stats)
            return
        if time.monotonic() - self._last_full_sync >= self.settings.full_sync_interval_s:
            self._needs_rebuild = True
        if self._needs_rebuild and not self.app.in_recovery:
            self._needs_rebuild = False
            self._last_full_sync = time.monotonic()
            self.state.rebuild(self.owned_partitions())
            self._resync_left = self.state.dirty_count
            self._resync_progress = Progress("pushing every aggregate to Feast (after a "
                                             "restart, or the periodic full sync)", "rows",
                                             self.settings.progress_interval_s)
            self._resync_progress.update(self._resync_left)
        rows = self.state.collect_rows(self.settings.push_max_rows or None)
        for view, view_rows in rows.items():
            if view != "item_content":
                for row in view_rows:
                    self.metrics.aggregate(view, row)
        try:
            await loop.run_in_executor(self._executor, self._push_sync, rows)
        except Exception as exc:  # Feast down or misconfigured: retry next tick
            log.warning("pushing aggregates to Feast failed, will retry: %s", exc)
            self.state.mark_dirty(rows)
        else:
            self._report_resync(sum(len(r) for r in rows.values()))
        interval = self.settings.offline_flush_interval_s
        if interval > 0:
            for view, view_rows in rows.items():
                self._offline.setdefault(view, []).extend(view_rows)
            if time.monotonic() - self._offline_flushed >= interval:
                self._offline_flushed = time.monotonic()
                batch, self._offline = self._offline, {}
                await loop.run_in_executor(self._executor, self._append_offline, batch)
        await loop.run_in_executor(self._executor, self.metrics.flush)
        await loop.run_in_executor(self._executor, self._write_stats)

    def owned_partitions(self) -> dict[str, set[int]]:
        """Per table, the changelog partitions this worker holds as active now (a table's
        partition follows its source's: the assignor co-partitions them)."""
        by_topic: dict[str, set[int]] = {}
        for tp in self.app.assignor.assigned_actives():
            by_topic.setdefault(tp.topic, set()).add(tp.partition)
        return {name: by_topic.get(getattr(self.tables, name).changelog_topic_name, set())
                for name in TABLE_NAMES}

    def _push_sync(self, rows: dict[str, list[dict[str, Any]]]) -> None:
        from feature_store.client import push_rows

        for view, view_rows in rows.items():
            if view_rows:
                push_rows(self._store, view, view_rows,
                          direct=self.settings.feast_redis_direct)
                self.pushed[view] = self.pushed.get(view, 0) + len(view_rows)

    def _append_offline(self, batch: dict[str, list[dict[str, Any]]]) -> None:
        append_offline_rows(self.settings, batch)

    def _write_stats(self) -> None:
        """A small JSON file others (tests, the bench, people) can read while it runs."""
        path = self.settings.state_dir / "streams-stats.json"
        data = {"app_id": self.settings.app_id(), "started": self._started,
                "updated": time.time(),
                "first_event_at": self._first_event_at, "last_event_at": self._last_event_at,
                "last_delta_at": self._last_delta_at,
                "stats": dict(self.state.stats), "state": self.state.state_size(),
                "pushed": self.pushed, "metrics_written": self.metrics.written,
                # Peak resident memory of this process so far (Linux reports KiB).
                "max_rss_mb": peak_rss_mb()}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(path)


def append_offline_rows(settings: ProcessorSettings,
                        batch: dict[str, list[dict[str, Any]]]) -> None:
    """Training rows: what was pushed online, one new parquet part per view and flush.
    Best effort: rows buffered when the worker dies are not rewritten after restart, but
    the online values and the next rows of each entity are."""
    from feature_store.config import repo_dir
    from feature_store.offline import append_offline

    data = repo_dir(settings) / "data"
    for view, view_rows in batch.items():
        try:
            append_offline(data, view, view_rows)
        except Exception as exc:  # a full disk must not stop the stream
            log.warning("appending %d offline rows to %s failed: %s",
                        len(view_rows), view, exc)


def item_partition(item_id: str) -> int:
    """Kafka's default (murmur2) partition of the key, as producers place catalog events."""
    return key_partition(item_id, PARTITIONS)


PRODUCER_BATCH_BYTES = 512 * 1024
"""aiokafka's batch size per partition (Faust's default is 16 KB); below the broker's
1 MB request limit."""

TABLE_NAMES = ("query_hours", "item_hours", "catalog", "requested")
"""The Faust tables (`Tables`, in this order); each has a `<app id>-<name>-changelog`."""


def delta_topic_name(settings: ProcessorSettings) -> str:
    return f"{settings.app_id()}-item-deltas"


def ensure_internal_topics(settings: ProcessorSettings) -> None:
    """Create the app's internal topics up front: item deltas and the tables' changelogs.

    Left to Faust, they are created while the worker starts, and a consumer that asked for
    their metadata a moment earlier ignores them until a refresh minutes later (seen here:
    "Ignoring missing topic", then the item-deltas agent crashed with PartitionsMismatch
    against a 0-partition `requested` changelog at every restart, and no item was
    counted). Changelogs are compacted, as Faust makes them.
    """
    app_id = settings.app_id()
    specs = [TopicSpec(delta_topic_name(settings))]
    specs += [TopicSpec(f"{app_id}-{name}-changelog", config={"cleanup.policy": "compact"})
              for name in TABLE_NAMES]
    create_missing_topics(settings.kafka_client_config(), specs)


def _where(msg: Any) -> str:
    return f"{msg.topic}/{msg.partition}/{msg.offset}"


def run_worker(settings: ProcessorSettings, loglevel: str = "WARNING") -> None:
    """Run the processor until SIGTERM/SIGINT (creates the source topics first).

    A broker that is not up yet is waited for (backoff, one log line per try) instead of
    exiting with a traceback and relying on a restart policy.
    """
    import faust

    from relstream.core.broker_wait import wait_for_broker
    from relstream.core.topics import ensure_topics

    wait_for_broker(settings.kafka_client_config(), "stream processor")
    ensure_topics(settings.kafka_client_config(), settings.topic_prefix)
    ensure_internal_topics(settings)
    # Feast pushes run in a thread; with the default 5 ms GIL switch interval every socket
    # call of the event loop waited for that thread (measured: ~5 ms per produce request).
    sys.setswitchinterval(0.0005)
    # Import Feast (~10 s of CPU) and apply the repo before joining the group, so the
    # import does not compete with the first minutes of stream processing.
    from feature_store.config import apply_repo

    processor = Processor(settings, store=apply_repo(settings))
    worker = faust.Worker(processor.app, loglevel=loglevel, quiet=True)
    worker.execute_from_commandline()
