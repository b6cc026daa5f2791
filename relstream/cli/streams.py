"""`relstream replay`, `relstream record` and `relstream bench replay`."""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path

from relstream.core.settings import CommonSettings


def register(commands: argparse._SubParsersAction, bench: argparse._SubParsersAction) -> None:
    rp = commands.add_parser("replay", help="produce contract files to Kafka in event-time order")
    rp.add_argument("--catalog", type=Path, help="catalog.jsonl[.gz]")
    rp.add_argument("--search-log", type=Path, help="search_log.jsonl[.gz]")
    rp.add_argument("--dir", type=Path, help="a folder holding catalog.jsonl and search_log.jsonl")
    pace = rp.add_mutually_exclusive_group()
    pace.add_argument("--speed", type=float, default=None,
                      help="event time runs this many times faster than wall time (1 = real time)")
    pace.add_argument("--max", action="store_true", help="as fast as possible (the default)")
    rp.add_argument("--no-progress", action="store_true")
    rp.set_defaults(func=run_replay)

    rec = commands.add_parser("record", help="write a topic's time range back to a contract file")
    rec.add_argument("--topic", default="search-log", choices=["search-log", "catalog"])
    rec.add_argument("--since", type=_parse_ts, help="RFC 3339 start (inclusive)")
    rec.add_argument("--until", type=_parse_ts, help="RFC 3339 end (exclusive)")
    rec.add_argument("--out", type=Path, required=True)
    rec.set_defaults(func=run_record)

    b = bench.add_parser("replay", help="replay events/s beside raw kafka-python produce/s")
    b.add_argument("--events", type=int, default=100_000)
    b.add_argument("--repeats", type=int, default=3)
    b.add_argument("--out", type=Path, default=Path("bench-results"))
    b.set_defaults(func=run_bench)


def _parse_ts(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a zone, e.g. 2026-03-01T12:00:00Z")
    return value


def run_replay(args: argparse.Namespace) -> int:
    from relstream.core.topics import ensure_topics
    from streams.replay import replay_files

    catalog, log = args.catalog, args.search_log
    if args.dir:
        catalog = catalog or _existing(args.dir, "catalog.jsonl")
        log = log or _existing(args.dir, "search_log.jsonl")
    settings = CommonSettings()
    ensure_topics(settings.kafka_client_config(), settings.topic_prefix)
    stats = replay_files(settings, catalog, log, speed=args.speed,
                         progress=not args.no_progress)
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(stats.by_type.items()))
    print(f"replayed {stats.produced} events ({kinds}) in {stats.seconds:.1f} s "
          f"({stats.events_per_s:,.0f}/s); dead-lettered {stats.dead_lettered}")
    for reason, count in stats.bad_reasons.most_common():
        print(f"  {count:>6}  {reason}")
    return 0


def _existing(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.exists():
            return candidate
    return None


def run_record(args: argparse.Namespace) -> int:
    from streams.record import record_topic

    n = record_topic(CommonSettings(), args.topic, args.out, args.since, args.until,
                     progress=True)
    print(f"recorded {n} events to {args.out}")
    return 0


def run_bench(args: argparse.Namespace) -> int:
    from relstream.tools.bench.replay import bench_replay

    bench_replay(CommonSettings(), args.events, args.repeats, args.out)
    return 0
