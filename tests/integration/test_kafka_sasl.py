"""Every client on a broker that demands SASL: the settings' credentials get in (kafka-python
producer, consumer and admin, and Faust's aiokafka driver), wrong or missing ones do not."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest

from relstream.core.broker_wait import broker_problem
from relstream.core.kafka_io import EventProducer
from relstream.core.settings import CommonSettings, default_cache_dir
from relstream.core.topics import SEARCH_LOG, ensure_topics, topic_name
from relstream.stack import LocalStack, StackError, free_port
from relstream.stack.kafka_broker import local_protocol
from tests.integration.kafka_read import read_topic

pytestmark = pytest.mark.integration

PASSWORD = "s3cret-sasl-pw"


@pytest.fixture(scope="module")
def sasl_settings(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    settings = CommonSettings(
        kafka_bootstrap=f"127.0.0.1:{free_port()}", state_dir=tmp_path_factory.mktemp("sasl"),
        cache_dir=Path(os.environ.get("RELSTREAM_CACHE_DIR", default_cache_dir())),
        clickhouse_url="", redis_url="", kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_username="relstream", kafka_sasl_password=PASSWORD, topic_prefix="sasl-",
    )
    stack = LocalStack(settings)
    stack.start_kafka()  # its readiness check already needs the credentials
    try:
        yield settings
    finally:
        stack.stop("kafka")


def test_clients_with_the_credentials_produce_and_consume(sasl_settings: CommonSettings
                                                          ) -> None:
    s = sasl_settings
    ensure_topics(s.kafka_client_config(), s.topic_prefix)
    producer = EventProducer(s, client_id="sasl-test")
    for i in range(5):
        producer.send_raw(SEARCH_LOG, f"event {i}".encode(), key=str(i))
    producer.flush()
    producer.close()
    got = sorted(r.value for r in read_topic(s, SEARCH_LOG))
    assert got == [f"event {i}".encode() for i in range(5)]
    config = s.state_dir / "kafka" / "server.properties"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600  # it holds the password
    assert PASSWORD not in repr(s) and PASSWORD not in str(s.model_dump())


def test_faust_driver_gets_in_with_the_same_settings(sasl_settings: CommonSettings) -> None:
    from aiokafka import AIOKafkaProducer
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    s = sasl_settings
    auth = credentials_to_aiokafka_auth(s.faust_credentials())
    assert auth["security_protocol"] == "SASL_PLAINTEXT"

    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=s.kafka_bootstrap, **auth)
        await producer.start()
        try:
            await producer.send_and_wait(topic_name(SEARCH_LOG, s.topic_prefix), b"from faust",
                                         key=b"k")
        finally:
            await producer.stop()

    asyncio.run(send())
    assert b"from faust" in [r.value for r in read_topic(s, SEARCH_LOG)]


def test_missing_or_wrong_credentials_are_refused(sasl_settings: CommonSettings) -> None:
    s = sasl_settings
    plain = {"bootstrap_servers": s.kafka_bootstrap}
    wrong = s.model_copy(update={"kafka_sasl_password": type(s.kafka_sasl_password)("nope")})
    assert broker_problem(plain, timeout_s=3) is not None
    assert broker_problem(wrong.kafka_client_config(), timeout_s=3) is not None
    assert broker_problem(s.kafka_client_config(), timeout_s=3) is None


def test_the_local_stack_refuses_what_it_cannot_run(tmp_path: Path) -> None:
    for update in ({"kafka_security_protocol": "SASL_SSL"},
                   {"kafka_security_protocol": "SASL_PLAINTEXT", "kafka_sasl_username": ""}):
        fields = {"kafka_sasl_username": "u", "kafka_sasl_password": "p", **update}
        settings = CommonSettings(kafka_bootstrap="127.0.0.1:1", state_dir=tmp_path, **fields)
        with pytest.raises(StackError, match="SASL|PLAINTEXT"):
            local_protocol(settings)
