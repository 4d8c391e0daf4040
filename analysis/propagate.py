"""Streaming propagation of the posterior: energy over (posterior draw x simulated query) without holding the array.

One jitted JAX computation walks over chunks of simulated queries (``lax.scan``), and for each chunk evaluates the
energy kernel of :mod:`infergy.analysis.predict` for every draw, then folds the values into summaries of fixed
size: a histogram of log10(value) on a fine fixed grid (for quantiles), the sum per draw (for the mean, and the
posterior of the mean per query that fleet totals need), and the largest context reached. Memory is
O(draws x chunk + bins) whatever the number of query-samples, so 1e8-1e9 samples need a few arrays.

A query may be an agentic workflow: ``agent_steps`` sequential calls, each reading the original input plus every
previous output (and ``tool_tokens`` per step of tool results), its energy the sum over calls. Each later call
prefills only what its prefix cache misses: the new tool tokens, and ``1 - cache_hit_rate`` of the context it has
seen before.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from .quantiles import QUANTILE_KEYS
from ..model.workload import draw_lengths, draw_output as draw_output_tokens
from .predict import QuerySpec, boundary_flags, energy_wh, energy_wh_and_gpu_s, prepare

__all__ = ["Workload", "StreamSummary", "stream", "shard_draws", "on_devices", "HIST_LOG10_RANGE", "HIST_BINS",
           "MAX_CHUNK_ELEMENTS", "MAX_CHUNK_ELEMENTS_GPU", "QUANTILE_KEYS", "pool"]

#: Share of an agent call's earlier context found in the prefix cache: DeepSeek's reported 56.3% of input tokens
#: served from its on-disk context cache over 24 hours (production_operating_points.md). A user may set it.
DEFAULT_CACHE_HIT_RATE = 0.563
#: Histogram of log10(value): 16 decades in 16,384 bins, 0.001 decade (0.23%) per bin before interpolation.
HIST_LOG10_RANGE = (-9.0, 7.0)
HIST_BINS = 16384
#: Largest (draws x queries) block evaluated at once on a CPU (float32: 8 MiB per array): cache-sized blocks.
MAX_CHUNK_ELEMENTS = 1 << 21
#: The same on a GPU (64 MiB per array): a block must fill the device, and memory is plentiful.
MAX_CHUNK_ELEMENTS_GPU = 1 << 24
#: Query-samples past which a stream runs as about :data:`PROGRESS_STEPS` calls and reports after each to the
#: callback of :func:`report_progress` (the command line prints it): a long run shows it is moving. A function of the
#: sample count alone, so a seed's answer does not depend on whether anyone watches.
PROGRESS_SAMPLES = 100_000_000
PROGRESS_STEPS = 20
_PROGRESS: contextvars.ContextVar[Callable[[int, int], None] | None] = contextvars.ContextVar("progress",
                                                                                              default=None)


def report_progress(callback: Callable[[int, int], None] | None) -> None:
    """From now on (in this context), long streams call ``callback(done, total)`` (query-samples) after each part;
    None stops it."""
    _PROGRESS.set(callback)


@dataclass(frozen=True)
class Workload:
    """The simulated query: lengths, agent steps and the unit of the answer."""

    input_tokens: float | None = None  # fixed; else drawn from the regime's workload (given the output if fixed)
    output_tokens: float | None = None  # fixed; else drawn from the regime's workload (given the input if fixed)
    regime: str = "traditional"
    agent_steps: int = 1
    tool_tokens: float = 0.0  # tokens added to the context at each step besides the output (tool results)
    per: str = "query"  # "query": Wh per query (workflow); "token": J per output token
    cache_hit_rate: float = DEFAULT_CACHE_HIT_RATE  # share of an agent call's earlier context read from the cache

    @classmethod
    def of(cls, spec: QuerySpec, *, agent_steps: int = 1, tool_tokens: float = 0.0, per: str = "query",
           cache_hit_rate: float = DEFAULT_CACHE_HIT_RATE) -> "Workload":
        return cls(spec.input_tokens, spec.output_tokens, spec.regime, agent_steps, tool_tokens, per, cache_hit_rate)

    def check(self) -> None:
        if self.per not in ("query", "token"):
            raise ValueError(f"unknown unit {self.per!r}; choose query (Wh/query) or token (J/token)")
        if not (isinstance(self.agent_steps, int) and self.agent_steps >= 1):
            raise ValueError(f"agent steps must be a whole number >= 1, got {self.agent_steps}")
        if not self.tool_tokens >= 0:
            raise ValueError(f"tool tokens must be >= 0, got {self.tool_tokens}")
        if not 0.0 <= self.cache_hit_rate <= 1.0:
            raise ValueError(f"cache hit rate must be in [0, 1], got {self.cache_hit_rate}")

    def last_call_context_tokens(self, typical_input: float, typical_output: float) -> float:
        """Tokens the last call holds at its end (prompt, every earlier answer and tool result, its own answer):
        the fixed lengths, or the workload's medians (``typical_*``) where drawn."""
        inp = self.input_tokens or typical_input
        out = self.output_tokens or typical_output
        return inp + self.agent_steps * out + (self.agent_steps - 1) * self.tool_tokens

    @property
    def unit(self) -> str:
        return "Wh/query" if self.per == "query" else "J/token"


@dataclass
class StreamSummary:
    """Summaries of ``count`` values (draws x queries per draw) from :func:`stream`."""

    hist: np.ndarray  # counts per log10 bin
    per_draw_mean: np.ndarray  # (draws,) mean value per posterior draw
    count: int
    max_context_tokens: float
    out_of_range: int  # values outside the histogram's range (clamped into its end bins)
    #: the same queries' values times each per-draw factor of ``stream(extra_log_scales=...)``, in its order
    extras: tuple["StreamSummary", ...] = ()

    @property
    def mean(self) -> float:
        return float(np.mean(self.per_draw_mean))

    def quantiles(self, qs) -> np.ndarray:
        """Quantiles from the histogram, interpolated linearly in log10 within a bin."""
        lo, hi = HIST_LOG10_RANGE
        width = (hi - lo) / HIST_BINS
        cdf = np.cumsum(self.hist.astype(np.float64))
        total = cdf[-1]
        out = []
        for q in np.atleast_1d(qs):
            target = q * total
            i = int(np.searchsorted(cdf, target, side="left"))
            i = min(i, HIST_BINS - 1)
            before = cdf[i - 1] if i > 0 else 0.0
            frac = (target - before) / max(self.hist[i], 1)
            out.append(10.0 ** (lo + (i + min(max(frac, 0.0), 1.0)) * width))
        return np.asarray(out)

    def summary(self) -> dict[str, float]:
        """median, mean, p05, p25, p75, p95."""
        p05, p25, p50, p75, p95 = self.quantiles([0.05, 0.25, 0.5, 0.75, 0.95])
        return {"median": float(p50), "mean": self.mean, "p05": float(p05), "p25": float(p25),
                "p75": float(p75), "p95": float(p95)}


def pool(parts: list[StreamSummary]) -> StreamSummary:
    """Equal-weight mixture of summaries with the same draws and sample counts (a blend of models)."""
    return StreamSummary(hist=sum(p.hist for p in parts), per_draw_mean=np.mean([p.per_draw_mean for p in parts], 0),
                         count=sum(p.count for p in parts), max_context_tokens=max(p.max_context_tokens for p in parts),
                         out_of_range=sum(p.out_of_range for p in parts),
                         extras=tuple(pool(list(x)) for x in zip(*(p.extras for p in parts))))


def workflow(p, flags, step_keys, tokens_in, component, output_tokens, tool_tokens, cache_hit_rate,
             with_seconds: bool):
    """One simulated workflow per (draw, query): ``len(step_keys)`` calls, each reading the prompt ``tokens_in``
    and everything before it, prefilling what its prefix cache misses, and answering ``output_tokens`` (fixed:
    one number or one per query) or a length drawn from each query's ``component``. Returns the Wh summed over
    the calls, the output tokens, the GPU-seconds (zero unless ``with_seconds``) and the longest context read."""
    def step(state, k):
        ctx, prefill, wh, tokens, gpu_s = state
        out = (draw_output_tokens(p, k, component) if output_tokens is None
               else jnp.broadcast_to(jnp.asarray(output_tokens, jnp.float32), ctx.shape))
        if with_seconds:
            e, s = energy_wh_and_gpu_s(p, ctx, prefill, out, flags)
            gpu_s = gpu_s + s
        else:
            e = energy_wh(p, ctx, prefill, out, flags)
        seen = ctx + out  # the next call's cache may hold these; its tool results are new
        return (seen + tool_tokens, (1.0 - cache_hit_rate) * seen + tool_tokens, wh + e, tokens + out,
                gpu_s), jnp.max(ctx)

    zeros = jnp.zeros(tokens_in.shape, jnp.float32)
    (_, _, wh, tokens, gpu_s), ctx_max = jax.lax.scan(step, (tokens_in, tokens_in, zeros, zeros, zeros), step_keys)
    return wh, tokens, gpu_s, ctx_max.max()


@partial(jax.jit, static_argnames=("n_chunks", "chunk", "steps", "per_token", "draw_input", "draw_output",
                                   "with_seconds"))
def _stream_kernel(p, flags, key, log_scale, input_tokens, output_tokens, tool_tokens, cache_hit_rate, start,
                   extra_log_scales, extra_rates, *, n_chunks: int, chunk: int, steps: int, per_token: bool,
                   draw_input: bool, draw_output: bool, with_seconds: bool):
    n = log_scale.shape[0]
    k = extra_log_scales.shape[0]  # each a per-draw factor on the same values (carbon, water ...)
    lo, hi = HIST_LOG10_RANGE
    inv_width = HIST_BINS / (hi - lo)

    def fold(hist, outside, value):
        lv = jnp.log10(value)
        idx = jnp.clip(jnp.floor((lv - lo) * inv_width).astype(jnp.int32), 0, HIST_BINS - 1)
        return hist + jnp.bincount(idx.ravel(), length=HIST_BINS), outside + jnp.sum((lv < lo) | (lv >= hi))

    def one_chunk(carry, i):
        hist, sums, max_ctx, outside, x_hist, x_sums, x_outside = carry
        k_lengths, k_steps = jax.random.split(jax.random.fold_in(key, i))
        step_keys = jax.random.split(k_steps, steps)
        if draw_input or draw_output:  # each query's workload component, and its prompt unless given
            component, tokens_in = draw_lengths(p, k_lengths, (n, chunk), None if draw_input else input_tokens,
                                                None if draw_output else output_tokens)
        else:
            component, tokens_in = None, jnp.full((n, chunk), input_tokens, jnp.float32)
        wh, tokens, gpu_s, ctx_max = workflow(p, flags, step_keys, tokens_in, component,
                                              None if draw_output else output_tokens, tool_tokens, cache_hit_rate,
                                              with_seconds)
        base = wh * 3600.0 / jnp.maximum(tokens, 1.0) if per_token else wh
        seconds = gpu_s / jnp.maximum(tokens, 1.0) if per_token else gpu_s
        value = base * jnp.exp(log_scale)[:, None]
        hist, outside = fold(hist, outside, value)
        for j in range(k):  # the same queries, times another per-draw factor
            extra = base * jnp.exp(extra_log_scales[j])[:, None]
            if with_seconds:  # plus a per-draw rate on the GPU-seconds (the hardware's manufacturing)
                extra = extra + seconds * extra_rates[j][:, None]
            h, o = fold(x_hist[j], x_outside[j], extra)
            x_hist, x_outside = x_hist.at[j].set(h), x_outside.at[j].set(o)
            x_sums = x_sums.at[j].add(extra.sum(axis=1))
        return (hist, sums + value.sum(axis=1), jnp.maximum(max_ctx, ctx_max), outside, x_hist, x_sums,
                x_outside), None

    init = (jnp.zeros(HIST_BINS, jnp.int32), jnp.zeros(n, jnp.float32), jnp.float32(0.0), jnp.int32(0),
            jnp.zeros((k, HIST_BINS), jnp.int32), jnp.zeros((k, n), jnp.float32), jnp.zeros(k, jnp.int32))
    out, _ = jax.lax.scan(one_chunk, init, start + jnp.arange(n_chunks))
    return out


def chunking(n_draws: int, queries_per_draw: int, max_elements: int | None = None) -> tuple[int, int]:
    """(chunks, queries per chunk) covering at least ``queries_per_draw`` queries, each block at most
    ``max_elements`` values (default :data:`MAX_CHUNK_ELEMENTS`, the CPU's)."""
    max_elements = MAX_CHUNK_ELEMENTS if max_elements is None else max_elements
    largest = max(1, min(queries_per_draw, max_elements // max(n_draws, 1)))
    n_chunks = -(-queries_per_draw // largest)
    return n_chunks, -(-queries_per_draw // n_chunks)


_DEVICES: list | None = None  # set by on_devices()


@contextlib.contextmanager
def on_devices(devices):
    """Propagate over ``devices`` inside the block (every answer: estimate, pathways, fleet ...).

    Multi-host: after ``jax.distributed.initialize()`` on every host, ``with on_devices(jax.devices()):`` splits
    the posterior draws over the devices of all hosts; each host runs the same program and gets the same
    summaries. Outside such a block, propagation uses this process's local devices.
    """
    global _DEVICES
    before, _DEVICES = _DEVICES, list(devices)
    try:
        yield
    finally:
        _DEVICES = before


def shard_draws(arrays: dict, devices=None) -> tuple[dict, int]:
    """Place the per-draw arrays on a 1-D mesh of ``devices`` (default: those of :func:`on_devices`, else all
    local devices), split along the draw axis, so that the jitted propagation runs on every device and XLA sums
    the histograms across them. Returns the arrays and the number of devices used: 1 (left as they are) with one
    device or when the draws do not divide evenly. Random numbers do not depend on the split (JAX's partitionable
    threefry), so the summaries equal the single-device ones. ``devices`` may span several processes
    (``jax.distributed``): each process passes the same full arrays and keeps its own devices' share."""
    if devices is None:
        devices = _DEVICES if _DEVICES is not None else jax.local_devices()
    devices = list(devices)
    n = int(arrays["log_batch"].shape[0])
    if len(devices) < 2 or n % len(devices):
        return arrays, 1
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    sharding = NamedSharding(Mesh(np.asarray(devices), ("draws",)), PartitionSpec("draws"))
    return {k: jax.device_put(v, sharding) for k, v in arrays.items()}, len(devices)


def _max_chunk_elements(x) -> int:
    """The block size for the platform the array ``x`` lives on (JAX's default backend for a NumPy array)."""
    platform = next(iter(x.devices())).platform if isinstance(x, jax.Array) else jax.default_backend()
    return MAX_CHUNK_ELEMENTS_GPU if platform == "gpu" else MAX_CHUNK_ELEMENTS


def stream(arrays: dict, spec: QuerySpec, workload: Workload, *, queries_per_draw: int, seed: int,
           log_scale: np.ndarray | None = None, shard: bool = True,
           extra_log_scales: np.ndarray | None = None, extra_rates: np.ndarray | None = None) -> StreamSummary:
    """Summaries of the energy of ``workload`` over every draw in ``arrays`` (from :func:`~.predict.prepare`) and
    at least ``queries_per_draw`` simulated queries each (rounded up to whole chunks). ``log_scale`` (per draw) is
    added to the log of every value: a per-draw reduction factor. Output lengths come from ``seed``'s stream, so
    two queries with the same seed share them (common random numbers). With several local devices the draws are
    split across them (:func:`shard_draws`) unless ``shard`` is False. ``extra_log_scales`` (factors x draws):
    more per-draw factors on the same queries' values (a query's carbon, its water), summarised in ``extras``;
    ``extra_rates`` (the same shape, >= 0) adds each factor's per-draw rate times the query's GPU-seconds (per
    output token with ``per="token"``). Lengths not given are drawn per query
    from the regime's workload mixture of each posterior draw (:mod:`infergy.model.workload`); an agent's later
    calls draw their outputs from the first call's component."""
    workload.check()
    n = int(arrays["log_batch"].shape[0])
    n_devices = 1
    if shard:
        arrays, n_devices = shard_draws(arrays)
    n_chunks, chunk = chunking(n, queries_per_draw, _max_chunk_elements(arrays["log_batch"]))
    key = jax.random.fold_in(jax.random.PRNGKey(seed), 1)
    scale = jnp.zeros(n, jnp.float32) if log_scale is None else jnp.asarray(log_scale, jnp.float32)
    extra = jnp.zeros((0, n), jnp.float32) if extra_log_scales is None else jnp.asarray(extra_log_scales, jnp.float32)
    with_seconds = extra_rates is not None and bool(np.any(np.asarray(extra_rates) > 0))
    rates = jnp.asarray(extra_rates, jnp.float32) if with_seconds else jnp.zeros_like(extra)
    if n_devices > 1:
        scale = jax.device_put(scale, arrays["log_batch"].sharding)
        from jax.sharding import NamedSharding, PartitionSpec

        along = NamedSharding(arrays["log_batch"].sharding.mesh, PartitionSpec(None, "draws"))
        extra, rates = jax.device_put(extra, along), jax.device_put(rates, along)
    per_call = n_chunks
    if n * n_chunks * chunk > PROGRESS_SAMPLES and n_chunks > 1:  # whole parts: a few more queries, never fewer
        per_call = -(-n_chunks // PROGRESS_STEPS)
        n_chunks = per_call * -(-n_chunks // per_call)
    q = n_chunks * chunk
    report = _PROGRESS.get()
    k = int(extra.shape[0])
    hist, sums, max_ctx, outside = np.zeros(HIST_BINS, np.int64), np.zeros(n, np.float64), 0.0, 0
    x_hist, x_sums, x_outside = np.zeros((k, HIST_BINS), np.int64), np.zeros((k, n), np.float64), np.zeros(k, np.int64)
    for start in range(0, n_chunks, per_call):
        part = _stream_kernel(
            arrays, boundary_flags(spec.boundary), key, scale, jnp.float32(workload.input_tokens or 0.0),
            jnp.float32(workload.output_tokens or 0.0), jnp.float32(workload.tool_tokens),
            jnp.float32(workload.cache_hit_rate), jnp.int32(start), extra, rates, n_chunks=per_call, chunk=chunk,
            steps=workload.agent_steps, per_token=workload.per == "token", draw_input=workload.input_tokens is None,
            draw_output=workload.output_tokens is None, with_seconds=with_seconds)
        h, s, c, o, xh, xs, xo = (_to_host(x) for x in part)
        hist, sums = hist + np.asarray(h, np.int64), sums + np.asarray(s, np.float64)
        max_ctx, outside = max(max_ctx, float(c)), outside + int(o)
        x_hist, x_sums, x_outside = x_hist + xh, x_sums + xs, x_outside + xo
        if report is not None and per_call < n_chunks:
            report(n * (start + per_call) * chunk, n * q)
    extras = tuple(StreamSummary(hist=x_hist[j], per_draw_mean=x_sums[j] / q, count=n * q,
                                 max_context_tokens=max_ctx, out_of_range=int(x_outside[j])) for j in range(k))
    return StreamSummary(hist=hist, per_draw_mean=sums / q, count=n * q, max_context_tokens=max_ctx,
                         out_of_range=outside, extras=extras)


def _to_host(x) -> np.ndarray:
    """A result as a NumPy array on this host, gathered from the other processes' devices when it spans them."""
    if not isinstance(x, jax.Array) or x.is_fully_addressable:
        return np.asarray(x)
    if x.is_fully_replicated:  # every process holds all of it
        return np.asarray(x.addressable_data(0))
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.process_allgather(x, tiled=True))


def stream_spec(draws_coords, spec: QuerySpec, workload: Workload, bundle, *, queries_per_draw: int, seed: int,
                log_scale: np.ndarray | None = None,
                extra_scales: Callable[[dict], np.ndarray] | None = None,
                extra_rates: Callable[[dict], np.ndarray] | None = None,
                prepared: tuple[dict, dict] | None = None) -> tuple[StreamSummary, dict]:
    """:func:`stream` for ``spec`` resolved against a flattened posterior; returns the summary and what was
    resolved (model, GPU, GPU count ...). ``extra_scales(arrays)``: the per-draw log factors (factors x draws) of
    :func:`stream`'s ``extra_log_scales``, from the resolved per-draw parameters (PUE, host ratio ...).
    ``prepared``: :func:`~.predict.prepare`'s result for ``spec`` and ``seed`` where the caller has it."""
    arrays, meta = prepared if prepared is not None else prepare(draws_coords, spec, bundle, seed)
    meta["extreme"] = list(meta["extreme"]) + _context_problems(spec, workload, meta, bundle)
    host = {k: np.asarray(v, np.float64) for k, v in arrays.items()}
    extra = extra_scales(host) if extra_scales else None
    rates = extra_rates(host) if extra_rates else None
    summary = stream(arrays, spec, workload, queries_per_draw=queries_per_draw, seed=seed, log_scale=log_scale,
                     extra_log_scales=extra, extra_rates=rates)
    window = meta["context_window"]
    drawn = workload.input_tokens is None or (workload.agent_steps > 1 and workload.output_tokens is None)
    if window is not None and drawn and summary.max_context_tokens > window and not meta["extreme"]:
        what = ("drawn prompts reach" if workload.agent_steps == 1 else
                "in the longest simulated workflows the context of a call reaches")
        meta["extreme"].append(f"{what} {summary.max_context_tokens:,.0f} tokens, past {meta['model']}'s "
                               f"{window:,.0f}-token context window: a service would cut or refuse those; they are "
                               "answered as drawn")
    if summary.out_of_range:
        lo, hi = HIST_LOG10_RANGE
        raise ValueError(f"{summary.out_of_range:,} of {summary.count:,} simulated values fall outside 1e{lo:g}-1e{hi:g} "
                         f"{workload.unit}: the query is past what the model describes (check its lengths, load and "
                         "hardware)")
    return summary, meta


def _context_problems(spec: QuerySpec, workload: Workload, meta: dict, bundle) -> list[str]:
    """An agent's growing context against the model's window (a single call was checked when the query was
    resolved: :func:`~infergy.model.query.check_context`)."""
    from ..model.query import check_context

    if workload.agent_steps == 1:
        return []
    tokens = workload.last_call_context_tokens(meta["typical_input_tokens"], meta["typical_output_tokens"])
    fixed = workload.input_tokens and workload.output_tokens
    return check_context(tokens, meta["model"], meta["context_window"], bundle, spec.allow_extreme,
                         f" by the last of {workload.agent_steps} agent calls"
                         + ("" if fixed else " (at the workload's median lengths)"))
