"""Started before the broker, the stream processor, serving's followers and the teacher
worker wait for it (one log line per try, no traceback) and start working once it is up."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient

from relstream.core import topics
from relstream.core.kafka_io import EventProducer
from relstream.core.manifest import manifest_sha256
from relstream.core.registry import version_dir
from relstream.core.schemas import ModelUpdate
from relstream.core.settings import CommonSettings
from relstream.stack import LocalStack, free_port
from relstream.tools.toy_models import publish_toy_model
from serving.model_pool import ModelPool
from serving.stream_followers import StreamFollowers, model_update_handler
from tests.conftest import settings_env
from tests.integration.test_stream_processor import start_worker, stop, wait_until

pytestmark = pytest.mark.integration


def test_processor_and_followers_wait_for_a_late_broker(tmp_path: Path) -> None:
    settings = CommonSettings(kafka_bootstrap=f"127.0.0.1:{free_port()}",
                              state_dir=tmp_path / "state", topic_prefix="late-",
                              clickhouse_url="", redis_url="")
    root = tmp_path / "registry"
    publish_toy_model(root, "cross_encoder", seed=1)
    pool = ModelPool(root)
    holder = pool.holder("cross_encoder")
    followers = StreamFollowers(settings)
    followers.follow(topics.MODEL_UPDATES, "serving-models", model_update_handler(pool))
    log_path = tmp_path / "processor.log"
    proc = start_worker(settings_env(settings), log_path)
    stack = LocalStack(settings)
    try:
        def waiting() -> bool:
            assert proc.poll() is None, log_path.read_text()[-3000:]
            return log_path.read_text().count("stream processor: Kafka broker") >= 3
        wait_until(waiting, 60, "three tries of the processor")
        text = log_path.read_text()
        assert "not reachable" in text and "try 3" in text and "Traceback" not in text

        stack.start_kafka()
        admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
        try:
            wait_until(lambda: "late-search-log" in admin.list_topics(), 120,
                       "the processor to create its topics once the broker is up")
        finally:
            admin.close()
        assert proc.poll() is None

        v2 = publish_toy_model(root, "cross_encoder", seed=2)
        producer = EventProducer(settings, client_id="test")
        producer.send(topics.MODEL_UPDATES, ModelUpdate(
            ts=datetime.now(UTC), event_id=uuid.uuid4().hex, name="cross_encoder",
            version=v2, artifact_uri=str(root), sha256=manifest_sha256(
                version_dir(root, "cross_encoder", v2))),
            key="cross_encoder")
        producer.close()
        wait_until(lambda: holder.version == v2, 90, "serving's follower to load v2")
    finally:
        stop(proc)
        followers.close()
        pool.close()
        stack.stop("kafka")
        time.sleep(0.1)


def test_teacher_worker_waits_for_a_late_broker(tmp_path: Path, vllm_teacher: Any) -> None:
    """`relstream teacher run` started before the broker waits (one line per try, no
    traceback), then labels what arrives once the broker is up."""
    import subprocess
    import sys

    from relstream.core.schemas import CatalogItem, LabelRequest, TeacherLabel, decode_event
    from tests.integration.kafka_read import read_topic

    settings = CommonSettings(kafka_bootstrap=f"127.0.0.1:{free_port()}",
                              state_dir=tmp_path / "state", topic_prefix="lateteacher-",
                              clickhouse_url="", redis_url="")
    env = settings_env(settings, RELSTREAM_TEACHER_BACKEND="openai",
                       RELSTREAM_TEACHER_OPENAI_URL=vllm_teacher.url,
                       RELSTREAM_TEACHER_MODEL_DIR=str(vllm_teacher.settings.model_dir()),
                       RELSTREAM_TEACHER_MAX_NEW_TOKENS="24")
    log_path = tmp_path / "teacher.log"
    proc = subprocess.Popen([sys.executable, "-m", "relstream.cli", "teacher", "run"],
                            env=env, stdout=log_path.open("ab"), stderr=subprocess.STDOUT)
    stack = LocalStack(settings)
    try:
        def waiting() -> bool:
            assert proc.poll() is None, log_path.read_text()[-3000:]
            return log_path.read_text().count("teacher worker: Kafka broker") >= 3
        wait_until(waiting, 60, "three tries of the teacher worker")
        assert "Traceback" not in log_path.read_text()

        stack.start_kafka()
        topics.ensure_topics(settings.kafka_client_config(), settings.topic_prefix)
        item = CatalogItem(item_id="sku-1", title="Acme Red Mug", category="Kitchen > Mugs")
        producer = EventProducer(settings, client_id="test")
        producer.send(topics.LABEL_REQUESTS, LabelRequest(
            ts=datetime.now(UTC), event_id="late-1", query="red mug", item_id="sku-1",
            item=item), key="red mug")
        producer.close()

        def labelled() -> bool:
            assert proc.poll() is None, log_path.read_text()[-3000:]
            events = [decode_event(r.value) for r in read_topic(settings, topics.TEACHER_LABELS)]
            return any(isinstance(e, TeacherLabel) for e in events)
        wait_until(labelled, 120, "a label once the broker is up")
    finally:
        stop(proc)
        stack.stop("kafka")
