"""ClickHouse tables of the continuous trainer: prequential points and gate decisions.

Metrics are best effort: both tables are `relstream.core.clickhouse_sink` tables with the
DROP policy, so a ClickHouse outage is logged, the rows of that write are counted as
dropped and training goes on, because the model and its checkpoint, not the dashboards,
are what must not be lost. The next write tries again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from relstream.core import clickhouse_sink as sink
from student_trainer.online.gate import GateDecision
from student_trainer.online.prequential import PrequentialPoint

log = logging.getLogger(__name__)

_PREQ_COLUMNS = ["model", "seq", "stream_ts", "wall_ts", "query", "item_id", "score",
                 "predicted", "teacher_grade", "truth_grade", "new_brand", "model_step"]
_GATE_COLUMNS = ["model", "wall_ts", "candidate_step", "accepted", "reason", "version",
                 "candidate_soft_ce", "published_soft_ce", "candidate_acc", "validation_size"]

# Written as they are made (one evaluation window of points, or one gate decision): a
# failed insert drops those rows and training goes on. Nothing waits in the buffer between
# writes, so the bound is a guard, not a queue.
METRICS_POLICY = sink.TablePolicy(
    on_failure=sink.OnFailure.DROP, when_full=sink.WhenFull.REFUSE_NEW, max_rows=100_000)


class OnlineMetrics(sink.SinkCounts):
    """Writes to `<prequential_table>` and `<gate_table>`; creates them if needed."""

    def __init__(self, client: Any, prequential_table: str, gate_table: str, model: str) -> None:
        self.client = client
        self.preq_table = prequential_table
        self.gate_table = gate_table
        self.model = model
        self._sink = sink.ClickHouseSink(lambda: client, [
            sink.SinkTable(prequential_table, _PREQ_COLUMNS, METRICS_POLICY, ddl=f"""
                CREATE TABLE IF NOT EXISTS {prequential_table} (
                    model String, seq UInt64, stream_ts DateTime64(3, 'UTC'),
                    wall_ts DateTime64(3, 'UTC'), query String, item_id String,
                    score Float64, predicted LowCardinality(String),
                    teacher_grade LowCardinality(String), truth_grade Nullable(String),
                    new_brand UInt8, model_step UInt64
                ) ENGINE = ReplacingMergeTree ORDER BY (model, seq)"""),
            sink.SinkTable(gate_table, _GATE_COLUMNS, METRICS_POLICY, ddl=f"""
                CREATE TABLE IF NOT EXISTS {gate_table} (
                    model String, wall_ts DateTime64(3, 'UTC'), candidate_step UInt64,
                    accepted UInt8, reason String, version Nullable(String),
                    candidate_soft_ce Float64, published_soft_ce Nullable(Float64),
                    candidate_acc Float64, validation_size UInt32
                ) ENGINE = MergeTree ORDER BY (model, wall_ts)"""),
        ], batch_size=10_000)

    def write_points(self, points: Sequence[PrequentialPoint]) -> None:
        if not points:
            return
        now = datetime.now(UTC)
        self._sink.add_many(self.preq_table, (
            [self.model, p.seq, p.stream_ts, now, p.query, p.item_id, p.score, p.predicted,
             p.teacher_grade, p.truth_grade, int(p.new_brand), p.model_step]
            for p in points))
        self._sink.flush()

    def write_gate(self, decision: GateDecision, step: int, version: str | None,
                   validation_size: int) -> None:
        published = (decision.published or {}).get("val_soft_ce")
        row = [self.model, datetime.now(UTC), step, int(decision.accepted), decision.reason,
               version, float(decision.candidate.get("val_soft_ce", float("nan"))), published,
               float(decision.candidate.get("val_teacher_acc", float("nan"))), validation_size]
        self._sink.add(self.gate_table, row)
        self._sink.flush()
