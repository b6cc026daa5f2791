"""`relstream train online` (the continuous trainer), `relstream train online-plot` and
`relstream bench freshness`.

Settings come from `RELSTREAM_*` variables (see `student_trainer.online.settings`); the
flags here only override the most used ones. torch and friends load inside the commands.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def _train_subparsers(commands: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """The `train` command's actions: `student_trainer.cli` creates `train`; reuse it."""
    train = commands.choices.get("train")
    if train is None:
        train = commands.add_parser("train", help="train, evaluate and export the students")
        return train.add_subparsers(dest="train_command", metavar="ACTION", required=True)
    for action in train._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return train.add_subparsers(dest="train_command", metavar="ACTION", required=True)


def register(commands: argparse._SubParsersAction, bench: argparse._SubParsersAction) -> None:
    sub = _train_subparsers(commands)
    p = sub.add_parser(
        "online", help="train a student continuously from the teacher-labels topic",
        description="Consume teacher labels (joined with the catalog topic), score each one "
        "first (prequential), train in small replayed steps, and publish gated ONNX "
        "versions to the registry with a model-updates event. Resumes from its checkpoint.")
    p.add_argument("--kind", choices=["cross_encoder", "two_tower"],
                   help="student kind (RELSTREAM_ONLINE_KIND)")
    p.add_argument("--tiny", action="store_true", help="tiny random encoder (smoke tests)")
    p.add_argument("--world", type=Path, help="simulated world: prequential points also get "
                   "ground truth (RELSTREAM_ONLINE_WORLD_DIR); never used for training")
    p.add_argument("--gate-every", type=int, help="labels between candidates")
    p.add_argument("--max-labels", type=int, help="stop after this many labels in this run")
    p.add_argument("--idle-exit", type=float, metavar="S",
                   help="stop after S seconds without a record (default: run until stopped)")
    p.set_defaults(func=run_online_cmd)


def _settings(args: argparse.Namespace) -> Any:
    from student_trainer.online.settings import OnlineSettings

    overrides: dict[str, Any] = {}
    if args.kind:
        overrides["online_kind"] = args.kind
    if args.tiny:
        overrides["online_encoder"] = "tiny"
    if args.world:
        overrides["online_world_dir"] = args.world
    if args.gate_every:
        overrides["online_gate_every_labels"] = args.gate_every
    return OnlineSettings(**overrides)


def run_online_cmd(args: argparse.Namespace) -> int:
    from student_trainer.online.loop import run_online

    stats = run_online(_settings(args), idle_exit_s=args.idle_exit, max_labels=args.max_labels)
    print(json.dumps({"started_from": stats.started_from, "labels": stats.labels,
                      "gates": stats.gates, "checkpoints": stats.checkpoints,
                      "counters": stats.counters}, indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m student_trainer.online.cli online ...`: the same command without the
    `relstream` front, for deployments (and tests) that run only this worker."""
    import logging
    import sys

    parser = argparse.ArgumentParser(prog="relstream")
    commands = parser.add_subparsers(dest="command", required=True)
    unused = argparse.ArgumentParser().add_subparsers()  # benches are not offered here
    register(commands, unused)
    args = parser.parse_args(["train", *(sys.argv[1:] if argv is None else argv)])
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
