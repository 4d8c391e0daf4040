"""The propagation in plain NumPy: the same computation as :mod:`infergy.analysis.propagate`, written the obvious
way (chunks of float64 arrays, ``np.bincount`` for the histogram). It is the baseline the benchmarks measure the
JAX path against, and an independent check of the JAX kernel in the tests."""

from __future__ import annotations

import math

import numpy as np

from .predict import REGIME_MEDIAN_OUTPUT_TOKENS
from .propagate import HIST_BINS, HIST_LOG10_RANGE, StreamSummary, Workload, chunking

__all__ = ["energy_wh_numpy", "stream_numpy"]


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def energy_wh_numpy(p: dict, log_in_c, out_tokens: np.ndarray, flags) -> np.ndarray:
    """Wh per query (draws x queries), as :func:`infergy.analysis.predict.energy_wh`."""
    p = {k: np.asarray(v, np.float64) for k, v in p.items()}
    col = lambda v: v[:, None]  # noqa: E731
    out = np.asarray(out_tokens, np.float64)
    log_out_c = np.log(np.maximum(out, 1.0) / 1000.0)
    log_seq = np.log(np.exp(log_in_c) * 1000.0 + out)
    log_b_kv = math.log(1000.0) + col(p["log_headroom_gb"]) - col(p["log_kv_mb"]) - log_seq
    log_b_eff = -np.logaddexp(-log_b_kv, -col(p["log_batch"]))
    log_load = -_softplus(col(p["log_batch50"]) - log_b_eff)
    log_tps = (col(p["log_tps_fixed"]) + col(p["beta_isl"]) * log_in_c + col(p["beta_osl"]) * log_out_c
               + col(p["beta_io"]) * log_in_c * log_out_c + log_load)
    share = p["idle"] + (p["peak"] - p["idle"]) * _sigmoid(p["log_batch"] - p["power_log_batch50"])
    log_power_w = np.log(p["tdp_w"] * share) + p["log_power_adj"]
    wh = np.exp(log_power_w[:, None] + np.log(np.maximum(out, 1.0)) - log_tps) / 3600.0
    host, pue, idle = (float(f) for f in flags)
    factor = (1.0 + host * p["host_ratio"]) * (p["pue"] if pue > 0 else 1.0) / (1.0 - idle * p["idle_share"])
    return wh * factor[:, None]


def stream_numpy(arrays: dict, flags, workload: Workload, *, queries_per_draw: int, seed: int) -> StreamSummary:
    """:func:`infergy.analysis.propagate.stream` in NumPy (its own random numbers: equal in distribution)."""
    rng = np.random.default_rng(seed)
    n = int(np.asarray(arrays["log_batch"]).shape[0])
    n_chunks, chunk = chunking(n, queries_per_draw)
    lo, hi = HIST_LOG10_RANGE
    hist = np.zeros(HIST_BINS, np.int64)
    sums = np.zeros(n)
    max_ctx, outside = 0.0, 0
    mean_len = REGIME_MEDIAN_OUTPUT_TOKENS[workload.regime] / math.log(2.0)
    for _ in range(n_chunks):
        ctx = np.full((n, chunk), workload.input_tokens)
        wh = np.zeros((n, chunk))
        tokens = np.zeros((n, chunk))
        for _step in range(workload.agent_steps):
            out = (np.full((n, chunk), workload.output_tokens) if workload.output_tokens is not None
                   else rng.exponential(mean_len, (n, chunk)))
            max_ctx = max(max_ctx, float(ctx.max()))
            wh += energy_wh_numpy(arrays, np.log(ctx / 1000.0), out, flags)
            tokens += out
            ctx = ctx + out + workload.tool_tokens
        value = wh * 3600.0 / np.maximum(tokens, 1.0) if workload.per == "token" else wh
        lv = np.log10(value)
        idx = np.clip(np.floor((lv - lo) * (HIST_BINS / (hi - lo))).astype(np.int64), 0, HIST_BINS - 1)
        hist += np.bincount(idx.ravel(), minlength=HIST_BINS)
        outside += int(np.sum((lv < lo) | (lv >= hi)))
        sums += value.sum(axis=1)
    q = n_chunks * chunk
    return StreamSummary(hist, sums / q, n * q, max_ctx, outside)
