"""`relstream simulate`: write a simulated world, or print the stats of one (`--stats DIR`)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from relstream.tools.simulator.config import SCENARIOS


def register(commands: argparse._SubParsersAction, bench: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "simulate", help="generate a search-log world (catalog, search log, labels, ...)",
        description="Generate a seeded e-commerce world in the contract formats, or with "
        "--stats DIR print the stats tables and the TF-IDF baseline of an existing one.")
    p.add_argument("--out", type=Path, help="folder to write the world into")
    p.add_argument("--stats", type=Path, metavar="DIR",
                   help="print the stats of the world in DIR instead of generating one")
    p.add_argument("--no-baseline", action="store_true",
                   help="with --stats: skip the TF-IDF baseline")
    p.add_argument("--family", default="0", metavar="N|NAME",
                   help="shop family: 0 general (default), 1 grocery, 2 pets_garden, "
                   "3 auto_tools, 4 office_books, 5 baby_health")
    p.add_argument("--family-overlap", action="store_true",
                   help="print the title-vocabulary Jaccard overlap between every pair of "
                   "shop families (catalogs of --items items) and exit")
    p.add_argument("--seed", type=int, default=0, help="world seed (default 0)")
    p.add_argument("--items", type=int, default=None,
                   help="catalog size (default 20000; 2000 with --family-overlap)")
    p.add_argument("--days", type=float, default=3.0, help="simulated days (default 3)")
    p.add_argument("--searches", type=int, default=None,
                   help="number of searches (default 12000 per day)")
    p.add_argument("--scenario", choices=SCENARIOS, default="steady",
                   help="drift scenario (default steady)")
    p.add_argument("--change-at", type=float, default=0.5, metavar="FRACTION",
                   help="where in the time range the scenario's change happens (default 0.5)")
    p.add_argument("--knockoffs", type=float, default=0.0, metavar="PER_ITEM",
                   help="new-brand: other sellers' listings titled after the launched brand, "
                        "per launched item (default 0)")
    p.add_argument("--start", default="2026-03-02T00:00:00Z", help="first timestamp (RFC 3339)")
    p.add_argument("--users", type=int, default=None, help="distinct users (default searches/5)")
    p.add_argument("--cot-share", type=float, default=0.1,
                   help="share of train/validation pairs with a CoT annotation (default 0.1)")
    p.add_argument("--results", type=int, default=10, help="results per search (default 10)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from relstream.tools.simulator.errors import SimulatorError

    if args.stats is not None:
        from relstream.tools.simulator.stats import format_stats, world_stats

        print(format_stats(world_stats(args.stats, baseline=not args.no_baseline)))
        return 0
    if args.family_overlap:
        from relstream.tools.simulator.vocab import format_overlaps, vocab_overlaps

        print(format_overlaps(vocab_overlaps(seed=args.seed, items=args.items or 2000)))
        return 0
    if args.out is None:
        raise SimulatorError("give --out DIR to generate a world, or --stats DIR to describe one")
    from relstream.tools.simulator.config import SimConfig
    from relstream.tools.simulator.families import get_family
    from relstream.tools.simulator.world import simulate

    family = get_family(int(args.family) if args.family.isdigit() else args.family)

    config = SimConfig(
        out=args.out, seed=args.seed, items=20_000 if args.items is None else args.items,
        days=args.days, searches=args.searches,
        scenario=args.scenario, change_at_frac=args.change_at, knockoffs=args.knockoffs,
        start=args.start,
        users=args.users, cot_share=args.cot_share, results_per_search=args.results,
        family=family.id)
    began = time.perf_counter()
    out = simulate(config, progress=sys.stderr.isatty())
    print(f"wrote world (seed {config.seed}, family {family.id} {family.name}, scenario "
          f"{config.scenario}) to {out} "
          f"in {time.perf_counter() - began:.1f} s")
    return 0
