"""`infergy update`: the base posterior's draws carried into the design with the new rows (aligned by label, new
elements from their prior), reweighted when the Pareto k of the weights allows, else sampled; the contrasts every
posterior is expressed in are the same on every machine."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from infergy.data import data_path, load
from infergy.inference.posterior import load_posterior
from infergy.model.joint import build_design
from infergy.model.throughput import residual_basis

PUE_ROW = data_path("templates") / "pue.csv"


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "infergy", *args], capture_output=True, text=True, timeout=900)


@settings(max_examples=30, deadline=None)
@given(st.integers(3, 12), st.integers(1, 3), st.integers(0, 2**31 - 1))
def test_the_residual_basis_is_the_unit_vectors_projected_and_orthonormalised_in_order(n, m, seed):
    rng = np.random.default_rng(seed)
    c = rng.integers(-2, 3, size=(m, n)).astype(float)
    b = residual_basis(c)
    rank = np.linalg.matrix_rank(c)
    assert b.shape == (n, n - rank)
    assert np.allclose(b.T @ b, np.eye(n - rank), atol=1e-10) and np.allclose(c @ b, 0.0, atol=1e-10)
    # the same space stated differently (rows scaled, reordered, repeated) gives the same basis: no SVD rotation
    assert np.allclose(residual_basis(np.vstack([3.0 * c[::-1], c[:1]])), b, atol=1e-9)
    # its first column is the first unit vector's projection, normalised (where that is not zero)
    p = np.eye(n)[:, 0] - np.linalg.pinv(c) @ (c @ np.eye(n)[:, 0])
    if np.linalg.norm(p) > 1e-6:
        assert np.allclose(b[:, 0], p / np.linalg.norm(p), atol=1e-9)


def test_the_shipped_contrasts_reproduce_the_shipped_throughput_effects():
    """The shipped draws of each contrast, through this machine's bases, give the effects stored beside them."""
    from infergy.inference.update import _all_sites, _base_draws, _latent_sites

    design = build_design(load())
    dt = load_posterior()
    draws = _base_draws(dt, list(_latent_sites(design)))
    sites = _all_sites(design, {k: v[:50].astype(np.float32) for k, v in draws.items()})
    post = dt["posterior"].to_dataset()
    for name in ("tp_a_model", "tp_b_gpu", "tp_e_gpu_precision", "tp_e_model_gpu"):
        stored = np.asarray(post[name]).reshape(-1, *post[name].shape[2:])[:50]
        assert np.abs(sites[name] - stored).max() < 1e-4, name


def test_the_base_draws_keep_their_operators_and_a_new_operator_is_left_to_its_prior():
    from infergy.inference.update import _base_draws, _latent_sites, align

    old, new = build_design(load()), build_design(load(extra=[PUE_ROW]))
    draws = _base_draws(load_posterior(), list(_latent_sites(old)))
    known, why = align(old, new, draws)
    assert why is None
    values, mask = known["pue_z_operator"]
    assert mask.sum() == len(old.pue.operators) and len(mask) == len(old.pue.operators) + 1
    placed = [new.pue.operators.index(op) for op in old.pue.operators]
    assert np.array_equal(values[:, placed], draws["pue_z_operator"])
    assert known["tp_g0"][1] is None and np.array_equal(known["tp_g0"][0], draws["tp_g0"])


def test_the_shipped_prior_draws_extended_are_prior_draws_of_the_new_model():
    """The update's prior group: the shipped prior draws, a new operator's effect drawn from its prior (a standard
    normal, non-centred with one row), and the joint log density computed with the draws is the model's."""
    import jax
    from scipy import stats

    from infergy.inference.update import _base_prior, _extend, _latent_sites, _log_joint, align

    old, new = build_design(load()), build_design(load(extra=[PUE_ROW]))
    prior = _base_prior(load_posterior(), list(_latent_sites(old)))
    known, why = align(old, new, prior)
    assert why is None
    with jax.enable_x64(True):
        latents, _, log_p = _extend(new, known, jax.random.PRNGKey(0), 200)
        np.testing.assert_allclose(np.asarray(log_p), np.asarray(_log_joint(new, latents)), rtol=1e-9)
    new_op = new.pue.operators.index("our company")
    shared = [new.pue.operators.index(op) for op in old.pue.operators]
    z = np.asarray(latents["pue_z_operator"])
    assert np.array_equal(z[:, shared], prior["pue_z_operator"])
    assert stats.kstest(z[:, new_op], "norm").pvalue > 1e-3
    assert np.array_equal(np.asarray(latents["tp_g0"]), prior["tp_g0"])


def test_rows_that_change_the_shared_contrasts_are_not_reweighted(tmp_path):
    """A benchmark of a model no benchmark ran adds a model level: every model contrast's basis changes."""
    import pandas as pd

    from infergy.inference.update import align

    shipped = load()
    old = build_design(shipped)
    unbenchmarked = sorted(set(shipped.tables["models"]["model"]) - set(old.throughput.models) - {""})
    row = pd.read_csv(data_path("templates") / "throughput.csv", dtype=str)
    meta = shipped.tables["models"].set_index("model").loc[unbenchmarked[0]]
    row.loc[0, ["model", "total_params_b", "active_params_b", "moe"]] = [
        unbenchmarked[0], str(meta["total_params_b"]), str(meta["active_params_b"]), str(meta["moe"]).lower()]
    path = tmp_path / "throughput.csv"
    row.to_csv(path, index=False)
    new = build_design(load(extra=[path]))
    assert unbenchmarked[0] in new.throughput.models
    known, why = align(old, new, {})
    assert known == {} and "models" in why


def test_new_rows_are_the_rows_the_base_does_not_hold_counted_as_a_multiset():
    from infergy.inference.update import new_rows

    old = pd.DataFrame({"gpu": ["H100", "H100", "A100"], "n_gpus": [8, 8, 4], "note": ["a", "a", None]})
    # the same rows read with another dtype (a float column after a concat with NaN) are not new
    new = pd.DataFrame({"gpu": ["A100", "H100", "H100", "H100", "B200"], "n_gpus": [4.0, 8.0, 8.0, 8.0, np.nan],
                        "note": [np.nan, "a", "a", "a", "b"], "extra": [1, 2, 3, 4, 5]})
    assert new_rows(old, new).tolist() == [3, 4]  # the third copy of a twice-held row, and the new GPU
    assert new_rows(old, old).size == 0 and new_rows(old.iloc[:0], old).tolist() == [0, 1, 2]


def test_the_rows_only_model_is_the_full_model_on_those_rows(tmp_path):
    """An operator's telemetry: the throughput and power likelihoods over its rows only give those rows' pointwise
    log likelihoods of the full model, and the full model's log density differs from the rows-only one's by the same
    amount wherever the operator's own parameters are (what the update's block proposal relies on)."""
    import jax
    from numpyro.infer.util import log_density, log_likelihood

    from infergy.inference.update import _base_draws, _block, _latent_sites, align, new_rows
    from infergy.model.joint import infergy_model

    logs = pd.read_csv(data_path("templates") / "telemetry_example_day.csv").head(12)
    path = tmp_path / "telemetry.csv"
    logs.to_csv(path, index=False)
    old, new = build_design(load()), build_design(load(extra=[path]))
    known, why = align(old, new, _base_draws(load_posterior(), list(_latent_sites(old))))
    assert why is None
    tp_rows, pw_rows = new_rows(old.throughput.rows, new.throughput.rows), new_rows(old.power.rows, new.power.rows)
    assert tp_rows.tolist() == list(range(old.throughput.n_rows, new.throughput.n_rows)) and pw_rows.size == 12
    block = _block(new, known)
    assert {name for name, _, _ in block} >= {"tp_raw_setup", "tp_sigma_telemetry", "pw_shift_idle_telemetry"}
    inputs, obs = new.rows_only(tp_rows, pw_rows)
    with jax.enable_x64(True):
        theta = {name: np.asarray(v[:2]) for name, (v, _) in known.items()}
        rng = np.random.default_rng(0)
        for name, idx, shape in block:  # two settings of the operator's own parameters
            values = theta.get(name, np.full((2, *shape), 0.5))
            flat = values.reshape(2, -1).copy()
            where = slice(None) if idx is None else idx
            flat[:, where] = np.abs(rng.normal(0.2, 0.05, flat[:, where].shape))
            theta[name] = flat.reshape(values.shape)
        full_kw, sub_kw = {**new.sizes, **new.observations}, {**new.sizes, **obs}
        one = lambda k: {name: v[k] for name, v in theta.items()}
        full = [float(log_density(infergy_model, new.inputs, full_kw, one(k))[0]) for k in (0, 1)]
        sub = [float(log_density(infergy_model, inputs, sub_kw, one(k))[0]) for k in (0, 1)]
        # draw 1's shared parameters with draw 0's block: only the block differs from draw 0
        mixed = {name: v[0] for name, v in theta.items()}
        for name, idx, _ in block:
            flat = mixed[name].reshape(-1).copy()
            where = slice(None) if idx is None else idx
            flat[where] = theta[name][1].reshape(-1)[where]
            mixed[name] = flat.reshape(mixed[name].shape)
        full_m = float(log_density(infergy_model, new.inputs, full_kw, mixed)[0])
        sub_m = float(log_density(infergy_model, inputs, sub_kw, mixed)[0])
        assert full[0] - sub[0] == pytest.approx(full_m - sub_m, abs=1e-6)
        assert full[0] != pytest.approx(full_m)  # the block moved the density
        pointwise = log_likelihood(infergy_model, {k: v[:1] for k, v in theta.items()}, *new.inputs, **full_kw)
        pointwise_sub = log_likelihood(infergy_model, {k: v[:1] for k, v in theta.items()}, *inputs, **sub_kw)
    np.testing.assert_allclose(np.asarray(pointwise_sub["tp_obs"])[0], np.asarray(pointwise["tp_obs"])[0, tp_rows],
                               rtol=1e-10)
    np.testing.assert_allclose(np.asarray(pointwise_sub["pw_obs"])[0], np.asarray(pointwise["pw_obs"])[0, pw_rows],
                               rtol=1e-10)


def test_systematic_resampling_draws_in_proportion_to_the_weights():
    from infergy.inference.update import _systematic

    w = np.array([0.5, 0.25, 0.125, 0.125])
    idx = _systematic(np.log(w), 800, np.random.default_rng(0))
    assert np.array_equal(np.bincount(idx, minlength=4), (w * 800).astype(int))


def test_a_resample_keeps_every_variable_its_shape_and_its_draws_together():
    """The stored posterior of a reweighted update: each group's draws at the resampled base draws, the same base
    draw for every variable (a draw's sites and its log likelihood stay together)."""
    import xarray as xr

    from infergy.inference.update import _resampled

    rng = np.random.default_rng(0)
    chains, draws = 2, 5
    a = rng.normal(size=(chains, draws))
    ds = xr.Dataset({"a": (("chain", "draw"), a), "b": (("chain", "draw", "row"), a[..., None] + np.arange(3))},
                    coords={"chain": [0, 1], "draw": np.arange(draws), "row": ["x", "y", "z"]}, attrs={"note": "kept"})
    idx = np.array([9, 9, 0, 3, 3, 3, 7, 1, 2, 2])
    out = _resampled(ds, idx)
    np.testing.assert_array_equal(np.asarray(out["a"]).ravel(), a.ravel()[idx])
    np.testing.assert_array_equal(np.asarray(out["b"]).reshape(-1, 3), a.ravel()[idx][:, None] + np.arange(3))
    assert out["b"].dims == ("chain", "draw", "row") and list(out["row"].values) == ["x", "y", "z"]
    assert out.attrs == {"note": "kept"}


def test_an_update_that_adds_nothing_is_refused():
    from infergy.inference.update import update

    with pytest.raises(ValueError, match="bring no rows"):
        update([], config=None)


@pytest.mark.slow
def test_update_reweights_one_pue_row_and_the_answers_read_it(tmp_path):
    out = tmp_path / "mine.nc"
    run = _cli("update", "--data-add", str(PUE_ROW), "--out", str(out), "--no-progress", "--json")
    report = json.loads(run.stdout)
    assert report["path"] == "reweight" and report["pareto_k"] <= 0.7, run.stderr[-2000:]
    assert run.returncode == (0 if report["ok"] else 1)
    # resampled base draws: the file keeps each base draw's normalised weight, which the report draws
    from scipy.special import logsumexp

    weights = load_posterior(out)["importance_weights"]
    assert abs(logsumexp(np.asarray(weights["log_weight"]))) < 1e-6
    assert float(weights.attrs["pareto_k"]) == pytest.approx(report["pareto_k"])
    est = _cli("estimate", "--model", "Llama 3.1 70B", "--posterior", str(out), "--data-add", str(PUE_ROW),
               "--operator", "our company", "--json")
    assert est.returncode == 0, est.stderr[-2000:]
    assert json.loads(est.stdout)["inputs"]["pue"] == "our company's own fleet average (posterior)"
    refused = _cli("estimate", "--model", "Llama 3.1 70B", "--posterior", str(out), "--json")  # without the rows it was updated with
    assert refused.returncode == 2 and "posterior was fitted to" in refused.stderr


def test_update_with_bad_rows_says_which_and_writes_nothing(tmp_path):
    bad = tmp_path / "pue.csv"
    bad.write_text(PUE_ROW.read_text().replace(",1.21,", ",0.8,"))
    out = tmp_path / "mine.nc"
    run = _cli("update", "--data-add", str(bad), "--out", str(out), "--no-progress")
    assert run.returncode == 1 and "did not validate" in run.stderr and "row" in run.stderr, run.stderr[-2000:]
    assert not out.exists()


@pytest.mark.slow
def test_a_reweighted_update_agrees_with_a_full_refit():
    """One PUE row of a new operator: the reweighted posterior against `fit` with the row (4 x 1,000 draws). The
    PUE parameters and the production operating point: means within 3 Monte Carlo standard errors, 90% intervals
    within 10% of the refit's width."""
    import arviz as az

    from infergy.inference.fit import fit
    from infergy.inference.update import update

    upd = update([PUE_ROW])
    assert upd.path == "reweight"
    ref = fit(extra=[PUE_ROW], progress_bar=False)
    a, b = upd.datatree["posterior"].to_dataset(), ref.datatree["posterior"].to_dataset()
    assert list(a["pue_e_operator"]["operator"].values) == list(b["pue_e_operator"]["operator"].values)
    for site in ("pue_e_operator", "pue_m_scope", "pue_tau_operator", "op_log_batch", "op_host_ratio"):
        x = np.asarray(a[site]).reshape(a.sizes["chain"] * a.sizes["draw"], -1)
        y = np.asarray(b[site]).reshape(b.sizes["chain"] * b.sizes["draw"], -1)
        ess_y = np.asarray(az.ess(b[[site]], method="mean")[site]).reshape(-1)
        se = np.sqrt(x.var(axis=0) / min(upd.ess, 1000.0) + y.var(axis=0) / ess_y)
        assert np.all(np.abs(x.mean(axis=0) - y.mean(axis=0)) <= 3 * se), site
        width = lambda v: np.diff(np.quantile(v, [0.05, 0.95], axis=0), axis=0)[0]
        assert np.all(np.abs(width(x) / width(y) - 1.0) <= 0.10), (site, width(x) / width(y))


@pytest.mark.slow
def test_a_telemetry_update_agrees_with_a_full_refit(tmp_path):
    """The first 100 intervals of the example telemetry, reweighted in (the operator's block drawn at each shipped
    draw), against `fit` with them (4 x 1,000 draws): the operator's energy per token (per-draw means at its median
    load, log scale) within 3 Monte Carlo standard errors with its 90% interval within 10% of the refit's width, and
    the operator's own parameters and the shared operating point within 3 standard errors. Their intervals within
    10% is a known shortfall (the setup level's: 0.85 of the refit's), reported as an expected failure. The update's
    review passes (its leave-one-out weighs the base draws, not their resample)."""
    from arviz_stats.base import array_stats

    from infergy.analysis.estimate import estimate
    from infergy.inference.fit import fit
    from infergy.inference.update import update

    day = tmp_path / "day100.csv"
    pd.read_csv(data_path("templates") / "telemetry_example_day.csv").head(100).to_csv(day, index=False)
    upd = update([day])
    assert upd.path == "reweight", upd.reason
    assert upd.review.ok, upd.review.to_text()
    ref = fit(extra=[day], progress_bar=False)
    a, b = upd.datatree["posterior"].to_dataset(), ref.datatree["posterior"].to_dataset()
    chains = b.sizes["chain"]

    def mc_se(x, y):  # of the difference of two posterior means: the update's effective draws, the refit's ESS
        ess_y = array_stats.ess(y.reshape(chains, -1), chain_axis=0, draw_axis=1, method="mean")
        return np.sqrt(x.var() / min(upd.ess, x.size) + y.var() / ess_y)

    width = lambda v: float(np.diff(np.quantile(v, [0.05, 0.95]))[0])
    mine = load(extra=[day])
    query = dict(model="Llama 3.1 70B", gpu="H100", n_gpus=8, input_tokens=1000, output_tokens=300,
                 samples=400_000, seed=0, boundary="gpu", per="token", operator="Example Co (made up)", bundle=mine)
    x = np.log(estimate(**query, posterior=upd.datatree).per_draw_mean)
    y = np.log(estimate(**query, posterior=ref.datatree).per_draw_mean)
    assert abs(x.mean() - y.mean()) <= 3 * mc_se(x, y), (x.mean(), y.mean(), mc_se(x, y))
    assert abs(width(x) / width(y) - 1.0) <= 0.10, width(x) / width(y)
    setup = [str(v) for v in a["tp_d_setup"]["setup"].values if "telemetry:" in str(v)]
    ratios = {}
    for site in ("tp_d_setup", "tp_sigma_telemetry", "pw_shift_idle_telemetry", "pw_shift_peak_telemetry",
                 "pw_shift_batch50_telemetry", "pw_sigma_telemetry", "op_log_batch", "op_host_ratio", "tp_g0"):
        sel = {"setup": setup} if "setup" in a[site].dims else {}
        xs = np.asarray(a[site].sel(sel)).reshape(a.sizes["chain"] * a.sizes["draw"], -1)
        ys = np.asarray(b[site].sel(sel)).reshape(b.sizes["chain"] * b.sizes["draw"], -1)
        for j in range(xs.shape[1]):
            assert abs(xs[:, j].mean() - ys[:, j].mean()) <= 3 * mc_se(xs[:, j], ys[:, j]), (site, j)
            ratios[f"{site}[{j}]"] = width(xs[:, j]) / width(ys[:, j])
    outside = {k: round(r, 3) for k, r in ratios.items() if abs(r - 1.0) > 0.10}
    if outside:
        pytest.xfail(f"90% intervals outside 10% of the refit's: {outside}")


@pytest.mark.slow
def test_one_operators_rows_move_neither_the_public_answer_nor_another_operators(tmp_path):
    """A PUE row of a new operator, reweighted in: the public answer and Google's own answer stay within Monte Carlo
    error of the shipped posterior's (3 standard errors of the per-draw mean, on the log scale); the new operator is
    answered at its own PUE."""
    from infergy.analysis.estimate import estimate
    from infergy.inference.update import update

    result = update([PUE_ROW])
    mine = load(extra=[PUE_ROW])
    spec = dict(model="Llama 3.1 70B", input_tokens=1000, output_tokens=300, samples=20_000, seed=0)
    for operator in (None, "Google"):
        before = np.log(estimate(**spec, operator=operator).per_draw_mean)
        after = np.log(estimate(**spec, operator=operator, posterior=result.datatree, bundle=mine).per_draw_mean)
        se = np.sqrt(before.var() / before.size + after.var() / result.ess)
        assert abs(after.mean() - before.mean()) <= 3 * se, (operator, after.mean() - before.mean(), se)
    own = estimate(**spec, operator="our company", posterior=result.datatree, bundle=mine)
    assert own.inputs["pue"] == "our company's own fleet average (posterior)"
    from infergy.analysis.estimate import open_posterior
    from infergy.analysis.headline import operator_answers

    rows = operator_answers(open_posterior(result.datatree, mine), seed=0, samples=20_000)
    assert [r["operator"] for r in rows] == ["our company"]
    assert rows[0]["operator_pue"] == own.inputs["pue"] and rows[0]["public_wh"]["median"] > 0


@pytest.mark.slow
def test_an_operators_telemetry_moves_neither_the_public_answer_nor_another_operators():
    """A day of one operator's logs (288 intervals: its own engine, power curve and scatter): fitted in full, the
    public answer and Google's own answer for a query on other hardware stay within 3 Monte Carlo standard errors
    (per-draw means, log scale) of the shipped posterior's, while the operator is answered at its own engine and
    power curve, its logs inside its interval."""
    from infergy.analysis.estimate import estimate
    from infergy.inference.fit import fit

    day = data_path("templates") / "telemetry_example_day.csv"
    mine = load(extra=[day])
    from arviz_stats.base import array_stats

    result = fit(mine, progress_bar=False)
    assert result.review.ok, result.review.to_text()
    chains = {"shipped": load_posterior()["posterior"].sizes["chain"],
              "mine": result.datatree["posterior"].sizes["chain"]}

    def mc_var(v, which):  # the variance of the mean of per-draw values, from their effective draws
        return v.var() / array_stats.ess(v.reshape(chains[which], -1), chain_axis=0, draw_axis=1, method="mean")

    spec = dict(model="Llama 3.1 405B", gpu="B200", input_tokens=1000, output_tokens=300, samples=20_000, seed=0)
    for operator in (None, "Google"):
        before = np.log(estimate(**spec, operator=operator).per_draw_mean)
        after = np.log(estimate(**spec, operator=operator, posterior=result.datatree, bundle=mine).per_draw_mean)
        se = np.sqrt(mc_var(before, "shipped") + mc_var(after, "mine"))
        assert abs(after.mean() - before.mean()) <= 3 * se, (operator, after.mean() - before.mean(), se)
    # the operator at its median load, against what its logs measured there and what the public vLLM setup gives
    logs = pd.read_csv(day)
    concurrency = logs["mean_concurrency"]
    near = logs[np.abs(np.log(concurrency / concurrency.median())) < 0.2]
    measured_j = 3600.0 * near["energy_wh"].sum() / near["output_tokens"].sum()
    query = dict(model="Llama 3.1 70B", gpu="H100", n_gpus=8, samples=20_000, seed=0, boundary="gpu", per="token",
                 input_tokens=float(near["input_tokens"].sum() / near["requests"].sum()),
                 output_tokens=float(near["output_tokens"].sum() / near["requests"].sum()),
                 posterior=result.datatree, bundle=mine)
    own = estimate(**query, operator="Example Co (made up)")
    assert own.inputs["engine"] == "vllm-telemetry:Example Co (made up)"
    public = estimate(**query, engine="vllm-mlenergy_v3-lm-arena-chat", batch_size=float(concurrency.median()))
    assert abs(np.log(own.value["median"] / measured_j)) < abs(np.log(public.value["median"] / measured_j)), (
        own.value, public.value, measured_j)
    # and its logs are inside its 90% interval: an interval's power is read over its own prefill and decode times
    # (read as the curve at its load, prefill counted twice: 1.43-1.64 J against 1.38 measured)
    assert own.value["p05"] <= measured_j <= own.value["p95"], (own.value, measured_j)


def _block_chains(log_post, values: dict, n: int, laplace_sd: tuple[float, float]):
    import jax
    import jax.numpy as jnp

    from infergy.inference.update import _hmc_layer

    z = jnp.zeros((n, 2))
    vec = jnp.broadcast_to(jnp.eye(2), (n, 2, 2))
    sd = jnp.broadcast_to(jnp.asarray(laplace_sd), (n, 2))
    u0 = jax.random.normal(jax.random.PRNGKey(0), (n, 2))
    last, accept = _hmc_layer(jax.jit(jax.vmap(jax.value_and_grad(log_post))), u0, z, vec, sd, values,
                              jax.random.PRNGKey(1))
    assert 0.6 < float(accept) <= 1.0
    return np.asarray(z + sd * last)


def test_the_block_chains_end_in_the_conditional_posterior_the_laplace_misses():
    """Each draw's HMC chain, started from and scaled by a Laplace that is off (its mean 0 and sds 1 and 0.1, the
    posterior's mean (0.5, -0.3 b), sds 1 and 0.3, correlation 0.6), ends in the posterior: 2,000 independent chains
    at two kinds of draw (b = 1 and -1), means within 4 Monte Carlo errors, sds within 8%."""
    import jax.numpy as jnp

    n, rho = 2000, 0.6
    b = jnp.where(jnp.arange(n) % 2 == 0, 1.0, -1.0)

    def log_post(z, values):
        a, c = z[0] - 0.5, (z[1] + 0.3 * values["b"]) / 0.3
        return -0.5 * (a ** 2 - 2 * rho * a * c + c ** 2) / (1 - rho ** 2)

    x = _block_chains(log_post, {"b": b}, n, (1.0, 0.1))
    for kind, sign in ((0, 1.0), (1, -1.0)):
        draws = x[kind::2]
        se = np.asarray([1.0, 0.3]) / np.sqrt(draws.shape[0])
        assert np.all(np.abs(draws.mean(axis=0) - [0.5, -0.3 * sign]) < 4 * se), draws.mean(axis=0)
        np.testing.assert_allclose(draws.std(axis=0), [1.0, 0.3], rtol=0.08)
        assert np.corrcoef(draws.T)[0, 1] == pytest.approx(rho, abs=0.06)


def test_the_block_chains_go_most_of_the_way_along_a_curved_ridge():
    """A curved ridge, the shape the example telemetry's block has (z0 ~ N(0, 1), z1 | z0 ~ N(b z0^2, 0.1^2): z1's
    mean b and sd sqrt(0.01 + 2 b^2), 1.7-2.3 times the Laplace's 0.1): the chains reach at least 70% of the mean
    and 80% of the width along z1 and 85% of z0's spread (measured: 78%, 84%, 89-95%), where the Laplace has 0 and
    43-58%. They do not reach all of it: the ridge steepens toward z0's tails and a fixed metric's steps must shrink
    there (docs/validation.md, the setup level's interval)."""
    import jax.numpy as jnp

    n, s = 2000, 0.1
    b = jnp.where(jnp.arange(n) % 2 == 0, 0.15, -0.1)

    def log_post(z, values):
        return -0.5 * z[0] ** 2 - 0.5 * ((z[1] - values["b"] * z[0] ** 2) / s) ** 2

    x = _block_chains(log_post, {"b": b}, n, (1.0, s))
    for kind, bend in ((0, 0.15), (1, -0.1)):
        draws = x[kind::2]
        assert draws[:, 0].std() >= 0.85
        assert draws[:, 1].mean() / bend >= 0.7
        assert draws[:, 1].std() / np.sqrt(s ** 2 + 2 * bend ** 2) >= 0.8


def test_two_weightings_are_compared_by_the_largest_shift_of_a_posterior_mean():
    from infergy.inference.update import _psis, _weighting_shift

    rng = np.random.default_rng(0)
    x = {"a": rng.normal(size=(4000, 3)), "b": rng.normal(2.0, 0.5, size=4000)}
    flat = (np.ones(4000, bool), np.full(4000, -np.log(4000.0)), 0.0, 4000.0)  # what _psis gives equal weights
    assert _weighting_shift(x, flat, flat) == 0.0
    # tilting toward large a[:, 1] by exp(t a) moves its mean by t sd (a normal's exponential tilt), the rest by ~0
    tilted = _psis(0.2 * x["a"][:, 1])
    assert _weighting_shift(x, flat, tilted) == pytest.approx(0.2, abs=0.03)
