"""The promotion gate: when a candidate is due, and whether it may replace the published one.

A candidate is due every `every_labels` trained labels or every `every_minutes` minutes
that saw at least one new label. It is published only if its ONNX export passed the parity
check and its validation soft cross-entropy against the teacher (lower is better) is not
worse than the published version's on the same validation set by more than `tolerance`,
nor worse by more than `tolerance` than the best version so far (of the versions this
trainer has gated against, the one that scored best at the last gate; it is scored on
the same set again). The second comparison stops a ratchet: against the published version
alone, each of a series of candidates may be a little worse than the one before and the
losses add up (a demo run published v5 at 0.5987 over v4's 0.5823, and its AUC on the new
brand's pairs went from 0.907 at v1 to 0.834 at v5; docs/demo.md, rule v3's result).
Without a published version the first candidate is accepted if its metrics are finite.
Every decision carries its reason, so rejections can be logged and queried.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Any

from student_trainer.errors import StudentTrainerError

GATE_METRIC = "val_soft_ce"
"""The gated metric: soft CE against the teacher's grade distribution, lower is better."""


class GateError(StudentTrainerError):
    """Bad gate parameters."""


@dataclass(frozen=True)
class GateConfig:
    """Cadence and tolerance of the gate."""

    every_labels: int = 1000
    every_minutes: float = 10.0
    tolerance: float = 0.02
    min_validation: int = 10

    def __post_init__(self) -> None:
        if self.every_labels < 1:
            raise GateError(f"every_labels must be >= 1, got {self.every_labels}")
        if not self.every_minutes > 0:
            raise GateError(f"every_minutes must be > 0, got {self.every_minutes}")
        if not self.tolerance >= 0:
            raise GateError(f"tolerance must be >= 0, got {self.tolerance}")
        if self.min_validation < 1:
            raise GateError(f"min_validation must be >= 1, got {self.min_validation}")


@dataclass(frozen=True)
class GateDecision:
    """Whether a candidate is published, and why."""

    accepted: bool
    reason: str
    candidate: dict[str, float]
    published: dict[str, float] | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Cadence:
    """Counts trained labels and time since the last gate; `due()` says when to gate."""

    def __init__(self, config: GateConfig, clock: Any = time.monotonic) -> None:
        self.config = config
        self._clock = clock
        self.labels_since = 0
        self._since = clock()

    def note(self, trained: int) -> None:
        self.labels_since += trained

    def due(self) -> bool:
        if self.labels_since <= 0:
            return False
        if self.labels_since >= self.config.every_labels:
            return True
        return (self._clock() - self._since) / 60.0 >= self.config.every_minutes

    def reset(self) -> None:
        self.labels_since = 0
        self._since = self._clock()

    def state_dict(self) -> dict[str, Any]:
        # Elapsed time is not carried over a restart: the clock starts again at resume.
        return {"labels_since": self.labels_since}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.labels_since = int(state.get("labels_since", 0))
        self._since = self._clock()


def decide(config: GateConfig, candidate: dict[str, float],
           published: dict[str, float] | None, *, validation_size: int,
           parity_error: str | None = None, best: dict[str, float] | None = None,
           best_version: str | None = None) -> GateDecision:
    """Accept or reject a candidate, with the reason (see the module docstring).

    `best` holds the metrics of the best version published so far, when that is not the
    published one (`best_version` names it in the reason).
    """
    def reject(reason: str) -> GateDecision:
        return GateDecision(False, reason, candidate, published)

    if parity_error is not None:
        return reject(f"ONNX export failed its parity check: {parity_error}")
    if validation_size < config.min_validation:
        return reject(f"validation set has {validation_size} labels, fewer than the "
                      f"{config.min_validation} needed to compare versions")
    cand = candidate.get(GATE_METRIC, math.nan)
    if not math.isfinite(cand):
        return reject(f"candidate {GATE_METRIC} is {cand}, not a finite number")
    if published is None:
        return GateDecision(True, f"first version: {GATE_METRIC} {cand:.4f}", candidate, None)
    base = published.get(GATE_METRIC, math.nan)
    if not math.isfinite(base):
        return GateDecision(True, f"published {GATE_METRIC} is {base}: candidate "
                            f"{cand:.4f} replaces it", candidate, published)
    if cand > base + config.tolerance:
        return reject(f"{GATE_METRIC} {cand:.4f} is worse than the published {base:.4f} by "
                      f"{cand - base:.4f} > tolerance {config.tolerance}")
    top = best.get(GATE_METRIC, math.nan) if best is not None else math.nan
    if math.isfinite(top) and cand > top + config.tolerance:
        return reject(f"{GATE_METRIC} {cand:.4f} is worse than the best version published so "
                      f"far (v{best_version}: {top:.4f}) by {cand - top:.4f} > tolerance "
                      f"{config.tolerance}")
    return GateDecision(True, f"{GATE_METRIC} {cand:.4f} vs published {base:.4f} "
                        f"(tolerance {config.tolerance})", candidate, published)
