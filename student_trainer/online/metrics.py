"""ClickHouse tables of the continuous trainer: prequential points and gate decisions.

Metrics are best effort: a ClickHouse outage is logged and training goes on, because the
model and its checkpoint, not the dashboards, are what must not be lost.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from student_trainer.online.gate import GateDecision
from student_trainer.online.prequential import PrequentialPoint

log = logging.getLogger(__name__)

_PREQ_COLUMNS = ["model", "seq", "stream_ts", "wall_ts", "query", "item_id", "score",
                 "predicted", "teacher_grade", "truth_grade", "new_brand", "model_step"]
_GATE_COLUMNS = ["model", "wall_ts", "candidate_step", "accepted", "reason", "version",
                 "candidate_soft_ce", "published_soft_ce", "candidate_acc", "validation_size"]


class OnlineMetrics:
    """Writes to `<prequential_table>` and `<gate_table>`; creates them if needed."""

    def __init__(self, client: Any, prequential_table: str, gate_table: str, model: str) -> None:
        self.client = client
        self.preq_table = prequential_table
        self.gate_table = gate_table
        self.model = model
        self.enabled = True
        self._ensure()

    def _ensure(self) -> None:
        self._safe(self.client.command, f"""
            CREATE TABLE IF NOT EXISTS {self.preq_table} (
                model String, seq UInt64, stream_ts DateTime64(3, 'UTC'),
                wall_ts DateTime64(3, 'UTC'), query String, item_id String, score Float64,
                predicted LowCardinality(String), teacher_grade LowCardinality(String),
                truth_grade Nullable(String), new_brand UInt8, model_step UInt64
            ) ENGINE = ReplacingMergeTree ORDER BY (model, seq)""")
        self._safe(self.client.command, f"""
            CREATE TABLE IF NOT EXISTS {self.gate_table} (
                model String, wall_ts DateTime64(3, 'UTC'), candidate_step UInt64,
                accepted UInt8, reason String, version Nullable(String),
                candidate_soft_ce Float64, published_soft_ce Nullable(Float64),
                candidate_acc Float64, validation_size UInt32
            ) ENGINE = MergeTree ORDER BY (model, wall_ts)""")

    def _safe(self, fn: Any, *args: Any, **kwargs: Any) -> None:
        if not self.enabled:
            return
        try:
            fn(*args, **kwargs)
        except Exception as exc:  # driver errors come in many types; metrics are optional
            log.warning("online-trainer metrics disabled after a ClickHouse error: %s", exc)
            self.enabled = False

    def write_points(self, points: Sequence[PrequentialPoint]) -> None:
        if not points:
            return
        now = datetime.now(UTC)
        rows = [[self.model, p.seq, p.stream_ts, now, p.query, p.item_id, p.score, p.predicted,
                 p.teacher_grade, p.truth_grade, int(p.new_brand), p.model_step]
                for p in points]
        self._safe(self.client.insert, self.preq_table, rows, column_names=_PREQ_COLUMNS)

    def write_gate(self, decision: GateDecision, step: int, version: str | None,
                   validation_size: int) -> None:
        published = (decision.published or {}).get("val_soft_ce")
        row = [self.model, datetime.now(UTC), step, int(decision.accepted), decision.reason,
               version, float(decision.candidate.get("val_soft_ce", float("nan"))), published,
               float(decision.candidate.get("val_teacher_acc", float("nan"))), validation_size]
        self._safe(self.client.insert, self.gate_table, [row], column_names=_GATE_COLUMNS)
