"""`relstream bench serving`: latency and throughput, steady vs during hot swaps, one run.

Publishes two versions of a model to a fresh registry (tiny random-weight transformer
students exported by `student_trainer`, or the toy ONNX graphs), serves them under
uvicorn on a loopback port (a child `relstream serve` by default, so the load generator
does not share the server's GIL) with a synthetic catalog and ClickHouse metrics on, then
runs the swap drill: a steady phase (the baseline) and a phase with N swaps back and forth.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
from pathlib import Path
from typing import Any

from relstream.bench import save_results
from serving.item_lookup import MemoryItemLookup
from serving.settings import ServingSettings
from serving.swap_drill import body_maker, run_swap_drill, run_swap_drill_subprocess
from streams.schemas import CatalogItem

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


def _publish(root: Path, source: str, kind: str) -> tuple[str, str]:
    if source == "toy":
        from serving.toy_models import publish_toy_model, vocabulary

        vocab = vocabulary([" ".join(_TYPES + _BRANDS + _COLORS)])
        return (publish_toy_model(root, kind, kind, seed=1, vocab=vocab),
                publish_toy_model(root, kind, kind, seed=2, vocab=vocab))
    from student_trainer.export import export_tiny_model
    from student_trainer.registry import publish

    versions = []
    for seed in (1, 2):
        with tempfile.TemporaryDirectory() as tmp:
            export_tiny_model(Path(tmp) / "stage", kind, seed)
            versions.append(publish(root, Path(tmp) / "stage", kind))
    return versions[0], versions[1]


def run_bench(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        root = Path(tmp) / "registry"
        versions = _publish(root, args.model_source, args.kind)
        items, queries = synthetic_catalog(5000)
        settings = ServingSettings(
            state_dir=Path(tmp) / "state", clickhouse_url="", registry_root=root,
            model_name=args.kind, admin_token="bench", poll_interval_s=0,
            max_items=max(200, args.items),
        )
        make_body = body_maker(queries, [i.item_id for i in items], args.items)
        drill = {"model": args.kind, "versions": versions, "clients": args.clients,
                 "steady_s": args.steady_s, "swap_s": args.swap_s, "swaps": args.swaps}
        if args.server == "process":
            catalog = Path(tmp) / "catalog.jsonl"
            catalog.write_text("".join(i.model_dump_json() + "\n" for i in items))
            result = run_swap_drill_subprocess(settings, catalog, make_body, **drill)
        else:
            result = run_swap_drill(settings, MemoryItemLookup(items), make_body, **drill)
    steady, swapping = result.summary("steady"), result.summary("swapping")
    rows: list[dict[str, Any]] = [steady, swapping, {
        "phase": "ratio swapping/steady", "requests": "", "failed": "",
        "p50_ms": swapping["p50_ms"] / steady["p50_ms"],
        "p99_ms": swapping["p99_ms"] / steady["p99_ms"],
        "throughput_rps": swapping["throughput_rps"] / steady["throughput_rps"],
    }]
    notes = (
        f"Server in a {'child process' if args.server == 'process' else 'thread of the bench'}"
        f", {args.clients} client threads, {args.items} items/request, model {args.kind} "
        f"({args.model_source}), versions {versions[0]}<->{versions[1]}. "
        f"Swaps done {result.swaps_done}/{args.swaps}, failed loads {result.swap_failures}, "
        f"median swap (verify+load+warm-up) {1000 * statistics.median(result.swap_seconds):.0f}"
        f" ms, max live sessions {result.max_live_sessions}, responses naming a version "
        f"not live at the time {len(result.not_live())}, RSS after first swap "
        f"{result.rss_after_first_swap / 2**20:.0f} MiB -> after swaps "
        f"{result.rss_after_swaps / 2**20:.0f} MiB ({100 * result.rss_growth:+.1f}%). "
        "Latency is client-side (loopback HTTP, JSON, lookup, tokenisation, onnxruntime), "
        "with the load generator on the same cores."
    )
    save_results(
        "serving", rows, args.out,
        command=(f"relstream bench serving --clients {args.clients} --steady-s {args.steady_s}"
                 f" --swap-s {args.swap_s} --swaps {args.swaps} --items {args.items} "
                 f"--model-source {args.model_source} --kind {args.kind} --server {args.server}"),
        notes=notes,
        extra={"swap_seconds": result.swap_seconds, "rss_after_first_swap":
               result.rss_after_first_swap, "rss_after_swaps": result.rss_after_swaps,
               "max_live_sessions": result.max_live_sessions},
    )
    return 0
