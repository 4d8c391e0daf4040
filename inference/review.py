"""Automatic review of a fit: convergence, sampler health, LOO and posterior-predictive coverage, with thresholds."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

import arviz as az
import numpy as np
import xarray as xr

from ..model.joint import PER_ROW_LATENTS
from .psis import relative_efficiency, site_log_weights

__all__ = ["ReviewThresholds", "ReviewCheck", "FitReview", "convergence_checks", "predictive_checks", "review_fit"]


@dataclass(frozen=True)
class ReviewThresholds:
    """Pass marks for a fit (one place to change them)."""

    max_rhat: float = 1.01
    min_ess_bulk: float = 400.0
    min_ess_tail: float = 400.0
    max_divergences: int = 0
    min_bfmi: float = 0.3
    max_share_pareto_k_bad: float = 0.01  # share of observations with Pareto k > 0.7
    coverage_50: tuple[float, float] = (0.40, 0.60)
    coverage_90: tuple[float, float] = (0.83, 0.97)
    min_rows_for_coverage: int = 20  # smaller tables: every row must sit inside the wide interval instead
    small_table_interval: float = 0.98
    max_exact_refits: int = 5  # high-k rows refitted exactly; more than this means PSIS fails broadly: the check fails


@dataclass(frozen=True)
class ReviewCheck:
    name: str
    value: float
    threshold: str
    passed: bool
    detail: str = ""

    def __post_init__(self):  # plain Python types, so the review serialises to JSON
        object.__setattr__(self, "value", float(self.value))
        object.__setattr__(self, "passed", bool(self.passed))


@dataclass(frozen=True)
class FitReview:
    checks: tuple[ReviewCheck, ...]
    thresholds: ReviewThresholds = field(default_factory=ReviewThresholds)

    @property
    def ok(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failed(self) -> list[ReviewCheck]:
        return [c for c in self.checks if not c.passed]

    def to_dict(self) -> dict:
        return {"ok": self.ok, "checks": [asdict(c) for c in self.checks], "thresholds": asdict(self.thresholds)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def to_text(self) -> str:
        lines = [f"fit review: {'PASS' if self.ok else 'FAIL'}"]
        for c in self.checks:
            mark = "ok  " if c.passed else "FAIL"
            lines.append(f"  [{mark}] {c.name:34s} {c.value:10.4g}   (needs {c.threshold}){'  ' + c.detail if c.detail else ''}")
        return "\n".join(lines)


def _worst(ds: xr.Dataset, fn) -> tuple[float, str]:
    """Worst value over every variable and element, and where."""
    best_val, where = None, ""
    for name, da in ds.data_vars.items():
        arr = np.asarray(da)
        if arr.size == 0 or not np.isfinite(arr).any():
            continue
        idx = fn(np.where(np.isfinite(arr), arr, np.nan))
        val = float(arr.flat[idx]) if arr.ndim else float(arr)
        if best_val is None or fn(np.array([best_val, val])) == 1:
            best_val, where = val, f"{name}{list(np.unravel_index(idx, arr.shape)) if arr.ndim else ''}"
    return (float("nan") if best_val is None else best_val), where


def _parameters(dt, exclude=PER_ROW_LATENTS) -> xr.Dataset:
    """Posterior variables that are parameters (constants such as the reference precision level dropped)."""
    post = dt["posterior"].to_dataset()
    keep = [v for v in post.data_vars if (float(post[v].std()) > 0 or post[v].size == 0) and v not in exclude]
    return post[keep]


def review_fit(dt, observed_sites: dict[str, str], thresholds: ReviewThresholds | None = None,
               exact_loo: Mapping[str, Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]] | None = None,
               left_out_sources: Sequence | None = None, source_sites: Sequence[str] = (),
               convergence: bool = True, draw_log_ratio: np.ndarray | None = None) -> FitReview:
    """Review a fitted DataTree (posterior, sample_stats, log_likelihood, posterior_predictive, observed_data).

    ``exact_loo`` maps an observed site to a function that refits without each of the given rows and returns their
    ``(pit, elpd)``: rows whose PSIS-LOO is unreliable (Pareto k > 0.7) are then judged by exact refits instead.
    ``left_out_sources`` (:class:`~infergy.inference.loso.SourceRow` of refits without each production source):
    each source's rows must sit inside the 90% interval predicted without it; the small tables among
    ``source_sites`` are then judged by those instead of the in-sample interval (which only a gross misfit fails).
    ``convergence=False``: the predictive checks only. ``draw_log_ratio`` (chain x draw): the draws are importance
    draws of the posterior with these log ratios (posterior over proposal density): every predictive interval and
    leave-one-out weight is weighted by them.
    """
    th = thresholds or ReviewThresholds()
    checks = convergence_checks(dt, th) if convergence else []
    checks += predictive_checks(dt, observed_sites, th, exact_loo, left_out_sources, source_sites, draw_log_ratio)
    return FitReview(tuple(checks), th)


def convergence_checks(dt, th: ReviewThresholds) -> list[ReviewCheck]:
    """R-hat, bulk and tail ESS over the parameters; divergences and energy BFMI from the sampler's statistics."""
    params = _parameters(dt)
    checks: list[ReviewCheck] = []
    rhat, where = _worst(az.rhat(params), np.nanargmax)
    latents = [v for v in PER_ROW_LATENTS if v in dt["posterior"].data_vars]
    if latents:
        latent_rhat, latent_where = _worst(az.rhat(dt["posterior"].to_dataset()[latents]), np.nanargmax)
        where += f"; per-row latents (not checked): max {latent_rhat:.3f} at {latent_where}"
    checks.append(ReviewCheck("max R-hat", rhat, f"<= {th.max_rhat}", rhat <= th.max_rhat, where))
    for method, limit in (("bulk", th.min_ess_bulk), ("tail", th.min_ess_tail)):
        ess, where = _worst(az.ess(params, method=method), np.nanargmin)
        checks.append(ReviewCheck(f"min {method} ESS", ess, f">= {limit:g}", ess >= limit, where))
    stats = dt["sample_stats"].to_dataset()
    # a thinned fit (ChEES) counts the divergent transitions between kept draws in n_divergent
    n_div = int(stats["n_divergent" if "n_divergent" in stats else "diverging"].sum()) if "diverging" in stats else 0
    checks.append(ReviewCheck("divergences", n_div, f"<= {th.max_divergences}", n_div <= th.max_divergences))
    if "energy" in stats or "bfmi" in stats:
        # per chain; a thinned fit stores it computed over every transition
        bfmi = np.asarray(stats["bfmi"] if "bfmi" in stats else az.bfmi(dt)["energy"]).ravel()
        checks.append(ReviewCheck("min energy BFMI", float(bfmi.min()), f">= {th.min_bfmi}", bfmi.min() >= th.min_bfmi))
    return checks


def predictive_checks(dt, observed_sites: dict[str, str], th: ReviewThresholds, exact_loo=None,
                      left_out_sources=None, source_sites: Sequence[str] = (),
                      draw_log_ratio: np.ndarray | None = None) -> list[ReviewCheck]:
    """Per observed site: PSIS-LOO's Pareto k and the LOO-PIT coverage of the 50% and 90% intervals (small tables:
    every row inside the wide in-sample interval); per left-out production source, its rows inside the interval
    predicted without it. ``draw_log_ratio``: as :func:`review_fit`'s."""
    checks: list[ReviewCheck] = []
    r_eff = None
    weights = None
    if draw_log_ratio is not None:
        draw_log_ratio = np.asarray(draw_log_ratio, np.float64).ravel()
        weights = np.exp(draw_log_ratio - np.max(draw_log_ratio))  # -inf (no weight) gives 0

    def quantiles(rep, probs):
        if weights is None:
            return np.quantile(rep, probs, axis=0)
        # the one method NumPy weights: the inverse of the weighted empirical CDF
        return np.quantile(rep, probs, axis=0, method="inverted_cdf", weights=weights)

    for site, label in observed_sites.items():
        y = np.asarray(dt["observed_data"][site])
        rep = np.asarray(dt["posterior_predictive"][site]).reshape(-1, y.size)
        if y.size < th.min_rows_for_coverage and left_out_sources and site in source_sites:
            continue  # judged by the refits without each source, below
        if y.size < th.min_rows_for_coverage:
            # a handful of calibration rows cannot test coverage (nor LOO); in-sample, it flags a gross misfit only
            mass = th.small_table_interval
            q_lo, q_hi = quantiles(rep, [(1 - mass) / 2, (1 + mass) / 2])
            inside = (y >= q_lo) & (y <= q_hi)
            checks.append(ReviewCheck(f"{label}: rows inside {mass:.0%} PPC (in-sample)", float(inside.mean()), "= 1",
                                      bool(inside.all()), f"{int(inside.sum())}/{y.size} rows"))
            continue
        try:
            r_eff = relative_efficiency(dt["posterior"]) if r_eff is None else r_eff
            # ArviZ's Pareto smoothing, every row at once (inference.psis); ArviZ's loo and loo_pit on its weights
            log_weights, pareto_k = site_log_weights(dt["log_likelihood"][site], r_eff, draw_log_ratio)
            with warnings.catch_warnings():  # rows with k > 0.7 are counted (and refitted exactly) below
                warnings.filterwarnings("ignore", "Estimated shape parameter of Pareto", UserWarning)
                loo = az.loo(dt, var_name=site, pointwise=True, reff=r_eff, log_weights=log_weights,
                             pareto_k=pareto_k)
            pit = np.asarray(az.loo_pit(dt, var_names=site, log_weights=log_weights.to_dataset(name=site),
                                        pareto_k=pareto_k.to_dataset(name=site))[site]).ravel()
        except ValueError as exc:  # e.g. too few draws for Pareto smoothing
            checks.append(ReviewCheck(f"{label}: share Pareto k > 0.7", float("nan"),
                                      f"<= {th.max_share_pareto_k_bad}", False, f"PSIS-LOO not computable: {exc}"))
            pit = None
        else:
            k = np.asarray(loo.pareto_k).ravel()
            bad = np.flatnonzero(k > 0.7)
            detail = f"elpd_loo {float(loo.elpd):.1f}"
            if 0 < bad.size <= th.max_exact_refits and exact_loo and site in exact_loo:
                exact_pit, exact_elpd = exact_loo[site](bad)
                pit = pit.copy()
                pit[bad] = exact_pit
                elpd = float(loo.elpd) - float(np.asarray(loo.elpd_i).ravel()[bad].sum()) + float(np.sum(exact_elpd))
                detail = f"elpd_loo {elpd:.1f}; {bad.size} row(s) with k > 0.7 refitted exactly"
                bad = bad[:0]
            share = float(bad.size / k.size)
            checks.append(ReviewCheck(f"{label}: share Pareto k > 0.7", share, f"<= {th.max_share_pareto_k_bad}",
                                      share <= th.max_share_pareto_k_bad, detail))
        for mass, (lo, hi) in ((0.5, th.coverage_50), (0.9, th.coverage_90)):
            q_lo, q_hi = quantiles(rep, [(1 - mass) / 2, (1 + mass) / 2])
            in_sample = float(np.mean((y >= q_lo) & (y <= q_hi)))
            if pit is None:  # no leave-one-out predictive: fall back to the (optimistic) in-sample intervals
                checks.append(ReviewCheck(f"{label}: {mass:.0%} PPC coverage (in-sample)", in_sample,
                                          f"in [{lo}, {hi}]", lo <= in_sample <= hi))
                continue
            # leave-one-out: is each row inside the central interval of the predictive fitted without it?
            cov = float(np.mean(np.abs(pit - 0.5) <= mass / 2))
            checks.append(ReviewCheck(f"{label}: {mass:.0%} LOO-PIT coverage", cov, f"in [{lo}, {hi}]",
                                      lo <= cov <= hi, f"in-sample {in_sample:.2f}"))
    for source in dict.fromkeys(r.source for r in left_out_sources or ()):
        rows = [r for r in left_out_sources if r.source == source]
        inside = sum(r.inside_90 for r in rows)
        outside = ", ".join(r.row for r in rows if not r.inside_90)
        checks.append(ReviewCheck(f"{source} left out: rows inside 90% predicted", inside / len(rows), "= 1",
                                  inside == len(rows), f"{inside}/{len(rows)} rows; refitted without them; median "
                                  f"width {float(np.median([r.narrowing for r in rows])):.2f} of the prior "
                                  "predictive's" + (f"; outside: {outside}" if outside else "")))
    return checks
