"""A Faust worker whose table restore stopped moving: noticed, nudged once, then restarted.

Faust restores a worker's tables from their changelogs after every rebalance. Now and
then (faust-streaming issues #21, #74, robinhood/faust #218, #542) that restore stops
receiving records for some changelog partitions and never finishes: the worker stays in
recovery, counts nothing, and only logs "No event received for active tp" forever. We saw
it once in CI, in the scale-out drill: the survivor took back its partitions after the
joiner was SIGKILLed and sat at "0/397 records" for five minutes.

`RecoveryStall` reads the number of records left every second. When it has not fallen
for `stall_s`, the worker nudges Faust once (`nudge`: a partition holding nothing but a
transaction marker past the restore's offset is marked restored; the others are sought to
where the restore stands and resumed, with the flow and the fetcher); when it
still has not fallen after another `stall_s`, the worker exits with `RESTART_EXIT_CODE`.
A restart is safe at any moment (the SIGKILL drills): every count is in a changelog or
the source topics, and a fresh process restores them from scratch. Deployments restart it
(`restart: unless-stopped` in docker-compose.yml, the demo's supervisor).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Literal

log = logging.getLogger(__name__)

Action = Literal["nudge", "restart"]


@dataclass
class RecoveryStall:
    """Says when a restore's "records left" has not fallen for `stall_s` seconds.

    `update(left, now)` returns "nudge" the first time it stalls, "restart" if it stalls
    again after the nudge, and None otherwise. Any fall of `left` (progress) starts the
    clock again and forgets the nudge; so does the end of a restore (`left == 0`).
    """

    stall_s: float
    _lowest: int | None = None
    _since: float = 0.0
    _nudged: bool = False
    nudges: int = field(default=0)

    def update(self, left: int, now: float) -> Action | None:
        if left <= 0 or self._lowest is None or left < self._lowest:
            self._lowest = left if left > 0 else None
            self._since = now
            self._nudged = False
            return None
        # A restore may grow (a new rebalance adds partitions); that is not progress,
        # but it is not a stall of what was there either: count from the larger amount.
        if left > self._lowest:
            self._lowest = left
            self._since = now
            return None
        if now - self._since < self.stall_s:
            return None
        self._since = now
        if not self._nudged:
            self._nudged = True
            self.nudges += 1
            return "nudge"
        return "restart"


def stuck_partitions(recovery: Any) -> dict[Any, int]:
    """Changelog partitions the restore still needs records of, and how many."""
    return {tp: n for tp, n in recovery.active_remaining().items() if n > 0}


def records_between(kafka: dict[str, Any], topic: str, partition: int, after: int,
                    through: int, timeout_s: float = 30.0) -> int | None:
    """Blocking: how many records a plain consumer (kafka-python, read_uncommitted as
    Faust's) reads at offsets `after` < offset ≤ `through`; None if it could not read up
    to `through` within `timeout_s`. Transaction markers take offsets and are not records."""
    from kafka import KafkaConsumer, TopicPartition

    tp = TopicPartition(topic, partition)
    consumer = KafkaConsumer(**kafka, enable_auto_commit=False, group_id=None,
                             client_id="relstream-recovery-check")
    found = 0
    try:
        consumer.assign([tp])
        consumer.seek(tp, after + 1)
        deadline = time.monotonic() + timeout_s
        while consumer.position(tp) <= through:
            if time.monotonic() > deadline:
                return None
            for record in consumer.poll(timeout_ms=1000).get(tp, []):
                found += after < record.offset <= through
    finally:
        consumer.close()
    return found


async def nudge(app: Any, recovery: Any, kafka: dict[str, Any]) -> list[Any]:
    """Ask Faust again for what its restore waits for; returns the partitions found to
    hold nothing more than transaction markers.

    For each stuck changelog partition a plain consumer reads what lies between the
    offset the restore reached and its target. No record there means the restore waits
    for a transaction marker (it takes an offset and is never delivered; Faust skips those
    only in a transactional app): the partition is marked restored, as Faust's own
    aborted-transaction check does. Otherwise records are really missing (Faust's
    consumer may have fetched and dropped them, or never asked), and the partition is
    sought back to the offset the restore reached (records at or below it are skipped by
    the restore, so nothing is applied twice) and resumed, with the flow and the fetcher.
    Errors are logged: the restart follows.
    """
    consumer = app.consumer
    loop = asyncio.get_running_loop()
    only_markers: list[Any] = []
    try:
        stuck = stuck_partitions(recovery)
        for tp in stuck:
            reached, target = recovery.active_offsets[tp], recovery.active_highwaters[tp]
            found = await loop.run_in_executor(None, records_between, kafka, tp.topic,
                                               tp.partition, reached, target)
            if found == 0:
                recovery.active_offsets[tp] = target
                only_markers.append(tp)
        rest = [tp for tp in stuck if tp not in only_markers]
        if rest:
            await consumer.seek_wait({tp: max(recovery.active_offsets[tp], 0) for tp in rest})
            consumer.resume_partitions(rest)
        app.flow_control.resume()
        consumer.resume_flow()
        await app._fetcher.maybe_start()
    except Exception as exc:  # whatever Faust raises here, the next step is a restart
        log.warning("nudging the stalled restore failed: %s: %s", type(exc).__name__, exc)
    return only_markers
