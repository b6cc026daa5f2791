"""The worker's own metrics, one row per labelled batch, in a ClickHouse table.

Columns: batch size, distinct pairs, cache hits, pairs labelled, parse failures, latency,
generated tokens and tokens/s, and the grade mix (argmax grade counts). Rates (cache hit
rate, parse-failure rate) are ratios of these columns, computed in queries. Writing is
best effort (a `relstream.core.clickhouse_sink` table with the DROP policy): a ClickHouse
outage is logged and labelling goes on.
"""

from __future__ import annotations

import re
from dataclasses import astuple, dataclass, field, fields
from datetime import datetime
from typing import Any

from relstream.core import clickhouse_sink as sink
from relstream.core.schemas import utcnow
from teacher_worker.errors import TeacherWorkerError

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass
class BatchMetrics:
    """What one handled batch did."""

    worker: str
    batch_size: int = 0
    distinct_pairs: int = 0
    cache_hits: int = 0
    labelled: int = 0
    parse_failures: int = 0
    latency_s: float = 0.0
    new_tokens: int = 0
    tokens_per_s: float = 0.0
    grade_e: int = 0
    grade_s: int = 0
    grade_c: int = 0
    grade_i: int = 0
    ts: datetime = field(default_factory=utcnow)


_COLUMNS = [f.name for f in fields(BatchMetrics)]
_TYPES = {
    "worker": "String", "latency_s": "Float64", "tokens_per_s": "Float64",
    "ts": "DateTime64(3, 'UTC')", "new_tokens": "UInt64",
}


# One row per labelled batch, written as the batch is handled: a failed insert loses that
# row (counted and logged) and labelling goes on. The buffer only ever holds the row being
# written, so its bound is a guard, not a queue.
METRICS_POLICY = sink.TablePolicy(
    on_failure=sink.OnFailure.DROP, when_full=sink.WhenFull.REFUSE_NEW, max_rows=1000)


class MetricsWriter(sink.SinkCounts):
    """Creates the table once and inserts one row per batch."""

    def __init__(self, client: Any, table: str = "teacher_metrics") -> None:
        if not _NAME.match(table):
            raise TeacherWorkerError(f"metrics table name {table!r} is not a plain identifier")
        self.client = client
        self.table = table
        cols = ", ".join(f"{c} {_TYPES.get(c, 'UInt32')}" for c in _COLUMNS)
        self._sink = sink.ClickHouseSink(lambda: client, [sink.SinkTable(
            table, _COLUMNS, METRICS_POLICY, to_values=lambda row: list(astuple(row)),
            ddl=f"CREATE TABLE IF NOT EXISTS {table} ({cols}) ENGINE = MergeTree ORDER BY ts",
        )], batch_size=1)
        self._sink.connect()  # the table exists (or this raises) before the first batch

    def write(self, row: BatchMetrics) -> None:
        """Insert the row now; on failure it is logged and dropped (never raises)."""
        self._sink.add(self.table, row)
        self._sink.flush()

    def summary(self) -> dict[str, float]:
        """Totals over the table: batches, pairs, hit rate, parse-failure rate, tokens/s."""
        result = self.client.query(
            f"SELECT count(), sum(distinct_pairs), sum(cache_hits), sum(labelled), "
            f"sum(parse_failures), sum(new_tokens), sum(latency_s) FROM {self.table}"
        )
        batches, pairs, hits, labelled, failures, tokens, latency = result.result_rows[0]
        attempted = labelled + failures
        return {
            "batches": float(batches), "distinct_pairs": float(pairs),
            "cache_hit_rate": hits / pairs if pairs else 0.0,
            "parse_failure_rate": failures / attempted if attempted else 0.0,
            "tokens_per_s": tokens / latency if latency else 0.0,
        }
