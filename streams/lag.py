"""How far a consumer group is behind a topic: `relstream streams lag [--wait]`.

A backfill (`relstream replay` into `relstream streams run --backfill`) is done when the
processor's group has committed every search-log offset; a person (or a script) needs
to know when that is without reading the worker's log. Lag is summed over partitions:
end offset minus the group's committed offset (a partition it never committed counts
from its beginning offset, so an unstarted group reads as "all of it left").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.errors import CoordinatorNotAvailableError

from relstream.core.retry import Backoff, retry
from relstream.core.settings import CommonSettings
from relstream.core.topics import topic_name
from streams.errors import StreamsError


@dataclass(frozen=True)
class Lag:
    group: str
    topic: str
    committed: int
    """Records the group has committed (summed over partitions, from each one's start)."""
    total: int
    """Records in the topic (end minus beginning offsets, summed)."""

    @property
    def behind(self) -> int:
        return self.total - self.committed


def group_lag(settings: CommonSettings, group: str, logical_topic: str) -> Lag:
    """One reading of `group`'s lag on the (prefixed) topic."""
    return topic_lag(settings, group, topic_name(logical_topic, settings.topic_prefix))


def topic_lag(settings: CommonSettings, group: str, topic: str) -> Lag:
    """One reading of `group`'s lag on `topic`, named as on the broker (an engine's
    internal topic, such as the batch engine's item deltas)."""
    config = settings.kafka_client_config()
    consumer = KafkaConsumer(**config, enable_auto_commit=False)
    admin = KafkaAdminClient(**config)
    try:
        parts = consumer.partitions_for_topic(topic)
        if not parts:
            raise StreamsError(f"topic {topic} does not exist (is the stack up, and the "
                               "prefix RELSTREAM_TOPIC_PREFIX the one the producers used?)")
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        begin, end = consumer.beginning_offsets(tps), consumer.end_offsets(tps)
        offsets = _committed(admin, group, tps)
        committed = 0
        for tp in tps:
            meta = offsets.get(tp)
            at = meta.offset if meta is not None and meta.offset >= 0 else begin[tp]
            committed += max(0, min(at, end[tp]) - begin[tp])
        total = sum(end[tp] - begin[tp] for tp in tps)
        return Lag(group, topic, committed, total)
    finally:
        consumer.close()
        admin.close()


def _committed(admin: KafkaAdminClient, group: str,
               tps: list[TopicPartition]) -> dict[TopicPartition, Any]:
    """The group's committed offsets. On a broker where no group ever committed, the
    offsets topic is created by the first coordinator lookup, which fails until it
    exists: retried every 0.5 s, 20 tries (~10 s)."""

    def read() -> dict[TopicPartition, Any]:
        offsets: dict[TopicPartition, Any] = admin.list_group_offsets({group: tps}).get(group, {})
        return offsets

    return retry(read, retry_on=CoordinatorNotAvailableError, backoff=Backoff(0.5, 1.0, 0.5),
                 tries=20, what=f"reading the committed offsets of {group}",
                 log_level=logging.DEBUG)


def wait_caught_up(read: Callable[[], Lag], *, poll_s: float = 5.0, timeout_s: float = 0.0,
                   say: Callable[[str], None] = print) -> Lag:
    """Poll until the group has committed everything and the topic stopped growing over
    one poll (a replay still producing is not "caught up"). Prints one line per poll with
    the rate and the time left; `timeout_s` > 0 raises `StreamsError` when it passes."""
    started = time.monotonic()
    last = read()
    say(_line(last, None, 0.0))
    while True:
        if last.behind == 0 and last.total > 0:
            time.sleep(poll_s)
            again = read()
            if again.behind == 0 and again.total == last.total:
                return again
            say(_line(again, last, poll_s))
            last = again
            continue
        if timeout_s and time.monotonic() - started > timeout_s:
            raise StreamsError(f"{last.group} still {last.behind} records behind on "
                               f"{last.topic} after {timeout_s:.0f} s")
        time.sleep(poll_s)
        now = read()
        say(_line(now, last, poll_s))
        last = now


def _line(now: Lag, before: Lag | None, seconds: float) -> str:
    line = f"{now.group} on {now.topic}: {now.committed:,}/{now.total:,} committed, " \
           f"{now.behind:,} behind"
    if before is not None and seconds > 0:
        rate = (now.committed - before.committed) / seconds
        if rate > 0:
            line += f", {rate:,.0f}/s, ~{now.behind / rate:,.0f} s left"
    return line
