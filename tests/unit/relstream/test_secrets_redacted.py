"""Passwords in service URLs stay out of errors, logs and `stack status`."""

from __future__ import annotations

import logging
import traceback
from pathlib import Path

import pytest

from feature_store.config import redis_connection_string
from feature_store.errors import FeatureStoreError
from relstream.cli import main
from relstream.core.clickhouse import get_client
from relstream.core.errors import RelstreamError
from relstream.core.settings import CommonSettings, redact_url, scrub


def test_clickhouse_connect_error_and_log_carry_no_password(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = CommonSettings(clickhouse_url="http://u:s3cret@127.0.0.1:1", state_dir=tmp_path)
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(RelstreamError) as info:
            get_client(settings)
        logging.getLogger("worker").exception("ClickHouse failed")  # what a worker logs
    message = str(info.value)
    assert "127.0.0.1:1" in message and "u:***@" in message
    printed = "".join(traceback.format_exception(info.value))
    assert "s3cret" not in message and "s3cret" not in printed
    assert caplog.records and "s3cret" not in caplog.text


def test_stack_status_prints_no_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RELSTREAM_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("RELSTREAM_KAFKA_BOOTSTRAP", "127.0.0.1:1")
    monkeypatch.setenv("RELSTREAM_CLICKHOUSE_URL", "http://u:s3cret@127.0.0.1:1/db")
    monkeypatch.setenv("RELSTREAM_REDIS_URL", "redis://:r3dispw@127.0.0.1:1/0")
    main(["stack", "status"])
    out = capsys.readouterr().out
    assert "clickhouse" in out and "http://u:***@127.0.0.1:1/db" in out
    assert "redis://:***@127.0.0.1:1/0" in out
    assert "s3cret" not in out and "r3dispw" not in out


def test_redaction_of_urls_and_text() -> None:
    assert redact_url("http://u:p%40ss@h:8123/db") == "http://u:***@h:8123/db"
    assert redact_url("http://h:8123/db?user=u&password=x1") == \
        "http://h:8123/db?user=u&password=***"
    assert redact_url("chdb:///var/lib/x") == "chdb:///var/lib/x"
    assert redact_url("127.0.0.1:9092") == "127.0.0.1:9092"
    assert scrub("failed for p@ss and p%40ss", "http://u:p%40ss@h") == "failed for *** and ***"
    with pytest.raises(FeatureStoreError) as info:
        redis_connection_string("redis://:r3dispw@host:6379/notanumber")
    assert "r3dispw" not in str(info.value) and ":***@host" in str(info.value)
