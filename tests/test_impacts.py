"""Carbon and water: the tables, the grid sub-model (its likelihood, recovery, conditional draws), the answers'
properties, and the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infergy.data.impacts import CONTINENTS, IMPACT_FILES, ImpactData, load_impacts
from infergy.data.schema import DataValidationError


@pytest.fixture(scope="module")
def data():
    return load_impacts()


@pytest.fixture(scope="module")
def post():
    from infergy.inference.impacts import load_impact_posterior

    return load_impact_posterior()


# ---- the tables ----

def test_tables_load_with_every_row_sourced_and_licences_noted(data):
    from infergy.data.impacts import __file__ as where

    assert len(data.grid_carbon) == 1760 and data.grid_carbon["zone"].nunique() == 352
    for name, table in data.tables.items():
        assert table["source"].notna().all(), name
    note = (__import__("pathlib").Path(where).with_name("CARBON_WATER_SOURCES.md")).read_text()
    for filename in IMPACT_FILES.values():
        assert filename in note
    for licence in ("ODbL", "CC BY-SA 4.0", "MPL-2.0"):
        assert licence in note
    assert "NA" in set(data.grid_carbon["zone"])  # Namibia, not a missing value


def test_a_bad_row_is_refused_with_file_row_and_rule(tmp_path, data):
    for name, filename in IMPACT_FILES.items():
        data.tables[name].to_csv(tmp_path / filename, index=False)
    grid = data.grid_carbon.copy()
    grid.loc[3, "carbon_intensity_g_per_kwh"] = 5000.0
    grid.to_csv(tmp_path / "grid_carbon.csv", index=False)
    with pytest.raises(DataValidationError, match=r"grid_carbon.csv: row 4 \(line 5\), column "
                       r"'carbon_intensity_g_per_kwh': 5000 must be <= 2000"):
        load_impacts(tmp_path)
    grid = data.grid_carbon.copy()
    grid.loc[5, "zone"] = "XX-NOWHERE"
    grid.to_csv(tmp_path / "grid_carbon.csv", index=False)
    with pytest.raises(DataValidationError, match=r"row 6 \(line 7\), column 'zone': a zone's code must start with"):
        load_impacts(tmp_path)


# ---- the grid likelihood: integrated level and trend ----

def test_integrated_likelihood_equals_the_multivariate_normal(data):
    from numpyro import handlers

    import infergy.model.impacts as mi

    d = mi.build_impact_design(data)
    tr = handlers.trace(handlers.seed(mi.carbon_model, 7)).get_trace(d)
    ll = np.asarray(tr["ci_loglik_zone"]["value"], np.float64)
    p = {k: np.asarray(v["value"], np.float64) for k, v in tr.items() if v["type"] == "sample"}
    s = np.asarray(tr["ci_s"]["value"], np.float64)
    c_k = p["ci_m"] + p["ci_tau_continent"] * p["ci_z_continent"]
    b_k = p["ci_b0"] + p["ci_tau_trend_continent"] * p["ci_z_trend_continent"]
    a_c = c_k[d.country_continent] + p["ci_tau_country"] * p["ci_z_country"]
    zk = d.country_continent[d.zone_country]
    loc = a_c[d.zone_country][:, None] + b_k[zk][:, None] * d.years_t[None]
    cov = (p["ci_tau_zone"] ** 2 + p["ci_tau_trend"] ** 2 * np.outer(d.years_t, d.years_t))[None] \
        + np.eye(len(d.years_t))[None] * (s[:, None] ** 2 + d.zone_rounding_var)[:, :, None]
    from scipy.stats import multivariate_normal

    mvn = np.array([multivariate_normal(loc[z], cov[z]).logpdf(d.zone_log_ci[z]) for z in range(len(d.zones))])
    varies = np.array([z not in d.static_zones for z in d.zones])
    assert varies.sum() > 300 and (~varies).sum() == 13
    np.testing.assert_allclose(ll[varies], mvn[varies], atol=2e-3)
    c = int(np.flatnonzero(d.years_t == 0)[0])
    var0 = p["ci_tau_zone"] ** 2 + s ** 2 + d.zone_rounding_var[:, c]
    single = -0.5 * ((d.zone_log_ci[:, c] - loc[:, c]) ** 2 / var0 + np.log(2 * np.pi * var0))
    np.testing.assert_allclose(ll[~varies], single[~varies], atol=2e-3)


def test_zone_level_and_trend_draws_follow_their_exact_conditional(data):
    """Gaussian conditioning by brute force (the joint of level, trend and the years) against the draws."""
    import infergy.model.impacts as mi

    d = mi.build_impact_design(data)
    rng = np.random.default_rng(1)
    one = {"ci_m": np.full(1, 5.7), "ci_tau_continent": np.full(1, 0.4), "ci_tau_country": np.full(1, 0.5),
           "ci_tau_zone": np.full(1, 0.6), "ci_b0": np.full(1, -0.02), "ci_tau_trend_continent": np.full(1, 0.02),
           "ci_tau_trend": np.full(1, 0.03), "ci_z_continent": rng.standard_normal((1, len(CONTINENTS))),
           "ci_z_trend_continent": rng.standard_normal((1, len(CONTINENTS))),
           "ci_z_country": rng.standard_normal((1, len(d.countries))),
           "ci_s": np.exp(rng.normal(-3, 1, (1, len(d.zones))))}
    draws = {k: np.repeat(v, 4000, axis=0) for k, v in one.items()}
    a, b = mi.draw_zone_effects(draws, d, seed=3)
    z = d.zones.index("IE")
    c_k = one["ci_m"] + one["ci_tau_continent"] * one["ci_z_continent"]
    k = d.country_continent[d.zone_country[z]]
    mean0 = np.array([(c_k[0, k] + one["ci_tau_country"][0] * one["ci_z_country"][0, d.zone_country[z]]),
                      one["ci_b0"][0] + one["ci_tau_trend_continent"][0] * one["ci_z_trend_continent"][0, k]])
    prior = np.diag([0.6 ** 2, 0.03 ** 2])
    x = np.stack([np.ones(5), d.years_t], 1)
    noise = np.diag(one["ci_s"][0, z] ** 2 + d.zone_rounding_var[z])
    gain = prior @ x.T @ np.linalg.inv(x @ prior @ x.T + noise)
    want_mean = mean0 + gain @ (d.zone_log_ci[z] - x @ mean0)
    want_cov = prior - gain @ x @ prior
    got = np.stack([a[:, z], b[:, z]], 1)
    se = np.sqrt(np.diag(want_cov) / len(got))
    assert np.all(np.abs(got.mean(0) - want_mean) < 5 * se)
    cov = np.cov(got.T)
    np.testing.assert_allclose(np.diag(cov), np.diag(want_cov), rtol=0.1)
    corr = lambda c: c[0, 1] / np.sqrt(c[0, 0] * c[1, 1])  # noqa: E731
    assert abs(corr(cov) - corr(want_cov)) < 0.07  # se of a correlation from 4,000 draws: ~0.016


def _simulated(data: ImpactData, truth: dict, seed: int) -> ImpactData:
    """The shipped tables with the grid's values replaced by a draw from the model at ``truth``."""
    import infergy.model.impacts as mi

    d = mi.build_impact_design(data)
    rng = np.random.default_rng(seed)
    nk, nc, nz = len(CONTINENTS), len(d.countries), len(d.zones)
    c_k = truth["m"] + truth["tau_continent"] * rng.standard_normal(nk)
    b_k = truth["b0"] + truth["tau_trend_continent"] * rng.standard_normal(nk)
    a_c = c_k[d.country_continent] + truth["tau_country"] * rng.standard_normal(nc)
    zk = d.country_continent[d.zone_country]
    a = a_c[d.zone_country] + truth["tau_zone"] * rng.standard_normal(nz)
    b = b_k[zk] + truth["tau_trend"] * rng.standard_normal(nz)
    s = np.exp(truth["log_noise"] + truth["tau_noise"] * rng.standard_normal(nz))
    y = a[:, None] + b[:, None] * d.years_t[None] + s[:, None] * rng.standard_normal((nz, len(d.years)))
    grid = data.grid_carbon.copy()
    zi = grid["zone"].map({z: i for i, z in enumerate(d.zones)}).to_numpy()
    ti = grid["year"].map({yy: i for i, yy in enumerate(d.years)}).to_numpy()
    grid["carbon_intensity_g_per_kwh"] = np.round(np.exp(y[zi, ti]), 3)
    return ImpactData({**data.tables, "grid_carbon": grid}, "simulated")


def test_grid_submodel_recovers_its_hyperparameters_from_simulated_data(data):
    import jax
    from numpyro.infer import MCMC, NUTS

    import infergy.model.impacts as mi

    truth = {"m": 5.6, "tau_continent": 0.4, "tau_country": 0.55, "tau_zone": 0.6, "b0": -0.02,
             "tau_trend_continent": 0.02, "tau_trend": 0.03, "log_noise": -3.0, "tau_noise": 0.8}
    d = mi.build_impact_design(_simulated(data, truth, seed=11))
    mcmc = MCMC(NUTS(mi.carbon_model, target_accept_prob=0.9), num_warmup=300, num_samples=300, num_chains=1,
                progress_bar=False)
    mcmc.run(jax.random.PRNGKey(0), d)
    s = {k: np.asarray(v) for k, v in mcmc.get_samples().items()}
    for name in ("tau_country", "tau_zone", "tau_trend", "log_noise", "tau_noise", "b0"):
        lo, hi = np.quantile(s[f"ci_{name}"], [0.005, 0.995])
        assert lo <= truth[name] <= hi, (name, lo, hi, truth[name])


# ---- answers: per-draw factors and their properties ----

def _arrays(n: int, rng) -> dict:
    return {"host_ratio": rng.uniform(0.1, 0.6, n), "pue": rng.uniform(1.05, 1.6, n),
            "idle_share": rng.uniform(0.0, 0.3, n)}


def test_unknown_region_is_one_line_with_close_matches(data):
    from infergy.model.impacts import resolve_region

    with pytest.raises(ValueError) as err:
        resolve_region(data, "US-MIDA-PJN")
    assert "unknown region 'US-MIDA-PJN'" in str(err.value) and "US-MIDA-PJM" in str(err.value)
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="close: .*SE-SE1"):
        resolve_region(data, "SE-SE")
    assert resolve_region(data, "ireland").code == "IE"
    assert resolve_region(data, "EUROPE").level == "continent"


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(["SE-SE1", "FR", "IE", "US-MIDA-PJM", "PL", "IN-EA", "Europe", "world"]),
       st.sampled_from(["SE-SE1", "FR", "IE", "US-MIDA-PJM", "PL", "IN-EA", "Asia"]),
       st.integers(2018, 2032), st.floats(0.01, 1.0), st.sampled_from(["gpu", "node", "facility", "facility+idle"]),
       st.integers(0, 2 ** 16))
def test_factor_properties(post, zone_a, zone_b, year, share, boundary, seed):
    """Carbon and water are the energy times a per-draw factor (linear in energy); for the same draws a zone of
    lower intensity gives less carbon; market-based with a clean share is at most location-based."""
    from infergy.analysis.impacts import Where, plan_impacts
    from infergy.model.impacts import carbon_intensity_draws, resolve_region

    n = 200
    arrays = _arrays(n, np.random.default_rng(seed))
    plans = {z: plan_impacts(Where(z, year), boundary=boundary, per="query", operator=None, n_draws=n, seed=seed,
                             posterior=post) for z in (zone_a, zone_b)}
    logs = {z: p.scales(arrays) for z, p in plans.items()}
    for z, lg in logs.items():
        assert lg.shape == (3, n) and np.all(np.isfinite(lg))
        energy = np.exp(lg[0])
        for wh in (0.01, 1.0, 37.0):  # linear: the factor does not depend on the energy it multiplies
            np.testing.assert_allclose(wh * np.exp(lg[1]) / (wh * energy), np.exp(lg[1] - lg[0]), rtol=1e-12)
    # the same draws' intensities for both zones (same seed): monotone in intensity, draw by draw
    ci = {}
    for z in (zone_a, zone_b):
        rng = np.random.default_rng([seed, 26])
        pick = np.resize(rng.permutation(post.n_draws), n)
        draws = {k: v[pick] for k, v in post.draws.items()}
        ci[z] = carbon_intensity_draws(draws, post.design, post.data, resolve_region(post.data, z), year, rng)[0]
    carbon = {z: np.exp(logs[z][1]) for z in logs}
    lower = ci[zone_a] <= ci[zone_b]
    assert np.all(carbon[zone_a][lower] <= carbon[zone_b][lower] * (1 + 1e-12))
    market = plan_impacts(Where(zone_a, year, clean_share=share), boundary=boundary, per="query", operator=None,
                          n_draws=n, seed=seed, posterior=post)
    lg = market.scales(arrays)
    names = market.names
    assert names[-1] == "carbon_location_g"
    if "carbon_g" not in market.zero:
        assert np.all(lg[names.index("carbon_g")] <= lg[names.index("carbon_location_g")] + 1e-12)
    np.testing.assert_allclose(lg[names.index("carbon_location_g")], logs[zone_a][1], rtol=1e-12)


def test_impacts_boundary_is_the_facility_whatever_the_answer(post):
    from infergy.analysis.impacts import Where, plan_impacts
    from infergy.model.equations import boundary_factor

    rng = np.random.default_rng(0)
    arrays = _arrays(100, rng)
    gpu = plan_impacts(Where("IE"), boundary="gpu", per="query", operator=None, n_draws=100, seed=0, posterior=post)
    ratio = np.exp(gpu.scales(arrays)[0])
    want = np.asarray(boundary_factor(arrays["host_ratio"], arrays["pue"], arrays["idle_share"], np.array([1., 1., 0.])))
    np.testing.assert_allclose(ratio, want, rtol=1e-6)
    assert gpu.basis["boundary"] == "facility"
    idle = plan_impacts(Where("IE"), boundary="facility+idle", per="query", operator=None, n_draws=100, seed=0,
                        posterior=post)
    assert idle.basis["boundary"] == "facility+idle" and np.allclose(idle.scales(arrays)[0], 0.0)


def test_published_year_is_the_data_and_a_future_year_is_predicted(post, data):
    from infergy.model.impacts import carbon_intensity_draws, resolve_region

    rng = np.random.default_rng(0)
    ie = resolve_region(data, "IE")
    ci, origin = carbon_intensity_draws(post.draws, post.design, data, ie, 2024, rng)
    assert origin == "published" and np.all(ci == 301.0 if False else ci == float(
        data.grid_carbon.query("zone == 'IE' and year == 2024")["carbon_intensity_g_per_kwh"].iloc[0]))
    near, origin = carbon_intensity_draws(post.draws, post.design, data, ie, 2026, rng)
    far, _ = carbon_intensity_draws(post.draws, post.design, data, ie, 2034, rng)
    assert origin == "predicted"
    width = lambda x: np.subtract(*np.quantile(np.log(x), [0.95, 0.05]))  # noqa: E731
    assert width(far) > width(near) > 0.0  # a farther year is less certain
    europe, _ = carbon_intensity_draws(post.draws, post.design, data, resolve_region(data, "Europe"), 2025, rng)
    assert width(europe) > 3 * width(near)  # an unlisted zone carries the spread between zones


# ---- end to end ----

@pytest.fixture(scope="module")
def answers():
    from infergy.analysis.estimate import estimate
    from infergy.analysis.impacts import Where

    kw = dict(model="Llama 3.1 70B", samples=20_000, seed=4)
    return {"ie": estimate(**kw, where=Where("IE", 2024)), "se": estimate(**kw, where=Where("SE-SE1", 2024)),
            "ie_market": estimate(**kw, where=Where("IE", 2024, clean_share=0.7)),
            "ie_token": estimate(**kw, per="token", where=Where("IE", 2024)), "plain": estimate(**kw)}


def test_estimate_carries_impacts_on_the_same_queries(answers, data):
    ie, se, plain = answers["ie"], answers["se"], answers["plain"]
    assert ie.value == plain.value  # the region changes nothing of the energy answer
    assert ie.impacts["energy_wh"] == ie.value  # facility boundary: the same queries, the same numbers
    ci = float(data.grid_carbon.query("zone == 'IE' and year == 2024")["carbon_intensity_g_per_kwh"].iloc[0])
    for key in ("median", "p05", "p95"):  # one published intensity: carbon is energy x CI, to a histogram bin
        assert ie.impacts["carbon_g"][key] == pytest.approx(ie.value[key] * ci / 1000.0, rel=5e-3)
        assert se.impacts["carbon_g"][key] < ie.impacts["carbon_g"][key]
        assert answers["ie_market"].impacts["carbon_g"][key] <= answers["ie_market"].impacts["carbon_location_g"][key]
    d = ie.to_dict()["impacts"]
    assert d["where"]["region"] == "IE" and d["where"]["year"] == 2024
    assert d["carbon_basis"]["scope"].startswith("location-based") and "life-cycle" in d["carbon_basis"]["intensity"]
    assert set(d["water_ml"]) == set(ie.value)
    tok = answers["ie_token"].impacts
    assert tok["unit"]["carbon_g"] == "gCO2e/token"
    # one histogram bin (0.23%) apart at most: Wh per token is J per token / 3600
    assert tok["energy_wh"]["median"] == pytest.approx(answers["ie_token"].value["median"] / 3600.0, rel=5e-3)


def test_fully_clean_market_based_supply_is_zero_carbon():
    from infergy.analysis.estimate import estimate
    from infergy.analysis.impacts import Where

    est = estimate("Llama 3.1 8B", samples=2_000, where=Where("PL", clean_share=1.0))
    assert all(v == 0.0 for v in est.impacts["carbon_g"].values())
    assert est.impacts["carbon_location_g"]["median"] > 0.0


def _cli(*args):
    import contextlib
    import io

    from infergy.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exc:
            code = exc.code
    return code, out.getvalue(), err.getvalue()


def test_cli_regions_and_bad_where_options():
    code, out, _ = _cli("regions", "--search", "pjm", "--json")
    assert code == 0
    table = json.loads(out)
    assert [r["zone"] for r in table["zones"]] == ["US-MIDA-PJM"] and "world" in table["also_accepted"]
    code, out, _ = _cli("regions", "--continent", "oceania", "--sort", "intensity")
    assert code == 0 and out.startswith("| zone |") and "AU-TAS" in out
    code, _, err = _cli("estimate", "--model", "Llama 3.1 8B", "--region", "Virgina")
    assert code == 2 and "unknown region 'Virgina'" in err and err.count("\n") == 1
    code, _, err = _cli("estimate", "--model", "Llama 3.1 8B", "--year", "2024")
    assert code == 2 and "give --region too" in err
    code, _, err = _cli("estimate", "--region", "IE", "--clean-share", "0.5", "--market-based", "100")
    assert code == 2 and "not allowed with argument" in err
    code, _, err = _cli("estimate", "--region", "IE", "--year", "2050")
    assert code == 2 and "2015-2035" in err
    code, _, err = _cli("estimate", "--region", "IE", "--market-based", "-3")
    assert code == 2 and "0-2000" in err


def test_cli_estimate_text_names_zone_year_and_basis():
    code, out, err = _cli("estimate", "--model", "Llama 3.1 8B", "--samples", "2000", "--region", "FR",
                          "--year", "2028")
    assert code == 0, err
    assert "served in FR (France), 2028 (grid: predicted by the grid sub-model" in out
    assert "carbon: location-based" in out and "life-cycle" in out and "water: cooling water" in out


def test_fleet_carbon_is_its_energy_times_the_zone_intensity(data):
    from infergy.analysis.fleet import fleet
    from infergy.analysis.impacts import Where
    from infergy.analysis.pathways import Baseline
    from infergy.analysis.predict import QuerySpec

    base = Baseline("Llama 3.1 8B", (QuerySpec(model="Llama 3.1 8B", boundary="facility+idle"),))
    res = fleet(2e9, baseline=base, samples_per_member=2_000, paper_version=None, levers=("load-x2",),
                where=Where("FR", 2023))
    ci = float(data.grid_carbon.query("zone == 'FR' and year == 2023")["carbon_intensity_g_per_kwh"].iloc[0])
    for name, row in res["fleet"].items():  # GWh/day x g/kWh = t/day, draw by draw
        for key in ("median", "p05", "p95"):
            assert res["impacts"]["carbon_t_per_day"][name][key] == pytest.approx(row[key] * ci, rel=1e-9)
    assert (res["impacts"]["water_m3_per_day"]["improved"]["median"]
            < res["impacts"]["water_m3_per_day"]["with_long_queries"]["median"])  # the same mix, twice the load
    assert res["impacts"]["boundary"] == "facility+idle" and res["impacts"]["unit"]["carbon_t_per_day"] == "tCO2e/day"


def test_where_lever_moves_the_same_load_between_grids(data):
    from infergy.analysis.impacts import Where
    from infergy.analysis.pathways import Baseline, pathways
    from infergy.analysis.predict import QuerySpec

    base = Baseline("Llama 3.1 8B", (QuerySpec(model="Llama 3.1 8B"),))
    res = pathways(base, levers=("load-x2",), combinations={}, regimes=("traditional",), samples_per_member=2_000,
                   where=Where("PL", 2022), move_to="FR")
    w = res["regimes"]["traditional"]["where"]
    ci = data.grid_carbon.query("year == 2022").set_index("zone")["carbon_intensity_g_per_kwh"]
    assert w["carbon_reduction_factor"]["median"] == pytest.approx(ci["PL"] / ci["FR"], rel=1e-9)
    assert w["from"].startswith("PL") and w["to"].startswith("FR") and w["year"] == 2022
    future = pathways(base, levers=("load-x2",), combinations={}, regimes=("traditional",), samples_per_member=2_000,
                      where=Where("PL", 2030), move_to="FR")["regimes"]["traditional"]["where"]
    f = future["carbon_reduction_factor"]
    assert f["p05"] < f["median"] < f["p95"]  # predicted grids: the factor is uncertain
    with pytest.raises(ValueError, match="give --region too"):
        pathways(base, levers=(), combinations={}, regimes=("traditional",), samples_per_member=1_000, move_to="FR")


def test_embodied_adds_the_hardware_per_gpu_second_and_changes_nothing_else(answers):
    """Off by default; with it, carbon = operational + manufacturing (per GPU-second, a prior), on the same queries
    and the same grid draws; a fully clean supply leaves the manufacturing alone."""
    from infergy.analysis.estimate import estimate
    from infergy.analysis.impacts import Where
    from infergy.model.impacts import EMBODIED_G_PER_GPU_HOUR_P5_P95, embodied_draws

    ie = answers["ie"]
    emb = estimate("Llama 3.1 70B", samples=20_000, seed=4, where=Where("IE", 2024, embodied=True))
    assert "embodied_g" not in ie.impacts and ie.impacts["carbon_basis"]["embodied_hardware"] == "not included"
    assert emb.value == ie.value and emb.impacts["water_ml"] == ie.impacts["water_ml"]
    for key in ("median", "p05", "p95"):
        assert emb.impacts["carbon_g"][key] > ie.impacts["carbon_g"][key]
        assert 0 < emb.impacts["embodied_g"][key] < emb.impacts["carbon_g"][key]
    # the mean adds exactly: operational mean + manufacturing mean (float32 sums)
    assert emb.impacts["carbon_g"]["mean"] == pytest.approx(ie.impacts["carbon_g"]["mean"]
                                                            + emb.impacts["embodied_g"]["mean"], rel=1e-4)
    assert "a prior" in emb.impacts["carbon_basis"]["embodied_hardware"]
    clean = estimate("Llama 3.1 70B", samples=20_000, seed=4, where=Where("IE", 2024, clean_share=1.0, embodied=True))
    assert clean.impacts["carbon_g"] == clean.impacts["embodied_g"]
    lo, hi = np.quantile(embodied_draws(200_000, np.random.default_rng(0)) * 3600.0, [0.05, 0.95])
    assert (lo, hi) == pytest.approx(EMBODIED_G_PER_GPU_HOUR_P5_P95, rel=0.02)


def test_embodied_rate_carries_the_idle_machines_at_the_comprehensive_boundary(post):
    from infergy.analysis.impacts import Where, plan_impacts

    arrays = _arrays(50, np.random.default_rng(3))
    plain = plan_impacts(Where("IE", embodied=True), boundary="facility", per="query", operator=None, n_draws=50,
                         seed=1, posterior=post)
    idle = plan_impacts(Where("IE", embodied=True), boundary="facility+idle", per="query", operator=None,
                        n_draws=50, seed=1, posterior=post)
    i = plain.names.index("embodied_g")
    np.testing.assert_allclose(idle.rates(arrays)[i] * (1 - arrays["idle_share"]), plain.rates(arrays)[i])
    assert np.all(plain.rates(arrays)[plain.names.index("water_ml")] == 0)
    assert np.all(np.isneginf(plain.scales(arrays)[i]))


def test_impacts_are_the_same_split_over_two_devices(subprocess_env):
    """The extra factors and rates are sharded along the draws with the energy: one device or two, one answer."""
    import subprocess
    import sys

    code = ("import json, jax\nfrom infergy.analysis.estimate import estimate\nfrom infergy.analysis.impacts import Where\n"
            "e = estimate('Llama 3.1 8B', samples=20_000, seed=2, where=Where('IE', embodied=True, clean_share=0.3))\n"
            "print(json.dumps([jax.local_device_count(), e.value, {k: e.impacts[k] for k in "
            "('carbon_g', 'embodied_g', 'water_ml', 'carbon_location_g')}]))\n")
    out = []
    for n in (1, 2):
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                              env=subprocess_env(f"--xla_force_host_platform_device_count={n}"))
        assert proc.returncode == 0, proc.stderr[-2000:]
        out.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert [o[0] for o in out] == [1, 2]
    assert out[0][1:] == out[1][1:]
