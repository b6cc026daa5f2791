"""The demo's progress line: what flowed through Kafka, the registry and the driver.

Counts come from where the work is visible to any process: end offsets of the topics
(events replayed, label requests, teacher labels, model updates), the registry's
published versions, and the traffic driver's own counters.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from relstream.core.processes import RESTART_EXIT_CODE
from relstream.core.settings import CommonSettings
from relstream.core.topics import (
    DEAD_LETTER,
    LABEL_REQUESTS,
    MODEL_UPDATES,
    SEARCH_LOG,
    TEACHER_LABELS,
)
from relstream.core.topics import topic_name as _topic
from relstream.tools.demo.supervisor import Supervisor

log = logging.getLogger(__name__)

_TOPICS = {"events": SEARCH_LOG, "label requests": LABEL_REQUESTS, "labels": TEACHER_LABELS,
           "updates": MODEL_UPDATES, "dead letters": DEAD_LETTER}


@dataclass
class Snapshot:
    counts: dict[str, int]
    versions: list[str]


class Progress:
    """Reads the counters and prints one status line at a time."""

    def __init__(self, settings: CommonSettings, registry: Path, model_name: str,
                 supervisor: Supervisor, every_s: float = 5.0) -> None:
        from kafka import KafkaConsumer

        self.settings = settings
        self.registry = registry
        self.model_name = model_name
        self.supervisor = supervisor
        self.every_s = every_s
        self._consumer = KafkaConsumer(**settings.kafka_client_config(),
                                       client_id="relstream-demo-progress",
                                       request_timeout_ms=10_000)
        self._last = 0.0
        self._reported_dead: set[str] = set()
        self.began = time.monotonic()
        self.tty = sys.stdout.isatty()

    def snapshot(self) -> Snapshot:
        from kafka import TopicPartition

        from relstream.core.registry import list_versions

        counts: dict[str, int] = {}
        for label, logical in _TOPICS.items():
            name = _topic(logical, self.settings.topic_prefix)
            try:
                parts = self._consumer.partitions_for_topic(name) or set()
                ends = self._consumer.end_offsets([TopicPartition(name, p) for p in parts])
                counts[label] = int(sum(ends.values()))
            except Exception as exc:  # a slow broker must not stop the demo
                log.debug("end offsets of %s: %s", name, exc)
                counts[label] = -1
        return Snapshot(counts, list_versions(self.registry, self.model_name))

    def line(self, phase: str, extra: str = "") -> str:
        snap = self.snapshot()
        c = snap.counts
        elapsed = time.monotonic() - self.began
        versions = ",".join(snap.versions[-3:]) if snap.versions else "none"
        text = (f"[{elapsed:5.0f}s] {phase:<11} events {c['events']:>7}  label requests "
                f"{c['label requests']:>5}  labels {c['labels']:>5}  versions {len(snap.versions)}"
                f" (latest {versions})")
        if c["dead letters"] > 0:
            text += f"  dead letters {c['dead letters']}"
        return text + (f"  {extra}" if extra else "")

    def tick(self, phase: str, extra: str = "", force: bool = False) -> None:
        """Print the status line at most every `every_s` seconds, restart the children that
        ask for it, and report dead children."""
        for child in self.supervisor.revive():
            print(f"!! {child.name} asked to be restarted (exit code {RESTART_EXIT_CODE}); "
                  f"started again, see {child.log_path}", flush=True)
        for child in self.supervisor.dead():
            if child.name not in self._reported_dead:
                self._reported_dead.add(child.name)
                print(f"!! {child.name} exited with code {child.returncode()}; "
                      f"see {child.log_path}:\n{child.log_tail(8)}", flush=True)
        now = time.monotonic()
        if not force and now - self._last < self.every_s:
            return
        self._last = now
        print(self.line(phase, extra), flush=True)

    def close(self) -> None:
        try:
            self._consumer.close()
        except Exception as exc:  # closing after the broker stopped is harmless
            log.debug("closing the progress consumer: %s", exc)
