"""Shared output for `relstream bench ...`: print a table, save JSON and Markdown.

Every benchmark compares against a baseline measured in the same run; rows are dicts
with the same keys, and the first row is usually the baseline.
"""

from __future__ import annotations

import json
import math
import platform
import statistics
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    data = sorted(values)
    pos = (len(data) - 1) * q / 100
    lo, hi = int(pos), min(int(pos) + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def parse_seeds(text: str) -> list[int]:
    """"1-5" → [1, 2, 3, 4, 5]; "3,7,9" → [3, 7, 9]."""
    seeds: list[int] = []
    for part in text.split(","):
        lo, sep, hi = part.strip().partition("-")
        seeds += list(range(int(lo), int(hi) + 1)) if sep else [int(lo)]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds {text!r}: give distinct seeds such as 1-5 or 3,7,9")
    return seeds


def mean_ci(values: Sequence[float], level: float = 0.95) -> dict[str, float]:
    """Mean of `values` (one per seed) with a t-interval over them: `mean`, `ci_low`,
    `ci_high`, `n` (the interval is NaN below two values)."""
    from scipy import stats

    n = len(values)
    mean = sum(values) / n if n else math.nan
    if n < 2:
        return {"mean": mean, "ci_low": math.nan, "ci_high": math.nan, "n": n}
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n)
    return {"mean": mean, "ci_low": mean - half, "ci_high": mean + half, "n": n}


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        return f"{value:.4g}" if abs(value) < 1e3 else f"{value:,.0f}"
    return str(value)


def finite_json(value: Any) -> Any:
    """`value` with every NaN or infinite float replaced by None, recursively: Python's
    `json` writes them as `NaN`/`Infinity`, which is not JSON, and strict readers (jq,
    browsers, most other languages) refuse the whole file."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(v) for v in value]
    return value


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    if not rows:
        return "(no rows)\n"
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_fmt(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def save_results(
    name: str, rows: Sequence[dict[str, Any]], out_dir: Path, *,
    command: str, notes: str = "", extra: dict[str, Any] | None = None,
) -> tuple[Path, Path]:
    """Print the table and write `<out_dir>/<name>.json` and `<name>.md`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    table = markdown_table(rows)
    meta = {
        "name": name, "command": command, "when": datetime.now(UTC).isoformat(),
        "machine": f"{platform.node()} {platform.machine()} python {platform.python_version()}",
        "notes": notes, **(extra or {}),
    }
    json_path = out_dir / f"{name}.json"
    md_path = out_dir / f"{name}.md"
    # no NaN (results files are read by other tools); paths and dates as strings
    json_path.write_text(json.dumps(finite_json({**meta, "rows": list(rows)}), indent=2,
                                    default=str, allow_nan=False))
    md_path.write_text(f"## {name}\n\n`{command}`\n\n{table}\n{notes}\n")
    print(f"\n{name}  ({command})\n\n{table}")
    if notes:
        print(notes)
    print(f"saved {json_path} and {md_path}")
    return json_path, md_path
