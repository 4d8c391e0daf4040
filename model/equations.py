"""The physics of a query, once: serving time, power and energy from parameters and a query's features.

Pure functions of arrays (``jax.numpy``; they are only traced), jit-able and vectorised by broadcasting. The
likelihoods (:mod:`.throughput`, :mod:`.power`, :mod:`.production`) and every prediction
(:mod:`infergy.analysis.predict`) call these, so a term changed here changes the fit and the answers together.

A request occupies its replica (``n`` GPUs) for a **prefill** and a share of **decode** steps:

    prefill_s = prefill FLOPs / (n x peak FLOP/s x eta_p) (+) prefill tokens x link_s / d
    step_s(B) = soft max(memory_s, compute_s) (+) B / d x link_s + B / d x token_s + layers x overhead_s  (one of B)
    memory_s  = (p x weights read at B / p + (d - 1) x replicated weights + B x KV bytes of the context)
                / (n x HBM bytes/s x eta_m)
    compute_s = B x (2 x active params + attention FLOPs at the context) / (n x peak FLOP/s x eta_c)
    link_s    = layers x X exchanges x 2 (c - 1) / c x hidden x 2 bytes / (link bytes/s x eta_l)  (per token)
    decode_s  = output tokens x step_s(B) / B

with B the batch actually running: a smooth minimum of the load, the sequences the KV cache holds and the
engine's cap (per data-parallel rank), and ``link_s`` the time a token's activations take to be exchanged across
the ``c`` GPUs of a tensor/expert-parallel group over the GPU-to-GPU link (NVLink, or PCIe on cards without it):
zero on one GPU.
A pipeline of ``p`` stages keeps ``p`` micro-batches of ``B / p`` sequences in flight, so each stage reads its
weights ``p`` times per step of the whole batch (``p = 1``: no pipeline). Tensor parallelism exchanges twice per
layer (X = 2: after attention and after the MLP). Attention run **data-parallel** over ``d`` ranks beside experts
spread over the GPUs (wide expert parallelism: DeepSeek's EP144, TensorRT-LLM's DEP) splits the batch: each rank
runs attention for ``B / d`` sequences, holds and reads its own copy of the weights outside the routed experts
(attention, shared experts, embeddings), keeps its sequences' bookkeeping, and sends only its own tokens, each to
its ``top_k`` experts and back (X = top_k: the dispatch and the combine of every routed copy); ``d = 1``: none.
``(+)`` is a sum under tensor parallelism (an all-reduce waits for its layer) and a soft maximum where attention runs
data-parallel: engines built for wide expert parallelism run two micro-batches, one's all-to-all under the other's
compute (DeepSeek's dual-batch overlap; SGLang's and TensorRT-LLM's wide-EP the same).
Per-GPU output tokens/s is ``output / (n (prefill_s + decode_s))``; GPU energy is
``n (P_prefill prefill_s + P_decode decode_s)``. Prefill is accounted as replica time of its own: chunked prefill
rides on decode steps, and what that saves is in the learned prefill utilisation ``eta_p``.

Power per GPU is the fitted power curve at the offered load, but never less than the share of peak FLOP/s the
phase reaches times TDP (a GPU computing at x% of its peak draws at least x% of its TDP). So energy is never below
the FLOP floor (FLOPs x TDP / peak), whatever the learned efficiencies.

Units: seconds, bytes, FLOPs, W per GPU, J or Wh per query; lengths in tokens.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

__all__ = ["Physics", "Efficiency", "PowerCurve", "ServingTimes", "SOFT_MAX_POWER", "KV_MEMORY_SHARE",
           "ACTIVATION_BYTES", "TP_LINK_EXCHANGES", "link_bytes_per_token", "weights_read_b",
           "replicated_weight_b",
           "kv_bytes_per_token", "log_split_gpus", "attention_flops_per_token", "prefill_flops", "log_kv_capacity",
           "log_effective_batch",
           "serving_times", "phase_log_power_w", "log_tps_per_gpu", "log_request_speed_tok_s", "gpu_energy_j",
           "log_mean_power_w", "power_share", "log_power_adjustment", "log_gpu_power_w",
           "boundary_factor", "log_boundary_factor", "energy_shares"]

#: Share of the memory left after the weights an engine gives the KV cache: TensorRT-LLM's default
#: ``kv_cache_free_gpu_mem_fraction`` and vLLM's ``gpu_memory_utilization`` (both 0.9).
KV_MEMORY_SHARE = 0.9
#: Bytes per activation value an engine all-reduces (16-bit activations).
ACTIVATION_BYTES = 2.0
#: All-reduce volumes per layer of tensor parallelism (after attention and after the MLP); data-parallel attention
#: beside expert parallelism exchanges ``top_k`` (:func:`~.physics.physics`).
TP_LINK_EXCHANGES = 2.0
#: Sharpness of the soft maximum of memory and compute time (a p-norm): 1 would add them, infinity take the larger.
SOFT_MAX_POWER = 4.0
#: Sharpness of the soft maximum of the power curve and the utilisation floor (a p-norm: 9% above the larger where
#: they are equal, 0.1% where one is twice the other).
POWER_FLOOR_SHARPNESS = 8.0


class Physics(NamedTuple):
    """What the hardware and the model fix about serving, per row or query (arrays that broadcast)."""

    n_gpus: jnp.ndarray  # GPUs of the replica
    log_bw_b_s: jnp.ndarray  # log HBM bytes/s of one GPU
    peak_flop_s: jnp.ndarray  # dense peak FLOP/s of one GPU at the precision
    memory_b: jnp.ndarray  # bytes the replica gives to weights and KV cache (physics.replica_memory_b)
    weight_b: jnp.ndarray  # bytes of all weights
    active_weight_b: jnp.ndarray  # bytes of the weights one token uses
    experts: jnp.ndarray  # routed experts per layer (1: dense)
    top_k: jnp.ndarray  # experts per token (1: dense)
    linear_flops: jnp.ndarray  # 2 x active parameters: FLOPs per token of the matrix products
    kv_full_b: jnp.ndarray  # KV bytes per context token, full-attention layers
    kv_window_b: jnp.ndarray  # KV bytes per context token within the window, sliding-window layers
    window_tokens: jnp.ndarray  # sliding window (architecture.NO_WINDOW_TOKENS: none)
    attn_full_flops: jnp.ndarray  # attention FLOPs per (new token x context token), full-attention layers
    attn_window_flops: jnp.ndarray  # the same for sliding-window layers, within the window
    layers: jnp.ndarray  # transformer layers (a decode step's fixed overhead is per layer)
    hidden: jnp.ndarray  # hidden size: values per token each all-reduce moves
    comm_gpus: jnp.ndarray  # GPUs each layer's activations are all-reduced across (1: none)
    link_exchanges: jnp.ndarray  # exchanges of the hidden state per layer: 2 tensor parallel, top_k dispatch/combine
    pipeline_stages: jnp.ndarray  # pipeline-parallel stages (1: none); each reads its weights once per micro-batch
    log_link_b_s: jnp.ndarray  # log GPU-to-GPU link bytes/s of one GPU, one direction
    dp_width: jnp.ndarray  # ranks attention runs data-parallel over, each with its share of the batch (1: none)


class Efficiency(NamedTuple):
    """Learned departures from the hardware's limits, per draw: logits of the shares of HBM bandwidth (reading the
    weights) and of peak FLOP/s (decode, prefill) reached, the log seconds of fixed overhead per layer of a decode
    step (kernel launches, the latency of each all-reduce), the log of the engine's batch cap, the logit of the share
    of the GPU-to-GPU link's one-way bandwidth an all-reduce reaches, the log seconds each sequence adds to a step
    beyond its bytes and FLOPs (``token_s``: scheduling, sampling, the engine's bookkeeping per token), and the logit
    of the share of HBM bandwidth the attention kernels read the KV cache at."""

    logit_memory: jnp.ndarray
    logit_compute: jnp.ndarray
    logit_prefill: jnp.ndarray
    log_overhead_s: jnp.ndarray
    log_batch_cap: jnp.ndarray
    logit_link: jnp.ndarray
    log_token_overhead_s: jnp.ndarray
    logit_kv: jnp.ndarray


class PowerCurve(NamedTuple):
    """A GPU's power as a share of TDP at a batch (:func:`power_share`), its TDP and the replica/model adjustment."""

    idle: jnp.ndarray
    peak: jnp.ndarray
    log_batch50: jnp.ndarray
    log_adjustment: jnp.ndarray
    tdp_w: jnp.ndarray


def weights_read_b(phys: Physics, batch):
    """Bytes of weights one decode step of ``batch`` sequences reads: the active weights, plus the share of the
    other experts the batch's tokens route to (each token picks ``top_k`` of ``experts``, independently)."""
    e, k = phys.experts, phys.top_k
    moe = e > k
    untouched = jnp.exp(batch * jnp.log1p(-k / jnp.where(moe, e, k + 1.0)))
    coverage = jnp.where(moe, (e * (1.0 - untouched) - k) / jnp.where(moe, e - k, 1.0), 0.0)
    return phys.active_weight_b + (phys.weight_b - phys.active_weight_b) * jnp.clip(coverage, 0.0, 1.0)


def replicated_weight_b(phys: Physics):
    """Bytes of the weights outside the routed experts (attention, shared experts, embeddings; a dense model's all):
    what every data-parallel rank holds and reads. The routed experts are ``(all - active) x E / (E - k)``."""
    e, k = phys.experts, phys.top_k
    moe = e > k
    routed = jnp.where(moe, (phys.weight_b - phys.active_weight_b) * e / jnp.where(moe, e - k, 1.0), 0.0)
    return phys.weight_b - routed


def _extra_replica_b(phys: Physics):
    """Bytes the data-parallel ranks beyond the first hold and read: their copies of the replicated weights."""
    return (jnp.maximum(phys.dp_width, 1.0) - 1.0) * replicated_weight_b(phys)


def log_split_gpus(phys: Physics):
    """log of the GPUs a layer's matrices are split across: the replica over its data-parallel ranks (tensor
    parallel: all of it; DEPk: one). The efficiencies and the per-layer overhead change with it (thinner matrix
    slices, one more all-reduce to wait on); a data-parallel rank runs whole matrices."""
    return jnp.log(phys.n_gpus) - jnp.log(jnp.maximum(phys.dp_width, 1.0))


def kv_bytes_per_token(phys: Physics, context):
    """Bytes of KV cache a sequence of ``context`` tokens holds, per token (sliding layers keep their window)."""
    return phys.kv_full_b + phys.kv_window_b * jnp.minimum(1.0, phys.window_tokens / jnp.maximum(context, 1.0))


def attention_flops_per_token(phys: Physics, context):
    """Attention FLOPs of one new token over a context of ``context`` tokens."""
    return phys.attn_full_flops * context + phys.attn_window_flops * jnp.minimum(context, phys.window_tokens)


def prefill_flops(phys: Physics, cached_tokens, new_tokens):
    """FLOPs of computing ``new_tokens`` after ``cached_tokens`` already in the cache: the matrix products of
    each new token plus its attention over the context before it (on average ``cached + new / 2`` tokens)."""
    return new_tokens * (phys.linear_flops + attention_flops_per_token(phys, cached_tokens + 0.5 * new_tokens))


def link_bytes_per_token(phys: Physics):
    """Bytes one GPU sends per token over its link: ``link_exchanges`` exchanges of the hidden state per layer
    (tensor parallel: ring all-reduces; data-parallel attention: the token's dispatch to and combine from each of its
    experts), each moving ``2 (c - 1) / c`` of it off the GPU (zero on one GPU)."""
    c = jnp.maximum(phys.comm_gpus, 1.0)
    return phys.layers * phys.link_exchanges * 2.0 * (c - 1.0) / c * phys.hidden * ACTIVATION_BYTES


def log_kv_capacity(phys: Physics, seq_tokens):
    """log of the sequences of ``seq_tokens`` tokens the KV cache holds: the engine's share (0.9) of the memory
    left after the weights (and the data-parallel ranks' copies) over one sequence's cache. Where the weights leave
    little or nothing, the headroom falls smoothly toward zero (softplus in GB: a cliff there stalls the sampler)."""
    weights_b = phys.weight_b + _extra_replica_b(phys)
    return (log_softplus(KV_MEMORY_SHARE * (phys.memory_b - weights_b) / 1e9) + jnp.log(1e9)
            - jnp.log(kv_bytes_per_token(phys, seq_tokens) * seq_tokens))


def log_softplus(x):
    """``log(softplus(x))`` without underflow (it is ``x`` far below zero)."""
    return jnp.where(x > -30.0, jnp.log(jax.nn.softplus(jnp.maximum(x, -30.0))), x)


def log_effective_batch(log_load, log_kv_cap, log_batch_cap):
    """log of the batch actually running: a smooth minimum (p-norm, p = 4) of the load, the KV capacity and the
    engine's cap, held smoothly above one sequence (``(1 + b^4)^(1/4)``: 1.19 at b = 1, b to 0.1% from b = 3)."""
    soft_min = -jax.nn.logsumexp(-4.0 * jnp.stack(jnp.broadcast_arrays(log_load, log_kv_cap, log_batch_cap)), 0) / 4.0
    return jax.nn.softplus(4.0 * soft_min) / 4.0


def _soft_max(log_a, log_b, power=SOFT_MAX_POWER):
    """log of the p-norm of ``(a, b)``: at least their maximum, smooth (a kink stalls the sampler)."""
    return jnp.logaddexp(power * log_a, power * log_b) / power


def _with_exchange(log_busy_s, exchange_s, phys: Physics):
    """Seconds of work and of the exchange of its tokens over the link: in turn under tensor parallelism (an
    all-reduce waits for the layer), overlapped where attention runs data-parallel (wide expert-parallel engines run
    two micro-batches so one's all-to-all proceeds under the other's compute: the soft maximum)."""
    busy_s = jnp.exp(log_busy_s)
    # the p-norm as busy x (1 + r^p)^(1/p): smooth where there is no exchange (r = 0), no log of zero
    overlapped = busy_s * (1.0 + (exchange_s / busy_s) ** SOFT_MAX_POWER) ** (1.0 / SOFT_MAX_POWER)
    return jnp.where(phys.dp_width > 1.0, overlapped, busy_s + exchange_s)


class ServingTimes(NamedTuple):
    """Replica-seconds one request occupies in each phase, the batch actually running, the share of peak FLOP/s
    each phase computes at (prefill: while computing), and the replica-seconds its FLOPs take at peak."""

    prefill_s: jnp.ndarray
    decode_s: jnp.ndarray
    log_batch: jnp.ndarray
    prefill_utilisation: jnp.ndarray
    decode_utilisation: jnp.ndarray
    flop_s: jnp.ndarray


def serving_times(phys: Physics, eff: Efficiency, log_load, context_tokens, prefill_tokens, output_tokens):
    """:class:`ServingTimes` of a request: ``context_tokens`` is the prompt (cached or not) the output follows,
    ``prefill_tokens`` of them are computed (the rest are cache hits), ``log_load`` the log of the concurrent
    sequences offered (``throughput.LOG_SATURATED``: as many as fit)."""
    # each data-parallel rank schedules its own sequences, up to the engine's cap
    log_b = log_effective_batch(log_load, log_kv_capacity(phys, context_tokens + output_tokens),
                                eff.log_batch_cap + jnp.log(jnp.maximum(phys.dp_width, 1.0)))
    b = jnp.exp(log_b)
    log_peak = jnp.log(phys.n_gpus * phys.peak_flop_s)
    mean_context = context_tokens + 0.5 * output_tokens
    kv_b = b * kv_bytes_per_token(phys, mean_context) * mean_context  # weights and KV stream at their own shares
    stages = jnp.maximum(phys.pipeline_stages, 1.0)
    # a pipeline reads each stage's weights per micro-batch; each data-parallel rank its own replicated weights
    weights_b = stages * weights_read_b(phys, b / stages) + _extra_replica_b(phys)
    per_rank = 1.0 / jnp.maximum(phys.dp_width, 1.0)  # the share of the batch and of the tokens one rank handles
    log_memory_s = (jnp.logaddexp(jnp.log(weights_b) - jax.nn.log_sigmoid(eff.logit_memory),
                                  jnp.log(kv_b) - jax.nn.log_sigmoid(eff.logit_kv))
                    - jnp.log(phys.n_gpus) - phys.log_bw_b_s)
    log_ideal_s = log_b + jnp.log(phys.linear_flops + attention_flops_per_token(phys, mean_context)) - log_peak
    log_compute_s = log_ideal_s - jax.nn.log_sigmoid(eff.logit_compute)
    link_s = link_bytes_per_token(phys) * jnp.exp(-phys.log_link_b_s - jax.nn.log_sigmoid(eff.logit_link))
    log_busy_s = _soft_max(log_memory_s, log_compute_s)
    step_s = (_with_exchange(log_busy_s, b * per_rank * link_s, phys)
              + b * per_rank * jnp.exp(eff.log_token_overhead_s) + phys.layers * jnp.exp(eff.log_overhead_s))
    eta_prefill = jax.nn.sigmoid(eff.logit_prefill)
    prefill_peak_s = prefill_flops(phys, context_tokens - prefill_tokens, prefill_tokens) / jnp.exp(log_peak)
    prefill_s = _with_exchange(jnp.log(prefill_peak_s) - jnp.log(eta_prefill), prefill_tokens * per_rank * link_s,
                               phys)
    flop_s = prefill_peak_s + output_tokens * jnp.exp(log_ideal_s) / b
    return ServingTimes(prefill_s, output_tokens * step_s / b, log_b, eta_prefill, jnp.exp(log_ideal_s) / step_s,
                        flop_s)


def phase_log_power_w(power: PowerCurve, log_load, times: ServingTimes):
    """log W per GPU in prefill and in decode: the power curve at the offered load (prefill: its peak), but never
    less than the phase's share of peak FLOP/s times TDP."""
    log_curve = jnp.log(power_share(power.idle, power.peak, power.log_batch50, log_load)) + power.log_adjustment
    log_prefill = _soft_max(jnp.log(power.peak) + power.log_adjustment, jnp.log(times.prefill_utilisation),
                            POWER_FLOOR_SHARPNESS)
    log_decode = _soft_max(log_curve, jnp.log(times.decode_utilisation), POWER_FLOOR_SHARPNESS)
    return jnp.log(power.tdp_w) + log_prefill, jnp.log(power.tdp_w) + log_decode


def log_tps_per_gpu(n_gpus, output_tokens, times: ServingTimes):
    """log output tokens/s per GPU of a replica serving requests of these times back to back."""
    return jnp.log(output_tokens) - jnp.log(n_gpus) - jnp.log(times.prefill_s + times.decode_s)


def log_request_speed_tok_s(output_tokens, times: ServingTimes):
    """log output tokens/s one request sees while it decodes, on a busy replica: requests finish at one per
    ``prefill_s + decode_s`` replica-seconds and ``b`` of them decode at once, so each decodes for ``b`` times that
    (the other requests' prefills are interleaved into its steps)."""
    return jnp.log(output_tokens) - times.log_batch - jnp.log(times.prefill_s + times.decode_s)


def gpu_energy_j(n_gpus, times: ServingTimes, log_prefill_w, log_decode_w):
    """J per request on the replica's GPUs: each phase's replica-seconds x its W per GPU x GPUs."""
    return n_gpus * (times.prefill_s * jnp.exp(log_prefill_w) + times.decode_s * jnp.exp(log_decode_w))


def log_mean_power_w(times: ServingTimes, log_prefill_w, log_decode_w):
    """log of the mean W per GPU over a request's replica-seconds (:func:`gpu_energy_j` over its time): what a
    meter averaging over a busy interval reads, prefill and decode in the shares of time they take."""
    return jnp.log(gpu_energy_j(1.0, times, log_prefill_w, log_decode_w)) - jnp.log(times.prefill_s + times.decode_s)


def power_share(idle, peak, log_batch50, log_batch):
    """Share of TDP one GPU draws at a batch size: ``idle + (peak - idle) * B / (B + B50)``."""
    return idle + (peak - idle) * jax.nn.sigmoid(log_batch - log_batch50)


def log_power_adjustment(beta_ngpu, log_ngpu, beta_size, log_active_c):
    """log change of per-GPU power with the replica's GPU count and the model's active size."""
    return beta_ngpu * log_ngpu + beta_size * log_active_c


def log_gpu_power_w(tdp_w, share, log_power_adj):
    """log W per GPU: its TDP times the share it draws at the load, adjusted for replica and model size."""
    return jnp.log(tdp_w * share) + log_power_adj


def boundary_factor(host_ratio, pue, idle_share, flags):
    """What a boundary multiplies the accelerators' energy by: ``flags`` = (host, PUE, idle capacity) switches,
    each 0 or 1 (host: 1 + host/accelerator ratio; PUE; idle capacity: 1 / (1 - idle share))."""
    host, with_pue, idle = flags[0], flags[1], flags[2]
    return (1.0 + host * host_ratio) * jnp.where(with_pue > 0, pue, 1.0) / (1.0 - idle * idle_share)


def log_boundary_factor(host_ratio, pue, idle_share, host, with_pue, idle):
    """log of :func:`boundary_factor` with each switch a share in [0, 1] (a disclosure whose boundary is unknown
    includes an unknown share of each)."""
    return host * jnp.log1p(host_ratio) + with_pue * jnp.log(pue) - idle * jnp.log1p(-idle_share)


def energy_shares(host_ratio, pue, idle_share):
    """Shares of the comprehensive (facility + idle) energy :func:`boundary_factor` implies, stacked last as
    (accelerators, host, idle capacity, facility overhead): of ``E (1 + h) PUE / (1 - i)``, the accelerators are
    ``(1 - i) / ((1 + h) PUE)``, the host ``h`` times that, idle capacity ``i / PUE`` and the overhead ``1 - 1 / PUE``
    (they sum to 1)."""
    active = (1.0 - idle_share) / pue
    accelerators = active / (1.0 + host_ratio)
    return jnp.stack(jnp.broadcast_arrays(accelerators, host_ratio * accelerators, idle_share / pue,
                                          1.0 - 1.0 / pue), axis=-1)
