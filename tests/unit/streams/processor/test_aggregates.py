"""Hourly buckets, event-id dedup, window sums and the smoothed CTR, worked by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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


def _row(buckets: dict[int, list[int]], now_ms: int, names: tuple[str, ...],
         prior: agg.CtrPrior) -> dict:
    """`RowMaker.row` of the buckets (hour → counts) in the window of `now_ms`."""
    maker = agg.RowMaker(now_ms, prior)
    return maker.row([(maker.hour - h, v) for h, v in buckets.items()
                      if maker.hour - h in maker.ages()], names, {})


def test_window_sums_cover_latest_hour_and_23_before() -> None:
    buckets = {100: [1, 1, 0, 0], 99: [2, 0, 0, 0], 77: [4, 0, 0, 0], 76: [8, 0, 0, 0]}
    row = _row(buckets, 100 * H + 5, agg.COUNT_NAMES, agg.CtrPrior())
    assert [row[f"{c}_1h"] for c in agg.COUNT_NAMES] == [1, 1, 0, 0]
    assert [row[f"{c}_24h"] for c in agg.COUNT_NAMES] == [7, 1, 0, 0]  # 77..100; 76 is out


def test_ctr_prior_and_feature_row() -> None:
    prior = agg.CtrPrior(prior=0.1, strength=10)
    assert prior.ctr(0, 0) == pytest.approx(0.1)
    assert prior.ctr(5, 10) == pytest.approx(6 / 20)
    now = 1_772_366_400_123
    # 1 h sums [10, 5, 1, 0]; 24 h sums [30, 5, 1, 1] (a bucket 5 hours back adds the rest)
    hour = now // H
    out = _row({hour: [10, 5, 1, 0], hour - 5: [20, 0, 0, 1]}, now, agg.COUNT_NAMES, prior)
    assert out["impressions_1h"] == 10 and out["purchases_24h"] == 1
    assert out["ctr_1h"] == pytest.approx(0.3) and out["ctr_24h"] == pytest.approx(6 / 40)
    assert out["event_timestamp"] == datetime(2026, 3, 1, 12, 0, 0, 123_037, tzinfo=UTC)


def _plain_row(buckets: dict[int, list[int]], now_ms: int, names: tuple[str, ...],
               prior: agg.CtrPrior) -> dict:
    """The row by its definition, written plainly: window sums ending at the clock's hour,
    names per window, CTR, and the time plus a version of the 24 h total."""
    hour = now_ms // H
    out: dict = {}
    for window, hours in agg.WINDOW_HOURS.items():
        sums = [sum(buckets[h][k] for h in range(hour - hours + 1, hour + 1) if h in buckets)
                for k in range(len(names))]
        named = dict(zip(names, sums, strict=True))
        out.update({f"{name}_{window}": value for name, value in named.items()})
        out[f"ctr_{window}"] = prior.ctr(named["clicks"], named["impressions"])
        if window == "24h":
            version = min(999, sum(sums))
    out["event_timestamp"] = (datetime.fromtimestamp(now_ms / 1000, UTC)
                              .replace(microsecond=(now_ms % 1000) * 1000)
                              + timedelta(microseconds=version))
    return out


@pytest.mark.parametrize("names", [agg.COUNT_NAMES, agg.QUERY_COUNT_NAMES])
def test_row_maker_gives_the_plain_definition(names: tuple[str, ...]) -> None:
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
        assert _row(buckets, now, names, prior) == _plain_row(buckets, now, names, prior), \
            trial


def test_bucket_keys_round_trip() -> None:
    key = agg.bucket_key("usb c charger", 123)
    assert agg.split_bucket_key(key) == ("usb c charger", 123)


def test_ctr_prior_validation() -> None:
    with pytest.raises(ValueError, match="prior"):
        agg.CtrPrior(prior=1.5)
    with pytest.raises(ValueError, match="strength"):
        agg.CtrPrior(strength=0)
