"""The transformers backend: batched greedy generation to `Grade:`, then the grade logits.

Prompts are left-padded so every row's next token sits at the same position, generation
uses the KV cache and stops a row at the grade marker (`stop_strings`) or `<|im_end|>`.
The grade logits of a row that stopped at the marker while others went on are the logits
generate produced at the next step (the row's last real token, ":", was the input there),
so they come for free; rows without such a step (the last to finish, or ones where the
marker had to be forced) get one extra batched forward pass over prompt + CoT.
On CPU the model runs with `attn_implementation="eager"` (about 5x faster than the default
for this model size on these machines).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from relstream.core.cot import GRADE_MARKER
from relstream.core.schemas import CatalogItem, Grade, TeacherInfo
from teacher_worker.backends.protocol import BackendBase, Judgement
from teacher_worker.errors import TeacherWorkerError
from teacher_worker.grade_readout import grade_token_ids, probs_from_grade_logits
from teacher_worker.prompt import build_prompt, cut_at_marker

if TYPE_CHECKING:
    from teacher_worker.settings import TeacherSettings

log = logging.getLogger(__name__)


class TransformersBackend(BackendBase):
    """ELLM-rele on transformers, CPU or CUDA."""

    def __init__(
        self, model_dir: Path, *, device: str = "auto", max_new_tokens: int = 128,
        gen_batch: int = 8, version: str = "0", threads: int = 0,
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if not (Path(model_dir) / "config.json").is_file():
            raise TeacherWorkerError(
                f"no transformers model in {model_dir} (config.json missing); run "
                "`relstream teacher convert` or point RELSTREAM_TEACHER_MODEL_DIR at an SFT output"
            )
        if threads:
            torch.set_num_threads(threads)
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = device
        self.model_dir = Path(model_dir)
        self.max_new_tokens = max_new_tokens
        self.gen_batch = gen_batch
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        dtype = torch.float32 if device == "cpu" else torch.bfloat16
        attn = "eager" if device == "cpu" else "sdpa"
        self.model = AutoModelForCausalLM.from_pretrained(
            model_dir, dtype=dtype, attn_implementation=attn
        ).to(device)  # type: ignore[arg-type]  # transformers types .to() too narrowly
        self.model.eval()
        self.grade_ids = grade_token_ids(self.tokenizer)
        self.info = TeacherInfo(model=self.model_dir.name, version=version)

    @classmethod
    def from_settings(cls, settings: TeacherSettings) -> TransformersBackend:
        return cls(
            settings.model_dir(), device=settings.teacher_device,
            max_new_tokens=settings.teacher_max_new_tokens, gen_batch=settings.teacher_gen_batch,
            version=settings.teacher_model_version, threads=settings.teacher_threads,
        )

    def health(self) -> dict[str, Any]:
        return {"ok": True, "backend": "transformers", "model": str(self.model_dir),
                "device": self.device}

    def judge(self, pairs: Sequence[tuple[str, CatalogItem]]) -> list[Judgement]:
        out: list[Judgement] = []
        for start in range(0, len(pairs), self.gen_batch):
            chunk = pairs[start : start + self.gen_batch]
            prompts = [build_prompt(self.tokenizer, q, item) for q, item in chunk]
            out.extend(self.judge_prompts(prompts))
        return out

    def judge_prompts(self, prompts: list[str]) -> list[Judgement]:
        """Generate and read grades for fully built prompts (one generate call)."""
        import torch

        tok = self.tokenizer
        enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        enc = {k: v.to(self.device) for k, v in enc.items()}
        width = enc["input_ids"].shape[1]
        with torch.inference_mode():
            gen = self.model.generate(
                **enc, max_new_tokens=self.max_new_tokens, do_sample=False,
                stop_strings=[GRADE_MARKER], tokenizer=tok, pad_token_id=tok.pad_token_id,
                eos_token_id=tok.eos_token_id, return_dict_in_generate=True,
                output_logits=True,
            )
        new = gen.sequences[:, width:]
        steps = len(gen.logits)
        cots: list[str] = []
        found: list[bool] = []
        n_tokens: list[int] = []
        probs: list[dict[Grade, float] | None] = []
        for row in range(new.shape[0]):
            ids = new[row].tolist()
            # Rows that stopped early are padded with pad (= eos) tokens: trim them.
            n = len(ids)
            while n and ids[n - 1] == tok.pad_token_id:
                n -= 1
            text = str(tok.decode(ids[:n], skip_special_tokens=True))
            cot, ok = cut_at_marker(text)
            cots.append(cot)
            found.append(ok)
            n_tokens.append(n)
            # Free logits: the row ended exactly on the marker and generate took a next step.
            if ok and text.rstrip().endswith(GRADE_MARKER) and n < steps:
                logits = gen.logits[n][row, self.grade_ids].float().tolist()
                probs.append(probs_from_grade_logits(logits))
            else:
                probs.append(None)
        missing = [i for i, p in enumerate(probs) if p is None]
        if missing:
            extra = self._grade_forward([prompts[i] + cots[i] for i in missing])
            for i, p in zip(missing, extra, strict=True):
                probs[i] = p
        return [
            Judgement(cot=c, grade_probs=p, marker_found=f, new_tokens=n)  # type: ignore[arg-type]
            for c, p, f, n in zip(cots, probs, found, n_tokens, strict=True)
        ]

    def _grade_forward(self, texts: list[str]) -> list[dict[Grade, float]]:
        """One batched forward pass; the grade distribution at each text's last position."""
        import torch

        enc = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        enc = {k: v.to(self.device) for k, v in enc.items()}
        with torch.inference_mode():
            logits = self.model(**enc, logits_to_keep=1).logits[:, -1, :]
        return [probs_from_grade_logits(row[self.grade_ids].float().tolist()) for row in logits]
