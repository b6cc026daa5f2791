"""Output of `ab-report`: a text table, a JSON file and a PNG chart (matplotlib, Agg)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from relstream.core.reporting import markdown_table
from serving.ab_report import ABReport


def _num(x: float | None, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:.{digits}g}"


def render_text(report: ABReport) -> str:
    """Per-arm table, comparison table, warnings."""
    arms = [{
        "arm": a["arm"], "requests": a["requests"], "users": a["users"],
        **{f"ctr@{k}": _num(a["ctr_at"][k - 1], 3) for k in (1, 2, 3, 5, 10)},
        "clicks/search": _num(a["clicks_per_search"]),
        "purchases/search": _num(a["purchases_per_search"]),
        "ndcg@10": _num(a["ndcg@10"]),
        "p50 ms": _num(a["latency_p50_ms"], 3), "p99 ms": _num(a["latency_p99_ms"], 3),
    } for a in report.arms]
    comparisons = [{
        "metric": c.metric + (" (CUPED)" if c.cuped else ""), "arm": f"{c.arm} vs {c.baseline}",
        "baseline": _num(c.mean_baseline), "arm mean": _num(c.mean_arm),
        "diff": _num(c.diff), f"{100 * (1 - report.alpha):.0f}% CI":
            f"[{_num(c.ci_low)}, {_num(c.ci_high)}]",
        "t": _num(c.t, 3), "p": _num(c.p, 3), "significant": "yes" if c.significant else "no",
    } for c in report.comparisons]
    lines = [f"experiment {report.experiment}", "", markdown_table(arms),
             markdown_table(comparisons)]
    lines += [f"WARNING: {w}" for w in report.warnings]
    return "\n".join(lines)


def plot(report: ABReport, path: Path) -> Path:
    """CTR by position per arm, and each metric's difference with its CI."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    positions = list(range(1, 11))
    width = 0.8 / max(len(report.arms), 1)
    for k, arm in enumerate(report.arms):
        left.bar([p + (k - (len(report.arms) - 1) / 2) * width for p in positions],
                 arm["ctr_at"], width=width, label=f"{arm['arm']} (n={arm['requests']})")
    left.set_xticks(positions)
    left.set_xlabel("position")
    left.set_ylabel("CTR")
    left.set_title(f"CTR by position — {report.experiment}")
    left.legend()
    comps = [c for c in report.comparisons if c.metric != "latency_ms"]
    labels, rel, err_lo, err_hi, colors = [], [], [], [], []
    for c in comps:
        scale = abs(c.mean_baseline) or 1.0  # relative difference, so metrics share an axis
        labels.append(f"{c.metric}{' CUPED' if c.cuped else ''}\n{c.arm} vs {c.baseline}")
        rel.append(100 * c.diff / scale)
        lo = 100 * (c.diff - c.ci_low) / scale if not math.isnan(c.ci_low) else 0.0
        hi = 100 * (c.ci_high - c.diff) / scale if not math.isnan(c.ci_high) else 0.0
        err_lo.append(lo)
        err_hi.append(hi)
        colors.append("tab:green" if c.significant and c.diff > 0 else
                      "tab:red" if c.significant else "tab:gray")
    ys = list(range(len(comps)))
    right.barh(ys, rel, xerr=[err_lo, err_hi], color=colors, capsize=4)
    right.axvline(0, color="black", linewidth=0.8)
    right.set_yticks(ys, labels, fontsize=8)
    right.set_xlabel(f"difference vs baseline, % ({100 * (1 - report.alpha):.0f}% CI)")
    right.set_title("arm vs baseline (green/red: significant)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def save(report: ABReport, out_dir: Path) -> tuple[Path, Path]:
    """`<out>/ab-report-<experiment>.json` and `.png`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"ab-report-{report.experiment}"
    json_path = out_dir / f"{stem}.json"
    json_path.write_text(json.dumps(report.to_json(), indent=2, default=str))
    return json_path, plot(report, out_dir / f"{stem}.png")
