"""ONNX export of a student with a parity check, optional INT8 quantization, a manifest.

`export_student` writes a registry staging directory: the graph(s) (dynamic batch and
sequence axes), `tokenizer/` (`save_pretrained`, including `tokenizer.json`) and
`manifest.json`; `registry.publish` then makes it a version. The export fails with
`ExportError` when onnxruntime and torch disagree by more than `PARITY_TOLERANCE` on
random inputs of several shapes. `export_tiny_model` builds a tiny random-weight student
and exports it: other packages' tests use it.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from relstream.core.manifest import ModelManifest, file_hashes
from student_trainer.config import EncoderConfig, StudentConfig
from student_trainer.data import Example
from student_trainer.errors import StudentTrainerError
from student_trainer.factory import build_student
from student_trainer.onnx_predict import ort_session
from student_trainer.student_base import Student

PARITY_TOLERANCE = 1e-4
OPSET = 17
PARITY_SHAPES = ((1, 8), (3, 17), (8, 0))
"""(batch, sequence) of the parity inputs; sequence 0 means the student's max_length."""
GRAPH_FILES = {"scorer": "model.onnx", "query_tower": "query_tower.onnx",
               "item_tower": "item_tower.onnx", "head": "head.onnx"}


class ExportError(StudentTrainerError):
    """The ONNX export failed or its graph does not match torch."""


def _sample_inputs(role: str, names: tuple[str, ...], batch: int, seq: int, vocab: int,
                   dim: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
    if role == "head":
        return {n: torch.randn((batch, dim), generator=gen) for n in names}
    ids = torch.randint(0, vocab, (batch, seq), generator=gen)
    lengths = torch.randint(1, seq + 1, (batch,), generator=gen)
    lengths[0] = seq  # at least one row without padding
    mask = (torch.arange(seq).unsqueeze(0) < lengths.unsqueeze(1)).long()
    inputs = {"input_ids": ids, "attention_mask": mask}
    if "token_type_ids" in names:
        split = torch.randint(1, seq + 1, (batch, 1), generator=gen)
        inputs["token_type_ids"] = (torch.arange(seq).unsqueeze(0) >= split).long() * mask
    return {n: inputs[n] for n in names}


def _export_graph(module: torch.nn.Module, names: tuple[str, ...], outputs: tuple[str, ...],
                  sample: dict[str, torch.Tensor], path: Path, role: str) -> None:
    # The exporter restores the wrapper's own training flag afterwards, recursively: a
    # fresh wrapper is in training mode and would switch dropout back on in the student.
    module.eval()
    if role == "head":
        axes = {n: {0: "batch"} for n in (*names, *outputs)}
    else:
        axes = {n: {0: "batch", 1: "sequence"} for n in names}
        axes.update({n: {0: "batch"} for n in outputs})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        try:
            torch.onnx.export(
                module, tuple(sample[n] for n in names), str(path), input_names=list(names),
                output_names=list(outputs), dynamic_axes=axes, opset_version=OPSET,
                dynamo=False,
            )
        except Exception as exc:  # the exporter raises many unrelated types
            raise ExportError(f"ONNX export of graph {role!r} failed: {exc}") from exc


def parity_check(student: Student, out_dir: Path, graphs: dict[str, str], vocab: int,
                 seed: int = 0) -> float:
    """Max |onnxruntime − torch| over every graph and `PARITY_SHAPES`; raises above tolerance."""
    gen = torch.Generator().manual_seed(seed)
    worst = 0.0
    specs = student.onnx_graphs()
    dim = int(student.encoder.config.hidden_size)
    for role, file in graphs.items():
        module, names, _ = specs[role]
        module.eval()
        session = ort_session(out_dir / file)
        for batch, seq in PARITY_SHAPES:
            sample = _sample_inputs(role, names, batch, seq or student.max_length, vocab, dim, gen)
            with torch.no_grad():
                expected = module(*(sample[n] for n in names)).numpy()
            got = session.run(None, {n: sample[n].numpy() for n in names})[0]
            diff = float(np.max(np.abs(got - expected)))
            worst = max(worst, diff)
            if not diff <= PARITY_TOLERANCE:
                raise ExportError(
                    f"ONNX parity broken for {role!r} at batch {batch} × seq {seq}: max abs "
                    f"diff {diff:.2e} > {PARITY_TOLERANCE:.0e}"
                )
    return worst


QUANTIZATION = {"method": "dynamic", "weight_type": "QInt8", "per_channel": True}
"""How INT8 graphs are made (recorded in the manifest). Per-channel weight scales: on the
bench's trained MiniLM-3L cross-encoder, per-tensor scales lost 0.022 validation AUC
against fp32, per-channel 0.003, at the same speed."""


def quantize_graphs(out_dir: Path, graphs: dict[str, str]) -> dict[str, str]:
    """INT8 dynamic quantization of every graph → role → `<name>.int8.onnx`."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantized = {}
    # The quantizer logs a line per tensor on the root logger: keep the CLI readable.
    logging.disable(logging.WARNING)
    try:
        for role, file in graphs.items():
            target = file.replace(".onnx", ".int8.onnx")
            try:
                quantize_dynamic(str(out_dir / file), str(out_dir / target),
                                 weight_type=QuantType.QInt8,
                                 per_channel=bool(QUANTIZATION["per_channel"]))
            except Exception as exc:
                raise ExportError(f"INT8 quantization of {file} failed: {exc}") from exc
            quantized[role] = target
    finally:
        logging.disable(logging.NOTSET)
    return quantized


def export_student(
    student: Student, tokenizer: Any, out_dir: Path, *, quantize: bool = False,
    metrics: dict[str, Any] | None = None, config: dict[str, Any] | None = None,
    training_window: Any = None, parent_version: str | None = None, seed: int = 0,
    int8_validation: tuple[Sequence[Example], Sequence[str]] | None = None,
) -> ModelManifest:
    """Write graphs, tokenizer and manifest to `out_dir` (a registry staging dir).

    With `int8_validation` = (examples, their E/S/C/I truth) the INT8 graphs are written
    too and both precisions are scored on those pairs: the manifest's `int8_gate` is
    what serving reads to decide whether INT8 may be served (`student_trainer.int8_gate`).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    student.eval()
    student.cpu()
    specs = student.onnx_graphs()
    graphs = {role: GRAPH_FILES[role] for role in specs}
    gen = torch.Generator().manual_seed(seed)
    dim = int(student.encoder.config.hidden_size)
    for role, (module, names, outputs) in specs.items():
        sample = _sample_inputs(role, names, 2, min(16, student.max_length), len(tokenizer),
                                dim, gen)
        _export_graph(module, names, outputs, sample, out_dir / graphs[role], role)
    max_diff = parity_check(student, out_dir, graphs, len(tokenizer), seed)
    tokenizer.save_pretrained(str(out_dir / "tokenizer"))
    if not (out_dir / "tokenizer" / "tokenizer.json").is_file():
        raise ExportError("the tokenizer did not save a tokenizer.json (not a fast tokenizer?)")
    manifest = ModelManifest(
        name=student.kind,
        version="0",
        kind=student.kind,
        graphs=graphs,
        inputs={role: list(names) for role, (_, names, _) in specs.items()},
        outputs={role: list(outs) for role, (_, _, outs) in specs.items()},
        max_length=student.max_length,
        embedding_dim=dim if student.kind == "two_tower" else None,
        score_weights=dict(student.config.score_weights),
        metrics=dict(metrics or {}),
        config={"student": student.config.to_dict(), **(config or {})},
        parent_version=parent_version,
        training_window=training_window,
        parity_max_abs_diff=max_diff,
    )
    if quantize or int8_validation is not None:
        manifest = manifest.replace(quantized_graphs=quantize_graphs(out_dir, graphs),
                                    quantization=dict(QUANTIZATION))
    if int8_validation is not None:
        from student_trainer.int8_gate import measure_int8

        manifest = manifest.replace(
            int8_gate=measure_int8(out_dir, manifest, tokenizer, *int8_validation))
    manifest = manifest.replace(files=file_hashes(out_dir))
    manifest.write(out_dir)
    return manifest


def tiny_config(kind: str, max_length: int = 32) -> StudentConfig:
    """A 2-layer, hidden-32 random BERT student: seconds to build, train and export."""
    return StudentConfig(
        kind=kind,  # type: ignore[arg-type]
        encoder=EncoderConfig(source="tiny", num_layers=2, max_length=max_length),
        head_hidden=16, dropout=0.0,
    )


def export_tiny_model(out_dir: Path, kind: str = "cross_encoder", seed: int = 0, *,
                      quantize: bool = False) -> ModelManifest:
    """Build a tiny random-weight student (seeded) and export it with a manifest to `out_dir`.

    The result is a registry staging directory: `registry.publish(root, out_dir, name)`
    turns it into a version. Returns the manifest.
    """
    from student_trainer.encoders import load_tokenizer

    torch.manual_seed(seed)
    tokenizer = load_tokenizer()
    student = build_student(tiny_config(kind), tokenizer=tokenizer)
    return export_student(student, tokenizer, Path(out_dir), quantize=quantize, seed=seed,
                          config={"tiny": True, "seed": seed})
