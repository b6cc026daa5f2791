"""`relstream bench replay`: replay throughput beside raw kafka-python produce, same run.

The baseline sends the same pre-read lines with a bare `KafkaProducer` (same acks,
idempotence, batching and compression) and no parsing, validation, sorting or keying.
Replay freezes the garbage collector's view of the existing heap while it sends (see
`streams.replay`), which a bare loop does not; a third, reference run does the same on the
raw loop, so the results show how much of replay's standing is that trick. Each repeat
runs all three, in rotating order, on fresh topics; medians are quoted, with the CPU
seconds of each run (steadier than wall time on a shared machine).
"""

from __future__ import annotations

import gc
import tempfile
import time
import uuid
from pathlib import Path

from kafka import KafkaProducer

from relstream.core.reporting import median, save_results
from relstream.core.settings import CommonSettings
from relstream.core.topics import SEARCH_LOG, ensure_topics, topic_name
from relstream.tools.synthetic_log import write_synthetic_log
from streams.replay import open_lines, replay_files


def _raw_produce(settings: CommonSettings, lines: list[bytes], frozen: bool = False) -> float:
    producer = KafkaProducer(
        **settings.kafka_client_config(), acks="all", enable_idempotence=True,
        linger_ms=5, batch_size=256 * 1024, max_request_size=2 * 1024 * 1024,
    )
    topic = topic_name(SEARCH_LOG, settings.topic_prefix)
    if frozen:
        gc.freeze()  # as replay does while it sends
    started = time.monotonic()
    for i, line in enumerate(lines):
        producer.send(topic, value=line, key=str(i % 997).encode())
    producer.flush()
    elapsed = time.monotonic() - started
    if frozen:
        gc.unfreeze()
    producer.close()
    return len(lines) / elapsed


ARMS = ("raw", "replay", "frozen")
PATHS = {
    "raw": "raw kafka-python produce (baseline)",
    "replay": "relstream replay --max",
    "frozen": "raw produce, GC frozen as replay does (reference)",
}


def bench_replay(base: CommonSettings, events: int, repeats: int, out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "search_log.jsonl"
        n = write_synthetic_log(path, events)
        lines = [raw for _, raw in open_lines(path)]
        rates: dict[str, list[float]] = {arm: [] for arm in ARMS}
        cpu: dict[str, list[float]] = {arm: [] for arm in ARMS}
        for r in range(repeats):
            prefix = f"bench-{uuid.uuid4().hex[:8]}-"
            # Rotate which goes first, so a drift in machine load hits all alike.
            for arm in ARMS[r % len(ARMS):] + ARMS[:r % len(ARMS)]:
                settings = base.model_copy(update={"topic_prefix": prefix + arm + "-"})
                ensure_topics(settings.kafka_client_config(), settings.topic_prefix)
                started = time.process_time()  # all threads: kafka-python's sender too
                if arm == "replay":
                    rates[arm].append(replay_files(settings, None, path).events_per_s)
                else:
                    rates[arm].append(_raw_produce(settings, lines, frozen=arm == "frozen"))
                cpu[arm].append(time.process_time() - started)
            print(f"repeat {r + 1}/{repeats}: " + ", ".join(
                f"{arm} {rates[arm][-1]:,.0f}/s ({cpu[arm][-1]:.2f} CPU s)" for arm in ARMS))
    med = {arm: median(rates[arm]) for arm in ARMS}
    med_cpu = {arm: median(cpu[arm]) for arm in ARMS}
    ratio = med["replay"] / med["raw"]
    cpu_ratio = med_cpu["raw"] / med_cpu["replay"]
    rows = [
        {"path": PATHS[arm], "events": n, "median events/s": med[arm],
         "runs": ", ".join(f"{x:,.0f}" for x in rates[arm]),
         "median CPU s": med_cpu[arm], "ratio to baseline": med[arm] / med["raw"]}
        for arm in ("raw", "replay", "frozen")
    ]
    save_results(
        "bench-replay", rows, out,
        command=f"relstream bench replay --events {events} --repeats {repeats}",
        notes="Replay's time includes reading the file, validating every line "
              "(pydantic-core's JSON parser and type checks; the pydantic models for any "
              "line that is not plainly valid), sorting by event time and keying by query. "
              "The baseline sends the same bytes, pre-read, untouched, with kafka-python's "
              "default partitioner; replay hashes each distinct key to its partition once "
              "(the same murmur2, so the same partitions: EventProducer.send_raw_many) and "
              "freezes the GC's view of the heap while it runs (gc.freeze), as the "
              "reference row does for the raw loop. All: acks=all, idempotence, linger "
              "5 ms, 256 KiB batches, no compression. CPU s: the bench process's CPU time "
              "per run, all threads.",
        extra={"ratio_vs_raw": ratio, "raw_median_events_per_s": med["raw"],
               "replay_median_events_per_s": med["replay"], "cpu_ratio_vs_raw": cpu_ratio,
               "ratio_vs_raw_gc_frozen": med["replay"] / med["frozen"],
               "events": n, "repeats": repeats},
    )
