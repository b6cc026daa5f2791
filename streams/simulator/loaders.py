"""Read a simulated world back: catalog, labels, splits, query metadata, scenario.

These are the functions other packages' evaluators import; each raises `SimulatorError`
naming the file when it is missing or unreadable.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from streams.errors import SchemaError
from streams.schemas import GRADES, CatalogItem, Grade, decode_catalog_line
from streams.simulator.errors import SimulatorError

FILES = ("catalog.jsonl", "search_log.jsonl", "labels.jsonl", "splits.json", "scenario.json",
         "query_meta.jsonl", "cot_annotations.jsonl")


def _path(world_dir: Path | str, name: str) -> Path:
    path = Path(world_dir) / name
    if not path.is_file():
        raise SimulatorError(f"{path} not found: is {world_dir} a world written by "
                             "`relstream simulate --out DIR`?")
    return path


def iter_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """The JSON objects of a JSON Lines file; `SimulatorError` with file:line if one is bad."""
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                raise SimulatorError(f"{path}:{n}: not valid JSON: {exc}") from exc


def load_catalog(world_dir: Path | str) -> dict[str, CatalogItem]:
    """item_id → `CatalogItem`, validated with the contract decoder."""
    path = _path(world_dir, "catalog.jsonl")
    out: dict[str, CatalogItem] = {}
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if line.strip():
                try:
                    item = decode_catalog_line(line)
                except SchemaError as exc:
                    raise SimulatorError(f"{path}:{n}: {exc}") from exc
                out[item.item_id] = item
    return out


def load_labels(world_dir: Path | str) -> dict[tuple[str, str], Grade]:
    """(query, item_id) → ESCI grade."""
    path = _path(world_dir, "labels.jsonl")
    out: dict[tuple[str, str], Grade] = {}
    for row in iter_jsonl(path):
        if row.get("grade") not in GRADES:
            raise SimulatorError(f"{path}: grade {row.get('grade')!r} is not one of {GRADES}")
        out[(row["query"], row["item_id"])] = row["grade"]
    return out


def load_splits(world_dir: Path | str) -> dict[str, list[str]]:
    """`{"train", "validation", "test", "test_long_tail"}` → raw query strings."""
    path = _path(world_dir, "splits.json")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SimulatorError(f"{path}: not valid JSON: {exc}") from exc
    missing = {"train", "validation", "test", "test_long_tail"} - set(data)
    if missing:
        raise SimulatorError(f"{path}: missing split(s) {sorted(missing)}")
    return {k: list(v) for k, v in data.items()}


def load_query_meta(world_dir: Path | str) -> dict[str, dict[str, Any]]:
    """query → its metadata (kind, base_kind, bucket, department, split, intent, ...)."""
    return {row["query"]: row for row in iter_jsonl(_path(world_dir, "query_meta.jsonl"))}


def load_scenario(world_dir: Path | str) -> dict[str, Any]:
    """The world's `scenario.json` (scenario, seed, start, end, change_at, counts, config)."""
    path = _path(world_dir, "scenario.json")
    try:
        return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]
    except json.JSONDecodeError as exc:
        raise SimulatorError(f"{path}: not valid JSON: {exc}") from exc


def load_cot_annotations(world_dir: Path | str) -> list[dict[str, Any]]:
    """The CoT annotation lines (query, item_id, grade, split, steps, cot)."""
    return list(iter_jsonl(_path(world_dir, "cot_annotations.jsonl")))
