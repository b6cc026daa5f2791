"""Re-reads source messages that Faust skipped, before anything after them is committed.

faust-streaming's stream iterator drops messages it takes from an agent's buffer under
another rebalance generation or while flow control is suspended, expecting a seek back;
its offset commit then moves across such a gap (faust-streaming #221, #606). Seen here in
CI: a worker restarted after SIGKILL processed offsets 79-80 and 86 of a partition and
never 81-85. Our source topics have contiguous offsets (idempotent, non-transactional
producers), so a jump in the offsets an agent sees is a skip: `GapGuard` notices it on
the next message, fetches the missing offsets with a plain kafka-python consumer and
hands them to the agent's own handler first. That happens while the message after the
gap is being processed, i.e. before it is acked, so the commit cannot pass the gap
before the skipped messages are counted. Counting twice is harmless: every aggregate
drops an event id it has already counted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

log = logging.getLogger(__name__)

Record = tuple[int, bytes | None, bytes]  # offset, key, value


class GapGuard:
    """Per (topic, partition): the highest offset an agent handled; spots jumps.

    `committed(topic, partition)` gives the group's committed offset: the first message a
    process sees of a partition should be that one, so a skip right after a (re)start is
    caught too. What a process has seen persists across rebalances.
    """

    def __init__(self, kafka: Mapping[str, Any],
                 committed: Callable[[str, int], int | None] = lambda t, p: None) -> None:
        self.kafka = dict(kafka)  # kafka-python client config: servers and security
        self.committed = committed
        self.last: dict[tuple[str, int], int] = {}

    def missing(self, topic: str, partition: int, offset: int) -> tuple[int, int] | None:
        """The offsets [start, end) skipped before `offset` (None if none); notes `offset`."""
        key = (topic, partition)
        prev = self.last.get(key)
        if prev is None:
            base = self.committed(topic, partition)
            prev = base - 1 if base is not None else None
        if prev is not None and offset <= prev:
            return None  # a redelivery after a seek back
        self.last[key] = offset
        if prev is None or offset == prev + 1:
            return None
        return prev + 1, offset

    def fetch(self, topic: str, partition: int, start: int, end: int) -> list[Record]:
        """Blocking: the records at offsets [start, end) (fewer if retention removed some)."""
        from kafka import KafkaConsumer, TopicPartition

        tp = TopicPartition(topic, partition)
        consumer = KafkaConsumer(**self.kafka, enable_auto_commit=False,
                                 group_id=None, client_id="relstream-gap-guard",
                                 consumer_timeout_ms=10_000)
        out: list[Record] = []
        try:
            consumer.assign([tp])
            consumer.seek(tp, start)
            for record in consumer:
                if record.offset >= end:
                    break
                out.append((record.offset, record.key, record.value))
                if record.offset == end - 1:
                    break
        finally:
            consumer.close()
        log.warning("re-read %d message(s) %s/%d [%d, %d) that the stream skipped",
                    len(out), topic, partition, start, end)
        return out


def faust_committed(app: Any) -> Callable[[str, int], int | None]:
    """The committed offset Faust's consumer recorded for a partition when it sought to
    the committed offsets after its last rebalance (a private attribute: Faust has no
    public accessor)."""
    from faust.types import TP

    def committed(topic: str, partition: int) -> int | None:
        offsets = getattr(app.consumer, "_committed_offset", None)
        value = offsets.get(TP(topic, partition)) if offsets is not None else None
        return int(value) if value is not None else None

    return committed
