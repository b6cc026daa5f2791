"""Run an exported student with onnxruntime: logits for batches, item-embedding caching.

Used to measure exported (and INT8) graphs on the same examples as torch, and by the
serving benchmark. Serving itself has its own scorer; this is the trainer's reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from relstream.core.manifest import ModelManifest
from student_trainer.batching import Batch, cross_encoder_batch, two_tower_batch
from student_trainer.data import Example
from student_trainer.errors import StudentTrainerError


def ort_session(path: Path, threads: int = 1) -> Any:
    """An onnxruntime CPU session that does not spin (torch shares the cores)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OnnxStudent:
    """The graphs of one exported student (`int8=True`: its quantized graphs)."""

    def __init__(self, directory: Path, manifest: ModelManifest, *, int8: bool = False,
                 threads: int = 1) -> None:
        graphs = manifest.quantized_graphs if int8 else manifest.graphs
        if graphs is None:
            raise StudentTrainerError(f"{manifest.name or manifest.kind} v{manifest.version} "
                                      "has no INT8 graphs (export it with quantization)")
        self.kind = manifest.kind
        self.max_length = manifest.max_length
        self.sessions = {role: ort_session(Path(directory) / f, threads)
                         for role, f in graphs.items()}

    def make_batch(self, examples: Sequence[Example], tokenizer: Any) -> Batch:
        if self.kind == "cross_encoder":
            return cross_encoder_batch(examples, tokenizer, self.max_length)
        return two_tower_batch(examples, tokenizer, self.max_length)

    def embed(self, role: str, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """A tower's embeddings; cache the item tower's output to skip it when serving."""
        return self.sessions[role].run(
            None, {"input_ids": input_ids, "attention_mask": attention_mask})[0]

    def head(self, query_embedding: np.ndarray, item_embedding: np.ndarray) -> np.ndarray:
        return self.sessions["head"].run(
            None, {"query_embedding": query_embedding, "item_embedding": item_embedding})[0]

    def logits(self, batch: Batch) -> np.ndarray:
        if self.kind == "cross_encoder":
            feed = {n: batch[n].numpy() for n in ("input_ids", "attention_mask",
                                                  "token_type_ids")}
            return self.sessions["scorer"].run(None, feed)[0]
        u = self.embed("query_tower", batch["q_input_ids"].numpy(),
                       batch["q_attention_mask"].numpy())
        v = self.embed("item_tower", batch["i_input_ids"].numpy(),
                       batch["i_attention_mask"].numpy())
        return self.head(u, v)

    def predict_probs(self, examples: Sequence[Example], tokenizer: Any,
                      batch_size: int = 64) -> np.ndarray:
        chunks = []
        for i in range(0, len(examples), batch_size):
            logits = self.logits(self.make_batch(examples[i:i + batch_size], tokenizer))
            z = np.exp(logits - logits.max(axis=1, keepdims=True))
            chunks.append(z / z.sum(axis=1, keepdims=True))
        return np.concatenate(chunks) if chunks else np.zeros((0, 4))
