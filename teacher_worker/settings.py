"""Settings of the teacher (worker, backends, vLLM server, CLI), read once from `RELSTREAM_*`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr

from relstream.core.settings import CommonSettings
from teacher_worker.model_files import teacher_dir


class TeacherSettings(CommonSettings):
    """Teacher configuration; each field is `RELSTREAM_<FIELD>` (`RELSTREAM_TEACHER_BACKEND`)."""

    teacher_backend: Literal["openai", "transformers", "vllm", "lexical"] = Field(
        "openai", description="Which backend labels pairs: `openai` = an OpenAI-compatible "
        "server, by default the local vLLM server of `relstream teacher serve`; "
        "`transformers` = in-process HF generate (slow; the benchmark's baseline); `vllm` = "
        "vLLM's offline engine in-process (needs vllm importable); `lexical` = the "
        "word-overlap baseline teacher, not an LLM."
    )
    teacher_model_dir: Path | None = Field(
        None, description="The teacher model directory (also the tokenizer for the prompt); "
        "empty means the shipped ELLM-rele built by `relstream teacher build` into "
        "<cache_dir>/models/ellm-rele-world7-<sha12>."
    )
    teacher_model_version: str = Field("0", description="Version reported in every label.")
    teacher_calibration: Literal["auto", "off"] = Field(
        "auto", description="`auto`: apply the calibration shipped with the model "
        "(`calibration.json` in the model dir, or beside the adapter it was built from, when "
        "fitted for those weights) to every label's grade distribution; `off`: the raw "
        "read-out. See `teacher_worker.calibration`."
    )
    teacher_device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="Where the transformers backend and the vLLM server run; auto "
        "picks CUDA if present."
    )
    teacher_max_new_tokens: int = Field(
        160, ge=1, description="Generation cap per pair; the grade marker is forced after it."
    )
    teacher_gen_batch: int = Field(8, ge=1, description="Pairs per generate() call.")
    teacher_batch_max: int = Field(
        128, ge=1, description="Requests the worker takes per poll. vLLM on 2 cores is fastest "
        "with ~128 sequences in flight, so a batch should fill it."
    )
    teacher_batch_wait_ms: int = Field(
        1000, ge=1, description="How long the worker waits to fill a batch before labelling."
    )
    teacher_group_id: str = Field("teacher-workers", description="Kafka consumer group.")
    teacher_threads: int = Field(0, ge=0, description="torch CPU threads; 0 = torch default.")
    teacher_retry_max_s: float = Field(
        30.0, gt=0, description="Longest wait between two tries while the teacher's server "
        "is unreachable (the worker keeps trying until it is back or the worker is stopped)."
    )
    teacher_openai_url: str = Field(
        "http://127.0.0.1:8000/v1", description="Base URL of an OpenAI-compatible server."
    )
    teacher_openai_model: str = Field("ellm-rele", description="Model name sent to the server.")
    teacher_openai_api_key: SecretStr = Field(
        SecretStr(""), description="Bearer token for the server, if any (never logged)."
    )
    teacher_openai_timeout_s: float = Field(300.0, gt=0, description="HTTP timeout per call.")
    teacher_openai_concurrency: int = Field(
        8, ge=1, description="Completions calls in flight at once (each carries a chunk of "
        "prompts), so the server batches many sequences."
    )
    teacher_openai_chunk: int = Field(16, ge=1, description="Prompts per completions call.")
    teacher_metrics_table: str = Field(
        "teacher_metrics", description="ClickHouse table the worker writes its metrics to."
    )
    teacher_cache_path: Path | None = Field(
        None, description="SQLite label cache; empty means <state_dir>/teacher/label-cache.sqlite."
    )
    # --- the vLLM server (`relstream teacher serve`, started by `relstream stack up`)
    vllm_python: Path | None = Field(
        None, description="Python of the virtualenv that has vLLM (./dev sets it to "
        "~/.cache/relstream/vllm-<hash>/bin/python); empty means this interpreter."
    )
    vllm_host: str = Field("127.0.0.1", description="Address the vLLM server listens on.")
    vllm_port: int = Field(8000, ge=1, le=65535, description="Port of the vLLM server.")
    vllm_dtype: Literal["native", "bfloat16", "float32", "float16", "auto"] = Field(
        "native", description="Weights and compute dtype. `native` (default): bfloat16 where "
        "the hardware computes it (a GPU with bf16, a CPU with AVX512-BF16 or AMX: ~2x fp32), "
        "float32 elsewhere (an AVX2-only CPU emulates bf16: >10x slower than fp32 measured); "
        "`auto` is vLLM's own choice (the model's bf16)."
    )
    vllm_kv_cache_gb: int = Field(
        2, ge=1, description="CPU KV cache in whole GiB (VLLM_CPU_KVCACHE_SPACE); GPU hosts "
        "size it from --gpu-memory-utilization instead."
    )
    vllm_cpus: str = Field(
        "", description="CPU cores for vLLM's OpenMP threads, e.g. `1` or `0-3` (one thread "
        "per core); empty means every core this process may use. The demo gives it one core "
        "of two: its threads wait for each other at every step, and a thread preempted by "
        "another process stalls them all."
    )
    vllm_max_num_seqs: int = Field(
        128, ge=1, description="Sequences vLLM decodes together (128 was fastest on 2 cores; "
        "256 was slower)."
    )
    vllm_block_size: int | None = Field(
        None, description="KV block size; empty means 32 on CPU (prefix caching reuses whole "
        "blocks, and vLLM's CPU default of 128 is larger than the shared prompt prefix) and "
        "vLLM's default on GPU."
    )
    vllm_enforce_eager: bool = Field(
        False, description="Skip torch.compile (starts in ~30 s instead of ~90 s, ~25% slower); "
        "tests use it with tiny models."
    )
    vllm_prefix_caching: bool = Field(
        True, description="Reuse the KV cache of shared prompt prefixes (the system prompt and "
        "the query come before the item)."
    )
    vllm_max_model_len: int = Field(2048, ge=256, description="Longest prompt + answer.")
    vllm_ready_timeout_s: float = Field(
        600.0, gt=0, description="How long `stack up` waits for the vLLM server to answer."
    )

    @property
    def backend(self) -> str:
        return self.teacher_backend

    def model_dir(self) -> Path:
        return self.teacher_model_dir or teacher_dir(self.cache_dir)

    def cache_path(self) -> Path:
        return self.teacher_cache_path or self.state_dir / "teacher" / "label-cache.sqlite"
