"""The teacher's prompt: query and item text in, the four-step CoT (`relstream.core.cot`) out.

The prompt holds only the query and `item_text(item)`, never a label. It is kept short
because every prompt token is prefilled for every pair. The model answers in the format
of `relstream.core.cot` and stops at `Grade:`; the grade comes from the next-token logits there.
Training (SFT) uses the very same prompt with the rendered CoT as the answer.
"""

from __future__ import annotations

from typing import Any

from relstream.core.cot import GRADE_MARKER
from relstream.core.item_text import item_text
from relstream.core.schemas import CatalogItem

SYSTEM = (
    "You judge e-commerce search relevance. Answer in exactly four lines:\n"
    "Query: dimension=value; ... (type, brand, model, color, size, ...)\n"
    "Item: the same dimensions read from the item\n"
    "Checks: dimension=match|mismatch|not_stated[deciding words]; ...\n"
    "Grade: E (exact), S (substitute), C (complement) or I (irrelevant)"
)
"""System message: the format itself, so even an untuned model sees what is expected."""


def user_message(query: str, item: CatalogItem) -> str:
    return f"Query: {query.strip()}\nItem: {item_text(item)}"


def messages(query: str, item: CatalogItem) -> list[dict[str, str]]:
    """Chat messages of one pair, without the answer."""
    return [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": user_message(query, item)},
    ]


def build_prompt(tokenizer: Any, query: str, item: CatalogItem) -> str:
    """The full prompt text (chat template applied, assistant turn opened)."""
    text = tokenizer.apply_chat_template(
        messages(query, item), tokenize=False, add_generation_prompt=True
    )
    return str(text)


def build_plain_prompt(query: str, item: CatalogItem) -> str:
    """A prompt for completion endpoints that apply no chat template themselves."""
    return f"{SYSTEM}\n\n{user_message(query, item)}\n\nAnswer:\n"


def cut_at_marker(text: str) -> tuple[str, bool]:
    """Generated text up to and including the first `Grade:`; and whether it was found.

    Without the marker (an untuned model rambling, or `max_new_tokens` reached) the text
    is kept and `\\nGrade:` appended, so the grade logits are still read at a forced
    marker; the CoT parse then decides whether the steps are usable.
    """
    pos = text.find(GRADE_MARKER)
    if pos >= 0:
        return text[: pos + len(GRADE_MARKER)], True
    return text.rstrip() + "\n" + GRADE_MARKER, False
