"""`relstream bench streams`: the Faust aggregation path against a raw aiokafka consumer,
the processor's per-event logic fed by a plain `getmany` loop (the state's own cap), a
Faust agent that does nothing (Faust's own per-message cap), and Feast online read
latency (SQLite and, when `redis-server` exists, Redis).

One run: a synthetic search log is replayed to fresh topics; the baseline is a plain
aiokafka consumer reading the same topic end to end; then a `relstream streams run`
worker processes it and its own first/last event times give events/s (start-up and
Feast import excluded). Uses the configured broker when it answers, else starts a
private one under a temporary directory.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from relstream.core.reporting import median, percentile, save_results
from relstream.core.topics import SEARCH_LOG, topic_name
from streams.processor.settings import ProcessorSettings

ROW_COLUMNS = ("path", "workload", "workers", "events", "seconds", "events_per_s",
               "ratio_vs_raw", "runs", "range", "peak_rss_mb", "vs_one_worker",
               "rows_pushed", "vs_proto_push")
"""Every row has these (None where it does not apply: RSS is the worker process's)."""


async def _consume_from_start(bootstrap: str, topic: str, expected: int,
                              handle: Callable[[dict[Any, list[Any]]], None] | None = None
                              ) -> tuple[int, float]:
    """Read `topic` from its start with aiokafka `getmany` until `expected` records (or a
    second without any); `handle` gets each batch. Returns (records, seconds)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in sorted(_partitions(bootstrap, topic))]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        n, started = 0, time.perf_counter()
        while n < expected:
            batch = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            if not batch:
                break
            if handle is not None:
                handle(batch)
            n += sum(len(records) for records in batch.values())
        return n, time.perf_counter() - started
    finally:
        await consumer.stop()


async def _getmany_state(settings: ProcessorSettings, topic: str, expected: int
                         ) -> tuple[int, float, dict[str, int]]:
    """The processor's per-event logic (`StreamState`) fed by a plain aiokafka `getmany`
    loop: plain dict tables, item deltas applied in the same process, Feast rows built at
    the end but not pushed. No changelog, no second Kafka hop, no Feast: what the state
    logic itself costs per event once Faust's per-message machinery is gone."""
    from streams.processor.aggregates import CtrPrior
    from streams.processor.app import item_partition, policy_params
    from streams.processor.clock import StreamClock
    from streams.processor.policy import LabelRequestPolicy
    from streams.processor.state import StreamState, Tables

    state = StreamState(
        Tables({}, {}, {}, {}), LabelRequestPolicy(policy_params(settings)),
        CtrPrior(settings.ctr_prior, settings.ctr_prior_strength),
        clock=StreamClock(settings.label_clock, max_skew_hours=settings.state_max_skew_hours),
        slack_hours=settings.state_slack_hours)

    def handle(batch: dict[Any, list[Any]]) -> None:
        for tp, records in batch.items():
            for record in records:
                out = state.on_search_log(record.key, record.value, "", tp.partition)
                for item_id, delta in out.deltas:
                    state.on_item_delta(delta, item_partition(item_id))

    n, seconds = await _consume_from_start(settings.kafka_bootstrap, topic, expected, handle)
    started = time.perf_counter()
    state.collect_rows()
    return n, seconds + time.perf_counter() - started, dict(state.stats)


def _partitions(bootstrap: str, topic: str) -> set[int]:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        parts = consumer.partitions_for_topic(topic)
    finally:
        consumer.close()
    if not parts:
        raise RuntimeError(f"topic {topic} has no partitions in the cluster metadata")
    return parts


def _expected_deltas(log: Path) -> int:
    """Item deltas the log causes: one per distinct item of a search, one per feedback."""
    n = 0
    for line in log.read_text().splitlines():
        e = json.loads(line)
        n += len({r["item_id"] for r in e["results"]}) if e["type"] == "search" else 1
    return n


def _worker_rate(settings: ProcessorSettings, expected: int, deltas: int, workers: int = 1,
                 engine: str = "faust", redis_url: str = "", timeout_s: float = 1800,
                 direct: bool = True) -> dict[str, Any]:
    """`workers` stream processors of one deployment (one consumer group, their own state
    dirs) on the replayed topic, until together they have handled every event and counted
    every item delta (and, for the batch engine, until Feast holds every row: nothing
    dirty, no push in flight). Times come from the workers' status files: first event
    handled to last event / last delta / Feast caught up, over all workers. `redis_url`:
    Feast's online store (empty: SQLite in each worker's state dir). The periodic full
    sync is off: it would push every entity again and count against Feast's rate.
    `direct=False`: Feast's own `online_write_batch` instead of the direct Redis writes."""
    # A fresh app id per run: a repeat under the same id would resume at the offsets its
    # group committed before (and find the previous run's status files).
    app_id = f"relstream-streams-{engine}-{workers}w-{uuid.uuid4().hex[:6]}"
    procs: list[subprocess.Popen[bytes]] = []
    dirs = [settings.state_dir / f"{app_id}-{n}" for n in range(workers)]
    try:
        for state_dir in dirs:
            env = dict(os.environ)
            env.update({"RELSTREAM_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
                        "RELSTREAM_TOPIC_PREFIX": settings.topic_prefix,
                        "RELSTREAM_STREAMS_APP_ID": app_id,
                        "RELSTREAM_STREAMS_ENGINE": engine,
                        "RELSTREAM_STATE_DIR": str(state_dir),
                        "RELSTREAM_CLICKHOUSE_URL": "", "RELSTREAM_REDIS_URL": redis_url,
                        "RELSTREAM_PUSH_INTERVAL_S": "1.0",
                        "RELSTREAM_FULL_SYNC_INTERVAL_S": "86400",
                        "RELSTREAM_FEAST_REDIS_DIRECT": str(direct).lower()})
            state_dir.mkdir(parents=True, exist_ok=True)
            log = state_dir / "bench-worker.log"
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "relstream.cli", "streams", "run"],
                env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT))
        deadline = time.monotonic() + timeout_s
        result: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            for proc, state_dir in zip(procs, dirs, strict=True):
                if proc.poll() is not None:
                    raise RuntimeError(f"a worker exited with {proc.returncode}; see "
                                       f"{state_dir / 'bench-worker.log'}")
            files = [d / "streams-stats.json" for d in dirs]
            if all(f.exists() for f in files):
                data = [json.loads(f.read_text()) for f in files]
                stats = [d["stats"] for d in data]
                done = sum(st.get("search", 0) + st.get("feedback", 0) for st in stats)
                counted = sum(st.get("item_counted", 0) for st in stats)
                if done >= expected and counted >= deltas and result is None:
                    first = min(d["first_event_at"] for d in data if d["first_event_at"])
                    result = {"events": expected, "stats": stats,
                              "log_seconds": max(d["last_event_at"] or first
                                                 for d in data) - first,
                              "seconds": max(d["last_delta_at"] or first
                                             for d in data) - first,
                              "max_rss_mb": [_rss(d) for d in data]}
                    if engine != "batch":
                        return result
                if result is not None and all(
                        d.get("dirty") == 0 and d.get("push_in_flight") == 0
                        and d["updated"] > (d["last_delta_at"] or 0) for d in data):
                    # The batch engine's status file says when Feast holds everything
                    # (nothing dirty, no push in flight), to the push interval (1 s).
                    first = min(d["first_event_at"] for d in data if d["first_event_at"])
                    result["feast_seconds"] = max(d["updated"] for d in data) - first
                    result["pushed"] = [d["pushed"] for d in data]
                    result["max_rss_mb"] = [_rss(d) for d in data]
                    return result
            time.sleep(0.5)
        raise RuntimeError(f"{workers} worker(s) did not finish {expected} events in "
                           f"{timeout_s} s")
    finally:
        for proc in procs:
            _stop(proc)


def _rss(status: dict[str, Any]) -> float | None:
    """A worker's peak RSS in MB: the batch engine's worker and its sink process together."""
    worker = status.get("max_rss_mb")
    if worker is None:
        return None
    return worker + (status.get("sink_max_rss_mb") or 0.0)


def _faust_rows(settings: ProcessorSettings, n: int, deltas: int, workers: int,
                raw_rate: float, rows: list[dict[str, Any]]) -> list[dict[str, int]]:
    """The Faust worker's rows (appended to `rows`); returns its one-worker stats."""
    faust = _worker_rate(settings, n, deltas)
    rate = faust["events"] / faust["seconds"]
    log_rate = faust["events"] / faust["log_seconds"]
    rows.append({"path": "Faust search_log agent only (query buckets, deltas out)",
                 "workload": "uniform", "workers": 1, "events": faust["events"],
                 "seconds": faust["log_seconds"], "events_per_s": log_rate,
                 "ratio_vs_raw": log_rate / raw_rate})
    rows.append({"path": "Faust whole aggregation path (until every item delta counted)",
                 "workload": "uniform", "workers": 1, "events": faust["events"],
                 "seconds": faust["seconds"], "events_per_s": rate,
                 "ratio_vs_raw": rate / raw_rate, "peak_rss_mb": faust["max_rss_mb"][0]})
    if workers > 1:
        many = _worker_rate(settings, n, deltas, workers=workers)
        many_rate = many["events"] / many["seconds"]
        rows.append({"path": "Faust whole aggregation path (until every item delta "
                             "counted)", "workload": "uniform", "workers": workers,
                     "events": many["events"], "seconds": many["seconds"],
                     "events_per_s": many_rate, "ratio_vs_raw": many_rate / raw_rate,
                     "peak_rss_mb": max(r or 0.0 for r in many["max_rss_mb"]),
                     "vs_one_worker": many_rate / rate})
    return list(faust["stats"])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 30 s."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _ceiling_rate(settings: ProcessorSettings, topic: str, expected: int, mode: str,
                  timeout_s: float = 600) -> dict[str, Any]:
    """A do-nothing Faust agent on the same topic (`bench_ceiling`): Faust's own cap."""
    out = settings.state_dir / f"ceiling-{mode}.json"
    log = settings.state_dir / f"ceiling-{mode}.log"
    proc = subprocess.Popen([sys.executable, "-m", "relstream.tools.bench.streams_ceiling",
                             settings.kafka_bootstrap, topic, str(expected), mode, str(out)],
                            stdout=log.open("ab"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            if out.exists():
                return dict(json.loads(out.read_text()))
            if proc.poll() is not None:
                raise RuntimeError(f"the ceiling agent exited with {proc.returncode}; see {log}")
            time.sleep(0.5)
        raise RuntimeError(f"the ceiling agent did not read {expected} events in {timeout_s} s")
    finally:
        _stop(proc)


def _read_latency(settings: ProcessorSettings, reads: int) -> list[dict[str, Any]]:
    from feature_store.client import push_rows
    from feature_store.config import apply_repo
    from feature_store.definitions import ITEM_STATS, stat_fields

    store = apply_repo(settings)
    now = datetime.now(UTC)
    rows = [{"item_id": f"i{k}", "event_timestamp": now,
             **{f: (0.1 if f.startswith("ctr") else k) for f in stat_fields(ITEM_STATS)}}
            for k in range(1000)]
    push_rows(store, ITEM_STATS, rows)
    refs = [f"{ITEM_STATS}:{f}" for f in stat_fields(ITEM_STATS)]
    out = []
    for n in (1, 32):
        times = []
        for r in range(reads):
            entity_rows = [{"item_id": f"i{(r * 37 + k) % 1000}"} for k in range(n)]
            t0 = time.perf_counter()
            store.get_online_features(features=refs, entity_rows=entity_rows).to_dict()
            times.append((time.perf_counter() - t0) * 1000)
        out.append({"entities": n, "p50_ms": median(times), "p99_ms": percentile(times, 99)})
    return out


def _replay_raw(settings: ProcessorSettings, log: Path, workload: str
                ) -> tuple[int, dict[str, Any]]:
    """Replay `log` to fresh topics and read it back raw: (events, the baseline row)."""
    from relstream.core.topics import ensure_topics
    from streams.replay import replay_files

    ensure_topics(settings.kafka_client_config(), settings.topic_prefix)
    n = sum(1 for _ in log.open("rb"))
    replay_files(settings, None, log)
    topic = topic_name(SEARCH_LOG, settings.topic_prefix)
    got, secs = asyncio.run(_consume_from_start(settings.kafka_bootstrap, topic, n))
    return n, {"path": "raw aiokafka consume (baseline)", "workload": workload,
               "workers": 1, "events": got, "seconds": secs, "events_per_s": got / secs,
               "ratio_vs_raw": 1.0}


PROTO_PUSH = ", pushing through Feast's online_write_batch (baseline for the direct writes)"


def _batch_rows(settings: ProcessorSettings, log: Path, workers: int, redis: Any,
                workload: str, repeats: int = 1
                ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Replay `log` to fresh topics, read it raw (the baseline), then run the batch
    engine on one worker and on `workers`, `repeats` times each (alternating, so slow
    spells of a noisy machine spread over both): until every item delta is counted, and
    until Feast holds every row. On Redis, one worker also runs with Feast's own
    `online_write_batch` in place of the direct writes (`feast_redis_direct=false`), the
    same-run baseline for them. Rows give the median run and the range. Returns the rows
    and the first one-worker run."""
    n, raw = _replay_raw(settings, log, workload)
    raw_rate = raw["events_per_s"]
    rows: list[dict[str, Any]] = [raw]
    deltas = _expected_deltas(log)
    store = "Redis" if redis is not None else "SQLite"
    configs = [(1, True)] + ([(1, False)] if redis is not None else []) \
        + ([(workers, True)] if workers > 1 else [])
    runs: dict[tuple[int, bool], list[dict[str, Any]]] = {c: [] for c in configs}
    for _ in range(repeats):
        for w, direct in configs:
            runs[w, direct].append(_worker_rate(
                settings, n, deltas, workers=w, engine="batch", direct=direct,
                redis_url=redis.url() if redis is not None else ""))
    rates = {(w, direct, kind): [r["events"] / r[key] for r in runs[w, direct]]
             for w, direct in configs
             for kind, key in (("whole", "seconds"), ("feast", "feast_seconds"))}
    medians = {k: median(v) for k, v in rates.items()}
    for w, direct in configs:
        how = "" if direct else PROTO_PUSH
        for kind, what in (
                ("whole", "batch engine whole aggregation path (until every item delta "
                          f"counted){how}"),
                ("feast", f"batch engine, until Feast ({store} online store) holds every "
                          f"row{how}")):
            rate, spread = medians[w, direct, kind], rates[w, direct, kind]
            row: dict[str, Any] = {
                "path": what, "workload": workload, "workers": w, "events": n,
                "seconds": n / rate, "events_per_s": rate, "ratio_vs_raw": rate / raw_rate,
                "runs": len(spread), "range": f"{min(spread):,.0f}–{max(spread):,.0f}"}
            if kind == "whole":
                row["peak_rss_mb"] = max(x or 0.0 for r in runs[w, direct]
                                         for x in r["max_rss_mb"])
                row["rows_pushed"] = median([sum(sum(p.values()) for p in r["pushed"])
                                             for r in runs[w, direct]])
            if w > 1:
                row["vs_one_worker"] = rate / medians[1, True, kind]
            if direct and (1, False) in runs:
                row["vs_proto_push"] = rate / medians[1, False, kind] if w == 1 else None
            rows.append(row)
    return rows, runs[1, True][0]


class PrivateRedis:
    """A private redis-server for the Feast rows, emptied before each run."""

    def __init__(self, tmp: Path) -> None:
        from relstream.stack import LocalStack, free_port

        self.base = f"redis://127.0.0.1:{free_port()}"
        self.stack = LocalStack(ProcessorSettings(state_dir=tmp / "redis",
                                                  redis_url=f"{self.base}/0"))
        self.stack.start_redis()

    def url(self) -> str:
        import redis

        url = f"{self.base}/0"
        redis.Redis.from_url(url).flushall()
        return url

    def stop(self) -> None:
        self.stack.stop("redis")


def run_bench(base: ProcessorSettings, events: int, reads: int, out: Path,
              workers: int = 2, engines: tuple[str, ...] = ("batch", "faust"),
              zipf_queries: int = 20_000, repeats: int = 1) -> int:
    from relstream.core.broker_wait import broker_problem
    from relstream.stack import LocalStack, free_port
    from relstream.tools.synthetic_log import write_synthetic_log

    tmp = Path(tempfile.mkdtemp(prefix="relstream-bench-streams-"))
    private: LocalStack | None = None
    redis: PrivateRedis | None = None
    prefix = f"bench-{uuid.uuid4().hex[:8]}-"
    settings = base.model_copy(update={"state_dir": tmp / "state", "topic_prefix": prefix})
    if broker_problem(settings.kafka_client_config(), timeout_s=3.0) is not None:
        settings = settings.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{free_port()}"})
        private = LocalStack(settings.model_copy(update={"state_dir": tmp / "stack"}))
        private.start_kafka()
    try:
        if shutil.which("redis-server"):
            redis = PrivateRedis(tmp)  # what docker-compose deploys; SQLite is the fallback
        log = tmp / "search_log.jsonl"
        n = write_synthetic_log(log, events, seed=1, items=2000)
        topic = topic_name(SEARCH_LOG, settings.topic_prefix)
        rows: list[dict[str, Any]] = []
        batch: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        if "batch" in engines:
            rows, batch = _batch_rows(settings, log, workers, redis, "uniform", repeats)
            zlog = tmp / "search_log_zipf.jsonl"
            write_synthetic_log(zlog, events, seed=1, items=2000, queries=zipf_queries)
            zrows, zipf = _batch_rows(settings.model_copy(update={
                "state_dir": tmp / "state-zipf", "topic_prefix": f"{prefix}zipf-"}),
                zlog, workers, redis, f"zipf {zipf_queries} queries", repeats)
            rows += zrows
            extra.update({"batch_worker_stats": batch["stats"],
                          "batch_rows_pushed": batch["pushed"],
                          "zipf_batch_rows_pushed": zipf["pushed"]})
        else:
            rows.append(_replay_raw(settings, log, "uniform")[1])
        raw_rate = rows[0]["events_per_s"]
        got, secs, state_stats = asyncio.run(_getmany_state(settings, topic, n))
        rows.insert(1, {"path": "getmany → StreamState on plain dicts (deltas in-process, "
                                "Feast rows built, not pushed; no changelog)",
                        "workload": "uniform", "workers": 1, "events": got, "seconds": secs,
                        "events_per_s": got / secs, "ratio_vs_raw": got / secs / raw_rate})
        extra["getmany_state_stats"] = state_stats
        if "faust" in engines:
            extra["worker_stats"] = _faust_rows(settings, n, _expected_deltas(log), workers,
                                                raw_rate, rows)
            for mode, what in (("events", "stream.events()"),
                               ("take", "stream.take(1000, within=0.2)")):
                ceiling = _ceiling_rate(settings, topic, n, mode)
                rate = ceiling["events"] / ceiling["seconds"]
                rows.append({"path": f"Faust agent doing nothing, {what} (Faust's own cap)",
                             "workload": "uniform", "workers": 1, "events": ceiling["events"],
                             "seconds": ceiling["seconds"], "events_per_s": rate,
                             "ratio_vs_raw": rate / raw_rate})
        load = os.getloadavg()[0]
        rows = [{c: r.get(c) for c in ROW_COLUMNS} for r in rows]
        save_results("bench-streams", rows, out,
                     command=f"relstream bench streams --events {events} --workers {workers}"
                     + (f" --engines {','.join(engines)}"
                        if tuple(engines) != ("batch", "faust") else "")
                     + (f" --repeats {repeats}" if repeats > 1 else ""),
                     notes="events/s over the same topic in the same run; a worker's rate "
                     "spans its first to last event (start-up excluded); batch-engine rows "
                     "are the median of `runs` runs (range: slowest–fastest). Workload "
                     "'uniform': "
                     "nearly every search a new query and every pair new (worst case for "
                     f"Feast writes); 'zipf': {zipf_queries:,} queries of Zipf popularity, "
                     "each with its own result list. Feast online store: "
                     f"{'Redis' if redis is not None else 'SQLite (redis-server missing)'}; "
                     "the full sync is off during the runs; on Redis one worker also runs "
                     "pushing through Feast's online_write_batch (the rows marked "
                     "'baseline for the direct writes'; vs_proto_push: the direct writes' "
                     "rate over it). Load average at the end: "
                     f"{load:.1f} on {os.cpu_count()} CPUs.",
                     extra={**extra, "loadavg_1m": load})

        latency: list[dict[str, Any]] = []
        for row in _read_latency(settings.model_copy(
                update={"state_dir": tmp / "feast-sqlite", "redis_url": ""}), reads):
            latency.append({"store": "sqlite", **row})
        if redis is not None:
            rsettings = settings.model_copy(update={"state_dir": tmp / "feast-redis",
                                                    "redis_url": redis.url()})
            latency += [{"store": "redis", **row} for row in _read_latency(rsettings, reads)]
        save_results("bench-feast-latency", latency, out,
                     command=f"relstream bench streams --reads {reads}",
                     notes="get_online_features on item_stats (10 features), 1000 rows "
                     "pushed; SQLite is the baseline."
                     + ("" if redis is not None else " Redis skipped: "
                        "redis-server not installed."))
    finally:
        if redis is not None:
            redis.stop()
        if private is not None:
            private.stop("kafka")
        shutil.rmtree(tmp, ignore_errors=True)
    return 0
