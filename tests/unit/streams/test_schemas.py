"""Event schemas: valid lines parse, invalid ones fail with a reason, unknown fields pass."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from relstream.core.errors import SchemaError
from relstream.core.schemas import (
    GRADES,
    CatalogEvent,
    CotSteps,
    DeadLetter,
    FeedbackEvent,
    LabelRequest,
    ModelUpdate,
    SearchEvent,
    TeacherInfo,
    TeacherLabel,
    decode_catalog_line,
    decode_event,
    decode_search_log_line,
    format_ts,
    normalize_query,
    pair_key,
)

SEARCH = {"type": "search", "event_id": "e1", "ts": "2026-03-01T12:00:00.250Z",
          "request_id": "r1", "user_id": "u1", "query": "Stride  Runner",
          "results": [{"item_id": "a", "position": 1}, {"item_id": "b", "position": 2}]}
FEEDBACK = {"type": "feedback", "event_id": "e2", "ts": "2026-03-01T12:00:04.100+00:00",
            "request_id": "r1", "user_id": "u1", "item_id": "a", "action": "purchase"}
T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


def test_search_line_parses_with_aware_utc_time() -> None:
    event = decode_search_log_line(json.dumps(SEARCH))
    assert isinstance(event, SearchEvent)
    assert event.ts == datetime(2026, 3, 1, 12, 0, 0, 250000, tzinfo=UTC)
    assert [r.position for r in event.results] == [1, 2]
    assert event.schema_version == 1


def test_feedback_line_parses_and_round_trips() -> None:
    event = decode_search_log_line(json.dumps(FEEDBACK))
    assert isinstance(event, FeedbackEvent) and event.action == "purchase"
    assert decode_event(event.to_bytes()) == event


def test_unknown_fields_are_ignored() -> None:
    line = {**SEARCH, "experiment": "x", "results": [{"item_id": "a", "position": 1, "ad": 1}]}
    event = decode_search_log_line(json.dumps(line))
    assert event.event_id == "e1"


def test_catalog_keeps_unknown_fields() -> None:
    item = decode_catalog_line(json.dumps({"item_id": "x", "title": "t", "category": "A > B",
                                           "color_family": "dark"}))
    assert item.model_extra == {"color_family": "dark"}
    assert item.attributes == {}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"ts": "2026-03-01T12:00:00"}, "zone"),
        ({"ts": "yesterday"}, "ts"),
        ({"results": [{"item_id": "a", "position": 0}]}, "results.0.position"),
        ({"results": "a,b"}, "results"),
        ({"event_id": ""}, "event_id"),
        ({"user_id": 7}, "user_id"),
    ],
)
def test_invalid_search_lines_name_the_field(change: dict, reason: str) -> None:
    with pytest.raises(SchemaError, match=reason):
        decode_search_log_line(json.dumps({**SEARCH, **change}))


def test_missing_field_wrong_action_unknown_type_bad_json() -> None:
    no_query = {k: v for k, v in SEARCH.items() if k != "query"}
    with pytest.raises(SchemaError, match="query: Field required"):
        decode_search_log_line(json.dumps(no_query))
    with pytest.raises(SchemaError, match="action"):
        decode_search_log_line(json.dumps({**FEEDBACK, "action": "like"}))
    with pytest.raises(SchemaError, match="unknown type 'view'"):
        decode_search_log_line(json.dumps({**SEARCH, "type": "view"}))
    with pytest.raises(SchemaError, match="not valid JSON"):
        decode_search_log_line(b'{"type": "search",')
    with pytest.raises(SchemaError, match="expected a JSON object"):
        decode_search_log_line(b"[1, 2]")
    with pytest.raises(SchemaError, match="exceeds"):
        decode_search_log_line(b'{"x": "' + b"a" * 2_000_000 + b'"}')


def test_catalog_requires_id_title_category() -> None:
    with pytest.raises(SchemaError, match="title"):
        decode_catalog_line('{"item_id": "x", "category": "A"}')
    with pytest.raises(SchemaError, match="attributes"):
        decode_catalog_line('{"item_id": "x", "title": "t", "category": "A", "attributes": [1]}')


def _label(**probs: float) -> TeacherLabel:
    return TeacherLabel(ts=T0, event_id="l1", query="q", item_id="i", grade_probs=probs,
                        steps=CotSteps(grade="E"), teacher=TeacherInfo(model="tiny"))


def test_teacher_label_needs_a_distribution_over_the_four_grades() -> None:
    label = _label(E=0.7, S=0.2, C=0.05, I=0.05)
    assert label.grade == "E"
    assert decode_event(label.to_bytes()) == label
    with pytest.raises(ValueError, match="sum"):
        _label(E=0.7, S=0.7, C=0.0, I=0.0)
    with pytest.raises(ValueError, match="exactly the keys"):
        _label(E=1.0, S=0.0, C=0.0)


def test_every_own_event_round_trips_through_decode_event() -> None:
    from relstream.core.schemas import CatalogItem

    item = CatalogItem(item_id="i", title="t", category="A > B", attributes={"color": "red"})
    events = [
        CatalogEvent(ts=T0, item=item),
        LabelRequest(ts=T0, event_id="q", query="red shoes", item_id="i", item=item),
        ModelUpdate(ts=T0, event_id="m", name="cross_encoder", version="3",
                    artifact_uri="file:///r/cross_encoder/3", sha256="ab" * 32,
                    metrics={"auc": 0.8}),
        DeadLetter(ts=T0, source="replay", reason="bad", original="{", original_size=1),
    ]
    for event in events:
        assert decode_event(event.to_bytes()) == event


def test_keys_and_formatting() -> None:
    assert normalize_query("  Nike   PEGASUS\t40 ") == "nike pegasus 40"
    assert pair_key("Red Shoes", "i1") == pair_key("red  shoes", "i1")
    assert format_ts(datetime(2026, 3, 1, 12, 0, 0, 250999, tzinfo=UTC)) == (
        "2026-03-01T12:00:00.250Z")
    assert GRADES == ("E", "S", "C", "I")
