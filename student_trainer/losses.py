"""MKD losses as pure tensor functions (each returns a scalar, the mean over the batch).

Shapes: B batch, G = 4 grades (E, S, C, I), D dimensions, L tokens, d embedding size.
These are relstream's own formulations of the paper's loss families (the paper's full text
is not available here); `docs/students.md` explains the choices.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from student_trainer.config import IGNORE

_EPS = 1e-8


def hard_label_ce(logits: Tensor, labels: Tensor) -> Tensor:
    """Cross-entropy with hard labels: mean_b −log softmax(logits_b)[labels_b].

    logits [B, G] float, labels [B] long (the teacher's argmax grade).
    """
    return F.cross_entropy(logits, labels)


def kd_kl(student_logits: Tensor, teacher_probs: Tensor, temperature: float) -> Tensor:
    """Score distillation term T²·KL(p_t^T ‖ p_s^T), averaged over the batch.

    student_logits [B, G]; teacher_probs [B, G] rows summing to 1. The teacher gives
    probabilities, not logits, so its tempered distribution is softmax(log p_t / T);
    p_s^T = softmax(student_logits / T). KL(p‖q) = Σ_g p_g (log p_g − log q_g).
    The T² factor keeps gradient magnitudes comparable across temperatures (Hinton et al.).
    """
    t = float(temperature)
    log_pt = F.log_softmax(torch.log(teacher_probs.clamp_min(_EPS)) / t, dim=-1)
    log_ps = F.log_softmax(student_logits / t, dim=-1)
    kl = (log_pt.exp() * (log_pt - log_ps)).sum(dim=-1)
    return (t * t) * kl.mean()


def score_distillation(
    student_logits: Tensor, teacher_probs: Tensor, alpha: float, temperature: float
) -> Tensor:
    """α·CE(argmax p_t) + (1−α)·T²·KL(p_t^T ‖ p_s^T): the paper's score-distribution loss."""
    hard = teacher_probs.argmax(dim=-1)
    return alpha * hard_label_ce(student_logits, hard) + (1 - alpha) * kd_kl(
        student_logits, teacher_probs, temperature
    )


def dimension_loss(dim_logits: Tensor, targets: Tensor) -> Tensor:
    """Per-dimension heads vs the teacher's checks: mean CE over the mentioned dimensions.

    dim_logits [B, D, 3] (match / mismatch / not_stated), targets [B, D] long with
    `IGNORE` (-100) where the teacher's checks do not mention the dimension. Returns 0
    when no dimension in the batch is mentioned.
    """
    flat_targets = targets.reshape(-1)
    if not bool((flat_targets != IGNORE).any()):
        return dim_logits.sum() * 0.0
    return F.cross_entropy(
        dim_logits.reshape(-1, dim_logits.shape[-1]), flat_targets, ignore_index=IGNORE
    )


def attention_alignment(cls_attention: Tensor, evidence_mask: Tensor) -> Tensor:
    """KL(target ‖ attention) pulling [CLS]'s attention towards the CoT's deciding tokens.

    cls_attention [B, L]: the last layer's [CLS]→token attention, mean over heads (rows
    sum to 1). evidence_mask [B, L] in {0, 1}: tokens the CoT names as deciding. The
    target is the mask normalised to sum 1; KL = Σ_l t_l (log t_l − log a_l) with
    0·log 0 = 0. Rows without any deciding token are left out; none at all gives 0.
    """
    mask = evidence_mask.to(cls_attention.dtype)
    totals = mask.sum(dim=-1)
    rows = totals > 0
    if not bool(rows.any()):
        return cls_attention.sum() * 0.0
    target = mask[rows] / totals[rows].unsqueeze(-1)
    log_a = torch.log(cls_attention[rows].clamp_min(_EPS))
    log_t = torch.log(target.clamp_min(_EPS))
    kl = (target * (log_t - log_a)).sum(dim=-1)
    return kl.mean()


def embedding_alignment(embeddings: Tensor, cot_embeddings: Tensor, temperature: float) -> Tensor:
    """In-batch contrastive (InfoNCE) loss tying each embedding to its own CoT text's.

    embeddings [B, d] (a tower's output), cot_embeddings [B, d] (the same tower's
    embedding of the CoT analysis text for that row). With cosine similarities
    s_ij = cos(e_i, c_j) / τ, the loss is mean_i −log softmax_j(s_ij)[i].
    """
    e = F.normalize(embeddings, dim=-1)
    c = F.normalize(cot_embeddings, dim=-1)
    logits = e @ c.T / float(temperature)
    labels = torch.arange(e.shape[0], device=e.device)
    return F.cross_entropy(logits, labels)


def teacher_expected_gain(teacher_probs: Tensor, gains: Tensor) -> Tensor:
    """Σ_g p_t,g·gain_g per row: the teacher's expected gain, [B, G] × [G] → [B].

    With the linear gains 3/2/1/0 of E/S/C/I this orders items E > S > C > I and places an
    item the teacher is unsure about between the grades it hesitates over.
    """
    return teacher_probs @ gains.to(teacher_probs)


def within_query_ranking(scores: Tensor, gains: Tensor, groups: Tensor, temperature: float,
                         margin: float) -> Tensor:
    """Pairwise logistic (RankNet) loss over same-query pairs whose teacher gains differ.

    scores [B]: the student's relevance scores (what serving ranks by); gains [B]: the
    teacher's expected gains (`teacher_expected_gain`); groups [B] long: a query index per
    row (rows of one query share it). Every ordered pair (i, j) with groups_i = groups_j
    and Δ_ij = gains_i − gains_j ≥ margin (> 0, so a row never pairs with itself and
    near-ties the teacher cannot separate are left out) contributes
        ℓ_ij = softplus(−(s_i − s_j) / τ) = log(1 + exp(−(s_i − s_j) / τ)),
    weighted by Δ_ij, so pairs the teacher separates more clearly count more:
        loss = Σ Δ_ij·ℓ_ij / Σ Δ_ij.
    Returns 0 (with a graph) when the batch has no such pair.
    """
    if margin <= 0:
        raise ValueError(f"margin must be > 0 so that no row pairs with itself, got {margin}")
    same = groups.unsqueeze(1) == groups.unsqueeze(0)
    delta = gains.unsqueeze(1) - gains.unsqueeze(0)
    weight = delta * (same & (delta >= margin)).to(delta.dtype)
    total = weight.sum()
    if not bool(total > 0):
        return scores.sum() * 0.0
    diff = (scores.unsqueeze(1) - scores.unsqueeze(0)) / float(temperature)
    return (weight * F.softplus(-diff)).sum() / total
