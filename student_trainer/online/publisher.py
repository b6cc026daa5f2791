"""Candidate → ONNX staging dir → gate → registry version → `ModelUpdate` on Kafka.

The staging dir lives inside the registry root under the registry's temp prefix, so a
crash mid-export leaves only something `registry.clean_partial` removes at the next
start. Besides the ONNX graphs, tokenizer and manifest, a version carries `student.pt`
(the torch checkpoint of exactly those weights): a trainer can resume from a published
version, and serving ignores the file.
"""

from __future__ import annotations

import logging
import math
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relstream.core import registry
from relstream.core.kafka_io import EventProducer
from relstream.core.manifest import ModelManifest, manifest_sha256
from relstream.core.schemas import ModelUpdate, utcnow
from relstream.core.topics import MODEL_UPDATES
from student_trainer.data import Example
from student_trainer.export import ExportError, export_student
from student_trainer.int8_gate import teacher_grades
from student_trainer.student_base import Student

log = logging.getLogger(__name__)

STUDENT_FILE = registry.STUDENT_FILE


@dataclass(frozen=True)
class Staged:
    """An exported candidate waiting for the gate, or the reason its export failed."""

    path: Path
    manifest: ModelManifest | None
    error: str | None


def stage_candidate(root: Path, name: str, student: Student, tokenizer: Any, *,
                    metrics: dict[str, float], config: dict[str, Any],
                    training_window: dict[str, Any], parent_version: str | None,
                    validation: Sequence[Example] = ()) -> Staged:
    """Export `student` into a fresh staging dir under `root` (parity checked).

    With `validation` pairs the version also ships INT8 graphs and the `int8_gate`
    record (AUC of both precisions against the teacher's grades on those pairs), so
    serving can run INT8 when it loses no more than the gate allows.
    """
    import torch

    staging = Path(root) / f"{registry.TMP_PREFIX}staging-{name}-{uuid.uuid4().hex}"
    try:
        manifest = export_student(
            student, tokenizer, staging, metrics=metrics, config=config,
            training_window=training_window, parent_version=parent_version,
            int8_validation=(validation, teacher_grades(validation)) if validation else None)
    except ExportError as exc:
        return Staged(staging, None, str(exc))
    torch.save(student.checkpoint(), staging / STUDENT_FILE)
    return Staged(staging, manifest, None)


def discard(staged: Staged) -> None:
    shutil.rmtree(staged.path, ignore_errors=True)


def publish_and_announce(root: Path, name: str, staged: Staged,
                         producer: EventProducer | None) -> str:
    """Publish the staged candidate as the next version of `name`, then send the event.

    The event goes out only after the rename made the version visible, and is flushed
    before this returns, so a consumer of `model-updates` never sees a version that is
    not complete on disk.
    """
    version = registry.publish(root, staged.path, name)
    discard(staged)
    announce(root, name, version, producer)
    return version


def update_metrics(manifest: ModelManifest) -> dict[str, float]:
    """The manifest's numeric metrics that a `ModelUpdate` may carry: finite ones only. A
    NaN (e.g. the prequential truth AUC of a trainer run without a world) made the whole
    event invalid for the contract, and serving dropped the update."""
    return {k: float(v) for k, v in manifest.metrics.items()
            if isinstance(v, int | float) and math.isfinite(v)}


def announce(root: Path, name: str, version: str, producer: EventProducer | None) -> None:
    """Send (and flush) the `ModelUpdate` of a published version."""
    if producer is None:
        return
    directory = registry.version_dir(root, name, version)
    manifest = ModelManifest.read(directory)
    event = ModelUpdate(
        ts=utcnow(), event_id=uuid.uuid4().hex, name=name, version=version,
        artifact_uri=str(directory.resolve()), sha256=manifest_sha256(directory),
        metrics=update_metrics(manifest), parent_version=manifest.parent_version,
    )
    producer.send(MODEL_UPDATES, event, key=name)
    producer.flush()
    log.info("published %s version %s (%s)", name, version, event.artifact_uri)


def load_published_student(root: Path, name: str, version: str) -> Student:
    """The torch student of a published version, verified against its manifest first."""
    from student_trainer.config import StudentConfig
    from student_trainer.factory import build_student
    from student_trainer.student_base import CheckpointError, read_student_file

    vdir = registry.version_dir(root, name, version)
    registry.verify(vdir)
    path = vdir / STUDENT_FILE
    if not path.is_file():
        raise CheckpointError(f"{name} version {version} has no {STUDENT_FILE}, so training "
                              "cannot continue from it: publish versions with `relstream train "
                              "export --publish` or the online trainer, which both ship it")
    ckpt = read_student_file(path)
    student = build_student(StudentConfig.from_dict(ckpt["student_config"]), pretrained=False)
    student.load_state_dict(ckpt["state_dict"])
    return student
