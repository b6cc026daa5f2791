"""`simulate(config)`: build a whole world and write its files into `config.out`.

Stages, each with its own seeded RNG so a change in one stage does not reshuffle the
others: brands and catalog, the drift scenario, queries, searches in sessions, retrieval
and ranking, ground truth and clicks, splits and CoT annotations. Files are written in a
fixed order with fixed key order, so one seed gives byte-identical files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from relstream.core.schemas import Grade, format_ts
from relstream.tools.simulator.brands import brand_names, make_brands, make_models
from relstream.tools.simulator.catalog import SimItem, build_catalog, launch_items
from relstream.tools.simulator.config import SimConfig
from relstream.tools.simulator.cot_writer import cot_line
from relstream.tools.simulator.families import get_family
from relstream.tools.simulator.family import Family
from relstream.tools.simulator.ground_truth import Judgement, judge
from relstream.tools.simulator.knockoffs import knockoff_items
from relstream.tools.simulator.queries import (
    SimQuery,
    assign_buckets,
    brand_launch_queries,
    make_queries,
)
from relstream.tools.simulator.retriever import LexicalRetriever
from relstream.tools.simulator.sessions import QueryPicker, feedback_for, sample_searches
from relstream.tools.simulator.splits import make_splits, split_of

log = logging.getLogger(__name__)

TREND_BOOST = 6.0
"""After a trend shift, queries of the trending department are this much more popular."""


@dataclass
class World:
    """Everything generated, before it is written."""

    config: SimConfig
    family: Family
    items: list[SimItem]
    queries: list[SimQuery]
    change_at: float | None
    scenario_info: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    judged: dict[tuple[str, int], Judgement] = field(default_factory=dict)
    used_queries: dict[str, SimQuery] = field(default_factory=dict)


def _rng(config: SimConfig, stage: str) -> random.Random:
    # str seeds are hashed with SHA-512 by `random`, so this is stable across processes;
    # family 0 keeps the strings it had before families existed (byte-identical worlds)
    return random.Random(f"relstream-sim/{_seed_tag(config)}/{stage}")


def _seed_tag(config: SimConfig) -> str:
    return f"family{config.family}/{config.seed}" if config.family else str(config.seed)


def _ts(seconds: float) -> str:
    return format_ts(datetime.fromtimestamp(seconds, UTC))


def build_world(config: SimConfig, progress: bool = False) -> World:
    """Generate the world in memory (no files)."""
    start = config.start_ts()
    seconds = config.days * 86400
    change_at = start + config.change_at_frac * seconds if config.scenario != "steady" else None
    family = get_family(config.family)
    tax = family.taxonomy
    brands = make_brands(_rng(config, "brands"), config.brands, family)
    items, devices = build_catalog(_rng(config, "catalog"), config.items, brands, family)
    queries = make_queries(_rng(config, "queries"), items, config.n_queries, family)
    info: dict[str, Any] = {"new_brand": None, "new_brand_item_ids": [], "new_brand_queries": [],
                            "trend_department": None}
    weight_before = weight_after = _weight
    if config.scenario == "new-brand" and change_at is not None:
        rng = _rng(config, "scenario")
        name = brand_names(rng, 1, taken={b.name.lower() for b in brands},
                           style=family.style.brands)[0]
        models = [m for t in rng.sample(family.launch_types, 2)
                  for m in make_models(rng, name, t, family.style.models)]
        new = launch_items(rng, models, max(20, config.items // 100), devices, len(items),
                           _ts(change_at), family)
        launch_q = brand_launch_queries(rng, new, max(20, config.n_queries // 50), family)
        # a stage of its own RNG, so worlds without knock-offs stay byte-identical
        fakes = knockoff_items(_rng(config, "knockoffs"), new, brands,
                               round(config.knockoffs * len(new)), devices,
                               len(items) + len(new), _ts(change_at), family)
        items = items + new + fakes
        queries = assign_buckets(queries + launch_q)
        info.update(new_brand=name, new_brand_item_ids=[i.item_id for i in new],
                    new_brand_types=sorted({tax.by_key[m.ptype].path for m in models}))
        if fakes:
            info["knockoff_item_ids"] = [i.item_id for i in fakes]
        weight_before = _weight_before_launch
    elif config.scenario == "trend-shift":
        dept = _rng(config, "scenario").choice(tax.departments)
        info["trend_department"] = dept
        weight_after = lambda q: _weight(q) * (TREND_BOOST if q.department == dept else 1.0)  # noqa: E731
    picker = QueryPicker(queries, change_at, weight_after=weight_after,
                         weight_before=weight_before)
    searches = sample_searches(picker, config.n_searches, config.n_users, start, seconds,
                               _rng(config, "sessions"))
    world = World(config, family, items, queries, change_at, info)
    _run_searches(world, searches, progress)
    info["new_brand_queries"] = sorted(q for q, sq in world.used_queries.items() if sq.new_brand)
    return world


def _weight(q: SimQuery) -> float:
    return q.weight


def _weight_before_launch(q: SimQuery) -> float:
    return 0.0 if q.new_brand else q.weight


def _run_searches(world: World, searches: list, progress: bool) -> None:
    config = world.config
    for s in searches:
        world.used_queries.setdefault(s.query.text, s.query)
    texts = sorted(world.used_queries)
    retriever = LexicalRetriever(world.items, _rng(config, "retriever"), world.family.taxonomy)
    pools = dict(zip(texts, retriever.retrieve(texts, config.candidate_pool), strict=True))
    launched = np.array([it.launched_at is None for it in world.items])
    rng = _rng(config, "clicks")
    # ranking noise for every search at once: each shown list is the pool re-ranked by
    # rank + N(0, 2), so positions vary between searches of the same query
    seed = int.from_bytes(hashlib.sha256(f"{_seed_tag(config)}/ranking".encode()).digest()[:8],
                          "big")
    noise = np.random.default_rng(seed).normal(0.0, 2.0, (len(searches), config.candidate_pool))
    noise += np.arange(config.candidate_pool)
    orders = np.argsort(noise, axis=1, kind="stable").tolist()
    raw: list[tuple[float, int, dict[str, Any]]] = []
    seq = 0
    for n, s in enumerate(tqdm(searches, desc="searches", disable=not progress, unit="search")):
        q = s.query
        pool = pools[q.text]
        if world.change_at is not None and s.ts < world.change_at:
            pool = [i for i in pool if launched[i]]
        # ranks beyond a shortened pool are skipped; the rest keep their noisy order
        shown_idx = [pool[r] for r in orders[n] if r < len(pool)][:config.results_per_search]
        request_id = f"rq-{config.seed}-{n:07d}"
        user_id = f"u{s.user:06d}"
        shown: list[tuple[int, str, Grade]] = []
        for pos, idx in enumerate(shown_idx, start=1):
            j = world.judged.get((q.text, idx))
            if j is None:
                j = world.judged[(q.text, idx)] = judge(q.intent, world.items[idx])
            shown.append((pos, world.items[idx].item_id, j.grade))
        raw.append((s.ts, seq, {
            "type": "search", "event_id": "", "ts": "", "request_id": request_id,
            "user_id": user_id, "query": q.text,
            "results": [{"item_id": item_id, "position": pos} for pos, item_id, _ in shown],
            "session_id": f"s{config.seed}-{s.session:06d}"}))
        seq += 1
        for ts, item_id, action in feedback_for(shown, s.ts, rng):
            raw.append((ts, seq, {
                "type": "feedback", "event_id": "", "ts": "", "request_id": request_id,
                "user_id": user_id, "item_id": item_id, "action": action}))
            seq += 1
    raw.sort(key=lambda e: (e[0], e[1]))
    for k, (ts, _, event) in enumerate(raw):
        event["event_id"] = f"ev-{config.seed}-{k:08d}"
        event["ts"] = _ts(ts)
        world.events.append(event)


def _write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    n = 0
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


def write_world(world: World) -> Path:
    """Write every file of the world into `config.out`; returns that directory."""
    config = world.config
    out = config.out
    out.mkdir(parents=True, exist_ok=True)
    item_by_idx = world.items
    splits = make_splits(list(world.used_queries.values()), config.split_fractions,
                         _rng(config, "splits"))
    which = split_of(splits)
    _write_jsonl(out / "catalog.jsonl",
                 (it.to_json() for it in sorted(world.items, key=lambda i: i.item_id)))
    _write_jsonl(out / "search_log.jsonl", world.events)
    pairs = sorted(world.judged.items(), key=lambda kv: (kv[0][0], item_by_idx[kv[0][1]].item_id))
    _write_jsonl(out / "labels.jsonl", ({"query": q, "item_id": item_by_idx[i].item_id,
                                         "grade": j.grade} for (q, i), j in pairs))
    rng = _rng(config, "cot")
    cot_rows = []
    for (q, i), j in pairs:
        split = which.get(q, "test")
        if split != "test" and rng.random() < config.cot_share:
            cot_rows.append(cot_line(world.used_queries[q], item_by_idx[i], j, split))
    _write_jsonl(out / "cot_annotations.jsonl", cot_rows)
    _write_jsonl(out / "query_meta.jsonl", (_query_meta(q, which) for _, q in sorted(
        world.used_queries.items())))
    (out / "splits.json").write_text(json.dumps(splits, indent=1) + "\n", encoding="utf-8")
    start = config.start_ts()
    family = {"family": config.family, "family_name": world.family.name} if config.family else {}
    scenario = {
        "scenario": config.scenario, "seed": config.seed, **family, "start": _ts(start),
        "end": _ts(start + config.days * 86400),
        "change_at": _ts(world.change_at) if world.change_at is not None else None,
        **world.scenario_info,
        "counts": {"items": len(world.items), "searches": sum(
            1 for e in world.events if e["type"] == "search"), "events": len(world.events),
            "queries": len(world.used_queries), "labelled_pairs": len(pairs),
            "cot_annotations": len(cot_rows)},
        "config": config.to_json(),
    }
    (out / "scenario.json").write_text(json.dumps(scenario, indent=1) + "\n", encoding="utf-8")
    return out


def _query_meta(q: SimQuery, which: dict[str, str]) -> dict[str, Any]:
    return {"query": q.text, "kind": q.kind, "base_kind": q.base_kind, "bucket": q.bucket,
            "department": q.department, "split": which.get(q.text), "new_brand": q.new_brand,
            "intent": q.intent.to_json(q.taxonomy), "intent_key": q.intent.key,
            "popularity": round(q.weight, 6)}


def simulate(config: SimConfig, progress: bool = False) -> Path:
    """Generate the world described by `config` and write its files; returns the folder."""
    world = build_world(config, progress=progress)
    out = write_world(world)
    log.info("simulated %d items, %d events, %d queries into %s", len(world.items),
             len(world.events), len(world.used_queries), out)
    return out
