"""The `openai` backend: an OpenAI-compatible `/v1/completions` server, vLLM's by default.

One call per chunk of prompts generates the CoT *and* the grade: the model writes
`...Grade: E` and stops, and the grade distribution is read at the position right after
`Grade:` from the four grade tokens' log-probabilities. vLLM returns exactly those four at
every position when asked with `logprob_token_ids` (a vLLM extension; `logprobs` must then
equal their number); they are matched by their exact decoded text (` E`, not `E`).
(`return_tokens_as_token_ids` would name them by id, but then vLLM's `text_offset` counts
the `token_id:N` strings and no longer locates the marker.) Servers that refuse the
extension get the plain API instead: `logprobs: 20`, with grades outside the top 20 given
a floor. A row whose text has no grade after the marker
(the model ran out of tokens) gets one extra 1-token call on prompt + CoT + `Grade:`.

Throughput comes from the server's batching and prefix cache: pairs are sorted by query so
prompts sharing the system prompt and the query are sent together, and chunks of prompts
go out concurrently (`teacher_openai_concurrency` calls in flight).

A server that cannot be reached (down, restarting, 5xx) raises `TeacherUnavailableError`
at once; the worker decides how long to wait and retries the same requests.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from relstream.core.cot import GRADE_MARKER
from relstream.core.schemas import CatalogItem, Grade, TeacherInfo
from teacher_worker.backends.protocol import BackendBase, Judgement
from teacher_worker.errors import TeacherUnavailableError, TeacherWorkerError
from teacher_worker.grade_readout import (
    grade_token_ids,
    probs_from_grade_logits,
    probs_from_logprobs,
)
from teacher_worker.prompt import build_plain_prompt, build_prompt, cut_at_marker

if TYPE_CHECKING:
    from teacher_worker.settings import TeacherSettings

TOP_LOGPROBS = 20
"""vLLM's server refuses more than 20 (its `max_logprobs` default)."""
FLOOR_LOGPROB = -30.0


class OpenAIBackendError(TeacherWorkerError):
    """The completions server answered in an unexpected shape or refused a request."""


@dataclass(frozen=True)
class _Choice:
    """What one completion choice says about the CoT and the grade."""

    cot: str
    marker_found: bool
    tokens: int
    grade_probs: dict[Grade, float] | None


class OpenAIBackend(BackendBase):
    """ELLM-rele behind an OpenAI-compatible completions server (vLLM's by default)."""

    def __init__(
        self, base_url: str, model: str, *, api_key: str = "", max_new_tokens: int = 160,
        timeout_s: float = 300.0, tokenizer_dir: Path | None = None, version: str = "0",
        temperature: float = 0.0, concurrency: int = 8, chunk: int = 16,
        model_label: str | None = None, client: Any = None,
    ) -> None:
        import httpx

        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = client or httpx.Client(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout_s,
            limits=httpx.Limits(max_connections=concurrency + 2))
        self.model = model
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.concurrency = concurrency
        self.chunk = chunk
        self.tokenizer = None
        self.grade_ids: list[int] | None = None
        self.grade_texts: list[str] = []
        if tokenizer_dir is not None and (Path(tokenizer_dir) / "tokenizer.json").is_file():
            from transformers import AutoTokenizer

            self.tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
            self.grade_ids = grade_token_ids(self.tokenizer)
            self.grade_texts = [str(self.tokenizer.decode([i])) for i in self.grade_ids]
        # Exact grade-token log-probs (vLLM) until the server refuses them once.
        self.exact_grades = self.grade_ids is not None
        # Labels name the model they came from: the served weights' directory when known.
        name = model_label or (Path(tokenizer_dir).name if tokenizer_dir else model)
        self.info = TeacherInfo(model=name, version=version)

    @classmethod
    def from_settings(cls, settings: TeacherSettings) -> OpenAIBackend:
        return cls(settings.teacher_openai_url, settings.teacher_openai_model,
                   api_key=settings.teacher_openai_api_key.get_secret_value(),
                   max_new_tokens=settings.teacher_max_new_tokens,
                   timeout_s=settings.teacher_openai_timeout_s,
                   tokenizer_dir=settings.model_dir(), version=settings.teacher_model_version,
                   concurrency=settings.teacher_openai_concurrency,
                   chunk=settings.teacher_openai_chunk)

    def prompt(self, query: str, item: CatalogItem) -> str:
        if self.tokenizer is not None:
            return build_prompt(self.tokenizer, query, item)
        return build_plain_prompt(query, item)

    # --- HTTP -------------------------------------------------------------------------

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        import httpx

        try:
            response = self.client.post("/completions", json=body)
        except httpx.HTTPError as exc:  # connection refused/reset, timeouts
            raise TeacherUnavailableError(
                f"completions call to {self.client.base_url} failed: {type(exc).__name__}: "
                f"{exc}") from exc
        if response.status_code >= 500 or response.status_code in (408, 429):
            raise TeacherUnavailableError(
                f"completions server {self.client.base_url} answered {response.status_code}: "
                f"{response.text[:300]}")
        if response.status_code != 200:
            raise OpenAIBackendError(
                f"completions server {self.client.base_url} refused the request "
                f"({response.status_code}): {response.text[:500]}")
        try:
            return response.json()  # type: ignore[no-any-return]
        except ValueError as exc:
            raise OpenAIBackendError(f"completions server sent no JSON: {response.text[:300]}"
                                     ) from exc

    def complete(self, prompts: list[str], *, max_tokens: int, stop: list[str] | None = None,
                 logprobs: int | None = None, n: int = 1, temperature: float | None = None,
                 extra: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Raw `choices` of one batched completions call, ordered by prompt (then sample)."""
        body: dict[str, Any] = {"model": self.model, "prompt": prompts, "max_tokens": max_tokens,
                                "temperature": self.temperature if temperature is None
                                else temperature, "n": n}
        if stop:
            body["stop"] = stop
        if logprobs is not None:
            body["logprobs"] = logprobs
        body.update(extra or {})
        choices = self._post(body).get("choices")
        if not isinstance(choices, list) or len(choices) != len(prompts) * n:
            raise OpenAIBackendError(f"expected {len(prompts) * n} choices, got "
                                     f"{len(choices) if isinstance(choices, list) else choices!r}")
        return sorted(choices, key=lambda c: c.get("index", 0))

    def _grade_request(self) -> dict[str, Any]:
        """The logprob fields of a request: the four grade ids exactly, or the top 20."""
        if self.exact_grades and self.grade_ids is not None:
            return {"logprobs": len(self.grade_ids),
                    "extra": {"logprob_token_ids": self.grade_ids}}
        return {"logprobs": TOP_LOGPROBS}

    def _complete_graded(self, prompts: list[str], max_tokens: int) -> list[dict[str, Any]]:
        try:
            return self.complete(prompts, max_tokens=max_tokens, **self._grade_request())
        except OpenAIBackendError:
            if not self.exact_grades:
                raise
            # A server without vLLM's extension: fall back to top-k log-probs for good.
            self.exact_grades = False
            return self.complete(prompts, max_tokens=max_tokens, logprobs=TOP_LOGPROBS)

    # --- reading a choice ---------------------------------------------------------------

    def _probs_at(self, top: Any) -> dict[Grade, float] | None:
        """Grade distribution from one position's `top_logprobs` entry."""
        if not isinstance(top, dict) or not top:
            return None
        if self.exact_grades and self.grade_texts:
            if not all(k in top for k in self.grade_texts):
                return None
            return probs_from_grade_logits([float(top[k]) for k in self.grade_texts])
        return probs_from_logprobs(top, floor=FLOOR_LOGPROB)

    def _read_choice(self, choice: dict[str, Any]) -> _Choice:
        text = str(choice.get("text", ""))
        logprobs = choice.get("logprobs") or {}
        offsets = logprobs.get("text_offset") or []
        tops = logprobs.get("top_logprobs") or []
        tokens = len(logprobs.get("tokens") or offsets)
        pos = text.find(GRADE_MARKER)
        if pos < 0:
            cot, _ = cut_at_marker(text)
            return _Choice(cot, False, tokens, None)
        end = pos + len(GRADE_MARKER)
        # The grade token is the first one that starts at or after the marker's end.
        k = next((i for i, off in enumerate(offsets) if off >= end), None)
        probs = self._probs_at(tops[k]) if k is not None and k < len(tops) else None
        return _Choice(text[:end], True, tokens, probs)

    def _judge_prompts(self, prompts: list[str]) -> list[Judgement]:
        read = [self._read_choice(c)
                for c in self._complete_graded(prompts, self.max_new_tokens)]
        missing = [i for i, r in enumerate(read) if r.grade_probs is None]
        forced: dict[int, dict[Grade, float]] = {}
        if missing:
            # Marker forced or no token after it: one token of prompt + CoT + `Grade:`.
            extra = self._complete_graded([prompts[i] + read[i].cot for i in missing], 1)
            for i, choice in zip(missing, extra, strict=True):
                tops = (choice.get("logprobs") or {}).get("top_logprobs") or [None]
                probs = self._probs_at(tops[0])
                if probs is None:
                    raise OpenAIBackendError(
                        f"no grade log-probs at the grade position: {choice!r:.300}")
                forced[i] = probs
        return [Judgement(cot=r.cot, grade_probs=r.grade_probs or forced[i],
                          marker_found=r.marker_found, new_tokens=r.tokens)
                for i, r in enumerate(read)]

    def judge(self, pairs: Sequence[tuple[str, CatalogItem]]) -> list[Judgement]:
        # Same query → same prompt prefix: sending them together lets the prefix cache hit.
        order = sorted(range(len(pairs)), key=lambda i: pairs[i][0])
        prompts = [self.prompt(*pairs[i]) for i in order]
        chunks = [prompts[s:s + self.chunk] for s in range(0, len(prompts), self.chunk)]
        if len(chunks) <= 1:
            results = [self._judge_prompts(c) for c in chunks]
        else:
            with ThreadPoolExecutor(min(self.concurrency, len(chunks))) as pool:
                results = list(pool.map(self._judge_prompts, chunks))
        flat = [j for chunk in results for j in chunk]
        out: list[Judgement | None] = [None] * len(pairs)
        for i, judgement in zip(order, flat, strict=True):
            out[i] = judgement
        return out  # type: ignore[return-value]

    def health(self) -> dict[str, Any]:
        try:
            response = self.client.get("/models")
            return {"ok": response.status_code == 200, "backend": "openai",
                    "url": str(self.client.base_url), "model": self.model,
                    "grades": "exact token ids" if self.exact_grades else "top-20"}
        except Exception as exc:  # any transport failure means "not healthy", with the reason
            return {"ok": False, "backend": "openai", "error": f"{type(exc).__name__}: {exc}"}

