"""The `vllm` backend: vLLM in-process on a GPU (optional extra `relstream[gpu]`).

Same two steps as the other backends: generation with `stop=["Grade:"]`, then one token
of prompt + CoT + `Grade:` with `logprobs=20` for the grade read-out. `vllm` is imported
only when this backend is built; tests skip it where vLLM is not installed (it pins its
own torch and lives in a separate GPU environment). Untested on these CPU machines.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from relstream.core.cot import GRADE_MARKER
from relstream.core.schemas import CatalogItem, TeacherInfo
from teacher_worker.backends.protocol import BackendBase, Judgement
from teacher_worker.errors import TeacherWorkerError
from teacher_worker.grade_readout import probs_from_logprobs
from teacher_worker.prompt import build_prompt, cut_at_marker

if TYPE_CHECKING:
    from teacher_worker.settings import TeacherSettings


class VllmBackend(BackendBase):
    """ELLM-rele on vLLM's offline `LLM` engine."""

    def __init__(self, model_dir: str, *, max_new_tokens: int = 160, version: str = "0",
                 **engine_args: Any) -> None:
        try:
            from vllm import LLM, SamplingParams
        except ImportError as exc:
            raise TeacherWorkerError(
                "the vllm backend needs vLLM (`pip install relstream[gpu]` in a GPU "
                "environment); use RELSTREAM_TEACHER_BACKEND=transformers otherwise") from exc
        self._sampling = SamplingParams
        self.llm = LLM(model=str(model_dir), **engine_args)
        self.tokenizer = self.llm.get_tokenizer()
        self.max_new_tokens = max_new_tokens
        self.info = TeacherInfo(model=str(model_dir).rstrip("/").split("/")[-1], version=version)

    @classmethod
    def from_settings(cls, settings: TeacherSettings) -> VllmBackend:
        return cls(str(settings.model_dir()), max_new_tokens=settings.teacher_max_new_tokens,
                   version=settings.teacher_model_version)

    def judge(self, pairs: Sequence[tuple[str, CatalogItem]]) -> list[Judgement]:
        prompts = [build_prompt(self.tokenizer, q, item) for q, item in pairs]
        gen = self.llm.generate(prompts, self._sampling(
            temperature=0.0, max_tokens=self.max_new_tokens, stop=[GRADE_MARKER],
            include_stop_str_in_output=True))
        cots, found, tokens = [], [], []
        for out in gen:
            completion = out.outputs[0]
            cot, ok = cut_at_marker(completion.text)
            cots.append(cot)
            found.append(ok)
            tokens.append(len(completion.token_ids))
        grade = self.llm.generate([p + c for p, c in zip(prompts, cots, strict=True)],
                                  self._sampling(temperature=0.0, max_tokens=1, logprobs=20))
        out_list = []
        for cot, ok, n, out in zip(cots, found, tokens, grade, strict=True):
            top = out.outputs[0].logprobs[0]
            logprobs = {lp.decoded_token or "": lp.logprob for lp in top.values()}
            out_list.append(Judgement(cot=cot, grade_probs=probs_from_logprobs(logprobs),  # type: ignore[arg-type]
                                      marker_found=ok, new_tokens=n))
        return out_list

    def health(self) -> dict[str, Any]:
        return {"ok": True, "backend": "vllm", "model": self.info.model}
