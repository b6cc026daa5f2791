"""Session-wide real services for the tests: an Apache Kafka broker and an embedded chdb.

The broker is started once per test session on a free loopback port with its own state
directory (so a developer's `relstream stack up` is never touched) and stopped at the end.
Each test gets `stack_settings`: that broker, a unique topic prefix with every topic
created, a fresh state dir, and the one chdb path this process may open.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from relstream.settings import CommonSettings, default_cache_dir
from relstream.stack import LocalStack, free_port

EXAMPLES = Path(__file__).resolve().parent / "fixtures" / "contract_examples"
"""A copy of `../shared/contracts/examples` (a unit test keeps it identical)."""


@pytest.fixture(scope="session")
def examples_dir() -> Path:
    return EXAMPLES


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CommonSettings]:
    """A real Kafka 3.9 broker (KRaft) for the whole session."""
    state = tmp_path_factory.mktemp("stack")
    settings = CommonSettings(
        kafka_bootstrap=f"127.0.0.1:{free_port()}", state_dir=state,
        cache_dir=Path(os.environ.get("RELSTREAM_CACHE_DIR", default_cache_dir())),
        clickhouse_url="", redis_url="",
    )
    stack = LocalStack(settings)
    stack.start_kafka()
    try:
        yield settings
    finally:
        stack.stop("kafka")


@pytest.fixture(scope="session")
def chdb_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The one embedded ClickHouse path this test process may open."""
    return f"chdb://{tmp_path_factory.mktemp('chdb')}"


@pytest.fixture
def stack_settings(
    kafka_broker: CommonSettings, chdb_url: str, tmp_path: Path
) -> CommonSettings:
    """Settings for one test: the session broker, fresh topics, fresh state dir."""
    from streams.topics import ensure_topics

    settings = kafka_broker.model_copy(update={
        "topic_prefix": f"t{uuid.uuid4().hex[:10]}-",
        "state_dir": tmp_path / "state",
        "clickhouse_url": chdb_url,
    })
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    ensure_topics(settings.kafka_bootstrap, settings.topic_prefix)
    return settings


def settings_env(settings: CommonSettings, **extra: str) -> dict[str, str]:
    """Environment for a subprocess that should use `settings` (a separate chdb path)."""
    env = dict(os.environ)
    env.update({
        "RELSTREAM_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "RELSTREAM_TOPIC_PREFIX": settings.topic_prefix,
        "RELSTREAM_STATE_DIR": str(settings.state_dir),
        "RELSTREAM_CACHE_DIR": str(settings.cache_dir),
        "RELSTREAM_CLICKHOUSE_URL": "",
        "RELSTREAM_REDIS_URL": settings.redis_url,
    })
    env.update(extra)
    return env


@pytest.fixture
def subprocess_env(stack_settings: CommonSettings):  # type: ignore[no-untyped-def]
    """A function giving the env for a worker subprocess of this test's settings."""
    return lambda **extra: settings_env(stack_settings, **extra)
