"""The profile summary of `relstream bench teacher --profile`: py-spy raw lines → shares."""

from __future__ import annotations

from pathlib import Path

from relstream.tools.bench.teacher_profile import summarise

ENGINE = 'process 9:"vllm serve";process 10:"VLLM::EngineCore"'


def test_summarise_buckets_processes_and_blocked_threads(tmp_path: Path) -> None:
    raw = tmp_path / "profile.raw"
    raw.write_text(
        f"{ENGINE};step (core.py:300);dnnl::impl::parallel;0x7f13fde1e02a (libgomp.so.1) 30\n"
        f"{ENGINE};forward (model.py:10);cpu_attention::AttentionMainLoop;_mm512_add_ps 20\n"
        f"{ENGINE};forward (model.py:10);brgemm_matmul_t;_mm512_fmadd_ps 40\n"
        'process 9:"vllm serve";handle (api.py:5);create_completion (serving.py:7) 10\n'
        f"{ENGINE};Event.wait (threading.py:629);PyThread_acquire_lock_timed (libpython) 55\n"
        "not a sample line\n",
        encoding="utf-8",
    )
    found = summarise(raw)
    assert found["samples"] == 100 and found["blocked_samples"] == 55
    # an OpenMP thread whose last known frame is libgomp: JIT GEMM code or a barrier wait
    assert found["by_bucket"] == {
        "GEMM (oneDNN brgemm matmul)": 0.4,
        "OpenMP worker threads: oneDNN's JIT GEMM code or barrier waits (no symbols)": 0.3,
        "attention kernel (cpu_attention)": 0.2,
        "Python (scheduler, API server, request handling)": 0.1}
    assert found["by_process"] == {'"VLLM::EngineCore"': 0.9, '"vllm serve"': 0.1}
    assert found["top_leaves"][0] == ["_mm512_fmadd_ps", 0.4]
