"""Every topic relstream uses, its partitions and configs, and idempotent creation.

Keys: search-log events are keyed by normalised query (feedback by its search's query),
so one query's events stay ordered on one partition and a stream processor can join
feedback to its search locally. The catalog is compacted by item_id.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

log = logging.getLogger(__name__)

PARTITIONS = 4
"""Partition count of the keyed data topics; Faust tables must use the same."""

GIB = 1024**3


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int = PARTITIONS
    config: dict[str, str] = field(default_factory=dict)
    doc: str = ""


# Retention is by size, never by time: replayed history carries its original event times
# as Kafka timestamps, and time-based retention would delete a months-old replay at once.
_KEEP = {"retention.ms": "-1"}
_SPECS = (
    TopicSpec("search-log", config={**_KEEP, "retention.bytes": str(4 * GIB)},
              doc="searches and feedback, keyed by normalised query"),
    TopicSpec("catalog", config={"cleanup.policy": "compact", **_KEEP},
              doc="catalog items, keyed by item_id, compacted: the latest version wins"),
    TopicSpec("label-requests", config={**_KEEP, "retention.bytes": str(GIB)},
              doc="query-item pairs for the teacher, keyed by pair"),
    TopicSpec("teacher-labels", config={**_KEEP, "retention.bytes": str(4 * GIB)},
              doc="teacher judgements, keyed by pair"),
    TopicSpec("model-updates", partitions=1, config=dict(_KEEP),
              doc="published model versions, keyed by model name"),
    TopicSpec("dead-letter", partitions=1, config={**_KEEP, "retention.bytes": str(GIB)},
              doc="messages that failed to decode, validate or process, with the reason"),
)

SEARCH_LOG = "search-log"
CATALOG = "catalog"
LABEL_REQUESTS = "label-requests"
TEACHER_LABELS = "teacher-labels"
MODEL_UPDATES = "model-updates"
DEAD_LETTER = "dead-letter"


def topic_specs(prefix: str = "") -> dict[str, TopicSpec]:
    """Logical name → spec with the deployment's prefix applied to `name`."""
    return {
        s.name: TopicSpec(prefix + s.name, s.partitions, dict(s.config), s.doc) for s in _SPECS
    }


def topic_name(logical: str, prefix: str = "") -> str:
    if logical not in {s.name for s in _SPECS}:
        raise KeyError(f"unknown topic {logical!r}; known: {[s.name for s in _SPECS]}")
    return prefix + logical


def ensure_topics(kafka: Mapping[str, Any], prefix: str = "", timeout_s: float = 30.0) -> list[str]:
    """Create every missing topic; existing ones are left as they are. Returns created names."""
    return create_missing_topics(kafka, list(topic_specs(prefix).values()), timeout_s)


def create_missing_topics(kafka: Mapping[str, Any], specs: list[TopicSpec], timeout_s: float = 30.0
                          ) -> list[str]:
    """Create the topics of `specs` that do not exist yet; returns the names created."""
    admin = KafkaAdminClient(
        **kafka, client_id="relstream-admin",
        request_timeout_ms=int(timeout_s * 1000),
    )
    try:
        existing = set(admin.list_topics())
        created = []
        for spec in specs:
            if spec.name in existing:
                continue
            try:
                admin.create_topics(
                    [NewTopic(spec.name, spec.partitions, 1, topic_configs=spec.config)],
                    timeout_ms=int(timeout_s * 1000),
                )
                created.append(spec.name)
            except TopicAlreadyExistsError:
                pass  # another process won the race: fine, creation is idempotent
        if created:
            log.info("created topics %s", created)
        return created
    finally:
        admin.close()
