"""Offline training of a student on teacher labels: seeded, early-stopped, checkpointed.

The trainer owns the optimiser (AdamW, a higher learning rate for the fresh heads than
for the pretrained encoder), a linear warm-up/decay schedule, the cadence of validation
and early stopping, and the checkpoint. Validation never uses ground truth: it measures
how well the student reproduces the teacher on held-out queries (soft cross-entropy
against the teacher's distribution, lower is better).
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from relstream.core.schemas import GRADES
from student_trainer.batching import epoch_order
from student_trainer.config import LossWeights, TrainConfig
from student_trainer.data import Example
from student_trainer.errors import StudentTrainerError
from student_trainer.evaluate import binary_auc
from student_trainer.student_base import Student

log = logging.getLogger(__name__)
Evaluator = Callable[[Student], dict[str, float]]


class TrainingError(StudentTrainerError):
    """Training cannot start or diverged (e.g. no examples, a NaN loss)."""


@dataclass
class TrainResult:
    """What a training run produced: the best student, its metrics and the history."""

    student: Student
    best_metrics: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)
    steps: int = 0
    checkpoint: Path | None = None


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def teacher_agreement(student: Student, tokenizer: Any, examples: Sequence[Example],
                      batch_size: int = 64) -> dict[str, float]:
    """Soft CE against the teacher's distribution, accuracy vs the teacher's argmax, and
    `val_teacher_auc`: the AUC of the student's score for the pairs the teacher calls
    Exact vs the rest (the test metric's form, with the teacher in place of ground truth,
    which validation never sees)."""
    if not examples:
        return {"val_soft_ce": float("nan"), "val_teacher_acc": float("nan"),
                "val_teacher_auc": float("nan")}
    logits = student.predict_logits(examples, tokenizer, batch_size)
    probs = torch.tensor([e.teacher_probs for e in examples])
    soft_ce = -(probs * torch.log_softmax(logits, dim=-1)).sum(dim=-1).mean()
    teacher_top = probs.argmax(dim=-1)
    acc = (logits.argmax(dim=-1) == teacher_top).float().mean()
    auc = binary_auc(student.scores(logits).tolist(), [GRADES[int(g)] for g in teacher_top])
    return {"val_soft_ce": float(soft_ce), "val_teacher_acc": float(acc),
            "val_teacher_auc": float(auc)}


def _optimizer(student: Student, config: TrainConfig) -> torch.optim.Optimizer:
    encoder_ids = {id(p) for p in student.encoder.parameters()}
    groups: list[dict[str, Any]] = [
        {"params": [p for p in student.encoder.parameters() if p.requires_grad],
         "lr": config.lr},
        {"params": [p for p in student.parameters() if id(p) not in encoder_ids],
         "lr": config.head_lr},
    ]
    return torch.optim.AdamW(groups, weight_decay=config.weight_decay)


def _schedule(optimizer: torch.optim.Optimizer, total: int, warmup_ratio: float) -> Any:
    warmup = max(1, int(total * warmup_ratio))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def train_steps(student: Student, tokenizer: Any, examples: Sequence[Example],
                weights: LossWeights, config: TrainConfig, steps: int) -> list[float]:
    """`steps` optimiser steps from a fresh seed (for tests and smoke runs); returns losses."""
    seed_everything(config.seed)
    optimizer = _optimizer(student, config)
    rng = random.Random(config.seed)
    student.train()
    losses = []
    for _ in range(steps):
        chunk = rng.sample(list(examples), min(config.batch_size, len(examples)))
        batch = student.make_batch(chunk, tokenizer, weights)
        loss, _ = student.loss(batch, weights)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses


def train_offline(
    student: Student, tokenizer: Any, train: Sequence[Example], validation: Sequence[Example],
    weights: LossWeights, config: TrainConfig, *, checkpoint_dir: Path | None = None,
    evaluator: Evaluator | None = None, progress: bool = True, extra: dict[str, Any] | None = None,
) -> TrainResult:
    """Train with early stopping on validation soft-CE; the best weights are kept."""
    from tqdm.auto import tqdm

    if not train:
        raise TrainingError("no training examples: check the teacher labels and the splits")
    torch.set_num_threads(config.threads)
    seed_everything(config.seed)
    student.to(config.torch_device())
    rng = random.Random(config.seed)
    per_epoch = math.ceil(len(train) / config.batch_size)
    total = per_epoch * config.epochs
    if config.max_steps:
        total = min(total, config.max_steps)
    optimizer = _optimizer(student, config)
    scheduler = _schedule(optimizer, total, config.warmup_ratio)
    eval_every = config.eval_every or per_epoch
    group = config.query_group_for(weights)
    best: dict[str, float] = {}
    best_state: dict[str, torch.Tensor] | None = None
    history: list[dict[str, float]] = []
    bad_evals, step = 0, 0
    bar = tqdm(total=total, desc=f"train {student.kind}", disable=not progress, leave=False)
    order: list[int] = []
    running: dict[str, float] = {}
    student.train()
    while step < total:
        if not order:
            order = epoch_order(train, group, rng)
        idx, order = order[:config.batch_size], order[config.batch_size:]
        batch = student.make_batch([train[i] for i in idx], tokenizer, weights)
        loss, terms = student.loss(batch, weights)
        if not torch.isfinite(loss):
            raise TrainingError(f"loss became {float(loss)} at step {step} (terms {terms})")
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        step += 1
        for name, value in {"loss": float(loss.detach()), **terms}.items():
            running[name] = 0.9 * running.get(name, value) + 0.1 * value
        bar.update(1)
        bar.set_postfix({k: f"{v:.3f}" for k, v in running.items()})
        if step % eval_every == 0 or step == total:
            metrics = {"step": float(step), **{f"train_{k}": v for k, v in running.items()},
                       **teacher_agreement(student, tokenizer, validation)}
            if evaluator is not None:
                metrics.update(evaluator(student))
            history.append(metrics)
            log.info("step %d: %s", step, {k: round(v, 4) for k, v in metrics.items()})
            score = metrics["val_soft_ce"]
            if not best or not math.isfinite(best["val_soft_ce"]) or score < best["val_soft_ce"]:
                best, bad_evals = metrics, 0
                best_state = {k: v.detach().clone() for k, v in student.state_dict().items()}
            else:
                bad_evals += 1
                if bad_evals >= config.patience:
                    log.info("early stop at step %d: no better validation for %d evals",
                             step, bad_evals)
                    break
            student.train()
    bar.close()
    if best_state is not None:
        student.load_state_dict(best_state)
    student.eval()
    result = TrainResult(student, best, history, step)
    if checkpoint_dir is not None:
        checkpoint_dir.mkdir(parents=True, exist_ok=True)
        path = checkpoint_dir / f"{student.kind}.pt"
        torch.save(student.checkpoint(
            train_config=config.to_dict(), loss_weights=weights.to_dict(), metrics=best,
            history=history, steps=step, **(extra or {}),
        ), path)
        result.checkpoint = path
    return result
