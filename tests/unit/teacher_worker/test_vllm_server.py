"""The vLLM server's command line and environment, as `teacher serve` and `stack up` run it.

(The server itself runs in tests/integration/test_teacher_vllm.py and test_stack_cli.py.)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from teacher_worker.settings import TeacherSettings
from teacher_worker.vllm_server import VllmServerError, server_argv, server_env


def _settings(tmp_path: Path, **extra: object) -> TeacherSettings:
    model = tmp_path / "model"
    model.mkdir(exist_ok=True)
    (model / "config.json").write_text("{}")
    fields: dict[str, object] = {"vllm_python": Path(sys.executable), **extra}
    return TeacherSettings(cache_dir=tmp_path, teacher_model_dir=model,
                           **fields)  # type: ignore[arg-type]


def test_cpu_gets_32_token_blocks_and_every_core(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    argv = server_argv(settings, on_gpu=False)
    assert argv[1:3] == ["-m", "vllm.entrypoints.openai.api_server"]
    assert argv[argv.index("--block-size") + 1] == "32"
    assert "--enable-prefix-caching" in argv and "--enforce-eager" not in argv
    assert argv[argv.index("--host") + 1] == "127.0.0.1"
    env = server_env(settings, {"OMP_NUM_THREADS": "1"}, on_gpu=False)
    cores = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
    assert env["VLLM_CPU_OMP_THREADS_BIND"] == cores
    assert env["VLLM_CPU_NUM_OF_RESERVED_CPU"] == "0" and env["HF_HUB_OFFLINE"] == "1"
    assert "OMP_NUM_THREADS" not in env  # ours must not cap vLLM's threads


def test_gpu_keeps_vllm_defaults_and_the_key_stays_out_of_argv(tmp_path: Path) -> None:
    settings = _settings(tmp_path, vllm_cpus="1", vllm_prefix_caching=False,
                         teacher_openai_api_key=SecretStr("s3cret"))
    argv = server_argv(settings, on_gpu=True)
    assert "--block-size" not in argv and "--no-enable-prefix-caching" in argv
    assert "s3cret" not in " ".join(argv)
    assert server_env(settings, {}, on_gpu=True)["VLLM_API_KEY"] == "s3cret"
    assert server_env(settings, {}, on_gpu=False)["VLLM_CPU_OMP_THREADS_BIND"] == "1"


def test_missing_model_or_python_is_a_clear_error(tmp_path: Path) -> None:
    settings = TeacherSettings(cache_dir=tmp_path, teacher_model_dir=tmp_path / "none",
                               vllm_python=Path(sys.executable))
    with pytest.raises(VllmServerError, match="relstream teacher build"):
        server_argv(settings, on_gpu=False)
    with pytest.raises(VllmServerError, match="vllm-venv"):
        server_argv(_settings(tmp_path, vllm_python=tmp_path / "no-python"), on_gpu=False)


def test_native_dtype_is_bf16_only_where_the_hardware_has_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An AVX2-only CPU emulates bf16 (>10x slower than fp32 measured): `native` picks fp32
    there, bf16 on CPUs with bf16 instructions and on GPUs; an explicit dtype is kept."""
    from teacher_worker import vllm_server
    from teacher_worker.hardware import cpu_has_native_bf16

    assert cpu_has_native_bf16("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f\n") is False
    assert cpu_has_native_bf16("flags\t\t: fpu avx2 avx512f avx512_bf16 amx_tile\n") is True
    assert cpu_has_native_bf16("Features\t: fp asimd sve bf16 i8mm\n") is True
    assert cpu_has_native_bf16("") is False

    def dtype(settings: TeacherSettings, on_gpu: bool) -> str:
        argv = server_argv(settings, on_gpu=on_gpu)
        return argv[argv.index("--dtype") + 1]

    settings = _settings(tmp_path)
    assert settings.vllm_dtype == "native"
    monkeypatch.setattr(vllm_server, "cpu_has_native_bf16", lambda: False)
    assert dtype(settings, on_gpu=False) == "float32"
    assert dtype(settings, on_gpu=True) == "bfloat16"
    assert dtype(_settings(tmp_path, vllm_dtype="bfloat16"), on_gpu=False) == "bfloat16"
    monkeypatch.setattr(vllm_server, "cpu_has_native_bf16", lambda: True)
    assert dtype(settings, on_gpu=False) == "bfloat16"
