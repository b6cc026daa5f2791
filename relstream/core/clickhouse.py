"""One ClickHouse client per process, safe to share between threads.

Embedded chdb allows a single data path per process (and one process per path), and
clickhouse-connect clients must not run two queries at once, so every package gets its
client here: one per DSN, wrapped so that calls are serialised by a lock. Which path a
service opens by default is `CommonSettings.chdb_path()`: one per role, so the services
of one state dir run side by side (`relstream.core.settings.CHDB_ROLES`). Rows that
services write in the background go through `relstream.core.clickhouse_sink`, which
buffers them and states per table whether a failed insert keeps or drops them.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from relstream.core.errors import RelstreamError
from relstream.core.settings import CommonSettings, redact_url, scrub

_clients: dict[str, LockedClient] = {}
_clients_lock = threading.Lock()


class LockedClient:
    """A clickhouse-connect client whose calls run one at a time."""

    def __init__(self, client: Any, dsn: str) -> None:
        self._client = client
        self._lock = threading.RLock()
        self.where = redact_url(dsn)
        """The DSN without its password: safe to log."""

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        with self._lock:
            return self._client.command(sql, parameters=parameters)

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        with self._lock:
            return self._client.query(sql, parameters=parameters)

    def query_df(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        with self._lock:
            return self._client.query_df(sql, parameters=parameters)

    def insert(self, table: str, rows: list[list[Any]], column_names: list[str]) -> None:
        with self._lock:
            self._client.insert(table, rows, column_names=column_names)

    def insert_df(self, table: str, df: Any) -> None:
        with self._lock:
            self._client.insert_df(table, df)


def get_client(settings: CommonSettings) -> LockedClient:
    """The process-wide client for `settings.chdb_dsn()` (embedded chdb by default)."""
    dsn = settings.chdb_dsn()
    with _clients_lock:
        if dsn in _clients:
            return _clients[dsn]
        if dsn.startswith("chdb://"):
            others = [d for d in _clients if d.startswith("chdb://")]
            if others:
                raise RelstreamError(
                    f"this process already opened chdb at {others[0]}; chdb allows one path "
                    f"per process, so {dsn} cannot be opened too"
                )  # chdb:// DSNs are paths: no secret in them
            Path(dsn.removeprefix("chdb://")).parent.mkdir(parents=True, exist_ok=True)
        import clickhouse_connect

        try:
            client = clickhouse_connect.get_client(dsn=dsn)
        except Exception as exc:  # connection errors come in many driver-specific types
            # Workers log this message: it names the server, never the DSN's password. If
            # the driver's own text carries the password, the cause is dropped with it.
            reason = scrub(str(exc), dsn)
            hint = ""
            if dsn.startswith("chdb://"):
                # chdb prints "Cannot lock file .../status" itself and raises only "Error
                # initializing EmbeddedServer": the usual cause is a second process.
                hint = ("; is another process using this embedded ClickHouse? chdb admits one "
                        "process per path (one path per role: relstream.core.settings.CHDB_ROLES): "
                        "give this one its own RELSTREAM_STATE_DIR, or set "
                        "RELSTREAM_CLICKHOUSE_URL to a ClickHouse server")
            error = RelstreamError(
                f"cannot connect to ClickHouse at {redact_url(dsn)}: {reason}{hint}")
            if reason != str(exc):
                raise error from None
            raise error from exc
        _clients[dsn] = LockedClient(client, dsn)
        return _clients[dsn]
