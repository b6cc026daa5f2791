"""A producer buffer whose `flush()` really drains, so no table update is lost on SIGKILL.

Faust writes table changes to their changelog through an in-memory producer buffer and,
before committing source offsets, calls `producer.flush()`. faust-streaming 0.15's
`ProducerBuffer.flush()` gives up as soon as one message takes longer than 0.1 s to hand
to aiokafka, and it ignores the message being handed over right now. On a loaded machine
that lets offsets be committed for events whose changelog writes are still in the buffer,
and a SIGKILL then loses those counts for good (read from the code; the CI failure first
blamed on it turned out to be another Faust bug, see docs/features.md). This buffer waits
until the queue is empty and no hand-over is in flight; aiokafka's own flush, which Faust
calls next, then waits for the broker's acks.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from faust.transport import producer as faust_producer


class DrainingProducerBuffer(faust_producer.ProducerBuffer):
    _in_flight = 0

    async def _send_pending(self, fut: Any) -> None:
        self._in_flight += 1
        try:
            await super()._send_pending(fut)
        finally:
            self._in_flight -= 1

    async def flush(self) -> None:
        while self.size or self._in_flight:
            if self.state != "running":
                raise RuntimeError("Cannot flush: Producer not Running")
            self.message_sent.clear()
            # Short waits in a loop: the event may be set between the check and clear().
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.message_sent.wait(), timeout=0.1)


def install() -> None:
    """Make every Faust producer created from now on in this process use the draining
    buffer (Faust builds its buffer from the module-level name)."""
    faust_producer.ProducerBuffer = DrainingProducerBuffer  # type: ignore[misc]
