"""Setting up NUTS: the one place the fit, cross-validation and exact leave-one-out build their Markov chains."""

from __future__ import annotations

import jax
from numpyro.infer import MCMC, NUTS

__all__ = ["cpu_device", "nuts", "resolve_chain_method"]


def resolve_chain_method(method: str, chains: int) -> str:
    """``auto`` -> ``parallel`` (a device per chain), ``vectorized`` (on a GPU) or ``sequential`` (CPU)."""
    if method != "auto":
        return method
    if chains == 1:
        return "sequential"
    if jax.local_device_count() >= chains:
        return "parallel"
    return "vectorized" if jax.default_backend() == "gpu" else "sequential"


def nuts(model, *, warmup: int, draws: int, chains: int = 1, chain_method: str = "auto", target_accept: float = 0.9,
         max_tree_depth: int = 10, progress_bar: bool = False, jit_model_args: bool = False, **kernel) -> MCMC:
    """An MCMC of NUTS on ``model`` (``kernel``: further NUTS options, e.g. ``init_strategy``)."""
    sampler = NUTS(model, target_accept_prob=target_accept, max_tree_depth=max_tree_depth, **kernel)
    return MCMC(sampler, num_warmup=warmup, num_samples=draws, num_chains=chains,
                chain_method=resolve_chain_method(chain_method, chains), progress_bar=progress_bar,
                jit_model_args=jit_model_args)


def cpu_device():
    """The first CPU device, or ``None`` (JAX's default) where the CPU platform is not loaded."""
    try:
        return jax.devices("cpu")[0]
    except RuntimeError:
        return None
