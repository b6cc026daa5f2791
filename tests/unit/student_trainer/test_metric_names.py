"""One NDCG name per gain table: `ndcg@10` is always the ESCI-gain NDCG (A/B report,
simulator baseline), the student evaluation's linear-gain NDCG is `ndcg_lin@10`."""

from __future__ import annotations

import numpy as np
import pytest

from relstream.core.metrics import ndcg_at_k as esci_ndcg
from relstream.core.schemas import ESCI_GAINS, LINEAR_GAINS
from student_trainer.evaluate import grade_metrics


def test_each_gain_table_has_its_own_name() -> None:
    assert ESCI_GAINS != LINEAR_GAINS
    # One query: an S item ranked above the E item.
    probs = np.array([[0.0, 1.0, 0.0, 0.0], [0.4, 0.0, 0.0, 0.6]])
    metrics = grade_metrics(["q", "q"], probs, ["S", "E"],
                            {"E": 1.0, "S": 0.5, "C": 0.0, "I": 0.0})
    assert "ndcg@10" not in metrics
    # linear gains 2 then 3: (2 + 3/log2 3) / (3 + 2/log2 3)
    assert metrics["ndcg_lin@10"] == pytest.approx((2 + 3 / np.log2(3)) / (3 + 2 / np.log2(3)))
    # the ESCI-gain NDCG of the same ranking is a different number
    esci = esci_ndcg(["q", "q"], ["S", "E"], [0.5, 0.4])
    assert esci == pytest.approx((0.1 + 1 / np.log2(3)) / (1 + 0.1 / np.log2(3)))
    assert esci != pytest.approx(metrics["ndcg_lin@10"])
