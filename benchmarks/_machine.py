"""The machine a benchmark ran on, in words (CPU model and cores, JAX devices)."""

from __future__ import annotations

import os
import platform


def cpu_name() -> str:
    """CPU model and the cores this process may use."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip() + f" ({cores} cores)"
    except OSError:
        pass
    return f"{platform.processor() or platform.machine()} ({cores} cores)"


def machine_name() -> str:
    """CPU and JAX's default devices, e.g. 'Intel Xeon ... (2 cores), 1 x gpu device (NVIDIA H100 80GB HBM3)'."""
    import jax

    device = jax.devices()[0]
    return f"{cpu_name()}, {jax.local_device_count()} x {device.platform} device ({device.device_kind})"
