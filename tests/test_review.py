"""The automatic fit review: coverage is judged leave-one-out, so it catches intervals that are too wide."""

from __future__ import annotations

import arviz as az
import numpy as np
import pytest

from infergy.inference.review import review_fit


def _normal_fit(n_rows: int, model_sd: float, true_sd: float = 1.0, seed: int = 0):
    """A fitted ``y ~ Normal(mu, model_sd)`` (flat prior on mu) as a DataTree, data drawn with ``true_sd``."""
    rng = np.random.default_rng(seed)
    y = rng.normal(2.0, true_sd, n_rows)
    chains, draws = 4, 500
    mu = rng.normal(y.mean(), model_sd / np.sqrt(n_rows), (chains, draws))
    log_lik = -0.5 * ((y - mu[..., None]) / model_sd) ** 2 - np.log(model_sd * np.sqrt(2 * np.pi))
    y_rep = rng.normal(mu[..., None], model_sd, (chains, draws, n_rows))
    return az.from_dict({
        "posterior": {"mu": mu},
        "posterior_predictive": {"obs": y_rep},
        "log_likelihood": {"obs": log_lik},
        "observed_data": {"obs": y},
        "sample_stats": {"diverging": np.zeros((chains, draws), bool)},
    }, dims={"obs": ["row"]})


def _coverage(review, mass: str) -> float:
    return next(c.value for c in review.checks if c.name == f"y: {mass} LOO-PIT coverage")


def test_calibrated_predictive_has_nominal_leave_one_out_coverage():
    review = review_fit(_normal_fit(400, model_sd=1.0), {"obs": "y"})
    assert _coverage(review, "50%") == pytest.approx(0.5, abs=0.07)
    assert _coverage(review, "90%") == pytest.approx(0.9, abs=0.04)
    assert all(c.passed for c in review.checks if "coverage" in c.name), review.to_text()


@pytest.mark.parametrize("model_sd, too", [(2.0, "wide"), (0.5, "narrow")])
def test_miscalibrated_predictive_fails_the_coverage_check(model_sd, too):
    review = review_fit(_normal_fit(400, model_sd=model_sd), {"obs": "y"})
    c50 = next(c for c in review.checks if c.name == "y: 50% LOO-PIT coverage")
    assert not c50.passed, review.to_text()
    assert (c50.value > 0.6) if too == "wide" else (c50.value < 0.4)
    assert "in-sample" in c50.detail


def test_small_tables_are_checked_row_by_row():
    review = review_fit(_normal_fit(5, model_sd=1.0), {"obs": "y"})
    names = [c.name for c in review.checks]
    assert "y: rows inside 98% PPC (in-sample)" in names and not any("LOO-PIT" in n for n in names)


def _source_row(source: str, row: str, inside: bool):
    from infergy.inference.loso import SourceRow

    return SourceRow(source, row, "a disclosure", "Wh per query", 0.3, 0.3, 0.1, 0.9 if inside else 0.2, 0.01, 10.0,
                     inside, 0.4, 1.0)


def test_small_production_tables_are_judged_by_the_refits_without_their_source():
    """Given refits without each production source, a small table among the source sites is judged by them (the
    in-sample interval, which only a gross misfit fails, is dropped) and a row outside its interval fails."""
    fit = _normal_fit(5, model_sd=1.0)
    ok = review_fit(fit, {"obs": "y"}, left_out_sources=[_source_row("Google", "PQ-001", True)],
                    source_sites=("obs",))
    names = [c.name for c in ok.checks]
    assert "Google left out: rows inside 90% predicted" in names and not any("PPC" in n for n in names)
    assert ok.ok, ok.to_text()
    bad = review_fit(fit, {"obs": "y"}, left_out_sources=[_source_row("Google", "PQ-001", True),
                                                          _source_row("OpenAI", "PQ-011", False)],
                     source_sites=("obs",))
    (failed,) = bad.failed
    assert failed.name == "OpenAI left out: rows inside 90% predicted" and "outside: PQ-011" in failed.detail


def test_exact_leave_one_out_agrees_with_psis_where_psis_is_reliable():
    """The exact refit that replaces PSIS for high-k PUE rows gives PSIS's answer on rows where PSIS is fine."""
    import jax
    from numpyro.infer import MCMC, NUTS
    from scipy.stats import norm

    import infergy.data as d
    from infergy.inference.loo import exact_loo_pue
    from infergy.model.pue import PUE_SCOPES, build_pue_design, pue_model, usable_pue_rows

    des = build_pue_design(usable_pue_rows(d.load().tables["pue"]))
    x, y = des.arrays, des.y_log_pue_minus_1
    mcmc = MCMC(NUTS(pue_model, target_accept_prob=0.95), num_warmup=1000, num_samples=2000, num_chains=1,
                progress_bar=False)
    mcmc.run(jax.random.PRNGKey(0), x, len(des.operators), y=y)
    from numpyro.infer import log_likelihood

    log_lik = np.asarray(log_likelihood(pue_model, mcmc.get_samples(), x, len(des.operators), y=y)["pue_obs"])
    loo = az.loo(az.from_dict({"posterior": {"m": np.zeros((1, log_lik.shape[0]))},
                               "log_likelihood": {"pue_obs": log_lik[None]}}), var_name="pue_obs", pointwise=True)
    k = np.asarray(loo.pareto_k)
    site = np.asarray(x.scope_idx) == PUE_SCOPES.index("site")  # Microsoft's sites share their parameters
    rows = np.flatnonzero(site & (k < 0.3))[:2]
    assert rows.size == 2
    pit_exact, elpd_exact = exact_loo_pue(des, rows, draws=1000)
    np.testing.assert_allclose(elpd_exact, np.asarray(loo.elpd_i)[rows], atol=0.1)
    # PSIS LOO-PIT of the same rows: the predictive CDF at y, weighted by the smoothed importance weights
    s = {name: np.asarray(v) for name, v in mcmc.get_samples().items()}
    mu = s["pue_m_scope"][:, np.asarray(x.scope_idx)[rows]] + s["pue_e_operator"][:, np.asarray(x.operator_idx)[rows]]
    log_w = np.asarray(loo.log_weights).reshape(-1, len(y))[:, rows]
    w = np.exp(log_w - log_w.max(0))
    pit_psis = (w * norm.cdf((y[rows] - mu) / s["pue_sigma"][:, :1])).sum(0) / w.sum(0)
    np.testing.assert_allclose(pit_exact, pit_psis, atol=0.05)


def _outlier_fit(n_outliers: int):
    """A normal-mean fit with a tight predictive and ``n_outliers`` rows far out: their Pareto k is high."""
    rng = np.random.default_rng(1)
    y = np.concatenate([rng.normal(0, 1, 30), np.full(n_outliers, 9.0)])
    chains, draws = 2, 500
    mu = rng.normal(y[:30].mean(), 1 / np.sqrt(len(y)), (chains, draws))  # a posterior the outliers barely move
    sd = np.exp(rng.normal(np.log(y[:30].std()), 0.1, (chains, draws)))
    log_lik = -0.5 * ((y - mu[..., None]) / sd[..., None]) ** 2 - np.log(sd[..., None] * np.sqrt(2 * np.pi))
    return az.from_dict({"posterior": {"mu": mu, "sd": sd},
                         "posterior_predictive": {"obs": rng.normal(mu[..., None], sd[..., None], (chains, draws, len(y)))},
                         "log_likelihood": {"obs": log_lik}, "observed_data": {"obs": y},
                         "sample_stats": {"diverging": np.zeros((chains, draws), bool)}}, dims={"obs": ["row"]})


def test_high_pareto_k_rows_are_refitted_exactly_when_a_refit_is_available():
    calls = []

    def exact(rows):
        calls.append(list(rows))
        return np.full(len(rows), 0.5), np.full(len(rows), -3.0)

    dt = _outlier_fit(1)
    plain = review_fit(dt, {"obs": "y"})
    k_plain = next(c for c in plain.checks if "Pareto" in c.name)
    assert not k_plain.passed  # PSIS alone cannot vouch for the outlier's row
    fixed = review_fit(dt, {"obs": "y"}, exact_loo={"obs": exact})
    k_fixed = next(c for c in fixed.checks if "Pareto" in c.name)
    assert len(calls) == 1 and 30 in calls[0] and len(calls[0]) <= 5 and k_fixed.passed and "refitted exactly" in k_fixed.detail
    # many unreliable rows: PSIS is failing broadly, so no refits and the check fails
    calls.clear()
    many = review_fit(_outlier_fit(8), {"obs": "y"}, exact_loo={"obs": exact})
    assert calls == [] and not next(c for c in many.checks if "Pareto" in c.name).passed


def test_a_thinned_fit_counts_every_divergent_transition_and_uses_its_own_bfmi():
    """ChEES keeps every k-th draw: ``n_divergent`` counts the divergent transitions between kept draws (two in one
    gap count twice), and a per-chain ``bfmi`` over every transition replaces the kept draws' energy."""
    dt = _normal_fit(50, model_sd=1.0)
    ds = dt["sample_stats"].to_dataset()
    n_div = np.zeros((4, 500), np.int32)
    n_div[1, 7] = 2
    ds["n_divergent"] = (("chain", "draw"), n_div)
    ds["diverging"] = (("chain", "draw"), n_div > 0)
    ds["bfmi"] = ("chain", np.array([0.9, 0.25, 0.8, 0.7]))
    dt["sample_stats"].dataset = ds
    checks = {c.name: c for c in review_fit(dt, {"obs": "y"}).checks}
    assert checks["divergences"].value == 2 and not checks["divergences"].passed
    assert checks["min energy BFMI"].value == pytest.approx(0.25) and not checks["min energy BFMI"].passed


@pytest.mark.parametrize("tails", ["light", "heavy"])
def test_every_row_smoothing_is_arviz_psis(tails):
    """The review smooths every row's importance ratios at once (inference.psis); ArviZ smooths one row at a time.
    The log weights, Pareto k, elpd and LOO-PIT are ArviZ's own, for well-behaved rows (k < 0.7) and for outliers
    (k far above 1)."""
    import warnings

    from infergy.inference.psis import relative_efficiency, site_log_weights

    rng = np.random.default_rng(3)
    chains, draws, rows = 4, 250, 300
    mu = rng.normal(0.0, 0.1, (chains, draws, 1))
    scale = np.exp(rng.normal(0.0, 0.05, (chains, draws, 1)))
    y = rng.standard_t(3 if tails == "heavy" else 30, rows)
    ll = (-0.5 * ((y - mu) / scale) ** 2 - np.log(scale)).astype(np.float32)
    dt = az.from_dict({"posterior": {"mu": mu[..., 0], "scale": scale[..., 0]}, "log_likelihood": {"y": ll},
                       "observed_data": {"y": y},
                       "posterior_predictive": {"y": (mu + scale * rng.normal(size=ll.shape)).astype(np.float32)}},
                      dims={"y": ["row"]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = az.loo(dt, var_name="y", pointwise=True)
        r_eff = relative_efficiency(dt["posterior"])
        log_w, k = site_log_weights(dt["log_likelihood"]["y"], r_eff)
        mine = az.loo(dt, var_name="y", pointwise=True, reff=r_eff, log_weights=log_w, pareto_k=k)
        pits = [np.asarray(az.loo_pit(dt, var_names="y", log_weights=w.to_dataset(name="y"),
                                      pareto_k=kk.to_dataset(name="y"))["y"])
                for w, kk in ((ref.log_weights, ref.pareto_k), (log_w, k))]
    np.testing.assert_allclose(np.asarray(k), np.asarray(ref.pareto_k), atol=1e-9)
    np.testing.assert_allclose(np.asarray(log_w.transpose(*ref.log_weights.dims)), np.asarray(ref.log_weights),
                               atol=1e-5)
    np.testing.assert_allclose(np.asarray(mine.elpd_i), np.asarray(ref.elpd_i), atol=1e-4)
    np.testing.assert_allclose(pits[1], pits[0], atol=1e-6)
    if tails == "heavy":
        assert (np.asarray(k) > 0.7).any() and (np.asarray(k) < 0.5).any()
    else:
        assert (np.asarray(k) < 0.7).all()


def test_leave_one_out_of_weighted_draws_is_the_exact_leave_one_out():
    """Importance draws of a posterior with their log ratios give each row's exact LOO predictive density (normal
    mean, known sd, flat prior: ``y_i | y_-i ~ Normal(mean of the others, sd sqrt(1 + 1/(n-1)))``); read as
    plain posterior draws they do not."""
    from scipy.stats import norm

    from infergy.inference.psis import site_log_weights

    rng = np.random.default_rng(3)
    n = 10
    y = rng.normal(0.0, 1.0, n)
    chains, draws = 4, 2000
    loc, scale = y.mean() + 0.3, 0.5  # the proposal: off-centre and wider than the posterior (sd 1/sqrt(n))
    mu = rng.normal(loc, scale, (chains, draws))
    log_ratio = norm.logpdf(mu, y.mean(), 1 / np.sqrt(n)) - norm.logpdf(mu, loc, scale)
    log_lik = norm.logpdf(y, mu[..., None], 1.0)
    dt = az.from_dict({"posterior": {"mu": mu}, "log_likelihood": {"obs": log_lik},
                       "posterior_predictive": {"obs": rng.normal(mu[..., None], 1.0, (chains, draws, n))},
                       "observed_data": {"obs": y}}, dims={"obs": ["row"]})
    others = (y.sum() - y) / (n - 1)
    exact = norm.logpdf(y, others, np.sqrt(1 + 1 / (n - 1)))

    def elpd_i(ratio):
        log_w, k = site_log_weights(dt["log_likelihood"]["obs"], 1.0, ratio)
        loo = az.loo(dt, var_name="obs", pointwise=True, reff=1.0, log_weights=log_w, pareto_k=k)
        return np.asarray(loo.elpd_i), np.asarray(k)

    weighted, k = elpd_i(log_ratio.ravel())
    np.testing.assert_allclose(weighted, exact, atol=0.02)
    assert k.max() < 0.5
    plain, _ = elpd_i(None)
    assert np.abs(plain - exact).max() > 0.1
    # the review reads the same weights
    from infergy.inference.review import ReviewThresholds

    review = review_fit(dt, {"obs": "y"}, ReviewThresholds(min_rows_for_coverage=n), convergence=False,
                        draw_log_ratio=log_ratio)
    assert f"elpd_loo {weighted.sum():.1f}" in " ".join(c.detail for c in review.checks)
