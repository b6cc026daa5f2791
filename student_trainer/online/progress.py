"""The continuous trainer's progress line: what it has done and when the next gate comes.

A gate (the first visible outcome, a published version) comes only after
`online_gate_every_labels` trained labels or `online_gate_every_minutes`, minutes into a
run; until then a user saw nothing. `ProgressReporter` logs one line every
`online_progress_interval_s` (30 s by default), never per step, from the first interval
on, e.g.:

    cross_encoder: 1,234 labels seen (+210 in 30 s), 1,050 trained, 110 held out,
    74 skipped; 66 steps, loss 2.413 (mean of 13 steps); prequential acc 0.62, AUC 0.71
    (last 500); next gate in 380 labels or 6m30s; published v2
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NextGate:
    """How far the next gate is: trained labels to go and seconds to go (whichever first).

    A gate also needs at least one label trained since the last one, so when the time is
    up (`seconds` 0) it comes with the next trained label."""

    labels: int
    seconds: float


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    return f"{minutes}m{secs:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def progress_line(name: str, counters: dict[str, int], *, new_labels: int, interval_s: float,
                  loss: float | None, loss_steps: int, prequential: dict[str, float],
                  next_gate: NextGate, published: str | None) -> str:
    """The one-line summary (see the module docstring); numbers only, no side effects."""
    c = counters
    skipped = c.get("labels_skipped", 0) + c.get("labels_duplicate", 0)
    parts = [f"{name}: {c['labels_seen']:,} labels seen (+{new_labels:,} in "
             f"{_duration(interval_s)}), {c['labels_trained']:,} trained, "
             f"{c['labels_held_out']:,} held out, {skipped:,} skipped"]
    step = f"{c['steps']:,} steps"
    if c.get("rehearsal_steps"):
        step += f" ({c['rehearsal_steps']:,} rehearsing)"
    if loss is not None and math.isfinite(loss):
        step += f", loss {loss:.3f} (mean of {loss_steps} step{'s' if loss_steps != 1 else ''})"
    else:
        step += ", no step since the last line"
    parts.append(step)
    n = int(prequential.get("n", 0))
    if n:
        auc = prequential.get("auc", math.nan)
        auc_text = f", AUC {auc:.2f}" if math.isfinite(auc) else ""
        parts.append(f"prequential acc {prequential.get('acc', math.nan):.2f}{auc_text} "
                     f"(last {n})")
    if next_gate.seconds > 0:
        gate = f"next gate in {next_gate.labels:,} labels or {_duration(next_gate.seconds)}"
    else:
        gate = "next gate with the next trained label (time is up)"
    parts.append(gate)
    parts.append(f"published v{published}" if published else "nothing published yet")
    return "; ".join(parts)


class ProgressReporter:
    """Emits `progress_line` for a trainer at most once per `interval_s`."""

    def __init__(self, interval_s: float, *, clock: Callable[[], float] = time.monotonic,
                 emit: Callable[[str], Any] | None = None) -> None:
        self.interval_s = interval_s
        self._clock = clock
        self._emit = emit or (lambda line: log.info("%s", line))
        self._last = clock()
        self._labels_at_last: int | None = None

    def due(self) -> bool:
        return self._clock() - self._last >= self.interval_s

    def maybe_report(self, trainer: Any, *, force: bool = False) -> str | None:
        """The line for `trainer` (an `OnlineTrainer`) when one is due (or `force`)."""
        if not (force or self.due()):
            return None
        now = self._clock()
        seen = trainer.counters["labels_seen"]
        before = self._labels_at_last if self._labels_at_last is not None else \
            trainer.labels_at_start
        loss, steps = trainer.take_loss()
        line = progress_line(
            trainer.name, trainer.counters, new_labels=seen - before,
            interval_s=now - self._last, loss=loss, loss_steps=steps,
            prequential=trainer.prequential.summary(), next_gate=trainer.next_gate(),
            published=trainer.published_version)
        self._last, self._labels_at_last = now, seen
        self._emit(line)
        return line

    def note(self, message: str) -> bool:
        """Emit `message` instead of a trainer line (e.g. while the catalog loads), if due."""
        if not self.due():
            return False
        self._last = self._clock()
        self._emit(message)
        return True
