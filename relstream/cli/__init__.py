"""The `relstream` command line: one subcommand tree fronting every package.

Each package owns a `cli.py` with `register(commands, bench)`, adding its subcommands
and its `relstream bench <name>` programs. Commands parse arguments, build settings and
call one function; heavy imports happen inside that function, so `relstream --help`
stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from relstream.core.errors import RelstreamError

OUR_PACKAGES = frozenset({"relstream", "streams", "feature_store", "teacher_worker",
                          "student_trainer", "serving"})
"""The top-level packages of this project: their errors are user-facing, their warnings
reach the demo's console."""

PACKAGE_CLIS = (
    "relstream.cli.stack",
    "relstream.cli.streams",
    "relstream.cli.simulate",
    "relstream.cli.processor",
    "relstream.cli.features",
    "relstream.cli.teacher",
    "relstream.cli.train",
    "relstream.cli.train_online",  # adds `train online` under student_trainer's `train`
    "relstream.cli.serve",
    "relstream.cli.demo",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="relstream",
        description="Streaming online learning for e-commerce search relevance.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    bench_parser = commands.add_parser(
        "bench", help="benchmarks: each prints a table and saves JSON + Markdown results"
    )
    bench = bench_parser.add_subparsers(dest="bench", metavar="BENCH", required=True)
    for module in PACKAGE_CLIS:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name is None or not module.startswith(exc.name):
                raise
            continue  # the package has no commands yet
        mod.register(commands, bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("kafka", "aiokafka", "urllib3", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # kafka-python 3 warns whenever its I/O loop is starved, which a busy 2-core machine
    # does constantly; it is not actionable.
    logging.getLogger("kafka.net.selector").setLevel(logging.ERROR)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (RelstreamError, Exception) as exc:  # noqa: B014 - one clear line, not a trace
        if args.verbose or not _is_expected(exc):
            raise
        print(f"relstream: error: {exc}", file=sys.stderr)
        return 1


def _is_expected(exc: BaseException) -> bool:
    """Errors from our own packages are user-facing; anything else keeps its traceback."""
    return type(exc).__module__.split(".")[0] in OUR_PACKAGES


if __name__ == "__main__":
    sys.exit(main())
