"""Paper mode in plain NumPy: the same Monte Carlo as :func:`infergy.analysis.paper_mc.replicate_paper`, written
the obvious way (a ``Generator``, ``permuted`` for the Latin hypercube, ``np.percentile``, boolean trims). It is
the baseline ``benchmarks/bench_paper.py`` times paper mode against, and an independent check of it in the tests:
its own random numbers, so equal in distribution, not in value."""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtri

from ..data import load_paper_throughput
from ..model.paper import PaperConfig, fit_tps_regressions, get_paper_config, paper_tps
from .paper_mc import BERRY_ESSEEN_C, bootstrap_route_tolerance

__all__ = ["replicate_paper_numpy"]

_Q = [50.0, 25.0, 75.0]


def _quartiles(x: np.ndarray) -> dict[str, float]:
    med, p25, p75 = np.percentile(x, _Q)
    return {"median": float(med), "p25": float(p25), "p75": float(p75), "mean": float(np.mean(x))}


def _mean_draws(rng: np.random.Generator, x: np.ndarray, n_resamples: int) -> np.ndarray:
    """The distribution of the mean: normal with the bootstrap's moments where Berry-Esseen allows, as paper mode."""
    n = x.size
    centred = x - x.mean()
    sd = math.sqrt(float(np.mean(centred**2)))
    bound = BERRY_ESSEEN_C * float(np.mean(np.abs(centred) ** 3)) / (sd**3 * math.sqrt(n))
    if bound <= bootstrap_route_tolerance(n_resamples):
        return x.mean() + sd / math.sqrt(n) * rng.standard_normal(n_resamples)
    return np.array([x[rng.integers(0, n, n)].mean() for _ in range(n_resamples)])  # loop over resamples


def replicate_paper_numpy(version: str = "v2", samples: int | None = None, seed: int = 0,
                          sampling: str = "lhs", config: PaperConfig | None = None) -> dict:
    """Paper mode's per-model, blended, pathway and fleet figures (its ``to_dict`` shape, unrounded)."""
    cfg = config or get_paper_config(version)
    n = int(cfg.samples_per_model if samples is None else samples)
    rng = np.random.default_rng(seed)
    fits = fit_tps_regressions(load_paper_throughput(), cfg.precision)
    models = list(fits)
    b0, b1, b2, cap = (np.array([getattr(f, a) for f in fits.values()], np.float32)[:, None]
                       for a in ("b0", "b1_log_isl", "b2_log_osl", "cap_tok_s"))
    power_w = np.array([cfg.node_power_w(m) for m in models], np.float32)[:, None]
    pu, pue = cfg.power_utilisation, cfg.pue
    levers = {k: cfg.lognormal(v) for k, v in cfg.pathways_p5_p95.items()}
    gwh_scale = cfg.fleet_queries_per_day / 1e9 * cfg.fleet_overhead
    eps = np.finfo(np.float32).eps
    result = {"per_model": {m: {} for m in models}, "blended": {}, "pathways": {k: {} for k in levers}}
    fleet_draws = {}
    for regime, median_out in cfg.output_tokens_median.items():
        u = rng.random((3, len(models), n), dtype=np.float32)
        if sampling == "lhs":
            strata = np.broadcast_to(np.arange(n, dtype=np.float32), u.shape)
            u = (rng.permuted(strata, axis=-1) + u) / np.float32(n)
        u = np.clip(u, eps, 1.0 - eps)
        out_tokens = np.round(-np.log1p(-u[0]) * np.float32(median_out / math.log(2.0)))
        node_w = power_w * np.exp(np.float32(pu.mu) + np.float32(pu.sigma) * ndtri(u[1]))
        facility = np.exp(np.float32(pue.mu) + np.float32(pue.sigma) * ndtri(u[2]))
        tps = paper_tps(b0, b1, b2, cap, np.log(np.float32(cfg.input_tokens)), np.log(np.maximum(out_tokens, 1e-6)),
                        np)
        energy = out_tokens / tps / np.float32(3600.0) * node_w * facility
        for i, m in enumerate(models):
            result["per_model"][m][regime] = _quartiles(energy[i])
        top = np.argsort(-np.median(energy, axis=1), kind="stable")[: cfg.blend_top_k]
        kept = []
        for row in energy[top]:
            for low, high in cfg.blend_trims_pct:
                lo, hi = np.percentile(row, [low, high])
                row = row[(row >= lo) & (row <= hi)]
            kept.append(row)
        pooled = np.concatenate(kept)
        result["blended"][regime] = _quartiles(pooled)
        for k, d in levers.items():
            mult = np.exp(d.mu + d.sigma * rng.standard_normal(pooled.size, dtype=np.float32))
            result["pathways"][k][regime] = _quartiles(pooled / mult)
        base = energy[top].ravel()
        imp = cfg.lognormal(cfg.fleet_improvement_p5_p95[regime])
        improved = base / np.exp(imp.mu + imp.sigma * rng.standard_normal(base.size, dtype=np.float32))
        fleet_draws[regime] = np.stack([_mean_draws(rng, x.astype(np.float64), cfg.bootstrap_resamples)
                                        for x in (base, improved)]) * gwh_scale
    trad, reas = list(cfg.output_tokens_median)[0], list(cfg.output_tokens_median)[-1]
    mixed = (1.0 - cfg.fleet_long_share) * fleet_draws[trad] + cfg.fleet_long_share * fleet_draws[reas]
    result["fleet_gwh_per_day"] = {"baseline": float(np.median(fleet_draws[trad][0])),
                                   "with_long_queries": float(np.median(mixed[0])),
                                   "improved": float(np.median(mixed[1]))}
    result["version"], result["samples_per_model"] = cfg.version, n
    return result
