"""Replay's fast line decode agrees with pydantic: same lines pass, same values, same reasons."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from relstream.core.errors import SchemaError
from relstream.core.schemas import (
    MAX_MESSAGE_BYTES,
    SearchEvent,
    decode_search_log_line,
    format_ts,
    ts_millis,
)
from relstream.tools.synthetic_log import write_synthetic_log
from streams.log_fields import LogFields, _plain_fields, decode_log_fields

SEARCH: dict[str, Any] = {
    "type": "search", "event_id": "e1", "ts": "2026-03-01T12:00:00.250Z", "request_id": "r1",
    "user_id": "u1", "query": "Stride  Runner",
    "results": [{"item_id": "a", "position": 1}, {"item_id": "b", "position": 2}]}
FEEDBACK: dict[str, Any] = {
    "type": "feedback", "event_id": "e2", "ts": "2026-03-01T12:00:04.100+00:00",
    "request_id": "r1", "user_id": "u1", "item_id": "a", "action": "purchase"}
ODD_VALUES: list[Any] = [
    None, True, False, 0, 1, -1, 1.0, 1.5, "", " ", "x", "1", [], {}, [1], {"a": 1},
    2**63 - 1, 2**63, -(2**63) - 1, 10**30, "2026-03-01T12:00:00Z"]
TIMESTAMPS = [
    "2026-03-01T12:00:04Z", "2026-03-01T12:00:04.1Z", "2026-03-01T12:00:04.12345Z",
    "2026-03-01T12:00:04.123456Z", "2026-03-01T12:00:04.1234567Z", "2026-03-01T12:00:04-00:00",
    "2026-03-01T12:00:04+23:59", "2026-03-01T12:00:04+24:00", "2026-03-01T12:00:04+05:60",
    "2026-03-01T12:00:04.999+05:30", "2026-03-01T24:00:00Z", "2026-02-29T12:00:00Z",
    "2028-02-29T12:00:00Z", "2026-13-01T12:00:00Z", "2026-03-32T12:00:00Z",
    "2026-03-01t12:00:04z", "2026-03-01 12:00:04Z", "2026-03-01T12:00:04", "2026-03-01",
    "2026-03-01T12:00:60Z", "2026-03-01T12:00Z", "2026-03-01T12:00:04,123Z",
    "0000-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00",
    "1899-12-31T23:59:59Z", "1900-01-01T00:00:00Z", "1970-01-01T00:00:00Z",
    "9899-12-31T23:59:59Z", "9900-01-01T00:00:00Z", "9999-12-31T23:59:59.999999-23:59",
    "\u0662026-03-01T12:00:04Z", " 2026-03-01T12:00:04Z", "2026-03-01T12:00:04Z ",
    1772366404, 1772366404.5, "1772366404", "", "now",
]


def _reference(raw: bytes | str) -> tuple[str, Any]:
    """What pydantic (the slow path, and the one before this change) says."""
    try:
        event = decode_search_log_line(raw)
    except SchemaError as exc:
        return "reject", str(exc)
    query = event.query if isinstance(event, SearchEvent) else None
    fields: LogFields = (event.type, event.event_id, event.request_id, query,
                         ts_millis(event.ts))
    return "accept", fields


def _fast(raw: bytes | str) -> tuple[str, Any]:
    try:
        return "accept", decode_log_fields(raw)
    except SchemaError as exc:
        return "reject", str(exc)


def _line(data: Any) -> bytes:
    return json.dumps(data).encode()


def _field_mutations() -> list[bytes]:
    lines = []
    for base in (SEARCH, FEEDBACK):
        for name in [*base, "schema_version"]:
            lines.append(_line({k: v for k, v in base.items() if k != name}))
            lines.extend(_line({**base, name: value}) for value in ODD_VALUES)
        lines.extend(_line({**base, "ts": ts}) for ts in TIMESTAMPS)
        lines.extend(_line({**base, "type": t})
                     for t in ("search", "feedback", "pageview", "Search", "catalog"))
        lines.append(_line({**base, "unknown": {"nested": [1, 2.5, None]}, "schema_version": 7}))
    for value in ODD_VALUES:
        lines.append(_line({**SEARCH, "results": [value]}))
        for name in ("item_id", "position"):
            shown = {"item_id": "a", "position": 1, name: value}
            lines.append(_line({**SEARCH, "results": [shown]}))
    lines.append(_line({**SEARCH, "results": [{"position": 1}]}))
    lines.append(_line({**SEARCH, "results": [{"item_id": "a"}]}))
    lines.append(_line({**SEARCH, "results": [{"item_id": "a", "position": 1, "x": 0}]}))
    lines.append(_line({**SEARCH, "results": []}))
    lines.append(_line({**SEARCH, "results": [{"item_id": f"i{i}", "position": i + 1}
                                              for i in range(5000)]}))
    lines.extend(_line({**FEEDBACK, "action": a})
                 for a in ("click", "add_to_cart", "purchase", "Click", "view", ""))
    return lines


def _text_cases() -> list[bytes | str]:
    search = json.dumps(SEARCH)
    body = search[:-1]
    cases: list[bytes | str] = [
        "", " ", "{", "[]", "null", "1", '"search"', "{}", search + " x", search + "\n",
        " " + search, "\ufeff" + search, search.replace('"e1"', '"e\\u00e9"'),
        body + ', "x": NaN}', body + ', "x": Infinity}', body + ', "x": -Infinity}',
        body + ', "x": 1e400}', body + ', "x": 123456789012345678901234567890}',
        body + ', "x": "\\ud800"}', body + ', "x": "\\udc00"}', body + ', "x": "\\ud83d\\ude00"}',
        body.replace('"Stride  Runner"', '"\\ud800"') + "}",
        body + ', "x": "a\tb"}', body + ', "x": "\\q"}', body + ', "x": 01}',
        body + ', "event_id": "dup"}', body + ', "type": "feedback"}',
        body + ', "x": ' + "[" * 100 + "]" * 100 + "}",
        search.encode().replace(b"Runner", b"Runn\xff"),
        search.encode().replace(b"Runner", b"\xc3\xa9"),
        body + ', "x": "' + "y" * (MAX_MESSAGE_BYTES - len(body) - 10) + '"}',
        body + ', "x": "' + "y" * MAX_MESSAGE_BYTES + '"}',
        json.dumps({**SEARCH, "query": "q" * 10_000_000}),
    ]
    for depth in range(185, 215, 3):  # around pydantic's JSON nesting limit
        cases.append(body + ', "x": ' + "[" * depth + "]" * depth + "}")
    return cases


def _random_damage(lines: list[bytes], n: int, seed: int = 7) -> list[bytes]:
    """Truncations and byte substitutions of valid lines: mostly bad JSON, some subtle."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        line = bytearray(rng.choice(lines))
        if rng.random() < 0.3:
            line = line[: rng.randrange(len(line))]
        else:
            for _ in range(rng.randint(1, 3)):
                line[rng.randrange(len(line))] = rng.choice(b'0123456789"{}[],:. -aeZTnul\\')
        out.append(bytes(line))
    return out


@pytest.fixture(scope="module")
def valid_lines(examples_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    path = tmp_path_factory.mktemp("log") / "log.jsonl"
    write_synthetic_log(path, 300, seed=5)
    examples = (examples_dir / "search_log.jsonl").read_bytes().splitlines()
    return examples + path.read_bytes().splitlines()


def test_contract_and_generated_lines_take_the_fast_path_with_pydantics_values(
    valid_lines: list[bytes],
) -> None:
    for raw in valid_lines:
        fields = _plain_fields(raw)
        assert fields is not None, raw
        assert ("accept", fields) == _reference(raw), raw


def test_fast_decode_agrees_with_pydantic_on_every_broken_or_odd_line(
    valid_lines: list[bytes],
) -> None:
    corpus = [*_field_mutations(), *_text_cases(), *_random_damage(valid_lines, 3000)]
    verdicts = {"accept": 0, "reject": 0}
    for raw in corpus:
        expected = _reference(raw)
        assert _fast(raw) == expected, raw[:300]
        # The fast path alone may only pass lines pydantic accepts, with its values.
        fields = _plain_fields(raw) if len(raw) <= MAX_MESSAGE_BYTES else None
        if fields is not None:
            assert expected == ("accept", fields), raw[:300]
        verdicts[expected[0]] += 1
    # Both outcomes are well represented, so the agreement above means something.
    assert verdicts["accept"] > 100 and verdicts["reject"] > 1000, verdicts


def test_rejections_keep_pydantics_reasons() -> None:
    missing = _line({k: v for k, v in SEARCH.items() if k != "user_id"})
    cases = {
        b'{"type": "search", "event_id": ': "not valid JSON",
        missing: "user_id",
        _line({**SEARCH, "results": "sku-1"}): "results",
        _line({**SEARCH, "type": "pageview"}): "unknown type 'pageview'",
        _line({**SEARCH, "query": "q" * 2_000_000}): "exceeds",
        _line({**FEEDBACK, "ts": "2026-03-01T12:00:04"}): "timestamp needs a zone",
        _line({**FEEDBACK, "ts": "9999-12-31T23:59:59-01:00"}): "out of range",
    }
    for raw, expected in cases.items():
        with pytest.raises(SchemaError, match=expected):
            decode_log_fields(raw)


def test_event_times_match_pydantic_to_the_millisecond() -> None:
    """The shortcut for the contract's spelling (a remembered minute plus seconds and
    milliseconds) gives `ts_millis` of pydantic's datetime, float rounding included."""
    rng = random.Random(11)
    times = []
    for _ in range(3000):
        base = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(
            seconds=rng.randrange(0, 200 * 365 * 86400), milliseconds=rng.randrange(1000))
        times.append(format_ts(base))
    minute = times[0][:17]
    times += [minute + s for s in ("60.000Z", "5\u0663.000Z", "0\u00b2.000Z", "59.999Z",
                                   "00.000Z", "07.5Z", "07.500+00:00", "-1.000Z")]
    for ts in times * 2:  # the second round reads every minute from memory
        raw = _line({**FEEDBACK, "ts": ts})
        assert _fast(raw) == _reference(raw), ts
