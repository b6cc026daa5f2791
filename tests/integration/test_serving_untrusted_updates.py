"""A model-update event from the topic naming `../../evil/1`, with the sha256 of a complete
model there, is refused (dead-lettered with the reason) and the served version stays."""

from __future__ import annotations

import json
import shutil
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from relstream.core import topics
from relstream.core.kafka_io import EventProducer
from relstream.core.manifest import manifest_sha256, sha256_file
from relstream.core.registry import version_dir
from relstream.core.schemas import ModelUpdate, decode_event
from relstream.core.settings import CommonSettings
from relstream.tools.toy_models import publish_toy_model
from serving.app import create_app
from serving.item_lookup import MemoryItemLookup
from serving.settings import ServingSettings
from tests.integration.kafka_read import read_topic

pytestmark = pytest.mark.integration


def _wait(condition: object, what: str, timeout_s: float = 45.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_a_traversing_model_update_from_kafka_is_refused(
    stack_settings: CommonSettings, examples_dir: Path, tmp_path: Path
) -> None:
    root = tmp_path / "reg" / "root"
    publish_toy_model(root, "cross_encoder", seed=1)
    other = tmp_path / "other"
    publish_toy_model(other, "cross_encoder", seed=5)
    shutil.copytree(other / "cross_encoder" / "1", tmp_path / "reg" / "evil" / "1")
    evil_sha = sha256_file(tmp_path / "reg" / "evil" / "1" / "manifest.json")
    settings = ServingSettings(**{**stack_settings.model_dump(), "registry": root},
                               poll_interval_s=0, consume_model_updates=True,
                               metrics_enabled=False)
    producer = EventProducer(settings, client_id="attacker")
    catalog = MemoryItemLookup.from_jsonl(examples_dir / "catalog.jsonl")
    with TestClient(create_app(settings, items=catalog)) as http:
        holder = http.app.state.serving.pool.holders()[0]  # type: ignore[attr-defined]
        assert holder.version == "1"
        evil = {"type": "model_update", "ts": datetime.now(UTC).isoformat(),
                "event_id": uuid.uuid4().hex, "name": "cross_encoder",
                "version": "../../evil/1", "artifact_uri": "x", "sha256": evil_sha}
        producer.send_raw(topics.MODEL_UPDATES, json.dumps(evil).encode(),
                          key="cross_encoder")
        v2 = publish_toy_model(root, "cross_encoder", seed=2)
        # A good update after it on the same (single-partition) topic: once v2 is served,
        # the evil event has been handled.
        producer.send(topics.MODEL_UPDATES, ModelUpdate(
            ts=datetime.now(UTC), event_id=uuid.uuid4().hex, name="cross_encoder",
            version=v2, artifact_uri=str(root),
            sha256=manifest_sha256(version_dir(root, "cross_encoder", v2))), key="cross_encoder")
        producer.flush()
        _wait(lambda: holder.version == v2, "the good update after the evil one")
        assert [v for v, _, _ in holder.stats.history] == ["1", v2]  # never the evil one
    producer.close()
    letters = [decode_event(r.value) for r in read_topic(stack_settings, topics.DEAD_LETTER)]
    refused = [d for d in letters if "../../evil/1" in d.original]
    assert len(refused) == 1 and "version" in refused[0].reason
