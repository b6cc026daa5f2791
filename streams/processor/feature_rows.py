"""Feast rows from the hourly buckets: window sums as of the processor's clock.

`FeatureRows` is the part of `state.StreamState` that turns dirty entities into rows.
Every row is as of `clock.now_ms()` (not of the entity's own latest event), so when the
clock moves into a new hour the entities whose window contents changed because of that
alone (a bucket leaving the 1 h or the 24 h window) are dirty too and pushed again: an
idle query's 1 h count falls to 0 in Feast.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, MutableMapping, Sequence
from typing import Any, NamedTuple

from feature_store.client import item_content_row
from feature_store.definitions import ITEM_CONTENT, ITEM_STATS, PAIR_STATS, QUERY_STATS
from relstream.core.schemas import CatalogItem
from streams.processor import aggregates as agg
from streams.processor.clock import StreamClock
from streams.processor.expiry import HourIndex

Rows = dict[str, list[dict[str, Any]]]


def _take(values: set[Any], n: int) -> set[Any]:
    """Remove up to `n` elements from `values` and return them. In place: a push of 5,000
    rows out of a backlog of 700,000 used to copy the other 695,000 (`values - chosen`),
    and that was a tenth of the batch engine's time while Feast caught up."""
    if len(values) <= n:
        taken = set(values)
        values.clear()
        return taken
    return {values.pop() for _ in range(max(n, 0))}


Sums = list[Sequence[int]]
"""One entity's counts summed per window, in `WINDOW_HOURS`'s order (`RowMaker.sums`)."""


def _pair_sums(pairs: set[tuple[str, str]],
               buckets_of: Callable[[str], list[tuple[int, Any]]],
               maker: agg.RowMaker, width: int) -> list[tuple[str, str, Sums]]:
    """The window sums of `pairs`, whose counts sit in their query's hour buckets
    (`buckets_of`: (age, bucket) of each). This runs for every dirty pair at every push,
    pairs are most of the rows, and it was the batch engine's largest single cost; so the
    common case, a pair in one of its query's buckets (shown in one hour of the window),
    is done here without building lists per pair: its counts, or zeros, per window."""
    inside = [tuple(age < hours for hours in maker.windows) for age in maker.ages()]
    zeros = (0,) * width
    window_sums = maker.sums
    out: list[tuple[str, str, Sums]] = []
    append = out.append
    for q, i in pairs:
        found = buckets_of(q)
        hit: tuple[int, Any] | None = None
        for age, bucket in found:
            vec = bucket["p"].get(i)
            if vec is not None:
                if hit is not None:  # in two hours' buckets or more: the general sums
                    append((q, i, window_sums(
                        [(age, v) for age, b in found if (v := b["p"].get(i))], width)))
                    break
                hit = (age, vec)
        else:
            if hit is None:
                append((q, i, window_sums([], width)))
            else:
                counts = hit[1][:width]
                append((q, i, [counts if held else zeros for held in inside[hit[0]]]))
    return out


class StatSums(NamedTuple):
    """A push before it becomes Feast rows: the item content rows, and the dirty entities'
    window sums as of `now_ms` (None: nothing counted yet, no stats). A row is a dict of
    13-16 columns; these are tuples of a key and two short lists, several times cheaper to
    pickle, which is how the batch engine hands a push to its sink process (`stat_rows`
    there makes the rows, off the counting process)."""

    now_ms: int | None
    content: list[dict[str, Any]]
    queries: list[tuple[str, Sums]]
    items: list[tuple[str, Sums]]
    pairs: list[tuple[str, str, Sums]]


def stat_rows(sums: StatSums, prior: agg.CtrPrior) -> Rows:
    """The Feast rows of `sums`, per view."""
    rows: Rows = {ITEM_CONTENT: list(sums.content), QUERY_STATS: [], ITEM_STATS: [],
                  PAIR_STATS: []}
    if sums.now_ms is None:
        return rows
    row = agg.RowMaker(sums.now_ms, prior).row_of
    query_names, names = agg.QUERY_COUNT_NAMES, agg.COUNT_NAMES
    rows[QUERY_STATS] = [row(s, query_names, {"query": q}) for q, s in sums.queries]
    rows[ITEM_STATS] = [row(s, names, {"item_id": i}) for i, s in sums.items]
    rows[PAIR_STATS] = [row(s, names, {"query": q, "item_id": i}) for q, i, s in sums.pairs]
    return rows


class FeatureRows:
    """Dirty marks and the rows they become (mixed into `StreamState`)."""

    clock: StreamClock
    prior: agg.CtrPrior
    query_index: HourIndex
    item_index: HourIndex
    catalog_table: MutableMapping[str, Any]
    _get_query_hour: Callable[[str], Any]
    _get_item_hour: Callable[[str], Any]
    _rows_hour: int | None
    dirty_queries: set[str]
    dirty_items: set[str]
    dirty_pairs: set[tuple[str, str]]
    dirty_content: dict[str, tuple[CatalogItem, Any]]

    def _mark_query_hour(self, query: str, hour: int) -> None:
        """The query and its pairs of that hour are dirty."""
        self.dirty_queries.add(query)
        bucket = self._get_query_hour(agg.bucket_key(query, hour))
        if bucket:
            self.dirty_pairs.update((query, item_id) for item_id in bucket["p"])

    def in_last_rows(self, hour: int) -> bool:
        """Whether the rows computed last counted the bucket of `hour` in some window."""
        last = self._rows_hour
        return last is None or hour > last - max(agg.WINDOW_HOURS.values())

    def _advance(self, now_hour: int) -> None:
        """Mark dirty whatever leaves a window as the clock moves into `now_hour`."""
        last = self._rows_hour
        if last is not None and now_hour <= last:
            return
        self._rows_hour = now_hour
        if last is None:
            return
        for width in agg.WINDOW_HOURS.values():
            # As of hour H a window holds hours H-width+1 … H; these leave it.
            first, final = last - width + 1, min(last, now_hour - width)
            for hour, query in self.query_index.entities_between(first, final):
                self._mark_query_hour(query, hour)
            self.dirty_items.update(e for _, e in self.item_index.entities_between(first, final))

    @property
    def dirty_count(self) -> int:
        """Entities waiting to be pushed (rows of the next `collect_rows`, all views)."""
        return (len(self.dirty_queries) + len(self.dirty_items) + len(self.dirty_pairs)
                + len(self.dirty_content))

    def collect_rows(self, limit: int | None = None) -> Rows:
        """Feast rows for the dirty entities, at most `limit` in all (item content, then
        queries, items, pairs); clears their dirty marks, the rest wait for the next call.

        The limit bounds one push: after a restart every entity is dirty, and pushing them
        all at once held the push timer for over a minute."""
        return stat_rows(self.collect_sums(limit), self.prior)

    def collect_sums(self, limit: int | None = None) -> StatSums:
        """What `collect_rows` makes its rows of (same entities, same dirty marks cleared):
        the batch engine sends this to its sink process, which makes the rows there."""
        now = self.clock.now_ms()
        if now is not None:
            self._advance(agg.hour_of(now))
        if limit is not None and self.dirty_count > limit:
            return self._collect_some(limit)
        content = [item_content_row(item, seen_at)
                   for item, seen_at in self.dirty_content.values()]
        self.dirty_content = {}
        sums = StatSums(now, content, [], [], [])
        if now is None:
            return sums  # nothing counted yet, so no stats to write
        maker = agg.RowMaker(now, self.prior)
        hour, window_sums = maker.hour, maker.sums
        get_query, get_item, sep = self._get_query_hour, self._get_item_hour, agg.KEY_SEP
        # The hour indexes say which entities have a bucket in which hour, so a row looks
        # up only the buckets that exist (a dict membership test per hour of the window,
        # instead of building 24 keys), and a query's buckets once for it and its pairs.
        query_hours = [(age, held) for age in maker.ages()
                       if (held := self.query_index.hours.get(hour - age))]
        item_hours = [(age, held) for age in maker.ages()
                      if (held := self.item_index.hours.get(hour - age))]
        # Every bucket of the queries this collect needs, found hour by hour: a set
        # intersection per hour (in C) instead of a membership test per query and hour.
        needed = {q for q, _ in self.dirty_pairs}
        needed.update(self.dirty_queries)
        query_buckets: dict[str, list[tuple[int, Any]]] = {}
        for age, held in query_hours:
            for q in held.keys() & needed:
                if b := get_query(f"{q}{sep}{hour - age}"):
                    found = query_buckets.get(q)
                    if found is None:
                        query_buckets[q] = [(age, b)]
                    else:
                        found.append((age, b))
        no_buckets: list[tuple[int, Any]] = []

        def buckets_of(q: str) -> list[tuple[int, Any]]:
            return query_buckets.get(q, no_buckets)

        query_width, width = len(agg.QUERY_COUNT_NAMES), len(agg.COUNT_NAMES)
        sums.queries.extend(
            (q, window_sums([(age, b["q"]) for age, b in buckets_of(q)], query_width))
            for q in self.dirty_queries)
        sums.pairs.extend(_pair_sums(self.dirty_pairs, buckets_of, maker, width))
        sums.items.extend(
            (i, window_sums([(age, b["c"]) for age, held in item_hours
                             if i in held and (b := get_item(f"{i}{sep}{hour - age}"))],
                            width))
            for i in self.dirty_items)
        self.dirty_queries, self.dirty_items, self.dirty_pairs = set(), set(), set()
        return sums

    def _collect_some(self, limit: int) -> StatSums:
        content = {k: self.dirty_content.pop(k)
                   for k in list(itertools.islice(self.dirty_content, limit))}
        limit -= len(content)
        queries = _take(self.dirty_queries, limit)
        limit -= len(queries)
        items = _take(self.dirty_items, limit)
        limit -= len(items)
        pairs = _take(self.dirty_pairs, limit)
        # The same sums as a full collect, over the chosen entities only.
        rest = (self.dirty_queries, self.dirty_items, self.dirty_pairs, self.dirty_content)
        self.dirty_queries, self.dirty_items, self.dirty_pairs = queries, items, pairs
        self.dirty_content = content
        try:
            return self.collect_sums()
        finally:
            self.dirty_queries, self.dirty_items, self.dirty_pairs, self.dirty_content = rest

    def mark_dirty(self, rows: Rows) -> None:
        """Put rows whose push failed back, so the next push retries them."""
        self.dirty_queries.update(r["query"] for r in rows.get(QUERY_STATS, []))
        self.dirty_items.update(r["item_id"] for r in rows.get(ITEM_STATS, []))
        self.dirty_pairs.update((r["query"], r["item_id"]) for r in rows.get(PAIR_STATS, []))
        for r in rows.get(ITEM_CONTENT, []):
            stored = self.catalog_table.get(r["item_id"])
            if stored is not None:
                item = CatalogItem.model_validate(stored["item"])
                self.dirty_content[item.item_id] = (item, r["event_timestamp"])

    def mark_sums_dirty(self, sums: StatSums) -> None:
        """`mark_dirty` for what `collect_sums` returned."""
        self.dirty_queries.update(q for q, _ in sums.queries)
        self.dirty_items.update(i for i, _ in sums.items)
        self.dirty_pairs.update((q, i) for q, i, _ in sums.pairs)
        self.mark_dirty({ITEM_CONTENT: sums.content})
