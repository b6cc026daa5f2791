"""The batch engine's state: `StreamState`'s tables, windows, expiry, label policy and
Feast rows, counted a batch of records at a time.

What differs from the per-message Faust path (`streams.processor.state`):

- **Search log**: one call per (partition, batch). Each line is decoded without a pydantic
  event (`decode_log_items`), counted into its (query, hour) bucket, and sent on as one
  delta per target item partition (`Delta`: the event's items there).
- **Deduplication**: a bounded set of the event ids each search-log partition counted in
  the kept hours (`seen`), instead of an id list inside every bucket (those lists were
  rewritten whole at every change, and scanned per message). It travels in the snapshot,
  so a record read again after a restore is skipped if the snapshot counted it and
  counted if not. Item buckets keep, per source partition, the highest search-log offset
  counted (`w`): a delta sent again by a source partition that restarted from an older
  snapshot is at or below it and is skipped.
- **Label candidates**: each (query, item) pair is offered to the policy once per batch of
  deltas (its first showing in the batch), not once per showing.
- **Snapshots**: everything of one partition (its query buckets, item buckets, requested
  pairs, seen ids, clock) as one JSON-able dict, restored on assignment.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from relstream.core.errors import SchemaError
from relstream.core.schemas import (
    DeadLetter,
    LabelRequest,
    normalize_query,
    ts_millis,
)
from streams.log_fields import decode_log_items
from streams.processor import aggregates as agg
from streams.processor.clock import key_partition
from streams.processor.state import StreamState, Tables, dead_letter

HOUR_MS = agg.HOUR_MS
Delta = list[Any]
"""One event's deltas for the items of one target partition, as sent (JSON lists, not
objects): [source offset, event id, ts ms, query or None, the query's searches in 24 h,
item ids, impressions per item (None: one each) or None, the feedback's 4-vector (None: a
search, whose items each count impressions), hours since the query's first search in 24 h
or None]. Deltas of 8 fields (sent before the last one existed) are read as None."""
Record = tuple[bytes | None, bytes, int]
"""(key, value, offset) of one search-log record."""


class BatchState(StreamState):
    def __init__(self, *args: Any, max_seen_ids: int = 500_000, **kwargs: Any) -> None:
        """`StreamState`'s arguments minus the tables (plain dicts here). `max_seen_ids`:
        most event ids remembered per partition for deduplication; past it the oldest
        hours are forgotten first (a duplicate older than that is counted again)."""
        super().__init__(Tables({}, {}, {}, {}), *args, **kwargs)
        self.max_seen_ids = max_seen_ids
        self.seen: dict[int, dict[str, int]] = {}
        """search-log partition → {event id: its hour}."""
        self._seen_hours: dict[int, dict[int, list[str]]] = {}
        self._searches_24h: dict[str, tuple[int, int, int | None]] = {}
        """query → (hour, its searches in the 24 h window ending there, the window's first
        hour with a search), as for items."""
        self.item_partitions: dict[str, int] = {}
        self.catalog_part: dict[str, int] = {}
        """item id → the catalog partition its entry came from."""

    # --- search log -------------------------------------------------------------------

    def count_search_log(self, records: Iterable[Record], partition: int, topic: str
                         ) -> tuple[dict[int, list[Delta]], list[DeadLetter]]:
        """Count a batch of one search-log partition's records, in offset order. Returns
        the item deltas per target item partition and the dead letters."""
        deltas: dict[int, list[Delta]] = {}
        dead: list[DeadLetter] = []
        stats = self.stats
        seen = self.seen.setdefault(partition, {})
        seen_hours = self._seen_hours.setdefault(partition, {})
        query_hours = self.t.query_hours
        dirty_pairs, dirty_queries = self.dirty_pairs, self.dirty_queries
        item_part, index_add = self.item_partition, self.query_index.add
        keep = self.retention.keep_hours
        ref_ms = self.clock.reference_ms(partition)
        horizon = None if ref_ms is None else ref_ms // HOUR_MS - keep + 1
        ref_ms = -1 if ref_ms is None else ref_ms
        counted = duplicates = expired = 0
        for key, raw, offset in records:
            try:
                (kind, event_id, request_id, raw_query, ts), items, action = \
                    decode_log_items(raw)
            except SchemaError as exc:
                stats["dead_lettered"] += 1
                dead.append(dead_letter(str(exc), raw, f"{topic}/{partition}/{offset}"))
                continue
            stats[kind] += 1
            if event_id in seen:
                duplicates += 1
                continue
            hour = ts // HOUR_MS
            if horizon is not None and hour < horizon:
                # As in `StreamState.on_search_log`: in no window any more, and its id
                # may already be forgotten, so it is neither counted nor sent on.
                expired += 1
                continue
            seen[event_id] = hour
            hour_ids = seen_hours.get(hour)
            if hour_ids is None:
                hour_ids = seen_hours[hour] = []
            hour_ids.append(event_id)
            query: str | None
            counts: list[int] | None = None  # impressions per item, when one repeats
            action_vec: list[int] | None = None
            if action is None:
                query = normalize_query(raw_query or "")
                searches = 1
                if len(set(items)) != len(items):  # an item listed twice counts twice
                    repeats: dict[str, int] = {}
                    for item_id in items:
                        repeats[item_id] = repeats.get(item_id, 0) + 1
                    items, counts = list(repeats), list(repeats.values())
            else:
                # Feedback is keyed by its search's query; a feedback whose search was
                # never seen is keyed by its request id and counts for the item only.
                query = key.decode("utf-8", "replace") if key else None
                if query is None or query == request_id:
                    query = None
                    stats["orphan_feedback"] += 1
                action_vec = agg.action_vector(action)
                searches = 0
            freq, age = 0, None
            if query is not None:
                bkey = f"{query}{agg.KEY_SEP}{hour}"
                bucket = query_hours.get(bkey)
                if bucket is None:
                    bucket = query_hours[bkey] = {"q": [0, 0, 0, 0, 0], "p": {}, "t": 0}
                    index_add(hour, query, partition)
                if ts > bucket["t"]:
                    bucket["t"] = ts
                qvec, pairs = bucket["q"], bucket["p"]
                if action_vec is None:
                    qvec[0] += 1
                    for n, item_id in enumerate(items):
                        shown = 1 if counts is None else counts[n]
                        pair = pairs.get(item_id)
                        if pair is None:
                            pairs[item_id] = [shown, 0, 0, 0, ts]
                        else:
                            pair[0] += shown
                            if ts > pair[4]:
                                pair[4] = ts
                        qvec[1] += shown
                        dirty_pairs.add((query, item_id))
                else:
                    item_id = items[0]
                    pair = pairs.get(item_id)
                    if pair is None:
                        pair = pairs[item_id] = [0, 0, 0, 0, ts]
                    elif ts > pair[4]:
                        pair[4] = ts
                    for k in range(4):
                        pair[k] += action_vec[k]
                        qvec[1 + k] += action_vec[k]
                    dirty_pairs.add((query, item_id))
                dirty_queries.add(query)
                counted += 1
                freq, age = self._count_search(query, hour, searches)
            if ts > ref_ms:
                # The clock moved on: later events of the batch are judged by it, as the
                # per-message path judges each event by the clock before it.
                self.clock.observe(partition, ts)
                ref_ms = ts
                horizon = ts // HOUR_MS - keep + 1
            # One delta per target partition and event, naming its items there.
            if len(items) == 1:
                target = item_part(items[0])
                out = deltas.get(target)
                if out is None:
                    out = deltas[target] = []
                out.append([offset, event_id, ts, query, freq, items, counts, action_vec, age])
                continue
            groups: dict[int, list[int]] = {}
            for n, item_id in enumerate(items):
                target = item_part(item_id)
                group = groups.get(target)
                if group is None:
                    groups[target] = [n]
                else:
                    group.append(n)
            for target, positions in groups.items():
                out = deltas.get(target)
                if out is None:
                    out = deltas[target] = []
                out.append([offset, event_id, ts, query, freq, [items[n] for n in positions],
                            None if counts is None else [counts[n] for n in positions],
                            None, age])
        stats["query_counted"] += counted
        stats["duplicates"] += duplicates
        stats["expired"] += expired
        self._expire_queries(partition)
        self._expire_seen(partition)
        return deltas, dead

    def mark_requested(self, request: LabelRequest) -> None:
        """A request found sent after this partition's snapshot: the pair counts as
        requested, as if this state had sent it."""
        pkey = request.pair_key
        requested_at = ts_millis(request.ts)
        if requested_at > self.t.requested.get(pkey, -1):
            self.t.requested[pkey] = requested_at
            self.requested_index.add(agg.hour_of(requested_at), pkey,
                                     self.item_partition(request.item_id))
        self.stats["requests_found_after_snapshot"] += 1

    def item_partition(self, item_id: str) -> int:
        """The item-delta (and catalog) partition of `item_id` (murmur2, cached)."""
        part = self.item_partitions.get(item_id)
        if part is None:
            if len(self.item_partitions) >= 1_000_000:
                self.item_partitions = {}  # bounded: ids come from untrusted logs
            part = self.item_partitions[item_id] = key_partition(item_id)
        return part

    def _count_search(self, query: str, hour: int, searches: int) -> tuple[int, int | None]:
        """Keep the query's cached 24 h window exact once a search of `hour` is in its
        bucket; returns the window ending at `hour` (this one included) as
        `_query_window` does: (searches, hours since its first search)."""
        cache = self._searches_24h
        cached = cache.get(query)
        if cached is not None and cached[0] == hour:
            first = hour if searches and cached[2] is None else cached[2]
            total = cached[1] + searches
            cache[query] = (hour, total, first)
            return total, None if first is None else hour - first
        if cached is not None and hour < cached[0]:
            if cached[0] - agg.WINDOW_HOURS["24h"] < hour:  # a late search, still inside
                first = cached[2]
                if searches and (first is None or hour < first):
                    first = hour
                cache[query] = (cached[0], cached[1] + searches, first)
            return self._query_window(query, hour)
        if len(cache) >= 500_000:
            cache.clear()  # bounded (a cache only: a miss sums the buckets again)
        total, age = self._query_window(query, hour)
        cache[query] = (hour, total, None if age is None else hour - age)
        return total, age

    def _expire_seen(self, partition: int) -> None:
        """Forget the ids of hours behind the kept ones, and the oldest past the cap."""
        seen, hours = self.seen.get(partition), self._seen_hours.get(partition)
        if not seen or not hours:
            return
        horizon = self.retention.horizon_hour(self.clock.reference_ms(partition))
        for hour in sorted(hours):
            if (horizon is None or hour >= horizon) and len(seen) <= self.max_seen_ids:
                break
            for event_id in hours.pop(hour):
                seen.pop(event_id, None)
            if horizon is None or hour >= horizon:
                self.stats["seen_ids_dropped_over_cap"] += 1

    # --- item deltas ------------------------------------------------------------------

    def count_deltas(self, deltas: list[Delta], source: int, partition: int
                     ) -> list[LabelRequest]:
        """Count one message of item deltas from search-log partition `source`, read on
        item-delta `partition`; returns the label requests it admits."""
        _check_deltas(deltas)
        stats = self.stats
        item_hours = self.t.item_hours
        catalog = self.t.catalog
        src = str(source)  # JSON object keys in a snapshot are strings
        offers: dict[tuple[str, str], tuple[Delta, str, int]] = {}
        horizon = self.retention.horizon_hour(self.clock.delta_reference_ms(partition))
        dirty_items, index_add = self.dirty_items, self.item_index.add
        impressions_24h, count_impressions = self._item_impressions_24h, self._count_impressions
        cached_24h = self._impressions_24h
        sep = agg.KEY_SEP
        counted = duplicates = expired = no_catalog = 0
        latest_hour: int | None = None
        for delta in deltas:
            offset, _, ts, query, _, items, shown, action_vec = delta[:8]
            hour = ts // HOUR_MS
            # Each delta is judged by the clock with it counted, as the per-message engine
            # judges each one. Judging a whole message by its latest delta expired the
            # older part of it: a backfill's batch of one partition spans days, and 9,198
            # of 83,918 item deltas of a 3-day shop went uncounted (never offered either).
            if latest_hour is None or hour > latest_hour:
                self.clock.observe_delta(partition, source, ts)
                horizon = self.retention.horizon_hour(self.clock.delta_reference_ms(partition))
                latest_hour = hour
            if horizon is not None and hour < horizon:
                expired += len(items)
                continue
            offered = action_vec is None and query is not None
            for n, item_id in enumerate(items):
                bkey = f"{item_id}{sep}{hour}"
                bucket = item_hours.get(bkey)
                if bucket is None:
                    bucket = item_hours[bkey] = {"c": [0, 0, 0, 0], "t": ts, "w": {}}
                    index_add(hour, item_id, partition)
                elif ts > bucket["t"]:
                    bucket["t"] = ts
                marks = bucket["w"]
                if marks.get(src, -1) >= offset:
                    duplicates += 1
                    stats["requests_skipped_duplicate"] += action_vec is None
                    continue
                marks[src] = offset
                # The item's 24 h impressions before this delta (what the label policy
                # reads), kept exact as it is counted. Inlined for the common case, a cache
                # hit in the delta's own hour: the two calls per delta were a fifth of this
                # loop's time.
                cached = cached_24h.get(item_id)
                if cached is not None and cached[0] != hour:
                    cached = None  # a miss: `_item_impressions_24h` sums or shifts it
                impressions_before = (impressions_24h(item_id, hour) if cached is None
                                      else cached[1])
                counts = bucket["c"]
                if action_vec is None:
                    impressions = 1 if shown is None else shown[n]
                    counts[0] += impressions
                else:
                    impressions = action_vec[0]
                    for k in range(4):
                        counts[k] += action_vec[k]
                if cached is None:
                    count_impressions(item_id, hour, impressions)
                else:
                    cached_24h[item_id] = (hour, impressions_before + impressions)
                dirty_items.add(item_id)
                counted += 1
                if offered and (query, item_id) not in offers:
                    if item_id not in catalog:
                        no_catalog += 1  # not marked: asked again next time, as in `_offer`
                        continue
                    offers[(query, item_id)] = (delta, item_id, impressions_before)
        if deltas:  # the clock to the millisecond (the loop moved it by the hour)
            self.clock.observe_delta(partition, source, max(d[2] for d in deltas))
        stats["item_counted"] += counted
        stats["duplicate_deltas"] += duplicates
        stats["expired_deltas"] += expired
        stats["requests_no_catalog"] += no_catalog
        requests = []
        for delta, item_id, impressions_before in offers.values():
            request = self._offer({"e": delta[1], "i": item_id, "t": delta[2],
                                   "q": delta[3], "f": delta[4],
                                   "a": delta[8] if len(delta) > 8 else None},
                                  impressions_before,
                                  partition)
            if request is not None:
                requests.append(request)
        self._expire_items(partition)
        return requests

    # --- catalog ----------------------------------------------------------------------

    def count_catalog(self, raw: bytes, partition: int, location: str) -> list[DeadLetter]:
        """One catalog record of catalog `partition` (`StreamState.on_catalog`, and which
        partition the item belongs to, so a revoked partition's items can be dropped)."""
        event = self.decode_catalog(raw, location)
        if isinstance(event, DeadLetter):
            return [event]
        self.store_catalog(event)
        self.catalog_part[event.item.item_id] = partition
        return []

    # --- snapshots --------------------------------------------------------------------

    def snapshot(self, partition: int) -> dict[str, Any]:
        """Everything partition `partition` holds (its search-log side and its item-delta
        side), JSON-able; `restore` puts it back."""
        qh, ih = self.t.query_hours, self.t.item_hours
        queries = {key: qh[key] for hour, query in _of(self.query_index.hours, partition)
                   if (key := agg.bucket_key(query, hour)) in qh}
        items = {key: ih[key] for hour, item_id in _of(self.item_index.hours, partition)
                 if (key := agg.bucket_key(item_id, hour)) in ih}
        requested = {pkey: self.t.requested[pkey]
                     for _, pkey in _of(self.requested_index.hours, partition)
                     if pkey in self.t.requested}
        clock = self.clock
        return {"partition": partition, "query_hours": queries, "item_hours": items,
                "requested": requested, "seen": self.seen.get(partition, {}),
                "clock": {"event_ms": clock.event_ms.get(partition),
                          "delta_ms": clock.delta_ms.get(partition, {}),
                          "delta_latest_ms": clock.delta_latest_ms.get(partition)}}

    def restore(self, snap: dict[str, Any]) -> None:
        """Take over a partition from its snapshot; every restored entity is dirty, so
        Feast gets what was counted before (maybe never pushed)."""
        partition = int(snap["partition"])
        for key, bucket in snap["query_hours"].items():
            query, hour = agg.split_bucket_key(key)
            self.t.query_hours[key] = bucket
            self.query_index.add(hour, query, partition)
            self.dirty_queries.add(query)
            self.dirty_pairs.update((query, item_id) for item_id in bucket["p"])
        for key, bucket in snap["item_hours"].items():
            item_id, hour = agg.split_bucket_key(key)
            self.t.item_hours[key] = bucket
            self.item_index.add(hour, item_id, partition)
            self.dirty_items.add(item_id)
            self._impressions_24h.pop(item_id, None)
        for pkey, requested_at in snap["requested"].items():
            self.t.requested[pkey] = requested_at
            self.requested_index.add(agg.hour_of(requested_at), pkey, partition)
        seen = self.seen[partition] = dict(snap["seen"])
        hours = self._seen_hours[partition] = {}
        for event_id, hour in seen.items():
            hours.setdefault(hour, []).append(event_id)
        clock = snap["clock"]
        if clock["event_ms"] is not None:
            self.clock.observe(partition, clock["event_ms"])
        for source, ts in clock["delta_ms"].items():
            self.clock.observe_delta(partition, int(source), ts)
        if clock["delta_latest_ms"] is not None:
            self.clock.observe_delta(partition, None, clock["delta_latest_ms"])
        self._swept = {}
        self.stats["partitions_restored"] += 1

    def drop(self, partition: int) -> None:
        """Forget a partition this worker no longer owns (its snapshot is written first),
        dirty marks included: a row of a dropped entity would overwrite the new owner's."""
        queries: set[str] = set()
        for hour, query in self.query_index.take_below(1 << 62, partition):
            self.t.query_hours.pop(agg.bucket_key(query, hour), None)
            queries.add(query)
        items: set[str] = set()
        for hour, item_id in self.item_index.take_below(1 << 62, partition):
            self.t.item_hours.pop(agg.bucket_key(item_id, hour), None)
            items.add(item_id)
            self._impressions_24h.pop(item_id, None)
        for _, pkey in self.requested_index.take_below(1 << 62, partition):
            self.t.requested.pop(pkey, None)
        for query in queries:
            self._searches_24h.pop(query, None)
        gone = [i for i, p in self.catalog_part.items() if p == partition]
        for item_id in gone:
            self.t.catalog.pop(item_id, None)
            del self.catalog_part[item_id]
            self.dirty_content.pop(item_id, None)
        self.dirty_queries -= queries
        self.dirty_pairs = {qi for qi in self.dirty_pairs if qi[0] not in queries}
        self.dirty_items -= items
        self.seen.pop(partition, None)
        self._seen_hours.pop(partition, None)
        self.clock.event_ms.pop(partition, None)
        self.clock.delta_ms.pop(partition, None)
        self.clock.delta_latest_ms.pop(partition, None)
        self._swept = {k: v for k, v in self._swept.items() if k[1] != partition}
        self.stats["partitions_dropped"] += 1

    def mark_all_dirty(self) -> None:
        """The periodic full sync: every entity held is pushed again."""
        for key, bucket in self.t.query_hours.items():
            query = agg.split_bucket_key(key)[0]
            self.dirty_queries.add(query)
            self.dirty_pairs.update((query, item_id) for item_id in bucket["p"])
        self.dirty_items.update(agg.split_bucket_key(k)[0] for k in self.t.item_hours)
        self.stats["full_syncs"] += 1


def _check_deltas(deltas: Any) -> None:
    """Raise ValueError unless `deltas` has the shape this engine sends (`Delta`), before
    anything is counted: a message is counted whole or dead-lettered whole."""
    if type(deltas) is not list:
        raise ValueError("deltas: expected a list")
    for d in deltas:
        if not (type(d) is list and len(d) in (8, 9) and type(d[0]) is int and type(d[1]) is str
                and type(d[2]) is int and (d[3] is None or type(d[3]) is str)
                and type(d[4]) is int and type(d[5]) is list and d[5]
                and all(type(i) is str for i in d[5])
                and (d[6] is None or (type(d[6]) is list and len(d[6]) == len(d[5])
                                      and all(type(x) is int for x in d[6])))
                and (d[7] is None or (type(d[7]) is list and len(d[7]) == 4 and len(d[5]) == 1
                                      and all(type(x) is int for x in d[7])))
                and (len(d) == 8 or d[8] is None or type(d[8]) is int)):
            raise ValueError(f"not an item delta: {str(d)[:200]}")


def _of(hours: dict[int, dict[str, int]], partition: int) -> list[tuple[int, str]]:
    """(hour, entity) of an `HourIndex`'s entries written from `partition`."""
    return [(hour, entity) for hour, entities in hours.items()
            for entity, p in entities.items() if p == partition]
