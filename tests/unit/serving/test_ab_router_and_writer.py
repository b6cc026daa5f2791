"""A/B bucketing is stable and follows shares; the metrics writer never blocks or raises."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from relstream.core.clickhouse import get_client
from relstream.core.settings import CommonSettings
from serving.ab_router import ABConfigError, ABRouter, bucket, load_config
from serving.api_models import ABConfig, ArmConfig
from serving.metrics_writer import MetricsWriter, RequestRow, served_positions


def _config(salt: str = "exp1", shares: tuple[float, float] = (0.5, 0.5)) -> ABConfig:
    return ABConfig(salt=salt, arms=[
        ArmConfig(name="A", model="m", version="1", share=shares[0]),
        ArmConfig(name="B", model="m", share=shares[1]),
    ], default_arm="A")


def test_bucket_is_stable_and_uniform() -> None:
    assert bucket("u1", "s") == bucket("u1", "s")
    assert bucket("u1", "s") != bucket("u1", "t")
    values = [bucket(f"user-{k}", "s") for k in range(4000)]
    assert all(0 <= v < 1 for v in values)
    assert abs(sum(v < 0.5 for v in values) / 4000 - 0.5) < 0.05


def test_router_follows_shares_and_keeps_users_in_their_arm() -> None:
    router = ABRouter(_config(shares=(0.2, 0.8)))
    arms = [router.arm_for(f"user-{k}").name for k in range(5000)]
    assert abs(arms.count("A") / 5000 - 0.2) < 0.03
    assert all(router.arm_for(f"user-{k}").name == arms[k] for k in range(200))
    assert router.arm_for(None).name == "A" and router.arm_for("").name == "A"
    router.set_config(_config(salt="exp2", shares=(0.2, 0.8)))
    moved = sum(router.arm_for(f"user-{k}").name != arms[k] for k in range(5000))
    assert moved > 500  # a new salt reshuffles users
    router.set_config(_config(shares=(0.0, 1.0)))
    assert {router.arm_for(f"user-{k}").name for k in range(500)} == {"B"}


def test_config_file_errors_name_the_problem(tmp_path: Path) -> None:
    path = tmp_path / "ab.json"
    path.write_text(json.dumps({"arms": [{"name": "A", "model": "m", "share": 1}],
                                "default_arm": "Z"}))
    with pytest.raises(ABConfigError, match="default_arm"):
        load_config(path)
    path.write_text(json.dumps(_config().model_dump()))
    assert load_config(path) == _config()


def test_served_positions_put_unknown_items_last() -> None:
    assert served_positions([0.2, None, 0.9, 0.2]) == [2, 4, 1, 3]


def _row(k: int) -> RequestRow:
    return RequestRow(
        request_id=f"r{k}", experiment="e", user_id="u", arm="A", model_name="m",
        model_version="1", query="q", item_ids=["a"], scores=[0.5], latency_ms=1.0,
        ts=datetime.now(UTC),
    )


def test_writer_buffers_then_drops_when_clickhouse_is_down(tmp_path: Path) -> None:
    # A real connection attempt to a port where nothing listens.
    down = CommonSettings(clickhouse_url="http://127.0.0.1:9/default", state_dir=tmp_path)
    writer = MetricsWriter(lambda: get_client(down), batch_size=10, flush_s=0.05,
                           buffer_max=25)
    for k in range(40):
        writer.submit(_row(k))  # never raises, never waits on ClickHouse
    assert writer.buffered == 25 and writer.dropped == 15
    assert not writer.flush()  # the flush fails and keeps every buffered row
    assert writer.written == 0 and writer.buffered == 25 and writer.failures == 1
    assert "ClickHouse" in writer.last_error
    writer.start()  # the background thread retries without raising; close gives up
    writer.close(timeout_s=0.5)
    assert writer.written == 0 and writer.buffered == 25
