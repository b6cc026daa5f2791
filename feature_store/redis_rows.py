"""Rows into Feast's Redis online store, written in Feast's own layout without its
per-row protobuf objects.

Feast's `RedisOnlineStore.online_write_batch` keeps one Redis hash per entity key: the key
is the serialized entity key followed by the project name, the fields are the murmur3
hash of `view:feature` (4 bytes) mapped to a serialized `Value` proto, plus `_ts:view`
mapped to a serialized `Timestamp`. Before writing it reads each key's `_ts:view` and
skips a row that is not newer (and, within one batch, a row older than an earlier row of
the same key). Feast's reads (`get_online_features`) parse exactly that.

`RedisRows` writes the same hashes under the same rule, but builds the bytes directly:
the field names' hashes once per view, the bytes of small counts once, a double as its
8 bytes, one `Timestamp` per distinct event time: ~4x Feast's writer (`relstream bench
feast-write`), which had bounded how soon Feast holds a stream's counts. The commands go
out in Redis's wire format (RESP) built here, a field name and a small count already
encoded together, and each chunk is two commands, not two per row: one script reads every
key's stored time, one writes the rows (`HSET`, `EXPIRE`, in order). Packing a command per
row (redis-py and hiredis) and reading a reply per row were over half the writer's time.

The layout is the one Feast 0.67 writes (pyproject.toml allows 0.60-0.69); a test
compares every byte of a hash written here with one written by Feast's own
`online_write_batch`, so a Feast whose layout differs fails there first, and
`RELSTREAM_FEAST_REDIS_DIRECT=false` sends rows through Feast's writer. A store that is
not plain Redis (cluster, sentinel), one with `skip_dedup`, or an entity key
serialization other than version 3 is left to Feast's own writer.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from feature_store.definitions import VALUE_PROTO_FIELDS

_DOUBLE_TAG = b"\x29"  # Value.double_val: field 5, wire type 1 (8 bytes, little-endian)
_STRING = 2  # feast.types.ValueType.STRING, as serialize_entity_key writes it
_u32 = struct.Struct("<I").pack
_f64 = struct.Struct("<d").pack


def supports(store: Any) -> bool:
    """True when `RedisRows` writes what Feast's own writer would for this store."""
    online = store.config.online_store
    return (getattr(online, "type", None) == "redis"
            and getattr(online, "redis_type", None) == "redis"  # a str enum
            and not getattr(online, "skip_dedup", False)
            and getattr(store.config, "entity_key_serialization_version", 3) == 3)


class RedisRows:
    """Writes one feature view's rows (dicts) to the store's Redis, as Feast would."""

    SMALL_INTS = 1024
    CHUNK = 5000
    """Rows per round trip: bounds the bytes held while a large row set is written."""

    def __init__(self, store: Any, view: str) -> None:
        from feast.infra.online_stores.helpers import _mmh3
        from feast.infra.online_stores.redis import _versioned_fv_name
        from feast.protos.feast.types.Value_pb2 import Value
        from google.protobuf.timestamp_pb2 import Timestamp

        config = store.config
        table = store.get_feature_view(view)
        self._value, self._timestamp = Value, Timestamp
        self.client = store.provider.online_store._get_client(config.online_store)
        self.ttl = config.online_store.key_ttl_seconds
        name = _versioned_fv_name(table, config)
        self.ts_field = f"_ts:{name}".encode()
        if any(c.dtype.to_value_type().name != "STRING" for c in table.entity_columns):
            raise ValueError(f"{view}: only string join keys are written directly")
        keys = sorted(c.name for c in table.entity_columns)  # Feast sorts join keys
        self.keys = keys
        prefix = [_u32(len(keys))]
        for k in keys:
            encoded = k.encode()
            prefix += [_u32(_STRING), _u32(len(encoded)), encoded]
        self.key_prefix = b"".join(prefix)
        self.project = config.project.encode()
        self.columns = [(f.name, f.dtype.to_value_type().name, _mmh3(f"{name}:{f.name}"))
                        for f in table.features]
        self._ints = [Value(int64_val=i).SerializeToString() for i in range(self.SMALL_INTS)]
        # RESP of each (field, value) pair of a row's HSET: per column its field's bulk
        # string, and for an INT64 column the pairs of its small counts ready made.
        self._cells = [(name, kind, _bulk(field), [_bulk(field) + _bulk(b) for b in self._ints]
                        if kind == "INT64" else None) for name, kind, field in self.columns]
        self._ts_arg = _bulk(self.ts_field)

    def redis_key(self, row: dict[str, Any]) -> bytes:
        """`_redis_key(project, entity key)`: Feast's serialize_entity_key (version 3,
        string join keys) followed by the project name."""
        parts = [self.key_prefix]
        for k in self.keys:
            encoded = row[k].encode()
            parts += [_u32(_STRING), _u32(len(encoded)), encoded]
        parts.append(self.project)
        return b"".join(parts)

    def value_bytes(self, kind: str, v: Any) -> bytes:
        """The serialized `Value` proto of one cell (empty: absent, NaN included)."""
        if kind == "INT64" and type(v) is int and 0 <= v < self.SMALL_INTS:
            return self._ints[v]
        if v is None or (kind == "DOUBLE" and v != v):
            return b""
        if kind == "DOUBLE":
            return _DOUBLE_TAG + _f64(v)
        field = VALUE_PROTO_FIELDS[kind]
        return self._value(**{field: v}).SerializeToString()

    def _send(self, command: bytes) -> Any:
        """Send one RESP-encoded command and read its reply."""
        pool = self.client.connection_pool
        conn = pool.get_connection()
        try:
            conn.send_packed_command([command])
            reply = conn.read_response()
        except BaseException:
            conn.disconnect()  # a reply may be left unread: the connection is not reusable
            raise
        finally:
            pool.release(conn)
        return reply  # an error reply (a script's failed HSET) is raised by read_response

    def row_args(self, row: dict[str, Any]) -> bytes:
        """The RESP of a row's HSET fields and values after the time (`_cells`)."""
        parts: list[bytes] = []
        append = parts.append
        small = self.SMALL_INTS
        for name, kind, field, ints in self._cells:
            v = row.get(name)
            if ints is not None and type(v) is int and 0 <= v < small:
                append(ints[v])
            else:
                append(field + _bulk(self.value_bytes(kind, v)))
        return b"".join(parts)

    def write(self, rows: Sequence[dict[str, Any]]) -> int:
        """Write the rows not older than what the store (or this batch) holds for their
        key, `CHUNK` rows per round trip; returns how many were written."""
        latest: dict[bytes, int] = {}  # per key, the newest time written by this batch
        return sum(self._write_chunk(rows[i:i + self.CHUNK], latest)
                   for i in range(0, len(rows), self.CHUNK))

    def _write_chunk(self, rows: Sequence[dict[str, Any]], latest: dict[bytes, int]) -> int:
        if not rows:
            return 0
        keys = [self.redis_key(r) for r in rows]
        key_args = [_bulk(key) for key in keys]
        stored = self._send(_command([b"EVAL", _READ_TIMES, b"%d" % len(keys)],
                                     key_args, [self._ts_arg]))
        stamps: dict[datetime, tuple[int, bytes]] = {}
        parsed: dict[bytes, int] = {}
        written_keys: list[bytes] = []
        values: list[bytes] = []
        for key_arg, key, prev, row in zip(key_args, keys, stored, rows, strict=True):
            ts = row["event_timestamp"]
            if ts not in stamps:
                proto = self._timestamp()
                proto.FromDatetime(ts)
                stamps[ts] = (proto.seconds * 1_000_000_000 + proto.nanos,
                              self._ts_arg + _bulk(proto.SerializeToString()))
            nanos, ts_args = stamps[ts]
            seen = latest.get(key, 0)
            if prev:
                if prev not in parsed:
                    proto = self._timestamp()
                    proto.ParseFromString(prev)
                    parsed[prev] = proto.seconds * 1_000_000_000 + proto.nanos
                seen = max(seen, parsed[prev])
            if seen and nanos <= seen:
                continue  # not newer than what is stored: Feast skips it too
            latest[key] = nanos
            written_keys.append(key_arg)
            values.append(ts_args + self.row_args(row))
        if written_keys:
            width = 2 * (1 + len(self._cells))  # arguments per row: (field, value) pairs
            settings = [_bulk(b"%d" % width), _bulk(b"%d" % (self.ttl or 0))]
            self._send(_command([b"EVAL", _WRITE_ROWS, b"%d" % len(written_keys)],
                                written_keys, settings, values,
                                extra=(width - 1) * len(values)))
        return len(written_keys)


_READ_TIMES = b"""local r = {}
for i = 1, #KEYS do r[i] = redis.call('HGET', KEYS[i], ARGV[1]) end
return r"""
"""Every key's stored time field (`_ts:view`), nil where none: one reply for a chunk."""

_WRITE_ROWS = b"""local width, ttl = tonumber(ARGV[1]), tonumber(ARGV[2])
for i = 1, #KEYS do
  local first = 3 + (i - 1) * width
  redis.call('HSET', KEYS[i], unpack(ARGV, first, first + width - 1))
  if ttl > 0 then redis.call('EXPIRE', KEYS[i], ttl) end
end
return #KEYS"""
"""Each key's row (`width` field and value arguments, in key order), then its TTL if any:
the commands Feast's writer sends, in the same order, as one script."""


def _bulk(b: bytes) -> bytes:
    """`b` as a RESP bulk string."""
    return b"$%d\r\n%b\r\n" % (len(b), b)


def _command(head: list[bytes], *args: list[bytes], extra: int = 0) -> bytes:
    """A RESP command: `head`'s plain words, then `args`, lists of encoded arguments
    (`_bulk`); `extra`: arguments the encoded ones hold beyond one per element (a row's
    ready-joined fields)."""
    count = len(head) + sum(len(a) for a in args) + extra
    return b"".join([b"*%d\r\n" % count, *(_bulk(h) for h in head),
                     *(b for a in args for b in a)])
