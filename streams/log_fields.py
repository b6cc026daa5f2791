"""What replay needs from a search-log line, without building a pydantic event per line.

`decode_log_fields` is `decode_search_log_line` for replay's hot path. A line whose every
contract field is plainly valid (right JSON types, non-empty ids, a plain RFC 3339 time)
is parsed to plain values by pydantic-core's `from_json` (the JSON parser pydantic itself
uses) and passes a few type tests; anything else — a wrong type, a missing field, a time
in an unusual spelling — goes to pydantic, which accepts it or explains why not. So the
fast path says "valid" only for lines pydantic accepts, with the same values (a unit test
runs both over the contract examples and a corpus of broken lines), and every
dead-letter reason still comes from pydantic.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic_core import from_json

from relstream.core.schemas import (
    MAX_MESSAGE_BYTES,
    FeedbackEvent,
    SearchEvent,
    decode_search_log_line,
    ts_millis,
)

LogFields = tuple[str, str, str, str | None, int]
"""(type, event_id, request_id, query, ts_ms) of a valid search-log line: `search` or
`feedback`; the query as written (not normalised), None for feedback; the event time in
ms since the epoch, exactly `ts_millis(event.ts)`. A plain tuple, not a named one: replay
makes one per line and holds on to the values."""


_PLAIN_TS = re.compile(
    r"(19[0-9][0-9]|[2-8][0-9]{3}|9[0-8][0-9]{2})-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
    r"(\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"
)
"""`2026-03-01T12:00:00.250Z` or `...+01:00`, years 1900-9899: read identically by
`datetime.fromisoformat` and pydantic. Other spellings pydantic allows (a space for `T`,
lower case, 7+ fraction digits, Unix numbers) and far-off years take the slow path."""

_ACTIONS = frozenset({"click", "add_to_cart", "purchase"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def _plain_fields(raw: bytes | str) -> LogFields | None:
    """The fields if the line is plainly valid, else None (meaning: ask pydantic)."""
    plain = _plain_data(raw)
    return None if plain is None else plain[0]


def _plain_data(raw: bytes | str) -> tuple[LogFields, dict[str, Any]] | None:
    """`_plain_fields` and the parsed object it read them from."""
    try:
        # pydantic's own JSON parser (jiter), so both paths read the same JSON the same
        # way (NaN, nesting limit, surrogates, duplicate keys); caching the keys makes it
        # ~3x faster than the stdlib `json` here.
        data = from_json(raw, cache_strings="keys")
    except ValueError:
        return None
    # Subscripts, not `.get`: a missing key or a non-object raises and means "ask
    # pydantic". `type(x) is str`, not isinstance: exactly the JSON types pydantic takes
    # without coercion (it would also take `true` for an int; that goes the slow way).
    try:
        kind, ts = data["type"], data["ts"]
        event_id, request_id, user_id = data["event_id"], data["request_id"], data["user_id"]
        if not (type(event_id) is str and event_id and type(request_id) is str and request_id
                and type(user_id) is str and type(ts) is str
                and type(data.get("schema_version", 1)) is int):
            return None
        query: str | None = None
        if kind == "search":
            query, results = data["query"], data["results"]
            if type(query) is not str or type(results) is not list:
                return None
            for shown in results:  # the hot loop: ~10 shown results a search
                item_id, position = shown["item_id"], shown["position"]
                if (type(item_id) is not str or not item_id or type(position) is not int
                        or position < 1):
                    return None
        elif kind == "feedback":
            item_id, action = data["item_id"], data["action"]
            if not (type(item_id) is str and item_id and type(action) is str
                    and action in _ACTIONS):
                return None
        else:
            return None
    except (KeyError, TypeError):
        return None
    if len(ts) == 24 and ts[23] == "Z" and ts[19] == ".":
        # The contract's own spelling, 2026-03-01T12:00:04.100Z (`format_ts`): the minute
        # is remembered, seconds and milliseconds added, computed as `ts_millis` does on a
        # datetime (µs divided into float seconds, times 1000, truncated) so the two
        # agree to the millisecond, float quirks included.
        minute_us = _MINUTE_US.get(ts[:17])
        if minute_us is not None:
            seconds, millis = ts[17:19], ts[20:23]
            digits = seconds + millis
            if digits.isascii() and digits.isdigit() and seconds < "60":
                us = minute_us + int(seconds) * 1_000_000 + int(millis) * 1000
                return (kind, event_id, request_id, query, int(us / 1_000_000 * 1000)), data
    ts_ms = _ts_millis(ts)
    if ts_ms is None:
        return None
    return (kind, event_id, request_id, query, ts_ms), data


_MINUTE_US: dict[str, int] = {}
"""`2026-03-01T12:00:` → that minute's µs since the epoch, once a time in it was read."""


def _ts_millis(ts: str) -> int | None:
    """`ts_millis` of a plain RFC 3339 time, or None (not plain: ask pydantic)."""
    if _PLAIN_TS.fullmatch(ts) is None:
        return None
    try:
        when = datetime.fromisoformat(ts)
        ts_ms = int(when.timestamp() * 1000)
    except (ValueError, OverflowError):
        return None
    if len(ts) == 24 and ts[23] == "Z":
        if len(_MINUTE_US) >= 100_000:
            _MINUTE_US.clear()  # bounded; a log spans few distinct minutes per line read
        _MINUTE_US[ts[:17]] = (when.replace(second=0, microsecond=0) - _EPOCH) // _US
    return ts_ms


def decode_log_fields(raw: bytes | str) -> LogFields:
    """A search-log line's `LogFields`, or `SchemaError` with pydantic's reason.

    Accepts exactly the lines `decode_search_log_line` accepts, with the same values.
    """
    if len(raw) <= MAX_MESSAGE_BYTES:
        fields = _plain_fields(raw)
        if fields is not None:
            return fields
    event = decode_search_log_line(raw)  # raises SchemaError saying why
    query = event.query if isinstance(event, SearchEvent) else None
    return event.type, event.event_id, event.request_id, query, ts_millis(event.ts)



LogItems = tuple[LogFields, list[str], str | None]
"""`LogFields` plus what the stream processor counts: the shown item ids in order (a
search) or the one item acted on (a feedback), and the feedback's action (None for a
search)."""


def decode_log_items(raw: bytes | str) -> LogItems:
    """`decode_log_fields` for the stream processor: the same acceptance, plus the items
    and the action, still without a pydantic event for a plainly valid line."""
    if len(raw) <= MAX_MESSAGE_BYTES:
        plain = _plain_data(raw)
        if plain is not None:
            fields, data = plain
            if fields[0] == "search":
                return fields, [shown["item_id"] for shown in data["results"]], None
            return fields, [data["item_id"]], data["action"]
    event = decode_search_log_line(raw)  # raises SchemaError saying why
    fields = (event.type, event.event_id, event.request_id,
              event.query if isinstance(event, SearchEvent) else None, ts_millis(event.ts))
    if isinstance(event, FeedbackEvent):
        return fields, [event.item_id], event.action
    return fields, [r.item_id for r in event.results], None
