"""MKD losses against numbers worked by hand (ln 2 = 0.693147, ln 3 = 1.098612, ...)."""

from __future__ import annotations

import math

import pytest
import torch

from student_trainer.config import IGNORE
from student_trainer.losses import (
    attention_alignment,
    dimension_loss,
    embedding_alignment,
    hard_label_ce,
    kd_kl,
    score_distillation,
)

TEACHER = torch.tensor([[0.4, 0.3, 0.2, 0.1]])
UNIFORM_LOGITS = torch.zeros((1, 4))


def test_hard_label_ce_by_hand() -> None:
    # uniform over 4 grades: −ln(1/4) = ln 4 = 1.386294
    assert hard_label_ce(UNIFORM_LOGITS, torch.tensor([0])).item() == pytest.approx(1.386294, 1e-5)
    # logits (ln 2, 0, 0, 0): p_0 = 2/5, −ln 0.4 = 0.916291
    logits = torch.tensor([[math.log(2), 0.0, 0.0, 0.0]])
    assert hard_label_ce(logits, torch.tensor([0])).item() == pytest.approx(0.916291, 1e-5)


def test_kd_kl_at_temperature_1_by_hand() -> None:
    # Σ p ln(p / 0.25) = 0.4·ln1.6 + 0.3·ln1.2 + 0.2·ln0.8 + 0.1·ln0.4
    #                  = 0.188001 + 0.054697 − 0.044629 − 0.091629 = 0.106440
    assert kd_kl(UNIFORM_LOGITS, TEACHER, 1.0).item() == pytest.approx(0.106440, abs=1e-5)


def test_kd_kl_at_temperature_2_by_hand() -> None:
    # p^(1/2) normalised: (.632456, .547723, .447214, .316228) / 1.943619
    #   = (.325401, .281805, .230093, .162700); student stays uniform.
    # KL = Σ q ln 4q = .085775 + .033748 − .019092 − .069888 = .030543; × T² = .122172
    assert kd_kl(UNIFORM_LOGITS, TEACHER, 2.0).item() == pytest.approx(0.122172, abs=1e-5)


def test_kd_kl_is_zero_when_student_matches_teacher() -> None:
    logits = torch.log(TEACHER)
    assert kd_kl(logits, TEACHER, 3.0).item() == pytest.approx(0.0, abs=1e-6)


def test_score_distillation_mixes_ce_and_kl() -> None:
    # α = 0.5, T = 1: 0.5·ln 4 + 0.5·0.106440 = 0.693147 + 0.053220 = 0.746367
    value = score_distillation(UNIFORM_LOGITS, TEACHER, alpha=0.5, temperature=1.0)
    assert value.item() == pytest.approx(0.746367, abs=1e-5)


def test_dimension_loss_by_hand_with_mask() -> None:
    logits = torch.tensor([[[math.log(2), 0.0, 0.0], [0.0, 0.0, 0.0], [5.0, 0.0, 0.0]]])
    targets = torch.tensor([[0, 1, IGNORE]])
    # dims 0 and 1 count: (−ln 0.5 + ln 3) / 2 = (0.693147 + 1.098612) / 2 = 0.895880
    assert dimension_loss(logits, targets).item() == pytest.approx(0.895880, abs=1e-5)


def test_dimension_loss_is_zero_without_mentioned_dimensions() -> None:
    logits = torch.zeros((2, 3, 3), requires_grad=True)
    value = dimension_loss(logits, torch.full((2, 3), IGNORE))
    assert value.item() == 0.0
    value.backward()  # still part of the graph, so a batch without checks does not crash


def test_attention_alignment_by_hand() -> None:
    attention = torch.tensor([[0.5, 0.25, 0.25, 0.0], [0.25, 0.25, 0.25, 0.25]])
    mask = torch.tensor([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    # row 1 target (.5, .5, 0, 0): .5·ln(.5/.5) + .5·ln(.5/.25) = .5·ln 2 = 0.346574;
    # row 2 has no deciding token and is left out.
    assert attention_alignment(attention, mask).item() == pytest.approx(0.346574, abs=1e-5)


def test_embedding_alignment_by_hand() -> None:
    e = torch.tensor([[1.0, 0.0], [0.0, 2.0]])  # cosine ignores the length
    # similarities [[1, 0], [0, 1]], τ = 1: −ln(e / (e + 1)) = ln(1 + e⁻¹) = 0.313262
    assert embedding_alignment(e, e.clone(), 1.0).item() == pytest.approx(0.313262, abs=1e-5)
    # τ = 0.5: ln(1 + e⁻²) = 0.126928
    assert embedding_alignment(e, e.clone(), 0.5).item() == pytest.approx(0.126928, abs=1e-5)
