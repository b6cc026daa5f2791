"""`relstream bench teacher`: labels/s of batched generation against one pair at a time.

Both rows use the same model, prompts and read-out in the same run; the baseline is the
same backend with a generate batch of one (plain one-pair-at-a-time `generate`). A third
row replays a simulated search log as label requests (every shown query-item pair, in
time order) through the real `LabelCache` and reports its hit rate: the share of
requests a worker answers without the model.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from streams.schemas import TeacherInfo, TeacherLabel, pair_key, utcnow


def _world(args: argparse.Namespace) -> Path:
    if args.world:
        return Path(args.world)
    from streams.simulator.config import SimConfig
    from streams.simulator.world import simulate

    out = Path(tempfile.mkdtemp(prefix="bench-teacher-world-"))
    return simulate(SimConfig(out=out, seed=3, items=1000, searches=3000, days=0.5))


def cache_hit_rate(search_log: Path, limit: int, cache_path: Path) -> dict[str, float]:
    """Replay shown pairs of a search log through a fresh `LabelCache`; hits / requests."""
    from teacher_worker.label_cache import LabelCache

    cache = LabelCache(cache_path)
    requests = 0
    info = TeacherInfo(model="bench")
    with search_log.open(encoding="utf-8") as fh:
        for line in fh:
            event = json.loads(line)
            if event.get("type") != "search":
                continue
            for shown in event["results"]:
                if requests >= limit:
                    break
                requests += 1
                key = pair_key(event["query"], shown["item_id"])
                if not cache.known([key]):
                    # Stands for the label the model would have produced for this pair.
                    cache.put([TeacherLabel(
                        ts=utcnow(), event_id=key, query=event["query"],
                        item_id=shown["item_id"], grade_probs={"E": 1.0, "S": 0.0, "C": 0.0,
                                                               "I": 0.0},
                        steps={}, teacher=info)])
            if requests >= limit:
                break
    cache.close()
    return {"requests": float(requests), "hit_rate": cache.hit_rate}


def run_bench(settings: Any, args: argparse.Namespace) -> int:
    from relstream.bench import save_results
    from streams.simulator.loaders import load_catalog, load_labels, load_splits
    from teacher_worker.backends.transformers_backend import TransformersBackend

    world = _world(args)
    catalog = load_catalog(world)
    labels = load_labels(world)
    test = set(load_splits(world)["test"])
    pool = sorted(p for p in labels if p[0] in test)
    pairs = random.Random(0).sample(pool, min(args.pairs, len(pool)))
    pairs_items = [(q, catalog[i]) for q, i in pairs]
    model_dir = settings.model_dir()
    backend = TransformersBackend(model_dir, device=settings.teacher_device,
                                  max_new_tokens=args.max_new_tokens, gen_batch=args.batch,
                                  threads=settings.teacher_threads)
    backend.judge(pairs_items[:1])  # warm-up: first-call allocations are not the model's speed
    rows: list[dict[str, Any]] = []
    for name, gen_batch in (("one pair at a time", 1), (f"batched ({args.batch})", args.batch)):
        backend.gen_batch = gen_batch
        t0 = time.perf_counter()
        judgements = backend.judge(pairs_items)
        seconds = time.perf_counter() - t0
        tokens = sum(j.new_tokens for j in judgements)
        rows.append({"mode": name, "pairs": len(pairs), "seconds": seconds,
                     "labels_per_s": len(pairs) / seconds, "tokens_per_s": tokens / seconds,
                     "marker_rate": sum(j.marker_found for j in judgements) / len(pairs)})
    speedup = rows[1]["labels_per_s"] / rows[0]["labels_per_s"]
    with tempfile.TemporaryDirectory() as tmp:
        hits = cache_hit_rate(world / "search_log.jsonl", args.requests, Path(tmp) / "c.sqlite")
    notes = (f"model {model_dir} on {backend.device}; batched/one-at-a-time labels/s ratio "
             f"{speedup:.2f}x. Cache replay of {world / 'search_log.jsonl'}: "
             f"{int(hits['requests'])} shown pairs as label requests, hit rate "
             f"{hits['hit_rate']:.3f} (share answered from the label cache).")
    save_results("teacher", rows, args.out, command=" ".join(sys.argv), notes=notes,
                 extra={"speedup": speedup, "cache": hits, "model": str(model_dir)})
    return 0
