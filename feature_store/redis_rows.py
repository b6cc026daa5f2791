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
feast-write`), which had bounded how soon Feast holds a stream's counts. The layout is
the one Feast 0.67 writes (pyproject.toml allows 0.60-0.69); a test compares every byte
of a hash written here with one written by Feast's own `online_write_batch`, so a Feast
whose layout differs fails there first, and `RELSTREAM_FEAST_REDIS_DIRECT=false` sends
rows through Feast's writer. A store that is not plain Redis (cluster, sentinel), one
with `skip_dedup`, or an entity key serialization other than version 3 is left to
Feast's own writer.
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

    def _send(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        """Send the commands in one write, then read their replies: a pipeline without
        redis-py's per-command bookkeeping (a third of the write's time)."""
        if not commands:
            return []
        pool = self.client.connection_pool
        conn = pool.get_connection()
        try:
            conn.send_packed_command(conn.pack_commands(commands))
            return [conn.read_response() for _ in commands]
        except BaseException:
            conn.disconnect()  # replies may be left unread: the connection is not reusable
            raise
        finally:
            pool.release(conn)

    def write(self, rows: Sequence[dict[str, Any]]) -> int:
        """Write the rows not older than what the store (or this batch) holds for their
        key, `CHUNK` rows per round trip; returns how many were written."""
        latest: dict[bytes, int] = {}  # per key, the newest time written by this batch
        return sum(self._write_chunk(rows[i:i + self.CHUNK], latest)
                   for i in range(0, len(rows), self.CHUNK))

    def _write_chunk(self, rows: Sequence[dict[str, Any]], latest: dict[bytes, int]) -> int:
        keys = [self.redis_key(r) for r in rows]
        stored = self._send([("HGET", key, self.ts_field) for key in keys])
        stamps: dict[datetime, tuple[int, bytes]] = {}
        parsed: dict[bytes, int] = {}
        commands: list[tuple[Any, ...]] = []
        for key, prev, row in zip(keys, stored, rows, strict=True):
            ts = row["event_timestamp"]
            if ts not in stamps:
                proto = self._timestamp()
                proto.FromDatetime(ts)
                stamps[ts] = (proto.seconds * 1_000_000_000 + proto.nanos,
                              proto.SerializeToString())
            nanos, ts_bytes = stamps[ts]
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
            fields: list[bytes] = [self.ts_field, ts_bytes]
            for name, kind, field in self.columns:
                fields += [field, self.value_bytes(kind, row.get(name))]
            commands.append(("HSET", key, *fields))
            if self.ttl:
                commands.append(("EXPIRE", key, self.ttl))
        self._send(commands)
        return sum(c[0] == "HSET" for c in commands)

