"""`relstream teacher build|serve|convert|run|sft|merge|eval|lofo|calibrate|label|annotate`,
`bench teacher`.

Thin entry points: parse arguments, build `TeacherSettings`, call one function. Heavy
imports (torch, transformers, peft, kafka) happen inside the command functions.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def _settings(args: argparse.Namespace) -> Any:
    from teacher_worker.settings import TeacherSettings

    overrides: dict[str, Any] = {}
    if getattr(args, "model_dir", None):
        overrides["teacher_model_dir"] = args.model_dir
    if getattr(args, "backend", None):
        overrides["teacher_backend"] = args.backend
    if getattr(args, "device", None) and args.device != "auto":
        overrides["teacher_device"] = args.device
    return TeacherSettings(**overrides)


BACKENDS = ["openai", "transformers", "vllm", "lexical"]
WORLD_HELP = ("world dir: a simulated one or a shop's contract files (catalog.jsonl, "
              "search_log.jsonl, labels.jsonl); without splits.json the splits are derived "
              "by query hash (70/10/20, see relstream.core.shop_files)")


def _batch(args: argparse.Namespace, settings: Any) -> int:
    """Pairs per backend call: an explicit --batch, else enough to fill vLLM's batch."""
    if getattr(args, "batch", None):
        return int(args.batch)
    return 256 if settings.backend == "openai" else settings.teacher_gen_batch


def _build(args: argparse.Namespace) -> int:
    from teacher_worker.model_files import SHIPPED_ADAPTER, build_teacher

    settings = _settings(args)
    print(build_teacher(settings.cache_dir, args.adapter or SHIPPED_ADAPTER, force=args.force))
    return 0


def _serve(args: argparse.Namespace) -> int:
    from teacher_worker.vllm_server import exec_server

    settings = _settings(args)
    update: dict[str, Any] = {}
    if args.port:
        update["vllm_port"] = args.port
    if args.eager:
        update["vllm_enforce_eager"] = True
    exec_server(settings.model_copy(update=update))
    return 0  # not reached: the process is now the server


def _convert(args: argparse.Namespace) -> int:
    from teacher_worker.model_files import convert_smollm2, tiny_model_dir

    settings = _settings(args)
    print(convert_smollm2(settings.cache_dir, force=args.force))
    if args.tiny:
        print(tiny_model_dir(settings.cache_dir))
    return 0


def _run(args: argparse.Namespace) -> int:
    from teacher_worker.backends import load_backend
    from teacher_worker.worker import run_worker

    settings = _settings(args)
    catalog = None
    if args.catalog:
        from relstream.core.schemas import decode_catalog_line

        path = args.catalog / "catalog.jsonl" if args.catalog.is_dir() else args.catalog
        with path.open(encoding="utf-8") as fh:
            items = [decode_catalog_line(line) for line in fh if line.strip()]
        catalog = {item.item_id: item for item in items}
    backend = load_backend(settings)
    print(f"teacher worker: backend {settings.backend} ({backend.info.model}), "
          f"health {backend.health()}", flush=True)
    stats = run_worker(settings, backend, catalog=catalog, idle_exit_s=args.idle_exit)
    print(json.dumps({"records": stats.records, "handled": stats.handled,
                      "batches": stats.batches, "dead_lettered": stats.dead_lettered}))
    return 0


def _sft(args: argparse.Namespace) -> int:
    from transformers import AutoTokenizer

    from teacher_worker.hardware import bf16_supported
    from teacher_worker.model_files import convert_smollm2
    from teacher_worker.sft import SftConfig, train_sft
    from teacher_worker.sft_data import mixture_examples

    settings = _settings(args)
    base = args.base or convert_smollm2(settings.cache_dir)
    tokenizer = AutoTokenizer.from_pretrained(base)
    config = SftConfig(lora_r=args.lora_r, lr=args.lr, batch_size=args.batch,
                       max_steps=args.steps, save_every=args.save_every,
                       time_budget_s=args.budget, seed=args.seed,
                       decision_weight=args.decision_weight,
                       bf16=bf16_supported(args.device) if args.bf16 is None else args.bf16)
    examples = mixture_examples(tokenizer, args.world, annotations=args.annotations,
                                splits=args.splits.split(","), max_examples=args.max_examples,
                                max_length=config.max_length,
                                decision_weight=config.decision_weight)
    out = args.out or settings.cache_dir / "models" / "ellm-rele-sft"
    summary = train_sft(base, examples, out, config, device=args.device)
    print(json.dumps({k: v for k, v in summary.items() if k != "config"}, default=str))
    print(f"merged model saved to {out}")
    return 0


def _merge(args: argparse.Namespace) -> int:
    from teacher_worker.model_files import convert_smollm2
    from teacher_worker.sft import merge_adapter

    settings = _settings(args)
    print(merge_adapter(args.base or convert_smollm2(settings.cache_dir), args.adapter, args.out))
    return 0


def _eval(args: argparse.Namespace) -> int:
    from relstream.core.reporting import save_results
    from teacher_worker.backends import load_backend
    from teacher_worker.errors import TeacherWorkerError
    from teacher_worker.evaluate import EvalSet, report, teacher_probs, tfidf_row
    from teacher_worker.vllm_server import served_for_job

    if args.families:
        return _eval_families(args)
    if args.world is None:
        raise TeacherWorkerError("give --world DIR (one world's split) or --families 0,1,...")
    settings = _settings(args)
    eval_set = EvalSet(args.world, args.split, args.limit, args.seed)
    rows = []
    models = [("teacher", settings.model_dir(), settings.teacher_max_new_tokens)]
    if args.base:
        models.append(("untuned-base", args.base, args.base_tokens))
    for name, model_dir, tokens in models:
        model_settings = settings.model_copy(update={
            "teacher_model_dir": model_dir, "teacher_max_new_tokens": tokens})
        with served_for_job(model_settings):
            backend = load_backend(model_settings)
            probs, stats = teacher_probs(backend, eval_set, batch=_batch(args, settings))
        label = f"{name} ({Path(model_dir).name}, {settings.backend})"
        rows.append(report(label, eval_set.pairs, eval_set.labels, probs, eval_set.long_tail,
                           stats))
        # judge() is the raw read-out; labels carry the calibrated one: report both.
        calibration = getattr(backend, "calibration", None)
        if calibration is not None:
            rows.append(report(f"{label}, calibrated ({calibration.method}, "
                               f"T {calibration.temperature:.2f})", eval_set.pairs,
                               eval_set.labels, calibration.apply_many(probs),
                               eval_set.long_tail))
    rows.append(tfidf_row(eval_set))
    save_results(args.name or "teacher-eval", rows, args.out, command=" ".join(sys.argv),
                 notes=f"{len(eval_set.pairs)} pairs of split {args.split!r} of {args.world}")
    return 0


LOFO_NOTES = (
    "The shipped single-family teacher (fine-tuned on family 0's world7 only) on worlds of "
    "shop families it never saw: the baseline a leave-one-family-out teacher must beat, NOT "
    "leave-one-family-out training (SFT on the other families needs a GPU session). Family 0 "
    "is the in-family score (another world of the family the teacher was trained on). "
    "'teacher' is the raw read-out, 'teacher_calibrated' the same judgements through the "
    "calibration shipped with the model (fitted on family 0 validation pairs only). TF-IDF's "
    "grades come from a 1-feature logistic regression fitted on each family's own train "
    "split. AUC: E vs rest on p(E); ECE: top grade, 10 bins; tail_: long-tail queries.")


def _save_table(out: Path, name: str, payload: dict[str, Any], table: str,
                footer: str = "") -> None:
    """`NAME.json` (name, the command line, `payload`) and `NAME.md` (the command, `table`,
    `footer`) in `out`, for the per-family commands; prints the table."""
    command = " ".join(["relstream", *sys.argv[1:]])
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / f"{name}.json", out / f"{name}.md"
    json_path.write_text(json.dumps({"name": name, "command": command, **payload},
                                    indent=2, default=str) + "\n")
    md_path.write_text(f"## {name}\n\n`{command}`\n\n{table}{footer}")
    print(table)
    print(f"saved {json_path} and {md_path}")


def _eval_families(args: argparse.Namespace) -> int:
    from relstream.tools.family_eval import FamilyEvalConfig, evaluate_families, markdown
    from teacher_worker.backends import load_backend
    from teacher_worker.vllm_server import served_for_job

    settings = _settings(args)
    config = FamilyEvalConfig(
        families=tuple(int(f) for f in args.families.split(",")), seed=args.world_seed,
        items=args.items, searches=args.searches, days=args.days,
        limit=args.limit, pair_seed=args.seed)
    worlds = args.worlds or settings.cache_dir / "worlds"
    with served_for_job(settings):
        backend = load_backend(settings)
        result = evaluate_families(backend, getattr(backend, "calibration", None), config,
                                   worlds, settings.model_dir(), batch=_batch(args, settings))
    _save_table(args.out, args.name or "teacher-lofo",
                {"model": str(settings.model_dir()), "notes": LOFO_NOTES, **result},
                markdown(result), f"\n{LOFO_NOTES}\n")
    return 0


def _ids(text: str) -> tuple[int, ...]:
    return tuple(int(f) for f in text.split(","))


def _lofo(args: argparse.Namespace) -> int:
    from relstream.tools.family_eval import FamilyEvalConfig
    from relstream.tools.lofo import LofoPlan, markdown, run_lofo
    from teacher_worker.model_files import convert_smollm2

    settings = _settings(args)
    # The shipped teacher saw family 0 (world7); the converted SmolLM2 saw no family.
    base = convert_smollm2(settings.cache_dir) if args.from_scratch else settings.model_dir()
    plan = LofoPlan(families=_ids(args.families), heldout=_ids(args.heldout),
                    in_family=args.in_family, base_saw=() if args.from_scratch else (0,),
                    sft={"max_steps": args.steps, "batch_size": args.batch, "lr": args.lr,
                         "time_budget_s": args.budget, "seed": args.seed,
                         "decision_weight": args.decision_weight, "bf16": args.bf16})
    eval_config = FamilyEvalConfig(families=plan.families, seed=args.world_seed,
                                   items=args.items, searches=args.searches, days=args.days,
                                   limit=args.limit, pair_seed=args.seed)
    worlds = args.worlds or settings.cache_dir / "worlds"
    models = args.models or settings.cache_dir / "models" / "lofo"
    result = run_lofo(settings, plan, eval_config, worlds, models, Path(base),
                      device=args.device, baseline=args.baseline,
                      calibration_pairs=args.calibration_pairs)
    _save_table(args.out, args.name, result, markdown(result))
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    import dataclasses

    from relstream.tools.family_eval import judgement_path
    from teacher_worker.backends import load_backend
    from teacher_worker.calibration import CALIBRATION_FILE, adapter_digest, fit_calibration
    from teacher_worker.evaluate import EvalSet
    from teacher_worker.judgement_cache import cached_judgements
    from teacher_worker.vllm_server import served_for_job

    settings = _settings(args)
    model_dir = settings.model_dir()
    eval_set = EvalSet(args.world, args.split, args.limit, args.seed)
    with served_for_job(settings):
        rows, stats = cached_judgements(load_backend(settings), eval_set.pairs,
                                        eval_set.catalog, judgement_path(args.world, model_dir),
                                        batch=_batch(args, settings))
    calibration = fit_calibration([r.grade_probs for r in rows],
                                  [eval_set.labels[p] for p in eval_set.pairs],
                                  adapter_sums_sha256=adapter_digest(model_dir))
    fit = {**calibration.fit, "world": str(args.world), "split": args.split,
           "seed": args.seed, "model_dir": model_dir.name, "teacher_run": stats}
    calibration = dataclasses.replace(calibration, fit=fit)
    out = calibration.save(args.out or model_dir / CALIBRATION_FILE)
    print(json.dumps(calibration.to_json(), indent=2))
    print(f"saved {out}")
    return 0


def _label(args: argparse.Namespace) -> int:
    from teacher_worker.backends import load_backend
    from teacher_worker.label_offline import label_pairs, parse_split_limits, world_job
    from teacher_worker.vllm_server import served_for_job

    settings = _settings(args)
    limits = parse_split_limits(args.splits)
    # The world first: a missing file must not cost a model load or a server start.
    catalog, pairs = world_job(args.world, limits, args.seed)
    with served_for_job(settings):
        stats = label_pairs(load_backend(settings), catalog, pairs, args.out,
                            batch=_batch(args, settings))
    print(json.dumps({"out": str(args.out), **stats}))
    return 0


def _annotate(args: argparse.Namespace) -> int:
    from teacher_worker.annotate import annotate_pairs, copy_simulator_annotations
    from teacher_worker.errors import TeacherWorkerError

    if args.from_simulator:
        n = copy_simulator_annotations(args.from_simulator, args.out)
        print(f"{n} simulator CoT annotations written to {args.out}")
        return 0
    if args.world is None:
        raise TeacherWorkerError("give --world DIR (catalog.jsonl, labels.jsonl) or "
                                 "--from-simulator DIR")
    stats = annotate_pairs(_settings(args), args.world, args.out, n=args.n,
                           k=args.k, split=args.split, limit=args.limit or None,
                           batch=args.batch, api=args.api, url=args.url, model=args.model,
                           max_tokens=args.max_tokens, temperature=args.temperature,
                           seed=args.seed)
    print(json.dumps(stats))
    return 0


def _bench(args: argparse.Namespace) -> int:
    from relstream.tools.bench.teacher import run_bench

    return run_bench(_settings(args), args)


def register(commands: argparse._SubParsersAction, bench: argparse._SubParsersAction) -> None:
    teacher = commands.add_parser("teacher", help="ELLM-rele: convert, label, fine-tune, evaluate")
    sub = teacher.add_subparsers(dest="teacher_command", metavar="SUBCOMMAND", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--model-dir", type=Path, help="teacher model dir (default: "
                       "RELSTREAM_TEACHER_MODEL_DIR or the shipped ELLM-rele, see "
                       "`relstream teacher build`)")
        p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])

    p = sub.add_parser("build", help="check and merge the shipped ELLM-rele adapter into "
                       "SmolLM2 (once; ./dev does it at set-up); prints the model dir")
    p.add_argument("--adapter", type=Path, help="adapter dir with SHA256SUMS (default: the "
                   "one shipped in teacher_worker/weights)")
    p.add_argument("--force", action="store_true", help="build again even if present")
    p.set_defaults(func=_build)

    p = sub.add_parser("serve", help="the teacher's vLLM OpenAI-compatible server, in the "
                       "foreground (RELSTREAM_VLLM_* settings; `stack up` starts it too)")
    common(p)
    p.add_argument("--port", type=int, help="port (default RELSTREAM_VLLM_PORT, 8000)")
    p.add_argument("--eager", action="store_true", help="no torch.compile (faster start)")
    p.set_defaults(func=_serve)

    p = sub.add_parser("convert", help="convert the SmolLM2 GGUF to safetensors (once)")
    p.add_argument("--force", action="store_true", help="convert again even if present")
    p.add_argument("--tiny", action="store_true", help="also build the tiny random test model")
    p.set_defaults(func=_convert)

    p = sub.add_parser("run", help="labelling worker: label-requests → teacher-labels")
    common(p)
    p.add_argument("--backend", choices=BACKENDS, help="default RELSTREAM_TEACHER_BACKEND "
                   "(openai: the vLLM server); lexical is the word-overlap baseline, no LLM")
    p.add_argument("--catalog", type=Path, help="catalog.jsonl (or a world dir) to fill "
                   "requests that carry no item")
    p.add_argument("--idle-exit", type=float, help="exit after this many seconds without input")
    p.set_defaults(func=_run)

    p = sub.add_parser("sft", help="LoRA fine-tuning on CoT annotations; saves merged weights")
    common(p)
    p.add_argument("--world", type=Path, required=True, action="append",
                   help="world or shop dir: the catalog.jsonl the annotations' items are read "
                   "from; repeat it to train on a mixture of worlds (shop families)")
    p.add_argument("--annotations", type=Path, help="CoT JSONL (default: <world>/"
                   "cot_annotations.jsonl)")
    p.add_argument("--splits", default="train", help="annotation splits to train on")
    p.add_argument("--base", type=Path, help="base model dir (default: the converted "
                   "SmolLM2, not the shipped teacher)")
    p.add_argument("--out", type=Path, help="output dir (default: <cache>/models/ellm-rele-sft)")
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--lora-r", type=int, default=16)
    p.add_argument("--save-every", type=int, default=50)
    p.add_argument("--budget", type=float, help="stop after this many seconds of training")
    p.add_argument("--max-examples", type=int, help="first N annotations of each world")
    p.add_argument("--decision-weight", type=float, default=8.0,
                   help="loss weight of check-status and grade tokens (default 8; 1: plain "
                   "token mean). 8 turned the 30-minute CPU SFT from below TF-IDF to above it")
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                   help="bfloat16 autocast (default: on for CPU and CUDA devices that "
                   "support it; ~1.4x faster per step on these AMX CPUs)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_sft)

    p = sub.add_parser("merge", help="merge a LoRA adapter into its base model")
    p.add_argument("--adapter", type=Path, required=True)
    p.add_argument("--base", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=_merge)

    p = sub.add_parser("eval", help="accuracy, macro-F1, AUC, ECE (raw and calibrated) on a "
                       "world's test split, or per shop family (--families)")
    common(p)
    p.add_argument("--backend", choices=BACKENDS)
    p.add_argument("--batch", type=int, help="pairs per backend call (default 256 for "
                   "openai, RELSTREAM_TEACHER_GEN_BATCH otherwise)")
    p.add_argument("--world", type=Path, help=WORLD_HELP)
    p.add_argument("--families", help="e.g. 0,1,2,3,4,5: simulate a world per shop family "
                   "(--items/--searches/--days/--world-seed) and write a per-family table of "
                   "teacher vs TF-IDF (default name teacher-lofo) instead of one world's")
    p.add_argument("--worlds", type=Path, help="where --families worlds are simulated and "
                   "their judgements kept (default <cache_dir>/worlds)")
    p.add_argument("--items", type=int, default=3000, help="--families: items per world")
    p.add_argument("--searches", type=int, default=6667, help="--families: searches per world")
    p.add_argument("--days", type=float, default=3.0, help="--families: days per world")
    p.add_argument("--world-seed", type=int, default=0, help="--families: simulator seed")
    p.add_argument("--split", default="test")
    p.add_argument("--limit", type=int, default=300, help="pairs to sample (0: all; with "
                   "--families: test pairs per family)")
    p.add_argument("--base", type=Path, help="also evaluate this untuned base model")
    p.add_argument("--base-tokens", type=int, default=48,
                   help="generation cap for the base model (it rambles; Grade: is forced)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("bench-results"))
    p.add_argument("--name", help="results file name, no suffix (default teacher-eval, "
                   "or teacher-lofo with --families)")
    p.set_defaults(func=_eval)

    p = sub.add_parser("lofo", help="leave-one-family-out: per held-out shop family, SFT "
                       "on the other families' worlds, judge it and the in-family world "
                       "against TF-IDF")
    common(p)
    p.add_argument("--families", default="0,1,2,3,4", help="the families of the folds")
    p.add_argument("--heldout", default="1,2,3", help="one fold per family held out")
    p.add_argument("--in-family", type=int, default=0,
                   help="a training family judged beside each held-out one")
    p.add_argument("--from-scratch", action="store_true", help="start each fold from the "
                   "converted SmolLM2 instead of the shipped teacher (which saw family 0, so "
                   "family 0 cannot be held out from it)")
    p.add_argument("--worlds", type=Path, help="where the family worlds are simulated and "
                   "judgements kept (default <cache_dir>/worlds)")
    p.add_argument("--models", type=Path, help="fold models (default <cache_dir>/models/"
                   "lofo); a fold whose sft_summary.json is there is not trained again")
    p.add_argument("--items", type=int, default=3000)
    p.add_argument("--searches", type=int, default=6667)
    p.add_argument("--days", type=float, default=3.0)
    p.add_argument("--world-seed", type=int, default=0)
    p.add_argument("--limit", type=int, default=200, help="test pairs judged per family")
    p.add_argument("--calibration-pairs", type=int, default=200, help="validation pairs of "
                   "the training families a fold's calibration is fitted on (0: none)")
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--budget", type=float, help="seconds of SFT per fold at most")
    p.add_argument("--decision-weight", type=float, default=8.0)
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=False)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--baseline", type=Path, default=Path("docs/results/teacher-lofo.json"),
                   help="the shipped teacher's `teacher eval --families` file, put beside")
    p.add_argument("--out", type=Path, default=Path("bench-results"))
    p.add_argument("--name", default="teacher-lofo-folds")
    p.set_defaults(func=_lofo)

    p = sub.add_parser("calibrate", help="fit the teacher's calibration (temperature and/or "
                       "per-grade bias, chosen by held-out NLL) on a world's validation pairs")
    common(p)
    p.add_argument("--backend", choices=BACKENDS)
    p.add_argument("--batch", type=int, help="pairs per backend call")
    p.add_argument("--world", type=Path, required=True, help=WORLD_HELP)
    p.add_argument("--split", default="validation", help="never the test split you report on")
    p.add_argument("--limit", type=int, default=200, help="pairs to sample")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, help="calibration file (default <model dir>/"
                   "calibration.json; ship it as teacher_worker/weights/<adapter>/"
                   "calibration.json)")
    p.set_defaults(func=_calibrate)

    p = sub.add_parser("label", help="label a world's pairs offline into a teacher-label "
                       "file (for offline student training and bench mkd); resumable")
    common(p)
    p.add_argument("--backend", choices=BACKENDS)
    p.add_argument("--batch", type=int, help="pairs per backend call (default 256 for "
                   "openai, RELSTREAM_TEACHER_GEN_BATCH otherwise)")
    p.add_argument("--world", type=Path, required=True, help=WORLD_HELP + "; the pairs are "
                   "labels.jsonl's, or the search log's shown pairs without one")
    p.add_argument("--splits", default="train:2000,validation:300,test:400",
                   help="SPLIT[:COUNT],... pairs sampled per split (no count: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, required=True, help="teacher-label JSONL (appended)")
    p.set_defaults(func=_label)

    p = sub.add_parser("annotate", help="label-conditioned CoT annotation with "
                       "self-consistency, by an annotator LLM behind any OpenAI-compatible "
                       "endpoint; the SFT data of a shop's own teacher (resumable)")
    p.add_argument("--world", type=Path, help="shop dir with catalog.jsonl and labels.jsonl "
                   "(query, item_id, grade); splits.json, else splits by query hash")
    p.add_argument("--from-simulator", type=Path, help="world dir: take its CoT annotations")
    p.add_argument("--out", type=Path, required=True, help="kept annotations (JSONL, "
                   "appended; rejected pairs go to OUT.rejected.jsonl; a rerun skips pairs "
                   "in either: delete both to start over)")
    p.add_argument("--url", help="annotator base URL (default RELSTREAM_TEACHER_OPENAI_URL)")
    p.add_argument("--model", help="annotator model name (default "
                   "RELSTREAM_TEACHER_OPENAI_MODEL); the key is RELSTREAM_TEACHER_OPENAI_API_KEY")
    p.add_argument("--api", choices=["chat", "completions"], default="chat",
                   help="chat: /chat/completions, the server applies the model's chat "
                   "template (instruction-tuned annotators); completions: one plain prompt")
    p.add_argument("--n", type=int, default=5, help="samples per pair")
    p.add_argument("--k", type=int, default=3, help="keep when >= k samples agree with label")
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--max-tokens", type=int, default=256, help="per sample")
    p.add_argument("--split", default="train", help="never the split you evaluate on")
    p.add_argument("--limit", type=int, help="pairs to sample from the split (default all)")
    p.add_argument("--batch", type=int, default=32, help="pairs written per flush")
    p.add_argument("--seed", type=int, default=0, help="seed of the --limit sample")
    p.set_defaults(func=_annotate)

    b = bench.add_parser("teacher", help="labels/s of transformers vs the vLLM server (prefix "
                         "caching on/off) vs vLLM offline, same pairs, one run")
    common(b)
    b.add_argument("--world", type=Path, help="world dir (default: world7 of the teacher's "
                   "card is simulated: seed 7, 4,000 items, 20,000 searches, 1 day)")
    b.add_argument("--pairs", type=int, default=256, help="test pairs every row labels")
    b.add_argument("--warmup", type=int, default=64, help="validation pairs each engine "
                   "labels first, untimed")
    b.add_argument("--hf-batch", type=int, default=32, help="transformers generate batch")
    b.add_argument("--max-new-tokens", type=int, default=160)
    b.add_argument("--skip-transformers", action="store_true",
                   help="leave out the transformers row (~0.2 labels/s on 2 cores)")
    b.add_argument("--offline", action=argparse.BooleanOptionalAction, default=True,
                   help="also time vLLM's offline LLM.generate (no HTTP)")
    b.add_argument("--requests", type=int, default=2000,
                   help="label requests replayed for the cache hit rate")
    b.add_argument("--profile", type=float, default=0.0, metavar="SECONDS",
                   help="after the rows, sample the production server (block 32, prefix "
                   "caching) with py-spy for SECONDS while it labels (needs py-spy)")
    b.add_argument("--profile-only", action="store_true", help="only the profile (saved as "
                   "bench-teacher-profile), no timed rows")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--out", type=Path, default=Path("docs/results"))
    b.set_defaults(func=_bench)
