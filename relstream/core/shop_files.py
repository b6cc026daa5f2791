"""Read a data dir back: catalog, labels, splits, query metadata, scenario.

A data dir (a "world") is either one written by `relstream simulate` or a user's own
shop in the contract files alone (`catalog.jsonl`, `search_log.jsonl`, and `labels.jsonl`
with the ground truth, for evaluation; each may be gzipped as `<name>.gz`). These are the
functions every command that takes a world reads it with; each raises `ShopFileError`
naming the missing or unreadable file. Commands call `check_world` first, so a missing file
stops them before any model is loaded.

Splits. A world's `splits.json` is used when present. Without one, `load_splits` derives
the splits from the queries of `search_log.jsonl` (and of `labels.jsonl`, when present),
the same on every machine and in every run (`split_of_query`):
- each query goes by the SHA-256 of its normalised text (`relstream.core.schemas.normalize_query`,
  UTF-8): the first 8 bytes, big-endian, over 2**64, give u in [0, 1); u < 0.7 is train,
  u < 0.8 validation, the rest test (`SPLIT_SHARES`, the simulator's 70/10/20);
- so a split holds whole queries: every pair of a query, and every spelling of it that
  normalises the same, is in one split, and the test split is queries never trained on.
  (The simulator also keeps spelling variants of one intent together; contract files
  carry no intent, so near-duplicate queries such as "runing shoes" may straddle splits);
- `test_long_tail` is the test queries searched at most `LONG_TAIL_MAX_SEARCHES` (2)
  times in the log (labelled queries never searched included): on the simulator's
  20,000-search world7 queries with <= 2 searches carry 28% of the traffic, close to its
  "tail" bucket (the last 25% of traffic).
A hand-written `splits.json` needs train, validation and test; `test_long_tail` is
optional (empty when absent).
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from relstream.core.errors import SchemaError, ShopFileError
from relstream.core.schemas import GRADES, CatalogItem, Grade, decode_catalog_line, normalize_query

FILES = ("catalog.jsonl", "search_log.jsonl", "labels.jsonl", "splits.json", "scenario.json",
         "query_meta.jsonl", "cot_annotations.jsonl")
CONTRACT_FILES = ("catalog.jsonl", "search_log.jsonl", "labels.jsonl")
SPLIT_SHARES = (0.7, 0.1, 0.2)
"""Shares of train, validation and test when splits are derived (the simulator's default)."""
LONG_TAIL_MAX_SEARCHES = 2
"""A derived `test_long_tail` query was searched at most this many times in the log."""
SPLIT_NAMES = ("train", "validation", "test")


def find(world_dir: Path | str, name: str) -> Path | None:
    """`<world_dir>/<name>`, or its gzipped `<name>.gz` (the contract allows both), or None."""
    for candidate in (Path(world_dir) / name, Path(world_dir) / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _path(world_dir: Path | str, name: str, why: str = "") -> Path:
    path = find(world_dir, name)
    if path is None:
        because = f" ({why})" if why else ""
        raise ShopFileError(
            f"{Path(world_dir) / name} not found{because}: a data dir holds the contract files "
            f"{', '.join(CONTRACT_FILES)} (labels.jsonl: ground truth, for evaluation), as "
            "written by `relstream simulate --out DIR` or by hand")
    return path


def world_file(world_dir: Path | str, name: str, why: str = "") -> Path:
    """The path of `name` (or `name.gz`) in the world; `ShopFileError` naming it if absent."""
    return _path(world_dir, name, why)


def check_world(world_dir: Path | str, *, ground_truth: bool = True) -> None:
    """Fail fast, before any model loads, when a file a world command reads is missing.

    Every command needs `catalog.jsonl` and splits (`splits.json`, or `search_log.jsonl`
    to derive them from); `ground_truth` commands (evaluation, training with a test report)
    need `labels.jsonl`; the others need `labels.jsonl` or `search_log.jsonl` for the list
    of pairs (`pairs`).
    """
    if not Path(world_dir).is_dir():
        raise ShopFileError(f"{world_dir} is not a directory: want a data dir holding "
                             f"{', '.join(CONTRACT_FILES)}")
    _path(world_dir, "catalog.jsonl", "the items")
    if ground_truth:
        _path(world_dir, "labels.jsonl", "the ground-truth grades this command evaluates on")
    elif find(world_dir, "labels.jsonl") is None:
        _path(world_dir, "search_log.jsonl", "the shown pairs, as labels.jsonl is absent too")
    if find(world_dir, "splits.json") is None:
        _path(world_dir, "search_log.jsonl",
              "splits.json is absent, so the splits are derived from the logged queries")


def _open(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open(encoding="utf-8")


def iter_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """The JSON objects of a JSON Lines file (gzip when the name ends in `.gz`);
    `ShopFileError` with file:line if one is bad."""
    with _open(path) as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                raise ShopFileError(f"{path}:{n}: not valid JSON: {exc}") from exc


def load_catalog(world_dir: Path | str) -> dict[str, CatalogItem]:
    """item_id → `CatalogItem`, validated with the contract decoder."""
    path = _path(world_dir, "catalog.jsonl")
    out: dict[str, CatalogItem] = {}
    with _open(path) as fh:
        for n, line in enumerate(fh, start=1):
            if line.strip():
                try:
                    item = decode_catalog_line(line)
                except SchemaError as exc:
                    raise ShopFileError(f"{path}:{n}: {exc}") from exc
                out[item.item_id] = item
    return out


def load_labels(world_dir: Path | str) -> dict[tuple[str, str], Grade]:
    """(query, item_id) → ESCI grade, from the world's `labels.jsonl`."""
    return read_labels(_path(world_dir, "labels.jsonl", "the ground-truth grades"))


def read_labels(path: Path) -> dict[tuple[str, str], Grade]:
    """(query, item_id) → ESCI grade, from a contract labels file."""
    if not Path(path).is_file():
        raise ShopFileError(f"ground-truth labels not found: {path}")
    out: dict[tuple[str, str], Grade] = {}
    for row in iter_jsonl(path):
        if row.get("grade") not in GRADES:
            raise ShopFileError(f"{path}: grade {row.get('grade')!r} is not one of {GRADES}")
        if not isinstance(row.get("query"), str) or not isinstance(row.get("item_id"), str):
            raise ShopFileError(f"{path}: a line without a string query and item_id: {row}")
        out[(row["query"], row["item_id"])] = row["grade"]
    return out


def load_splits(world_dir: Path | str) -> dict[str, list[str]]:
    """`{"train", "validation", "test", "test_long_tail"}` → raw query strings.

    From `splits.json` when the world has one, else derived (`derive_splits`).
    """
    path = find(world_dir, "splits.json")
    if path is None:
        return derive_splits(world_dir)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ShopFileError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ShopFileError(f"{path}: want an object of split name → query list")
    missing = set(SPLIT_NAMES) - set(data)
    if missing:
        raise ShopFileError(f"{path}: missing split(s) {sorted(missing)}")
    data.setdefault("test_long_tail", [])
    return {k: list(v) for k, v in data.items()}


def split_of_query(query: str, shares: tuple[float, float, float] = SPLIT_SHARES) -> str:
    """train, validation or test for `query`, from the SHA-256 of its normalised text."""
    digest = hashlib.sha256(normalize_query(query).encode("utf-8")).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    if u < shares[0]:
        return "train"
    return "validation" if u < shares[0] + shares[1] else "test"


def search_counts(world_dir: Path | str) -> Counter[str]:
    """Raw query → number of `search` events for it in `search_log.jsonl`."""
    path = _path(world_dir, "search_log.jsonl", "the logged queries")
    counts: Counter[str] = Counter()
    for row in iter_jsonl(path):
        if row.get("type") == "search" and isinstance(row.get("query"), str):
            counts[row["query"]] += 1
    return counts


def make_query_splits(queries: Iterable[str], searches: Counter[str], *,
                      shares: tuple[float, float, float] = SPLIT_SHARES,
                      long_tail_max_searches: int = LONG_TAIL_MAX_SEARCHES
                      ) -> dict[str, list[str]]:
    """Splits of raw `queries` by query hash; `test_long_tail` by searches per normalised
    query (see the module docstring). Sorted, so equal inputs give equal files."""
    out: dict[str, list[str]] = {name: [] for name in SPLIT_NAMES}
    per_query: Counter[str] = Counter()
    for raw, n in searches.items():
        per_query[normalize_query(raw)] += n
    for q in sorted(set(queries)):
        out[split_of_query(q, shares)].append(q)
    out["test_long_tail"] = [q for q in out["test"]
                             if per_query[normalize_query(q)] <= long_tail_max_searches]
    return out


def derive_splits(world_dir: Path | str, *, shares: tuple[float, float, float] = SPLIT_SHARES,
                  long_tail_max_searches: int = LONG_TAIL_MAX_SEARCHES
                  ) -> dict[str, list[str]]:
    """Splits of a world without `splits.json`: its logged (and labelled) queries by hash."""
    searches = search_counts(world_dir)
    queries = set(searches)
    if find(world_dir, "labels.jsonl") is not None:
        # A labelled query never searched still gets a split (and counts as long tail).
        queries |= {q for q, _ in load_labels(world_dir)}
    return make_query_splits(queries, searches, shares=shares,
                             long_tail_max_searches=long_tail_max_searches)


def load_shown_pairs(world_dir: Path | str) -> set[tuple[str, str]]:
    """(raw query, item_id) of every result shown in `search_log.jsonl`."""
    path = _path(world_dir, "search_log.jsonl", "the shown pairs")
    pairs: set[tuple[str, str]] = set()
    for row in iter_jsonl(path):
        if row.get("type") == "search":
            pairs.update((row["query"], shown["item_id"]) for shown in row.get("results", ()))
    return pairs


def load_pairs(world_dir: Path | str) -> set[tuple[str, str]]:
    """The pairs to label: those of `labels.jsonl` when present (only the keys, never the
    grades), else the shown pairs of `search_log.jsonl`."""
    if find(world_dir, "labels.jsonl") is not None:
        return set(load_labels(world_dir))
    return load_shown_pairs(world_dir)


def load_query_meta(world_dir: Path | str) -> dict[str, dict[str, Any]]:
    """query → its metadata (kind, base_kind, bucket, department, split, intent, ...)."""
    return {row["query"]: row for row in iter_jsonl(_path(world_dir, "query_meta.jsonl"))}


def load_scenario(world_dir: Path | str) -> dict[str, Any]:
    """The world's `scenario.json` (scenario, seed, start, end, change_at, counts, config)."""
    path = _path(world_dir, "scenario.json")
    try:
        return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]
    except json.JSONDecodeError as exc:
        raise ShopFileError(f"{path}: not valid JSON: {exc}") from exc


def load_cot_annotations(world_dir: Path | str) -> list[dict[str, Any]]:
    """The CoT annotation lines (query, item_id, grade, split, steps, cot)."""
    return list(iter_jsonl(_path(world_dir, "cot_annotations.jsonl")))
