"""Results files are strict JSON: no NaN or Infinity, whatever a benchmark measured."""

from __future__ import annotations

import json
import math
from pathlib import Path

from relstream.core.reporting import finite_json, mean_ci, save_results


def test_results_files_hold_null_where_a_value_is_not_finite(tmp_path: Path) -> None:
    one_seed = mean_ci([0.9])  # no interval from one value: NaN bounds
    assert math.isnan(one_seed["ci_low"])
    rows = [{"student": "teacher", "auc_mean": 0.96, "auc_ci": [one_seed["ci_low"],
                                                              one_seed["ci_high"]]},
            {"student": "x", "auc_mean": float("inf"), "auc_ci": (0.1, 0.2)}]
    json_path, md_path = save_results("t", rows, tmp_path, command="c",
                                      extra={"pooled": one_seed, "where": tmp_path})
    text = json_path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    data = json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    assert data["rows"][0]["auc_ci"] == [None, None]
    assert data["rows"][1]["auc_mean"] is None and data["rows"][1]["auc_ci"] == [0.1, 0.2]
    assert data["pooled"]["mean"] == 0.9 and data["pooled"]["ci_high"] is None
    assert data["where"] == str(tmp_path)
    assert "| teacher |" in md_path.read_text()


def test_finite_json_keeps_everything_else() -> None:
    value = {"a": [1, 2.5, "s", None, True, {"b": float("-inf")}]}
    assert finite_json(value) == {"a": [1, 2.5, "s", None, True, {"b": None}]}
