"""The `openai` backend: any OpenAI-compatible `/v1/completions` endpoint with logprobs.

Two calls per pair batch, as with transformers: (1) a completion of the prompts that stops
at `Grade:` (`stop` strings are not returned, so the marker is appended back); (2) a
one-token completion of prompt + CoT + `Grade:` with `logprobs`, whose `top_logprobs` at
that position give the grade distribution (grades outside the top-k get a floor; vLLM caps
`top_logprobs` at 20, which is plenty for four grade tokens that the model puts on top).
No guided-decoding fields are sent: their names changed across vLLM versions
(`guided_choice` → `structured_outputs`), and the read-out needs none.
The prompt is the chat-templated one when `chat_template` is set (a local tokenizer dir),
else a plain-text prompt.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streams.cot import GRADE_MARKER
from streams.schemas import CatalogItem, TeacherInfo
from teacher_worker.backends.protocol import BackendBase, Judgement
from teacher_worker.errors import TeacherWorkerError
from teacher_worker.grade_readout import probs_from_logprobs
from teacher_worker.prompt import build_plain_prompt, build_prompt, cut_at_marker

if TYPE_CHECKING:
    from teacher_worker.settings import TeacherSettings

TOP_LOGPROBS = 20
"""vLLM's server refuses more than 20 (its `max_logprobs` default)."""


class OpenAIBackendError(TeacherWorkerError):
    """The completions server failed or answered in an unexpected shape."""


class OpenAIBackend(BackendBase):
    """ELLM-rele behind an OpenAI-compatible completions server (e.g. vLLM's)."""

    def __init__(
        self, base_url: str, model: str, *, api_key: str = "", max_new_tokens: int = 160,
        timeout_s: float = 120.0, tokenizer_dir: Path | None = None, version: str = "0",
        temperature: float = 0.0, client: Any = None,
    ) -> None:
        import httpx

        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = client or httpx.Client(base_url=base_url.rstrip("/"), headers=headers,
                                             timeout=timeout_s)
        self.model = model
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.tokenizer = None
        if tokenizer_dir is not None and (Path(tokenizer_dir) / "tokenizer.json").is_file():
            from transformers import AutoTokenizer

            self.tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
        self.info = TeacherInfo(model=model, version=version)

    @classmethod
    def from_settings(cls, settings: TeacherSettings) -> OpenAIBackend:
        return cls(settings.teacher_openai_url, settings.teacher_openai_model,
                   api_key=settings.teacher_openai_api_key,
                   max_new_tokens=settings.teacher_max_new_tokens,
                   timeout_s=settings.teacher_openai_timeout_s,
                   tokenizer_dir=settings.model_dir(), version=settings.teacher_model_version)

    def prompt(self, query: str, item: CatalogItem) -> str:
        if self.tokenizer is not None:
            return build_prompt(self.tokenizer, query, item)
        return build_plain_prompt(query, item)

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        import httpx

        try:
            response = self.client.post("/completions", json=body)
            response.raise_for_status()
            return response.json()  # type: ignore[no-any-return]
        except httpx.HTTPError as exc:
            raise OpenAIBackendError(f"completions call to {self.client.base_url} failed: "
                                     f"{exc}") from exc

    def complete(self, prompts: list[str], *, max_tokens: int, stop: list[str] | None = None,
                 logprobs: int | None = None, n: int = 1, temperature: float | None = None,
                 ) -> list[dict[str, Any]]:
        """Raw `choices` of one batched completions call, ordered by prompt (then sample)."""
        body: dict[str, Any] = {"model": self.model, "prompt": prompts, "max_tokens": max_tokens,
                                "temperature": self.temperature if temperature is None
                                else temperature, "n": n}
        if stop:
            body["stop"] = stop
        if logprobs is not None:
            body["logprobs"] = logprobs
        choices = self._post(body).get("choices")
        if not isinstance(choices, list) or len(choices) != len(prompts) * n:
            raise OpenAIBackendError(f"expected {len(prompts) * n} choices, got "
                                     f"{len(choices) if isinstance(choices, list) else choices!r}")
        return sorted(choices, key=lambda c: c.get("index", 0))

    def judge(self, pairs: Sequence[tuple[str, CatalogItem]]) -> list[Judgement]:
        prompts = [self.prompt(q, item) for q, item in pairs]
        first = self.complete(prompts, max_tokens=self.max_new_tokens, stop=[GRADE_MARKER])
        cots, found, tokens = [], [], []
        for choice in first:
            text = choice.get("text", "")
            # The server drops the stop string. vLLM names the one that matched in
            # `stop_reason`; servers without that field end on "stop" for it or for EOS.
            stop_reason = choice.get("stop_reason", "absent")
            reached = GRADE_MARKER not in text and (
                stop_reason == GRADE_MARKER
                or (stop_reason == "absent" and choice.get("finish_reason") == "stop"))
            cot, ok = cut_at_marker(text + GRADE_MARKER if reached else text)
            cots.append(cot)
            found.append(ok)
            # Usage is reported per request, not per choice: count words as an estimate.
            tokens.append(len(text.split()))
        second = self.complete([p + c for p, c in zip(prompts, cots, strict=True)],
                               max_tokens=1, logprobs=TOP_LOGPROBS)
        out = []
        for cot, ok, n, choice in zip(cots, found, tokens, second, strict=True):
            top = ((choice.get("logprobs") or {}).get("top_logprobs") or [None])[0]
            if not isinstance(top, dict):
                raise OpenAIBackendError(f"no top_logprobs at the grade position: {choice!r:.300}")
            out.append(Judgement(cot=cot, grade_probs=probs_from_logprobs(top),  # type: ignore[arg-type]
                                 marker_found=ok, new_tokens=n))
        return out

    def health(self) -> dict[str, Any]:
        try:
            response = self.client.get("/models")
            return {"ok": response.status_code == 200, "backend": "openai",
                    "url": str(self.client.base_url), "model": self.model}
        except Exception as exc:  # any transport failure means "not healthy", with the reason
            return {"ok": False, "backend": "openai", "error": str(exc)}
