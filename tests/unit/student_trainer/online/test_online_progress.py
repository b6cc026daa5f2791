"""The continuous trainer's progress line: labels, steps, loss and the next gate, on a
timer (never per step), from a real tiny trainer fed real labels."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from relstream.core.schemas import CatalogItem, TeacherLabel
from student_trainer.encoders import load_tokenizer
from student_trainer.online.progress import NextGate, ProgressReporter, progress_line
from student_trainer.online.settings import OnlineSettings
from student_trainer.online.trainer import LabelRecord, OnlineTrainer
from tests.conftest import ManualClock


def _records(labels: list[TeacherLabel], copies: int, start: int = 0) -> list[LabelRecord]:
    out = []
    for k in range(start, start + copies):
        for label in labels:
            variant = label.model_copy(update={"query": f"{label.query} v{k}",
                                               "event_id": f"{label.event_id}-{k}"})
            out.append(LabelRecord(variant, "teacher-labels/0", k * len(labels) + len(out)))
    return out


def test_the_line_reads_as_documented() -> None:
    counters = {"labels_seen": 1234, "labels_trained": 1050, "labels_held_out": 110,
                "labels_skipped": 70, "labels_duplicate": 4, "steps": 66}
    line = progress_line("cross_encoder", counters, new_labels=210, interval_s=30.2,
                         loss=2.41312, loss_steps=13,
                         prequential={"n": 500.0, "acc": 0.6213, "auc": 0.7149},
                         next_gate=NextGate(380, 390.4), published="2")
    assert line == ("cross_encoder: 1,234 labels seen (+210 in 30s), 1,050 trained, 110 held "
                    "out, 74 skipped; 66 steps, loss 2.413 (mean of 13 steps); prequential "
                    "acc 0.62, AUC 0.71 (last 500); next gate in 380 labels or 6m30s; "
                    "published v2")
    idle = progress_line("two_tower", {**counters, "steps": 0}, new_labels=0, interval_s=31,
                         loss=None, loss_steps=0, prequential={"n": 0.0},
                         next_gate=NextGate(1000, 0.0), published=None)
    assert "0 steps, no step since the last line" in idle
    assert "prequential" not in idle
    assert idle.endswith("next gate with the next trained label (time is up); "
                         "nothing published yet")


def test_reporter_tracks_a_real_trainer_between_gates(
    tmp_path: Path, labels: list[TeacherLabel], catalog: dict[str, CatalogItem],
) -> None:
    settings = OnlineSettings(  # type: ignore[call-arg]
        state_dir=tmp_path / "state", online_encoder="tiny", online_max_length=32,
        online_batch_size=8, online_buffer_size=64, online_holdout_every=3,
        online_min_validation=5, online_gate_every_labels=40, online_gate_every_minutes=10,
        online_progress_interval_s=30)
    trainer = OnlineTrainer(settings, load_tokenizer())
    trainer.init_fresh()
    clock = ManualClock(1000.0)
    lines: list[str] = []
    reporter = ProgressReporter(settings.online_progress_interval_s, clock=clock,
                                emit=lines.append)

    trainer.handle(_records(labels, 2), catalog)
    steps_first = trainer.counters["steps"]
    assert steps_first >= 2
    clock.now += 29.0
    assert reporter.maybe_report(trainer) is None and lines == []  # not per step: on a timer
    clock.now += 1.0
    line = reporter.maybe_report(trainer)
    assert line is not None and lines == [line]
    seen = trainer.counters["labels_seen"]
    assert seen == 2 * len(labels)
    assert line.startswith(f"cross_encoder: {seen} labels seen (+{seen} in 30s), "
                           f"{trainer.counters['labels_trained']} trained, ")
    loss_text = line.split("loss ")[1].split(" ")[0]
    assert math.isfinite(float(loss_text)) and float(loss_text) > 0
    assert f"{steps_first} steps, loss" in line and f"(mean of {steps_first} steps)" in line
    to_go = 40 - trainer.counters["labels_trained"]
    assert 0 < to_go < 40 and f"next gate in {to_go} labels or " in line
    assert "nothing published yet" in line

    # Nothing new for an interval: the line still comes, saying so.
    clock.now += 30.0
    quiet = reporter.maybe_report(trainer)
    assert quiet is not None and f"{seen} labels seen (+0 in 30s)" in quiet
    assert "no step since the last line" in quiet

    # Past a gate the countdown starts again from the full cadence.
    while trainer.maybe_gate() is None:
        trainer.handle(_records(labels, 2, start=100 + trainer.counters["steps"]), catalog)
    assert trainer.counters["gates"] == 1
    clock.now += 30.0
    after = reporter.maybe_report(trainer)
    assert after is not None
    assert f"next gate in {40 - trainer.cadence.labels_since} labels or 10m00s" in after or \
        f"next gate in {40 - trainer.cadence.labels_since} labels or 9m59s" in after
    assert ("published v1" in after) == (trainer.counters["published"] == 1)


def test_the_interval_is_a_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RELSTREAM_ONLINE_PROGRESS_INTERVAL_S", "5")
    settings = OnlineSettings(state_dir=tmp_path)  # type: ignore[call-arg]
    assert settings.online_progress_interval_s == 5.0
    assert OnlineSettings.model_fields["online_progress_interval_s"].default == 30.0
