"""Paper mode: the forward Monte Carlo of the seed paper, fully vectorized and jitted in JAX.

One call draws every model's output lengths, power utilisation and PUE at once (an array of models x samples),
evaluates the energy equation, takes per-model and blended (">200B") statistics, applies the efficiency
pathways and computes the fleet total with a bootstrap of the mean. There is no Python loop over samples.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import ndtri

from ..data import data_path, file_sha256, load_paper_throughput
from ..model.energy import energy_per_query_wh
from ..model.names import RNG_BACKENDS, SAMPLING
from ..model.paper import REGIMES, PaperConfig, TpsRegression, fit_tps_regressions, get_paper_config, paper_tps

__all__ = [
    "RNG_BACKENDS",
    "SAMPLING",
    "FLEET_NAMES",
    "FleetEstimate",
    "PaperReplication",
    "replicate_paper",
    "bootstrap_mean",
    "bootstrap_route_tolerance",
    "mean_distribution",
    "nan_quartiles",
]

FLEET_NAMES = ("baseline", "with_long_queries", "improved")
_LN2 = math.log(2.0)


def nan_quartiles(x: jax.Array, axis: int = -1) -> jax.Array:
    """``[median, p25, p75, mean]`` along ``axis``, ignoring NaN (trimmed) entries; linear interpolation."""
    q = jnp.nanquantile(x, jnp.array([0.5, 0.25, 0.75]), axis=axis)
    return jnp.concatenate([q, jnp.nanmean(x, axis=axis)[None]], axis=0)


def _trim(x: jax.Array, low_pct: float, high_pct: float) -> jax.Array:
    """Set entries outside each row's [P_low, P_high] (of its non-NaN values) to NaN."""
    lo, hi = jnp.nanquantile(x, jnp.array([low_pct, high_pct]) / 100.0, axis=-1, keepdims=True)
    return jnp.where((x >= lo) & (x <= hi), x, jnp.nan)


def bootstrap_mean(key: jax.Array, x: jax.Array, n_resamples: int) -> jax.Array:
    """Bootstrap distribution of the mean of each row of ``x`` (rows share resample indices): shape (rows, B)."""
    x = jnp.atleast_2d(x)
    size = x.shape[-1]
    batch = max(1, min(n_resamples, 20_000_000 // max(size * x.shape[0], 1)))

    def one(k: jax.Array) -> jax.Array:
        idx = jax.random.randint(k, (size,), 0, size)
        return jnp.mean(x[:, idx], axis=-1)

    return jax.lax.map(one, jax.random.split(key, n_resamples), batch_size=batch).T


#: Shevtsova (2011)'s constant in the Berry-Esseen bound sup|F - Phi| <= C rho / (sigma^3 sqrt(n)) for a mean of n
#: i.i.d. draws; the bootstrap draws from the sample itself, so rho and sigma are the sample's own: exact, no limit.
BERRY_ESSEEN_C = 0.4748


def bootstrap_route_tolerance(n_resamples: int) -> float:
    """The largest CDF error a normal route may carry: a tenth of the 95% Dvoretzky-Kiefer-Wolfowitz band of the
    ``n_resamples`` bootstrap itself (its own Monte Carlo error; 0.0043 at 1,000 resamples). The paper's 10,000
    samples per model bound the error at ~0.012, so they keep the resampling bootstrap and its published figures;
    from ~1e5 samples per model the normal route is taken."""
    return 0.1 * math.sqrt(math.log(2.0 / 0.05) / (2.0 * n_resamples))


def mean_distribution(key: jax.Array, x: jax.Array, n_resamples: int) -> tuple[jax.Array, jax.Array]:
    """The bootstrap distribution of each row's mean (shape (rows, B)) and the Berry-Esseen bound on its normal
    approximation. Where that bound is within :func:`bootstrap_route_tolerance`, the draws come from the normal
    with the bootstrap's exact mean and variance (the sample mean, the sample variance / n): O(n + B) instead of
    O(n B), and provably closer to the bootstrap's own distribution than the bootstrap's Monte Carlo error.
    Otherwise (the paper's 10,000 samples) the resampling bootstrap, as the paper."""
    x = jnp.atleast_2d(x)
    n = x.shape[-1]
    mean = jnp.mean(x, axis=-1)
    centred = x - mean[:, None]
    sd = jnp.sqrt(jnp.mean(centred**2, axis=-1))
    rho = jnp.mean(jnp.abs(centred) ** 3, axis=-1)
    bound = jnp.max(BERRY_ESSEEN_C * rho / (sd**3 * math.sqrt(n)))
    def normal(_):
        z = jax.random.normal(jax.random.fold_in(key, 1), (x.shape[0], n_resamples), x.dtype)
        return mean[:, None] + (sd / math.sqrt(n))[:, None] * z

    def resample(_):
        # 1000 x n indices: XLA's RngBitGenerator ("rbg") draws them ~3x faster than threefry on CPU
        k = jax.random.key(jax.random.bits(key, (), jnp.uint32), impl="rbg")
        return bootstrap_mean(k, x, n_resamples)

    draws = jax.lax.cond(bound <= bootstrap_route_tolerance(n_resamples), normal, resample, None)
    return draws, bound


def _uniforms(key: jax.Array, shape: tuple[int, int], stratified: bool) -> jax.Array:
    """Uniforms in (0, 1) per row: plain i.i.d., or Latin-hypercube stratified (one draw in each of n strata,
    in random order), which estimates the same distribution with lower quantile noise at the same n."""
    k_perm, k_jitter = jax.random.split(key)
    jitter = jax.random.uniform(k_jitter, shape)
    if stratified:
        perms = jax.vmap(lambda k: jax.random.permutation(k, shape[1]))(jax.random.split(k_perm, shape[0]))
        jitter = (perms + jitter) / shape[1]
    eps = float(jnp.finfo(jnp.float32).eps)
    return jnp.clip(jitter, eps, 1.0 - eps)


@partial(jax.jit, static_argnames=("n_models", "n", "stratified"))
def _draw_inputs_jax(key, median_out, pu_mu, pu_sigma, pue_mu, pue_sigma, n_models: int, n: int, stratified: bool):
    """Output tokens (exponential, rounded), power utilisation and PUE (log-normal) by inverse CDF."""
    k_len, k_pu, k_pue = jax.random.split(key, 3)
    shape = (n_models, n)
    u_len, u_pu, u_pue = (_uniforms(k, shape, stratified) for k in (k_len, k_pu, k_pue))
    out_tokens = jnp.round(-jnp.log1p(-u_len) * (median_out / _LN2))
    pu = jnp.exp(pu_mu + pu_sigma * ndtri(u_pu))
    pue = jnp.exp(pue_mu + pue_sigma * ndtri(u_pue))
    return out_tokens, pu, pue


def _draw_inputs_numpy_legacy(seed, median_out, pu_mu, pu_sigma, pue_mu, pue_sigma, n_models, n):
    """The released scripts' draws: one RandomState per regime script, per model L_out, then PU, then PUE."""
    rng = np.random.RandomState(seed)
    out = np.empty((3, n_models, n))
    for m in range(n_models):  # loop over the 5 models, not over samples
        out[0, m] = np.round(rng.exponential(median_out / _LN2, n))
        out[1, m] = rng.lognormal(pu_mu, pu_sigma, n)
        out[2, m] = rng.lognormal(pue_mu, pue_sigma, n)
    return tuple(jnp.asarray(a, dtype=jnp.float32) for a in out)


@partial(jax.jit, static_argnames=("top_k", "trims", "n_boot"))
def _regime_core(
    key, out_tokens, pu, pue, b0, b1, b2, cap, power_w, input_tokens,
    path_mu, path_sigma, imp_mu, imp_sigma, gwh_scale, top_k: int, trims: tuple, n_boot: int,
):
    log_osl = jnp.log(jnp.maximum(out_tokens, 1e-6))
    tps = paper_tps(b0[:, None], b1[:, None], b2[:, None], cap[:, None], jnp.log(input_tokens), log_osl, jnp)
    # The paper's P_node = P_max * PU is a whole-node power, so it enters as one term at the facility boundary.
    energy = energy_per_query_wh(out_tokens, tps, power_w[:, None] * pu, 0.0, pue, boundary="facility")
    per_model = nan_quartiles(energy)  # (4, models)

    top = jnp.argsort(-jnp.median(energy, axis=1))[:top_k]
    kept = energy[top]
    for low, high in trims:
        kept = _trim(kept, low, high)
    pooled = kept.reshape(-1)
    blended = nan_quartiles(pooled)

    k_path, k_imp, k_boot = jax.random.split(key, 3)
    mult = jnp.exp(path_mu[:, None] + path_sigma[:, None] * jax.random.normal(k_path, (path_mu.shape[0], pooled.size)))
    pathways = pooled[None, :] / mult
    pathway_stats = nan_quartiles(pathways)  # (4, levers)

    fleet_base = energy[top].reshape(-1)
    fleet_improved = fleet_base / jnp.exp(imp_mu + imp_sigma * jax.random.normal(k_imp, fleet_base.shape))
    boots, bound = mean_distribution(k_boot, jnp.stack([fleet_base, fleet_improved]), n_boot)
    return dict(
        energy=energy, tps=tps, per_model=per_model, top=top, pooled=pooled, blended=blended,
        pathways=pathways, pathway_stats=pathway_stats, fleet_boot=boots * gwh_scale, fleet_bound=bound,
    )


@dataclass(frozen=True)
class FleetEstimate:
    """Fleet energy in GWh/day: the bootstrap median and its 5-95% interval."""

    median: float
    p5: float
    p95: float

    @classmethod
    def from_boot(cls, boot: np.ndarray) -> "FleetEstimate":
        med, p5, p95 = np.percentile(boot, [50.0, 5.0, 95.0])
        return cls(float(med), float(p5), float(p95))


def _fleet_interval(bound: float, n_resamples: int) -> str:
    """How :func:`mean_distribution` drew the fleet's interval, in words."""
    tolerance = bootstrap_route_tolerance(n_resamples)
    if bound <= tolerance:
        return (f"normal with the bootstrap's mean and variance (Berry-Esseen bound {bound:.2g} <= {tolerance:.2g}, "
                f"a tenth of the {n_resamples:,}-resample bootstrap's own 95% band)")
    return f"bootstrap, {n_resamples:,} resamples of the mean"


def _sig(x: float, digits: int = 6) -> float:
    return float(f"{float(x):.{digits}g}")


def _qdict(row: np.ndarray) -> dict[str, float]:
    return {"median": _sig(row[0]), "p25": _sig(row[1]), "p75": _sig(row[2]), "mean": _sig(row[3])}


@dataclass(frozen=True)
class PaperReplication:
    """Everything paper mode computes, in Wh per query at the facility boundary (GWh/day for the fleet)."""

    config: PaperConfig
    seed: int
    rng: str
    sampling: str
    samples_per_model: int
    models: tuple[str, ...]
    regressions: Mapping[str, TpsRegression]
    energy_wh: Mapping[str, np.ndarray]  # regime -> (models, samples)
    per_model_stats: Mapping[str, np.ndarray]  # regime -> (models, 4)
    blended_models: Mapping[str, tuple[str, ...]]
    blended_wh: Mapping[str, np.ndarray]  # regime -> kept pooled samples
    blended_stats: Mapping[str, np.ndarray]  # regime -> (4,)
    pathways_wh: Mapping[str, Mapping[str, np.ndarray]]  # lever -> regime -> samples
    pathway_stats: Mapping[str, Mapping[str, np.ndarray]]
    fleet_by_regime: Mapping[str, Mapping[str, FleetEstimate]]  # regime -> baseline/improved
    fleet: Mapping[str, FleetEstimate]  # baseline / with_long_queries / improved
    data_sha256: str = ""
    boundary: str = field(default="facility")
    fleet_interval: str = "bootstrap"  # how the fleet's interval of the mean was drawn (mean_distribution)

    @property
    def version(self) -> str:
        return self.config.version

    def to_dict(self) -> dict[str, Any]:
        """The replication's JSON shape (quartiles and means in Wh/query, fleet in GWh/day)."""
        regimes = list(REGIMES)
        return {
            "version": self.version,
            "samples_per_model": self.samples_per_model,
            "per_model": {
                m: {r: _qdict(self.per_model_stats[r][i]) for r in regimes} for i, m in enumerate(self.models)
            },
            "blended": {r: _qdict(self.blended_stats[r]) for r in regimes},
            "pathways": {
                lever: {r: _qdict(self.pathway_stats[lever][r]) for r in regimes} for lever in self.pathway_stats
            },
            "fleet_gwh_per_day": {name: _sig(self.fleet[name].median) for name in FLEET_NAMES},
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)


def replicate_paper(
    version: str = "v2",
    samples: int | None = None,
    seed: int = 42,
    rng: str = "jax",
    sampling: str | None = None,
    config: PaperConfig | None = None,
) -> PaperReplication:
    """Run paper mode for ``version`` (``"v1"`` or ``"v2"``): per-model, blended, pathways and fleet.

    Args:
        version: paper version whose frozen config is used (ignored when ``config`` is given).
        samples: Monte Carlo samples per model and regime (default: the paper's 10,000).
        seed: the one seed every draw derives from.
        rng: ``"jax"`` or ``"numpy-legacy"`` (see :data:`RNG_BACKENDS`).
        sampling: ``"lhs"`` (default with ``rng="jax"``) or ``"iid"`` (see :data:`SAMPLING`).
        config: a custom :class:`PaperConfig` (e.g. a sensitivity variant).
    """
    cfg = config or get_paper_config(version)
    n = int(cfg.samples_per_model if samples is None else samples)
    if n < 100:
        raise ValueError(f"samples must be >= 100 per model for stable quantiles, got {n}")
    if rng not in RNG_BACKENDS:
        raise ValueError(f"unknown rng {rng!r}; choose one of {', '.join(RNG_BACKENDS)}")
    if sampling is None:
        sampling = "lhs" if rng == "jax" else "iid"
    if sampling not in SAMPLING:
        raise ValueError(f"unknown sampling {sampling!r}; choose one of {', '.join(SAMPLING)}")
    if rng == "numpy-legacy" and sampling != "iid":
        raise ValueError("rng 'numpy-legacy' replays the released scripts' i.i.d. draws; use sampling 'iid'")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")

    table = load_paper_throughput()
    fits = fit_tps_regressions(table, cfg.precision)
    models = tuple(fits)
    if cfg.blend_top_k > len(models):
        raise ValueError(f"blend_top_k={cfg.blend_top_k} exceeds the {len(models)} models")
    coef = {
        name: jnp.asarray([getattr(fits[m], attr) for m in models], dtype=jnp.float32)
        for name, attr in (("b0", "b0"), ("b1", "b1_log_isl"), ("b2", "b2_log_osl"), ("cap", "cap_tok_s"))
    }
    power_w = jnp.asarray([cfg.node_power_w(m) for m in models], dtype=jnp.float32)
    pu, pue = cfg.power_utilisation, cfg.pue
    levers = tuple(cfg.pathways_p5_p95)
    lever_dists = [cfg.lognormal(cfg.pathways_p5_p95[k]) for k in levers]
    gwh_scale = cfg.fleet_queries_per_day / 1e9 * cfg.fleet_overhead  # Wh/query x queries/day -> GWh/day

    root = jax.random.PRNGKey(seed)
    out: dict[str, dict[str, Any]] = {}
    for r_index, (regime, median_out) in enumerate(cfg.output_tokens_median.items()):
        k_draw, k_core = jax.random.split(jax.random.fold_in(root, r_index))
        draw_args = (median_out, pu.mu, pu.sigma, pue.mu, pue.sigma, len(models), n)
        if rng == "jax":
            draws = _draw_inputs_jax(k_draw, *draw_args, stratified=sampling == "lhs")
        else:
            draws = _draw_inputs_numpy_legacy(seed, *draw_args)
        imp = cfg.lognormal(cfg.fleet_improvement_p5_p95[regime])
        res = _regime_core(
            k_core, *draws, coef["b0"], coef["b1"], coef["b2"], coef["cap"], power_w, cfg.input_tokens,
            jnp.asarray([d.mu for d in lever_dists]), jnp.asarray([d.sigma for d in lever_dists]),
            imp.mu, imp.sigma, gwh_scale,
            top_k=cfg.blend_top_k, trims=tuple(tuple(t) for t in cfg.blend_trims_pct), n_boot=cfg.bootstrap_resamples,
        )
        out[regime] = jax.device_get(res)

    regimes = list(cfg.output_tokens_median)
    trad, reas = regimes[0], regimes[-1]
    share = cfg.fleet_long_share
    fleet_by_regime = {
        r: {"baseline": FleetEstimate.from_boot(out[r]["fleet_boot"][0]),
            "improved": FleetEstimate.from_boot(out[r]["fleet_boot"][1])}
        for r in regimes
    }
    mixed = (1.0 - share) * out[trad]["fleet_boot"] + share * out[reas]["fleet_boot"]
    fleet = {
        "baseline": fleet_by_regime[trad]["baseline"],
        "with_long_queries": FleetEstimate.from_boot(mixed[0]),
        "improved": FleetEstimate.from_boot(mixed[1]),
    }

    def kept(x: np.ndarray) -> np.ndarray:
        return x[~np.isnan(x)]

    return PaperReplication(
        config=cfg,
        seed=int(seed),
        rng=rng,
        sampling=sampling,
        samples_per_model=n,
        models=models,
        regressions=fits,
        energy_wh={r: out[r]["energy"] for r in regimes},
        per_model_stats={r: out[r]["per_model"].T for r in regimes},
        blended_models={r: tuple(models[i] for i in out[r]["top"]) for r in regimes},
        blended_wh={r: kept(out[r]["pooled"]) for r in regimes},
        blended_stats={r: out[r]["blended"] for r in regimes},
        pathways_wh={lv: {r: kept(out[r]["pathways"][i]) for r in regimes} for i, lv in enumerate(levers)},
        pathway_stats={lv: {r: out[r]["pathway_stats"][:, i] for r in regimes} for i, lv in enumerate(levers)},
        fleet_by_regime=fleet_by_regime,
        fleet=fleet,
        data_sha256=file_sha256(data_path("paper_throughput.csv")),
        fleet_interval=_fleet_interval(max(float(out[r]["fleet_bound"]) for r in regimes), cfg.bootstrap_resamples),
    )
