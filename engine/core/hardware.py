"""What this machine's processor can do fast, asked of the CPU itself (never assumed).

Machines differ from day to day (a cloud VM with AMX today, an older Xeon or a laptop tomorrow), so every choice
that depends on the hardware (may bf16 be offered, is it worth it) reads this probe. bf16 on a CPU is fast only
with bf16 matrix units: Intel AMX (`amx_bf16`), AVX-512 BF16 (`avx512_bf16`) or Arm's BF16 extension (`bf16`);
without them torch emulates bf16 and a forward pass is several times *slower* than fp32.

The flags come from torch's own CPU detection (`torch.cpu.get_capabilities`, what its kernels dispatch on) when
torch is importable and has it, else from /proc/cpuinfo. oneDNN (`torch.backends.mkldnn`) must be there too: it
is the library whose kernels use the bf16 units.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache

BF16_UNITS = ("amx_bf16", "avx512_bf16", "bf16")  # strongest first; "bf16" is Arm's (asimd BF16 / SVE BF16)


@dataclass(frozen=True)
class CpuInfo:
    cores: int
    flags: frozenset[str] = field(default_factory=frozenset)
    source: str = "none"  # "torch" | "/proc/cpuinfo" | "none"
    onednn: bool = False

    @property
    def bf16_units(self) -> tuple[str, ...]:
        """The bf16 units this CPU has, strongest first (empty: none)."""
        return tuple(u for u in BF16_UNITS if u in self.flags)

    @property
    def bf16_fast(self) -> bool:
        """bf16 matmuls run on bf16 units here (through oneDNN), so bf16 can be faster than fp32."""
        return bool(self.bf16_units) and self.onednn

    def describe(self) -> str:
        """One line for logs and benches: cores, the bf16 units and whether torch can use them."""
        units = ", ".join(self.bf16_units) or "no bf16 units"
        how = "" if self.onednn or not self.bf16_units else " (torch has no oneDNN: not used)"
        return f"{self.cores} CPU cores, {units}{how} (flags from {self.source})"


def parse_cpuinfo_flags(text: str) -> frozenset[str]:
    """The feature flags of /proc/cpuinfo text ('flags' on x86, 'Features' on Arm), of its first processor."""
    for line in text.split("\n"):
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            return frozenset(value.split())
    return frozenset()


def _torch_flags() -> frozenset[str] | None:
    try:
        import torch
    except ImportError:
        return None
    caps = getattr(torch.cpu, "get_capabilities", None)
    if caps is None:
        return None
    try:
        d = caps()
    except Exception:  # noqa: BLE001 - an old or odd build: fall back to /proc/cpuinfo
        return None
    return frozenset(k for k, v in d.items() if v is True)


def _onednn() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.backends.mkldnn.is_available())


@lru_cache(maxsize=1)
def cpu_info() -> CpuInfo:
    """This machine's CPU (cached for the process)."""
    cores = cpu_info_cores()
    flags = _torch_flags()
    source = "torch"
    if flags is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
                flags = parse_cpuinfo_flags(f.read())
            source = "/proc/cpuinfo"
        except OSError:
            flags, source = frozenset(), "none"
    return CpuInfo(cores, flags, source, _onednn())


def bf16_fast(device: str) -> bool:
    """bf16 runs on bf16 hardware on `device` ("cpu", "cuda", "cuda:1"): a CUDA GPU that supports it, or a CPU
    with bf16 units (see CpuInfo.bf16_fast)."""
    if device.startswith("cuda"):
        import torch

        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if device == "cpu":
        return cpu_info().bf16_fast
    return False


def bf16_note(device: str) -> str | None:
    """A warning to show when bf16 is asked for on a device without bf16 units (None when it has them)."""
    if bf16_fast(device):
        return None
    if device == "cpu":
        return (
            f"this CPU has no bf16 units ({cpu_info().describe()}): bf16 is emulated and runs several times slower "
            "than fp32 here"
        )
    return f"{device} has no fast bf16: it may run slower than fp32"


def busy_cpu() -> bool:
    """The CPU is oversubscribed: the 1-minute load average is at least the cores this process may use."""
    try:
        return os.getloadavg()[0] >= cpu_info_cores()
    except (OSError, AttributeError):
        return False


def cpu_info_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def set_omp_wait_policy() -> str:
    """Choose how torch's OpenMP threads wait between parallel regions, for this process and its children; call it
    before torch is imported (it reads the setting once, when it loads). Returns the policy in force.

    By default an idle OpenMP thread spins for a while. On a busy CPU (more runnable processes than cores) that is
    the worst case: a thread spins on a core while the thread it waits for has none, and each of the thousands of
    small operations of a forward pass ends in such a wait. Measured on a 2-core machine at load 4-7 (IFD on
    SmolLM2, 2 threads): 0.13-0.23 samples/s spinning, 0.40-0.68 with PASSIVE (like 1 thread: 0.73). So when the
    CPU is busy at start and nobody chose a policy (OMP_WAIT_POLICY unset), PASSIVE is set; on a quiet CPU nothing
    changes. torch already imported: nothing can change ("unchanged (torch loaded)")."""
    import sys

    if os.environ.get("OMP_WAIT_POLICY"):
        return os.environ["OMP_WAIT_POLICY"]
    if "torch" in sys.modules:
        return "unchanged (torch loaded)"
    if busy_cpu():
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
        return "PASSIVE (busy CPU)"
    return "default"
