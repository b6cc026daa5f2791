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
    """The `train` command's actions: `relstream.cli.train` creates `train`; reuse it."""
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

    c = sub.add_parser(
        "online-plot", help="PNG: prequential AUC of a continuously trained student vs a "
        "frozen one on a simulated world (e.g. the new-brand scenario)",
        description="In-process, no Kafka: the rule-based stand-in teacher labels every shown "
        "pair of the world in stream order; a student trains continuously, a copy frozen at "
        "the world's change only scores. Writes the PNG and a JSON of the numbers.")
    c.add_argument("--world", type=Path, required=True, help="world from `relstream simulate`")
    c.add_argument("--out", type=Path, default=Path("docs/img/online-new-brand.png"))
    c.add_argument("--kind", choices=["cross_encoder", "two_tower"], default="cross_encoder")
    c.add_argument("--tiny", action="store_true", help="tiny random encoder instead of MiniLM")
    c.add_argument("--layers", type=int, default=2, help="MiniLM layers kept (default 2)")
    c.add_argument("--limit", type=int, help="at most this many labelled pairs")
    c.add_argument("--buckets", type=int, default=8, help="points per curve")
    c.add_argument("--lr", type=float, help="encoder learning rate (default 5e-5; 1e-3 tiny)")
    c.add_argument("--head-lr", type=float, help="heads' learning rate (default 1e-3; 3e-3 "
                   "tiny)")
    c.add_argument("--ema-decay", type=float, default=0.0,
                   help="score and export an EMA of the weights (0: off)")
    c.add_argument("--replay-ratio", type=float, default=2.0,
                   help="replayed labels per new label (default 2)")
    c.add_argument("--loss", choices=["hard", "score", "cot", "full"], default="score")
    c.set_defaults(func=run_plot_cmd)

    b = bench.add_parser(
        "freshness", help="search event in Kafka -> model trained on its label serving, "
        "by stage (feature, label request, teacher, training, export, publish, swap)",
        description="Chains the real components in one process on the broker of the "
        "settings (start it with `relstream stack up`), on fresh topics under a unique "
        "prefix; baseline: one bare Kafka hop measured in the same trials.")
    b.add_argument("--trials", type=int, default=5)
    b.add_argument("--kind", choices=["cross_encoder", "two_tower"], default="cross_encoder")
    b.add_argument("--tiny", action="store_true", help="tiny random encoder instead of MiniLM")
    b.add_argument("--layers", type=int, default=2, help="MiniLM layers kept (default 2)")
    b.add_argument("--out", type=Path, default=Path("bench-results"))
    b.set_defaults(func=run_freshness_cmd)


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


def run_plot_cmd(args: argparse.Namespace) -> int:
    import tempfile

    from relstream.tools.compare_versions import compare, plot
    from student_trainer.online.prequential import GroundTruth
    from student_trainer.online.settings import OnlineSettings

    with tempfile.TemporaryDirectory() as tmp:
        settings = OnlineSettings(
            state_dir=Path(tmp), online_kind=args.kind,
            online_encoder="tiny" if args.tiny else "minilm", online_layers=args.layers,
            online_lr=args.lr or (1e-3 if args.tiny else 5e-5),
            online_head_lr=args.head_lr or (3e-3 if args.tiny else 1e-3),
            online_loss=args.loss, online_init="base", online_replay_ratio=args.replay_ratio,
            online_ema_decay=args.ema_decay,
            online_max_length=32 if args.tiny else 64)
        points = compare(args.world, settings, limit=args.limit)
    truth = GroundTruth.from_world(args.world)
    numbers = plot(points, args.out, change_at=truth.change_at, buckets=args.buckets,
                   title=f"{args.kind} ({'tiny' if args.tiny else f'MiniLM-{args.layers}L'}), "
                   f"{args.world.name}")
    for key, value in numbers.items():
        if key.startswith("after launch"):
            print(f"{key:40s} AUC vs truth {value['truth_auc']:.3f}  "
                  f"vs teacher {value['auc']:.3f}  n={int(value['n'])}")
    for row in numbers["brand_fixed"]:
        print(f"new-brand fixed set at {row['stream_ts']}: continuous {row['continuous']:.3f}"
              f"  frozen {row['frozen']:.3f}")
    print(f"wrote {args.out} and {args.out.with_suffix('.json')}")
    return 0


def run_freshness_cmd(args: argparse.Namespace) -> int:
    import sys
    import tempfile
    import uuid

    from relstream.core.reporting import save_results
    from relstream.core.topics import ensure_topics
    from relstream.tools.bench.freshness import run_freshness
    from student_trainer.online.settings import OnlineSettings

    base = OnlineSettings()
    state = Path(tempfile.mkdtemp(prefix="relstream-fresh-state-"))
    settings = base.model_copy(update={
        "topic_prefix": f"{base.topic_prefix}bench-fresh-{uuid.uuid4().hex[:8]}-",
        "state_dir": state, "registry": None, "online_kind": args.kind,
        "online_encoder": "tiny" if args.tiny else "minilm", "online_layers": args.layers,
        "online_min_validation": 1, "online_holdout_every": 2, "online_init": "base"})
    ensure_topics(settings.kafka_client_config(), settings.topic_prefix)
    rows = run_freshness(settings, trials=args.trials)
    model = "tiny" if args.tiny else f"MiniLM-{args.layers}L"
    save_results("freshness", rows, args.out, command="relstream " + " ".join(sys.argv[1:]),
                 notes=f"{args.kind} ({model}), {args.trials} trials, stand-in teacher, "
                 "stages chained in one process; batching waits and the gate cadence are "
                 "not included (see relstream/tools/bench/freshness.py).",
                 extra={"state_dir": str(state)})
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m relstream.cli.train_online online ...`: the same command without the
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
