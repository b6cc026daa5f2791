"""Settings of the scoring service (`relstream serve`), read once at the entry point."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from relstream.core.settings import CommonSettings


class ServingSettings(CommonSettings):
    """Everything `create_app` needs. Every field can be set as `RELSTREAM_<FIELD>`; the
    registry is the shared `registry` setting (`RELSTREAM_REGISTRY_DIR`, `registry_dir()`)."""

    host: str = Field("127.0.0.1", description="Address uvicorn binds to.")
    port: int = Field(8080, description="Port uvicorn binds to.")
    model_name: str = Field(
        "cross_encoder", description="Model served by the default arm when no A/B config is set."
    )
    item_source: Literal["memory", "feast"] = Field(
        "memory",
        description="Where item content comes from: an in-memory catalog (catalog_path) or "
        "the Feast online store (feature_repo, the features package's repo).",
    )
    catalog_path: Path | None = Field(
        None, description="catalog.jsonl loaded into memory when item_source is 'memory'."
    )
    feature_repo: Path | None = Field(
        None, description="Feast repo directory (same setting as the features package); "
        "empty means <state_dir>/feature_repo.",
    )
    feast_project: str = Field("relstream", description="Feast project name.")
    max_items: int = Field(200, ge=1, description="Most items one /v1/score request may carry.")
    max_query_chars: int = Field(512, ge=1, description="Longest query accepted, in characters.")
    max_body_bytes: int = Field(
        1_000_000, ge=1024, description="Largest request body accepted, in bytes (413 above)."
    )
    max_id_chars: int = Field(
        128, ge=8, description="Longest request_id, user_id or item_id accepted, in "
        "characters (413 above); these are written to ClickHouse with every request."
    )
    max_holders: int = Field(
        16, ge=1, description="Most (model, version) pairs loaded at once; an A/B config "
        "needing more is refused (409). Pairs no arm names any more are unloaded."
    )
    ab_config_path: Path | None = Field(
        None, description="JSON file with the A/B arms; empty means one arm serving model_name."
    )
    admin_token: str = Field(
        "", description="Bearer token for /admin endpoints; empty disables them."
    )
    report_labels_path: Path | None = Field(
        None, description="labels.jsonl (graded pairs) that GET /admin/ab-report joins for "
        "NDCG@10; read from the server's own disk, never named by a request."
    )
    poll_interval_s: float = Field(
        30.0, ge=0, description="Registry poll period (fallback to model-update events); 0 = off."
    )
    consume_model_updates: bool = Field(
        False, description="Follow the model-updates topic in a background thread."
    )
    consume_teacher_labels: bool = Field(
        False, description="Feed /v1/explain from the teacher-labels topic."
    )
    consume_catalog: bool = Field(
        False, description="Keep the in-memory catalog current from the catalog topic "
        "(item_source 'memory' only; Feast is fed by the stream processor).",
    )
    consume_feedback: bool = Field(
        False, description="Write feedback events from the search-log topic to ClickHouse."
    )
    label_store_max: int = Field(
        200_000, ge=1, description="Most teacher labels kept in memory for /v1/explain."
    )
    label_store_max_bytes: int = Field(
        64 * 1024 * 1024, ge=1024, description="Most bytes of teacher labels kept for "
        "/v1/explain (each counted as its JSON size, raw CoT text dropped); oldest go first."
    )
    metrics_enabled: bool = Field(
        True, description="Write every scored request to ClickHouse (off the request path)."
    )
    metrics_table: str = Field("serving_requests", description="ClickHouse table of requests.")
    feedback_table: str = Field("serving_feedback", description="ClickHouse table of feedback.")
    metrics_batch_size: int = Field(500, ge=1, description="Rows per ClickHouse insert.")
    metrics_flush_s: float = Field(1.0, gt=0, description="Longest wait before a flush.")
    metrics_buffer_max: int = Field(
        100_000, ge=1, description="Rows buffered while ClickHouse is down; more are dropped."
    )
    metrics_buffer_max_bytes: int = Field(
        64 * 1024 * 1024, ge=1024, description="Bytes buffered while ClickHouse is down "
        "(string lengths plus a per-field overhead); more rows are dropped."
    )
    onnx_threads: int = Field(
        1, ge=1, description="onnxruntime intra-op threads per model run. Runs at once are "
        "max_concurrent_runs, so runs × threads is what the cores carry.",
    )
    swap_nice: int = Field(
        10, ge=0, le=19, description="Niceness added to the thread that loads a new version "
        "(hash checks, session build, warm-up), so hot swaps take idle CPU, not the requests'. "
        "Applied only with onnx_threads = 1: onnxruntime's intra-op threads are started by "
        "the loading thread and would keep its niceness for the version's life.",
    )
    max_concurrent_runs: int = Field(
        0, ge=0, description="Model runs at once (one per slot); 0 = usable cores // "
        "onnx_threads, so the runs never oversubscribe the cores.",
    )
    max_queued_requests: int = Field(
        64, ge=0, description="Score requests waiting for a slot beyond the running ones; "
        "past that /v1/score answers 503 with Retry-After instead of queueing without bound.",
    )
    onnx_arena: bool = Field(
        True, description="onnxruntime CPU memory arena: reuses buffers between runs instead "
        "of allocating per run; one arena shared by every version, so swaps do not grow RSS.",
    )
    int8: Literal["auto", "off"] = Field(
        "auto", description="'auto' serves a version's INT8 graphs when its manifest's INT8 "
        "gate shows an AUC within int8_max_auc_drop of fp32; 'off' always serves fp32.",
    )
    int8_max_auc_drop: float = Field(
        0.005, ge=0, description="Largest validation AUC loss of INT8 vs fp32 served."
    )
    score_cache_bytes: int = Field(
        32 * 2**20, ge=0, description="Per-version cache of (query, item text) -> score for "
        "repeated pairs (head queries), bounded in bytes; dropped when the version is swapped "
        "out. 0 = off.",
    )
    embedding_cache_size: int = Field(
        100_000, ge=0, description="Two-tower item embeddings cached per model version."
    )
    warm_item_embeddings: bool = Field(
        True, description="Embed the in-memory catalog's items with a new two-tower version "
        "before it is swapped in, and new catalog items as they arrive, so cascade requests "
        "never wait for the item tower.",
    )

    def load_nice(self) -> int:
        """Niceness of model loads: `swap_nice` with single-threaded runs, else 0."""
        return self.swap_nice if self.onnx_threads == 1 else 0
