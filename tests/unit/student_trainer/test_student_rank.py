"""The within-query ranking term: its loss by hand, the query-grouped sampler, presets,
and both students training with it (tiny random encoders)."""

from __future__ import annotations

import math
import random

import pytest
import torch

from student_trainer.batching import epoch_order, query_ids
from student_trainer.config import (
    LOSS_PRESETS,
    RANK_GAINS,
    ConfigError,
    LossWeights,
    TrainConfig,
)
from student_trainer.data import Example
from student_trainer.encoders import load_tokenizer
from student_trainer.export import tiny_config
from student_trainer.factory import build_student
from student_trainer.losses import teacher_expected_gain, within_query_ranking
from student_trainer.train_offline import train_offline, train_steps

GAINS = torch.tensor(RANK_GAINS)


def test_teacher_expected_gain_by_hand() -> None:
    # 0.4·3 + 0.3·2 + 0.2·1 + 0.1·0 = 1.2 + 0.6 + 0.2 = 2.0; a sure S is 2, a sure I 0
    probs = torch.tensor([[0.4, 0.3, 0.2, 0.1], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
    assert teacher_expected_gain(probs, GAINS).tolist() == pytest.approx([2.0, 2.0, 0.0])


def test_ranking_one_pair_by_hand() -> None:
    # rows 0 and 1 share query 0 (Δ gain 1); row 2 is alone in query 1 and pairs with none.
    # (0.5 − 0.3) / 0.1 = 2: softplus(−2) = ln(1 + e^−2) = ln 1.135335 = 0.126928
    loss = within_query_ranking(torch.tensor([0.5, 0.3, 0.9]), torch.tensor([3.0, 2.0, 0.0]),
                                torch.tensor([0, 0, 1]), temperature=0.1, margin=0.5)
    assert loss.item() == pytest.approx(0.126928, abs=1e-5)


def test_ranking_weights_pairs_by_gain_gap_by_hand() -> None:
    # one query, gains 3 > 2 > 0, scores 0.2, 0.4, 0.1, τ = 0.1:
    #   (0,1) Δ1 diff −2: softplus(2)  = 2.126928
    #   (0,2) Δ3 diff  1: softplus(−1) = 0.313262
    #   (1,2) Δ2 diff  3: softplus(−3) = 0.048587
    # (1·2.126928 + 3·0.313262 + 2·0.048587) / (1 + 3 + 2) = 3.163888 / 6 = 0.527315
    loss = within_query_ranking(torch.tensor([0.2, 0.4, 0.1]), torch.tensor([3.0, 2.0, 0.0]),
                                torch.tensor([0, 0, 0]), temperature=0.1, margin=0.5)
    assert loss.item() == pytest.approx(0.527315, abs=1e-5)


def test_ranking_ignores_near_ties_and_other_queries() -> None:
    scores = torch.tensor([0.1, 0.9, 0.5], requires_grad=True)
    # rows 0/1 differ by 0.2 < margin; row 2 is another query
    loss = within_query_ranking(scores, torch.tensor([2.0, 1.8, 0.0]), torch.tensor([0, 0, 1]),
                                temperature=0.1, margin=0.5)
    assert loss.item() == 0.0
    loss.backward()  # a zero with a graph, so a batch without pairs still steps
    assert scores.grad is not None and float(scores.grad.abs().sum()) == 0.0


def test_ranking_gradient_pushes_the_better_item_up() -> None:
    scores = torch.tensor([0.3, 0.5], requires_grad=True)
    within_query_ranking(scores, torch.tensor([3.0, 2.0]), torch.tensor([0, 0]),
                         temperature=0.1, margin=0.5).backward()
    assert scores.grad is not None
    assert scores.grad[0] < 0 < scores.grad[1]  # descent raises row 0, lowers row 1


def test_ranking_needs_a_positive_margin() -> None:
    with pytest.raises(ValueError, match="margin"):
        within_query_ranking(torch.zeros(2), torch.zeros(2), torch.zeros(2, dtype=torch.long),
                             temperature=0.1, margin=0.0)


def test_query_ids_follow_normalised_queries(examples: list[Example]) -> None:
    ids = query_ids(examples)
    queries = [" ".join(e.query.lower().split()) for e in examples]
    for i in range(len(examples)):
        for j in range(len(examples)):
            assert (ids[i] == ids[j]) == (queries[i] == queries[j])
    assert ids[0].item() == 0


def test_uniform_order_is_the_old_shuffle(examples: list[Example]) -> None:
    expected = list(range(len(examples)))
    random.Random(5).shuffle(expected)
    assert epoch_order(examples, 1, random.Random(5)) == expected
    assert epoch_order(examples, 0, random.Random(5)) == expected


def _runs(order: list[int], examples: list[Example]) -> list[tuple[str, int]]:
    """(query, length) of each run of consecutive rows of one query."""
    runs: list[tuple[str, int]] = []
    for i in order:
        q = examples[i].query
        if runs and runs[-1][0] == q:
            runs[-1] = (q, runs[-1][1] + 1)
        else:
            runs.append((q, 1))
    return runs


def test_grouped_order_keeps_a_query_together(examples: list[Example]) -> None:
    per_query = {q: sum(e.query == q for e in examples) for q in {e.query for e in examples}}
    for seed in range(5):
        order = epoch_order(examples, max(per_query.values()), random.Random(seed))
        assert sorted(order) == list(range(len(examples)))
        # chunks as large as the largest query: every query is one run
        assert sorted(_runs(order, examples)) == sorted(per_query.items())
        chunked = epoch_order(examples, 2, random.Random(seed))
        assert sorted(chunked) == list(range(len(examples)))
        # chunks of 2: the 4-row query comes as 2 + 2 (one run of 4 when they meet)
        assert {n for _, n in _runs(chunked, examples)} <= {1, 2, 3, 4}
        first = examples[0].query
        assert sum(n for q, n in _runs(chunked, examples) if q == first) == per_query[first]


def test_existing_presets_are_unchanged() -> None:
    cot = {"dim": 0.5, "attn": 0.5, "emb": 0.5}
    old = {"hard": {"ce": 1.0}, "score": {"ce": 0.5, "kd": 0.5}, "cot": {"ce": 1.0, **cot},
           "full": {"ce": 0.5, "kd": 0.5, **cot}}
    for name, weights in old.items():
        assert LossWeights.preset(name) == LossWeights(**weights)
        assert LossWeights.preset(name).rank == 0.0
    full_rank = LossWeights.preset("full+rank")
    assert full_rank == LossWeights(**old["full"], rank=1.0)
    assert LossWeights.preset("score+rank") == LossWeights(**old["score"], rank=1.0)
    assert set(LOSS_PRESETS) == {*old, "full+rank", "score+rank"}


def test_old_loss_weight_dicts_still_load_and_bad_rank_settings_fail() -> None:
    old = {"ce": 0.5, "kd": 0.5, "temperature": 2.0, "dim": 0.5, "attn": 0.5, "emb": 0.5,
           "emb_temperature": 0.1}
    assert LossWeights.from_dict(old) == LossWeights.preset("full")
    with pytest.raises(ConfigError, match="rank_margin"):
        LossWeights(rank=1.0, rank_margin=0.0)
    with pytest.raises(ConfigError, match="rank"):
        LossWeights(rank=-1.0)
    with pytest.raises(ConfigError, match="not one of"):
        LossWeights.preset("rank-only")
    assert LossWeights(ce=0.0, rank=1.0).rank == 1.0  # the term alone is a valid loss


def test_query_group_auto_follows_the_rank_weight() -> None:
    assert TrainConfig().query_group_for(LossWeights.preset("full")) == 1
    assert TrainConfig().query_group_for(LossWeights.preset("full+rank")) == 4
    assert TrainConfig(query_group=6).query_group_for(LossWeights.preset("full")) == 6
    with pytest.raises(ConfigError, match="query_group"):
        TrainConfig(query_group=-1)


@pytest.mark.parametrize("kind", ["cross_encoder", "two_tower"])
def test_students_report_and_learn_the_rank_term(kind: str, examples: list[Example]) -> None:
    tokenizer = load_tokenizer()
    torch.manual_seed(0)
    student = build_student(tiny_config(kind))
    weights = LossWeights(ce=0.0, rank=1.0)
    batch = student.make_batch(examples, tokenizer, weights)
    before = {k: v.clone() for k, v in batch.items()}
    student.train()
    total, terms = student.loss(batch, weights)
    assert set(terms) == {"rank"} and total.item() == pytest.approx(terms["rank"])
    assert all(torch.equal(before[k], batch[k]) for k in before)  # batch not mutated
    _, without = student.loss(batch, LossWeights.preset("score"))
    assert "rank" not in without
    losses = train_steps(student, tokenizer, examples, weights,
                         TrainConfig(batch_size=8, seed=0, lr=3e-3, head_lr=3e-3), steps=30)
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5


def test_train_offline_with_the_rank_preset_is_seeded(examples: list[Example]) -> None:
    tokenizer = load_tokenizer()
    config = TrainConfig(epochs=2, batch_size=4, seed=1, threads=1)
    results = []
    for _ in range(2):
        torch.manual_seed(0)
        student = build_student(tiny_config("cross_encoder"))
        result = train_offline(student, tokenizer, examples, examples[:3],
                               LossWeights.preset("full+rank"), config, progress=False)
        results.append(result)
    assert results[0].steps == results[1].steps == math.ceil(len(examples) / 4) * 2
    assert results[0].best_metrics == results[1].best_metrics
    assert "train_rank" in results[0].history[-1]


def test_bench_rank_pairs_arms_by_seed() -> None:
    from relstream.tools.bench.rank import markdown, summarise

    def row(arm: str, seed: int, ndcg: float, auc: float) -> dict[str, object]:
        return {"arm": arm, "seed": seed, "ndcg_lin@10": ndcg, "auc": auc,
                "cov_ndcg_lin@10": ndcg, "cov_auc": auc}

    rows = [row("full/uniform", 0, 0.80, 0.70), row("full+rank/grouped", 0, 0.85, 0.69),
            row("full/uniform", 1, 0.90, 0.75), row("full+rank/grouped", 1, 0.89, 0.77)]
    base = {"tfidf": {k: {"ndcg_lin@10": 0.9, "auc": 0.8} for k in ("all", "covered")}}
    result = summarise(rows, base)  # type: ignore[arg-type]
    delta = result["paired_deltas"]["full+rank/grouped - full/uniform"]["ndcg_lin@10"]
    # per seed +0.05 and −0.01: mean 0.02, sd = sqrt((0.03² + 0.03²) / 1) = 0.042426
    assert delta["mean"] == pytest.approx(0.02) and delta["sd"] == pytest.approx(0.042426, 1e-4)
    assert delta["positive"] == 1 and delta["n"] == 2
    assert result["per_arm"]["full/uniform"]["auc"]["mean"] == pytest.approx(0.725)
    assert "| TF-IDF | - | 0.9000 | 0.8000 |" in markdown(result)
