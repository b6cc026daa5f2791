"""The A/B SQL on embedded ClickHouse: query normalisation matches Python's for non-ASCII
text, and a reused request_id counts once, coherently, with a warning."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from relstream.core.clickhouse import LockedClient, get_client
from relstream.core.schemas import normalize_query
from relstream.core.settings import CommonSettings
from serving.ab_report import compute_report
from serving.ab_sql import NORMALIZE, per_request_sql
from serving.metrics_writer import REQUEST_COLUMNS, RequestRow, ddl

T0 = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def client(chdb_url: str, tmp_path: Path) -> LockedClient:
    return get_client(CommonSettings(clickhouse_url=chdb_url, state_dir=tmp_path))


def _tables(client: LockedClient) -> tuple[str, str]:
    suffix = uuid.uuid4().hex[:8]
    requests, feedback = f"req_{suffix}", f"fb_{suffix}"
    for statement in ddl(requests, feedback):
        client.command(statement)
    return requests, feedback


def _row(request_id: str, user: str, query: str, items: list[str], scores: list[float],
         at: int = 0) -> list[object]:
    return RequestRow(request_id=request_id, experiment="exp", user_id=user, arm="A",
                      model_name="m", model_version="1", query=query, item_ids=items,
                      scores=list(scores), latency_ms=1.0,
                      ts=T0 + timedelta(seconds=at)).values()


@pytest.mark.parametrize("query", [
    "ÉCRAN", "  Écran\u00a0 PLAT ", "straße\tÜBER\u3000ALLES", "Ärger\u2003\u2003x",
    "plain ascii  Query", "ΣΊΣΥΦΟΣ", "a\x0bb\x1cc\x85d",
])
def test_sql_normalisation_equals_python(client: LockedClient, query: str) -> None:
    sql = f"SELECT {NORMALIZE.format(col='{q:String}')}"
    assert client.query(sql, parameters={"q": query}).result_rows[0][0] == \
        normalize_query(query)


def test_a_non_ascii_query_meets_its_label(client: LockedClient, tmp_path: Path) -> None:
    requests, feedback = _tables(client)
    client.insert(requests, [_row("r1", "u1", "ÉCRAN", ["a", "b"], [0.9, 0.1]),
                             _row("r2", "u2", "Écran\u00a0Plat", ["c", "d"], [0.8, 0.2])],
                  REQUEST_COLUMNS)
    labels = tmp_path / "labels.jsonl"
    labels.write_text("".join(json.dumps(x) + "\n" for x in [
        {"query": "écran", "item_id": "a", "grade": "E"},
        {"query": "écran", "item_id": "b", "grade": "I"},
        {"query": "écran plat", "item_id": "c", "grade": "E"},
        {"query": "écran plat", "item_id": "d", "grade": "S"}]))
    report = compute_report(client, "exp", requests_table=requests, feedback_table=feedback,
                            labels=labels, min_requests=1)
    (arm,) = report.arms
    assert arm["ndcg@10"] == pytest.approx(1.0)


def test_a_reused_request_id_counts_once_coherently_with_a_warning(
    client: LockedClient
) -> None:
    requests, feedback = _tables(client)
    client.insert(requests, [
        _row("dup", "u1", "red shoe", ["a", "b"], [0.9, 0.1], at=0),
        _row("dup", "u2", "blue hat", ["c", "d", "e"], [0.1, 0.2, 0.3], at=5),
        _row("ok", "u3", "red shoe", ["a"], [0.5], at=1),
        _row("ok", "u3", "red shoe", ["a"], [0.5], at=2),  # a retry: same content
    ], REQUEST_COLUMNS)
    rows = client.query(
        f"SELECT request_id, user_id, query, item_ids, positions, variants FROM "
        f"({per_request_sql(requests, feedback, 'exp')}) ORDER BY request_id",
        parameters={"exp": "exp"}).result_rows
    assert rows == [("dup", "u2", "blue hat", ["c", "d", "e"], [3, 2, 1], 2),
                    ("ok", "u3", "red shoe", ["a"], [1], 1)]
    report = compute_report(client, "exp", requests_table=requests, feedback_table=feedback,
                            min_requests=1)
    assert report.arms[0]["requests"] == 2
    assert any("1 request_id(s) were served with more than one" in w for w in report.warnings)
