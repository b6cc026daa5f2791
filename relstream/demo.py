"""The demo: bring the stack up, replay a stream into it and show what arrived."""

from __future__ import annotations

import argparse
from pathlib import Path

from relstream.settings import CommonSettings
from relstream.stack import LocalStack

EXAMPLES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "contract_examples"


def run_demo(args: argparse.Namespace) -> int:
    from streams.replay import replay_files

    settings = CommonSettings()
    stack = LocalStack(settings)
    for st in stack.up():
        print(f"{st.name:<11} {'up' if st.running else 'down':<5} {st.where}  {st.detail}")
    folder = args.examples or EXAMPLES
    stats = replay_files(settings, folder / "catalog.jsonl", folder / "search_log.jsonl",
                         progress=True)
    print(f"replayed {stats.produced} events from {folder}: {dict(stats.by_type)}; "
          f"dead-lettered {stats.dead_lettered}")
    return 0
