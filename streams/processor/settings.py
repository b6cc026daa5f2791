"""Settings of the stream processor (`relstream streams run`), all `RELSTREAM_*`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from feature_store.config import FeatureStoreSettings


class ProcessorSettings(FeatureStoreSettings):
    """Where the processor reads and writes, how often it pushes, how it samples pairs."""

    streams_engine: Literal["faust", "batch"] = Field(
        "batch", description="'batch' (the default): an aiokafka getmany loop counting "
        "thousands of events per batch, persisted by partition snapshots (streams/batch, "
        "docs/features.md; ~30x the events/s of the other); 'faust': one message at a time "
        "through Faust agents and changelog-backed tables (streams/processor/app.py)."
    )
    snapshot_interval_s: float = Field(
        5.0, gt=0, description="Batch engine: seconds between snapshots of each owned "
        "partition (what a restart re-reads at most)."
    )
    batch_max_records: int = Field(
        20000, ge=1, description="Batch engine: most records one getmany returns."
    )
    dedup_ids_per_partition: int = Field(
        500_000, ge=1000, description="Batch engine: most event ids each search-log "
        "partition remembers for deduplication (those of the kept hours; past this the "
        "oldest hours go first, and a duplicate older than what is kept is counted again)."
    )
    streams_app_id: str = Field(
        "relstream-streams",
        description="Faust app id (consumer group, changelog topic names); the topic prefix "
        "is prepended so deployments sharing a broker stay apart.",
    )
    push_interval_s: float = Field(
        1.0, description="Seconds between pushes of changed aggregates to Feast and ClickHouse."
    )
    push_max_rows: int = Field(
        5000, description="Most Feast rows one push writes; the rest wait for the next tick "
        "(after a restart every entity is pushed again, which in one go held the push timer "
        "for over a minute). 0 means no limit."
    )
    progress_interval_s: float = Field(
        10.0, description="Seconds between progress lines on stderr while the tables are "
        "restored from their changelogs and while every aggregate is pushed after a restart."
    )
    recovery_stall_s: float = Field(
        60.0, gt=0, description="Faust engine: seconds the restore of the tables from their "
        "changelogs may make no progress before the worker nudges Faust to fetch again; "
        "after as long again without progress the worker exits with code 75 to be "
        "restarted (streams/processor/recovery.py)."
    )
    log_repeat_interval_s: float = Field(
        30.0, description="A warning that repeats (numbers aside) is logged at most once per "
        "this many seconds, with the count held back; 0 logs every one."
    )
    label_budget_per_minute: float = Field(
        120.0, description="Label requests per minute the teacher may receive: per minute "
        "of wall time, or of event time under `label_clock=event`."
    )
    label_clock: Literal["wall", "event"] = Field(
        "wall", description="The processor's clock. It says what refills the label budget: "
        "'wall' seconds (live traffic: the budget protects the teacher's real capacity) or "
        "'event' seconds (backfill: a replayed history gets the requests the same traffic "
        "got live; set by `relstream streams run --backfill`: each window of `label_burst` "
        "requests' worth of event time admits `label_burst`, in any processing order). Per "
        "worker in both; dedup is by event time in both. It also says what the feature "
        "windows are as of: 'event' the latest event time counted, 'wall' that plus the "
        "wall time since it was counted (see docs/features.md)."
    )
    producer_buffer_messages: int = Field(
        2000, ge=100, description="Table writes that may wait to be produced before Faust "
        "pauses the stream to drain them (Faust's default is 100, ~9 search events here)."
    )
    state_slack_hours: int = Field(
        2, ge=0, description="Hours of buckets kept beyond the longest window (24 h), for "
        "late events and redeliveries; older buckets are dropped from the tables and their "
        "changelogs, and events older than that are not counted."
    )
    state_max_skew_hours: float = Field(
        168.0, ge=0, description="How far the slowest source partition may hold back the "
        "expiry of item buckets and requested pairs (fed by every partition) behind the "
        "fastest: a backfill does not process its partitions in step, but a partition that "
        "stopped carrying events must not keep state forever."
    )
    label_burst: float | None = Field(
        None, description="Token-bucket size in requests; empty means one minute of budget."
    )
    label_reserve: float = Field(
        0.5, description="Share of the bucket only high-priority pairs may use."
    )
    label_dedup_window_s: float = Field(
        86400.0, description="A pair requested within this much event time is not re-requested."
    )
    tail_searches: int = Field(
        3, description="Queries with at most this many searches in 24 h count as long-tail."
    )
    new_item_impressions: int = Field(
        20, description="Items with fewer impressions than this in 24 h count as new."
    )
    new_query_hours: int = Field(
        6, ge=0, lt=24, description="Queries whose first search in 24 h is younger than "
        "this are new: their pairs get priority 1 (0 turns the signal off)."
    )
    ctr_prior: float = Field(0.05, description="Prior CTR the smoothed CTR shrinks towards.")
    ctr_prior_strength: float = Field(
        20.0, description="Pseudo-impressions of the CTR prior."
    )
    full_sync_interval_s: float = Field(
        300.0, description="Seconds between pushes of every entity (not only changed ones): "
        "a safety net that converges Feast with the tables whatever happened before."
    )
    offline_flush_interval_s: float = Field(
        30.0, description="Seconds between appends of pushed rows to the offline parquet files "
        "(training features); 0 turns offline writes off."
    )
    metrics_to_clickhouse: bool = Field(
        True, description="Write label-request and aggregate rows to ClickHouse."
    )

    def app_id(self) -> str:
        return f"{self.topic_prefix}{self.streams_app_id}"
