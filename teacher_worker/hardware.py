"""What this machine computes natively, for choosing a dtype.

bfloat16 halves memory traffic and, where the hardware has it (a CUDA GPU with bf16, a CPU
with AVX512-BF16 or AMX), roughly doubles throughput over float32. Where it does not (an
AVX2-only CPU), torch and vLLM emulate it and it is many times *slower* than float32:
measured on an AVX2-only AMD EPYC, the teacher on one core through vLLM labelled 64 pairs
in 70 s in fp32, and in bf16 finished none of them in 15 min (docs/teacher.md).

Two checks, for two consumers: `bf16_supported` asks torch (oneDNN) whether bf16 autocast
runs natively, for SFT in this process; `cpu_has_native_bf16` reads the CPU's instruction
flags for the vLLM server, a separate process whose bf16 kernels need those instructions,
without importing torch in the launcher (`stack status` stays fast).
"""

from __future__ import annotations

from pathlib import Path


def bf16_supported(device: str = "auto") -> bool:
    """Whether bfloat16 runs natively on `device` ("auto": CUDA if present)."""
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    # oneDNN's own check (False on the AVX2-only EPYC measured above).
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def cpu_has_native_bf16(cpuinfo: str | None = None) -> bool:
    """Whether this CPU has bfloat16 instructions (x86 `avx512_bf16`/`amx_bf16`, Arm
    `bf16`), read from /proc/cpuinfo without importing torch; False where it cannot tell."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return False
    for line in cpuinfo.splitlines():
        name, _, value = line.partition(":")
        if name.strip() in ("flags", "Features"):
            return bool({"avx512_bf16", "amx_bf16", "bf16"} & set(value.split()))
    return False
