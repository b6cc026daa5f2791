"""The chain-of-thought text format: render `CotSteps` to text and parse text back.

This is relstream's own compact design of the paper's four CoT steps (the paper's exact
format is not available here). One line per step, `dimension=value` pairs split by `; `:

    Query: type=running shoes; brand=stride; color=black; gender=men
    Item: type=running shoes; brand=stride; color=black/white; gender=men; size=10
    Checks: type=match[running shoe]; brand=match[stride]; color=match[black]; gender=match[men's]
    Grade: E

`Checks` lists one entry per dimension the query constrains, with a status (`match`,
`mismatch`, `not_stated`) and the deciding words in brackets. The teacher generates up
to and including `Grade:`; the grade itself is read from the next-token logits over the
four grade tokens, so `GRADE_MARKER` is where generation stops.
The simulator writes ideal CoTs with `render_cot`; the teacher's output goes through
`parse_cot`, which raises `CotParseError` with the reason when the text is not readable.
"""

from __future__ import annotations

import re

from relstream.core.errors import RelstreamError
from relstream.core.schemas import CHECK_STATUSES, GRADES, CotSteps, DimensionCheck, Grade

QUERY_PREFIX = "Query:"
ITEM_PREFIX = "Item:"
CHECKS_PREFIX = "Checks:"
GRADE_MARKER = "Grade:"

_FORBIDDEN = re.compile(r"[;=\[\]\n]+")
_CHECK = re.compile(r"^(?P<dim>[^=]+)=(?P<status>[a-z_]+)(?:\[(?P<evidence>[^\]]*)\])?$")


class CotParseError(RelstreamError):
    """Teacher output that does not follow the CoT format; the message says where."""


def word_matches(word: str, evidence: set[str]) -> bool:
    """Same word, or one a prefix of the other when the shorter has 4+ letters (shoe/shoes)."""
    word = word.lower()
    if word in evidence:
        return True
    for e in evidence:
        short, long = (word, e) if len(word) <= len(e) else (e, word)
        if len(short) >= 4 and long.startswith(short):
            return True
    return False


def clean_value(text: str) -> str:
    """A value safe inside the format: separators removed, white space folded."""
    return " ".join(_FORBIDDEN.sub(" ", text).split())


def _pairs(values: dict[str, str]) -> str:
    return "; ".join(f"{clean_value(k)}={clean_value(v)}" for k, v in values.items() if v)


def render_cot(steps: CotSteps, with_grade: bool = True) -> str:
    """`CotSteps` → the four-line text. `with_grade=False` stops after `Grade:`."""
    checks = "; ".join(
        f"{clean_value(c.dimension)}={c.status}"
        + (f"[{', '.join(clean_value(e) for e in c.evidence if clean_value(e))}]"
           if c.evidence else "")
        for c in steps.checks
    )
    lines = [
        f"{QUERY_PREFIX} {_pairs(steps.query_analysis) or 'none'}",
        f"{ITEM_PREFIX} {_pairs(steps.item_analysis) or 'none'}",
        f"{CHECKS_PREFIX} {checks or 'none'}",
        f"{GRADE_MARKER}" + (f" {steps.grade}" if with_grade and steps.grade else ""),
    ]
    return "\n".join(lines)


def _parse_pairs(body: str, step: str) -> dict[str, str]:
    body = body.strip()
    if body in ("", "none"):
        return {}
    out: dict[str, str] = {}
    for part in body.split(";"):
        key, sep, value = part.strip().partition("=")
        if not sep or not key.strip():
            raise CotParseError(f"{step}: expected dimension=value, got {part.strip()!r}")
        out[key.strip()] = value.strip()
    return out


def _parse_checks(body: str) -> list[DimensionCheck]:
    body = body.strip()
    if body in ("", "none"):
        return []
    checks = []
    for part in body.split(";"):
        m = _CHECK.match(part.strip())
        if not m:
            raise CotParseError(f"Checks: expected dimension=status[words], got {part.strip()!r}")
        status = m.group("status")
        if status not in CHECK_STATUSES:
            raise CotParseError(f"Checks: status {status!r} is not one of {CHECK_STATUSES}")
        evidence = [e.strip() for e in (m.group("evidence") or "").split(",") if e.strip()]
        checks.append(DimensionCheck(dimension=m.group("dim").strip(), status=status,
                                     evidence=evidence))
    return checks


def parse_cot(text: str) -> CotSteps:
    """Text in the CoT format → `CotSteps`. The grade line may be bare (`Grade:`)."""
    found: dict[str, str] = {}
    for raw in text.strip().splitlines():
        line = raw.strip()
        for prefix in (QUERY_PREFIX, ITEM_PREFIX, CHECKS_PREFIX, GRADE_MARKER):
            if line.startswith(prefix) and prefix not in found:
                found[prefix] = line[len(prefix):]
                break
    missing = [p for p in (QUERY_PREFIX, ITEM_PREFIX, CHECKS_PREFIX) if p not in found]
    if missing:
        raise CotParseError(f"missing step(s) {missing} in {text[:200]!r}")
    grade_text = found.get(GRADE_MARKER, "").strip()
    grade: Grade | None = next((g for g in GRADES if grade_text[:1] == g), None)
    return CotSteps(
        query_analysis=_parse_pairs(found[QUERY_PREFIX], "Query"),
        item_analysis=_parse_pairs(found[ITEM_PREFIX], "Item"),
        checks=_parse_checks(found[CHECKS_PREFIX]),
        grade=grade,
    )
