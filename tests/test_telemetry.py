"""An operator's power telemetry: validated interval by interval (bad input is one line per problem with its row,
exit 1, nothing written), and every interval that states its load enters the throughput and power likelihoods."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from infergy.data import DataValidationError, data_path, load, validate_file
from infergy.model.joint import build_design
from infergy.model.telemetry import telemetry_power_rows, telemetry_throughput_rows
from infergy.model.usage import added_row_usage

DAY = data_path("templates") / "telemetry_example_day.csv"


def _cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "infergy", *args], capture_output=True, text=True, timeout=300,
                          cwd=cwd)


@pytest.fixture(scope="module")
def day() -> pd.DataFrame:
    return pd.read_csv(DAY, dtype=str, keep_default_na=False)


def test_the_example_day_is_one_deployment_back_to_back_and_each_interval_enters_both_likelihoods():
    table, rows = validate_file(DAY)
    assert table == "telemetry" and len(rows) == 288
    assert (rows["source"].str.startswith("example:")).all()  # made up, and says so
    shipped, mine = load(), load(extra=[DAY])
    before, after = build_design(shipped).n_rows, build_design(mine).n_rows
    assert after["tp_obs"] - before["tp_obs"] == 288 and after["pw_obs"] - before["pw_obs"] == 288
    usage = added_row_usage(mine, [("telemetry", 288)])[0]
    assert (usage["site"] == "tp_obs, pw_obs").all() and (usage["reason"] == "").all()


def test_an_interval_becomes_the_rows_its_counters_state(day):
    _, t = validate_file(DAY)
    hw = load().tables["hardware"]
    tp, pw = telemetry_throughput_rows(t, hw), telemetry_power_rows(t, hw)
    first = t.iloc[0]
    assert tp["output_tok_s_total"].iloc[0] == pytest.approx(first["output_tokens"] / 300.0)
    assert tp["output_tok_s_per_gpu"].iloc[0] == pytest.approx(first["output_tokens"] / 300.0 / 8)
    assert tp["isl"].iloc[0] == pytest.approx(first["input_tokens"] / first["requests"])
    assert tp["osl"].iloc[0] == pytest.approx(first["output_tokens"] / first["requests"])
    assert tp["batch_size"].iloc[0] == first["mean_concurrency"] and tp["load_regime"].iloc[0] == "batch_size"
    assert (tp["tp"] == 8).all() and (tp["source_table"] == "telemetry:Example Co (made up)").all()
    assert pw["avg_power_w_per_gpu"].iloc[0] == pytest.approx(first["energy_wh"] * 3600.0 / 300.0 / 8)
    assert (pw["batch_size"] == t["mean_concurrency"]).all()


def _write(tmp_path, rows: pd.DataFrame, name: str = "mine.csv") -> str:
    path = tmp_path / name
    rows.to_csv(path, index=False)
    return str(path)


def _problems(path: str) -> list[str]:
    with pytest.raises(DataValidationError) as exc:
        load(extra=[path])
    return exc.value.problems


def test_bad_values_are_one_line_each_with_their_row(tmp_path, day):
    rows = day.head(4).copy()
    rows.loc[0, "gpu"] = "H1000"
    rows.loc[1, "energy_wh"] = "-5"
    problems = _problems(_write(tmp_path, rows))
    assert len(problems) == 2, problems
    assert "row 1 (line 2), column 'gpu': 'H1000' is not one of" in problems[0]
    assert "row 2 (line 3), column 'energy_wh': -5 must be >= 0" in problems[1]


def test_gaps_overlaps_and_tokens_without_requests_are_named(tmp_path, day):
    rows = day.head(6).copy()
    rows.loc[1, ["requests"]] = "0"
    rows.loc[4, "start"] = rows.loc[5, "start"]  # interval 5 starts late (a gap) where interval 6 starts (an overlap)
    problems = _problems(_write(tmp_path, rows))
    assert len(problems) == 3, problems
    assert "row 2 (line 3), column 'requests': tokens but no requests" in problems[0]
    assert "row 5 (line 6), column 'start': a gap before this interval" in problems[1]
    assert "row 6 (line 7), column 'start': overlaps the previous interval" in problems[2]


def test_power_above_what_the_gpus_can_draw_is_refused(tmp_path, day):
    rows = day.head(3).copy()
    rows.loc[2, "energy_wh"] = ""
    rows.loc[2, "mean_power_w"] = "9000"  # 8 x 700 W x 1.5 = 8,400 W at the GPUs
    problems = _problems(_write(tmp_path, rows))
    assert len(problems) == 1, problems
    assert "row 3 (line 4), column 'mean_power_w': 9,000 W on average exceeds 1.5 x the TDP of 8 x H100-SXM-80GB " \
           "(8,400 W)" in problems[0]
    rows.loc[2, "boundary"] = "node"  # a node's hosts may add up to 1.1x its GPUs' TDP
    load(extra=[_write(tmp_path, rows, "node.csv")])


def test_bad_telemetry_exits_1_and_writes_nothing(tmp_path, day):
    rows = day.head(3).copy()
    rows.loc[1, "requests"] = "0"
    bad = _write(tmp_path, rows)
    out = _cli("data", "validate", bad)
    assert out.returncode == 1 and "row 2 (line 3), column 'requests': tokens but no requests" in out.stdout
    fitted = tmp_path / "mine.nc"
    fit = _cli("fit", "--data-add", bad, "--out", str(fitted), "--no-progress")
    assert fit.returncode == 1 and "tokens but no requests" in fit.stderr
    assert not fitted.exists()


def test_intervals_that_state_no_load_are_refused_with_the_reason(tmp_path, day):
    rows = day.head(3).copy()
    rows.loc[1, "mean_concurrency"] = ""
    rows.loc[2, ["boundary"]] = "facility"
    out = _cli("data", "validate", _write(tmp_path, rows))
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert "3 rows: 2 used by the fit, 1 not used" in lines[0]
    assert "row 2 (line 3): not used: not tp_obs: no mean_concurrency" in lines[2]
    assert "row 3 (line 4): used by the throughput likelihood" in lines[3]
    assert "not pw_obs: energy metered at the 'facility' boundary" in lines[3]
    bundle = load(extra=[_write(tmp_path, rows)])
    t, hw = bundle.tables["telemetry"], bundle.tables["hardware"]
    assert len(telemetry_throughput_rows(t, hw)) == 2 and len(telemetry_power_rows(t, hw)) == 1


def test_each_operators_telemetry_scatters_with_a_noise_scale_of_its_own():
    """One deployment's logs scatter far less than benchmarks gathered from many sources: an operator's rows get
    their own throughput and power noise scales, and the shipped data's model has none (its posterior stays valid)."""
    from numpyro import handlers

    from infergy.model.joint import infergy_model
    from infergy.model.throughput import NOISE_GROUPS

    shipped, mine = build_design(load()), build_design(load(extra=[DAY]))
    tp, pw = mine.throughput, mine.power
    telemetry_rows = tp.rows["source_table"].str.startswith("telemetry:").to_numpy()
    assert (np.asarray(tp.arrays.noise_idx)[telemetry_rows] == len(NOISE_GROUPS)).all()
    assert (np.asarray(tp.arrays.noise_idx)[~telemetry_rows] < len(NOISE_GROUPS)).all()
    assert np.asarray(pw.arrays.noise_idx).tolist() == [0] * 227 + [1] * 288
    assert mine.sizes["n_telemetry_operators"] == mine.sizes["n_power_telemetry"] == 1
    assert shipped.sizes["n_telemetry_operators"] == shipped.sizes["n_power_telemetry"] == 0

    def sites(design):
        with handlers.seed(rng_seed=0):
            trace = handlers.trace(infergy_model).get_trace(*design.inputs, **design.sizes)
        return {k: v["value"].shape for k, v in trace.items() if v["type"] == "sample"}

    mine_sites, shipped_sites = sites(mine), sites(shipped)
    assert mine_sites["tp_sigma_telemetry"] == (1,) and mine_sites["pw_sigma_telemetry"] == (1,)
    assert set(mine_sites) - set(shipped_sites) == {"tp_sigma_telemetry", "pw_sigma_telemetry", "pw_shift_idle_telemetry",
                                                    "pw_shift_peak_telemetry", "pw_shift_batch50_telemetry"}
    assert mine_sites["tp_obs"] == (tp.n_rows,) and mine_sites["pw_obs"] == (pw.arrays.gpu_idx.shape[0],)


def test_an_operator_is_answered_with_its_own_engine_at_its_median_load():
    from infergy.model.telemetry import operator_setting

    telemetry = load(extra=[DAY]).tables["telemetry"]
    setups = ["trtllm-0.13", "vllm-telemetry:Example Co (made up)"]
    setup, load_ = operator_setting(telemetry, setups, "Example Co (made up)")
    assert setup == "vllm-telemetry:Example Co (made up)"
    assert load_ == pytest.approx(telemetry["mean_concurrency"].median())
    with pytest.raises(ValueError, match=r"no telemetry of operator 'Acme' in the data \(operators with telemetry: "
                                         r"Example Co \(made up\)"):
        operator_setting(telemetry, setups, "Acme")
    with pytest.raises(ValueError, match="the posterior was not fitted to Example Co \\(made up\\)'s telemetry"):
        operator_setting(telemetry, setups[:1], "Example Co (made up)")


def test_estimate_for_an_operator_says_what_is_missing(tmp_path):
    out = _cli("estimate", "--model", "Llama 3.1 70B", "--operator", "Acme")
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and len(lines) == 1, out.stderr
    assert lines[0].startswith("infergy: error: no rows of operator 'Acme' in the data (its operators: AWS, Google, "
                               "Meta, Microsoft") and "--data-add" in lines[0]
    out = _cli("estimate", "--model", "Llama 3.1 70B", "--data-add", str(DAY), "--operator", "Example Co (made up)")
    assert out.returncode == 2 and "refit" in out.stderr  # the shipped posterior was not fitted to these rows


def test_an_operator_is_answered_at_its_own_fleet():
    """Google's own fleet: its PUE (its rows: 1.09-1.10) instead of a new hyperscale operator's, and its own host
    ratio and idle share (its breakdown's) instead of a new operator's draw; the GPUs' energy is the same draws."""
    import jax

    from infergy.analysis.estimate import estimate, open_posterior
    from infergy.model.query import QuerySpec, resolve_parameters

    spec = dict(model="Llama 3.1 70B", input_tokens=1000, output_tokens=300, samples=2000, seed=0)
    own, public = estimate(**spec, operator="Google"), estimate(**spec)
    assert own.inputs["pue"] == "Google's own fleet average (posterior)"
    assert own.inputs["fleet"] == "Google's own host ratio and idle share (posterior)"
    assert 1.07 <= own.inputs["pue_median"] <= 1.12 < public.inputs["pue_median"]
    gpu_own, gpu_public = estimate(**spec, operator="Google", boundary="gpu"), estimate(**spec, boundary="gpu")
    assert gpu_own.value == gpu_public.value  # the fleet changes only what lies beyond the accelerators
    source = open_posterior()
    draws, coords = source.draws_coords
    google = list(coords["operator"]).index("Google")
    key = jax.random.PRNGKey(0)
    mine = resolve_parameters(QuerySpec(model="Llama 3.1 70B", operator="Google"), draws, coords, source.bundle, key)
    new = resolve_parameters(QuerySpec(model="Llama 3.1 70B"), draws, coords, source.bundle, key)
    np.testing.assert_array_equal(mine["host_ratio"], np.asarray(draws["op_host_operator"])[:, google])
    np.testing.assert_array_equal(mine["idle_share"], np.asarray(draws["op_idle_operator"])[:, google])
    # Google's breakdown decides its own host ratio; a new operator keeps the population's spread around it
    iqr = lambda v: np.subtract(*np.percentile(np.log(v), [75, 25]))  # noqa: E731
    assert iqr(mine["host_ratio"]) < 0.5 * iqr(new["host_ratio"])
    with pytest.raises(ValueError, match="the posterior has no operator 'Acme'"):
        resolve_parameters(QuerySpec(model="Llama 3.1 70B", operator="Acme"), draws, coords, source.bundle, key)


def test_node_level_intervals_are_power_rows_of_their_operators_host(tmp_path, day):
    """Energy metered at the nodes is a power row that reads the operator's own host ratio (the operator becomes a
    level of the model); metered at a facility, it stays refused with its reason."""
    rows = day.head(4).copy()
    rows.loc[:, "boundary"] = "node"
    rows.loc[3, "boundary"] = "facility"
    bundle = load(extra=[_write(tmp_path, rows)])
    t, hw = bundle.tables["telemetry"], bundle.tables["hardware"]
    power = telemetry_power_rows(t, hw)
    assert len(power) == 3 and (power["host_operator"] == "Example Co (made up)").all()
    design = build_design(bundle)
    operator = list(design.pue.operators).index("Example Co (made up)")
    assert np.asarray(design.power.arrays.host_operator_idx).tolist() == [-1] * 227 + [operator] * 3
    usage = added_row_usage(bundle, [("telemetry", 4)])[0]
    assert "facility' boundary also holds the site's other loads" in usage["reason"].iloc[3]


def _interval_times(n: int, rng: np.random.Generator):
    """Serving times of ``n`` telemetry intervals (the throughput likelihood's, here made up): prefill takes 5-30% of
    a request's replica time at 30-60% of peak FLOP/s, decode computes at 5-20%."""
    import jax.numpy as jnp

    from infergy.model.equations import ServingTimes

    decode_s = rng.uniform(2.0, 8.0, n)
    return ServingTimes(*(jnp.asarray(v) for v in (decode_s * rng.uniform(0.05, 0.43, n), decode_s,
                                                    np.log(rng.uniform(8, 64, n)), rng.uniform(0.3, 0.6, n),
                                                    rng.uniform(0.05, 0.2, n), decode_s * 0.1)))


def test_an_interval_reads_the_mean_of_its_prefill_and_decode_power_over_their_times():
    """A meter averages prefill (at the curve's peak) and decode (the curve at the interval's load) over their
    times: the telemetry rows' mean is that average, the one an answer's energy adds the phases by, and it moves
    with the interval's prefill share; public rows read the curve at their batch, as before."""
    import jax.numpy as jnp
    from numpyro import handlers

    from infergy.model import equations as eq
    from infergy.model.power import PowerArrays, curve_shares, power_model

    rng = np.random.default_rng(5)
    n_public, n_op = 6, 8
    n = n_public + n_op
    times = _interval_times(n_op, rng)
    x = PowerArrays(gpu_idx=jnp.zeros(n, dtype=int), log_batch=jnp.asarray(np.log(rng.uniform(1, 256, n))),
                    log_ngpu=jnp.zeros(n), log_active_c=jnp.zeros(n),
                    noise_idx=jnp.asarray([0] * n_public + [1] * n_op),
                    tp_row_idx=jnp.asarray([-1] * n_public + list(range(n_op))))
    values = {"pw_logit_idle": jnp.array([-1.0]), "pw_logit_peak": jnp.array([0.5]),
              "pw_log_batch50": jnp.array([3.0]), "pw_beta_ngpu": 0.0, "pw_beta_size": 0.0,
              "pw_shift_idle_telemetry": jnp.array([0.2]), "pw_shift_peak_telemetry": jnp.array([-0.4]),
              "pw_shift_batch50_telemetry": jnp.array([0.5])}
    with handlers.seed(rng_seed=0), handlers.substitute(data=values):
        mu = np.asarray(power_model(x, 1, n_power_telemetry=1, times=times)["mu"])
    idle, peak = (float(v[0]) for v in curve_shares(values["pw_logit_idle"], values["pw_logit_peak"]))
    curve = lambda i, p, b, lb: i + (p - i) / (1.0 + np.exp(-(lb - b)))  # noqa: E731
    lb = np.asarray(x.log_batch)
    np.testing.assert_allclose(mu[:n_public], np.log(curve(idle, peak, 3.0, lb[:n_public])), rtol=1e-5)
    own_idle, own_peak = (float(v[0]) for v in curve_shares(values["pw_logit_idle"] + 0.2,
                                                            values["pw_logit_peak"] - 0.4))
    pre, dec = np.asarray(times.prefill_s), np.asarray(times.decode_s)
    p_pre = np.maximum(own_peak, np.asarray(times.prefill_utilisation))  # the soft maximum, to within 9%
    p_dec = np.maximum(curve(own_idle, own_peak, 3.5, lb[n_public:]), np.asarray(times.decode_utilisation))
    metered = (pre * p_pre + dec * p_dec) / (pre + dec)
    np.testing.assert_allclose(mu[n_public:], np.log(metered), atol=0.09)
    # the likelihood's mean is the answer's own equation, exactly
    log_w = eq.phase_log_power_w(eq.PowerCurve(jnp.float32(own_idle), jnp.float32(own_peak), 3.5, 0.0, 1.0),
                                 x.log_batch[n_public:], times)
    np.testing.assert_allclose(mu[n_public:], np.log(np.asarray(eq.gpu_energy_j(1.0, times, *log_w)) / (pre + dec)),
                               rtol=1e-5)
    # a larger prefill share at the same load reads a higher mean: prefill runs at the peak, above the curve
    decode_only = times._replace(prefill_s=times.prefill_s * 1e-3)
    with handlers.seed(rng_seed=0), handlers.substitute(data=values):
        mu_decode = np.asarray(power_model(x, 1, n_power_telemetry=1, times=decode_only)["mu"])
    assert (mu[n_public:] > mu_decode[n_public:]).all()
    np.testing.assert_allclose(mu_decode[n_public:], np.log(p_dec), atol=0.09)


def test_node_level_telemetry_decides_its_operators_host_ratio():
    """Public GPU-level rows fix the power curve; one operator's intervals metered at the GPUs on one cluster decide
    its own curve, and those metered at the nodes on another then decide that operator's host ratio (recovered, and
    contracted well inside the population's spread); another operator's keeps the population's spread. Node-level
    logs alone leave the host ratio traded against the operator's curve."""
    import jax
    import jax.numpy as jnp
    from numpyro.infer import MCMC, NUTS, Predictive

    from infergy.model.power import PowerArrays, power_model
    from infergy.model.production import fleet_levels
    from recovery import assert_recovered, z_score

    rng = np.random.default_rng(7)
    n_public, n_gpu, n_node = 120, 40, 40
    n = n_public + n_gpu + n_node
    x = PowerArrays(gpu_idx=jnp.zeros(n, dtype=int), log_batch=jnp.asarray(np.log(rng.uniform(1, 256, n))),
                    log_ngpu=jnp.asarray(np.log(rng.choice([1.0, 8.0], n))),
                    log_active_c=jnp.asarray(rng.normal(1.0, 1.0, n)),
                    noise_idx=jnp.asarray([0] * n_public + [1] * (n_gpu + n_node)),
                    host_operator_idx=jnp.asarray([-1] * (n_public + n_gpu) + [0] * n_node),
                    tp_row_idx=jnp.asarray([-1] * n_public + list(range(n_gpu + n_node))))
    times = _interval_times(n_gpu + n_node, rng)

    def model(y=None):
        fleet = fleet_levels(2)
        power_model(x, 1, y=y, n_power_telemetry=1, host_operator=fleet["host_operator"], times=times)

    cond = {"op_host_ratio": 0.8, "op_z_host_operator": np.array([-1.5, 0.5]),
            "pw_logit_idle": np.array([-1.2]), "pw_logit_peak": np.array([0.8]), "pw_log_batch50": np.array([3.0]),
            "pw_sigma": 0.1, "pw_sigma_telemetry": np.array([0.03]), "pw_shift_idle_telemetry": np.array([0.4]),
            "pw_shift_peak_telemetry": np.array([-0.3]), "pw_shift_batch50_telemetry": np.array([0.3])}
    sim = Predictive(model, {k: jnp.asarray(v)[None] for k, v in cond.items()},
                     return_sites=["pw_obs", "op_host_operator"])(jax.random.PRNGKey(1))
    truth = float(sim["op_host_operator"][0, 0])
    mcmc = MCMC(NUTS(model), num_warmup=300, num_samples=400, progress_bar=False)
    mcmc.run(jax.random.PRNGKey(2), y=sim["pw_obs"][0])
    host = np.asarray(mcmc.get_samples()["op_host_operator"])
    assert_recovered([z_score(host[:, 0], truth)], ["op_host_operator[0]"])
    assert np.std(np.log(host[:, 0])) < 0.1 < 0.3 < np.std(np.log(host[:, 1]))


def test_an_operators_engine_is_centred_at_stated_spreads_not_the_benchmarked_ones():
    """The benchmarked engines' spreads (tau) decide production's engine, one more draw from their population: the
    prior of an operator's own engine must not read them, or one deployment's logs would move every public answer."""
    from numpyro import handlers

    from infergy.model.joint import infergy_model
    from infergy.model.throughput import OPERATOR_ENGINE_SCALES

    design = build_design(load(extra=[DAY]))
    setups, engines = list(design.throughput.setups), list(design.throughput.engines)
    mine = setups.index("vllm-telemetry:Example Co (made up)")
    assert np.asarray(design.throughput.arrays.operator_setup).nonzero()[0].tolist() == [mine]
    assert np.asarray(design.throughput.arrays.operator_engine).nonzero()[0].tolist() == [
        engines.index("vllm-telemetry:Example Co (made up)")]

    def prior_terms(tau: float) -> dict:
        fixed = {"tp_tau_setup": tau, "tp_tau_overhead_engine": tau, "tp_tau_token_overhead_engine": tau}
        with handlers.seed(rng_seed=0):
            trace = handlers.trace(handlers.substitute(infergy_model, fixed)).get_trace(*design.inputs,
                                                                                       **design.sizes)
        return {name: np.asarray(trace[name]["fn"].scale) for name in
                ("tp_raw_setup", "tp_raw_overhead_engine", "tp_raw_token_overhead_engine")}

    small, large = prior_terms(0.1), prior_terms(2.0)
    e = engines.index("vllm-telemetry:Example Co (made up)")
    for name, i, stated in (("tp_raw_setup", mine, OPERATOR_ENGINE_SCALES[0]),
                            ("tp_raw_overhead_engine", e, OPERATOR_ENGINE_SCALES[1]),
                            ("tp_raw_token_overhead_engine", e, OPERATOR_ENGINE_SCALES[2])):
        assert small[name][i] == large[name][i] == pytest.approx(stated), name
        others = np.delete(np.arange(small[name].size), i)
        assert not np.allclose(small[name][others], large[name][others]), name  # the benchmarked ones read tau


def test_an_operators_power_curve_leaves_the_gpus_curve_and_the_public_scatter_to_the_public_rows():
    """Hundreds of precise intervals of one deployment, on a curve far from its GPU's (a power-capped, idle-frugal
    fleet), are read on the operator's own curve: the GPU's curve and the benchmarks' scatter stay where the public
    rows put them (within a posterior sd), and the operator's offsets are recovered."""
    import jax
    import jax.numpy as jnp
    from numpyro.infer import MCMC, NUTS, Predictive

    from infergy.model.power import PowerArrays, power_model
    from recovery import assert_recovered, z_score

    rng = np.random.default_rng(11)
    n_public, n_op = 120, 240
    n = n_public + n_op

    def arrays(rows: int) -> PowerArrays:
        return PowerArrays(gpu_idx=jnp.zeros(rows, dtype=int), log_batch=jnp.asarray(batch[:rows]),
                           log_ngpu=jnp.asarray(ngpu[:rows]), log_active_c=jnp.asarray(size[:rows]),
                           noise_idx=jnp.asarray([0] * n_public + [1] * (rows - n_public)),
                           tp_row_idx=jnp.asarray([-1] * n_public + list(range(rows - n_public))))

    batch, ngpu = np.log(rng.uniform(1, 256, n)), np.log(rng.choice([1.0, 8.0], n))
    size = rng.normal(1.0, 1.0, n)
    times = _interval_times(n_op, rng)
    truth = {"pw_logit_idle": np.array([0.4]), "pw_logit_peak": np.array([0.6]), "pw_log_batch50": np.array([3.8]),
             "pw_beta_ngpu": -0.18, "pw_beta_size": 0.08, "pw_sigma": 0.1, "pw_nu": 20.0,
             "pw_sigma_telemetry": np.array([0.02]), "pw_shift_idle_telemetry": np.array([-1.8]),
             "pw_shift_peak_telemetry": np.array([1.5]), "pw_shift_batch50_telemetry": np.array([-0.6])}
    y = Predictive(lambda: power_model(arrays(n), 1, n_power_telemetry=1, times=times),
                   {k: jnp.asarray(v)[None] for k, v in truth.items()}, return_sites=["pw_obs"])(
        jax.random.PRNGKey(3))["pw_obs"][0]

    def fit(rows: int, telemetry: int) -> dict:
        mcmc = MCMC(NUTS(lambda: power_model(arrays(rows), 1, y=y[:rows], n_power_telemetry=telemetry,
                                             times=times)),
                    num_warmup=300, num_samples=400, progress_bar=False)
        mcmc.run(jax.random.PRNGKey(4))
        return {k: np.asarray(v).reshape(400, -1)[:, 0] for k, v in mcmc.get_samples().items()}

    public, both = fit(n_public, 0), fit(n, 1)
    for name in ("pw_logit_idle", "pw_logit_peak", "pw_log_batch50", "pw_sigma", "pw_beta_ngpu", "pw_beta_size"):
        assert abs(both[name].mean() - public[name].mean()) < public[name].std(), name
    shifts = ("pw_shift_idle_telemetry", "pw_shift_peak_telemetry", "pw_shift_batch50_telemetry")
    assert_recovered([z_score(both[k], float(truth[k][0])) for k in shifts], shifts)
