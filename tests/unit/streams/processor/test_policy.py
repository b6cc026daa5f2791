"""Label-request policy: priority signals, dedup window and the token-bucket budget."""

from __future__ import annotations

import random

import pytest

from streams.processor.policy import (
    Candidate,
    LabelRequestPolicy,
    PolicyParams,
    TokenBucket,
    newness,
    tailness,
    uncertainty,
)
from tests.conftest import ManualClock


def test_signals() -> None:
    assert tailness(1, 3) == 1.0 and tailness(3, 3) == 1.0 and tailness(30, 3) == 0.1
    assert newness(0, 20) == 1.0 and newness(10, 20) == 0.5 and newness(40, 20) == 0.0
    assert uncertainty(0.5) == 1.0 and uncertainty(1.0) == 0.0 and uncertainty(0.25) == 0.5


def test_priority_is_mean_of_available_signals() -> None:
    policy = LabelRequestPolicy(PolicyParams(tail_searches=3, new_item_impressions=20))
    prio, reasons = policy.priority(Candidate(1, 0))
    assert prio == 1.0 and reasons == ["long_tail", "new_item"]
    prio, reasons = policy.priority(Candidate(30, 40))
    assert prio == pytest.approx(0.05) and reasons == []
    prio, reasons = policy.priority(Candidate(30, 40, student_score=0.5))
    assert prio == pytest.approx((0.1 + 0 + 1) / 3) and reasons == ["uncertain"]


def test_a_new_query_ranks_first_whatever_the_other_signals() -> None:
    policy = LabelRequestPolicy(PolicyParams(tail_searches=3, new_item_impressions=20,
                                             new_query_hours=6))
    head_old_item = Candidate(30, 40, query_age_hours=0)
    assert policy.priority(head_old_item) == (1.0, ["new_query"])
    assert policy.priority(Candidate(1, 0, query_age_hours=5)) == (
        1.0, ["long_tail", "new_item", "new_query"])
    for age in (6, 23, None):  # as old as the threshold, or not known: the mean again
        assert policy.priority(Candidate(30, 40, query_age_hours=age))[0] == pytest.approx(0.05)
    off = LabelRequestPolicy(PolicyParams(new_query_hours=0))
    assert not off.is_new_query(head_old_item)
    assert off.priority(head_old_item)[0] < 0.5


def test_dedup_window_in_event_time() -> None:
    policy = LabelRequestPolicy(PolicyParams(dedup_window_s=60))
    assert not policy.is_duplicate(None, 1000)
    assert policy.is_duplicate(1000, 1000) and policy.is_duplicate(1000, 60_999)
    assert not policy.is_duplicate(1000, 61_000)


def test_token_bucket_refills_up_to_capacity() -> None:
    clock = ManualClock()
    bucket = TokenBucket(rate_per_s=2.0, capacity=3.0, clock=clock)
    assert [bucket.try_take(1.0) for _ in range(4)] == [True, True, True, False]
    clock.now = 1.0
    assert bucket.level() == pytest.approx(2.0)
    clock.now = 100.0
    assert bucket.level() == 3.0


def test_budget_is_never_exceeded_and_favours_high_priority() -> None:
    clock = ManualClock()
    params = PolicyParams(budget_per_minute=60, burst=10, reserve=0.5)
    policy = LabelRequestPolicy(params, clock=clock)
    rng = random.Random(0)
    admitted = {"high": 0, "low": 0}
    offered = {"high": 0, "low": 0}
    for step in range(6000):  # 10 candidates per second for 600 s
        clock.now = step / 10
        kind = "high" if rng.random() < 0.2 else "low"
        cand = Candidate(1, 0) if kind == "high" else Candidate(100, 100)
        offered[kind] += 1
        admitted[kind] += policy.decide(cand).admitted
    total = admitted["high"] + admitted["low"]
    assert total <= params.capacity + 60 / 60 * 600
    assert total >= 0.9 * 600  # the budget is used, not wasted
    share_high_offered = offered["high"] / 6000
    share_high_admitted = admitted["high"] / total
    assert share_high_admitted > 1.5 * share_high_offered


def test_everything_passes_when_idle() -> None:
    clock = ManualClock()
    policy = LabelRequestPolicy(PolicyParams(budget_per_minute=60, burst=10), clock=clock)
    for step in range(50):
        clock.now = step * 2.0  # one candidate every 2 s, budget one per second
        assert policy.decide(Candidate(100, 100)).admitted


@pytest.mark.parametrize("kwargs", [{"budget_per_minute": 0}, {"burst": 0.5},
                                    {"reserve": 1.0}, {"dedup_window_s": -1},
                                    {"tail_searches": 0}, {"new_query_hours": -1},
                                    {"new_query_hours": 24}])
def test_params_validation(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        PolicyParams(**kwargs)
