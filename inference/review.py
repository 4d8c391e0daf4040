"""Automatic review of a fit: convergence, sampler health, LOO and posterior-predictive coverage, with thresholds."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import arviz as az
import numpy as np
import xarray as xr

__all__ = ["ReviewThresholds", "ReviewCheck", "FitReview", "review_fit"]


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


def _parameters(dt) -> xr.Dataset:
    """Posterior variables that are parameters (constants such as the reference precision level dropped)."""
    post = dt["posterior"].to_dataset()
    keep = [v for v in post.data_vars if float(post[v].std()) > 0 or post[v].size == 0]
    return post[keep]


def review_fit(dt, observed_sites: dict[str, str], thresholds: ReviewThresholds | None = None) -> FitReview:
    """Review a fitted DataTree (posterior, sample_stats, log_likelihood, posterior_predictive, observed_data)."""
    th = thresholds or ReviewThresholds()
    params = _parameters(dt)
    checks: list[ReviewCheck] = []
    rhat, where = _worst(az.rhat(params), np.nanargmax)
    checks.append(ReviewCheck("max R-hat", rhat, f"<= {th.max_rhat}", rhat <= th.max_rhat, where))
    for method, limit in (("bulk", th.min_ess_bulk), ("tail", th.min_ess_tail)):
        ess, where = _worst(az.ess(params, method=method), np.nanargmin)
        checks.append(ReviewCheck(f"min {method} ESS", ess, f">= {limit:g}", ess >= limit, where))
    stats = dt["sample_stats"].to_dataset()
    n_div = int(stats["diverging"].sum()) if "diverging" in stats else 0
    checks.append(ReviewCheck("divergences", n_div, f"<= {th.max_divergences}", n_div <= th.max_divergences))
    if "energy" in stats:
        bfmi = np.asarray(az.bfmi(dt)["energy"]).ravel()
        checks.append(ReviewCheck("min energy BFMI", float(bfmi.min()), f">= {th.min_bfmi}", bfmi.min() >= th.min_bfmi))
    for site, label in observed_sites.items():
        y = np.asarray(dt["observed_data"][site])
        rep = np.asarray(dt["posterior_predictive"][site]).reshape(-1, y.size)
        if y.size < th.min_rows_for_coverage:
            # a handful of calibration rows cannot test coverage (nor LOO); it can flag a gross misfit
            mass = th.small_table_interval
            q_lo, q_hi = np.quantile(rep, [(1 - mass) / 2, (1 + mass) / 2], axis=0)
            inside = (y >= q_lo) & (y <= q_hi)
            checks.append(ReviewCheck(f"{label}: rows inside {mass:.0%} PPC", float(inside.mean()), "= 1",
                                      bool(inside.all()), f"{int(inside.sum())}/{y.size} rows"))
            continue
        try:
            loo = az.loo(dt, var_name=site, pointwise=True)
        except ValueError as exc:  # e.g. too few draws for Pareto smoothing
            checks.append(ReviewCheck(f"{label}: share Pareto k > 0.7", float("nan"),
                                      f"<= {th.max_share_pareto_k_bad}", False, f"PSIS-LOO not computable: {exc}"))
        else:
            k = np.asarray(loo.pareto_k).ravel()
            share = float(np.mean(k > 0.7))
            checks.append(ReviewCheck(f"{label}: share Pareto k > 0.7", share, f"<= {th.max_share_pareto_k_bad}",
                                      share <= th.max_share_pareto_k_bad, f"elpd_loo {float(loo.elpd):.1f}"))
        for mass, (lo, hi) in ((0.5, th.coverage_50), (0.9, th.coverage_90)):
            q_lo, q_hi = np.quantile(rep, [(1 - mass) / 2, (1 + mass) / 2], axis=0)
            cov = float(np.mean((y >= q_lo) & (y <= q_hi)))
            checks.append(ReviewCheck(f"{label}: {mass:.0%} PPC coverage", cov, f"in [{lo}, {hi}]", lo <= cov <= hi))
    return FitReview(tuple(checks), th)
