"""`relstream bench teacher`: labels/s of the teacher's engines on the same pairs, one run.

Every row labels the same test pairs of a simulated world with the same model (the
shipped ELLM-rele unless `--model-dir`), the real CoT length (greedy until the model stops)
and the backends' own read-out:
- `transformers`: HF `generate`, fp32, batched (the baseline: what the loop used before);
- `vllm server`: vLLM's OpenAI server through the `openai` backend (what workers and batch
  jobs use), with prefix caching on (KV blocks of 32) and off, and on vLLM's CPU default
  block of 128 tokens (prefix caching on, but the shared prefix fills no whole block);
- `vllm offline`: vLLM's `LLM.generate` in its own process, no HTTP (optional).
Each vLLM row starts a fresh server (no prefix cache carried over from another row) and
warms it up on other pairs first (compilation, kernel set-up), untimed.
Agreement with the transformers row (same top grade, mean |Δp|) is reported per row.
A label-cache replay of the world's search log gives the share of requests a worker
answers without the model. Results: `<out>/bench-teacher.json` and a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from relstream.core.schemas import GRADES, CatalogItem, TeacherInfo, TeacherLabel, pair_key, utcnow

Pair = tuple[str, CatalogItem]


def _world(args: argparse.Namespace) -> Path:
    if args.world:
        return Path(args.world)
    from relstream.tools.simulator.config import SimConfig
    from relstream.tools.simulator.world import simulate

    out = Path(tempfile.mkdtemp(prefix="bench-teacher-world-"))
    return simulate(SimConfig(out=out, seed=7, items=4000, searches=20000, days=1.0))


def sample_pairs(world: Path, split: str, n: int, seed: int) -> list[Pair]:
    """`n` pairs of whole queries of `split` (every shown item of a query, as a worker's
    batch of a query's requests would be), queries in random order."""
    from relstream.core.shop_files import load_catalog, load_pairs, load_splits

    catalog = load_catalog(world)
    queries = sorted(load_splits(world)[split])
    random.Random(seed).shuffle(queries)
    by_query: dict[str, list[str]] = {}
    for q, item_id in sorted(load_pairs(world)):
        by_query.setdefault(q, []).append(item_id)
    out: list[Pair] = []
    for q in queries:
        out.extend((q, catalog[i]) for i in by_query.get(q, []))
        if len(out) >= n:
            break
    return out[:n]


def cache_hit_rate(search_log: Path, limit: int, cache_path: Path) -> dict[str, float]:
    """Replay shown pairs of a search log through a fresh `LabelCache`; hits / requests."""
    from relstream.core.shop_files import iter_jsonl
    from teacher_worker.label_cache import LabelCache

    cache = LabelCache(cache_path)
    requests = 0
    info = TeacherInfo(model="bench")
    for event in iter_jsonl(search_log):
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


def _row(engine: str, prefix_caching: bool | None, pairs: int, seconds: float, tokens: int,
         probs: list[dict[str, float]] | None, reference: list[dict[str, float]] | None,
         **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"engine": engine, "prefix_caching": prefix_caching, "pairs": pairs,
                           "seconds": round(seconds, 1), "labels_per_s": pairs / seconds,
                           "tokens_per_s": tokens / seconds, "new_tokens_per_label": tokens / pairs,
                           **extra}
    if probs is not None and reference is not None:
        n = min(len(probs), len(reference))
        same = sum(max(GRADES, key=p.get) == max(GRADES, key=r.get)  # type: ignore[arg-type]
                   for p, r in zip(probs[:n], reference[:n], strict=True))
        diff = sum(abs(p[g] - r[g]) for p, r in zip(probs[:n], reference[:n], strict=True)
                   for g in GRADES) / (n * len(GRADES))
        row.update({"same_grade_as_hf": same / n, "mean_abs_dp_vs_hf": diff})
    return row


def _transformers_row(settings: Any, args: argparse.Namespace, pairs: list[Pair],
                      warmup: list[Pair]) -> tuple[dict[str, Any], list[dict[str, float]]]:
    from teacher_worker.backends.transformers_backend import TransformersBackend

    backend = TransformersBackend(settings.model_dir(), device=settings.teacher_device,
                                  max_new_tokens=args.max_new_tokens, gen_batch=args.hf_batch,
                                  threads=settings.teacher_threads)
    backend.judge(warmup[:2])  # first-call allocations are not the model's speed
    t0 = time.perf_counter()
    judgements = backend.judge(pairs)
    seconds = time.perf_counter() - t0
    probs: list[dict[str, float]] = [{str(g): p for g, p in j.grade_probs.items()}
                                     for j in judgements]
    row = _row(f"transformers (fp32, batch {args.hf_batch}, {backend.device})", None,
               len(pairs), seconds, sum(j.new_tokens for j in judgements), None, None)
    return row, probs


@contextmanager
def _warm_server(
    settings: Any, args: argparse.Namespace, warmup: list[Pair], log_dir: Path, *,
    prefix_caching: bool, block_size: int | None,
) -> Iterator[tuple[Any, Any, Any, float]]:
    """A vLLM server of `settings` on a free port, ready and warmed up on `warmup`:
    yields (its settings, its process, an OpenAI backend on it, seconds it took to start);
    stopped on exit."""
    from relstream.stack import free_port
    from teacher_worker.backends.openai_backend import OpenAIBackend
    from teacher_worker.vllm_server import base_url, start_server, stop_group, wait_ready

    port = free_port()
    served = settings.model_copy(update={
        "vllm_port": port, "vllm_prefix_caching": prefix_caching, "vllm_block_size": block_size,
        "teacher_openai_url": f"http://127.0.0.1:{port}/v1",
        "teacher_max_new_tokens": args.max_new_tokens})
    log = log_dir / f"vllm-{port}.log"
    proc = start_server(served, log)
    try:
        started = wait_ready(base_url(served), proc, served.vllm_ready_timeout_s, log)
        backend = OpenAIBackend.from_settings(served)
        backend.judge(warmup)
        yield served, proc, backend, started
    finally:
        stop_group(proc)


def _server_row(settings: Any, args: argparse.Namespace, pairs: list[Pair], warmup: list[Pair],
                reference: list[dict[str, float]] | None, *, prefix_caching: bool,
                block_size: int | None, log_dir: Path) -> dict[str, Any]:
    from teacher_worker.vllm_server import gpu_present, server_dtype

    with _warm_server(settings, args, warmup, log_dir, prefix_caching=prefix_caching,
                      block_size=block_size) as (served, _, backend, started):
        t0 = time.perf_counter()
        judgements = backend.judge(pairs)
        seconds = time.perf_counter() - t0
    probs: list[dict[str, float]] = [{str(g): p for g, p in j.grade_probs.items()}
                                     for j in judgements]
    block = block_size or "vLLM default (128)"
    name = f"vllm server ({server_dtype(served, on_gpu=gpu_present())}, HTTP, block {block})"
    return _row(name, prefix_caching, len(pairs), seconds, sum(j.new_tokens for j in judgements),
                probs, reference, server_start_s=round(started, 1),
                marker_rate=sum(j.marker_found for j in judgements) / len(pairs))


def _offline_row(settings: Any, args: argparse.Namespace, pairs: list[Pair],
                 warmup: list[Pair]) -> dict[str, Any]:
    from teacher_worker.backends.openai_backend import OpenAIBackend
    from teacher_worker.vllm_server import gpu_present, server_dtype, server_env, vllm_python

    on_gpu = gpu_present()
    dtype = server_dtype(settings, on_gpu=on_gpu)
    prompter = OpenAIBackend("http://127.0.0.1:1/v1", "unused", tokenizer_dir=settings.model_dir())
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "in.json"
        result = Path(tmp) / "out.json"
        spec.write_text(json.dumps({
            "model": str(settings.model_dir()), "dtype": dtype, "block_size": 32,
            "prefix_caching": True, "max_tokens": args.max_new_tokens,
            "grade_ids": prompter.grade_ids, "max_num_seqs": settings.vllm_max_num_seqs,
            "warmup": [prompter.prompt(q, item) for q, item in warmup],
            "prompts": [prompter.prompt(q, item) for q, item in pairs]}))
        env = server_env(settings, on_gpu=on_gpu)
        script = Path(__file__).with_name("vllm_offline_bench.py")
        proc = subprocess.run([str(vllm_python(settings)), str(script), str(spec), str(result)],
                              env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            return {"engine": "vllm offline LLM.generate", "error": proc.stderr[-800:]}
        out = json.loads(result.read_text())
    return _row(f"vllm offline LLM.generate ({dtype}, block 32)", True,
                out["pairs"], out["seconds"], out["new_tokens"], None, None)


def _profile(settings: Any, args: argparse.Namespace, pairs: list[Pair], warmup: list[Pair],
             log_dir: Path) -> dict[str, Any]:
    """py-spy samples of the production server (block 32, prefix caching) while it labels."""
    from relstream.tools.bench.teacher_profile import profile_labelling

    with _warm_server(settings, args, warmup, log_dir, prefix_caching=True,
                      block_size=32) as (_, proc, backend, _started):
        # Label the pairs repeatedly (fresh prefixes are not needed: the profile is of the
        # decode loop) until the sampling window closes.
        stop = time.monotonic() + args.profile

        def label() -> None:
            while time.monotonic() < stop:
                backend.judge(pairs)

        found = profile_labelling(label, proc.pid, args.profile, log_dir / "profile.raw")
    print(json.dumps({"profile": found}, indent=1), flush=True)
    return found


def run_bench(settings: Any, args: argparse.Namespace) -> int:
    from relstream.core.reporting import save_results
    from relstream.core.shop_files import check_world, world_file

    world = _world(args)
    check_world(world, ground_truth=False)
    search_log = world_file(world, "search_log.jsonl", "the label-cache replay")
    pairs = sample_pairs(world, "test", args.pairs, seed=args.seed)
    warmup = sample_pairs(world, "validation", args.warmup, seed=args.seed)
    print(f"bench teacher: {len(pairs)} test pairs of {world} "
          f"({len({q for q, _ in pairs})} queries), model {settings.model_dir()}", flush=True)
    if args.profile_only:
        log_dir = Path(tempfile.mkdtemp(prefix="bench-teacher-logs-"))
        found = _profile(settings, args, pairs, warmup, log_dir)
        if "skipped" in found:
            print(f"no profile: {found['skipped']}", file=sys.stderr)
            return 1
        buckets = [{"bucket": k, "share": v} for k, v in found.get("by_bucket", {}).items()]
        save_results("bench-teacher-profile", buckets, args.out, command=" ".join(sys.argv),
                     notes=f"py-spy, {args.profile:.0f} s while the vLLM server labels "
                     f"{len(pairs)} pairs in a loop; {found.get('samples', 0)} samples over "
                     "the API server and engine-core processes (running threads only).",
                     extra={"profile": found})
        return 0
    rows: list[dict[str, Any]] = []
    reference = None
    log_dir = Path(tempfile.mkdtemp(prefix="bench-teacher-logs-"))
    if not args.skip_transformers:
        row, reference = _transformers_row(settings, args, pairs, warmup)
        rows.append(row)
        print(json.dumps(row), flush=True)
    variants = [(True, 32), (False, 32), (True, None)]
    for prefix_caching, block in variants:
        row = _server_row(settings, args, pairs, warmup, reference,
                          prefix_caching=prefix_caching, block_size=block, log_dir=log_dir)
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.offline:
        row = _offline_row(settings, args, pairs, warmup)
        rows.append(row)
        print(json.dumps(row), flush=True)
    profile = _profile(settings, args, pairs, warmup, log_dir) if args.profile else None
    with tempfile.TemporaryDirectory() as tmp:
        hits = cache_hit_rate(search_log, args.requests, Path(tmp) / "c.sqlite")
    best = max((r for r in rows if "vllm" in r["engine"] and "labels_per_s" in r),
               key=lambda r: r["labels_per_s"])
    base = rows[0]["labels_per_s"] if reference is not None else None
    notes = (f"Same {len(pairs)} pairs for every row (whole queries of the test split), model "
             f"{settings.model_dir().name}, greedy until the model stops (cap "
             f"{args.max_new_tokens}). Best vLLM row: {best['labels_per_s']:.2f} labels/s"
             + (f" = {best['labels_per_s'] / base:.1f}x transformers" if base else "")
             + f". Label-cache replay of {world.name}/{search_log.name}: "
             f"{int(hits['requests'])} shown pairs as requests, hit rate {hits['hit_rate']:.3f}.")
    save_results("bench-teacher", rows, args.out, command=" ".join(sys.argv), notes=notes,
                 extra={"cache": hits, "model": str(settings.model_dir()), "profile": profile,
                        "world": str(world), "speedup_best_vs_transformers":
                        best["labels_per_s"] / base if base else None})
    return 0
