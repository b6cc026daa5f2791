"""Hourly buckets, event-id dedup, window sums and the smoothed CTR, worked by hand."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from streams.processor import aggregates as agg

H = agg.HOUR_MS


def test_query_bucket_counts_once_per_event_id() -> None:
    b = agg.new_query_bucket()
    deltas = agg.search_deltas(["a", "b", "a"])
    assert deltas == {"a": [2, 0, 0, 0], "b": [1, 0, 0, 0]}
    assert agg.apply_query_event(b, "e1", 5 * H + 10, 1, deltas)
    assert not agg.apply_query_event(b, "e1", 5 * H + 10, 1, deltas)
    assert agg.apply_query_event(b, "f1", 5 * H + 20, 0, {"a": agg.action_vector("click")})
    assert b["q"] == [1, 3, 1, 0, 0]
    assert b["p"]["a"] == [2, 1, 0, 0, 5 * H + 20]
    assert b["p"]["b"] == [1, 0, 0, 0, 5 * H + 10]
    assert b["t"] == 5 * H + 20 and b["ids"] == ["e1", "f1"]


def test_item_bucket_dedup() -> None:
    b = agg.new_item_bucket()
    assert agg.apply_item_event(b, "e1", 7, [1, 0, 0, 0])
    assert agg.apply_item_event(b, "e2", 9, agg.action_vector("purchase"))
    assert not agg.apply_item_event(b, "e2", 9, agg.action_vector("purchase"))
    assert b["c"] == [1, 0, 0, 1] and b["t"] == 9


def test_window_sums_cover_latest_hour_and_23_before() -> None:
    buckets = {100: [1, 1, 0, 0], 99: [2, 0, 0, 0], 77: [4, 0, 0, 0], 76: [8, 0, 0, 0]}
    row = agg.window_sums(buckets.get, 100, 100 * H + 5, 4)
    assert row.sums["1h"] == [1, 1, 0, 0]
    assert row.sums["24h"] == [7, 1, 0, 0]  # 77..100; 76 is 24 h + before


def test_ctr_prior_and_feature_row() -> None:
    prior = agg.CtrPrior(prior=0.1, strength=10)
    assert prior.ctr(0, 0) == pytest.approx(0.1)
    assert prior.ctr(5, 10) == pytest.approx(6 / 20)
    row = agg.WindowRow(1_772_366_400_123, {"1h": [10, 5, 1, 0], "24h": [30, 5, 1, 1]})
    out = agg.feature_row(row, agg.COUNT_NAMES, prior)
    assert out["impressions_1h"] == 10 and out["purchases_24h"] == 1
    assert out["ctr_1h"] == pytest.approx(0.3) and out["ctr_24h"] == pytest.approx(6 / 40)
    assert out["event_timestamp"] == datetime(2026, 3, 1, 12, 0, 0, 123_037, tzinfo=UTC)


@pytest.mark.parametrize("names", [agg.COUNT_NAMES, agg.QUERY_COUNT_NAMES])
def test_row_maker_gives_feature_row_of_window_sums(names: tuple[str, ...]) -> None:
    """The fast path of `collect_rows` against the plain definition, on random buckets
    (some outside every window, a pair vector with its trailing timestamp)."""
    import random

    rng = random.Random(7)
    prior = agg.CtrPrior(prior=0.05, strength=20)
    for trial in range(200):
        now = rng.randrange(1000 * H, 1100 * H)
        hour = now // H
        buckets = {h: [rng.randrange(0, 40) for _ in names] + [now]
                   for h in rng.sample(range(hour - 30, hour + 1), rng.randrange(0, 8))}
        expected = agg.feature_row(agg.window_sums(
            lambda h, b=buckets: b[h][:len(names)] if h in b else None, hour, now,
            len(names)), names, prior)
        maker = agg.RowMaker(now, prior)
        got = maker.row([(hour - h, v) for h, v in buckets.items() if hour - h in maker.ages()],
                        names, {})
        assert got == expected, trial


def test_bucket_keys_round_trip() -> None:
    key = agg.bucket_key("usb c charger", 123)
    assert agg.split_bucket_key(key) == ("usb c charger", 123)


def test_ctr_prior_validation() -> None:
    with pytest.raises(ValueError, match="prior"):
        agg.CtrPrior(prior=1.5)
    with pytest.raises(ValueError, match="strength"):
        agg.CtrPrior(strength=0)
