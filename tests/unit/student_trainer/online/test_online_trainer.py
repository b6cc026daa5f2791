"""The incremental trainer without Kafka: test-then-train, hold-out, gate and publish,
and a checkpoint that resumes bit for bit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from relstream.core import registry
from relstream.core.schemas import CatalogItem, TeacherLabel
from student_trainer.encoders import load_tokenizer
from student_trainer.online import publisher
from student_trainer.online.publisher import STUDENT_FILE
from student_trainer.online.settings import OnlineSettings
from student_trainer.online.trainer import LabelRecord, OnlineTrainer, holdout, validation_metrics


def _settings(tmp_path: Path, **extra: object) -> OnlineSettings:
    base = dict(state_dir=tmp_path / "state", online_encoder="tiny", online_max_length=32,
                online_batch_size=8, online_buffer_size=64, online_holdout_every=3,
                online_min_validation=5, online_gate_every_labels=40,
                online_lr=1e-3, online_head_lr=1e-2, online_tolerance=0.05)
    base.update(extra)
    return OnlineSettings(**base)  # type: ignore[arg-type]


def _stream(labels: list[TeacherLabel], copies: int) -> list[LabelRecord]:
    """The hand-made labels, repeated with query variants, as records of one partition."""
    out = []
    for k in range(copies):
        for label in labels:
            variant = label.model_copy(update={"query": f"{label.query} v{k}",
                                               "event_id": f"{label.event_id}-{k}"})
            out.append(LabelRecord(variant, "teacher-labels/0", len(out)))
    return out


def _weights(trainer: OnlineTrainer) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in trainer.student.state_dict().items()}


@pytest.fixture
def tokenizer():  # type: ignore[no-untyped-def]
    return load_tokenizer()


def test_each_label_is_scored_before_training_and_accounted_once(
    tmp_path: Path, labels: list[TeacherLabel], catalog: dict[str, CatalogItem], tokenizer,
) -> None:
    trainer = OnlineTrainer(_settings(tmp_path), tokenizer, points_path=tmp_path / "p.jsonl")
    trainer.init_fresh()
    records = _stream(labels, 3)
    unknown = LabelRecord(labels[0].model_copy(update={"item_id": "nope"}), "teacher-labels/0",
                          len(records))
    before = _weights(trainer)
    trained = trainer.handle([*records, unknown], catalog)
    c = trainer.counters
    assert c["labels_seen"] == len(records) + 1
    assert c["labels_skipped"] == 1
    assert c["labels_trained"] == trained
    assert c["labels_trained"] + c["labels_held_out"] + c["labels_skipped"] == c["labels_seen"]
    held = sum(holdout(r.label.pair_key, 3) for r in records)
    assert c["labels_held_out"] == held == len(trainer.validation) > 0
    assert trainer.offsets == {"teacher-labels/0": len(records) + 1}
    assert trainer.prequential.count == len(records)
    # the first batch was scored by the untrained model, every point at model step 0
    assert all(p.model_step == 0 for p in trainer.prequential.window)
    assert any(not torch.equal(before[k], v) for k, v in trainer.student.state_dict().items())
    assert len(trainer.buffer) == trained


def _published_v1(settings: OnlineSettings, labels: list[TeacherLabel],
                  catalog: dict[str, CatalogItem], tokenizer: Any) -> OnlineTrainer:
    """A fresh trainer that has trained on four batches and published version 1."""
    trainer = OnlineTrainer(settings, tokenizer)
    trainer.init_fresh()
    for chunk in range(0, 96, 24):
        trainer.handle(_stream(labels, 12)[chunk:chunk + 24], catalog)
    decision = trainer.maybe_gate()
    assert decision is not None and decision.accepted, decision
    return trainer


def test_gate_publishes_a_verified_version_then_rejects_a_worse_one(
    tmp_path: Path, labels: list[TeacherLabel], catalog: dict[str, CatalogItem], tokenizer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = _settings(tmp_path)
    trainer = _published_v1(settings, labels, catalog, tokenizer)
    root = settings.registry_dir()
    assert registry.list_versions(root, "cross_encoder") == ["1"]
    vdir = registry.version_dir(root, "cross_encoder", "1")
    registry.verify(vdir)
    manifest = registry.load_manifest(root, "cross_encoder", "1")
    assert STUDENT_FILE in manifest.files and "model.onnx" in manifest.files
    assert manifest.training_window["labels_trained"] == trainer.counters["labels_trained"]
    assert "val_soft_ce" in manifest.metrics
    assert not [p for p in root.iterdir() if p.name.startswith(registry.TMP_PREFIX)]
    # Sabotage the candidate: it must be rejected, with the reason, and nothing published
    # or even exported (the export is half a gate's time; a rejected candidate skips it).
    with torch.no_grad():
        trainer.student.grade_head.bias.copy_(torch.tensor([-20.0, -20.0, -20.0, 20.0]))
    trainer.cadence.note(1)
    exported: list[str] = []
    real_stage = publisher.stage_candidate

    def counted_stage(*args: Any, **kwargs: Any) -> Any:
        exported.append(str(args[1]))
        return real_stage(*args, **kwargs)

    monkeypatch.setattr(publisher, "stage_candidate", counted_stage)
    decision = trainer.maybe_gate(force=True)
    assert decision is not None and not decision.accepted
    assert "worse than the published" in decision.reason
    assert exported == []
    assert registry.list_versions(root, "cross_encoder") == ["1"]
    assert trainer.counters["rejected"] == 1
    # A fresh trainer without a checkpoint starts from the published version.
    again = OnlineTrainer(settings, tokenizer)
    assert again.init_fresh() == "published version 1"
    assert again.published_version == "1"


def _head_bias_for(trainer: OnlineTrainer, target: float) -> None:
    """Shift the candidate's grade-head bias (E up, I down) until its validation soft CE
    is `target`, by bisection: CE is convex along the shift and grows past `target`."""
    head = trainer.student.grade_head.bias
    start = head.detach().clone()
    direction = torch.tensor([1.0, 0.0, 0.0, -1.0])
    val = trainer.validation.items()

    def ce(alpha: float) -> float:
        with torch.no_grad():
            head.copy_(start + alpha * direction)
        return validation_metrics(trainer.student, trainer.tokenizer, val)["val_soft_ce"]

    lo, hi = 0.0, 1.0
    while ce(hi) < target:
        lo, hi = hi, hi * 2
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if ce(mid) < target else (lo, mid)
    ce(hi)


def test_gate_does_not_ratchet_down_through_small_losses(
    tmp_path: Path, labels: list[TeacherLabel], catalog: dict[str, CatalogItem], tokenizer,
) -> None:
    """Each candidate within the tolerance of the published version, but the second one
    more than the tolerance worse than the best version so far: the second is refused."""
    settings = _settings(tmp_path, online_tolerance=0.05)
    trainer = _published_v1(settings, labels, catalog, tokenizer)
    v1 = validation_metrics(trainer.published_student, tokenizer,  # type: ignore[arg-type]
                            trainer.validation.items())["val_soft_ce"]
    _head_bias_for(trainer, v1 + 0.04)
    trainer.cadence.note(1)
    second = trainer.maybe_gate(force=True)
    assert second is not None and second.accepted, second.reason
    assert trainer.published_version == "2" and trainer.best_version == "1"
    assert trainer.state_dict()["best_version"] == "1"
    _head_bias_for(trainer, v1 + 0.08)  # 0.04 worse than v2 (passes), 0.08 worse than v1
    trainer.cadence.note(1)
    third = trainer.maybe_gate(force=True)
    assert third is not None and not third.accepted
    assert "best version published so far (v1:" in third.reason, third.reason
    assert registry.list_versions(settings.registry_dir(), "cross_encoder") == ["1", "2"]
    # a restarted trainer keeps gating against v1
    again = OnlineTrainer(settings, tokenizer)
    again.restore(trainer.state_dict())
    assert again.best_version == "1" and again.best_student is not None
    # a candidate as good as v1 (only the head bias moved since v1) is the best itself
    assert trainer.best_student is not None
    with torch.no_grad():
        trainer.student.grade_head.bias.copy_(trainer.best_student.grade_head.bias)
    trainer.cadence.note(1)
    fourth = trainer.maybe_gate(force=True)
    assert fourth is not None and fourth.accepted, fourth.reason
    assert trainer.published_version == "3" and trainer.best_version is None


@pytest.mark.parametrize("ema", [0.0, 0.9])
def test_restored_checkpoint_continues_exactly_like_an_uninterrupted_run(
    tmp_path: Path, labels: list[TeacherLabel], catalog: dict[str, CatalogItem], tokenizer,
    ema: float,
) -> None:
    from student_trainer.online.checkpoint import load_checkpoint, save_checkpoint

    records = _stream(labels, 6)
    first, second = records[:20], records[20:]
    straight = OnlineTrainer(_settings(tmp_path / "a", online_ema_decay=ema), tokenizer)
    straight.init_fresh()
    straight.handle(first, catalog)
    straight.handle(second, catalog)

    crashed = OnlineTrainer(_settings(tmp_path / "b", online_ema_decay=ema), tokenizer)
    crashed.init_fresh()
    crashed.handle(first, catalog)
    save_checkpoint(tmp_path / "ck", crashed.state_dict())
    crashed.handle(second[:7], catalog)  # work after the checkpoint, lost in the "crash"
    resumed = OnlineTrainer(_settings(tmp_path / "b", online_ema_decay=ema), tokenizer)
    state = load_checkpoint(tmp_path / "ck")
    assert state is not None
    resumed.restore(state)
    assert resumed.offsets == {"teacher-labels/0": 20}
    resumed.handle(second, catalog)

    assert resumed.counters == straight.counters
    assert resumed.offsets == straight.offsets
    for key, value in straight.student.state_dict().items():
        assert torch.equal(value, resumed.student.state_dict()[key]), key
    for key, value in straight.scorer.state_dict().items():
        assert torch.equal(value, resumed.scorer.state_dict()[key]), key
    if ema:
        assert straight.scorer is straight.ema
        assert any(not torch.equal(v, straight.student.state_dict()[k])
                   for k, v in straight.ema.state_dict().items())


def test_rehearsal_spends_a_bounded_credit_and_resumes_exactly(
    tmp_path: Path, labels: list[TeacherLabel], catalog: dict[str, CatalogItem], tokenizer,
) -> None:
    """Idle-time rehearsal: at most `online_rehearsal_ratio` steps per new-label step (capped
    at 4 steps' worth), no label consumed, and the recent labels and credit are in the
    checkpoint, so a restart rehearses exactly what the uninterrupted run does."""
    from student_trainer.online.checkpoint import load_checkpoint, save_checkpoint

    def settings(where: str) -> OnlineSettings:
        return _settings(tmp_path / where, online_rehearsal_recent=16,
                         online_rehearsal_ratio=1.5)

    off = OnlineTrainer(_settings(tmp_path / "off"), tokenizer)
    off.init_fresh()
    off.handle(_stream(labels, 2), catalog)
    assert not off.rehearse()  # rehearsal off: the trainer only waits

    records = _stream(labels, 6)
    first, second = records[:20], records[20:]
    straight = OnlineTrainer(settings("a"), tokenizer)
    straight.init_fresh()
    assert not straight.rehearse()  # nothing learnt yet, nothing to rehearse
    straight.handle(first, catalog)
    steps, offsets, trained = (straight.counters["steps"], dict(straight.offsets),
                               straight.counters["labels_trained"])
    assert steps == 2  # 20 labels, 1 in 3 held out: 13-14 trained, 2 steps of up to 8
    rehearsed = 0
    while straight.rehearse():
        rehearsed += 1
    assert rehearsed == 3  # 2 steps x 1.5
    assert straight.counters["rehearsal_steps"] == 3
    assert straight.counters["steps"] == steps + 3
    assert straight.offsets == offsets and straight.counters["labels_trained"] == trained
    assert len(straight.recent or []) == trained
    straight.handle(second, catalog)
    straight.rehearse()

    crashed = OnlineTrainer(settings("b"), tokenizer)
    crashed.init_fresh()
    crashed.handle(first, catalog)
    while crashed.rehearse():
        pass
    save_checkpoint(tmp_path / "ck", crashed.state_dict())
    crashed.handle(second[:7], catalog)  # lost in the "crash"
    resumed = OnlineTrainer(settings("b"), tokenizer)
    state = load_checkpoint(tmp_path / "ck")
    assert state is not None
    resumed.restore(state)
    resumed.handle(second, catalog)
    resumed.rehearse()
    assert resumed.counters == straight.counters
    assert resumed.rehearsal_credit == straight.rehearsal_credit
    for key, value in straight.student.state_dict().items():
        assert torch.equal(value, resumed.student.state_dict()[key]), key


def test_a_label_delivered_twice_trains_once(
    tmp_path: Path, labels: list[TeacherLabel], catalog: dict[str, CatalogItem], tokenizer,
) -> None:
    """A teacher worker that relabels a batch after a crash sends the same event ids again:
    the trainer drops the repeats, also after a restart from its checkpoint."""
    trainer = OnlineTrainer(_settings(tmp_path), tokenizer, points_path=tmp_path / "p.jsonl")
    trainer.init_fresh()
    records = _stream(labels, 2)
    first = trainer.handle(records, catalog)
    again = [LabelRecord(r.label, r.tp, len(records) + k) for k, r in enumerate(records)]
    restored = OnlineTrainer(_settings(tmp_path), tokenizer, points_path=tmp_path / "q.jsonl")
    restored.restore(trainer.state_dict())
    assert restored.handle(again, catalog) == 0
    c = restored.counters
    assert c["labels_duplicate"] == len(records)
    assert c["labels_trained"] == first
    assert c["labels_seen"] == 2 * len(records)
    assert restored.offsets == {"teacher-labels/0": 2 * len(records)}
