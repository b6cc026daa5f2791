"""Scale-out on the existing engine (issue 16 item 5): two stream-processor workers in one
Faust consumer group, and two teacher workers in theirs, with one of each SIGKILLed
mid-stream.

Processor: a replay in three parts. The first worker counts the first part alone; a
second worker (its own state dir, the same Feast repo) joins while the second part
streams in, and counts some of it; then the joiner is SIGKILLed and the third part
streams in. Once the survivor is done, Feast must hold exactly the counts computed from
the file, and no label request may have been sent twice (request ids are deterministic:
same pair and source event, same id) nor re-requested within the dedup window. A second
test leaves both workers alive: Feast should hold the same counts and keep them; it does
not (xfail, the reason is on the test).

Teacher: two `relstream teacher run --backend lexical` workers (the word-overlap baseline,
no LLM: the worker machinery is what is tested) on one host share the label cache; one is
SIGKILLed after both have labelled; every request must get a label, and none twice.
"""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from relstream.core.processes import RESTART_EXIT_CODE
from relstream.core.schemas import LabelRequest, TeacherLabel, decode_event, utcnow
from relstream.core.settings import CommonSettings
from relstream.core.topics import LABEL_REQUESTS, SEARCH_LOG, TEACHER_LABELS
from tests.integration.kafka_read import read_topic
from tests.integration.test_stream_processor import (
    EXACT_COUNT_ENV,
    counts_exact,
    expected_counts,
    mismatches,
    query_events,
    simulated_stream,
    start_on_catalog,
    start_worker,
    stats,
    stop,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCALE_OUT_ENV = {**EXACT_COUNT_ENV, "RELSTREAM_OFFLINE_FLUSH_INTERVAL_S": "1",
                 "RELSTREAM_RECOVERY_STALL_S": "20"}
"""The exact-count settings, offline rows flushed every second: both workers write part
files into the one repo they share (`feature_store.offline`)."""


class PacedReplay:
    """Replays a search log a few lines at a time, on demand, from the test's thread: the
    lines keyed as `relstream replay` keys the whole file (a feedback line by its search's
    query, known only from the whole file), in event-time order."""

    def __init__(self, settings: CommonSettings, log: Path, chunk: int) -> None:
        from relstream.core.kafka_io import EventProducer
        from streams.replay import ReplayStats, read_search_log_rows

        self.producer = EventProducer(settings, client_id="test-replay")
        self.rows = read_search_log_rows(log, self.producer, ReplayStats())  # bad: dead letter
        self.chunk = chunk
        self.sent = 0

    @property
    def left(self) -> int:
        return len(self.rows) - self.sent

    def feed(self, lines: int) -> None:
        """Produce the next `lines` lines (fewer at the end of the file)."""
        part = self.rows[self.sent:self.sent + lines]
        for ts_ms, key, raw, *_ in part:
            self.producer.send_raw(SEARCH_LOG, raw, key, ts_ms)
        self.producer.flush()
        self.sent += len(part)

    def close(self) -> None:
        self.producer.close()

    def feed_until(self, done: Any, limit: int, timeout_s: float, what: str,
                   watch: Any, interval_s: float = 1.0) -> None:
        """A chunk per `interval_s` while `done()` is false, at most `limit` lines in all
        (then only wait); fail after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        budget = limit
        while not done():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            watch()
            if budget > 0:
                n = min(self.chunk, budget)
                self.feed(n)
                budget -= n
            time.sleep(interval_s)


def counted(settings: CommonSettings) -> int:
    """Search-log events a worker has handled (counted or recognised as duplicates)."""
    worker = stats(settings).get("stats", {})
    return sum(worker.get(k, 0) for k in ("search", "feedback"))


@pytest.mark.parametrize("engine", ["faust", "batch"])
def test_two_processors_rebalance_and_sigkill(
        stack_settings: CommonSettings, subprocess_env: Any, tmp_path: Path,
        engine: str) -> None:
    catalog, log = simulated_stream(tmp_path)
    expected = expected_counts(log)
    n_searches, _ = query_events(log)
    replay = PacedReplay(stack_settings, log, chunk=8)
    # Two workers of one deployment: one consumer group (same app id and topic prefix),
    # one Feast repo, their own state dirs (Faust data dir, status file).
    repo = stack_settings.state_dir / "feature_repo"
    second = stack_settings.model_copy(update={"state_dir": tmp_path / "state-2"})
    second.state_dir.mkdir()
    engine_env = {"RELSTREAM_STREAMS_ENGINE": engine, "RELSTREAM_SNAPSHOT_INTERVAL_S": "1"}
    env1 = subprocess_env(**SCALE_OUT_ENV, **engine_env)
    env2 = subprocess_env(**SCALE_OUT_ENV, **engine_env,
                          RELSTREAM_STATE_DIR=str(second.state_dir),
                          RELSTREAM_FEATURE_REPO=str(repo))
    logs = [tmp_path / "worker-1.log", tmp_path / "worker-2.log"]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(start_on_catalog(stack_settings, env1, logs[0], catalog))

        def alive() -> None:
            for n, proc in enumerate(procs, 1):
                if proc.returncode is None and proc.poll() is not None:
                    raise AssertionError(f"worker {n} exited with {proc.returncode}")

        # Part one: the first worker alone.
        first_part = len(replay.rows) // 4
        replay.feed_until(lambda: replay.sent >= first_part and counted(stack_settings) > 0,
                          first_part, 120, "the first worker to count", alive)
        # Part two: the second worker joins, the group rebalances, both count.
        procs.append(start_worker(env2, logs[1]))
        wait_until(lambda: bool(stats(second)), 180, "the second worker to start", alive)
        middle = len(replay.rows) // 2
        replay.feed_until(lambda: counted(second) >= 5, middle, 180,
                          "the second worker to count events of its partitions", alive)
        replay.feed(replay.chunk)
        wait_until(lambda: counted(stack_settings) + counted(second) >= replay.sent, 60,
                   "both workers to catch up before the kill", alive)
        before = {"first": stats(stack_settings), "second": stats(second)}
        assert before["first"]["stats"].get("rebalances", 0) >= 2, \
            "the first worker never rebalanced"
        # The joiner dies: the first worker takes back partitions it gave away, over the
        # copies of their buckets it still holds in memory (Faust's memory store forgets
        # only what it restored, not what it wrote), and whatever the joiner counted since.
        procs[1].send_signal(signal.SIGKILL)
        procs[1].wait()
        assert replay.left > 0, "the kill came after the whole stream"
        # Part three: the rest, paced, while the survivor takes the dead one's partitions.
        # A Faust restore that stalls there (seen once in CI: "0/397 records" for minutes)
        # makes the survivor exit with RESTART_EXIT_CODE (streams.processor.recovery); it
        # is started again, as docker-compose's restart policy does, and the counts must
        # still come out exact.
        restarts = 0

        def survivor_running() -> None:
            nonlocal restarts
            code = procs[0].poll()
            if code == RESTART_EXIT_CODE and restarts < 3:
                restarts += 1
                procs[0] = start_worker(env1, logs[0])
            elif code is not None:
                raise AssertionError(f"the survivor exited with {code}")

        replay.feed_until(lambda: replay.left == 0, replay.left, 120, "the rest of the replay",
                          survivor_running, interval_s=0.5)
        assert wait_until(counts_exact(stack_settings, expected), 180,
                          "exact counts in Feast", survivor_running) is True
        after = stats(stack_settings)["stats"]
        print("before the kill, counters and table sizes:",
              {k: (v["stats"], v["state"]) for k, v in before.items()},
              f"\nthe survivor's counters after: {after}; restarted {restarts} times")
        # A restarted survivor is a new process: it got every partition at its first
        # assignment, so its own count of rebalances says nothing about the take-back.
        if restarts == 0:
            assert after.get("rebalances", 0) >= 3, \
                "the survivor never took the partitions back"
    finally:
        replay.close()
        for proc in procs:
            stop(proc)
        for path in logs:
            if path.exists():
                print(f"--- {path.name}\n{path.read_text()[-2500:]}")

    # No label request sent twice, none inside the dedup window of another for its pair.
    requests = [decode_event(r.value) for r in read_topic(stack_settings, LABEL_REQUESTS)]
    assert requests and all(isinstance(r, LabelRequest) for r in requests)
    ids = Counter(r.event_id for r in requests)
    assert [i for i, n in ids.items() if n > 1] == [], "a label request was sent twice"
    by_pair: dict[str, list[float]] = defaultdict(list)
    for r in requests:
        by_pair[r.pair_key].append(r.ts.timestamp())
    window_s = 86400.0  # label_dedup_window_s default
    close = {p: ts for p, ts in by_pair.items()
             if any(b - a < window_s for a, b in itertools.pairwise(sorted(ts)))}
    assert close == {}, "a pair was requested again within the dedup window"
    print(f"{len(requests)} label requests for {len(by_pair)} pairs, {n_searches} searches")


@pytest.mark.parametrize("engine", ["faust", "batch"])
def test_two_live_processors_keep_feast_exact(
        stack_settings: CommonSettings, subprocess_env: Any, tmp_path: Path,
        engine: str) -> None:
    """Both workers alive: once they have caught up, Feast must hold the file's counts
    and keep holding them (no kill here, so no recovery hides what a worker pushes)."""
    catalog, log = simulated_stream(tmp_path)
    expected = expected_counts(log)
    replay = PacedReplay(stack_settings, log, chunk=8)
    second = stack_settings.model_copy(update={"state_dir": tmp_path / "state-2"})
    second.state_dir.mkdir()
    env1 = subprocess_env(**SCALE_OUT_ENV, RELSTREAM_STREAMS_ENGINE=engine)
    env2 = subprocess_env(**SCALE_OUT_ENV, RELSTREAM_STREAMS_ENGINE=engine,
                          RELSTREAM_STATE_DIR=str(second.state_dir),
                          RELSTREAM_FEATURE_REPO=str(stack_settings.state_dir / "feature_repo"))
    procs: list[subprocess.Popen[bytes]] = []

    def alive() -> None:
        for n, proc in enumerate(procs, 1):
            if proc.poll() is not None:
                raise AssertionError(f"worker {n} exited with {proc.returncode}")

    try:
        procs.append(start_on_catalog(stack_settings, env1, tmp_path / "worker-1.log",
                                      catalog))
        first_part = len(replay.rows) * 6 // 10
        replay.feed(first_part)
        wait_until(lambda: counted(stack_settings) >= first_part, 120,
                   "the first worker to count the first part", alive)
        procs.append(start_worker(env2, tmp_path / "worker-2.log"))
        wait_until(lambda: bool(stats(second)), 180, "the second worker to start", alive)
        replay.feed(replay.left)
        wait_until(lambda: counted(stack_settings) + counted(second) >= len(replay.rows), 120,
                   "both workers to count the rest", alive)
        time.sleep(10.0)  # a few pushes and two full syncs of each worker
        samples = []
        for _ in range(15):
            alive()
            samples.append(mismatches(stack_settings, expected))
            time.sleep(1.0)
        print("Feast rows off the file's counts, once a second:", [len(s) for s in samples],
              "\nfirst worker's tables:", stats(stack_settings)["state"],
              "\nsecond worker's tables:", stats(second)["state"])
        assert [s for s in samples if s] == [], "Feast drifted from the file's counts"
        # Offline, each worker wrote its own parts beside the other's; none lost a query.
        from feature_store.offline import parts, read_offline

        data = stack_settings.state_dir / "feature_repo" / "data"
        writers = {p.stem.rsplit("-", 1)[1] for p in parts(data / "query_stats")}
        # The batch engine writes them from its sink process, the Faust worker itself.
        pids = ({str(stats(s)["sink_pid"]) for s in (stack_settings, second)}
                if engine == "batch" else {str(proc.pid) for proc in procs})
        assert pids <= writers, writers
        offline = set(read_offline(data, "query_stats").column("query").to_pylist())
        assert set(expected["query"]) <= offline
    finally:
        replay.close()
        for proc in procs:
            stop(proc)


def _distinct_requests(world: Path, count: int) -> list[LabelRequest]:
    """`count` label requests for distinct shown pairs of `world`, in log order."""
    from relstream.core.shop_files import load_catalog

    catalog = load_catalog(world)
    out: dict[str, LabelRequest] = {}
    with (world / "search_log.jsonl").open() as fh:
        for line in fh:
            event = json.loads(line)
            if event["type"] != "search":
                continue
            for shown in event["results"]:
                request = LabelRequest(ts=utcnow(), event_id=uuid.uuid4().hex,
                                       query=event["query"], item_id=shown["item_id"],
                                       item=catalog[shown["item_id"]])
                out.setdefault(request.pair_key, request)
            if len(out) >= count:
                return list(out.values())[:count]
    raise AssertionError(f"the world has only {len(out)} distinct shown pairs")


def _handled(log: Path) -> int:
    """Requests a teacher worker has taken in batches so far, from its log lines."""
    total = 0
    for line in log.read_text(errors="replace").splitlines():
        if "batch of " in line:
            total += int(line.split("batch of ", 1)[1].split(":", 1)[0])
    return total


def test_two_teachers_sigkill_one(stack_settings: CommonSettings, subprocess_env: Any,
                                  tmp_path: Path) -> None:
    from relstream.core.kafka_io import EventProducer
    from relstream.tools.simulator.config import SimConfig
    from relstream.tools.simulator.world import simulate

    world = simulate(SimConfig(out=tmp_path / "world", seed=5, items=300, searches=200,
                               days=0.1))
    requests = _distinct_requests(world, 400)
    group = f"teachers-{uuid.uuid4().hex[:8]}"
    env = subprocess_env(RELSTREAM_TEACHER_BACKEND="lexical", RELSTREAM_TEACHER_GROUP_ID=group,
                         RELSTREAM_TEACHER_BATCH_MAX="8", RELSTREAM_TEACHER_BATCH_WAIT_MS="100")
    cmd = [sys.executable, "-m", "relstream.cli", "teacher", "run", "--backend", "lexical"]
    logs = [tmp_path / "teacher-1.log", tmp_path / "teacher-2.log"]
    procs = [subprocess.Popen(cmd, env=env, stdout=path.open("ab"), stderr=subprocess.STDOUT)
             for path in logs]
    producer = EventProducer(stack_settings, client_id="test")

    def produce(batch: list[LabelRequest]) -> None:
        for request in batch:
            producer.send(LABEL_REQUESTS, request, key=request.pair_key)
        producer.flush()

    def alive() -> None:
        for n, proc in enumerate(procs, 1):
            if proc.returncode is None and proc.poll() is not None:
                raise AssertionError(f"teacher worker {n} exited with {proc.returncode}")

    try:
        wait_until(lambda: all("teacher worker" in path.read_text(errors="replace")
                               for path in logs), 120, "both workers to start", alive)
        sent = 0
        # Paced, until each worker has labelled some (the second joins the group a few
        # seconds after the first), keeping at least a quarter for after the kill.
        deadline = time.monotonic() + 120
        while (time.monotonic() < deadline
               and not (all(_handled(path) > 0 for path in logs) and sent >= 100)):
            alive()
            if sent < 300:
                produce(requests[sent:sent + 10])
                sent += 10
            time.sleep(0.5)
        assert all(_handled(path) > 0 for path in logs), "a worker labelled nothing"
        # The rest streams in while the first worker is killed, so it dies mid-stream.
        def produce_rest() -> None:
            for k in range(sent, len(requests), 10):
                produce(requests[k:k + 10])
                time.sleep(0.1)

        rest = threading.Thread(target=produce_rest)
        rest.start()
        # Killed right after it logs a batch: labels sent and cached, offsets maybe not
        # yet committed, so the survivor may get that batch again (then from the cache).
        size = logs[0].stat().st_size
        deadline = time.monotonic() + 10
        while logs[0].stat().st_size == size and time.monotonic() < deadline:
            time.sleep(0.001)
        procs[0].send_signal(signal.SIGKILL)
        procs[0].wait()
        handled_by_victim = _handled(logs[0])
        rest.join()

        def labelled() -> Any:
            got = {decode_event(r.value).pair_key for r in
                   read_topic(stack_settings, TEACHER_LABELS)}
            missing = {r.pair_key for r in requests} - got
            return True if not missing else [f"{len(missing)} pairs unlabelled"]

        wait_until(labelled, 120, "a label for every request", alive)
        time.sleep(2.0)  # anything relabelled after the last check would show now
    finally:
        producer.close()
        for proc in procs:
            stop(proc)
        for path in logs:
            print(f"--- {path.name}\n{path.read_text(errors='replace')[-2000:]}")
    labels = [decode_event(r.value) for r in read_topic(stack_settings, TEACHER_LABELS)]
    assert all(isinstance(label, TeacherLabel) for label in labels)
    assert {label.pair_key for label in labels} == {r.pair_key for r in requests}
    twice = {k: n for k, n in Counter(label.pair_key for label in labels).items() if n > 1}
    print(f"{len(labels)} labels for {len(requests)} requests; the killed worker took "
          f"{handled_by_victim} requests, the survivor {_handled(logs[1])}; "
          f"labelled twice: {twice}")
    assert twice == {}, "a request was labelled twice"
