"""`relstream bench serve-models`: torch eager vs onnxruntime vs onnxruntime INT8.

One request = one query × N items (default 32). The cross-encoder scores every pair;
the two-tower runs its query tower once and the head on N cached item embeddings
(computed once, ahead of time, like serving does). Inputs are tokenised once up front, so
the rows compare the model runtimes only; tokenisation is timed as its own row. Rounds
are interleaved (one call of every variant per round) so machine load hits all alike.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

_COLORS = ("black", "white", "red", "blue", "green", "grey")
_THINGS = (("running shoes", "Shoes > Running Shoes", "Stride"),
           ("coffee mug", "Kitchen > Mugs", "Brewco"),
           ("usb-c charger", "Electronics > Chargers", "Voltix"),
           ("backpack", "Bags > Backpacks", "Trailo"))


def synthetic_items(n: int) -> list[Any]:
    """n deterministic catalog items of realistic length (no data dir needed)."""
    from relstream.core.schemas import CatalogItem

    items = []
    for k in range(n):
        thing, category, brand = _THINGS[k % len(_THINGS)]
        color = _COLORS[k % len(_COLORS)]
        items.append(CatalogItem(
            item_id=f"bench-{k}", title=f"{brand} {thing} model {k} {color} edition",
            category=category, brand=brand,
            attributes={"color": color, "size": str(8 + k % 5), "material": "mesh"}))
    return items


def _examples(query: str, items: list[Any]) -> list[Any]:
    from student_trainer.pipeline import eval_example

    return [eval_example(query, item) for item in items]


def _students(args: argparse.Namespace) -> list[Any]:
    import torch

    from student_trainer.config import EncoderConfig, StudentConfig
    from student_trainer.factory import build_student, load_checkpoint

    if args.checkpoint:
        return [load_checkpoint(str(p))[0] for p in args.checkpoint]
    torch.manual_seed(0)
    encoder = EncoderConfig(source="tiny" if args.tiny else "minilm", num_layers=args.layers,
                            max_length=args.max_length)
    return [build_student(StudentConfig(kind=k, encoder=encoder)).eval()  # type: ignore[arg-type]
            for k in ("cross_encoder", "two_tower")]


def _variants(student: Any, tokenizer: Any, examples: list[Any], directory: Path,
              threads: int) -> list[tuple[str, str, Callable[[], np.ndarray]]]:
    """(model, backend, call returning logits) for one student, torch eager first."""
    import torch

    from student_trainer.export import export_student
    from student_trainer.onnx_predict import OnnxStudent

    manifest = export_student(student, tokenizer, directory, quantize=True)
    fp32 = OnnxStudent(directory, manifest, threads=threads)
    int8 = OnnxStudent(directory, manifest, int8=True, threads=threads)
    batch = student.make_batch(examples, tokenizer)
    np_batch = {k: v.numpy() for k, v in batch.items()}
    kind = student.kind
    if kind == "cross_encoder":
        names = ("input_ids", "attention_mask", "token_type_ids")
        feed = {n: np_batch[n] for n in names}

        def torch_eager() -> np.ndarray:
            with torch.no_grad():
                return student(batch)["logits"].numpy()

        return [(kind, "torch eager", torch_eager),
                (kind, "onnxruntime", lambda: fp32.sessions["scorer"].run(None, feed)[0]),
                (kind, "onnxruntime int8", lambda: int8.sessions["scorer"].run(None, feed)[0])]
    q_ids, q_mask = batch["q_input_ids"][:1], batch["q_attention_mask"][:1]
    n = len(examples)
    with torch.no_grad():
        cached_t = student.embed(batch["i_input_ids"], batch["i_attention_mask"])
    cached_fp32 = fp32.embed("item_tower", np_batch["i_input_ids"], np_batch["i_attention_mask"])
    cached_int8 = int8.embed("item_tower", np_batch["i_input_ids"], np_batch["i_attention_mask"])

    def torch_full() -> np.ndarray:
        with torch.no_grad():
            return student(batch)["logits"].numpy()

    def torch_cached() -> np.ndarray:
        with torch.no_grad():
            u = student.embed(q_ids, q_mask).expand(n, -1)
            return student.head(u, cached_t).numpy()

    def ort_cached(model: Any, cached: np.ndarray) -> Callable[[], np.ndarray]:
        def call() -> np.ndarray:
            u = model.embed("query_tower", q_ids.numpy(), q_mask.numpy())
            return model.head(np.repeat(u, n, axis=0), cached)
        return call

    return [(kind, "torch eager, both towers", torch_full),
            (kind, "torch eager, cached items", torch_cached),
            (kind, "onnxruntime, cached items", ort_cached(fp32, cached_fp32)),
            (kind, "onnxruntime int8, cached items", ort_cached(int8, cached_int8))]


def run(args: argparse.Namespace) -> int:
    import torch

    from relstream.core.reporting import percentile, save_results
    from student_trainer.encoders import load_tokenizer

    torch.set_num_threads(args.threads)
    tokenizer = load_tokenizer()
    query = "black stride running shoes men size 10"
    examples = _examples(query, synthetic_items(args.items))
    t0 = time.perf_counter()
    for _ in range(20):
        tokenizer([e.query for e in examples], [e.item_text for e in examples],
                  truncation="longest_first", max_length=args.max_length, padding=True)
    tokenize_ms = (time.perf_counter() - t0) / 20 * 1000
    variants: list[tuple[str, str, Callable[[], np.ndarray]]] = []
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        for student in _students(args):
            variants += _variants(student, tokenizer, examples, Path(tmp) / student.kind,
                                  args.threads)
        reference: dict[str, np.ndarray] = {}
        for model, _, call in variants:
            for _ in range(5):  # warm-up: allocator, ORT graph caches
                out = call()
            reference.setdefault(model, out)
        times: dict[int, list[float]] = {i: [] for i in range(len(variants))}
        diffs = {i: float(np.max(np.abs(v[2]() - reference[v[0]])))
                 for i, v in enumerate(variants)}
        for _ in range(args.repeats):
            for i, (_, _, call) in enumerate(variants):
                start = time.perf_counter()
                call()
                times[i].append((time.perf_counter() - start) * 1000)
    rows = []
    base: dict[str, float] = {}
    for i, (model, backend, _) in enumerate(variants):
        p50 = percentile(times[i], 50)
        base.setdefault(model, p50)
        rows.append({"model": model, "backend": backend, "p50_ms": p50,
                     "p99_ms": percentile(times[i], 99), "speedup_p50": base[model] / p50,
                     "max_abs_logit_diff": diffs[i]})
    rows.append({"model": "tokenizer", "backend": f"1 query × {args.items} items (fast)",
                 "p50_ms": tokenize_ms, "p99_ms": float("nan"), "speedup_p50": float("nan"),
                 "max_abs_logit_diff": float("nan")})
    notes = (f"One query × {args.items} items, {args.repeats} interleaved rounds, "
             f"{args.threads} thread(s), MiniLM first {args.layers} layers, max_length "
             f"{args.max_length}; speedup = the model's torch-eager p50 / this p50; "
             "logit diff vs that torch row (INT8 differs by design).")
    save_results("serve-models", rows, args.out, command="relstream bench serve-models",
                 notes=notes, extra={"items": args.items, "threads": args.threads})
    return 0
