"""`relstream demo`: start the local stack and drive the system with a replayed stream."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(commands: argparse._SubParsersAction, bench: argparse._SubParsersAction) -> None:
    demo = commands.add_parser("demo", help="run the whole system on the embedded local stack")
    demo.add_argument("--out", type=Path, default=Path("demo-out"),
                      help="folder for the world, logs, reports and plots")
    demo.add_argument("--examples", type=Path, default=None,
                      help="replay these contract files instead of a simulated world")
    demo.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from relstream.demo import run_demo

    return run_demo(args)
