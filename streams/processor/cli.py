"""`relstream streams run` (the Faust worker) and `relstream bench streams`."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(commands: argparse._SubParsersAction, bench: argparse._SubParsersAction) -> None:
    streams = commands.add_parser("streams", help="the stream processor (Faust)")
    sub = streams.add_subparsers(dest="streams_command", metavar="ACTION", required=True)
    run = sub.add_parser("run", help="aggregate the search log into Feast and sample label "
                         "requests; runs until SIGTERM")
    run.add_argument("--loglevel", default="WARNING", help="Faust worker log level")
    run.add_argument("--backfill", action="store_true",
                     help="label budget in event time (RELSTREAM_LABEL_CLOCK=event): for "
                     "replaying history, which then gets as many label requests as the "
                     "same traffic live; restart without it for live traffic")
    run.set_defaults(func=_run)

    b = bench.add_parser("streams", help="Faust aggregation events/s beside raw aiokafka "
                         "consume/s; Feast online read latency (SQLite, Redis)")
    b.add_argument("--events", type=int, default=2_000, help="search-log events to process")
    b.add_argument("--reads", type=int, default=500, help="online reads per configuration")
    b.add_argument("--out", type=Path, default=Path("bench-results"))
    b.set_defaults(func=_bench)


def _run(args: argparse.Namespace) -> int:
    from streams.processor.app import run_worker
    from streams.processor.settings import ProcessorSettings

    settings = ProcessorSettings()
    if args.backfill:
        settings = settings.model_copy(update={"label_clock": "event"})
    run_worker(settings, loglevel=args.loglevel)
    return 0


def _bench(args: argparse.Namespace) -> int:
    from streams.processor.bench import run_bench
    from streams.processor.settings import ProcessorSettings

    return run_bench(ProcessorSettings(), events=args.events, reads=args.reads, out=args.out)
