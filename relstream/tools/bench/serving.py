"""`relstream bench serving`: the server against raw onnxruntime, under swaps, and the cascade.

One run, on one machine, in this order:

1. **Students** (`bench_students`): MiniLM-based cross-encoder and two-tower trained on a
   simulated world and published with their INT8 gate (cached between runs).
2. **Raw baseline** (`bench_raw`): bare `session.run` of the served graph on the batches
   the load generator sends, tokenised up front, for each thread layout; the best layout
   is the baseline.
3. **Server at saturation** and **during swaps** (`swap_drill`): `relstream serve` in a
   child process with a catalog and ClickHouse metrics, `clients` closed-loop clients
   (enough to keep every model slot busy). `rounds` rounds of [steady load, the raw
   baseline, load while the cross-encoder is swapped between two versions] — the phases
   alternate so that machine load drifting over minutes (other jobs share these cores)
   hits all three alike; each rate is the total over its rounds.
4. **Cascade** (`bench_cascade`): the two-tower ranking `candidates` items per validation
   query and the cross-encoder rescoring the top k, against the cross-encoder alone.

Writes `<out>/bench-serving.json` (every number, the goals and whether each is met) and
`<out>/bench-serving.md`, and prints the Markdown table.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
from pathlib import Path
from typing import Any

from relstream.core.item_text import item_text
from relstream.core.manifest import read_manifest
from relstream.core.registry import version_dir
from relstream.core.reporting import save_results
from relstream.core.schemas import CatalogItem
from relstream.tools.bench.cascade import CascadeResult, measure_cascade
from relstream.tools.bench.serving_raw import (
    LAYOUTS,
    RawResult,
    measure_raw,
    probe_session,
    request_batches,
    run_layout,
    tokenised,
)
from relstream.tools.bench.students import BenchStudents, StudentRecipe, prepare_students
from relstream.tools.drills.swap import (
    DrillResult,
    body_maker,
    run_swap_drill,
    run_swap_drill_subprocess,
)
from relstream.tools.loadgen.http_load import Sample
from serving.item_lookup import MemoryItemLookup
from serving.precision import choose_graphs
from serving.settings import ServingSettings

_TYPES = ("running shoes", "hiking boots", "phone case", "usb c charger", "wireless earbuds",
          "hoodie", "kettle", "power bank", "backpack", "water bottle")
_BRANDS = ("stride", "trailpeak", "voltix", "cushion pro", "aurora", "kestrel", "nimbus")
_COLORS = ("black", "white", "blue", "red", "gray", "green", "pink")


def synthetic_catalog(n: int, seed: int = 0) -> tuple[list[CatalogItem], list[str]]:
    """`n` catalog items and a few hundred queries over the same words."""
    rng = random.Random(seed)
    items = []
    for k in range(n):
        ptype, brand, color = rng.choice(_TYPES), rng.choice(_BRANDS), rng.choice(_COLORS)
        items.append(CatalogItem(
            item_id=f"i{k}", title=f"{brand.title()} {ptype.title()} {color} model {k % 97}",
            category=f"Shop > {ptype.title()}", brand=brand.title(),
            attributes={"color": color, "size": str(rng.randint(5, 12))},
        ))
    queries = [f"{rng.choice(_BRANDS)} {rng.choice(_TYPES)} {rng.choice(_COLORS)}"
               for _ in range(300)]
    return items, queries


GOALS = {"ratio_vs_raw": 0.8, "swap_p99_ratio": 1.2, "cascade_speedup": 5.0,
         "cascade_auc_loss": 0.005}


def _pairs_per_s(samples: list[Sample], items: int, spans: list[float] | None = None) -> float:
    """Pairs scored per second of load (`spans`: the load's own seconds, without pauses)."""
    ok = [s for s in samples if s.status == 200]
    if not ok:
        return float("nan")
    span = sum(spans) if spans else max(s.received for s in samples) - min(
        s.sent for s in samples)
    return len(ok) * items / span


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def run_bench(args: argparse.Namespace) -> int:
    base = ServingSettings()
    cache = args.students_cache or base.state_dir / "bench-serving-students"
    recipe = StudentRecipe(world_items=args.world_items, world_searches=args.world_searches,
                           layers=args.layers, max_length=args.max_length,
                           train_steps=args.train_steps)
    print(f"students: {cache / recipe.key()} (trained once per recipe, then reused)")
    students = prepare_students(cache, recipe)
    v1, _ = students.cross_encoder_versions
    manifest = read_manifest(version_dir(students.registry, "cross_encoder", v1))
    precision = choose_graphs(manifest)  # what the server will choose with its defaults
    texts = {it.item_id: item_text(it) for it in students.catalog}
    make_body = body_maker(students.queries, sorted(texts), args.items)
    loads: dict[str, float] = {"start": _load()}

    print(f"raw onnxruntime ({precision.name}): {len(LAYOUTS)} layouts × {args.raw_s:.0f} s")
    batches = request_batches(make_body, texts, args.clients, seed=0, n=args.raw_batches)
    feeds = tokenised(manifest, probe_session(manifest, precision), batches)
    layouts = measure_raw(manifest, precision, feeds, args.raw_s)
    best = max(layouts, key=lambda r: r.pairs_per_s)
    loads["after_raw"] = _load()
    raw_rounds: list[RawResult] = []

    def raw_round(_: int) -> None:
        raw_rounds.append(run_layout(manifest, precision, feeds, best.threads, best.workers,
                                     args.steady_s / args.rounds))

    print(f"server: {args.clients} clients, {args.steady_s:.0f} s steady in {args.rounds} "
          f"rounds between raw rounds, then {args.swaps} swaps in {args.swap_s:.0f} s")
    result = _server_phases(args, students, make_body, raw_round)
    loads["after_server"] = _load()

    print(f"cascade: {args.candidates} candidates per validation query, top {args.rescore_k} "
          "rescored")
    cascade = measure_cascade(students.registry, v1, students.catalog, students.validation,
                              candidates=args.candidates, rescore_k=args.rescore_k,
                              max_queries=args.cascade_queries)
    loads["end"] = _load()
    results = _results(args, result, layouts, best, raw_rounds, cascade)
    results.update(precision_reason=precision.reason, students=students.info,
                   load_average_1min=loads)
    save_results("bench-serving", _rows(results, best, cascade), args.out,
                 command=_command(args), notes=_notes(results, recipe), extra=results)
    return 0


def _server_phases(args: argparse.Namespace, students: BenchStudents, make_body: Any,
                   between: Any) -> DrillResult:
    """The swap drill on the bench's registry: steady rounds (with `between`), then swaps."""
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        settings = ServingSettings(
            state_dir=Path(tmp) / "state", clickhouse_url="", registry=students.registry,
            model_name="cross_encoder", admin_token="bench", poll_interval_s=0,
            max_items=max(200, args.items))
        drill = {"model": "cross_encoder", "versions": students.cross_encoder_versions,
                 "clients": args.clients, "steady_s": args.steady_s, "swap_s": args.swap_s,
                 "swaps": args.swaps, "rounds": args.rounds, "between": between}
        if args.server == "process":
            catalog = Path(tmp) / "catalog.jsonl"
            catalog.write_text("".join(i.model_dump_json() + "\n" for i in students.catalog))
            return run_swap_drill_subprocess(settings, catalog, make_body, **drill)
        return run_swap_drill(settings, MemoryItemLookup(students.catalog), make_body, **drill)


def _results(args: argparse.Namespace, result: DrillResult, layouts: list[RawResult],
             best: RawResult, raw_rounds: list[RawResult],
             cascade: CascadeResult) -> dict[str, Any]:
    """Every number of the run, the issue's keys first, and which goals are met."""
    raw = sum(r.pairs for r in raw_rounds) / sum(r.seconds for r in raw_rounds)
    steady, swapping = result.summary("steady"), result.summary("swapping")
    server = _pairs_per_s(result.steady, args.items, result.spans["steady"])
    results: dict[str, Any] = {
        "raw_pairs_per_s": raw,
        "server_pairs_per_s": server,
        "ratio_vs_raw": server / raw,
        "steady_p50_ms": steady["p50_ms"], "steady_p99_ms": steady["p99_ms"],
        "steady_failed": steady["failed"], "steady_requests": steady["requests"],
        "swap_pairs_per_s": _pairs_per_s(result.swapping, args.items, result.spans["swapping"]),
        "swap_p50_ms": swapping["p50_ms"], "swap_p99_ms": swapping["p99_ms"],
        "swap_p99_ratio": swapping["p99_ms"] / steady["p99_ms"],
        "swap_failed": swapping["failed"], "swap_requests": swapping["requests"],
        "swaps_done": result.swaps_done, "swap_load_failures": result.swap_failures,
        "max_live_sessions": result.max_live_sessions,
        "responses_naming_a_version_not_live": len(result.not_live()),
        "rss_growth": result.rss_growth,
        "median_swap_s": statistics.median(result.swap_seconds) if result.swap_seconds
        else float("nan"),
        "cascade_speedup": cascade.speedup,
        "cascade_auc_loss": cascade.auc_loss,
        "cascade_pairs_per_s": cascade.cascade_pairs_per_s,
        "cross_encoder_only_pairs_per_s": cascade.ce_pairs_per_s,
        "auc_cross_encoder": cascade.auc_cross_encoder, "auc_cascade": cascade.auc_cascade,
        "auc_two_tower": cascade.auc_two_tower,
        "cascade_auc_loss_by_k": cascade.auc_loss_by_k,
        "cascade": {"queries": cascade.queries, "candidates": cascade.candidates,
                    "rescore_k": cascade.rescore_k, "pairs": cascade.pairs,
                    "labelled_pairs": cascade.labelled_pairs,
                    "precision": cascade.precision},
        "raw_layouts": [{"threads": r.threads, "runs_at_once": r.workers,
                         "pairs_per_s": r.pairs_per_s, "runs": r.runs} for r in layouts],
        "raw_rounds_pairs_per_s": [r.pairs_per_s for r in raw_rounds],
        "server_rounds_pairs_per_s": _round_rates(result.steady, result.spans["steady"],
                                                  args.items),
        "swap_rounds_pairs_per_s": _round_rates(result.swapping, result.spans["swapping"],
                                                args.items),
        "raw_best_layout": {"threads": best.threads, "runs_at_once": best.workers},
        "served_precision": result.served.get("precision"),
        "server_score_cache": result.served.get("score_cache"),
        "setup": {"clients": args.clients, "items_per_request": args.items,
                  "steady_s": args.steady_s, "swap_s": args.swap_s, "swaps": args.swaps,
                  "server": args.server, "raw_s": args.raw_s, "rounds": args.rounds,
                  "cpus": os.cpu_count()},
    }
    results["goals"] = {
        "ratio_vs_raw >= 0.8": results["ratio_vs_raw"] >= GOALS["ratio_vs_raw"],
        "swap_p99 <= 1.2 x steady_p99": results["swap_p99_ratio"] <= GOALS["swap_p99_ratio"],
        "swap_failed == 0": results["swap_failed"] == 0,
        "cascade_speedup >= 5": results["cascade_speedup"] >= GOALS["cascade_speedup"],
        "cascade_auc_loss <= 0.005": results["cascade_auc_loss"] <= GOALS["cascade_auc_loss"],
    }
    return results


def _round_rates(phase: list[Sample], spans: list[float], items: int) -> list[float]:
    """Server pairs/s per round of a phase (rounds are separated by other phases)."""
    rates, samples = [], sorted(phase, key=lambda s: s.sent)
    start = 0
    for span in spans:
        first = samples[start].sent if start < len(samples) else 0.0
        part = [s for s in samples[start:] if s.sent <= first + span]
        start += len(part)
        rates.append(sum(s.status == 200 for s in part) * items / span)
    return rates


def _yes(ok: bool) -> str:
    return "yes" if ok else "**no**"


def _rows(r: dict[str, Any], best: RawResult, c: CascadeResult) -> list[dict[str, Any]]:
    g = r["goals"]
    return [
        {"measure": f"raw onnxruntime session.run ({r['served_precision'] or '?'}, best of "
                    f"{len(r['raw_layouts'])} layouts: {best.threads} thread × "
                    f"{best.workers} run(s))",
         "pairs/s": r["raw_pairs_per_s"], "p50 ms": "", "p99 ms": "", "goal": "baseline",
         "met": ""},
        {"measure": f"server at saturation ({r['setup']['clients']} clients, "
                    f"{r['setup']['items_per_request']} items/request)",
         "pairs/s": r["server_pairs_per_s"], "p50 ms": r["steady_p50_ms"],
         "p99 ms": r["steady_p99_ms"],
         "goal": f"≥ 0.8 × raw (is {r['ratio_vs_raw']:.2f})",
         "met": _yes(g["ratio_vs_raw >= 0.8"])},
        {"measure": f"server during {r['swaps_done']} swaps ({r['swap_failed']} failed of "
                    f"{r['swap_requests']})",
         "pairs/s": r["swap_pairs_per_s"], "p50 ms": r["swap_p50_ms"], "p99 ms": r["swap_p99_ms"],
         "goal": f"p99 ≤ 1.2 × steady (is {r['swap_p99_ratio']:.2f}), 0 failed",
         "met": _yes(g["swap_p99 <= 1.2 x steady_p99"] and g["swap_failed == 0"])},
        {"measure": f"cross-encoder alone ({c.candidates} candidates/query, "
                    f"{c.queries} validation queries)",
         "pairs/s": r["cross_encoder_only_pairs_per_s"], "p50 ms": "", "p99 ms": "",
         "goal": f"AUC {r['auc_cross_encoder']:.4f}", "met": ""},
        {"measure": f"cascade: two-tower ranks all, cross-encoder rescores top {c.rescore_k}",
         "pairs/s": r["cascade_pairs_per_s"], "p50 ms": "", "p99 ms": "",
         "goal": f"≥ 5× (is {r['cascade_speedup']:.1f}×); AUC loss ≤ 0.005 "
                 f"(is {r['cascade_auc_loss']:.4f})",
         "met": _yes(g["cascade_speedup >= 5"] and g["cascade_auc_loss <= 0.005"])},
    ]


def _command(args: argparse.Namespace) -> str:
    return (f"relstream bench serving --clients {args.clients} --items {args.items} "
            f"--steady-s {args.steady_s:g} --swap-s {args.swap_s:g} --swaps {args.swaps} "
            f"--raw-s {args.raw_s:g} --rounds {args.rounds} --candidates {args.candidates} "
            f"--rescore-k {args.rescore_k} --train-steps {args.train_steps} --layers {args.layers} "
            f"--max-length {args.max_length} --server {args.server}")


def _notes(r: dict[str, Any], recipe: StudentRecipe) -> str:
    tr = r["students"]
    layouts = ", ".join(f"{x['threads']}×{x['runs_at_once']}: {x['pairs_per_s']:.0f}"
                        for x in r["raw_layouts"])
    return (
        f"Students: MiniLM first {recipe.layers} layers, max length {recipe.max_length}, "
        f"{recipe.train_steps} steps × {recipe.batch_size} on the ground-truth grades of a "
        f"simulated world ({recipe.world_items} items, {tr['train_pairs']} train pairs); "
        f"INT8 gate on {tr['validation_pairs']} validation pairs: cross-encoder "
        f"{_gate(tr['cross_encoder_int8_gate'])}, two-tower "
        f"{_gate(tr['two_tower_int8_gate'])}. Served: {r['served_precision']} "
        f"({r['precision_reason']}). Raw layouts (threads × runs at once: pairs/s) {layouts}; "
        f"then {r['setup']['rounds']} rounds of [server steady, raw (best layout), server "
        f"with swaps] (pairs/s per round: raw {_fmt_list(r['raw_rounds_pairs_per_s'])}, "
        f"steady {_fmt_list(r['server_rounds_pairs_per_s'])}, swaps "
        f"{_fmt_list(r['swap_rounds_pairs_per_s'])}); each rate in the table is the total "
        f"over its rounds. Swaps: {r['swaps_done']} done, {r['swap_load_failures']} "
        f"failed loads, median {r['median_swap_s']:.2f} s, at most {r['max_live_sessions']} live "
        f"sessions, {r['responses_naming_a_version_not_live']} responses naming a version "
        f"not live, RSS {100 * r['rss_growth']:+.1f}% after the swaps. Cascade AUC (E vs "
        f"rest, labelled validation pairs): cross-encoder {r['auc_cross_encoder']:.4f}, "
        f"cascade {r['auc_cascade']:.4f}, two-tower alone {r['auc_two_tower']:.4f}; AUC loss "
        f"at other k (same scores): {_fmt_losses(r['cascade_auc_loss_by_k'])}. Load "
        f"average (1 min) during the run: {r['load_average_1min']}. Latency is client-side, "
        "the load generator shares the cores."
    )


def _fmt_losses(losses: dict[int, float]) -> str:
    return ", ".join(f"k={k}: {v:+.4f}" for k, v in losses.items())


def _fmt_list(values: list[float]) -> str:
    return "[" + ", ".join(f"{v:.0f}" for v in values) + "]"


def _gate(gate: dict[str, Any]) -> str:
    return (f"fp32 {gate['fp32_auc']:.4f} / int8 {gate['int8_auc']:.4f} "
            f"({'passed' if gate['passed'] else 'failed'})")
