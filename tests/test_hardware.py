"""The CPU capability probe (engine/core/hardware.py): flags parsed, bf16 units found, the same answer from torch's
detection and from /proc/cpuinfo on this machine."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.core.hardware import CpuInfo, bf16_fast, bf16_note, cpu_info, parse_cpuinfo_flags

X86 = """processor\t: 0
vendor_id\t: GenuineIntel
flags\t\t: fpu vme sse sse2 avx avx2 avx512f avx512_bf16 amx_bf16 amx_tile
bogomips\t: 5200.00

processor\t: 1
flags\t\t: fpu
"""
ARM = """processor\t: 0
BogoMIPS\t: 2100.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics bf16 i8mm sve
"""


def test_parse_cpuinfo_flags_x86_and_arm():
    x = parse_cpuinfo_flags(X86)
    assert {"avx512_bf16", "amx_bf16", "avx2"} <= x and "bogomips" not in x
    assert "fpu" in x and len(x) == 10  # the first processor's line only
    assert "bf16" in parse_cpuinfo_flags(ARM) and "sve" in parse_cpuinfo_flags(ARM)
    assert parse_cpuinfo_flags("model name : something\n") == frozenset()


def test_bf16_units_need_the_flags_and_onednn():
    amx = CpuInfo(2, parse_cpuinfo_flags(X86), "test", onednn=True)
    assert amx.bf16_units == ("amx_bf16", "avx512_bf16") and amx.bf16_fast
    assert "amx_bf16" in amx.describe()
    assert not CpuInfo(2, parse_cpuinfo_flags(X86), "test", onednn=False).bf16_fast
    old = CpuInfo(4, frozenset({"avx2", "avx512f"}), "test", onednn=True)
    assert old.bf16_units == () and not old.bf16_fast and "no bf16 units" in old.describe()
    assert CpuInfo(4, parse_cpuinfo_flags(ARM), "test", onednn=True).bf16_units == ("bf16",)


def test_probe_agrees_with_proc_cpuinfo():
    """Whatever this machine is, torch's detection and the kernel's flags name the same bf16 units."""
    info = cpu_info()
    assert info.cores >= 1
    proc = Path("/proc/cpuinfo")
    if not proc.is_file():
        pytest.skip("no /proc/cpuinfo here")
    flags = parse_cpuinfo_flags(proc.read_text(errors="replace"))
    if not flags:
        pytest.skip("/proc/cpuinfo has no flags line")
    if any(f.startswith("amx") or f.startswith("avx") for f in flags):  # x86: the names agree
        for unit in ("amx_bf16", "avx512_bf16"):
            assert (unit in info.flags) == (unit in flags), unit
    assert bf16_fast("cpu") == info.bf16_fast
    assert (bf16_note("cpu") is None) == info.bf16_fast
    assert bf16_fast("meta") is False


def _policy(load: float, env: dict | None = None, pre: str = "") -> str:
    import os
    import subprocess
    import sys

    code = (
        f"import os; os.getloadavg = lambda: ({load}, 0.0, 0.0); {pre}"
        "from engine.core.hardware import set_omp_wait_policy as s; print(s(), '|', os.environ.get('OMP_WAIT_POLICY'))"
    )
    e = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"} | (env or {})
    root = Path(__file__).resolve().parent.parent
    r = subprocess.run([sys.executable, "-c", code], env=e, cwd=root, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_omp_wait_policy_is_passive_only_on_a_busy_cpu_before_torch_loads():
    assert _policy(999.0) == "PASSIVE (busy CPU) | PASSIVE"
    assert _policy(0.0) == "default | None"
    assert _policy(999.0, {"OMP_WAIT_POLICY": "ACTIVE"}) == "ACTIVE | ACTIVE"  # the user's choice stands
    assert _policy(999.0, pre="import torch; ") == "unchanged (torch loaded) | None"
