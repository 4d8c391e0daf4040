"""Paper mode: the forward Monte Carlo of the seed paper, vectorized over models x samples.

Each regime draws every model's output lengths, power utilisation and PUE at once, evaluates the energy equation,
takes per-model and blended (">200B") statistics, applies the efficiency pathways and computes the fleet total
with a bootstrap of the mean. There is no Python loop over samples. The random numbers, the elementwise work and
the fleet run compiled in JAX; the sorts (the Latin-hypercube permutations, quartiles and trims) run in NumPy,
whose vectorised sort is 10-20x XLA's CPU sort, and give JAX's own permutations and quantiles bit for bit.
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
from .quantiles import sorted_quantiles
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
    "lhs_permutations",
]

FLEET_NAMES = ("baseline", "with_long_queries", "improved")
_LN2 = math.log(2.0)


#: The quartile probabilities every paper-mode summary reports (with the mean), as jnp.nanquantile's float32.
_QUARTILE_P = np.array([0.5, 0.25, 0.75], np.float32)


def _sorted_rows(x: np.ndarray) -> np.ndarray:
    """Each row sorted ascending, NaN last: NumPy's vectorised sort, 10-20x XLA's comparison sort on a CPU."""
    return np.sort(x, axis=-1)


@partial(jax.jit, static_argnames=("n", "rounds"))
def _shuffle_bits(keys: jax.Array, n: int, rounds: int) -> jax.Array:
    """The random sort keys ``jax.random.permutation`` draws for each key and round: (keys, rounds, n) uint32."""
    def one(key):
        out = []
        for _ in range(rounds):
            key, sub = jax.random.split(key)
            out.append(jax.random.bits(sub, (n,), jnp.uint32))
        return jnp.stack(out)

    return jax.vmap(one)(keys)


def lhs_permutations(keys: jax.Array, n: int) -> np.ndarray:
    """``jax.random.permutation(key, n)`` for each key (shape (rows, n)), identical to it element for element.

    JAX shuffles by sorting ``arange(n)`` on fresh random 32-bit keys a fixed number of rounds (stably). Here each
    round's keys are the same random bits, and the stable key-value sort is one NumPy sort of 64-bit words (key in
    the high half, position in the low half), which XLA's CPU sort takes 10-20x longer to do."""
    rounds = int(np.ceil(3 * np.log(max(1, n)) / np.log(np.iinfo(np.uint32).max)))  # JAX's own count (_shuffle)
    bits = np.asarray(_shuffle_bits(keys, n=n, rounds=rounds))
    words = np.empty((bits.shape[0], n), np.uint64)
    perm = None
    for r in range(rounds):
        np.left_shift(bits[:, r], np.uint64(32), out=words, dtype=np.uint64)
        words |= np.arange(n, dtype=np.uint64)
        words.sort(axis=-1)
        order = (words & np.uint64(0xFFFFFFFF)).astype(np.int32)  # the positions, in the order of their keys
        perm = order if perm is None else np.take_along_axis(perm, order, axis=-1)
    return perm


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


@partial(jax.jit, static_argnames=("n_models", "n"))
def _draw_inputs_jax(keys, perms, median_out, pu_mu, pu_sigma, pue_mu, pue_sigma, n_models: int, n: int):
    """Output tokens (exponential, rounded), power utilisation and PUE (log-normal) by inverse CDF, from uniforms
    in (0, 1): i.i.d. (``perms`` None), or Latin-hypercube stratified (one draw in each of n strata, in the random
    order ``perms`` of :func:`lhs_permutations`), which estimates the same distribution with lower quantile noise."""
    eps = float(jnp.finfo(jnp.float32).eps)

    def uniforms(key, perm):
        u = jax.random.uniform(key, (n_models, n))
        return u if perm is None else (perm + u) / n

    u_len, u_pu, u_pue = (jnp.clip(uniforms(keys[i], None if perms is None else perms[i]), eps, 1.0 - eps)
                          for i in range(3))
    out_tokens = jnp.round(-jnp.log1p(-u_len) * (median_out / _LN2))
    pu = jnp.exp(pu_mu + pu_sigma * ndtri(u_pu))
    pue = jnp.exp(pue_mu + pue_sigma * ndtri(u_pue))
    return out_tokens, pu, pue


def _draws_jax(key, median_out, pu_mu, pu_sigma, pue_mu, pue_sigma, n_models: int, n: int, stratified: bool):
    """The three inputs of every model; each input's key splits into its permutations' and its uniforms' keys."""
    split = [jax.random.split(k) for k in jax.random.split(key, 3)]
    keys = jnp.stack([k_uniform for _, k_uniform in split])
    perms = None
    if stratified:
        perms = jnp.asarray(np.stack([lhs_permutations(jax.random.split(k_perm, n_models), n) for k_perm, _ in split]),
                            jnp.int32)
    return _draw_inputs_jax(keys, perms, median_out, pu_mu, pu_sigma, pue_mu, pue_sigma, n_models=n_models, n=n)


def _draw_inputs_numpy_legacy(seed, median_out, pu_mu, pu_sigma, pue_mu, pue_sigma, n_models, n):
    """The released scripts' draws: one RandomState per regime script, per model L_out, then PU, then PUE."""
    rng = np.random.RandomState(seed)
    out = np.empty((3, n_models, n))
    for m in range(n_models):  # loop over the 5 models, not over samples
        out[0, m] = np.round(rng.exponential(median_out / _LN2, n))
        out[1, m] = rng.lognormal(pu_mu, pu_sigma, n)
        out[2, m] = rng.lognormal(pue_mu, pue_sigma, n)
    return tuple(jnp.asarray(a, dtype=jnp.float32) for a in out)


@jax.jit
def _energy_jax(out_tokens, pu, pue, b0, b1, b2, cap, power_w, input_tokens):
    """Each model's energy per query (Wh, models x samples), its throughput and its mean."""
    log_osl = jnp.log(jnp.maximum(out_tokens, 1e-6))
    tps = paper_tps(b0[:, None], b1[:, None], b2[:, None], cap[:, None], jnp.log(input_tokens), log_osl, jnp)
    # The paper's P_node = P_max * PU is a whole-node power, so it enters as one term at the facility boundary.
    energy = energy_per_query_wh(out_tokens, tps, power_w[:, None] * pu, 0.0, pue, boundary="facility")
    return energy, tps, jnp.nanmean(energy, axis=-1)


@partial(jax.jit, static_argnames=("n_boot",))
def _blend_jax(key, energy, top, bounds, path_mu, path_sigma, imp_mu, imp_sigma, gwh_scale, n_boot: int):
    """The blend (the ``top`` models' samples inside every trim's ``bounds``, NaN outside, in draw order), the
    pathways applied to it, and the fleet's distribution of the mean (untrimmed, as the paper)."""
    kept = energy[top]
    for low_high in bounds:  # (trims, models, 2): each trim's [low, high] per model
        kept = jnp.where((kept >= low_high[:, :1]) & (kept <= low_high[:, 1:]), kept, jnp.nan)
    pooled = kept.reshape(-1)
    k_path, k_imp, k_boot = jax.random.split(key, 3)
    mult = jnp.exp(path_mu[:, None] + path_sigma[:, None] * jax.random.normal(k_path, (path_mu.shape[0], pooled.size)))
    pathways = pooled[None, :] / mult
    fleet_base = energy[top].reshape(-1)
    fleet_improved = fleet_base / jnp.exp(imp_mu + imp_sigma * jax.random.normal(k_imp, fleet_base.shape))
    boots, bound = mean_distribution(k_boot, jnp.stack([fleet_base, fleet_improved]), n_boot)
    return dict(pooled=pooled, blended_mean=jnp.nanmean(pooled), pathways=pathways,
                pathway_means=jnp.nanmean(pathways, axis=-1), fleet_boot=boots * gwh_scale, fleet_bound=bound)


def _quartiles(x: np.ndarray, means: np.ndarray) -> np.ndarray:
    """``[median, p25, p75, mean]`` of each row of ``x`` ignoring NaN (trimmed) entries: shape (4, rows)."""
    s = _sorted_rows(x)
    return np.concatenate([sorted_quantiles(s, np.count_nonzero(~np.isnan(s), axis=-1), _QUARTILE_P),
                           np.asarray(means, np.float32).reshape(1, -1)])


def _trim_bounds(sorted_rows: np.ndarray, trims: tuple) -> np.ndarray:
    """Each trim's [P_low, P_high] per row (shape (trims, rows, 2)), each of the values the trims before it kept:
    on sorted rows those are one contiguous run, so every trim is two quantiles and two binary searches."""
    rows, n = sorted_rows.shape
    start, stop = np.zeros(rows, np.int64), np.full(rows, n, np.int64)
    bounds = []
    for low, high in trims:
        lo_hi = sorted_quantiles(sorted_rows, stop - start, np.array([low, high], np.float32) / np.float32(100.0),
                                 start).T
        for r in range(rows):  # over the blended models, not samples
            start[r] = max(start[r], np.searchsorted(sorted_rows[r], lo_hi[r, 0], "left"))
            stop[r] = min(stop[r], np.searchsorted(sorted_rows[r], lo_hi[r, 1], "right"))
        bounds.append(lo_hi)
    return np.stack(bounds)


def _regime(key, draws, coef, power_w, cfg: PaperConfig, path_mu, path_sigma, imp, gwh_scale) -> dict[str, Any]:
    """One regime of paper mode. The elementwise work and the fleet run compiled in JAX; the order statistics
    (quartiles, trims) sort on the host, with NumPy's vectorised sort."""
    energy, tps, means = _energy_jax(*draws, coef["b0"], coef["b1"], coef["b2"], coef["cap"], power_w,
                                     cfg.input_tokens)
    energy_np = np.asarray(energy)
    sorted_energy = _sorted_rows(energy_np)
    n = energy_np.shape[-1]
    per_model = np.concatenate([sorted_quantiles(sorted_energy, n, _QUARTILE_P), np.asarray(means)[None]])
    top = np.argsort(-per_model[0], kind="stable")[: cfg.blend_top_k]
    bounds = _trim_bounds(sorted_energy[top], tuple(tuple(t) for t in cfg.blend_trims_pct))
    tail = jax.device_get(_blend_jax(key, energy, jnp.asarray(top), jnp.asarray(bounds), path_mu, path_sigma,
                                     imp.mu, imp.sigma, gwh_scale, n_boot=cfg.bootstrap_resamples))
    return dict(
        energy=energy_np, tps=np.asarray(tps), per_model=per_model, top=top, pooled=tail["pooled"],
        blended=_quartiles(tail["pooled"][None], tail["blended_mean"])[:, 0], pathways=tail["pathways"],
        pathway_stats=_quartiles(tail["pathways"], tail["pathway_means"]),
        fleet_boot=tail["fleet_boot"], fleet_bound=tail["fleet_bound"],
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
    path_mu, path_sigma = (jnp.asarray([getattr(d, a) for d in lever_dists]) for a in ("mu", "sigma"))
    gwh_scale = cfg.fleet_queries_per_day / 1e9 * cfg.fleet_overhead  # Wh/query x queries/day -> GWh/day

    root = jax.random.PRNGKey(seed)
    out: dict[str, dict[str, Any]] = {}
    for r_index, (regime, median_out) in enumerate(cfg.output_tokens_median.items()):
        k_draw, k_core = jax.random.split(jax.random.fold_in(root, r_index))
        draw_args = (median_out, pu.mu, pu.sigma, pue.mu, pue.sigma, len(models), n)
        if rng == "jax":
            draws = _draws_jax(k_draw, *draw_args, stratified=sampling == "lhs")
        else:
            draws = _draw_inputs_numpy_legacy(seed, *draw_args)
        out[regime] = _regime(k_core, draws, coef, power_w, cfg, path_mu, path_sigma,
                              cfg.lognormal(cfg.fleet_improvement_p5_p95[regime]), gwh_scale)

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
