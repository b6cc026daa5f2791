"""A persistent label cache: pair key → the teacher label already produced for that pair.

SQLite in the worker's state dir, so a restarted worker (even after SIGKILL) still knows
what it labelled. An entry is written only after the label was flushed to Kafka, so the
cache never claims a label the topic does not have.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path

from relstream.core.schemas import TeacherLabel
from teacher_worker.errors import TeacherWorkerError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS labels (
    pair_key TEXT PRIMARY KEY,
    label_json TEXT NOT NULL,
    written_at REAL NOT NULL DEFAULT (julianday('now'))
)
"""


class LabelCache:
    """Thread-safe SQLite map from `pair_key` to `TeacherLabel`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(_SCHEMA)
            self._db.commit()
        except sqlite3.Error as exc:
            raise TeacherWorkerError(f"cannot open the label cache at {self.path}: {exc}") from exc
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def known(self, keys: Iterable[str]) -> set[str]:
        """Which of `keys` have a cached label (counts hits and misses)."""
        wanted = list(dict.fromkeys(keys))
        found: set[str] = set()
        with self._lock:
            for start in range(0, len(wanted), 500):  # SQLite's host-parameter limit
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT pair_key FROM labels WHERE pair_key IN ({marks})", chunk
                ).fetchall()
                found.update(r[0] for r in rows)
        self.hits += len(found)
        self.misses += len(wanted) - len(found)
        return found

    def get(self, key: str) -> TeacherLabel | None:
        with self._lock:
            row = self._db.execute(
                "SELECT label_json FROM labels WHERE pair_key = ?", (key,)
            ).fetchone()
        return TeacherLabel.model_validate_json(row[0]) if row else None

    def latest(self) -> TeacherLabel | None:
        """The label written last (the demo shows one)."""
        with self._lock:
            row = self._db.execute(
                "SELECT label_json FROM labels ORDER BY written_at DESC, rowid DESC LIMIT 1"
            ).fetchone()
        return TeacherLabel.model_validate_json(row[0]) if row else None

    def queries(self) -> list[str]:
        """The query of every cached label, one per labelled pair (what the teacher's
        attention went to: the demo counts those of the new brand's queries)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT json_extract(label_json, '$.query') FROM labels").fetchall()
        return [r[0] for r in rows]

    def put(self, labels: Iterable[TeacherLabel]) -> None:
        rows = [(label.pair_key, label.model_dump_json()) for label in labels]
        if not rows:
            return
        with self._lock:
            self._db.executemany(
                "INSERT OR REPLACE INTO labels (pair_key, label_json) VALUES (?, ?)", rows
            )
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM labels").fetchone()[0])

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0

    def close(self) -> None:
        with self._lock:
            self._db.close()
