"""Which JAX platform a command runs on: ``--device {auto,cpu,gpu}``.

JAX fixes its platform when it first starts a backend, so :func:`select_device` must run before any JAX
operation. ``auto`` picks per task what the benchmarks (``make bench``; README, "Speed") showed to be faster:

- **propagation** (estimate, pathways, fleet, sensitivity, report): the GPU when one is usable. The fused Monte
  Carlo of the energy equation is wide and memory-light: on one H100 it ran 1.7x (1e6 query-samples), 14x (1e7)
  and 47x (1e8) faster than the same JAX computation on 14 CPU cores, 9.3e9 query-samples/s at 1e9.
- **fit** (NUTS, the default sampler): the CPU. NUTS is a long chain of small sequential operations (one
  gradient per leapfrog step), and vectorized chains wait for the longest trajectory among them: on one H200,
  128 vectorized chains did not finish 300 + 200 iterations in 270 s, while 4 parallel chains on 2 of its CPU
  cores finished 300 + 1,000 in 117 s (4.2 ESS/s). ``--device gpu`` still runs it there for whoever wants to.
- **fit_chees** (``infergy fit --sampler chees``): the GPU. ChEES-HMC moves all chains in lock step, so the GPU
  evaluates 128 chains' gradients for the price of one: 128 chains x (800 + 1,000) in 109 s on one H200,
  136 ESS/s, 33x the 2-core NUTS fit measured in the same session.

A GPU counts as present only when a CUDA build of JAX is installed (``pip install -e '.[gpu]'``) and JAX finds a
device. ``gpu`` fails with one clear line when it does not; ``auto`` falls back to the CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import metadata

__all__ = ["AUTO_PLATFORM", "DEVICE_CHOICES", "DeviceChoice", "cuda_jax_installed", "select_device",
           "use_cpu_devices"]

DEVICE_CHOICES = ("auto", "cpu", "gpu")
#: The platform ``auto`` prefers per task when a GPU is present (from the measurements above).
AUTO_PLATFORM = {"fit": "cpu", "fit_chees": "gpu", "propagate": "gpu"}


@dataclass(frozen=True)
class DeviceChoice:
    """What was asked, what JAX runs on, and why."""

    requested: str
    platform: str  # "cpu" or "gpu"
    devices: int  # local devices of that platform
    reason: str

    def line(self) -> str:
        return f"device: {self.platform} x{self.devices} ({self.reason})"


def cuda_jax_installed() -> bool:
    """Whether a CUDA plugin for JAX is installed (what ``pip install -e '.[gpu]'`` brings), without starting JAX."""
    for dist in metadata.distributions():
        name = (dist.metadata.get("Name") or "").lower().replace("_", "-")
        if name.startswith(("jax-cuda", "jaxlib-cuda")) and ("plugin" in name or "pjrt" in name):
            return True
    return False


def _backend_started() -> bool:
    from jax._src import xla_bridge

    return bool(getattr(xla_bridge, "_backends", None))


def select_device(requested: str = "auto", *, task: str = "propagate", cpu_devices: int | None = None) -> DeviceChoice:
    """Fix JAX's platform for this process (call before the first JAX operation) and return the choice.

    ``cpu_devices``: CPU devices to ask for (parallel chains), on the CPU platform only. Raises ``ValueError``
    for an unknown choice or task, and when ``gpu`` is asked for but none is usable.
    """
    import jax

    if requested not in DEVICE_CHOICES:
        raise ValueError(f"unknown device {requested!r}; choose one of {', '.join(DEVICE_CHOICES)}")
    if task not in AUTO_PLATFORM:
        raise ValueError(f"unknown task {task!r}; one of {', '.join(AUTO_PLATFORM)}")
    started = _backend_started()
    env = os.environ.get("JAX_PLATFORMS")
    if requested == "cpu" or (requested == "auto" and not env
                              and (AUTO_PLATFORM[task] == "cpu" or not cuda_jax_installed())):
        _only_cpu(started)
    if cpu_devices and not started:
        use_cpu_devices(cpu_devices)
    platform = jax.default_backend()
    if requested == "gpu" and platform != "gpu":
        hint = "no CUDA build of JAX is installed: pip install -e '.[gpu]'" if not cuda_jax_installed() else \
            "JAX's CUDA plugin is installed but found no usable GPU (check nvidia-smi and the CUDA driver)"
        raise ValueError(f"--device gpu: {hint}; or use --device cpu")
    return DeviceChoice(requested=requested, platform=platform, devices=jax.local_device_count(),
                        reason=_reason(requested, task, platform, env))


def _reason(requested: str, task: str, platform: str, env: str | None) -> str:
    """Why the command runs where it runs, in a few words."""
    if requested != "auto":
        return "asked for"
    if env:
        return f"JAX_PLATFORMS={env}"
    if AUTO_PLATFORM[task] == "cpu":
        return f"auto: the {task} runs faster on CPU cores"
    if platform == "gpu":
        return "auto: GPU present and preferred for this task"
    return "auto: CUDA build of JAX installed but no GPU found" if cuda_jax_installed() else \
        "auto: no CUDA build of JAX installed"


def use_cpu_devices(n: int) -> int:
    """Ask JAX for ``n`` CPU devices so chains run in parallel; only possible before JAX's first operation.

    Returns the number of local devices JAX ends up with (unchanged if its backend had already started).
    """
    import jax

    try:
        if jax.config.jax_num_cpu_devices < n:
            jax.config.update("jax_num_cpu_devices", int(n))
    except RuntimeError:  # a backend started already: keep what it has
        pass
    return jax.local_device_count()


def _only_cpu(started: bool) -> None:
    """Restrict JAX to the CPU platform (no effect once a backend has started: then its platform stays)."""
    import jax

    if not started:
        jax.config.update("jax_platforms", "cpu")
