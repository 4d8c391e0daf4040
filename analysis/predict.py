"""Posterior-predictive energy per query: the fitted sub-models, evaluated at the production operating point.

For every posterior draw and every simulated query (its output length drawn from the regime), the equations of
:mod:`infergy.model.equations` -- log tok/s per GPU, W per GPU, J per query, the boundary's factor -- at the
parameters :func:`infergy.model.query.resolve_parameters` gives for the query (a model that was not benchmarked
drawn from the size regression with its spread, a GPU from the bandwidth line, an unobserved pairing from its
interaction's spread). Everything is vectorised over (draw x query) in JAX."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from ..data.vocab import BOUNDARY_TABLE
from ..model import equations as eq
from ..model.paper import REGIMES
from ..model.query import QuerySpec, default_gpu_count, resolve_parameters
from ..model.throughput import n_draws

__all__ = ["QuerySpec", "PredictiveEnergy", "posterior_draws", "predict_energy_wh", "predict_components",
           "default_gpu_count", "PREDICT_BOUNDARIES", "REGIME_MEDIAN_OUTPUT_TOKENS", "boundary_flags", "check_spec",
           "energy_wh", "prepare"]

#: Boundaries of a prediction, narrowest first; "+idle" adds the provisioned-but-idle capacity.
PREDICT_BOUNDARIES = ("gpu", "node", "facility", "facility+idle")
#: Output-length regimes (median output tokens): the paper's, until the workload model learns them from traces.
REGIME_MEDIAN_OUTPUT_TOKENS = REGIMES


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


def _log_tps_and_power(p: dict, log_in_c, out_tokens):
    """log output tok/s per GPU (draws x queries) and log W per GPU (draws) for ``out_tokens`` (draws x queries)."""
    col = lambda v: v[:, None]  # noqa: E731  (per-draw values against the query axis)
    log_out_c = jnp.log(jnp.maximum(out_tokens, 1.0) / 1000.0)
    log_seq = jnp.log(jnp.exp(log_in_c) * 1000.0 + out_tokens)
    log_b_kv = eq.log_kv_capacity(col(p["log_headroom_gb"]), col(p["log_kv_mb"]), log_seq)
    log_b_eff = eq.log_effective_batch(log_b_kv, col(p["log_batch"]))
    log_tps = eq.log_tps_per_gpu(col(p["log_tps_fixed"]), col(p["beta_isl"]), col(p["beta_osl"]), col(p["beta_io"]),
                                 log_in_c, log_out_c, eq.log_load(col(p["log_batch50"]), log_b_eff))
    share = eq.power_share(p["idle"], p["peak"], p["power_log_batch50"], p["log_batch"])
    return log_tps, eq.log_gpu_power_w(p["tdp_w"], share, p["log_power_adj"])


def energy_wh(p: dict, log_in_c: jnp.ndarray, out_tokens: jnp.ndarray, boundary_flags: jnp.ndarray):
    """Wh per query for (draws x queries): ``out_tokens`` has shape (draws, queries), ``log_in_c``
    (log(input tokens / 1000)) is a scalar or has that shape too; ``boundary_flags`` from :func:`boundary_flags`."""
    log_tps, log_power_w = _log_tps_and_power(p, log_in_c, out_tokens)
    wh = jnp.exp(eq.log_gpu_energy_j(log_power_w[:, None], jnp.log(jnp.maximum(out_tokens, 1.0)), log_tps)) / 3600.0
    return wh * eq.boundary_factor(p["host_ratio"], p["pue"], p["idle_share"], boundary_flags)[:, None]


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
    if spec.regime not in REGIME_MEDIAN_OUTPUT_TOKENS:
        raise ValueError(f"unknown regime {spec.regime!r}; choose traditional or reasoning")
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
    meta = {k[1:]: p.pop(k) for k in list(p) if k.startswith("_")}
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
    if spec.output_tokens is not None:
        out = jnp.full((n, queries), float(spec.output_tokens))
    else:  # exponential output lengths with the regime's median, as the paper draws them
        mean = REGIME_MEDIAN_OUTPUT_TOKENS[spec.regime] / math.log(2.0)
        out = mean * jax.random.exponential(key_tokens, (n, queries))
    wh = _energy_kernel(arrays, jnp.float32(math.log(spec.input_tokens / 1000.0)), out,
                        boundary_flags(spec.boundary))
    inputs = {**spec.resolved(), "model": meta["model"] or spec.model, "gpu": meta["gpu"],
              "n_gpus": meta["n_gpus"], "total_params_b": meta["total"], "active_params_b": meta["active"],
              "moe": meta["moe"], "posterior_draws": n, "queries_per_draw": queries}
    return PredictiveEnergy(np.asarray(wh), spec, inputs)


def predict_components(dt, spec: QuerySpec, *, seed: int = 0, bundle=None) -> dict[str, np.ndarray]:
    """Per-draw factors of the energy for a query of the regime's median output length (or ``output_tokens``):
    output tok/s per GPU, W per GPU (accelerator), host ratio, PUE, production batch -- to explain a difference."""
    from ..data import load

    bundle = bundle if bundle is not None else load()
    arrays, meta = prepare(_as_draws(dt), spec, bundle, seed)
    out = float(spec.output_tokens or REGIME_MEDIAN_OUTPUT_TOKENS[spec.regime])
    log_tps, log_power_w = _log_tps_and_power(arrays, jnp.float32(math.log(spec.input_tokens / 1000.0)),
                                              jnp.full((arrays["log_batch"].shape[0], 1), out))
    return {"tps_gpu_tok_s": np.exp(np.asarray(log_tps)[:, 0]), "gpu_power_w": np.exp(np.asarray(log_power_w)),
            "host_ratio": np.asarray(arrays["host_ratio"]), "pue": np.asarray(arrays["pue"]),
            "batch": np.exp(np.asarray(arrays["log_batch"])), "n_gpus": meta["n_gpus"], "output_tokens": out}
