"""What the stream processor does with each message, on its tables (no Faust in here).

`StreamState` holds the four tables the Faust app gives it (any mutable mapping works,
which is how the unit tests drive it) and turns messages into table updates plus the
messages to send next:

- search-log (keyed by query): count the event into its (query, hour) bucket unless that
  bucket already counted its `event_id`; send one item delta per touched item;
- item deltas (keyed by item, an internal topic): count into the (item, hour) bucket,
  same dedup; offer the pair of a search counted for the first time to the
  label-request policy (a duplicate is never offered, so a replay asks for nothing new);
- catalog (keyed by item): keep the item for label requests and for the feature store.

Every changed entity is remembered as dirty; `collect_rows` turns the dirty ones into
Feast rows (window sums as of each entity's latest event).
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from feature_store.client import item_content_row
from feature_store.definitions import ITEM_CONTENT, ITEM_STATS, PAIR_STATS, QUERY_STATS
from streams.errors import SchemaError
from streams.processor import aggregates as agg
from streams.processor.metrics import MetricsWriter
from streams.processor.policy import Candidate, LabelRequestPolicy
from streams.schemas import (
    CatalogEvent,
    CatalogItem,
    DeadLetter,
    FeedbackEvent,
    LabelRequest,
    SearchEvent,
    decode_event,
    normalize_query,
    pair_key,
    ts_millis,
)

log = logging.getLogger(__name__)

Table = MutableMapping[str, Any]
UncertaintyFn = Callable[[str, CatalogItem], float | None]


@dataclass
class Outputs:
    """Messages to send after handling one input message."""

    deltas: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    requests: list[LabelRequest] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)


@dataclass
class Tables:
    query_hours: Table
    item_hours: Table
    catalog: Table
    requested: Table


def _dead(reason: str, raw: bytes, location: str) -> DeadLetter:
    return DeadLetter(ts=datetime.now(UTC), source="streams-processor", reason=reason,
                      original=raw[:64_000].decode("utf-8", "replace"),
                      original_size=len(raw), location=location)


def request_id_for(pair: str, source_event_id: str) -> str:
    """Deterministic, so a request re-sent after a crash carries the same id."""
    return "lr-" + hashlib.sha1(f"{pair}\x1e{source_event_id}".encode()).hexdigest()[:20]


def _split_set(values: set[Any], n: int) -> tuple[set[Any], set[Any]]:
    """(up to `n` of `values`, the rest)."""
    if n <= 0:
        return set(), values
    if len(values) <= n:
        return values, set()
    chosen: set[Any] = set()
    for value in values:
        if len(chosen) >= n:
            break
        chosen.add(value)
    return chosen, values - chosen


def _split_dict(values: dict[str, Any], n: int) -> tuple[dict[str, Any], dict[str, Any]]:
    keys, rest = _split_set(set(values), n)
    return {k: values[k] for k in keys}, {k: values[k] for k in rest}


def fast_get(table: Table) -> Callable[[str], Any]:
    """`table.get`, minus Faust's wrapper layers when the table sits on the memory store
    (its values are plain dicts there): window sums do ~25 reads per message."""
    data = getattr(getattr(table, "data", None), "data", None)
    return data.get if isinstance(data, dict) else table.get


class StreamState:
    def __init__(self, tables: Tables, policy: LabelRequestPolicy, prior: agg.CtrPrior,
                 metrics: MetricsWriter | None = None,
                 uncertainty_fn: UncertaintyFn | None = None) -> None:
        self.t = tables
        self.policy = policy
        self.prior = prior
        self.metrics = metrics
        self.uncertainty_fn = uncertainty_fn
        self.stats: Counter[str] = Counter()
        self._get_query_hour = fast_get(tables.query_hours)
        self._get_item_hour = fast_get(tables.item_hours)
        self._get_catalog = fast_get(tables.catalog)
        self._get_requested = fast_get(tables.requested)
        self.query_latest: dict[str, int] = {}
        self.item_latest: dict[str, int] = {}
        self.pair_latest: dict[tuple[str, str], int] = {}
        self.dirty_queries: set[str] = set()
        self.dirty_items: set[str] = set()
        self.dirty_pairs: set[tuple[str, str]] = set()
        self.dirty_content: dict[str, tuple[CatalogItem, datetime]] = {}

    # --- search log (partitioned by query) ------------------------------------------------

    def on_search_log(self, key: bytes | None, raw: bytes, location: str) -> Outputs:
        out = Outputs()
        try:
            event = decode_event(raw)
        except SchemaError as exc:
            self.stats["dead_lettered"] += 1
            out.dead.append(_dead(str(exc), raw, location))
            return out
        if isinstance(event, SearchEvent):
            query: str | None = normalize_query(event.query)
            deltas = agg.search_deltas(r.item_id for r in event.results)
            searches = 1
        elif isinstance(event, FeedbackEvent):
            # Feedback carries no query: the producer keys it by its search's query. A
            # feedback whose search was never seen is keyed by its request_id instead; it
            # counts for the item only.
            query = key.decode("utf-8", "replace") if key else None
            if query is None or query == event.request_id:
                query = None
                self.stats["orphan_feedback"] += 1
            deltas = {event.item_id: agg.action_vector(event.action)}
            searches = 0
        else:
            self.stats["dead_lettered"] += 1
            out.dead.append(_dead(f"unexpected event type {event.type!r} on the search log "
                                  "(expected 'search' or 'feedback')", raw, location))
            return out
        self.stats[event.type] += 1
        ts = ts_millis(event.ts)
        freq = 0
        if query is not None:
            hour = agg.hour_of(ts)
            bkey = agg.bucket_key(query, hour)
            bucket = self._get_query_hour(bkey) or agg.new_query_bucket()
            if agg.apply_query_event(bucket, event.event_id, ts, searches, deltas):
                self.t.query_hours[bkey] = bucket
                self.stats["query_counted"] += 1
            else:
                self.stats["duplicates"] += 1
            self._touch(self.query_latest, query, ts)
            self.dirty_queries.add(query)
            for item_id in deltas:
                self._touch(self.pair_latest, (query, item_id), ts)
                self.dirty_pairs.add((query, item_id))
            freq = self._query_searches_24h(query, hour)
        for item_id, vec in deltas.items():
            # Sent even for a duplicate: the crash that caused the redelivery may have
            # lost the first delta, and the item side drops a second copy by event_id.
            out.deltas.append((item_id, {"e": event.event_id, "i": item_id, "t": ts, "c": vec,
                                         "q": query, "s": searches, "f": freq}))
        return out

    # --- item deltas (partitioned by item, like the catalog) ----------------------------

    def on_item_delta(self, delta: dict[str, Any]) -> Outputs:
        out = Outputs()
        item_id, ts = delta["i"], int(delta["t"])
        hour = agg.hour_of(ts)
        impressions_before = self._item_impressions_24h(item_id, hour)
        bkey = agg.bucket_key(item_id, hour)
        bucket = self._get_item_hour(bkey) or agg.new_item_bucket()
        counted = agg.apply_item_event(bucket, delta["e"], ts, list(delta["c"]))
        if counted:
            self.t.item_hours[bkey] = bucket
            self.stats["item_counted"] += 1
        self._touch(self.item_latest, item_id, ts)
        self.dirty_items.add(item_id)
        if delta.get("s") and delta.get("q") is not None:
            if not counted:
                # A showing already counted (a replay of the same events, a redelivery)
                # was offered when it was first counted. Offering it again used to let
                # pairs that budget or a missing catalog entry had turned away through on
                # the second pass, so a replay of a known file made new requests. The
                # price: a request lost to a crash between counting and sending is not
                # re-sent; the pair is offered again at its next new showing.
                self.stats["requests_skipped_duplicate"] += 1
                return out
            request = self._offer(delta, impressions_before)
            if request is not None:
                out.requests.append(request)
        return out

    def _offer(self, delta: dict[str, Any], impressions_before: int) -> LabelRequest | None:
        query, item_id, ts = delta["q"], delta["i"], int(delta["t"])
        pkey = pair_key(query, item_id)
        if self.policy.is_duplicate(self._get_requested(pkey), ts):
            self.stats["requests_deduped"] += 1
            return None
        stored = self._get_catalog(item_id)
        if stored is None:
            self.stats["requests_no_catalog"] += 1  # not marked: asked again next time
            return None
        item = CatalogItem.model_validate(stored["item"])
        score = self.uncertainty_fn(query, item) if self.uncertainty_fn else None
        cand = Candidate(int(delta.get("f") or 1), impressions_before, score)
        long_tail, new_item = self.policy.is_long_tail(cand), self.policy.is_new_item(cand)
        self.stats["candidates"] += 1
        self.stats["candidates_long_tail"] += long_tail
        self.stats["candidates_new_item"] += new_item
        decision = self.policy.decide(cand, ts)
        if not decision.admitted:
            self.stats["requests_over_budget"] += 1
            return None
        self.t.requested[pkey] = ts
        self.stats["requests"] += 1
        self.stats["requests_long_tail"] += long_tail
        self.stats["requests_new_item"] += new_item
        event_ts = datetime.fromtimestamp(ts / 1000, UTC)
        request = LabelRequest(ts=event_ts, event_id=request_id_for(pkey, delta["e"]),
                               query=query, item_id=item_id, item=item,
                               priority=decision.priority, reasons=decision.reasons,
                               source_event_id=delta["e"])
        if self.metrics is not None:
            self.metrics.label_request(event_ts, request.event_id, query, item_id,
                                       decision.priority, decision.reasons, delta["e"],
                                       long_tail, new_item)
        return request

    # --- catalog (partitioned by item) ----------------------------------------------------

    def on_catalog(self, raw: bytes, location: str) -> Outputs:
        out = Outputs()
        try:
            event = decode_event(raw)
            if not isinstance(event, CatalogEvent):
                raise SchemaError(f"unexpected event type {event.type!r} on the catalog topic")
        except SchemaError as exc:
            self.stats["dead_lettered"] += 1
            out.dead.append(_dead(str(exc), raw, location))
            return out
        self.t.catalog[event.item.item_id] = {"item": event.item.model_dump(mode="json"),
                                              "t": ts_millis(event.ts)}
        self.dirty_content[event.item.item_id] = (event.item, event.ts)
        self.stats["catalog"] += 1
        return out

    # --- window sums → Feast rows -----------------------------------------------------------

    @staticmethod
    def _touch(latest: dict[Any, int], key: Any, ts: int) -> None:
        if ts > latest.get(key, -1):
            latest[key] = ts

    def _query_vec(self, query: str, hour: int) -> list[int] | None:
        bucket = self._get_query_hour(agg.bucket_key(query, hour))
        return bucket["q"] if bucket else None

    def _pair_vec(self, query: str, item_id: str, hour: int) -> list[int] | None:
        bucket = self._get_query_hour(agg.bucket_key(query, hour))
        vec = bucket["p"].get(item_id) if bucket else None
        return vec[:4] if vec else None

    def _item_vec(self, item_id: str, hour: int) -> list[int] | None:
        bucket = self._get_item_hour(agg.bucket_key(item_id, hour))
        return bucket["c"] if bucket else None

    def _query_searches_24h(self, query: str, hour: int) -> int:
        row = agg.window_sums(lambda h: self._query_vec(query, h), hour, 0, 5)
        return row.sums["24h"][0]

    def _item_impressions_24h(self, item_id: str, hour: int) -> int:
        row = agg.window_sums(lambda h: self._item_vec(item_id, h), hour, 0, 4)
        return row.sums["24h"][0]

    @property
    def dirty_count(self) -> int:
        """Entities waiting to be pushed (rows of the next `collect_rows`, all views)."""
        return (len(self.dirty_queries) + len(self.dirty_items) + len(self.dirty_pairs)
                + len(self.dirty_content))

    def collect_rows(self, limit: int | None = None) -> dict[str, list[dict[str, Any]]]:
        """Feast rows for the dirty entities, at most `limit` in all (item content, then
        queries, items, pairs); clears their dirty marks, the rest wait for the next call.

        The limit bounds one push: after a restart every entity is dirty, and pushing them
        all at once held the push timer for over a minute."""
        rows: dict[str, list[dict[str, Any]]] = {ITEM_CONTENT: [], QUERY_STATS: [],
                                                 ITEM_STATS: [], PAIR_STATS: []}
        if limit is not None and self.dirty_count > limit:
            return self._collect_some(rows, limit)
        for q in self.dirty_queries:
            ts = self.query_latest[q]
            sums = agg.window_sums(partial(self._query_vec, q), agg.hour_of(ts), ts, 5)
            rows[QUERY_STATS].append({"query": q, **agg.feature_row(
                sums, agg.QUERY_COUNT_NAMES, self.prior)})
        for q, i in self.dirty_pairs:
            ts = self.pair_latest[(q, i)]
            sums = agg.window_sums(partial(self._pair_vec, q, i), agg.hour_of(ts), ts, 4)
            rows[PAIR_STATS].append({"query": q, "item_id": i, **agg.feature_row(
                sums, agg.COUNT_NAMES, self.prior)})
        for i in self.dirty_items:
            ts = self.item_latest[i]
            sums = agg.window_sums(partial(self._item_vec, i), agg.hour_of(ts), ts, 4)
            rows[ITEM_STATS].append({"item_id": i, **agg.feature_row(
                sums, agg.COUNT_NAMES, self.prior)})
        for item, seen_at in self.dirty_content.values():
            rows[ITEM_CONTENT].append(item_content_row(item, seen_at))
        self.dirty_queries, self.dirty_items, self.dirty_pairs = set(), set(), set()
        self.dirty_content = {}
        return rows

    def _collect_some(self, rows: dict[str, list[dict[str, Any]]], limit: int
                      ) -> dict[str, list[dict[str, Any]]]:
        content, self.dirty_content = _split_dict(self.dirty_content, limit)
        limit -= len(content)
        queries, self.dirty_queries = _split_set(self.dirty_queries, limit)
        limit -= len(queries)
        items, self.dirty_items = _split_set(self.dirty_items, limit)
        limit -= len(items)
        pairs, self.dirty_pairs = _split_set(self.dirty_pairs, limit)
        # The same rows as a full collect, over the chosen entities only.
        rest = (self.dirty_queries, self.dirty_items, self.dirty_pairs, self.dirty_content)
        self.dirty_queries, self.dirty_items, self.dirty_pairs = queries, items, pairs
        self.dirty_content = content
        try:
            return self.collect_rows()
        finally:
            self.dirty_queries, self.dirty_items, self.dirty_pairs, self.dirty_content = rest

    def mark_dirty(self, rows: dict[str, list[dict[str, Any]]]) -> None:
        """Put rows whose push failed back, so the next push retries them."""
        self.dirty_queries.update(r["query"] for r in rows.get(QUERY_STATS, []))
        self.dirty_items.update(r["item_id"] for r in rows.get(ITEM_STATS, []))
        self.dirty_pairs.update((r["query"], r["item_id"]) for r in rows.get(PAIR_STATS, []))
        for r in rows.get(ITEM_CONTENT, []):
            stored = self.t.catalog.get(r["item_id"])
            if stored is not None:
                item = CatalogItem.model_validate(stored["item"])
                self.dirty_content[item.item_id] = (item, r["event_timestamp"])

    def rebuild(self) -> None:
        """After a restart or rebalance: re-derive latest times from the tables and mark
        every entity dirty, so Feast gets what was counted but maybe never pushed."""
        self.stats["rebuilds"] += 1
        for key, bucket in list(self.t.query_hours.items()):
            query, _ = agg.split_bucket_key(key)
            self._touch(self.query_latest, query, bucket["t"])
            self.dirty_queries.add(query)
            for item_id, vec in bucket["p"].items():
                self._touch(self.pair_latest, (query, item_id), vec[4])
                self.dirty_pairs.add((query, item_id))
        for key, bucket in list(self.t.item_hours.items()):
            item_id, _ = agg.split_bucket_key(key)
            self._touch(self.item_latest, item_id, bucket["t"])
            self.dirty_items.add(item_id)
        for item_id, stored in list(self.t.catalog.items()):
            item = CatalogItem.model_validate(stored["item"])
            self.dirty_content[item_id] = (item, datetime.fromtimestamp(stored["t"] / 1000, UTC))
