"""The students `relstream bench serving` serves: trained on a simulated world, cached.

A cascade's quality can only be measured with students that rank better than chance, so
the bench trains both students (MiniLM cut to `layers` layers, the online trainer's
default shape) for a fixed number of steps on the ground-truth grades of a simulated
world's train queries, exports them with the INT8 gate measured on its validation
queries, and publishes the cross-encoder twice (the swap drill alternates between the two
versions) and the two-tower once. Everything lands in `<cache>/<key>/`, keyed by the
parameters, so later runs reuse it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relstream.core.schemas import CatalogItem

log = logging.getLogger(__name__)

KINDS = ("cross_encoder", "two_tower")
_PROBS = {"E": (0.94, 0.02, 0.02, 0.02), "S": (0.02, 0.94, 0.02, 0.02),
          "C": (0.02, 0.02, 0.94, 0.02), "I": (0.02, 0.02, 0.02, 0.94)}
"""Training targets from a ground-truth grade (as `relstream train sim-labels` does)."""


@dataclass(frozen=True)
class StudentRecipe:
    """How the bench's world and students are made; the cache key hashes all of it."""

    world_items: int = 5000
    world_searches: int = 8000
    world_seed: int = 0
    layers: int = 3
    max_length: int = 64
    train_steps: int = 300
    batch_size: int = 32
    seed: int = 0

    def key(self) -> str:
        raw = json.dumps(dataclasses.asdict(self), sort_keys=True).encode()
        return hashlib.sha256(raw).hexdigest()[:12]


@dataclass(frozen=True)
class BenchStudents:
    registry: Path
    cross_encoder_versions: tuple[str, str]
    catalog: list[CatalogItem]
    queries: list[str]
    """Validation and test queries (never trained on), for the load generator."""
    validation: list[tuple[str, str, str]]
    """(query, item_id, grade) of every labelled validation pair."""
    info: dict[str, Any]


def prepare_students(cache: Path, recipe: StudentRecipe) -> BenchStudents:
    """The cached students of `recipe`, trained and published first if missing.

    Two levels: the world and the trained checkpoints (`<key>/`, hours of CPU on a busy
    2-core machine), and the exported, INT8-gated registry (`<key>/export-<q>/`, minutes),
    redone when the quantization settings change.
    """
    from relstream.core.shop_files import load_catalog, load_labels, load_splits
    from student_trainer.export import QUANTIZATION

    home = cache / recipe.key()
    if not (home / "trained.json").is_file():
        shutil.rmtree(home, ignore_errors=True)
        _train(home, recipe)
    export_key = hashlib.sha256(json.dumps(QUANTIZATION, sort_keys=True).encode()).hexdigest()
    exported = home / f"export-{export_key[:8]}"
    if not (exported / "done.json").is_file():
        shutil.rmtree(exported, ignore_errors=True)
        _export(home, exported, recipe)
    info = {**json.loads((home / "trained.json").read_text()),
            **json.loads((exported / "done.json").read_text())}
    world = home / "world"
    catalog = load_catalog(world)
    labels = load_labels(world)
    splits = load_splits(world)
    val_queries = set(splits["validation"])
    validation = sorted((q, i, str(g)) for (q, i), g in labels.items() if q in val_queries)
    queries = sorted(set(splits["validation"]) | set(splits["test"]))
    return BenchStudents(
        registry=exported / "registry", cross_encoder_versions=tuple(info["cross_encoder"]),
        catalog=list(catalog.values()), queries=queries, validation=validation, info=info)


def _examples(world: Path, split: str) -> tuple[list[Any], list[str]]:
    from relstream.core.shop_files import load_catalog, load_labels, load_splits
    from student_trainer.pipeline import eval_example

    catalog, labels = load_catalog(world), load_labels(world)
    queries = set(load_splits(world)[split])
    pairs = sorted((q, i, str(g)) for (q, i), g in labels.items() if q in queries)
    examples = [dataclasses.replace(eval_example(q, catalog[i]), teacher_probs=_PROBS[g])
                for q, i, g in pairs]
    return examples, [g for _, _, g in pairs]


def _train(home: Path, recipe: StudentRecipe) -> None:
    """Simulate the world and train both students; checkpoints to `<home>/<kind>.pt`."""
    import torch

    from relstream.tools.simulator.config import SimConfig
    from relstream.tools.simulator.world import simulate
    from student_trainer.config import EncoderConfig, LossWeights, StudentConfig, TrainConfig
    from student_trainer.encoders import load_tokenizer
    from student_trainer.factory import build_student
    from student_trainer.train_offline import train_steps

    home.mkdir(parents=True, exist_ok=True)
    world = simulate(SimConfig(out=home / "world", seed=recipe.world_seed,
                               items=recipe.world_items, searches=recipe.world_searches,
                               days=1.0))
    train, _ = _examples(world, "train")
    tokenizer = load_tokenizer()
    torch.set_num_threads(2)
    info: dict[str, Any] = {"recipe": dataclasses.asdict(recipe), "train_pairs": len(train)}
    for kind in KINDS:
        torch.manual_seed(recipe.seed)
        student = build_student(StudentConfig(kind=kind, encoder=EncoderConfig(  # type: ignore[arg-type]
            source="minilm", num_layers=recipe.layers, max_length=recipe.max_length)),
            tokenizer=tokenizer)
        start = time.perf_counter()
        log.info("training the bench's %s for %d steps", kind, recipe.train_steps)
        losses = train_steps(student, tokenizer, train, LossWeights.preset("hard"),
                             TrainConfig(batch_size=recipe.batch_size, seed=recipe.seed),
                             recipe.train_steps)
        torch.save(student.checkpoint(), home / f"{kind}.pt")
        info[f"{kind}_training"] = {"seconds": time.perf_counter() - start,
                                    "first_loss": losses[0], "last_loss": losses[-1]}
    (home / "trained.json").write_text(json.dumps(info, indent=2))


def _export(home: Path, exported: Path, recipe: StudentRecipe) -> None:
    """Export both checkpoints with the INT8 gate on the validation pairs and publish."""
    from relstream.core import registry
    from student_trainer.encoders import load_tokenizer
    from student_trainer.export import export_student
    from student_trainer.factory import load_checkpoint

    val, val_grades = _examples(home / "world", "validation")
    tokenizer = load_tokenizer()
    info: dict[str, Any] = {"validation_pairs": len(val)}
    for kind in KINDS:
        student, _ = load_checkpoint(str(home / f"{kind}.pt"))
        student.eval()
        stage = exported / f"stage-{kind}"
        manifest = export_student(student, tokenizer, stage, int8_validation=(val, val_grades),
                                  config={"bench_serving": dataclasses.asdict(recipe)})
        # The drill alternates between two cross-encoder versions: the same weights twice
        # (a swap's cost does not depend on the weights).
        info[kind] = [registry.publish(exported / "registry", stage, kind)
                      for _ in range(2 if kind == "cross_encoder" else 1)]
        info[f"{kind}_int8_gate"] = manifest.int8_gate
        shutil.rmtree(stage)
    (exported / "done.json").write_text(json.dumps(info, indent=2))
