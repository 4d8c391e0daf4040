"""Production operating point: design from the disclosures, prior predictive, and recovery on simulated data."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpyro.infer import MCMC, NUTS, Predictive
from recovery import assert_recovered, z_score

import infergy.data as d
from infergy.inference.fit import predictive_draws
from infergy.model.joint import build_design, infergy_model
from infergy.model.production import ProductionArrays, production_model, usable_production_rows
from infergy.model.architecture import SizeLines
from infergy.model.physics import physics
from infergy.model.throughput import PRECISION_LEVELS

load = d.load

@pytest.fixture(scope="module")
def design():
    return build_design(d.load())


def test_only_operators_measurements_calibrate(design):
    rows = usable_production_rows(d.load().production)
    assert rows["operator_disclosure"].all() and (rows["kind"] == "measurement").all()
    assert set(rows["id"]) == {"PQ-001", "PQ-002", "PQ-011"}  # Google comprehensive/narrow, OpenAI


def test_a_users_own_production_row_enters_the_fit_and_an_undeclared_one_does_not(tmp_path):
    import pandas as pd

    template = d.data_path("templates") / "production.csv"
    rows = build_design(d.load(extra=[template])).production.rows
    assert "USER-001" in set(rows["id"])  # the template's row: the operator's own telemetry
    undeclared = pd.read_csv(template, dtype=str).drop(columns=["operator_disclosure"])
    path = tmp_path / "mine.csv"
    undeclared.to_csv(path, index=False)
    rows = build_design(d.load(extra=[path])).production.rows  # no crash on the missing column
    assert "USER-001" not in set(rows["id"])


def test_disclosure_boundaries_and_shared_unknowns(design):
    x, rows = design.production.arrays, design.production.rows
    by_id = {r: i for i, r in enumerate(rows["id"])}
    g_all, g_gpu, oai = by_id["PQ-001"], by_id["PQ-002"], by_id["PQ-011"]
    # Google's two figures describe the same prompts: one population, so one set of unknowns
    assert int(x.pop_idx[g_all]) == int(x.pop_idx[g_gpu]) != int(x.pop_idx[oai])
    assert [float(x.boundary_host[g_all]), float(x.boundary_pue[g_all]), float(x.boundary_idle[g_all])] == [1, 1, 1]
    assert [float(x.boundary_host[g_gpu]), float(x.boundary_pue[g_gpu]), float(x.boundary_idle[g_gpu])] == [0, 0, 0]
    assert float(x.boundary_unknown[oai]) == 1.0
    ops = design.pue.operators
    assert ops[int(x.pop_operator_idx[x.pop_idx[g_all]])] == "Google"
    assert np.isnan(np.asarray(x.pop_log_out)).all()  # token counts undisclosed: latent


def test_prior_predictive_covers_the_disclosures(design):
    prior = predictive_draws(infergy_model, jax.random.PRNGKey(0), design.inputs, design.sizes, num_samples=400)
    wh = np.exp(np.asarray(prior["prod_obs"], dtype=float))
    lo, hi = np.percentile(wh, [5, 95], axis=0)
    observed = np.exp(design.production.y_log_wh)
    assert np.all((lo < observed) & (observed < hi))
    # Google comprehensive / narrow: the boundary factor is > 1 in every draw
    rows = list(design.production.rows["id"])
    assert np.all(wh[:, rows.index("PQ-001")] > 0) and np.isfinite(wh).all()


def _fixed_submodels():
    """Throughput, power and PUE parameters held fixed (as if known), for a recovery test of the likelihood."""
    tp = {"g0": 0.8, "g_active": -0.1, "g_moe": 0.1, "g_sparsity": -0.2, "tau_model": 0.3,
          "a_model": jnp.zeros(1), "b_gpu": jnp.array([0.0, 0.4]), "c_precision": jnp.zeros(len(PRECISION_LEVELS)),
          "beta_ngpu": -0.4, "shift_compute": -1.5, "shift_prefill": -1.0, "log_overhead_layer": np.log(2e-5),
          "overhead_ngpu": 0.5, "log_batch_cap": np.log(2000.0), "logit_link": 1.0, "link_pcie": 0.0,
          "link_pcie_gpus": 0.0, "log_token_overhead": np.log(5e-6), "logit_kv": 1.3}
    pw = {"idle": jnp.array([0.3]), "peak": jnp.array([0.8]), "log_batch50": jnp.array([3.5]), "beta_ngpu": -0.1,
          "beta_size": 0.05}
    pue = {"m_scope": jnp.array([-2.3, -2.0, -2.5, -0.6]), "tau_operator": 0.3, "e_operator": jnp.array([0.1])}
    return tp, pw, pue


def _unnamed_physics(n: int):
    """Populations served on one 8 x H100 server at FP8 by models known only by their (latent) size."""
    bundle = load()
    p = physics(bundle.hardware, bundle.tables["architectures"], bundle.models, model_names=[None] * n,
                total_params_b=np.full(n, 10.0), active_params_b=np.full(n, 10.0), gpus=["H100-SXM-80GB"] * n,
                precisions=["fp8"] * n, n_gpus=np.full(n, 8.0))
    return type(p)(*(jnp.asarray(v, dtype=jnp.float32) for v in p))


def test_operating_point_is_recovered_from_many_disclosures():
    """With many well-described disclosures (tokens, model size, GPU and operator known), the four latent
    operating-point quantities are recovered (:func:`recovery.assert_recovered`)."""
    rng = np.random.default_rng(3)
    n_pop = 60
    tp, pw, pue = _fixed_submodels()
    bundle = load()
    lines = SizeLines(bundle.tables["architectures"], bundle.models)
    kinds = np.array([(0, 0, 0), (1, 0, 0), (1, 1, 0), (1, 1, 1), (1, 0, 1)], dtype=float)
    k = kinds[np.arange(2 * n_pop) % len(kinds)]
    x = ProductionArrays(
        pop_idx=jnp.asarray(np.repeat(np.arange(n_pop), 2)),
        boundary_host=jnp.asarray(k[:, 0]), boundary_pue=jnp.asarray(k[:, 1]), boundary_idle=jnp.asarray(k[:, 2]),
        boundary_unknown=jnp.zeros(2 * n_pop),
        pop_log_active_c=jnp.asarray(rng.normal(1.0, 1.0, n_pop)),
        pop_log_out=jnp.asarray(np.log(rng.uniform(100, 3000, n_pop))),
        pop_log_in=jnp.asarray(np.log(rng.uniform(100, 5000, n_pop))),
        pop_model_idx=jnp.full(n_pop, -1), pop_gpu_idx=jnp.asarray(rng.integers(0, 2, n_pop)),
        pop_moe=jnp.zeros(n_pop), pop_log_sparsity_c=jnp.zeros(n_pop), pop_operator_idx=jnp.zeros(n_pop, dtype=int),
        pop_physics=_unnamed_physics(n_pop), pop_named=jnp.zeros(n_pop),
        size_lines=jnp.asarray([lines.lines[k][:2] for k in SizeLines.KEYS]),
        ref_gpu_idx=jnp.asarray(0), power_ref_idx=jnp.asarray(0), power_tdp_w=jnp.asarray(700.0))
    truth = {"op_log_batch": np.log(20.0), "op_log_engine_eff": -0.3, "op_host_ratio": 0.5, "op_idle_share": 0.2}
    cond = {**{k: jnp.asarray(v) for k, v in truth.items()}, "op_z_model": jnp.asarray(rng.normal(size=n_pop))}
    sim = Predictive(production_model, {k: v[None] for k, v in cond.items()}, return_sites=["prod_obs"])(
        jax.random.PRNGKey(1), x, tp, pw, pue, n_pop)
    y = np.asarray(sim["prod_obs"][0])
    mcmc = MCMC(NUTS(production_model), num_warmup=400, num_samples=400, progress_bar=False)
    mcmc.run(jax.random.PRNGKey(2), x, tp, pw, pue, n_pop, y=y)
    s = mcmc.get_samples()
    assert_recovered([z_score(s[name], value) for name, value in truth.items()], list(truth))
    # and the data are informative: both posteriors contract by at least 30% from their priors' spread
    prior_sd = {"op_host_ratio": 0.45 * np.sqrt((np.exp(0.3**2) - 1) * np.exp(0.3**2)),
                "op_idle_share": np.sqrt(2 * 6 / (8**2 * 9))}
    for name, sd in prior_sd.items():
        assert np.std(np.asarray(s[name])) < 0.7 * sd, name
