"""The annotator LLM behind any OpenAI-compatible endpoint, for `relstream teacher annotate`.

The annotator is not the teacher: it is a large model that is shown the pair *and its human
grade* and writes the four-step CoT (`teacher_worker.annotate`). It is reached through the
chat API by default (`/v1/chat/completions`: the server applies the model's own chat
template, so an instruction-tuned model served by vLLM, or a hosted one, gets the
messages the way it was trained on them); `completions` sends one plain prompt instead,
for base models or servers without chat. One call per pair asks for `n` samples at once
(the `n` parameter), so the server decodes them as one batch sharing the prompt's KV.

Transport failures (connection refused, timeout, 5xx, 429) raise `TeacherUnavailableError`,
anything else the server refuses raises `AnnotatorError`, both naming the URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from relstream.core.schemas import CatalogItem, Grade
from teacher_worker.errors import TeacherUnavailableError, TeacherWorkerError
from teacher_worker.prompt import SYSTEM, user_message

AnnotatorApi = Literal["chat", "completions"]
GRADE_NAMES: dict[Grade, str] = {"E": "exact", "S": "substitute", "C": "complement",
                                 "I": "irrelevant"}


class AnnotatorError(TeacherWorkerError):
    """The annotator's server refused a request or answered in an unexpected shape."""


def grade_instruction(grade: Grade) -> str:
    """What conditions the annotation on the human label."""
    return (f"The correct grade is {grade} ({GRADE_NAMES[grade]}). Write the four lines that "
            "justify it.")


def annotation_messages(query: str, item: CatalogItem, grade: Grade) -> list[dict[str, str]]:
    """Chat messages for the annotator: the teacher's instructions, the pair, the grade."""
    return [{"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"{user_message(query, item)}\n{grade_instruction(grade)}"}]


def annotation_prompt(query: str, item: CatalogItem, grade: Grade) -> str:
    """The same as one plain prompt, for the completions API."""
    return f"{SYSTEM}\n\n{user_message(query, item)}\n{grade_instruction(grade)}\n\n"


@dataclass(frozen=True)
class Samples:
    """The `n` sampled texts for one pair and the completion tokens they cost."""

    texts: list[str]
    completion_tokens: int


class AnnotatorClient:
    """`n` label-conditioned samples per pair from an OpenAI-compatible server."""

    def __init__(self, base_url: str, model: str, *, api: AnnotatorApi = "chat",
                 api_key: str = "", timeout_s: float = 300.0, max_tokens: int = 256,
                 temperature: float = 0.7, connections: int = 8) -> None:
        import httpx

        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.base_url = base_url.rstrip("/")
        self.client = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout_s,
                                   limits=httpx.Limits(max_connections=connections + 2))
        self.model, self.api = model, api
        self.max_tokens, self.temperature = max_tokens, temperature

    def check(self) -> None:
        """Fail fast, before any pair is sent, when the server does not list its models."""
        import httpx

        try:
            response = self.client.get("/models")
        except httpx.HTTPError as exc:
            raise TeacherUnavailableError(
                f"no annotator at {self.base_url} ({type(exc).__name__}: {exc}): start an "
                "OpenAI-compatible server there, or point RELSTREAM_TEACHER_OPENAI_URL (or "
                "--url) at one") from exc
        if response.status_code != 200:
            raise AnnotatorError(f"annotator {self.base_url}/models answered "
                                 f"{response.status_code}: {response.text[:300]}")

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        import httpx

        try:
            response = self.client.post(path, json=body)
        except httpx.HTTPError as exc:
            raise TeacherUnavailableError(f"annotator call to {self.base_url}{path} failed: "
                                          f"{type(exc).__name__}: {exc}") from exc
        if response.status_code >= 500 or response.status_code in (408, 429):
            raise TeacherUnavailableError(f"annotator {self.base_url}{path} answered "
                                          f"{response.status_code}: {response.text[:300]}")
        if response.status_code != 200:
            raise AnnotatorError(f"annotator {self.base_url}{path} refused the request "
                                 f"({response.status_code}): {response.text[:500]}")
        try:
            return response.json()  # type: ignore[no-any-return]
        except ValueError as exc:
            raise AnnotatorError(f"annotator sent no JSON: {response.text[:300]}") from exc

    def sample(self, query: str, item: CatalogItem, grade: Grade, n: int) -> Samples:
        """`n` annotations of one pair, conditioned on its human `grade`."""
        body: dict[str, Any] = {"model": self.model, "n": n, "max_tokens": self.max_tokens,
                                "temperature": self.temperature}
        if self.api == "chat":
            body["messages"] = annotation_messages(query, item, grade)
            answer = self._post("/chat/completions", body)
        else:
            body["prompt"] = annotation_prompt(query, item, grade)
            answer = self._post("/completions", body)
        choices = answer.get("choices")
        if not isinstance(choices, list) or len(choices) != n:
            raise AnnotatorError(f"expected {n} choices from {self.base_url}, got "
                                 f"{len(choices) if isinstance(choices, list) else choices!r}")
        texts = [str((c.get("message") or {}).get("content") or "") if self.api == "chat"
                 else str(c.get("text") or "") for c in choices]
        usage = answer.get("usage") or {}
        return Samples(texts, int(usage.get("completion_tokens") or 0))
