"""The propagation in plain NumPy: the same computation as :mod:`infergy.analysis.propagate`, written the obvious
way (chunks of float64 arrays, ``np.bincount`` for the histogram). It is the baseline the benchmarks measure the
JAX path against, and an independent check of the JAX kernel in the tests."""

from __future__ import annotations


import numpy as np
from scipy.special import ndtr

from .propagate import HIST_BINS, HIST_LOG10_RANGE, StreamSummary, Workload, chunking

__all__ = ["energy_wh_numpy", "stream_numpy"]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def energy_wh_numpy(p: dict, context, prefill, out_tokens: np.ndarray, flags) -> np.ndarray:
    """Wh per query (draws x queries), as :func:`infergy.analysis.predict.energy_wh`, in float64 NumPy."""
    c = {k: np.asarray(v, np.float64)[:, None] for k, v in p.items()}
    out = np.maximum(np.asarray(out_tokens, np.float64), 1.0)
    ctx = np.asarray(context, np.float64)
    seq = ctx + out
    window, n = c["phys_window_tokens"], c["phys_n_gpus"]

    def kv_per_token(tokens):
        return c["phys_kv_full_b"] + c["phys_kv_window_b"] * np.minimum(1.0, window / np.maximum(tokens, 1.0))

    def attention(tokens):
        return c["phys_attn_full_flops"] * tokens + c["phys_attn_window_flops"] * np.minimum(tokens, window)

    e, k = c["phys_experts"], c["phys_top_k"]
    moe = e > k
    ranks = np.maximum(c["phys_dp_width"], 1.0)
    routed = np.where(moe, (c["phys_weight_b"] - c["phys_active_weight_b"]) * e / np.where(moe, e - k, 1.0), 0.0)
    copies_b = (ranks - 1.0) * (c["phys_weight_b"] - routed)  # data-parallel ranks' own replicated weights
    headroom_gb = np.logaddexp(0.0, 0.9 * (c["phys_memory_b"] - c["phys_weight_b"] - copies_b) / 1e9)
    log_kv_cap = np.log(headroom_gb * 1e9) - np.log(kv_per_token(seq) * seq)
    stacked = -4.0 * np.stack(np.broadcast_arrays(c["log_batch"], log_kv_cap, c["eff_log_batch_cap"] + np.log(ranks)))
    top = stacked.max(0)
    log_b = np.logaddexp(0.0, -(top + np.log(np.exp(stacked - top).sum(0)))) / 4.0
    b = np.exp(log_b)
    adj = np.exp(c["power_log_adjustment"])
    curve = (c["power_idle"] + (c["power_peak"] - c["power_idle"])
             * _sigmoid(c["log_batch"] - c["power_log_batch50"])) * adj
    mean_ctx = ctx + 0.5 * out
    stages = np.maximum(c["phys_pipeline_stages"], 1.0)
    untouched = np.exp(b / stages * np.log1p(-k / np.where(moe, e, k + 1.0)))
    coverage = np.where(moe, (e * (1.0 - untouched) - k) / np.where(moe, e - k, 1.0), 0.0)
    weights = stages * (c["phys_active_weight_b"]
                        + (c["phys_weight_b"] - c["phys_active_weight_b"]) * np.clip(coverage, 0, 1)) + copies_b
    memory_s = ((weights / _sigmoid(c["eff_logit_memory"]) + b * kv_per_token(mean_ctx) * mean_ctx
                 / _sigmoid(c["eff_logit_kv"])) / (n * np.exp(c["phys_log_bw_b_s"])))
    peak = n * c["phys_peak_flop_s"]
    ideal_s = b * (c["phys_linear_flops"] + attention(mean_ctx)) / peak
    compute_s = ideal_s / _sigmoid(c["eff_logit_compute"])
    groups = np.maximum(c["phys_comm_gpus"], 1.0)
    link_s = (c["phys_layers"] * c["phys_link_exchanges"] * 2.0 * (groups - 1.0) / groups * c["phys_hidden"] * 2.0
              / np.exp(c["phys_log_link_b_s"]) / _sigmoid(c["eff_logit_link"]))
    def with_exchange(busy, exchange):  # overlapped under data-parallel attention, in turn under tensor parallelism
        return np.where(ranks > 1.0, (busy ** 4 + exchange ** 4) ** 0.25, busy + exchange)

    step_s = (with_exchange((memory_s ** 4 + compute_s ** 4) ** 0.25, b / ranks * link_s)
              + b / ranks * np.exp(c["eff_log_token_overhead_s"]) + c["phys_layers"] * np.exp(c["eff_log_overhead_s"]))
    pre = np.asarray(prefill, np.float64)
    eta_prefill = _sigmoid(c["eff_logit_prefill"])
    prefill_peak_s = pre * (c["phys_linear_flops"] + attention(ctx - pre + 0.5 * pre)) / peak
    prefill_s = with_exchange(prefill_peak_s / eta_prefill, pre / ranks * link_s)
    prefill_w = c["power_tdp_w"] * ((c["power_peak"] * adj) ** 8 + eta_prefill ** 8) ** 0.125
    decode_w = c["power_tdp_w"] * (curve ** 8 + (ideal_s / step_s) ** 8) ** 0.125
    joules = n * (prefill_s * prefill_w + out * step_s / b * decode_w) * np.exp(c["log_scatter"])
    joules = np.maximum(joules, n * c["power_tdp_w"] * (prefill_peak_s + out * ideal_s / b))
    host, pue, idle = (float(f) for f in flags)
    factor = (1.0 + host * c["host_ratio"]) * (c["pue"] if pue > 0 else 1.0) / (1.0 - idle * c["idle_share"])
    return joules / 3600.0 * factor


def _whole(p: dict, side: str, component: np.ndarray, rng) -> np.ndarray:
    """Whole token counts (at least one, at most the limit) from each query's log-normal component."""
    m, s = (np.take_along_axis(np.asarray(p[f"len_{k}_{side}"], np.float64), component, axis=1) for k in ("mu", "sd"))
    limit = np.round(np.exp(np.asarray(p[f"len_log_limit_{side}"], np.float64)))[:, None]
    return np.clip(np.round(np.exp(m + s * rng.standard_normal(component.shape))), 1.0, limit)


def _draw_lengths(p: dict, rng, shape, input_tokens, output_tokens):
    """:func:`infergy.model.workload.draw_lengths` in NumPy: each query's component (given a fixed length) and
    its prompt tokens."""
    def log_pmf(n, mu, sd):  # the mass on the unit interval around n
        mu, sd = np.asarray(mu, np.float64), np.asarray(sd, np.float64)
        return np.log(ndtr((np.log(n + 0.5) - mu) / sd) - ndtr((np.log(n - 0.5) - mu) / sd) + 1e-300)

    logits = np.broadcast_to(np.asarray(p["len_log_w"], np.float64)[:, None, :], (*shape, p["len_log_w"].shape[-1]))
    for side, given in (("in", input_tokens), ("out", output_tokens)):
        if given is not None:
            logits = logits + log_pmf(given, p[f"len_mu_{side}"], p[f"len_sd_{side}"])[:, None]
    w = np.exp(logits - logits.max(axis=-1, keepdims=True))
    cdf = np.cumsum(w / w.sum(axis=-1, keepdims=True), axis=-1)[..., :-1]
    component = np.sum(rng.uniform(size=shape)[..., None] > cdf, axis=-1)  # the inverse CDF, as the JAX path
    tokens_in = (np.full(shape, float(input_tokens)) if input_tokens is not None
                 else _whole(p, "in", component, rng))
    return component, tokens_in


def stream_numpy(arrays: dict, flags, workload: Workload, *, queries_per_draw: int, seed: int) -> StreamSummary:
    """:func:`infergy.analysis.propagate.stream` in NumPy (its own random numbers: equal in distribution)."""
    rng = np.random.default_rng(seed)
    n = int(np.asarray(arrays["log_batch"]).shape[0])
    n_chunks, chunk = chunking(n, queries_per_draw)
    lo, hi = HIST_LOG10_RANGE
    hist = np.zeros(HIST_BINS, np.int64)
    sums = np.zeros(n)
    max_ctx, outside = 0.0, 0
    for _ in range(n_chunks):
        component, ctx = _draw_lengths(arrays, rng, (n, chunk), workload.input_tokens, workload.output_tokens)
        prefill = ctx
        wh = np.zeros((n, chunk))
        tokens = np.zeros((n, chunk))
        for _step in range(workload.agent_steps):
            out = (np.full((n, chunk), workload.output_tokens) if workload.output_tokens is not None
                   else _whole(arrays, "out", component, rng))
            max_ctx = max(max_ctx, float(ctx.max()))
            wh += energy_wh_numpy(arrays, ctx, prefill, out, flags)
            tokens += out
            prefill = (1.0 - workload.cache_hit_rate) * (ctx + out) + workload.tool_tokens
            ctx = ctx + out + workload.tool_tokens
        value = wh * 3600.0 / np.maximum(tokens, 1.0) if workload.per == "token" else wh
        lv = np.log10(value)
        idx = np.clip(np.floor((lv - lo) * (HIST_BINS / (hi - lo))).astype(np.int64), 0, HIST_BINS - 1)
        hist += np.bincount(idx.ravel(), minlength=HIST_BINS)
        outside += int(np.sum((lv < lo) | (lv >= hi)))
        sums += value.sum(axis=1)
    q = n_chunks * chunk
    return StreamSummary(hist, sums / q, n * q, max_ctx, outside)
