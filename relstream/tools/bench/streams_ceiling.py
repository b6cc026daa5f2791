"""The most a Faust agent can do here: messages/s of an agent that does nothing with them.

Run by `relstream bench streams` in a subprocess (`python -m
relstream.tools.bench.streams_ceiling BOOTSTRAP TOPIC EXPECTED MODE OUT`), beside the real
worker, on the same topic. `events` iterates `stream.events()` as the processor's agents
do; `take` takes batches with `stream.take(1000, within=0.2)`, the batching Faust offers.
Whatever the processor does per message comes on top of this: it bounds any design that
keeps Faust's consumer and per-message stream machinery (issue 16, item 1).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

TAKE_BATCH = 1000
TAKE_WITHIN_S = 0.2


def run(bootstrap: str, topic: str, expected: int, mode: str, out: Path) -> None:
    """Consume `topic` from the start until `expected` messages; write the rate to `out`."""
    import faust

    app = faust.App(f"bench-ceiling-{uuid.uuid4().hex[:8]}", broker=f"kafka://{bootstrap}",
                    store="memory://", web_enabled=False, datadir=tempfile.mkdtemp(),
                    consumer_auto_offset_reset="earliest", key_serializer="raw",
                    value_serializer="raw")
    source = app.topic(topic, key_serializer="raw", value_serializer="raw")
    seen = {"n": 0, "first": 0.0, "first_n": 0}

    def count(n: int) -> None:
        # The clock starts when the first call arrives, so that call's messages were read
        # before it: they are left out of the rate (a whole batch in `take` mode). Fewer
        # than two calls time nothing; the rate is then NaN, not a huge number.
        if not seen["n"]:
            seen["first"], seen["first_n"] = time.perf_counter(), n
        seen["n"] += n
        if seen["n"] >= expected and not out.exists():
            seconds = time.perf_counter() - seen["first"]
            timed = seen["n"] - seen["first_n"]
            out.write_text(json.dumps({"mode": mode, "events": timed,
                                       "seconds": seconds if timed else float("nan")}))

    @app.agent(source, name="ceiling")
    async def ceiling(stream: Any) -> None:
        if mode == "take":
            async for batch in stream.take(TAKE_BATCH, within=TAKE_WITHIN_S):
                count(len(batch))
        else:
            async for _event in stream.events():
                count(1)

    worker = faust.Worker(app, loglevel="WARNING", quiet=True)
    worker.execute_from_commandline()


if __name__ == "__main__":
    run(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], Path(sys.argv[5]))
