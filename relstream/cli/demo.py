"""`relstream demo`: the whole loop on the embedded local stack, start to A/B report."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from relstream.cli import OUR_PACKAGES


def quiet_console(log_file: Path) -> None:
    """The console shows the demo's own lines and our packages' warnings; everything logged
    (libraries included: kafka-python dumps binary group metadata at WARNING) goes to
    `log_file`. The children log to their own files under the same folder."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    to_file = logging.FileHandler(log_file)
    to_file.setFormatter(fmt)
    console = logging.StreamHandler()
    console.setFormatter(fmt)
    console.addFilter(lambda record: record.levelno >= logging.WARNING
                      and record.name.split(".")[0] in OUR_PACKAGES)
    root.addHandler(to_file)
    root.addHandler(console)


def register(commands: argparse._SubParsersAction, bench: argparse._SubParsersAction) -> None:
    demo = commands.add_parser(
        "demo", help="run the whole system on the embedded local stack",
        description="Simulate a world where a new brand launches mid-stream, run the stream "
        "processor, a teacher, the continuous trainer and the server as child processes, "
        "replay the stream while simulated users search and click, and end with the A/B "
        "report (frozen vs continuously trained student) and plots. --quick: ~16-22 min per "
        "world on 2 cores; the full plan takes longer (not re-timed, docs/demo.md).")
    mode = demo.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true",
                      help="a 1-day world of 1,500 items, a 300 s experiment (~16-22 min)")
    mode.add_argument("--tiny", action="store_true",
                      help="lexical teacher, random-weight student, tiny world (tests, ~2 min)")
    demo.add_argument("--teacher", choices=("llm", "lexical"), default=None,
                      help="llm (default): ELLM-rele on a vLLM server (the demo starts one "
                      "unless RELSTREAM_TEACHER_OPENAI_URL answers); lexical: the word-overlap "
                      "baseline teacher, no LLM")
    demo.add_argument("--out", type=Path, default=Path("demo-out"),
                      help="folder for the world, logs, registry, report and plots "
                      "(default demo-out)")
    demo.add_argument("--seed", type=int, default=None, help="world seed (default 7)")
    demo.add_argument("--seeds", default=None, metavar="LIST", help="run once per world seed "
                      "(1-5 or 3,7,9) under OUT/seed-N with one shared vLLM server, and judge "
                      "them by the pre-registered rule (docs/demo.md): writes "
                      "docs/results/demo-seeds.json")
    demo.add_argument("--results", type=Path, default=Path("docs/results"),
                      help="where --seeds writes demo-seeds.json/.md")
    demo.add_argument("--speedup", type=float, default=None, metavar="X",
                      help="scale both replay phases' wall time by 1/X (e.g. 2 = twice as fast)")
    demo.add_argument("--bootstrap-labels", type=int, default=None, metavar="N",
                      help="train version 1 offline on N teacher labels of the pre-launch "
                      "history before the stream starts (0: off; default 1,500)")
    demo.add_argument("--knockoffs", type=float, default=None, metavar="PER_ITEM",
                      help="other sellers' listings titled after the new brand, per launched "
                      "item (the drift a good version 1 loses on; default 2, tiny 0)")
    demo.add_argument("--new-query-hours", type=int, default=None, metavar="H",
                      help="the label policy's new-query threshold: pairs of a query first "
                      "searched less than H hours ago get priority 1 (0: off, as before "
                      "rule v3; default 6)")
    demo.add_argument("--student-lr", type=float, default=None, metavar="LR",
                      help="encoder learning rate of the continuous trainer (default 1e-4; "
                      "tiny 3e-4)")
    demo.add_argument("--student-ema", type=float, default=None, metavar="DECAY",
                      help="the continuous trainer scores, gates and exports a moving "
                      "average of its weights with this decay (0: off, the default)")
    demo.add_argument("--student-rehearsal", type=int, default=None, metavar="N",
                      help="while no label waits, the continuous trainer rehearses the "
                      "newest N labels (with replayed ones), up to 4 steps per new-label "
                      "step (0: off)")
    demo.set_defaults(func=run)
    drift = bench.add_parser(
        "drift", help="does the demo's launch hurt a good model trained before it? (per world)",
        description="Per world of the demo plan: NDCG@10 of the post-launch result lists, on "
        "the new brand's queries and on the others, as the retriever showed them (baseline), "
        "by TF-IDF, and by an oracle version 1 (the plan's student trained on the bootstrap's "
        "pre-launch pairs with the simulator's ground truth; an analysis model, never the "
        "product's). ~3 min per world with the oracle on 2 cores (relstream.tools.demo."
        "drift_check).")
    drift.add_argument("--seeds", default="11-15", metavar="LIST",
                       help="world seeds, 1-5 or 3,7,9 (default 11-15)")
    drift.add_argument("--plan", choices=("quick", "full", "tiny"), default="quick")
    drift.add_argument("--knockoffs", type=float, default=None, metavar="PER_ITEM",
                       help="knock-offs per launched item (default: the plan's)")
    drift.add_argument("--no-oracle", action="store_true",
                       help="only the retriever and TF-IDF (seconds per world)")
    drift.add_argument("--worlds", type=Path, default=None, metavar="DIR",
                       help="where the worlds are generated (default <cache_dir>/drift-worlds)")
    drift.add_argument("--out", type=Path, default=Path("docs/results"))
    drift.add_argument("--name", default="bench-drift", help="results file name, no suffix")
    drift.set_defaults(func=run_drift)


def run_drift(args: argparse.Namespace) -> int:
    import sys
    from dataclasses import replace

    from relstream.core.reporting import save_results
    from relstream.core.settings import CommonSettings
    from relstream.tools.demo.drift_check import run as check
    from relstream.tools.demo.plan import PLANS
    from relstream.tools.demo.seeds import parse_seeds

    plan = PLANS[args.plan]
    if args.knockoffs is not None:
        plan = replace(plan, knockoffs=args.knockoffs)
    worlds = args.worlds or CommonSettings().cache_dir / "drift-worlds"
    rows = check(plan, parse_seeds(args.seeds), worlds, oracle=not args.no_oracle)
    save_results(args.name, rows, args.out, command="relstream " + " ".join(sys.argv[1:]),
                 notes="NDCG@10 (ESCI gains 1/0.1/0.01/0) over the world's own post-launch "
                 "searches, each list of 10 reordered by the ranker; unlabelled pairs count "
                 "as Irrelevant. retriever: the order shown (baseline); tfidf: cosine of "
                 "query and item text; oracle: the plan's student trained on the bootstrap's "
                 "pre-launch pairs labelled with ground truth (hard loss, one "
                 "initialisation; an analysis model). launch_cost = oracle_other - "
                 "oracle_brand.", extra={"plan": plan.mode, "knockoffs": plan.knockoffs})
    return 0


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from relstream.core.settings import CommonSettings
    from relstream.tools.demo.plan import PLANS
    from relstream.tools.demo.run import run_demo

    plan = PLANS["tiny" if args.tiny else "quick" if args.quick else "full"]
    if args.seed is not None:
        plan = replace(plan, seed=args.seed)
    if args.teacher is not None:
        plan = replace(plan, teacher=args.teacher)
    if args.bootstrap_labels is not None:
        plan = replace(plan, bootstrap_labels=args.bootstrap_labels)
    if args.knockoffs is not None:
        plan = replace(plan, knockoffs=args.knockoffs)
    if args.new_query_hours is not None:
        plan = replace(plan, new_query_hours=args.new_query_hours)
    if args.student_lr is not None:
        plan = replace(plan, student_lr=args.student_lr)
    if args.student_ema is not None:
        plan = replace(plan, student_ema_decay=args.student_ema)
    if args.student_rehearsal is not None:
        plan = replace(plan, student_rehearsal_recent=args.student_rehearsal)
    if args.speedup:
        plan = replace(plan, pre_seconds=plan.pre_seconds / args.speedup,
                       post_seconds=plan.post_seconds / args.speedup)
    quiet_console(args.out / "logs" / "demo.log")
    if args.seeds:
        import sys

        from relstream.tools.demo.seeds import parse_seeds, run_seeds

        if args.seed is not None:
            raise SystemExit("give --seed or --seeds, not both")
        return run_seeds(CommonSettings(), plan, args.out, parse_seeds(args.seeds),
                         args.results, command="relstream " + " ".join(sys.argv[1:]))
    from relstream.cli import build_parser
    from relstream.tools.demo.children import available_commands

    result = run_demo(CommonSettings(), plan, args.out, available_commands(build_parser()))
    failed = bool(result.leftovers) or result.report_dir is None
    print(f"demo finished in {result.seconds / 60:.1f} min"
          + (f"; skipped: {', '.join(result.skipped)}" if result.skipped else ""))
    return 1 if failed else 0
