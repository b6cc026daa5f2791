"""Where the vLLM server's time goes while it labels: py-spy samples of every process.

`relstream bench teacher --profile S` starts the server as production runs it, labels the
bench's pairs and samples the API server, engine-core and worker processes for S seconds
with native frames (`py-spy record --subprocesses --native`; py-spy must be on PATH; native
frames need py-spy to pause the process at each sample, which slows it a little). Threads
blocked on a lock or socket are counted apart; the running ones are summarised by a few
named buckets (attention, GEMM, OpenMP, scheduler spin, Python), by process and by leaf
frame, so the README can say what bounds the labels/s.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections import Counter
from pathlib import Path
from typing import Any

BLOCKED = ("pythread_acquire_lock", "pthread_cond", "epoll", "poll (", "select (",
           "read (libc", "recv (", "nanosleep", "sem_wait")
"""Leaf frames of threads that are blocked, not running: py-spy samples them anyway."""

OMP_WAIT = ("libgomp", "libiomp", "gomp_", "kmp_")
"""Leaf frames of OpenMP worker threads: oneDNN's JIT-compiled GEMM kernels have no frames
py-spy can unwind, so their samples end in libgomp, as do barrier spins."""

BUCKETS = (  # (name, frame keys); the first bucket whose key is in any frame wins
    ("spin: vLLM worker waiting on the scheduler (shm queue)", ("spincondition",
                                                              "acquire_read")),
    ("attention kernel (cpu_attention)", ("cpu_attention", "cpu_attn", "paged_attention")),
    ("GEMM (oneDNN brgemm matmul)", ("dnnl", "brgemm", "gemm", "matmul", "mkl")),
    ("sampling / log-probs", ("sampler", "logprob", "sample (")),
    ("other torch ops (norms, rope, activations)", ("at::", "aten", "c10::", "torch::")),
)


def _bucket(frames: list[str]) -> str | None:
    """The bucket of one stack (leaf last); None for a blocked thread."""
    low = [f.lower() for f in frames]
    if any(k in low[-1] for k in BLOCKED) or any("pythread_acquire_lock" in f for f in low):
        return None
    if any(k in low[-1] for k in OMP_WAIT):  # JIT code has no frames: py-spy stops here
        return "OpenMP worker threads: oneDNN's JIT GEMM code or barrier waits (no symbols)"
    for name, keys in BUCKETS:
        if any(k in f for f in low for k in keys):
            return name
    if any(".py:" in f for f in low):
        return "Python (scheduler, API server, request handling)"
    return "other native"


def summarise(raw: Path, top: int = 12) -> dict[str, Any]:
    """Shares of running-thread samples by bucket, process and leaf frame, from py-spy's raw
    (collapsed) output; blocked threads are counted apart."""
    buckets: Counter[str] = Counter()
    processes: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    blocked = 0
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        # With --subprocesses a child's stack starts with its parents' "process …" frames.
        owner = [f for f in stack.split(";") if f.startswith("process ")]
        frames = [f for f in stack.split(";") if not f.startswith("process ")]
        if not frames:
            continue
        bucket = _bucket(frames)
        if bucket is None:
            blocked += int(count)
            continue
        buckets[bucket] += int(count)
        name = owner[-1].split(":", 1)[-1] if owner else "?"
        processes[name[:60]] += int(count)
        leaves[frames[-1][:120]] += int(count)
    total = sum(buckets.values()) or 1
    return {
        "samples": total,
        "blocked_samples": blocked,
        "by_bucket": {k: round(v / total, 3) for k, v in buckets.most_common()},
        "by_process": {k: round(v / total, 3) for k, v in processes.most_common(6)},
        "top_leaves": [[k, round(v / total, 3)] for k, v in leaves.most_common(top)],
    }


def profile_labelling(label: Any, server_pid: int, seconds: float, out: Path) -> dict[str, Any]:
    """Run `label()` in a thread and sample the server's processes for `seconds` meanwhile."""
    spy = shutil.which("py-spy")
    if spy is None:
        return {"skipped": "py-spy is not on PATH (pip install py-spy)"}
    work = threading.Thread(target=label, daemon=True)
    work.start()
    cmd = [spy, "record", "--pid", str(server_pid), "--subprocesses", "--native",
           "--rate", "50", "--duration", str(int(seconds)),
           "--format", "raw", "--output", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    work.join()
    if proc.returncode != 0 or not out.exists():
        return {"skipped": f"py-spy failed ({proc.returncode}): {proc.stderr[-500:]}"}
    return summarise(out)
