"""Replay one demo run's online learning offline, under other learner settings.

A demo run leaves the continuous trainer's checkpoint (its replay buffer holds every label
it trained on, with its position in the stream; its validation set every held-out one)
and the registry with version 1. This starts from version 1 and trains on those labels in
stream order with the continuous trainer's own code (`OnlineTrainer.train_on`, `.rehearse`:
16 new + 16 replayed per step), under optional rehearsal steps, weight average or other
rates; every 128 labels it prints the validation soft-CE against the teacher and AUC (E vs
rest) on the ground truth of the new brand's queries and of 600 pre-launch test pairs. No
clock, no gate, no Kafka: it isolates the learner from the demo's timing. Exploratory
(docs/demo.md, "After rule v4"); ground truth is read to evaluate only.

    python -m relstream.tools.demo.learner_replay RUN_DIR "base,reh=2,reh=4;seed=1"

A config is `key=value` pairs joined by `;`: lr (5e-5 .. 3e-4, default 1e-4), hlr (head
lr, 1e-3), reh (rehearsal steps per new-label step, 0), ema (weight-average decay, 0),
bs (new labels per step, 16), rr (replayed per new label, 1), recent (labels rehearsal
draws from, 512), seed (0).
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any


def main(run: Path, configs: list[str], threads: int = 2) -> list[dict[str, Any]]:
    import torch

    from relstream.core.shop_files import load_catalog, load_labels, load_scenario, load_splits
    from student_trainer.data import Example
    from student_trainer.encoders import load_tokenizer
    from student_trainer.evaluate import binary_auc
    from student_trainer.online.checkpoint import read_checkpoint
    from student_trainer.online.publisher import load_published_student
    from student_trainer.online.trainer import validation_metrics
    from student_trainer.pipeline import eval_example

    torch.set_num_threads(threads)
    tok = load_tokenizer()
    ckpt = read_checkpoint(run / "state/trainer/online/cross_encoder.ckpt")
    if ckpt is None:
        raise SystemExit(f"{run}: no trainer checkpoint (state/trainer/online/)")
    stream = [e for e, _ in sorted(ckpt["buffer"]["entries"], key=lambda x: x[1])]
    val = [e for e, _ in ckpt["validation"]["entries"]]
    world = run / "world"
    brand_queries = set(load_scenario(world)["new_brand_queries"])
    test_queries = set(load_splits(world)["test"])
    catalog = load_catalog(world)
    labels = load_labels(world)

    def truth(keep: Any) -> list[tuple[Example, str]]:
        return [(eval_example(q, catalog[item_id]), grade)
                for (q, item_id), grade in labels.items() if keep(q)]

    brand = truth(lambda q: q in brand_queries)
    pre = truth(lambda q: q in test_queries and q not in brand_queries)
    random.Random(0).shuffle(pre)
    pre = pre[:600]

    def auc(student: Any, pairs: list[tuple[Example, str]]) -> float:
        logits = student.predict_logits([e for e, _ in pairs], tok)
        return round(binary_auc(student.scores(logits).tolist(), [g for _, g in pairs]), 3)

    v1 = load_published_student(run / "registry", "cross_encoder", "1")
    start = [round(validation_metrics(v1, tok, val)["val_soft_ce"], 3), auc(v1, brand),
             auc(v1, pre)]
    results = []
    for cfg in configs:
        rows = _learn(cfg, run, tok, stream, lambda m: {
            "val_soft_ce": round(validation_metrics(m, tok, val)["val_soft_ce"], 3),
            "brand_auc": auc(m, brand), "prelaunch_auc": auc(m, pre)})
        result = {"config": cfg, "v1": dict(zip(("val_soft_ce", "brand_auc", "prelaunch_auc"),
                                                start, strict=True)), "rows": rows}
        print(json.dumps(result), flush=True)
        results.append(result)
    return results


def _learn(cfg: str, run: Path, tok: Any, stream: list[Any],
           evaluate: Any) -> list[dict[str, Any]]:
    """Version 1 trained on `stream` under `cfg` by the continuous trainer's own code
    (`OnlineTrainer.train_on`, `.rehearse`); `evaluate(model)` every 128 labels."""
    import tempfile

    from student_trainer.online.settings import OnlineSettings
    from student_trainer.online.trainer import OnlineTrainer

    opts = dict(kv.split("=", 1) for kv in cfg.split(";") if "=" in kv)
    reh, bs = int(opts.get("reh", 0)), int(opts.get("bs", 16))
    with tempfile.TemporaryDirectory(prefix="learner-replay-") as scratch:
        settings = OnlineSettings(  # type: ignore[call-arg]
            registry=run / "registry", state_dir=Path(scratch), online_loss="full",
            online_lr=float(opts.get("lr", 1e-4)), online_head_lr=float(opts.get("hlr", 1e-3)),
            online_ema_decay=float(opts.get("ema", 0)), online_batch_size=bs,
            online_replay_ratio=float(opts.get("rr", 1)), online_buffer_size=5000,
            online_buffer_policy="reservoir",
            online_rehearsal_recent=int(opts.get("recent", 512)) if reh else 0,
            online_rehearsal_ratio=max(reh, 1), online_seed=int(opts.get("seed", 0)))
        trainer = OnlineTrainer(settings, tok)
        trainer.init_from_published("1")
        rows: list[dict[str, Any]] = []
        every = max(1, 128 // bs)
        for k, i in enumerate(range(0, len(stream), bs)):
            fresh = stream[i:i + bs]
            trainer.train_on(fresh)  # one step: `fresh` is one batch
            for _ in range(reh):  # each step earned `reh` rehearsal steps of credit
                trainer.rehearse()
            if k % every == every - 1 or i + bs >= len(stream):
                rows.append({"labels": i + len(fresh), "steps": trainer.counters["steps"],
                             **evaluate(trainer.scorer)})
    return rows


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    main(Path(sys.argv[1]), sys.argv[2].split(","))
