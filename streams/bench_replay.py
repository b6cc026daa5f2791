"""`relstream bench replay`: replay throughput beside raw kafka-python produce, same run.

The baseline sends the same pre-read lines with a bare `KafkaProducer` (same acks and
idempotence) and no parsing, validation, sorting or keying: the ceiling replay can reach
on this broker. Each repeat runs both, alternating, on fresh topics; medians are quoted.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from pathlib import Path

from kafka import KafkaProducer

from relstream.bench import median, save_results
from relstream.settings import CommonSettings
from streams.replay import open_lines, replay_files
from streams.synthetic_log import write_synthetic_log
from streams.topics import SEARCH_LOG, ensure_topics, topic_name


def _raw_produce(settings: CommonSettings, lines: list[bytes]) -> float:
    producer = KafkaProducer(
        **settings.kafka_client_config(), acks="all", enable_idempotence=True,
        linger_ms=5, batch_size=256 * 1024, max_request_size=2 * 1024 * 1024,
    )
    topic = topic_name(SEARCH_LOG, settings.topic_prefix)
    started = time.monotonic()
    for i, line in enumerate(lines):
        producer.send(topic, value=line, key=str(i % 997).encode())
    producer.flush()
    elapsed = time.monotonic() - started
    producer.close()
    return len(lines) / elapsed


def bench_replay(base: CommonSettings, events: int, repeats: int, out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "search_log.jsonl"
        n = write_synthetic_log(path, events)
        lines = [raw for _, raw in open_lines(path)]
        raw_rates: list[float] = []
        replay_rates: list[float] = []
        for r in range(repeats):
            prefix = f"bench-{uuid.uuid4().hex[:8]}-"
            settings = base.model_copy(update={"topic_prefix": prefix})
            ensure_topics(settings.kafka_client_config(), prefix)
            # Alternate which goes first, so a drift in machine load hits both alike.
            if r % 2 == 0:
                raw_rates.append(_raw_produce(settings, lines))
            replay_rates.append(replay_files(settings, None, path).events_per_s)
            if r % 2 == 1:
                raw_rates.append(_raw_produce(settings, lines))
            print(f"repeat {r + 1}/{repeats}: raw {raw_rates[-1]:,.0f}/s, "
                  f"replay {replay_rates[-1]:,.0f}/s")
    raw_med, rep_med = median(raw_rates), median(replay_rates)
    ratio = rep_med / raw_med
    rows = [
        {"path": "raw kafka-python produce (baseline)", "events": n,
         "median events/s": raw_med, "runs": ", ".join(f"{x:,.0f}" for x in raw_rates),
         "ratio to baseline": 1.0},
        {"path": "relstream replay --max", "events": n, "median events/s": rep_med,
         "runs": ", ".join(f"{x:,.0f}" for x in replay_rates),
         "ratio to baseline": ratio},
    ]
    save_results(
        "bench-replay", rows, out,
        command=f"relstream bench replay --events {events} --repeats {repeats}",
        notes="replay includes reading the file, validating every line (stdlib json and type "
              "checks; pydantic for any line that is not plainly valid), sorting by event "
              "time and keying by query; the baseline sends the same bytes untouched with "
              "kafka-python's default partitioner, replay with the same hash memoised per "
              "key (streams.kafka_io.KeyHashPartitioner).",
        extra={"ratio_vs_raw": ratio, "raw_median_events_per_s": raw_med,
               "replay_median_events_per_s": rep_med, "events": n, "repeats": repeats},
    )
