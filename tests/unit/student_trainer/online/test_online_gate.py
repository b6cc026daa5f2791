"""Promotion gate: cadence by labels or minutes, decisions with their reasons."""

from __future__ import annotations

import math

import pytest

from student_trainer.online.gate import Cadence, GateConfig, GateError, decide
from tests.conftest import ManualClock

CFG = GateConfig(every_labels=100, every_minutes=5.0, tolerance=0.05, min_validation=10)



def test_cadence_by_labels_and_by_minutes() -> None:
    clock = ManualClock()
    cadence = Cadence(CFG, clock)
    assert not cadence.due()
    cadence.note(99)
    assert not cadence.due()
    cadence.note(1)
    assert cadence.due()
    cadence.reset()
    clock.now += 10 * 60
    assert not cadence.due(), "time alone, without new labels, is no reason for a candidate"
    cadence.note(1)
    assert cadence.due()
    cadence.reset()
    cadence.note(5)
    state = cadence.state_dict()
    again = Cadence(CFG, clock)
    again.load_state_dict(state)
    assert again.labels_since == 5


def test_first_candidate_is_accepted_when_finite() -> None:
    d = decide(CFG, {"val_soft_ce": 1.2}, None, validation_size=50)
    assert d.accepted and "first version" in d.reason
    d = decide(CFG, {"val_soft_ce": math.nan}, None, validation_size=50)
    assert not d.accepted and "not a finite number" in d.reason


def test_candidate_within_tolerance_passes_and_worse_is_rejected_with_reason() -> None:
    published = {"val_soft_ce": 1.00}
    assert decide(CFG, {"val_soft_ce": 1.04}, published, validation_size=50).accepted
    assert decide(CFG, {"val_soft_ce": 0.80}, published, validation_size=50).accepted
    d = decide(CFG, {"val_soft_ce": 1.20}, published, validation_size=50)
    assert not d.accepted
    assert "worse than the published 1.0000" in d.reason and "tolerance 0.05" in d.reason


def test_parity_failure_and_small_validation_set_reject() -> None:
    d = decide(CFG, {"val_soft_ce": 0.5}, None, validation_size=50, parity_error="diff 1e-2")
    assert not d.accepted and "parity" in d.reason
    d = decide(CFG, {"val_soft_ce": 0.5}, None, validation_size=3)
    assert not d.accepted and "3 labels" in d.reason


def test_bad_gate_config_is_refused() -> None:
    with pytest.raises(GateError, match="every_labels"):
        GateConfig(every_labels=0)
    with pytest.raises(GateError, match="tolerance"):
        GateConfig(tolerance=-1)


def test_candidate_must_also_be_within_tolerance_of_the_best_version_so_far() -> None:
    published, best = {"val_soft_ce": 1.04}, {"val_soft_ce": 1.00}
    ok = decide(CFG, {"val_soft_ce": 1.05}, published, validation_size=50, best=best,
                best_version="3")
    assert ok.accepted, ok.reason
    d = decide(CFG, {"val_soft_ce": 1.07}, published, validation_size=50, best=best,
               best_version="3")
    assert not d.accepted, "within 0.05 of the published 1.04, but 0.07 worse than v3"
    assert "best version published so far (v3: 1.0000)" in d.reason
    # without a best version (the published one is the best) only the published one counts
    assert decide(CFG, {"val_soft_ce": 1.07}, published, validation_size=50).accepted
