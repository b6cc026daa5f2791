"""The incremental trainer: test-then-train on each label batch, replay, gate, checkpoint.

`OnlineTrainer.handle` takes teacher labels (already joined with their catalog items) in
stream order: it scores them with the current model (prequential), holds one pair in
`holdout_every` out for the validation set, and trains on the rest in small steps, each
step mixing the new labels with labels replayed from the buffer. `maybe_gate` exports,
gates and publishes a candidate when one is due. `state_dict`/`restore` cover everything
the next step depends on, Kafka offsets included; `loop.py` owns Kafka.
"""

from __future__ import annotations

import copy
import logging
import math
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from relstream.core import registry
from relstream.core.kafka_io import EventProducer
from relstream.core.schemas import GRADES, CatalogItem, TeacherLabel
from student_trainer.config import EncoderConfig, LossWeights, StudentConfig
from student_trainer.data import Example, example_from_label
from student_trainer.evaluate import binary_auc
from student_trainer.export import tiny_config
from student_trainer.factory import build_student
from student_trainer.online import publisher
from student_trainer.online.gate import GATE_METRIC, Cadence, GateConfig, GateDecision, decide
from student_trainer.online.metrics import OnlineMetrics
from student_trainer.online.prequential import (
    GroundTruth,
    Prequential,
    PrequentialPoint,
    write_points_jsonl,
)
from student_trainer.online.progress import NextGate
from student_trainer.online.recent_ids import RecentIds
from student_trainer.online.replay_buffer import ReplayBuffer
from student_trainer.online.settings import OnlineSettings
from student_trainer.student_base import Student

log = logging.getLogger(__name__)

RECENT_IDS = 100_000
"""Label event ids remembered to drop repeats (~10 MB); a relabelled batch arrives within
seconds of the first, far inside this window."""


@dataclass(frozen=True)
class LabelRecord:
    """A teacher label with where it came from (`tp` = "topic/partition")."""

    label: TeacherLabel
    tp: str
    offset: int


def holdout(pair_key: str, every: int) -> bool:
    """Whether a pair belongs to the validation set: a stable hash, same in every process."""
    return zlib.crc32(pair_key.encode()) % every == 0


def validation_metrics(student: Student, tokenizer: Any,
                       examples: Sequence[Example]) -> dict[str, float]:
    """Soft CE and accuracy against the teacher, and AUC of E vs rest, on `examples`."""
    if not examples:
        return {"val_soft_ce": float("nan"), "val_teacher_acc": float("nan"),
                "val_auc": float("nan")}
    logits = student.predict_logits(examples, tokenizer)
    probs = torch.tensor([e.teacher_probs for e in examples])
    soft_ce = -(probs * torch.log_softmax(logits, dim=-1)).sum(dim=-1).mean()
    acc = (logits.argmax(dim=-1) == probs.argmax(dim=-1)).float().mean()
    scores = student.scores(logits).tolist()
    grades = [GRADES[i] for i in probs.argmax(dim=-1).tolist()]
    return {"val_soft_ce": float(soft_ce), "val_teacher_acc": float(acc),
            "val_auc": binary_auc(scores, grades)}


def base_config(settings: OnlineSettings) -> StudentConfig:
    if settings.online_encoder == "tiny":
        return tiny_config(settings.online_kind, settings.online_max_length)
    return StudentConfig(kind=settings.online_kind, encoder=EncoderConfig(
        source="minilm", num_layers=settings.online_layers,
        max_length=settings.online_max_length))


class OnlineTrainer:
    """One student trained continuously; see the module docstring."""

    def __init__(self, settings: OnlineSettings, tokenizer: Any, *,
                 producer: EventProducer | None = None, metrics: OnlineMetrics | None = None,
                 truth: GroundTruth | None = None, points_path: Path | None = None) -> None:
        self.settings = settings
        self.name = settings.model_name()
        self.root = settings.registry_dir()
        self.tokenizer = tokenizer
        self.producer = producer
        self.metrics = metrics
        self.points_path = points_path
        self.weights = LossWeights.preset(settings.online_loss)
        self.gate_config = GateConfig(settings.online_gate_every_labels,
                                      settings.online_gate_every_minutes,
                                      settings.online_tolerance,
                                      settings.online_min_validation)
        self.cadence = Cadence(self.gate_config)
        self._gate_clock = time.monotonic()
        """When the cadence's clock last started (mirrors `Cadence`, for `next_gate`)."""
        seed = settings.online_seed
        self.buffer: ReplayBuffer[Example] = ReplayBuffer(
            settings.online_buffer_size, settings.online_buffer_policy, seed)
        self.validation: ReplayBuffer[Example] = ReplayBuffer(
            settings.online_validation_size, "reservoir", seed + 1)
        self.recent: ReplayBuffer[Example] | None = (
            ReplayBuffer(settings.online_rehearsal_recent, "recency", seed + 2)
            if settings.online_rehearsal_recent > 0 else None)
        """The newest trained labels, for rehearsal steps while the stream is idle."""
        self.rehearsal_credit = 0.0
        """Rehearsal steps allowed now (`online_rehearsal_ratio` per new-label step)."""
        self.prequential = Prequential(truth=truth)
        self.offsets: dict[str, int] = {}
        self.counters = {"labels_seen": 0, "labels_trained": 0, "labels_held_out": 0,
                         "labels_skipped": 0, "labels_duplicate": 0, "steps": 0,
                         "rehearsal_steps": 0, "gates": 0, "published": 0, "rejected": 0}
        self.recent_ids = RecentIds(RECENT_IDS)
        self.labels_at_start = 0
        """`labels_seen` when this run started (the progress line counts from it)."""
        self._loss_sum = 0.0
        self._loss_steps = 0
        self.window: dict[str, str] = {}
        self.published_version: str | None = None
        self.announced_version: str | None = None
        self.published_student: Student | None = None
        self.best_version: str | None = None
        """The best version so far (`gate`), when it is not the published one."""
        self.best_student: Student | None = None
        self.all_points: list[PrequentialPoint] | None = None
        """Set to a list to keep every prequential point in memory (comparisons, plots)."""
        self.student: Student
        self.ema: Student | None = None
        """The moving average of the weights when `online_ema_decay` > 0."""
        self.optimizer: torch.optim.Optimizer

    # --- model set-up -------------------------------------------------------------------

    def _set_student(self, student: Student) -> None:
        self.student = student
        self.student.train()
        self.ema = None
        if self.settings.online_ema_decay > 0:
            self.ema = copy.deepcopy(student).eval()
            self.ema.requires_grad_(False)
        encoder: nn.Module = student.encoder  # type: ignore[assignment]
        enc = {id(p) for p in encoder.parameters()}
        self.optimizer = torch.optim.AdamW([
            {"params": list(encoder.parameters()), "lr": self.settings.online_lr},
            {"params": [p for p in student.parameters() if id(p) not in enc],
             "lr": self.settings.online_head_lr},
        ], weight_decay=0.01)

    @property
    def scorer(self) -> Student:
        """The weights that score, gate and get exported: the EMA if there is one."""
        return self.ema if self.ema is not None else self.student

    def _update_ema(self) -> None:
        if self.ema is None:
            return
        d = self.settings.online_ema_decay
        with torch.no_grad():
            for e, p in zip(self.ema.parameters(), self.student.parameters(), strict=True):
                e.mul_(d).add_(p.detach(), alpha=1 - d)
            for eb, b in zip(self.ema.buffers(), self.student.buffers(), strict=True):
                eb.copy_(b)

    def init_fresh(self) -> str:
        """No checkpoint: start from the latest published version or the base encoder."""
        torch.manual_seed(self.settings.online_seed)
        latest = registry.latest_version(self.root, self.name)
        mode = self.settings.online_init
        if mode == "published" and latest is None:
            from student_trainer.errors import StudentTrainerError

            raise StudentTrainerError(f"online_init=published but {self.root} has no "
                                      f"version of {self.name!r}")
        if latest is not None and mode in ("auto", "published"):
            self.init_from_published(latest)
            self.announced_version = latest
            return f"published version {latest}"
        self._set_student(build_student(base_config(self.settings), tokenizer=self.tokenizer))
        return f"base encoder ({self.settings.online_encoder})"

    def init_from_published(self, version: str) -> None:
        """Start from published `version` (any, not only the latest): its weights, a new
        optimiser, and candidates gated against it. `init_fresh` uses the latest; tools that
        replay a run's labels (`relstream.tools.demo.learner_replay`) start from version 1."""
        torch.manual_seed(self.settings.online_seed)
        self._set_student(publisher.load_published_student(self.root, self.name, version))
        self._adopt_published(version)

    def _adopt_published(self, version: str) -> None:
        self.published_version = version
        self.published_student = publisher.load_published_student(self.root, self.name, version)

    def restore(self, state: dict[str, Any]) -> None:
        """Continue exactly where the checkpoint `state` left off."""
        config = StudentConfig.from_dict(state["student"]["student_config"])
        student = build_student(config, pretrained=False, tokenizer=self.tokenizer)
        student.load_state_dict(state["student"]["state_dict"])
        self._set_student(student)
        if self.ema is not None and state.get("ema") is not None:
            self.ema.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.buffer.load_state_dict(state["buffer"])
        self.validation.load_state_dict(state["validation"])
        if self.recent is not None and state.get("recent") is not None:
            self.recent.load_state_dict(state["recent"])
            self.rehearsal_credit = float(state.get("rehearsal_credit", 0.0))
        self.cadence.load_state_dict(state["cadence"])
        self._gate_clock = time.monotonic()
        self.offsets = dict(state["offsets"])
        self.counters.update(state["counters"])
        self.labels_at_start = self.counters["labels_seen"]
        self.recent_ids.load_state_dict(state.get("recent_ids", []))
        self.window = dict(state.get("window", {}))
        torch.set_rng_state(state["torch_rng"])
        self.announced_version = state.get("announced_version")
        version = state.get("published_version")
        if version is not None:
            self._adopt_published(version)
        best = state.get("best_version")
        if best is not None and best != version:
            self._keep_best(best)

    def _keep_best(self, version: str) -> None:
        """Load `version` (not the published one) as the best so far."""
        try:
            student = publisher.load_published_student(self.root, self.name, version)
        except Exception as exc:  # removed from the registry: gate against the published one
            log.warning("cannot load %s v%s, the best version so far: %s", self.name, version,
                        exc)
            self.best_version, self.best_student = None, None
            return
        self.best_version, self.best_student = version, student

    def sync_registry(self) -> None:
        """After a crash between publish and checkpoint the registry is ahead of the
        checkpoint: compare against (and announce) what is really published."""
        latest = registry.latest_version(self.root, self.name)
        if latest is None:
            return
        if latest != self.published_version:
            try:
                self._adopt_published(latest)
            except Exception as exc:  # a version from elsewhere: keep gating against ours
                log.warning("cannot load published %s v%s as the reference: %s",
                            self.name, latest, exc)
        if latest != self.announced_version:
            publisher.announce(self.root, self.name, latest, self.producer)
            self.announced_version = latest

    def state_dict(self) -> dict[str, Any]:
        return {
            "student": self.student.checkpoint(), "optimizer": self.optimizer.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "buffer": self.buffer.state_dict(), "validation": self.validation.state_dict(),
            "recent": self.recent.state_dict() if self.recent is not None else None,
            "rehearsal_credit": self.rehearsal_credit,
            "cadence": self.cadence.state_dict(), "offsets": dict(self.offsets),
            "counters": dict(self.counters), "window": dict(self.window),
            "recent_ids": self.recent_ids.state_dict(),
            "torch_rng": torch.get_rng_state(), "published_version": self.published_version,
            "best_version": self.best_version,
            "announced_version": self.announced_version,
            "settings": self.settings.model_dump(mode="json"),
        }

    # --- test, then train ----------------------------------------------------------------

    def handle(self, records: Sequence[LabelRecord], catalog: dict[str, CatalogItem], *,
               train: bool = True) -> int:
        """Score, hold out or train on each label; returns how many were trained on.

        `train=False` only scores (a frozen model's prequential curve, for comparisons)."""
        joined: list[tuple[LabelRecord, Example, int]] = []
        for rec in records:
            seq = self.counters["labels_seen"]  # the label's position in the stream
            self.offsets[rec.tp] = rec.offset + 1
            self.counters["labels_seen"] += 1
            if not self.recent_ids.add(rec.label.event_id):
                # The same label again (a teacher worker relabelled a batch after a crash).
                self.counters["labels_duplicate"] += 1
                continue
            item = catalog.get(rec.label.item_id)
            if item is None:
                self.counters["labels_skipped"] += 1
                if self.producer is not None:
                    self.producer.dead_letter(
                        "online-trainer", f"teacher label for item_id {rec.label.item_id!r} "
                        "that the catalog topic does not (yet) hold", rec.label.to_bytes(),
                        f"{rec.tp}/{rec.offset}")
                continue
            joined.append((rec, example_from_label(rec.label, item), seq))
        if not joined:
            return 0
        self._score_first(joined)
        if not train:
            return 0
        fresh: list[Example] = []
        for rec, ex, _ in joined:
            if holdout(rec.label.pair_key, self.settings.online_holdout_every):
                self.validation.add(ex)
                self.counters["labels_held_out"] += 1
            else:
                fresh.append(ex)
        self.train_on(fresh)
        ts = [rec.label.ts.isoformat() for rec, _, _ in joined]
        self.window.setdefault("first_label_ts", min(ts))
        self.window["last_label_ts"] = max(ts)
        return len(fresh)

    def _score_first(self, joined: list[tuple[LabelRecord, Example, int]]) -> None:
        logits = self.scorer.predict_logits([ex for _, ex, _ in joined], self.tokenizer)
        probs = torch.softmax(logits, dim=-1)
        scores = self.scorer.scores(logits).tolist()
        points: list[PrequentialPoint] = []
        for (rec, _, seq), p, s in zip(joined, probs.tolist(), scores, strict=True):
            points.append(self.prequential.make_point(
                seq, rec.label.ts, rec.label.query, rec.label.item_id, p, s,
                rec.label.grade, self.counters["steps"]))
        self.prequential.record(points)
        if self.all_points is not None:
            self.all_points.extend(points)
        if self.metrics is not None:
            self.metrics.write_points(points)
        if self.points_path is not None:
            write_points_jsonl(points, self.points_path)

    def train_on(self, examples: list[Example]) -> None:
        """Train on labels already scored and not held out, in steps of `online_batch_size`
        (`handle` calls this; a replay of recorded labels can call it directly)."""
        size = self.settings.online_batch_size
        self.student.train()
        for start in range(0, len(examples), size):
            fresh = examples[start:start + size]
            self._step(fresh)
            self.buffer.extend(fresh)
            if self.recent is not None:
                self.recent.extend(fresh)
                ratio = self.settings.online_rehearsal_ratio
                self.rehearsal_credit = min(self.rehearsal_credit + ratio, 4 * ratio)
        self.counters["labels_trained"] += len(examples)
        self.cadence.note(len(examples))

    def can_rehearse(self) -> bool:
        """Rehearsal is on, something is learnt and a step's credit is left."""
        return self.recent is not None and len(self.recent) > 0 and self.rehearsal_credit >= 1

    def rehearse(self) -> bool:
        """One step on recent labels (recency-weighted) plus replayed ones, when rehearsal
        is on and there is something to rehearse; the caller does this only while no new
        label waits. It moves no offset and no gate cadence: no label was consumed."""
        if self.recent is None or not self.can_rehearse():
            return False
        self.rehearsal_credit -= 1
        self.student.train()
        self._step(self.recent.sample(self.settings.online_batch_size))
        self.counters["rehearsal_steps"] += 1
        return True

    def _step(self, fresh: list[Example]) -> None:
        """One optimiser step on `fresh` plus `online_replay_ratio` times as many replayed."""
        replay = self.buffer.sample(round(len(fresh) * self.settings.online_replay_ratio))
        batch = self.student.make_batch(fresh + replay, self.tokenizer, self.weights)
        loss, terms = self.student.loss(batch, self.weights)
        if not torch.isfinite(loss):
            from student_trainer.train_offline import TrainingError

            raise TrainingError(f"online loss became {float(loss)} at step "
                                f"{self.counters['steps']} (terms {terms})")
        self._loss_sum += float(loss.detach())
        self._loss_steps += 1
        self.optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(self.student.parameters(), 1.0)
        self.optimizer.step()
        self._update_ema()
        self.counters["steps"] += 1

    # --- progress -----------------------------------------------------------------------

    def take_loss(self) -> tuple[float | None, int]:
        """Mean training loss over the steps since the last call, and how many; resets."""
        steps, total = self._loss_steps, self._loss_sum
        self._loss_sum, self._loss_steps = 0.0, 0
        return (total / steps if steps else None), steps

    def _update_best(self, scored: list[tuple[str | None, dict[str, float] | None,
                                              Student | None]]) -> None:
        """After a publish: the best so far is whichever of `scored` (version, metrics on
        this gate's validation set, weights) has the lowest gated metric; the new version
        comes first, so it wins ties."""
        ranked = [(m[GATE_METRIC], k) for k, (v, m, st) in enumerate(scored)
                  if v is not None and m is not None and st is not None
                  and math.isfinite(m[GATE_METRIC])]
        if not ranked:
            return
        version, _, student = scored[min(ranked)[1]]
        if version == self.published_version:
            self.best_version, self.best_student = None, None
        else:
            self.best_version, self.best_student = version, student

    def next_gate(self) -> NextGate:
        """Trained labels and seconds until `maybe_gate` considers the next candidate."""
        labels = max(0, self.gate_config.every_labels - self.cadence.labels_since)
        elapsed = time.monotonic() - self._gate_clock
        return NextGate(labels, max(0.0, self.gate_config.every_minutes * 60.0 - elapsed))

    # --- gate and publish -------------------------------------------------------------------

    def maybe_gate(self, force: bool = False) -> GateDecision | None:
        """Evaluate a candidate when one is due; export and publish it if the gate passes."""
        if not (self.cadence.due() or (force and self.cadence.labels_since > 0)):
            return None
        val = self.validation.items()
        candidate = validation_metrics(self.scorer, self.tokenizer, val)
        candidate.update({f"preq_{k}": v for k, v in self.prequential.summary().items()})
        published = (validation_metrics(self.published_student, self.tokenizer, val)
                     if self.published_student is not None else None)
        best = (validation_metrics(self.best_student, self.tokenizer, val)
                if self.best_student is not None else None)
        window = {**self.window, "labels_trained": self.counters["labels_trained"],
                  "steps": self.counters["steps"], "offsets": dict(self.offsets)}
        decision = decide(self.gate_config, candidate, published, validation_size=len(val),
                          best=best, best_version=self.best_version)
        staged = None
        if decision.accepted:
            # Only a candidate the metrics accept is exported (ONNX, INT8, parity: ~5 s of
            # a core here, ~half the gate): a rejected one never needed its graphs. A
            # failed export still rejects it, with the parity reason.
            staged = publisher.stage_candidate(
                self.root, self.name, self.scorer, self.tokenizer, metrics=candidate,
                config={"online": {"loss": self.weights.to_dict(),
                                   "lr": self.settings.online_lr,
                                   "replay": self.settings.online_buffer_policy,
                                   "rehearsal_recent": self.settings.online_rehearsal_recent}},
                training_window=window, parent_version=self.published_version,
                validation=val)
            if staged.error is not None:
                decision = decide(self.gate_config, candidate, published,
                                  validation_size=len(val), parity_error=staged.error)
        version = None
        previous = (self.published_version, published, self.published_student)
        if decision.accepted and staged is not None:
            version = publisher.publish_and_announce(self.root, self.name, staged, self.producer)
            self.announced_version = version
            self._adopt_published(version)
            self.counters["published"] += 1
            self._update_best([(version, candidate, self.published_student), previous,
                               (self.best_version, best, self.best_student)])
        else:
            if staged is not None:
                publisher.discard(staged)
            self.counters["rejected"] += 1
            log.warning("candidate of %s rejected: %s", self.name, decision.reason)
        self.counters["gates"] += 1
        if self.metrics is not None:
            self.metrics.write_gate(decision, self.counters["steps"], version, len(val))
        log.info("gate %d: %s -> %s (%s)", self.counters["gates"],
                 "published v" + version if version else "rejected", self.name, decision.reason)
        self.cadence.reset()
        self._gate_clock = time.monotonic()
        self.student.train()
        return decision
