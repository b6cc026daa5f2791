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

Every changed entity is remembered as dirty; `collect_rows` (`feature_rows`) turns the
dirty ones into Feast rows, as of the processor's clock. State behind the kept hours is
dropped as the clock moves on (`expiry`).
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Callable, Collection, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from relstream.core.errors import SchemaError
from relstream.core.schemas import (
    CatalogEvent,
    CatalogItem,
    DeadLetter,
    FeedbackEvent,
    LabelRequest,
    SearchEvent,
    decode_event,
    normalize_query,
    ts_millis,
)
from streams.processor import aggregates as agg
from streams.processor.clock import StreamClock, key_partition
from streams.processor.expiry import HourIndex, Retention
from streams.processor.feature_rows import FeatureRows
from streams.processor.metrics import LabelRequestRows
from streams.processor.policy import Candidate, LabelRequestPolicy

log = logging.getLogger(__name__)

Table = MutableMapping[str, Any]
Owned = Mapping[str, Collection[int]]
"""Table name (a `Tables` field) → the table's partitions this worker owns."""
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


def dead_letter(reason: str, raw: bytes, location: str) -> DeadLetter:
    """A dead letter of the stream processor (either engine)."""
    return DeadLetter.of("streams-processor", reason, raw, location)


def request_id_for(pair: str, source_event_id: str) -> str:
    """Deterministic, so a request re-sent after a crash carries the same id."""
    return "lr-" + hashlib.sha1(f"{pair}\x1e{source_event_id}".encode()).hexdigest()[:20]


def fast_get(table: Table) -> Callable[[str], Any]:
    """`table.get`, minus Faust's wrapper layers when the table sits on the memory store
    (its values are plain dicts there): window sums do ~25 reads per message."""
    data = getattr(getattr(table, "data", None), "data", None)
    return data.get if isinstance(data, dict) else table.get


class StreamState(FeatureRows):
    def __init__(self, tables: Tables, policy: LabelRequestPolicy, prior: agg.CtrPrior,
                 metrics: LabelRequestRows | None = None,
                 uncertainty_fn: UncertaintyFn | None = None,
                 clock: StreamClock | None = None, slack_hours: int = 2) -> None:
        """`clock` defaults to one in the policy's clock mode; `slack_hours`: hours of
        buckets kept beyond the longest window (see `expiry`)."""
        self.t = tables
        self.policy = policy
        self.prior = prior
        self.metrics = metrics
        self.uncertainty_fn = uncertainty_fn
        self.clock = clock if clock is not None else StreamClock(policy.params.clock)
        self.retention = Retention(max(agg.WINDOW_HOURS.values()), slack_hours,
                                   int(policy.params.dedup_window_s * 1000))
        self.stats: Counter[str] = Counter()
        self._get_query_hour = fast_get(tables.query_hours)
        self._get_item_hour = fast_get(tables.item_hours)
        self._get_catalog = fast_get(tables.catalog)
        self._get_requested = fast_get(tables.requested)
        self.catalog_table = tables.catalog
        # Which entities hold state in which hour (derived; rebuilt from the tables).
        self.query_index = HourIndex()
        self.item_index = HourIndex()
        self._impressions_24h: dict[str, tuple[int, int]] = {}
        """item → (hour, its impressions in the 24 h window ending at that hour): the
        label policy asks this for every showing, and summing 24 hourly buckets each time
        was 60 % of the state's CPU (`_item_impressions_24h`)."""
        self.requested_index = HourIndex()
        self._swept: dict[tuple[str, int], int] = {}
        self._rows_hour: int | None = None
        """The clock hour the last rows were computed as of."""
        self.dirty_queries: set[str] = set()
        self.dirty_items: set[str] = set()
        self.dirty_pairs: set[tuple[str, str]] = set()
        self.dirty_content: dict[str, tuple[CatalogItem, datetime]] = {}

    # --- search log (partitioned by query) ------------------------------------------------

    def on_search_log(self, key: bytes | None, raw: bytes, location: str,
                      partition: int | None = None) -> Outputs:
        """One search-log message from `partition` (None: where Kafka's default
        partitioner puts `key`)."""
        out = Outputs()
        try:
            event = decode_event(raw)
        except SchemaError as exc:
            self.stats["dead_lettered"] += 1
            out.dead.append(dead_letter(str(exc), raw, location))
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
            out.dead.append(dead_letter(f"unexpected event type {event.type!r} on the search log "
                                  "(expected 'search' or 'feedback')", raw, location))
            return out
        self.stats[event.type] += 1
        ts = ts_millis(event.ts)
        hour = agg.hour_of(ts)
        if partition is None:
            partition = key_partition(key.decode("utf-8", "replace")) if key else 0
        freq, age = 0, None
        if query is not None:
            horizon = self.retention.horizon_hour(self.clock.reference_ms(partition))
            if horizon is not None and hour < horizon:
                # Behind the kept hours (a replay of an old stretch, a very late event):
                # it falls in no window any more, and its bucket, if it ever had one, is
                # gone, so it could not be told from a duplicate. No deltas either.
                self.stats["expired"] += 1
                self.stats["expired_listings"] += len(deltas) * searches
                return out
            bkey = agg.bucket_key(query, hour)
            bucket = self._get_query_hour(bkey) or agg.new_query_bucket()
            if agg.apply_query_event(bucket, event.event_id, ts, searches, deltas):
                self.t.query_hours[bkey] = bucket
                self.query_index.add(hour, query, partition)
                self.stats["query_counted"] += 1
                # Only what changed is pushed. A duplicate changes nothing; whatever a
                # crash left counted but unpushed is pushed by the rebuild after restart.
                self.dirty_queries.add(query)
                self.dirty_pairs.update((query, item_id) for item_id in deltas)
            else:
                self.stats["duplicates"] += 1
            freq, age = self._query_window(query, hour)
        self.clock.observe(partition, ts)
        for item_id, vec in deltas.items():
            # Sent even for a duplicate: the crash that caused the redelivery may have
            # lost the first delta, and the item side drops a second copy by event_id.
            out.deltas.append((item_id, {"e": event.event_id, "i": item_id, "t": ts, "c": vec,
                                         "q": query, "s": searches, "f": freq,
                                         "a": age, "p": partition}))
        self._expire_queries(partition)
        return out

    # --- item deltas (partitioned by item, like the catalog) ----------------------------

    def on_item_delta(self, delta: dict[str, Any], partition: int | None = None) -> Outputs:
        """One item delta, from delta-topic `partition` (None: the item's partition)."""
        out = Outputs()
        item_id, ts = delta["i"], int(delta["t"])
        if partition is None:
            partition = key_partition(item_id)
        source = delta.get("p")
        self.clock.observe_delta(partition, source if isinstance(source, int) else None, ts)
        hour = agg.hour_of(ts)
        horizon = self.retention.horizon_hour(self.clock.delta_reference_ms(partition))
        if horizon is not None and hour < horizon:
            self.stats["expired_deltas"] += 1  # see on_search_log; never offered either
            self._expire_items(partition)
            return out
        impressions_before = self._item_impressions_24h(item_id, hour)
        bkey = agg.bucket_key(item_id, hour)
        bucket = self._get_item_hour(bkey) or agg.new_item_bucket()
        counted = agg.apply_item_event(bucket, delta["e"], ts, list(delta["c"]))
        if counted:
            self._count_impressions(item_id, hour, delta["c"][0])
            self.t.item_hours[bkey] = bucket
            self.item_index.add(hour, item_id, partition)
            self.stats["item_counted"] += 1
            self.dirty_items.add(item_id)  # as for queries: a duplicate changes nothing
        self._expire_items(partition)
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
            request = self._offer(delta, impressions_before, partition)
            if request is not None:
                out.requests.append(request)
        return out

    def _offer(self, delta: dict[str, Any], impressions_before: int, partition: int
               ) -> LabelRequest | None:
        query, item_id, ts = delta["q"], delta["i"], int(delta["t"])
        # `pair_key` without normalising again: a delta's query is normalised already.
        pkey = f"{query}{agg.KEY_SEP}{item_id}"
        if self.policy.is_duplicate(self._get_requested(pkey), ts):
            self.stats["requests_deduped"] += 1
            return None
        stored = self._get_catalog(item_id)
        if stored is None:
            self.stats["requests_no_catalog"] += 1  # not marked: asked again next time
            return None
        # The stored item was validated when its catalog event came in; rebuilding the
        # pydantic model is only needed for a scorer or an admitted request (most
        # candidates of a busy stream are turned away by the budget).
        item: CatalogItem | None = None
        score = None
        if self.uncertainty_fn is not None:
            item = CatalogItem.model_validate(stored["item"])
            score = self.uncertainty_fn(query, item)
        age = delta.get("a")  # absent from deltas sent before the signal existed
        cand = Candidate(int(delta.get("f") or 1), impressions_before, score,
                         age if type(age) is int else None)
        long_tail, new_item = self.policy.is_long_tail(cand), self.policy.is_new_item(cand)
        new_query = self.policy.is_new_query(cand)
        self.stats["candidates"] += 1
        self.stats["candidates_long_tail"] += long_tail
        self.stats["candidates_new_item"] += new_item
        self.stats["candidates_new_query"] += new_query
        decision = self.policy.decide(cand, ts)
        if not decision.admitted:
            self.stats["requests_over_budget"] += 1
            return None
        self.t.requested[pkey] = ts
        self.requested_index.add(agg.hour_of(ts), pkey, partition)
        self.stats["requests"] += 1
        self.stats["requests_long_tail"] += long_tail
        self.stats["requests_new_item"] += new_item
        self.stats["requests_new_query"] += new_query
        if item is None:
            item = CatalogItem.model_validate(stored["item"])
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

    def decode_catalog(self, raw: bytes, location: str) -> CatalogEvent | DeadLetter:
        """A catalog record's event, or its dead letter (counted)."""
        try:
            event = decode_event(raw)
            if not isinstance(event, CatalogEvent):
                raise SchemaError(f"unexpected event type {event.type!r} on the catalog topic")
        except SchemaError as exc:
            self.stats["dead_lettered"] += 1
            return dead_letter(str(exc), raw, location)
        return event

    def on_catalog(self, raw: bytes, location: str) -> Outputs:
        out = Outputs()
        event = self.decode_catalog(raw, location)
        if isinstance(event, DeadLetter):
            out.dead.append(event)
        else:
            self.store_catalog(event)
        return out

    def store_catalog(self, event: CatalogEvent) -> None:
        """Keep a catalog item for label requests and the feature store."""
        self.t.catalog[event.item.item_id] = {"item": event.item.model_dump(mode="json"),
                                              "t": ts_millis(event.ts)}
        self.dirty_content[event.item.item_id] = (event.item, event.ts)
        self.stats["catalog"] += 1

    # --- expiry -------------------------------------------------------------------------

    def _expire_queries(self, partition: int) -> None:
        """Drop the query buckets of `partition` behind its kept hours (run while one of
        its messages is in hand: the tombstones go to that changelog partition)."""
        horizon = self.retention.horizon_hour(self.clock.reference_ms(partition))
        if horizon is None or horizon <= self._swept.get(("q", partition), horizon - 1):
            return
        self._swept[("q", partition)] = horizon
        for hour, query in self.query_index.take_below(horizon, partition):
            if self.in_last_rows(hour):
                self._mark_query_hour(query, hour)  # Feast still shows it in a window
            key = agg.bucket_key(query, hour)
            if self._get_query_hour(key) is not None:
                del self.t.query_hours[key]
                self.stats["query_buckets_expired"] += 1

    def _expire_items(self, partition: int) -> None:
        """Drop item buckets and `requested` pairs of delta `partition` behind the kept
        hours (counted back from the slowest source partition seen there)."""
        horizon = self.retention.horizon_hour(self.clock.delta_reference_ms(partition))
        if horizon is None or horizon <= self._swept.get(("i", partition), horizon - 1):
            return
        self._swept[("i", partition)] = horizon
        for hour, item_id in self.item_index.take_below(horizon, partition):
            self._impressions_24h.pop(item_id, None)  # its sum may hold the dropped bucket
            if self.in_last_rows(hour):
                self.dirty_items.add(item_id)
            key = agg.bucket_key(item_id, hour)
            if self._get_item_hour(key) is not None:
                del self.t.item_hours[key]
                self.stats["item_buckets_expired"] += 1
        before = self.retention.requested_horizon_ms(horizon)
        assert before is not None
        for _, pkey in self.requested_index.take_below(agg.hour_of(before), partition):
            requested_at = self._get_requested(pkey)
            # A pair requested again later is indexed under its newer hour too.
            if requested_at is not None and requested_at < before:
                del self.t.requested[pkey]
                self.stats["requested_expired"] += 1

    def _query_window(self, query: str, hour: int) -> tuple[int, int | None]:
        """The query's searches in the 24 h window ending at `hour`, and the hours from
        the window's first search to `hour` (None: no search in it). First counts only:
        summing whole vectors took ~10x the time, and this runs per search."""
        get, sep = self._get_query_hour, agg.KEY_SEP
        total, first = 0, None
        for h in range(hour - agg.WINDOW_HOURS["24h"] + 1, hour + 1):
            bucket = get(f"{query}{sep}{h}")
            if bucket and bucket["q"][0]:
                total += bucket["q"][0]
                if first is None:
                    first = h
        return total, None if first is None else hour - first

    def _item_impressions_24h(self, item_id: str, hour: int) -> int:
        """The item's impressions in the 24 h window ending at `hour`; cached for the
        newest hour asked, kept current by `_count_impressions` (a 24-bucket sum once per
        item and hour instead of once per showing)."""
        cached = self._impressions_24h.get(item_id)
        if cached is not None and cached[0] == hour:
            return cached[1]
        width = agg.WINDOW_HOURS["24h"]
        if cached is not None and cached[0] - width < hour < cached[0]:
            # A delta a little behind the newest one (the search-log partitions are read
            # side by side, hours apart): shift the cached window back instead of summing
            # 24 buckets, W(h) = W(H) - buckets h+1..H + buckets h-23..H-24.
            total = cached[1]
            for h in range(hour + 1, cached[0] + 1):
                total -= self._item_impressions(item_id, h)
                total += self._item_impressions(item_id, h - width)
            return total
        total = sum(self._item_impressions(item_id, h)
                    for h in range(hour - width + 1, hour + 1))
        if cached is None or hour > cached[0]:  # a late event's window is not cached
            self._impressions_24h[item_id] = (hour, total)
        return total

    def _item_impressions(self, item_id: str, hour: int) -> int:
        bucket = self._get_item_hour(agg.bucket_key(item_id, hour))
        return int(bucket["c"][0]) if bucket else 0

    def _count_impressions(self, item_id: str, hour: int, impressions: int) -> None:
        """Keep the cached 24 h total exact when a delta of `hour` is counted."""
        cached = self._impressions_24h.get(item_id)
        if cached is not None and cached[0] - agg.WINDOW_HOURS["24h"] < hour <= cached[0]:
            self._impressions_24h[item_id] = (cached[0], cached[1] + impressions)

    def on_rebalance(self) -> None:
        """Partitions moved: a restored table may hold counts the per-item cache never
        saw, so the cache starts over (the next push's `rebuild` redoes the rest)."""
        self._impressions_24h = {}

    def state_size(self) -> dict[str, int]:
        """Entries per table (what expiry keeps bounded)."""
        return {"query_hours": len(self.t.query_hours), "item_hours": len(self.t.item_hours),
                "requested": len(self.t.requested), "catalog": len(self.t.catalog),
                "indexed_hours": len(self.query_index) + len(self.item_index),
                "indexed_requested": len(self.requested_index)}

    def rebuild(self, owned: Owned | None = None) -> None:
        """After a restart or rebalance: re-derive the clock and the hour indexes from the
        tables and mark every entity dirty, so Feast gets what was counted but maybe
        never pushed. `owned`: the table partitions this worker holds now; entries of
        any other partition are forgotten first (`forget_unowned`)."""
        self.stats["rebuilds"] += 1
        if owned is not None:
            self.forget_unowned(owned)
        self.query_index, self.item_index = HourIndex(), HourIndex()
        self._impressions_24h = {}
        self.requested_index = HourIndex()
        self._swept = {}
        for key, bucket in list(self.t.query_hours.items()):
            query, hour = agg.split_bucket_key(key)
            # A query's messages are keyed by the query: its partition is its key's.
            partition = key_partition(query)
            self.clock.observe(partition, bucket["t"])
            self.query_index.add(hour, query, partition)
            self.dirty_queries.add(query)
            self.dirty_pairs.update((query, item_id) for item_id in bucket["p"])
        for key, bucket in list(self.t.item_hours.items()):
            item_id, hour = agg.split_bucket_key(key)
            partition = key_partition(item_id)  # deltas go to the item's partition
            self.clock.observe_delta(partition, None, bucket["t"])
            self.item_index.add(hour, item_id, partition)
            self.dirty_items.add(item_id)
        for pkey, requested_at in list(self.t.requested.items()):
            item_id = pkey.rpartition(agg.KEY_SEP)[2]
            self.requested_index.add(agg.hour_of(requested_at), pkey, key_partition(item_id))
        for item_id, stored in list(self.t.catalog.items()):
            item = CatalogItem.model_validate(stored["item"])
            self.dirty_content[item_id] = (item, datetime.fromtimestamp(stored["t"] / 1000, UTC))

    def forget_unowned(self, owned: Owned) -> int:
        """Drop, from this worker's memory only, the table entries of partitions it does
        not own (`owned`: table name → its changelog partitions held here; a table not
        named is left alone), and their dirty marks; returns how many entries went.

        Faust's memory store forgets, when a rebalance takes a partition away, only the
        keys it restored from the changelog, not those this worker wrote itself: the old
        owner kept them and pushed their stale rows over the new owner's at every
        rebuild. Never `del table[key]`: that writes a tombstone to the changelog and
        deletes the new owner's state. A partition that comes back is restored from its
        changelog in full (Faust forgets a revoked partition's changelog offset)."""
        partition_of: dict[str, int] = {}

        def part(entity: str) -> int:
            p = partition_of.get(entity)
            if p is None:
                p = partition_of[entity] = key_partition(entity)
            return p

        def entity_of(name: str, key: str) -> str:
            if name in ("query_hours", "item_hours"):
                return agg.split_bucket_key(key)[0]
            if name == "requested":
                return key.rpartition(agg.KEY_SEP)[2]  # a pair lives with its item
            return key  # catalog: the item id

        dropped = 0
        for name, keep in owned.items():
            table = getattr(self.t, name)
            data, restored = local_store(table)
            gone = [k for k in data if part(entity_of(name, k)) not in keep]
            for key in gone:
                data.pop(key, None)
                if restored is not None:
                    restored.pop(key, None)
            dropped += len(gone)
        queries, items = owned.get("query_hours"), owned.get("item_hours")
        content = owned.get("catalog")
        if queries is not None:
            self.dirty_queries = {q for q in self.dirty_queries if part(q) in queries}
            self.dirty_pairs = {qi for qi in self.dirty_pairs if part(qi[0]) in queries}
        if items is not None:
            self.dirty_items = {i for i in self.dirty_items if part(i) in items}
            self._impressions_24h = {i: v for i, v in self._impressions_24h.items()
                                     if part(i) in items}
        if content is not None:
            self.dirty_content = {i: v for i, v in self.dirty_content.items()
                                  if part(i) in content}
        self.stats["entries_forgotten"] += dropped
        if dropped:
            log.info("forgot %d table entries of partitions this worker no longer owns",
                     dropped)
        return dropped


def local_store(table: Table) -> tuple[MutableMapping[str, Any], dict[Any, int] | None]:
    """The dict a table's entries live in on this worker (Faust's memory store: no
    changelog behind it), and the store's key → partition map of restored keys (None:
    not a Faust table)."""
    store = getattr(table, "data", None)
    data = getattr(store, "data", None)
    if isinstance(data, dict):
        restored = getattr(store, "_key_partition", None)
        return data, restored if isinstance(restored, dict) else None
    return table, None
