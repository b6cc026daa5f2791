"""Grade distribution read-out: softmax of the next-token logits over the four grade tokens.

After `Grade:` the model's next token is one of ` E`, ` S`, ` C`, ` I` (a space then the
letter; one token each in the SmolLM2 vocabulary, checked at load time). The teacher's
`grade_probs` is the softmax over those four logits only, never a parsed string.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from relstream.core.schemas import GRADES, Grade
from teacher_worker.errors import TeacherWorkerError


class GradeTokenError(TeacherWorkerError):
    """The tokenizer does not encode each grade as one token after `Grade:`."""


def grade_token_ids(tokenizer: Any) -> list[int]:
    """Token ids of ` E`, ` S`, ` C`, ` I` in `GRADES` order; raises when one is not 1 token."""
    ids = []
    for grade in GRADES:
        encoded = tokenizer.encode(f" {grade}", add_special_tokens=False)
        if len(encoded) != 1:
            raise GradeTokenError(
                f"grade {grade!r} encodes as {len(encoded)} tokens {encoded} after a space; "
                "the read-out needs exactly one token per grade"
            )
        ids.append(int(encoded[0]))
    if len(set(ids)) != len(ids):
        raise GradeTokenError(f"grade tokens are not distinct: {ids}")
    return ids


def probs_from_grade_logits(logits: Sequence[float]) -> dict[Grade, float]:
    """Four logits (GRADES order) → a distribution over grades (numerically stable)."""
    if len(logits) != len(GRADES):
        raise ValueError(f"expected {len(GRADES)} grade logits, got {len(logits)}")
    top = max(logits)
    exps = [math.exp(x - top) for x in logits]
    total = sum(exps)
    return {g: e / total for g, e in zip(GRADES, exps, strict=True)}


def probs_from_logprobs(top_logprobs: dict[str, float], floor: float = -30.0) -> dict[Grade, float]:
    """Completion API `top_logprobs` at the grade position → grade distribution.

    Tokens are matched after stripping white space (` E` and `E` both count); a grade
    absent from the top-k gets `floor` as its log-probability, since the API only
    returns the k most likely tokens (vLLM caps k at 20).
    """
    best: dict[str, float] = {}
    for token, logprob in top_logprobs.items():
        key = token.strip()
        if key in GRADES and logprob > best.get(key, -math.inf):
            best[key] = logprob
    return probs_from_grade_logits([best.get(g, floor) for g in GRADES])
