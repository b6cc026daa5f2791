"""`relstream streams run` (the stream processor, either engine), `relstream streams lag`
and `relstream bench streams`."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(commands: argparse._SubParsersAction, bench: argparse._SubParsersAction) -> None:
    streams = commands.add_parser("streams", help="the stream processor")
    sub = streams.add_subparsers(dest="streams_command", metavar="ACTION", required=True)
    run = sub.add_parser("run", help="aggregate the search log into Feast and sample label "
                         "requests; runs until SIGTERM")
    run.add_argument("--loglevel", default="WARNING", help="worker log level")
    run.add_argument("--backfill", action="store_true",
                     help="label budget in event time (RELSTREAM_LABEL_CLOCK=event): for "
                     "replaying history, which then gets as many label requests as the "
                     "same traffic live; restart without it for live traffic")
    run.add_argument("--engine", choices=("batch", "faust"),
                     help="'batch' (getmany batches, partition snapshots; see "
                     "docs/features.md) or 'faust' (one message at a time, changelog-backed "
                     "tables); default RELSTREAM_STREAMS_ENGINE, else batch")
    run.set_defaults(func=_run)

    lag = sub.add_parser("lag", help="how far the processor (or --group) is behind the "
                         "search log; --wait blocks until it has caught up")
    lag.add_argument("--group", help="consumer group (default: the processor's: its app id plus "
                     "'-batch', or the app id alone with RELSTREAM_STREAMS_ENGINE=faust)")
    lag.add_argument("--topic", default="search-log", help="logical topic (search-log)")
    lag.add_argument("--wait", action="store_true",
                     help="poll until every record is committed and the topic stopped growing")
    lag.add_argument("--poll", type=float, default=5.0, help="seconds between readings")
    lag.add_argument("--timeout", type=float, default=0.0,
                     help="with --wait: give up (exit 1) after this many seconds (0: never)")
    lag.set_defaults(func=_lag)

    b = bench.add_parser("streams", help="stream-processor events/s (batch engine, Faust) "
                         "beside raw aiokafka consume/s; Feast online read latency")
    b.add_argument("--events", type=int, default=2_000, help="search-log events to process")
    b.add_argument("--reads", type=int, default=500, help="online reads per configuration")
    b.add_argument("--workers", type=int, default=2,
                   help="also run this many workers in one group (1: skip that row)")
    b.add_argument("--engines", default="batch,faust",
                   help="comma-separated engines to measure (the Faust rows take minutes "
                   "at 200,000 events); raw consume is always measured")
    b.add_argument("--zipf-queries", type=int, default=20_000,
                   help="query pool of the second (Zipf) workload the batch engine runs")
    b.add_argument("--repeats", type=int, default=1,
                   help="runs of each batch-engine configuration (rows give the median)")
    b.add_argument("--out", type=Path, default=Path("bench-results"))
    b.set_defaults(func=_bench)

    w = bench.add_parser("feast-write", help="rows/s into Feast's online store: push_rows "
                         "beside Feast's own store.push, same run (Redis and SQLite)")
    w.add_argument("--rows", type=int, default=20_000, help="pair rows per write")
    w.add_argument("--repeats", type=int, default=5, help="writes per path and key kind")
    w.add_argument("--no-redis", action="store_true", help="SQLite only")
    w.add_argument("--out", type=Path, default=Path("bench-results"))
    w.set_defaults(func=_bench_feast_write)


def _bench_feast_write(args: argparse.Namespace) -> int:
    from relstream.tools.bench.feast_write import run_bench

    if args.rows < 1 or args.repeats < 1:
        raise SystemExit("--rows and --repeats must be at least 1")
    return run_bench(args.rows, args.repeats, args.out, redis=not args.no_redis)


def _run(args: argparse.Namespace) -> int:
    from streams.processor.app import run_worker
    from streams.processor.settings import ProcessorSettings

    settings = ProcessorSettings()
    if args.backfill:
        settings = settings.model_copy(update={"label_clock": "event"})
    if args.engine:
        settings = settings.model_copy(update={"streams_engine": args.engine})
    if settings.streams_engine == "batch":
        import logging

        from streams.batch.engine import run_batch_worker

        logging.getLogger().setLevel(args.loglevel.upper())
        run_batch_worker(settings)
        return 0
    run_worker(settings, loglevel=args.loglevel)
    return 0


def _lag(args: argparse.Namespace) -> int:
    from streams.errors import StreamsError
    from streams.lag import group_lag, wait_caught_up
    from streams.processor.settings import ProcessorSettings

    settings = ProcessorSettings()
    group = args.group or settings.app_id()
    if not args.group and settings.streams_engine == "batch":
        group = f"{settings.app_id()}-batch"  # `streams.batch.engine.batch_group`

    try:
        if args.wait:
            lag = wait_caught_up(lambda: group_lag(settings, group, args.topic),
                                 poll_s=args.poll, timeout_s=args.timeout)
            print(f"caught up: {lag.committed:,} records committed by {group}")
        else:
            lag = group_lag(settings, group, args.topic)
            print(f"{group} on {lag.topic}: {lag.committed:,}/{lag.total:,} committed, "
                  f"{lag.behind:,} behind")
    except StreamsError as exc:
        print(f"error: {exc}")
        return 1
    return 0


def _bench(args: argparse.Namespace) -> int:
    from relstream.tools.bench.streams import run_bench
    from streams.processor.settings import ProcessorSettings

    engines = tuple(e.strip() for e in args.engines.split(",") if e.strip())
    unknown = set(engines) - {"batch", "faust"}
    if unknown or not engines:
        print(f"error: --engines takes batch and/or faust, got {args.engines!r}")
        return 2
    return run_bench(ProcessorSettings(), events=args.events, reads=args.reads, out=args.out,
                     workers=args.workers, engines=engines, zipf_queries=args.zipf_queries,
                     repeats=max(1, args.repeats))
