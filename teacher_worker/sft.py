"""LoRA supervised fine-tuning of a causal LM on CoT data (`relstream teacher sft`).

Loss on the answer tokens only. Checkpoints (adapter, optimiser, scheduler, step, RNG and
the config) go to `<out>/checkpoints/step-N`; a rerun with the same `out` resumes from the
newest. At the end the adapter is merged into the base weights and saved with the
tokenizer as a plain transformers model in `out`, which every backend loads.
"""

from __future__ import annotations

import json
import logging
import math
import random
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from teacher_worker.errors import TeacherWorkerError
from teacher_worker.sft_data import SftExample, collate

log = logging.getLogger(__name__)

TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass
class SftConfig:
    """Hyperparameters of one SFT run (stored in every checkpoint and in the output)."""

    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: tuple[str, ...] = TARGETS
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 8
    max_steps: int = 100
    warmup_steps: int = 5
    max_length: int = 512
    save_every: int = 20
    time_budget_s: float | None = None
    # bfloat16 autocast: on CPUs with AMX/AVX512-BF16 (these machines) a step is several
    # times faster than fp32; the LoRA weights and optimiser state stay fp32.
    bf16: bool = False
    # Loss weight of the decision tokens (check statuses, grade); see `sft_data`.
    decision_weight: float = 1.0
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.lora_r < 1 or self.lora_alpha < 1:
            raise TeacherWorkerError(
                f"lora_r={self.lora_r}, lora_alpha={self.lora_alpha}: need >= 1")
        if not 0 <= self.lora_dropout < 1:
            raise TeacherWorkerError(f"lora_dropout={self.lora_dropout}: expected 0 <= p < 1")
        if not self.lr > 0 or self.batch_size < 1 or self.max_steps < 1:
            raise TeacherWorkerError(
                f"lr={self.lr}, batch_size={self.batch_size}, max_steps={self.max_steps}: "
                "need lr > 0 and at least one example and one step")
        if not self.decision_weight > 0:
            raise TeacherWorkerError(f"decision_weight={self.decision_weight}: need > 0")
        if self.save_every < 1 or self.warmup_steps < 0 or self.max_length < 16:
            raise TeacherWorkerError(
                f"save_every={self.save_every}, warmup_steps={self.warmup_steps}, "
                f"max_length={self.max_length}: expected >= 1, >= 0, >= 16")
        self.target_modules = tuple(self.target_modules)


def _lr_factor(step: int, config: SftConfig) -> float:
    """Linear warm-up, then cosine decay to 10% over `max_steps`."""
    if step < config.warmup_steps:
        return (step + 1) / (config.warmup_steps + 1)
    span = max(1, config.max_steps - config.warmup_steps)
    progress = min(1.0, (step - config.warmup_steps) / span)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))


def weighted_token_loss(logits: Any, labels: Any, weights: Any) -> Any:
    """Σ w·CE / Σ w over next-token predictions (labels and weights shifted by one)."""
    import torch

    logits = logits[:, :-1].float()
    labels = labels[:, 1:]
    weights = weights[:, 1:] * (labels != -100)
    ce = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.size(-1)), labels.reshape(-1), ignore_index=-100,
        reduction="none")
    return (ce * weights.reshape(-1)).sum() / weights.sum().clamp_min(1e-8)


def _loss(model: Any, batch: dict[str, Any]) -> Any:
    """The model's own token-mean loss, or the weighted one when the batch has weights."""
    if "weights" not in batch:
        return model(**batch).loss
    weights = batch.pop("weights")
    labels = batch.pop("labels")
    return weighted_token_loss(model(**batch).logits, labels, weights)


def read_state(path: Path, device: str = "cpu") -> dict[str, Any]:
    """The optimiser/scheduler/RNG state of an SFT checkpoint, read without running pickled
    code (`weights_only=True`: tensors and plain containers only, which is all it holds)."""
    import pickle

    import torch

    try:
        state = torch.load(path, weights_only=True, map_location=device)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:
        raise TeacherWorkerError(f"cannot read SFT checkpoint state {path}: {exc}") from exc
    if not isinstance(state, dict):
        raise TeacherWorkerError(f"{path} is not an SFT checkpoint state (a dict)")
    return state


def _latest_checkpoint(out: Path) -> Path | None:
    ckpts = sorted((out / "checkpoints").glob("step-*"), key=lambda p: int(p.name.split("-")[1]))
    complete = [p for p in ckpts if (p / "state.pt").is_file()]
    return complete[-1] if complete else None


def _save_checkpoint(model: Any, optimizer: Any, scheduler: Any, step: int, rng: random.Random,
                     config: SftConfig, out: Path) -> Path:
    import torch

    final = out / "checkpoints" / f"step-{step}"
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    torch.save({"step": step, "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "rng": rng.getstate(),
                "torch_rng": torch.get_rng_state(), "config": asdict(config)}, tmp / "state.pt")
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    # Keep the two newest: enough to survive a crash during a save.
    for old in sorted((out / "checkpoints").glob("step-*"),
                      key=lambda p: int(p.name.split("-")[1]))[:-2]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def train_sft(
    base_dir: Path, examples: list[SftExample], out: Path, config: SftConfig, *,
    progress: bool = True, threads: int = 0, device: str = "auto",
) -> dict[str, Any]:
    """Fine-tune `base_dir` with LoRA on `examples`, merge, save to `out`; return a summary."""
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model
    from tqdm import tqdm
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not examples:
        raise TeacherWorkerError("no SFT examples: is the annotation file empty for this split?")
    if threads:
        torch.set_num_threads(threads)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    # sdpa, not the eager attention the CPU *generation* path prefers: eager keeps every
    # attention matrix for the backward pass, and at 16 x 512 tokens a CPU run grew past
    # 24 GiB and was OOM-killed here; sdpa measured 10.9 GiB peak and 15.6 s per bf16 step.
    base = AutoModelForCausalLM.from_pretrained(
        base_dir, dtype=torch.float32, attn_implementation="sdpa").to(device)  # type: ignore[arg-type]
    resume = _latest_checkpoint(out)
    if resume is not None:
        model = PeftModel.from_pretrained(base, resume, is_trainable=True)
    else:
        model = get_peft_model(base, LoraConfig(
            r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
            target_modules=list(config.target_modules), task_type="CAUSAL_LM"))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: _lr_factor(s, config))
    rng = random.Random(config.seed)
    step = 0
    if resume is not None:
        state = read_state(resume / "state.pt", device)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        rng.setstate(state["rng"])
        torch.set_rng_state(state["torch_rng"].cpu())
        step = int(state["step"])
        log.info("resuming SFT from %s (step %d)", resume, step)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    order: list[int] = []
    losses: list[float] = []
    t0 = time.monotonic()
    model.train()
    bar = tqdm(total=config.max_steps, initial=step, desc="sft", disable=not progress)
    while step < config.max_steps:
        if config.time_budget_s is not None and time.monotonic() - t0 > config.time_budget_s:
            log.info("time budget of %.0fs reached at step %d", config.time_budget_s, step)
            break
        # Epochs are reshuffled from the saved RNG, so a resumed run sees the same order.
        while len(order) < config.batch_size:
            epoch = list(range(len(examples)))
            rng.shuffle(epoch)
            order.extend(epoch)
        batch = {k: v.to(device) for k, v in
                 collate([examples[i] for i in order[: config.batch_size]], pad_id).items()}
        del order[: config.batch_size]
        with torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16,
                            enabled=config.bf16):
            loss = _loss(model, batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        losses.append(loss.item())
        bar.update(1)
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
        if step % config.save_every == 0:
            _save_checkpoint(model, optimizer, scheduler, step, rng, config, out)
    bar.close()
    _save_checkpoint(model, optimizer, scheduler, step, rng, config, out)
    merged = model.merge_and_unload().to("cpu")
    merged.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    summary = {"device": device, "steps": step, "examples": len(examples),
               "seconds": time.monotonic() - t0,
               "first_losses": losses[:5], "last_losses": losses[-5:],
               "config": asdict(config), "base": str(base_dir)}
    (out / "sft_summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def merge_adapter(base_dir: Path, adapter_dir: Path, out: Path) -> Path:
    """Merge a saved LoRA adapter into its base model and save a plain model to `out`.

    For adapters trained elsewhere (e.g. on a GPU machine) and copied back: the adapter is
    small, the merged model is not.
    """
    from teacher_worker.model_files import merge_lora

    return merge_lora(base_dir, adapter_dir, out)
