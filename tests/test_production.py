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
from infergy.model import equations as eq
from infergy.model.production import (HOST_RATIO_PRIOR, HOST_RATIO_SPREAD, IDLE_SHARE_PRIOR, IDLE_SHARE_SPREAD,
                                      OTHER_ACCOUNTINGS, SHARE_SD,
                                      ProductionArrays, fleet_host_ratio, fleet_idle_share, fleet_operators,
                                      production_model, production_operator, usable_production_rows)
from hypothesis import given, settings, strategies as st
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
    assert set(rows["id"]) == {"PQ-001", "PQ-011"}  # Google comprehensive, OpenAI
    # Google's narrow recomputation of the same prompts is another accounting, refused with its reason
    assert "PQ-002" in set(d.load().production["id"]) and "accounting" in OTHER_ACCOUNTINGS["PQ-002"]


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


def test_a_production_rows_operator_is_its_column_else_the_one_its_source_names(tmp_path):
    """The template's row names its operator ("our company"): it becomes a level of the model (beside the PUE rows'
    operators) and the row reads that operator's fleet; without the column, a known operator in the source's
    name (OpenAI's blog -> Microsoft's fleet); neither -> a new operator of the population."""
    import pandas as pd

    template = d.data_path("templates") / "production.csv"
    design = build_design(d.load(extra=[template]))
    rows, x = design.production.rows, design.production.arrays
    assert "our company" in design.pue.operators and "our company" not in set(d.load().tables["pue"]["operator"])
    i = list(rows["id"]).index("USER-001")
    assert design.pue.operators[int(x.pop_operator_idx[int(x.pop_idx[i])])] == "our company"
    row = {"operator": None, "source": "Sam Altman, blog", "model_or_system": "ChatGPT", "hardware": None}
    assert production_operator(pd.Series(row)) == "Microsoft"
    assert production_operator(pd.Series({**row, "operator": "  Acme "})) == "Acme"  # the column wins
    assert production_operator(pd.Series({**row, "model_or_system": "an assistant", "source": "a study"})) is None
    shares = pd.DataFrame({"operator": ["Zeta"]})
    telemetry = pd.DataFrame({"operator": ["Example Co", "Example Co"]})
    assert fleet_operators(rows, shares, telemetry) == ("Example Co", "Google", "Microsoft", "Zeta", "our company")


@settings(max_examples=60, deadline=None)
@given(host=st.floats(0.01, 5.0), idle=st.floats(0.001, 0.9), tau=st.floats(0.0, 2.0),
       z=st.floats(-4.0, 4.0), dz=st.floats(0.01, 2.0))
def test_a_fleets_host_ratio_and_idle_share_are_the_populations_shifted(host, idle, tau, z, dz):
    """z = 0 or no spread: the population's median; otherwise monotone in z, positive, and an idle share stays
    a share."""
    for f, median in ((fleet_host_ratio, host), (fleet_idle_share, idle)):
        np.testing.assert_allclose(float(f(median, tau * 0.0)), median, rtol=1e-5)
        np.testing.assert_allclose(float(f(median, 0.0 * z)), median, rtol=1e-5)
        lo, hi = float(f(median, tau * z)), float(f(median, tau * (z + dz)))
        assert lo <= hi and lo > 0.0
    assert float(fleet_idle_share(idle, tau * z)) < 1.0


def test_disclosure_boundaries_and_shared_unknowns(design):
    x, rows = design.production.arrays, design.production.rows
    by_id = {r: i for i, r in enumerate(rows["id"])}
    g_all, oai = by_id["PQ-001"], by_id["PQ-011"]
    assert int(x.pop_idx[g_all]) != int(x.pop_idx[oai])
    assert [float(x.boundary_host[g_all]), float(x.boundary_pue[g_all]), float(x.boundary_idle[g_all])] == [1, 1, 1]
    assert float(x.boundary_unknown[oai]) == 1.0
    ops = design.pue.operators
    assert ops[int(x.pop_operator_idx[x.pop_idx[g_all]])] == "Google"
    assert np.isnan(np.asarray(x.pop_log_out)).all()  # token counts undisclosed: latent
    # Google's breakdown of PQ-001: four components of one operator, whose PUE is the fitted Google's
    shares = design.production.share_rows
    assert list(shares["component"]) == ["accelerators", "host", "idle", "overhead"]
    assert set(shares["of_id"]) == {"PQ-001"}
    np.testing.assert_allclose(design.production.y_share, [0.58, 0.25, 0.10, 0.08])
    assert np.asarray(x.share_group).tolist() == [0, 0, 0, 0]
    assert ops[int(x.share_operator_idx[0])] == "Google"


def test_prior_predictive_covers_the_disclosures(design):
    prior = predictive_draws(infergy_model, jax.random.PRNGKey(0), design.inputs, design.sizes, num_samples=400)
    wh = np.exp(np.asarray(prior["prod_obs"], dtype=float))
    lo, hi = np.percentile(wh, [5, 95], axis=0)
    observed = np.exp(design.production.y_log_wh)
    assert np.all((lo < observed) & (observed < hi))
    # Google comprehensive / narrow: the boundary factor is > 1 in every draw
    rows = list(design.production.rows["id"])
    assert np.all(wh[:, rows.index("PQ-001")] > 0) and np.isfinite(wh).all()


def _fixed_submodels(n_operators: int = 1):
    """Throughput, power and PUE parameters held fixed (as if known), for a recovery test of the likelihood."""
    tp = {"g0": 0.8, "g_active": -0.1, "g_moe": 0.1, "g_sparsity": -0.2, "tau_model": 0.3,
          "a_model": jnp.zeros(1), "b_gpu": jnp.array([0.0, 0.4]), "c_precision": jnp.zeros(len(PRECISION_LEVELS)),
          "beta_ngpu": -0.4, "shift_compute": -1.5, "shift_prefill": -1.0, "log_overhead_layer": np.log(2e-5),
          "overhead_ngpu": 0.5, "log_batch_cap": np.log(2000.0), "logit_link": 1.0, "link_pcie": 0.0,
          "link_pcie_gpus": 0.0, "log_token_overhead": np.log(5e-6), "logit_kv": 1.3, "tau_setup": 0.5,
          "tau_overhead_engine": 0.3, "tau_token_overhead_engine": 0.3}
    pw = {"idle": jnp.array([0.3]), "peak": jnp.array([0.8]), "log_batch50": jnp.array([3.5]), "beta_ngpu": -0.1,
          "beta_size": 0.05}
    pue = {"m_scope": jnp.array([-2.3, -2.0, -2.5, -0.6]), "tau_operator": 0.3,
           "e_operator": jnp.linspace(0.1, -0.2, n_operators)}
    return tp, pw, pue


def _no_breakdowns() -> dict:
    return {"share_component": jnp.zeros(0, dtype=int), "share_group": jnp.zeros(0, dtype=int),
            "share_operator_idx": jnp.zeros(0, dtype=int), **_api_rows(np.zeros(0), np.zeros(0, dtype=int))}


def _api_rows(total_b: np.ndarray, provider: np.ndarray) -> dict:
    """API rows of dense models of ``total_b`` billion parameters on one 8-GPU-memory-sized replica each."""
    bundle = load()
    lines = SizeLines(bundle.tables["architectures"], bundle.models)
    n = len(total_b)
    p = physics(bundle.hardware, bundle.tables["architectures"], bundle.models, model_names=[None] * n,
                total_params_b=total_b, active_params_b=total_b, gpus=["H100-SXM-80GB"] * n, precisions=["fp8"] * n,
                n_gpus=np.where(total_b > 60, 2.0, 1.0), lines=lines)
    return {"api_physics": type(p)(*(jnp.asarray(v, dtype=jnp.float32) for v in p)),
            "api_provider": jnp.asarray(provider, dtype=int),
            "api_hardware_sd": jnp.full(int(provider.max()) + 1 if n else 0, 0.3),
            "api_log_active_c": jnp.asarray(np.log(np.maximum(total_b, 1e-9) / 10.0)),
            "api_moe": jnp.zeros(n), "api_log_sparsity_c": jnp.zeros(n)}


def _unnamed_physics(n: int):
    """Populations served on one 8 x H100 server at FP8 by models known only by their (latent) size."""
    bundle = load()
    p = physics(bundle.hardware, bundle.tables["architectures"], bundle.models, model_names=[None] * n,
                total_params_b=np.full(n, 10.0), active_params_b=np.full(n, 10.0), gpus=["H100-SXM-80GB"] * n,
                precisions=["fp8"] * n, n_gpus=np.full(n, 8.0))
    return type(p)(*(jnp.asarray(v, dtype=jnp.float32) for v in p))


def test_operating_point_is_recovered_from_many_disclosures():
    """With many well-described disclosures (tokens, model size, GPU and operator known) of three operators, the
    batch, the engine level and each operator's own host ratio and idle share are recovered
    (:func:`recovery.assert_recovered`)."""
    rng = np.random.default_rng(3)
    n_pop, n_ops = 60, 3
    tp, pw, pue = _fixed_submodels(n_ops)
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
        pop_moe=jnp.zeros(n_pop), pop_log_sparsity_c=jnp.zeros(n_pop),
        pop_operator_idx=jnp.asarray(np.arange(n_pop) % n_ops),
        pop_physics=_unnamed_physics(n_pop), pop_named=jnp.zeros(n_pop),
        size_lines=jnp.asarray([lines.lines[k][:2] for k in SizeLines.KEYS]),
        ref_gpu_idx=jnp.asarray(0), power_ref_idx=jnp.asarray(0), power_tdp_w=jnp.asarray(700.0),
        **_no_breakdowns())
    cond = {"op_log_batch": np.log(20.0), "op_z_log_engine_eff": -0.6, "op_host_ratio": 0.5, "op_idle_share": 0.2,
            "op_z_host_operator": np.array([-1.0, 0.0, 1.2]),
            "op_z_idle_operator": np.array([0.8, -0.5, 0.0]), "op_z_model": rng.normal(size=n_pop)}
    sim = Predictive(production_model, {k: jnp.asarray(v)[None] for k, v in cond.items()},
                     return_sites=["prod_obs", "op_host_operator", "op_idle_operator"])(
        jax.random.PRNGKey(1), x, tp, pw, pue, n_pop)
    y = np.asarray(sim["prod_obs"][0])
    truth = {"op_log_batch": cond["op_log_batch"], "op_z_log_engine_eff": cond["op_z_log_engine_eff"],
             **{f"{site}[{o}]": (site, o) for site in ("op_host_operator", "op_idle_operator") for o in range(n_ops)}}
    mcmc = MCMC(NUTS(production_model), num_warmup=400, num_samples=400, progress_bar=False)
    mcmc.run(jax.random.PRNGKey(2), x, tp, pw, pue, n_pop, y=y)
    s = mcmc.get_samples()

    def pick(source, name, value):
        return (source[value[0]][..., value[1]], float(sim[value[0]][0, value[1]])) if isinstance(value, tuple) \
            else (source[name], value)

    assert_recovered([z_score(*pick(s, name, value)) for name, value in truth.items()], list(truth))
    # and the data are informative: each operator's host ratio and idle share contract by at least 30% from the
    # population prior's spread (the truths differ: a fleet's own rows decide its own, not a pooled average)
    for o in range(n_ops):
        assert np.std(np.asarray(s["op_host_operator"][:, o])) < 0.7 * _HOST_PRIOR_SD, o
        assert np.std(np.asarray(s["op_idle_operator"][:, o])) < 0.7 * _IDLE_PRIOR_SD, o


_HOST_PRIOR_SD = HOST_RATIO_PRIOR[0] * np.sqrt((np.exp(HOST_RATIO_PRIOR[1] ** 2) - 1) * np.exp(HOST_RATIO_PRIOR[1] ** 2))
_IDLE_PRIOR_SD = np.sqrt(IDLE_SHARE_PRIOR[0] * (1 - IDLE_SHARE_PRIOR[0]) / (IDLE_SHARE_PRIOR[1] + 1))


def test_the_operating_point_priors_restate_their_sources():
    """The host ratio prior is centred on the DGX H100's nameplate split and the idle share prior on DeepSeek's
    daily occupancy, as the data tables state them (the constants are checked against the tables)."""
    t = d.load().tables
    hw = t["hardware"].set_index("id")
    system_w, gpu_w = hw.loc["DGX-H100", "max_system_power_w"], hw.loc["H100-SXM-80GB", "tdp_w"]
    n = hw.loc["DGX-H100", "n_gpus"]
    assert HOST_RATIO_PRIOR[0] == pytest.approx((system_w - n * gpu_w) / (n * gpu_w))
    s = t["service_statistics"].set_index("quantity")["value"]
    assert IDLE_SHARE_PRIOR[0] == pytest.approx(1.0 - s["nodes_mean"] / s["nodes_peak"])
    # the operators' stated spreads: about twice the spread of one vendor's 8-GPU servers' nameplate splits (log),
    # and Google's idle share beside DeepSeek's occupancy one to two idle spreads apart (logit)
    servers = hw[(hw["kind"] == "server") & (hw["n_gpus"] == 8)]
    gpu_tdp = hw.set_index("gpu").loc[servers["gpu"], "tdp_w"].groupby(level=0).first()
    splits = (servers["max_system_power_w"] / (8 * servers["gpu"].map(gpu_tdp)) - 1.0).astype(float)
    assert len(splits) >= 4 and 1.5 <= HOST_RATIO_SPREAD / np.std(np.log(splits), ddof=1) <= 2.5
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    google_idle = float(t["energy_shares"].set_index("component").loc["idle", "share_pct"]) / 100.0
    gap = logit(IDLE_SHARE_PRIOR[0]) - logit(google_idle)
    assert 1.0 <= gap / IDLE_SHARE_SPREAD <= 2.0


def test_energy_shares_restate_the_boundary_factor():
    """The breakdown's shares sum to one, the accelerators' share is the inverse of the comprehensive boundary
    factor, and Google's published shares (58/25/10/8%) are met by the host ratio, PUE and idle share they imply."""
    rng = np.random.default_rng(0)
    h, pue, i = rng.uniform(0.05, 1.5, 200), rng.uniform(1.0, 2.0, 200), rng.uniform(0.0, 0.6, 200)
    s = np.asarray(eq.energy_shares(h, pue, i))
    np.testing.assert_allclose(s.sum(-1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(s[:, 0] * np.asarray(eq.boundary_factor(h, pue, i, (1.0, 1.0, 1.0))), 1.0, rtol=1e-6)
    assert (s >= 0).all()
    google_pue = 1.0 / (1.0 - 0.08)
    implied = np.asarray(eq.energy_shares(25.0 / 58.0, google_pue, 0.10 * google_pue))
    np.testing.assert_allclose(implied, [0.58, 0.25, 0.10, 0.08], atol=0.01)


def test_a_requests_speed_is_its_step_rate_less_the_others_prefills():
    """On a busy replica a request decodes at one token per step when no prefill runs, and the replica's prefill
    share of time slows every decoding request by that share (b requests, each ``prefill_s + decode_s``)."""
    rng = np.random.default_rng(3)
    out, b, step_s, prefill_s = 300.0, rng.uniform(1, 512, 50), rng.uniform(0.005, 0.2, 50), rng.uniform(0, 5, 50)
    decode_s = out * step_s / b
    speed = lambda p: np.exp(np.asarray(eq.log_request_speed_tok_s(out, eq.ServingTimes(  # noqa: E731
        p, decode_s, np.log(b), 0.5, 0.5, 0.0))))
    np.testing.assert_allclose(speed(np.zeros(50)), 1.0 / step_s, rtol=1e-5)
    np.testing.assert_allclose(speed(prefill_s), decode_s / (prefill_s + decode_s) / step_s, rtol=1e-5)


def test_a_breakdown_decides_its_operators_host_ratio_and_idle_share_not_anothers():
    """Four shares of one operator's energy (its PUE known) beside one per-query figure: that operator's host ratio
    and idle share are recovered, and their posteriors shrink to a small fraction of their priors' spread; a second
    operator without rows keeps the population's spread (operators are a level, not one shared fleet)."""
    tp, pw, pue = _fixed_submodels(2)
    n_pop = 1
    bundle = load()
    lines = SizeLines(bundle.tables["architectures"], bundle.models)
    x = ProductionArrays(  # one comprehensive per-query figure, and its breakdown
        pop_idx=jnp.zeros(1, dtype=int), boundary_host=jnp.ones(1), boundary_pue=jnp.ones(1),
        boundary_idle=jnp.ones(1), boundary_unknown=jnp.zeros(1), pop_log_active_c=jnp.zeros(n_pop),
        pop_log_out=jnp.full(n_pop, np.log(300.0)), pop_log_in=jnp.full(n_pop, np.log(500.0)),
        pop_model_idx=jnp.full(n_pop, -1), pop_gpu_idx=jnp.zeros(n_pop, dtype=int), pop_moe=jnp.zeros(n_pop),
        pop_log_sparsity_c=jnp.zeros(n_pop), pop_operator_idx=jnp.zeros(n_pop, dtype=int),
        pop_physics=_unnamed_physics(n_pop), pop_named=jnp.zeros(n_pop),
        size_lines=jnp.asarray([lines.lines[k][:2] for k in SizeLines.KEYS]), ref_gpu_idx=jnp.asarray(0),
        power_ref_idx=jnp.asarray(0), power_tdp_w=jnp.asarray(700.0),
        share_component=jnp.arange(4), share_group=jnp.zeros(4, dtype=int), share_operator_idx=jnp.zeros(1, dtype=int),
        **_api_rows(np.zeros(0), np.zeros(0, dtype=int)))
    truth = {"op_host_operator": 0.3, "op_idle_operator": 0.15}
    operator_pue = 1.0 + float(np.exp(pue["m_scope"][0] + pue["e_operator"][0]))
    shares = np.asarray(eq.energy_shares(truth["op_host_operator"], operator_pue, truth["op_idle_operator"]))
    y = np.round(shares * 100.0) / 100.0  # published to whole percent
    mcmc = MCMC(NUTS(production_model), num_warmup=300, num_samples=400, progress_bar=False)
    mcmc.run(jax.random.PRNGKey(4), x, tp, pw, pue, n_pop, y=jnp.log(jnp.array([0.3])), y_share=jnp.asarray(y))
    s = mcmc.get_samples()
    for name, value in truth.items():
        draws = np.asarray(s[name][:, 0])
        assert abs(np.median(draws) - value) < 3 * SHARE_SD / 0.6, (name, np.median(draws))
    # published to whole percent, the shares pin both to a few hundredths (a fraction of either prior's spread)
    assert np.std(np.asarray(s["op_host_operator"][:, 0])) < 0.034
    assert np.std(np.asarray(s["op_idle_operator"][:, 0])) < 0.036
    # the other operator keeps at least the stated spread between operators about the population's median (log,
    # logit; 10% off for Monte Carlo error), over ten times the breakdown operator's
    other_host, other_idle = np.asarray(s["op_host_operator"][:, 1]), np.asarray(s["op_idle_operator"][:, 1])
    assert np.std(np.log(other_host)) > 0.9 * HOST_RATIO_SPREAD
    assert np.std(np.log(other_idle / (1.0 - other_idle))) > 0.9 * IDLE_SHARE_SPREAD
    assert np.std(other_host) > 10 * np.std(np.asarray(s["op_host_operator"][:, 0]))


def test_api_speeds_recover_the_production_batch():
    """Per-request output speeds of models of known size (3-120B, three providers): the production batch is
    recovered and its posterior contracts well inside its prior's spread (0.8 in log)."""
    rng = np.random.default_rng(5)
    tp, pw, pue = _fixed_submodels()
    bundle = load()
    lines = SizeLines(bundle.tables["architectures"], bundle.models)
    sizes = np.exp(rng.uniform(np.log(3.0), np.log(120.0), 36))
    provider = np.arange(36) % 3
    x = ProductionArrays(
        pop_idx=jnp.zeros(1, dtype=int), boundary_host=jnp.zeros(1), boundary_pue=jnp.zeros(1),
        boundary_idle=jnp.zeros(1), boundary_unknown=jnp.zeros(1), pop_log_active_c=jnp.zeros(1),
        pop_log_out=jnp.full(1, np.log(300.0)), pop_log_in=jnp.full(1, np.log(500.0)), pop_model_idx=jnp.full(1, -1),
        pop_gpu_idx=jnp.zeros(1, dtype=int), pop_moe=jnp.zeros(1), pop_log_sparsity_c=jnp.zeros(1),
        pop_operator_idx=jnp.zeros(1, dtype=int), pop_physics=_unnamed_physics(1), pop_named=jnp.zeros(1),
        size_lines=jnp.asarray([lines.lines[k][:2] for k in SizeLines.KEYS]), ref_gpu_idx=jnp.asarray(0),
        power_ref_idx=jnp.asarray(0), power_tdp_w=jnp.asarray(700.0), share_component=jnp.zeros(0, dtype=int),
        share_group=jnp.zeros(0, dtype=int), share_operator_idx=jnp.zeros(0, dtype=int),
        **_api_rows(sizes, provider))
    truth = {"op_log_batch": np.log(64.0)}
    sim = Predictive(production_model, {k: jnp.asarray(v)[None] for k, v in truth.items()},
                     return_sites=["prod_obs", "api_obs"])(jax.random.PRNGKey(6), x, tp, pw, pue, 1)
    y, y_api = np.asarray(sim["prod_obs"][0]), np.asarray(sim["api_obs"][0])
    mcmc = MCMC(NUTS(production_model), num_warmup=300, num_samples=400, progress_bar=False)
    mcmc.run(jax.random.PRNGKey(7), x, tp, pw, pue, 1, y=y, y_api=y_api)
    s = mcmc.get_samples()
    assert_recovered([z_score(s["op_log_batch"], truth["op_log_batch"])], ["op_log_batch"])
    assert np.std(np.asarray(s["op_log_batch"])) < 0.5 * 0.8
