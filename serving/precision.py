"""Which graphs of a version to serve: INT8 only when its recorded quality holds.

A version may ship `quantized_graphs` (INT8, ~2.4× faster on these CPUs) beside its fp32
`graphs`. The publisher measures both on the validation pairs and records the result in
the manifest as `int8_gate` = {fp32_auc, int8_auc, pairs, ...}. Serving trusts the
measured AUCs, not a flag, and applies its own tolerance: INT8 is served only when
`fp32_auc - int8_auc <= max_auc_drop`; anything missing or not finite means fp32.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from relstream.core.manifest import ModelManifest

DEFAULT_MAX_AUC_DROP = 0.005


@dataclass(frozen=True)
class Precision:
    """The graphs to load (role → file), their precision and why they were chosen."""

    graphs: dict[str, str]
    name: Literal["fp32", "int8"]
    reason: str


def _number(record: dict[str, Any], key: str) -> float | None:
    value = record.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def choose_graphs(manifest: ModelManifest, mode: Literal["auto", "off"] = "auto",
                  max_auc_drop: float = DEFAULT_MAX_AUC_DROP) -> Precision:
    """INT8 graphs when `mode` is auto and the manifest's gate passes; else fp32."""
    fp32 = dict(manifest.graphs)
    if mode == "off":
        return Precision(fp32, "fp32", "INT8 turned off (int8=off)")
    quantized = manifest.quantized_graphs
    if not quantized:
        return Precision(fp32, "fp32", "the version ships no INT8 graphs")
    missing = sorted(set(fp32) - set(quantized))
    if missing:
        return Precision(fp32, "fp32", f"INT8 graphs lack roles {missing}")
    unlisted = [f for f in quantized.values() if f not in manifest.files]
    if unlisted:  # only files the manifest lists are sha256-verified before loading
        return Precision(fp32, "fp32", f"INT8 graphs {unlisted} are not in the manifest's files")
    record = manifest.int8_gate
    if record is None:
        return Precision(fp32, "fp32", "no int8_gate record: INT8 quality never measured")
    auc32, auc8 = _number(record, "fp32_auc"), _number(record, "int8_auc")
    if auc32 is None or auc8 is None:
        return Precision(fp32, "fp32", f"int8_gate has no finite fp32_auc/int8_auc: {record}")
    drop = auc32 - auc8
    pairs = record.get("pairs", "?")
    if drop > max_auc_drop:
        return Precision(fp32, "fp32", f"INT8 AUC {auc8:.4f} vs fp32 {auc32:.4f} on {pairs} "
                                       f"pairs: loss {drop:.4f} > {max_auc_drop}")
    graphs = {role: quantized[role] for role in fp32}
    return Precision(graphs, "int8", f"INT8 AUC {auc8:.4f} vs fp32 {auc32:.4f} on {pairs} "
                                     f"pairs: loss {drop:.4f} <= {max_auc_drop}")
