"""`relstream.tools.demo.learner_replay` replays a run's labels through the continuous
trainer's own code (`init_from_published`, `train_on`, `rehearse`), not a copy of it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from relstream.core.schemas import CatalogItem, TeacherLabel
from relstream.tools.demo import learner_replay
from student_trainer.encoders import load_tokenizer
from student_trainer.online.checkpoint import save_checkpoint
from student_trainer.online.settings import OnlineSettings
from student_trainer.online.trainer import LabelRecord, OnlineTrainer


@pytest.fixture
def tokenizer():  # type: ignore[no-untyped-def]
    return load_tokenizer()


def _run_dir(run: Path, labels: list[TeacherLabel], catalog: dict[str, CatalogItem],
             tokenizer: object) -> int:
    """A demo run's leftovers: registry with version 1, the trainer's checkpoint after more
    labels, and a world with ground truth. Returns how many labels the checkpoint trained."""
    settings = OnlineSettings(  # type: ignore[call-arg]
        registry=run / "registry", state_dir=run / "state" / "trainer", online_encoder="tiny",
        online_max_length=32, online_batch_size=8, online_holdout_every=3,
        online_min_validation=3, online_gate_every_labels=20, online_lr=1e-3,
        online_head_lr=1e-2)
    stream = [LabelRecord(lb.model_copy(update={"query": f"{lb.query} v{k}",
                                                "event_id": f"{lb.event_id}-{k}"}),
                          "teacher-labels/0", k * len(labels) + n)
              for k in range(6) for n, lb in enumerate(labels)]
    trainer = OnlineTrainer(settings, tokenizer)
    trainer.init_fresh()
    trainer.handle(stream[:24], catalog)
    decision = trainer.maybe_gate(force=True)
    assert decision is not None and decision.accepted, decision
    trainer.handle(stream[24:], catalog)
    save_checkpoint(settings.checkpoint_path(), trainer.state_dict())

    world = run / "world"
    world.mkdir()
    (world / "catalog.jsonl").write_text(
        "".join(item.model_dump_json() + "\n" for item in catalog.values()))
    (world / "labels.jsonl").write_text("".join(
        json.dumps({"query": lb.query, "item_id": lb.item_id, "grade": lb.grade}) + "\n"
        for lb in labels))
    queries = sorted({lb.query for lb in labels})
    brand = "black stride running shoes men"  # one E item and three others
    (world / "scenario.json").write_text(json.dumps({"new_brand_queries": [brand]}))
    (world / "splits.json").write_text(json.dumps(
        {"train": queries, "validation": queries[:1], "test": queries}))
    return trainer.counters["labels_trained"]


def test_replay_trains_version_1_on_the_stream_with_and_without_rehearsal(
    tmp_path: Path, labels: list[TeacherLabel], catalog: dict[str, CatalogItem], tokenizer,
) -> None:
    trained = _run_dir(tmp_path, labels, catalog, tokenizer)
    base, rehearsed = learner_replay.main(tmp_path, ["lr=1e-3", "lr=1e-3;reh=2;bs=8"],
                                          threads=1)
    batches = {16: math.ceil(trained / 16), 8: math.ceil(trained / 8)}
    assert base["rows"][-1]["labels"] == rehearsed["rows"][-1]["labels"] == trained
    assert base["rows"][-1]["steps"] == batches[16]
    assert rehearsed["rows"][-1]["steps"] == 3 * batches[8]  # 2 rehearsal steps per step
    for result in (base, rehearsed):
        last = result["rows"][-1]
        assert 0.0 <= last["brand_auc"] <= 1.0 and 0.0 <= last["prelaunch_auc"] <= 1.0
        # trained: the validation loss against the teacher moved away from version 1's
        assert last["val_soft_ce"] != result["v1"]["val_soft_ce"]
