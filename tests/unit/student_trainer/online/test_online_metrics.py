"""The continuous trainer's ClickHouse tables through the one sink, on the real embedded
engine: points and gate decisions land; an outage drops that write's rows and the next
write goes through (training never stops for its dashboards)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from relstream.core.clickhouse import get_client
from relstream.core.settings import CommonSettings
from student_trainer.online.gate import GateDecision
from student_trainer.online.metrics import OnlineMetrics
from student_trainer.online.prequential import PrequentialPoint


class Outage:
    """The real client, whose inserts fail while `down` is set."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.down = False

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        return self.client.command(sql, parameters)

    def insert(self, table: str, rows: list[list[Any]], column_names: list[str]) -> None:
        if self.down:
            raise ConnectionError("ClickHouse is down (test)")
        self.client.insert(table, rows, column_names=column_names)


def _point(seq: int) -> PrequentialPoint:
    return PrequentialPoint(seq=seq, stream_ts=datetime(2026, 1, 1, tzinfo=UTC), query="q",
                            item_id=f"i{seq}", score=0.5, predicted="E", teacher_grade="E",
                            truth_grade=None, new_brand=seq % 2 == 0, model_step=seq)


def test_points_and_gates_land_and_an_outage_only_drops_its_own_rows(
    chdb_url: str, tmp_path: Path
) -> None:
    client = Outage(get_client(CommonSettings(clickhouse_url=chdb_url, state_dir=tmp_path)))
    metrics = OnlineMetrics(client, "t_preq", "t_gate", "cross_encoder")
    metrics.write_points([_point(1), _point(2)])
    metrics.write_gate(GateDecision(True, "better", {"val_soft_ce": 0.5,
                                                     "val_teacher_acc": 0.8}, None),
                       step=10, version="2", validation_size=64)
    client.down = True
    metrics.write_points([_point(3)])  # dropped, counted, no exception
    client.down = False
    metrics.write_points([_point(4)])
    seqs = client.client.query("SELECT seq FROM t_preq FINAL ORDER BY seq").result_rows
    assert [r[0] for r in seqs] == [1, 2, 4]
    gate = client.client.query("SELECT accepted, version, validation_size FROM t_gate")
    assert gate.result_rows == [(1, "2", 64)]
    assert metrics.written == 4 and metrics.dropped == 1
