"""The physics of a query, once: throughput, power and energy from parameters and a query's features.

Pure functions of arrays (NumPy or JAX: only operators where a caller passes NumPy, ``jax.numpy`` where the
function is only traced), jit-able and vectorised by broadcasting. The likelihoods (:mod:`.throughput`,
:mod:`.power`, :mod:`.production`) and every prediction (:mod:`infergy.analysis.predict`) call these, so a term
changed here changes the fit and the answers together.

Units: throughput in output tokens/s per GPU, power in W per GPU, energy in J or Wh per query, memory in GB and
MB, lengths in tokens; ``log_*_c`` are logs centred as named (``log_isl_c = log(input tokens / 1000)``).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

__all__ = ["log_kv_mb_per_token", "log_kv_capacity", "log_effective_batch", "log_load", "log_tps_per_gpu",
           "power_share", "log_power_adjustment", "log_gpu_power_w", "log_gpu_energy_j", "boundary_factor",
           "log_boundary_factor"]


def log_kv_mb_per_token(log_kv_mb_16bit_10b, kv_slope, log_kv_bytes, log_total_c):
    """log MB of KV cache per token: the 16-bit cache of a 10B model, at ``exp(log_kv_bytes)`` bytes per value,
    growing with total parameters (``log_total_c = log(total / 10B)``) with slope ``kv_slope``."""
    return log_kv_mb_16bit_10b - math.log(2.0) + log_kv_bytes + kv_slope * log_total_c


def log_kv_capacity(log_headroom_gb, log_kv_mb, log_seq_tokens):
    """log of the sequences the KV cache holds: the memory left after the weights over one sequence's cache."""
    return jnp.log(1000.0) + log_headroom_gb - log_kv_mb - log_seq_tokens


def log_effective_batch(log_b_kv, log_batch):
    """log of the batch actually running: a smooth minimum of the load and what the KV cache holds."""
    return -jnp.logaddexp(-log_b_kv, -log_batch)


def log_load(log_batch50, log_b_eff):
    """log of the saturating load curve ``B / (B + B50)``: the share of peak throughput a batch reaches."""
    return -jax.nn.softplus(log_batch50 - log_b_eff)


def log_tps_per_gpu(log_tps_fixed, beta_isl, beta_osl, beta_io, log_isl_c, log_osl_c, log_load_):
    """log output tokens/s per GPU: the effects of model, GPU, precision, engine and replica size
    (``log_tps_fixed``), the query's shape (input and output lengths and their interaction) and the load."""
    return (log_tps_fixed + beta_isl * log_isl_c + beta_osl * log_osl_c + beta_io * log_isl_c * log_osl_c
            + log_load_)


def power_share(idle, peak, log_batch50, log_batch):
    """Share of TDP one GPU draws at a batch size: ``idle + (peak - idle) * B / (B + B50)``."""
    return idle + (peak - idle) * jax.nn.sigmoid(log_batch - log_batch50)


def log_power_adjustment(beta_ngpu, log_ngpu, beta_size, log_active_c):
    """log change of per-GPU power with the replica's GPU count and the model's active size."""
    return beta_ngpu * log_ngpu + beta_size * log_active_c


def log_gpu_power_w(tdp_w, share, log_power_adj):
    """log W per GPU: its TDP times the share it draws at the load, adjusted for replica and model size."""
    return jnp.log(tdp_w * share) + log_power_adj


def log_gpu_energy_j(log_power_w, log_out_tokens, log_tps):
    """log J per query on the accelerators: W per GPU x the seconds one GPU's share of the output takes."""
    return log_power_w + log_out_tokens - log_tps


def boundary_factor(host_ratio, pue, idle_share, flags):
    """What a boundary multiplies the accelerators' energy by: ``flags`` = (host, PUE, idle capacity) switches,
    each 0 or 1 (host: 1 + host/accelerator ratio; PUE; idle capacity: 1 / (1 - idle share))."""
    host, with_pue, idle = flags[0], flags[1], flags[2]
    return (1.0 + host * host_ratio) * jnp.where(with_pue > 0, pue, 1.0) / (1.0 - idle * idle_share)


def log_boundary_factor(host_ratio, pue, idle_share, host, with_pue, idle):
    """log of :func:`boundary_factor` with each switch a share in [0, 1] (a disclosure whose boundary is unknown
    includes an unknown share of each)."""
    return host * jnp.log1p(host_ratio) + with_pue * jnp.log(pue) - idle * jnp.log1p(-idle_share)
