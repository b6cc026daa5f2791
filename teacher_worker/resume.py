"""Resuming a batch job whose results are appended to JSONL files (`teacher label`,
`teacher annotate`): which pairs are done, after a kill at any point."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from relstream.core.schemas import pair_key

log = logging.getLogger(__name__)


def done_pairs(*paths: Path) -> set[str]:
    """Pair keys (query, item_id) already written to any of `paths` (missing files are
    empty). A kill mid-write leaves a torn last line: it is cut, so the files stay valid
    JSONL and that pair is simply done again."""
    keys: set[str] = set()
    for path in paths:
        if not path.exists():
            continue
        raw = path.read_bytes()
        if raw and not raw.endswith(b"\n"):
            cut = raw.rfind(b"\n") + 1
            with path.open("r+b") as fh:
                fh.truncate(cut)
            log.warning("%s: dropped a torn last line (%d bytes)", path, len(raw) - cut)
            raw = raw[:cut]
        for line in raw.splitlines():
            record = json.loads(line)
            keys.add(pair_key(record["query"], record["item_id"]))
    return keys
