"""Settings of the teacher (worker, backends, CLI), read once from `RELSTREAM_*` variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from relstream.settings import CommonSettings
from teacher_worker.model_files import smollm2_dir


class TeacherSettings(CommonSettings):
    """Teacher configuration; each field is `RELSTREAM_<FIELD>` (`RELSTREAM_TEACHER_BACKEND`)."""

    teacher_backend: Literal["transformers", "vllm", "openai"] = Field(
        "transformers", description="Which backend labels pairs."
    )
    teacher_model_dir: Path | None = Field(
        None, description="A transformers model directory (e.g. the SFT output); empty means "
        "the converted SmolLM2 in <cache_dir>/models/smollm2-135m-instruct."
    )
    teacher_model_version: str = Field("0", description="Version reported in every label.")
    teacher_device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="Where the transformers backend runs; auto picks CUDA if present."
    )
    teacher_max_new_tokens: int = Field(
        160, ge=1, description="Generation cap per pair; the grade marker is forced after it."
    )
    teacher_gen_batch: int = Field(8, ge=1, description="Pairs per generate() call.")
    teacher_batch_max: int = Field(32, ge=1, description="Requests the worker takes per poll.")
    teacher_batch_wait_ms: int = Field(
        500, ge=1, description="How long the worker waits to fill a batch before labelling."
    )
    teacher_group_id: str = Field("teacher-workers", description="Kafka consumer group.")
    teacher_threads: int = Field(0, ge=0, description="torch CPU threads; 0 = torch default.")
    teacher_openai_url: str = Field(
        "http://127.0.0.1:8000/v1", description="Base URL of an OpenAI-compatible server."
    )
    teacher_openai_model: str = Field("ellm-rele", description="Model name sent to the server.")
    teacher_openai_api_key: str = Field("", description="Bearer token for the server, if any.")
    teacher_openai_timeout_s: float = Field(120.0, gt=0, description="HTTP timeout per call.")
    teacher_metrics_table: str = Field(
        "teacher_metrics", description="ClickHouse table the worker writes its metrics to."
    )
    teacher_cache_path: Path | None = Field(
        None, description="SQLite label cache; empty means <state_dir>/teacher/label-cache.sqlite."
    )

    @property
    def backend(self) -> str:
        return self.teacher_backend

    def model_dir(self) -> Path:
        return self.teacher_model_dir or smollm2_dir(self.cache_dir)

    def cache_path(self) -> Path:
        return self.teacher_cache_path or self.state_dir / "teacher" / "label-cache.sqlite"
