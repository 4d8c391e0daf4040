"""Posterior-predictive energy per query: the fitted sub-models, evaluated at the production operating point.

For every posterior draw and every simulated query (its lengths drawn from the regime's workload), the equations of
:mod:`infergy.model.equations` -- log tok/s per GPU, W per GPU, J per query, the boundary's factor -- at the
parameters :func:`infergy.model.query.resolve_parameters` gives for the query (a model that was not benchmarked
drawn from the size regression with its spread, a GPU from the bandwidth line, an unobserved pairing from its
interaction's spread). Everything is vectorised over (draw x query) in JAX."""

from __future__ import annotations

from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from ..data.vocab import BOUNDARY_TABLE
from ..model import equations as eq
from ..model.names import PREDICT_BOUNDARIES, REGIMES
from ..model.workload import draw_lengths, draw_output, length_mixture, typical_lengths
from ..model.query import QuerySpec, default_gpu_count, efficiency_of, physics_of, power_curve_of, resolve_parameters
from ..model.throughput import n_draws

__all__ = ["QuerySpec", "PredictiveEnergy", "posterior_draws", "predict_energy_wh", "predict_components",
           "default_gpu_count", "PREDICT_BOUNDARIES", "REGIMES", "boundary_flags", "check_spec",
           "energy_wh", "prepare"]



@dataclass
class PredictiveEnergy:
    """Draws of Wh per query: ``wh`` has shape (posterior draws, queries)."""

    wh: np.ndarray
    spec: QuerySpec
    inputs: dict = field(default_factory=dict)

    @property
    def mean_per_draw(self) -> np.ndarray:
        """Posterior of the mean Wh per query (the per-query spread averaged out)."""
        return self.wh.mean(axis=1)


def posterior_draws(dt) -> tuple[dict[str, np.ndarray], dict[str, list]]:
    """Posterior variables flattened over chains (draws first), and the coordinate labels."""
    post = dt["posterior"]
    draws = {name: np.asarray(da).reshape(-1, *da.shape[2:]) for name, da in post.data_vars.items()}
    coords = {name: [str(v) for v in np.asarray(post[name])] for name in post.coords if name not in ("chain", "draw")}
    return draws, coords


def _as_draws(dt) -> tuple[dict[str, np.ndarray], dict[str, list]]:
    """``dt`` flattened by :func:`posterior_draws`, unless it already is (callers predicting many queries
    flatten once)."""
    return dt if isinstance(dt, tuple) else posterior_draws(dt)


def serving(p: dict, context_tokens, prefill_tokens, out_tokens) -> tuple[eq.ServingTimes, tuple]:
    """:func:`~infergy.model.equations.serving_times` and the phases' log W per GPU for (draws x queries):
    per-draw parameters ``p`` against the query axis; the token counts broadcast to (draws, queries)."""
    col = lambda v: v[:, None]  # noqa: E731  (per-draw values against the query axis)
    log_load = col(p["log_batch"])
    times = eq.serving_times(physics_of(p, col), efficiency_of(p, col), log_load, context_tokens, prefill_tokens,
                             jnp.maximum(out_tokens, 1.0))
    return times, eq.phase_log_power_w(power_curve_of(p, col), log_load, times)


def energy_wh(p: dict, context_tokens, prefill_tokens, out_tokens, boundary_flags: jnp.ndarray):
    """Wh per query for (draws x queries): ``out_tokens`` has shape (draws, queries); ``context_tokens`` (the
    prompt the output follows) and ``prefill_tokens`` (the part of it computed, not read from a cache) are scalars
    or have that shape too; ``boundary_flags`` from :func:`boundary_flags`. Each draw carries the scatter one
    configuration shows around the model (``log_scatter``)."""
    return energy_wh_and_gpu_s(p, context_tokens, prefill_tokens, out_tokens, boundary_flags)[0]


def energy_wh_and_gpu_s(p: dict, context_tokens, prefill_tokens, out_tokens, boundary_flags: jnp.ndarray):
    """:func:`energy_wh` and the GPU-seconds the query occupies (its replica-seconds in both phases x the
    replica's GPUs: what amortises the hardware's manufacturing), from one evaluation of the serving equations."""
    times, log_w = serving(p, context_tokens, prefill_tokens, out_tokens)
    n_gpus = p["phys_n_gpus"][:, None]
    base_j = eq.gpu_energy_j(n_gpus, times, *log_w)
    joules = base_j * effective_scatter(p, n_gpus, times, base_j)
    wh = joules / 3600.0 * eq.boundary_factor(p["host_ratio"], p["pue"], p["idle_share"], boundary_flags)[:, None]
    return wh, n_gpus * (times.prefill_s + times.decode_s)


def effective_scatter(p: dict, n_gpus, times: eq.ServingTimes, gpu_j):
    """The factor a configuration's scatter about the model (``log_scatter``) multiplies the GPU energy ``gpu_j``
    by, held where it would take the energy below the FLOP floor (the query's FLOPs at peak, at TDP)."""
    floor_j = n_gpus * p["power_tdp_w"][:, None] * times.flop_s
    return jnp.maximum(jnp.exp(p["log_scatter"])[:, None], floor_j / gpu_j)


_energy_kernel = jax.jit(energy_wh)

#: What each boundary adds to the accelerators' energy: (host, PUE, idle capacity).
_BOUNDARY_FLAGS = {name: tuple(map(float, BOUNDARY_TABLE[name].switches)) for name in PREDICT_BOUNDARIES}


def boundary_flags(boundary: str) -> jnp.ndarray:
    """(host, PUE, idle capacity) switches of ``boundary``."""
    if boundary not in _BOUNDARY_FLAGS:
        raise ValueError(f"unknown boundary {boundary!r}; choose one of {', '.join(PREDICT_BOUNDARIES)}")
    return jnp.asarray(_BOUNDARY_FLAGS[boundary], dtype=jnp.float32)


def check_spec(spec: QuerySpec) -> None:
    """Raise ValueError for a query that cannot be answered (before any posterior work)."""
    boundary_flags(spec.boundary)
    if spec.regime not in REGIMES:
        raise ValueError(f"unknown regime {spec.regime!r}; choose one of {', '.join(REGIMES)}")
    for label, value in (("input tokens", spec.input_tokens), ("output tokens", spec.output_tokens),
                         ("batch size", spec.batch_size), ("batch scale", spec.batch_scale),
                         ("GPUs", spec.n_gpus)):
        if value is not None and not value > 0:
            raise ValueError(f"{label} must be > 0, got {value}")


def prepare(draws_coords: tuple[dict, dict], spec: QuerySpec, bundle, seed: int) -> tuple[dict, dict]:
    """The per-draw arrays (float32, for the kernels) of ``spec`` and what was resolved (model, GPU, GPU count).
    The random effects of unseen models, GPUs and pairings are drawn from ``seed``'s streams."""
    check_spec(spec)
    draws, coords = draws_coords
    p = resolve_parameters(spec, draws, coords, bundle, jax.random.split(jax.random.PRNGKey(seed))[0])
    p.update(length_mixture(draws, spec.regime, bundle.tables["request_lengths"]))
    meta = {k[1:]: p.pop(k) for k in list(p) if k.startswith("_")}
    meta["typical_input_tokens"], meta["typical_output_tokens"] = typical_lengths(draws, spec.regime, bundle.tables["request_lengths"])
    return {k: jnp.asarray(v, dtype=jnp.float32) for k, v in p.items()}, meta


def predict_energy_wh(dt, spec: QuerySpec, *, queries: int = 200, seed: int = 0, bundle=None) -> PredictiveEnergy:
    """Wh per query for ``spec`` under the posterior in ``dt`` (a DataTree, or :func:`posterior_draws` of one):
    an array (posterior draws x simulated queries)."""
    from ..data import load

    check_spec(spec)
    bundle = bundle if bundle is not None else load()
    draws, coords = _as_draws(dt)
    key_tokens = jax.random.split(jax.random.PRNGKey(seed))[1]
    arrays, meta = prepare((draws, coords), spec, bundle, seed)
    n = n_draws(draws)
    k_lengths, k_out = jax.random.split(key_tokens)
    component, tokens_in = draw_lengths(arrays, k_lengths, (n, queries), spec.input_tokens, spec.output_tokens)
    out = (jnp.full((n, queries), float(spec.output_tokens)) if spec.output_tokens is not None
           else draw_output(arrays, k_out, component))
    wh = _energy_kernel(arrays, tokens_in, tokens_in, out, boundary_flags(spec.boundary))
    inputs = {**spec.resolved(), "model": meta["model"] or spec.model, "gpu": meta["gpu"],
              "n_gpus": meta["n_gpus"], "total_params_b": meta["total"], "active_params_b": meta["active"],
              "moe": meta["moe"], "posterior_draws": n, "queries_per_draw": queries}
    return PredictiveEnergy(np.asarray(wh), spec, inputs)


def predict_components(dt, spec: QuerySpec, *, seed: int = 0, bundle=None, cache_hit_rate: float = 0.0
                       ) -> dict[str, np.ndarray]:
    """Per-draw factors of the energy for a query of the regime's median lengths (or those given):
    output tok/s per GPU, W per GPU (accelerator, averaged over the phases), the seconds of prefill and decode, the
    batch actually running, the configuration's scatter about the model (held at the FLOP floor), host ratio, PUE,
    production load -- to explain a difference. ``cache_hit_rate``: the share of the prompt read from a prefix
    cache rather than prefilled."""
    if not 0.0 <= cache_hit_rate < 1.0:
        raise ValueError(f"cache_hit_rate must be in [0, 1); got {cache_hit_rate}")
    from ..data import load

    bundle = bundle if bundle is not None else load()
    draws_coords = _as_draws(dt)
    arrays, meta = prepare(draws_coords, spec, bundle, seed)
    typical_in, typical_out = typical_lengths(draws_coords[0], spec.regime, bundle.tables["request_lengths"])
    out = float(spec.output_tokens or typical_out)
    n = arrays["log_batch"].shape[0]
    tokens_in = jnp.float32(spec.input_tokens or typical_in)
    times, log_w = serving(arrays, tokens_in, tokens_in * (1.0 - cache_hit_rate), jnp.full((n, 1), out))
    n_col = arrays["phys_n_gpus"][:, None]
    scatter = np.asarray(effective_scatter(arrays, n_col, times, eq.gpu_energy_j(n_col, times, *log_w)),
                         np.float64)[:, 0]
    times = eq.ServingTimes(*(np.asarray(v, np.float64)[:, 0] for v in times))
    log_w = tuple(np.asarray(v, np.float64)[:, 0] for v in log_w)
    n_gpus = np.asarray(arrays["phys_n_gpus"], np.float64)
    energy_j = n_gpus * (times.prefill_s * np.exp(log_w[0]) + times.decode_s * np.exp(log_w[1]))
    return {"tps_gpu_tok_s": out / (n_gpus * (times.prefill_s + times.decode_s)),
            "gpu_power_w": energy_j / (n_gpus * (times.prefill_s + times.decode_s)),
            "prefill_s": times.prefill_s, "decode_s": times.decode_s, "running_batch": np.exp(times.log_batch),
            "scatter": scatter,
            "host_ratio": np.asarray(arrays["host_ratio"]), "pue": np.asarray(arrays["pue"]),
            "batch": np.exp(np.asarray(arrays["log_batch"])), "n_gpus": meta["n_gpus"], "input_tokens": float(tokens_in), "output_tokens": out}
