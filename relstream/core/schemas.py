"""Every event that crosses a process boundary, as one typed pydantic model per kind.

The contract files (`shared/contracts/search-log.md`) parse straight into `SearchEvent`,
`FeedbackEvent` and `CatalogItem`; the rest are relstream's own topics. Each event has
`schema_version` and an event time `ts`; unknown fields are ignored, never rejected.
`decode_event` is the one door from bytes to a typed event: anything it cannot read
raises `SchemaError` with a reason fit for the dead-letter topic.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_serializer,
    field_validator,
)

from relstream.core.errors import SchemaError

SCHEMA_VERSION = 1
Grade = Literal["E", "S", "C", "I"]
GRADES: tuple[Grade, ...] = get_args(Grade)
"""ESCI grades in their fixed order: Exact, Substitute, Complement, Irrelevant."""
ESCI_GAINS: dict[str, float] = {"E": 1.0, "S": 0.1, "C": 0.01, "I": 0.0}
"""NDCG gains of the Amazon ESCI benchmark (KDD Cup 2022): the one table behind every
metric reported as `ndcg@10` (A/B report, simulator baseline)."""
LINEAR_GAINS: dict[str, float] = {"E": 3.0, "S": 2.0, "C": 1.0, "I": 0.0}
"""Linear gains of the student evaluation's `ndcg_lin@10`, a different metric with its own
name: near 1 whenever a query's items are mostly E or S. The students' ranking loss uses
them too, so that the term orders E > S > C > I."""
DEFAULT_SCORE_WEIGHTS: dict[str, float] = dict(ESCI_GAINS)
"""A model's serving score is Σ w_g·p_g over its grade distribution. By default w is the
ESCI gain table: dominated by P(E) (the binary metric), with S > C > I breaking ties among
the not-exact items, so rankings follow the graded gains the A/B report measures."""
CheckStatus = Literal["match", "mismatch", "not_stated"]
CHECK_STATUSES: tuple[CheckStatus, ...] = get_args(CheckStatus)
Action = Literal["click", "add_to_cart", "purchase"]

_SPACES = re.compile(r"\s+")

MAX_DEAD_LETTER_ORIGINAL = 64_000
"""Bytes of the original message a dead letter keeps (its size is kept too)."""
MAX_DEAD_LETTER_REASON = 2_000
MODEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
"""A model name is one path segment of the registry: letters, digits, `_`, `.`, `-`, never
`..` or a slash (names arrive on a topic anyone on the broker can write to)."""
MODEL_VERSION_PATTERN = r"^[0-9]{1,18}$"
"""A published version is a decimal integer (the registry numbers them 1, 2, 3, ...)."""


def normalize_query(query: str) -> str:
    """The query entity key: lower-cased, trimmed, inner white space folded."""
    return _SPACES.sub(" ", query.strip().lower())


def utcnow() -> datetime:
    return datetime.now(UTC)


def format_ts(ts: datetime) -> str:
    """RFC 3339 with milliseconds and a `Z`, as in the contract files."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def ts_millis(ts: datetime) -> int:
    """Milliseconds since the epoch: the Kafka record timestamp of an event."""
    return int(ts.timestamp() * 1000)


class Event(BaseModel):
    """Base of every event: frozen, extra fields ignored, `ts` always timezone-aware."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    schema_version: int = SCHEMA_VERSION
    ts: datetime

    @field_validator("ts")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("timestamp needs a zone (RFC 3339), e.g. 2026-03-01T12:00:00Z")
        return value.astimezone(UTC)

    @field_serializer("ts")
    def _ts_out(self, value: datetime) -> str:
        return format_ts(value)

    def to_bytes(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()


# --- contract: catalog ------------------------------------------------------------


class CatalogItem(BaseModel):
    """One catalog line. Unknown fields are kept (`extra="allow"`) and carried along."""

    model_config = ConfigDict(extra="allow", frozen=True)

    item_id: Annotated[str, Field(min_length=1)]
    title: str
    category: str
    brand: str | None = None
    attributes: dict[str, str] = Field(default_factory=dict)
    description: str | None = None
    price: float | None = None

    @field_validator("price")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("price must be a finite number")
        return value


class CatalogEvent(Event):
    """A catalog item on the compacted catalog topic (key: item_id)."""

    type: Literal["catalog"] = "catalog"
    item: CatalogItem


# --- contract: search log -----------------------------------------------------------


class ShownResult(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    item_id: Annotated[str, Field(min_length=1)]
    position: Annotated[int, Field(ge=1)]


class SearchEvent(Event):
    """A search request and the results shown, exactly the contract's `search` line."""

    type: Literal["search"] = "search"
    event_id: Annotated[str, Field(min_length=1)]
    request_id: Annotated[str, Field(min_length=1)]
    user_id: str
    query: str
    results: list[ShownResult]


class FeedbackEvent(Event):
    """What a user did with a shown item, exactly the contract's `feedback` line."""

    type: Literal["feedback"] = "feedback"
    event_id: Annotated[str, Field(min_length=1)]
    request_id: Annotated[str, Field(min_length=1)]
    user_id: str
    item_id: Annotated[str, Field(min_length=1)]
    action: Action


SearchLogEvent = Annotated[SearchEvent | FeedbackEvent, Field(discriminator="type")]


# --- relstream's own topics ------------------------------------------------------------


class LabelRequest(Event):
    """A query–item pair the stream processor wants the teacher to judge (key: pair)."""

    type: Literal["label_request"] = "label_request"
    event_id: str
    query: str
    item_id: str
    item: CatalogItem | None = None
    priority: float = 0.0
    reasons: list[str] = Field(default_factory=list)
    source_event_id: str | None = None

    @property
    def pair_key(self) -> str:
        return pair_key(self.query, self.item_id)


class DimensionCheck(BaseModel):
    """One CoT dimension check: does the item meet the query's constraint on `dimension`?"""

    model_config = ConfigDict(extra="ignore", frozen=True)

    dimension: str
    status: CheckStatus
    evidence: list[str] = Field(default_factory=list)


class CotSteps(BaseModel):
    """The parsed chain of thought: query analysis, item analysis, checks, grade."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    query_analysis: dict[str, str] = Field(default_factory=dict)
    item_analysis: dict[str, str] = Field(default_factory=dict)
    checks: list[DimensionCheck] = Field(default_factory=list)
    grade: Grade | None = None


class TeacherInfo(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    model: str
    version: str = "0"


class TeacherLabel(Event):
    """The teacher's judgement of one pair: grade distribution plus parsed reasoning."""

    type: Literal["teacher_label"] = "teacher_label"
    event_id: str
    query: str
    item_id: str
    grade_probs: dict[Grade, float]
    steps: CotSteps
    raw_cot: str = ""
    teacher: TeacherInfo
    request_event_id: str | None = None

    @field_validator("grade_probs")
    @classmethod
    def _distribution(cls, probs: dict[Grade, float]) -> dict[Grade, float]:
        if set(probs) != set(GRADES):
            raise ValueError(f"grade_probs needs exactly the keys {GRADES}, got {sorted(probs)}")
        total = sum(probs.values())
        if any(p < 0 or not math.isfinite(p) for p in probs.values()) or abs(total - 1) > 1e-3:
            raise ValueError(f"grade_probs must be a distribution summing to 1, got {total:.4f}")
        return probs

    @property
    def grade(self) -> Grade:
        return max(GRADES, key=lambda g: self.grade_probs[g])

    @property
    def pair_key(self) -> str:
        return pair_key(self.query, self.item_id)


class ModelUpdate(Event):
    """A new model version was published to the registry (key: model name)."""

    type: Literal["model_update"] = "model_update"
    event_id: str
    name: Annotated[str, Field(pattern=MODEL_NAME_PATTERN)]
    version: Annotated[str, Field(pattern=MODEL_VERSION_PATTERN)]
    artifact_uri: str
    sha256: str
    metrics: dict[str, float] = Field(default_factory=dict)
    parent_version: str | None = None


class DeadLetter(Event):
    """A message that could not be decoded, validated or processed, with the reason."""

    type: Literal["dead_letter"] = "dead_letter"
    source: str
    reason: str
    original: str = Field(description="the original bytes, decoded as UTF-8 with replacement")
    original_size: int = 0
    location: str | None = Field(None, description="topic/partition/offset or file:line")

    @classmethod
    def of(cls, source: str, reason: str, original: bytes | str,
           location: str | None = None) -> DeadLetter:
        """The one way a dead letter is built: reason and original cut to their bounds
        (a huge bad message must not make a huge dead letter), bytes decoded leniently."""
        raw = original.encode() if isinstance(original, str) else original
        return cls(ts=datetime.now(UTC), source=source, reason=reason[:MAX_DEAD_LETTER_REASON],
                   original=raw[:MAX_DEAD_LETTER_ORIGINAL].decode("utf-8", errors="replace"),
                   original_size=len(raw), location=location)


def pair_key(query: str, item_id: str) -> str:
    """The Kafka key (and cache key) of a query–item pair."""
    return f"{normalize_query(query)}\x1f{item_id}"


AnyEvent = Annotated[
    SearchEvent
    | FeedbackEvent
    | CatalogEvent
    | LabelRequest
    | TeacherLabel
    | ModelUpdate
    | DeadLetter,
    Field(discriminator="type"),
]
_ANY = TypeAdapter(AnyEvent)
_SEARCH_LOG = TypeAdapter(SearchLogEvent)
_CATALOG = TypeAdapter(CatalogItem)

MAX_MESSAGE_BYTES = 1_000_000
"""Anything larger is bad input: the broker's default message limit is ~1 MB anyway."""


def _check_size(raw: bytes | str) -> None:
    if len(raw) > MAX_MESSAGE_BYTES:
        raise SchemaError(
            f"message of {len(raw)} bytes exceeds the {MAX_MESSAGE_BYTES}-byte limit")


def _validation_reason(exc: ValidationError) -> str:
    errors = exc.errors()
    first = errors[0]
    kind, ctx = first["type"], first.get("ctx") or {}
    if kind == "json_invalid":
        return f"not valid JSON: {ctx.get('error', first['msg'])}"
    if kind in ("dict_type", "model_type") and not first["loc"]:
        return "expected a JSON object"
    if kind == "union_tag_invalid":
        return f"unknown type {ctx.get('tag')!r}: expected one of {ctx.get('expected_tags')}"
    if kind == "union_tag_not_found":
        return "invalid event: type: Field required"
    parts = []
    for err in errors[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "<root>"
        parts.append(f"{where}: {err['msg']}")
    return "invalid event: " + "; ".join(parts)


def _validate_json(adapter: TypeAdapter[Any], raw: bytes | str) -> Any:
    """Parse and validate in pydantic's Rust core: one pass, about twice json + python."""
    _check_size(raw)
    try:
        return adapter.validate_json(raw)
    except ValidationError as exc:
        raise SchemaError(_validation_reason(exc)) from exc
    except OverflowError as exc:
        # pydantic passes a validator's OverflowError through unwrapped: a time such as
        # 9999-12-31T23:59:59-01:00 parses but has no UTC equivalent (`Event._aware`).
        raise SchemaError(f"invalid event: a timestamp is out of range ({exc})") from exc


def decode_event(raw: bytes | str) -> Any:
    """Bytes of any relstream topic → typed event, or `SchemaError` saying why not."""
    return _validate_json(_ANY, raw)


def decode_search_log_line(raw: bytes | str) -> SearchEvent | FeedbackEvent:
    """One line of a contract search log → `SearchEvent | FeedbackEvent`."""
    return _validate_json(_SEARCH_LOG, raw)  # type: ignore[no-any-return]


def decode_catalog_line(raw: bytes | str) -> CatalogItem:
    """One line of a contract catalog file → `CatalogItem`."""
    return _validate_json(_CATALOG, raw)  # type: ignore[no-any-return]
