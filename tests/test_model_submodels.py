"""The Bayesian sub-models: design building on the shipped data, and parameter recovery on simulated data."""

from __future__ import annotations

import jax
import numpy as np
import pytest
import numpyro
from numpyro import handlers
from numpyro.infer import MCMC, NUTS, Predictive
from recovery import assert_recovered, z_score

import infergy.data as d
from infergy.inference.fit import predictive_draws
from infergy.model.joint import build_design
from infergy.model.power import PowerArrays, power_model
from infergy.model import equations as eq
from infergy.model.pue import PUE_SCOPE_KIND, PUE_SCOPES, PueArrays, pue_model
from infergy.model.throughput import (
    EXCLUDED_FLAGS,
    ISL_STATED_TOKENS,
    LOG_SATURATED,
    build_throughput_design,
    throughput_model,
    usable_throughput_rows,
)


@pytest.fixture(scope="module")
def bundle():
    return d.load()


def test_usable_rows_leave_out_flagged_and_multimodal(bundle):
    rows = usable_throughput_rows(bundle.throughput)
    flags = rows["quality_flags"].fillna("")
    for flag in EXCLUDED_FLAGS:
        assert not flags.str.contains(flag).any(), flag
    assert not rows["notes"].fillna("").str.contains("image-chat|video-chat").any()
    assert rows["load_regime"].isin(["max_throughput", "offered_qps_inf", "static_batch", "batch_size"]).all()
    assert len(rows) > 4000


def _design(bundle, rows=None):
    rows = usable_throughput_rows(bundle.throughput) if rows is None else rows
    return build_throughput_design(rows, bundle.hardware, bundle.models, bundle.tables["architectures"])


def test_throughput_design_physics(bundle):
    des = _design(bundle)
    x, rows = des.arrays, des.rows
    ph = x.physics
    assert des.n_rows == len(des.y_log_tok_s) == x.model_idx.shape[0]
    # memory: 2 x 80 GiB, 95% of it beside the runtime; 70B in 16-bit leaves ~22 GB of it for the KV cache
    i2 = rows.index[(rows["model"] == "Llama 3.1 70B") & (rows["n_gpus"] == 2) & (rows["precision"] == "fp16")
                    & (rows["gpu"] == "H100-SXM-80GB")][0]
    assert float(ph.memory_b[i2]) == pytest.approx(2 * 80 * 2**30 * 0.95, rel=1e-5)
    total = float(bundle.models.set_index("model").loc["Llama 3.1 70B", "total_params_b"])
    assert float(ph.weight_b[i2]) == pytest.approx(total * 2e9, rel=1e-5)
    # the KV bytes per token the fit uses are the architecture's: 8B / 70B 16-bit, 405B FP8 (128 KB, 320 KB, 252 KB)
    for model, precision, kv_bytes in (("Llama 3.1 8B", "fp16", 2 * 8 * 128 * 32 * 2),
                                       ("Llama 3.1 70B", "fp16", 2 * 8 * 128 * 80 * 2),
                                       ("Llama 3.1 405B", "fp8", 2 * 8 * 128 * 126 * 1)):
        i = rows.index[(rows["model"] == model) & (rows["precision"] == precision)][0]
        assert float(ph.kv_full_b[i]) == pytest.approx(kv_bytes, rel=1e-6), model
    # tensor parallelism all-reduces over the GPU-to-GPU link: NVLink (H100: 900 GB/s, 450 one way), PCIe on an
    # L40S (64 GB/s); a 70B (80 layers, hidden 8,192) on 2 GPUs sends 2 x 2 x 1/2 x 8,192 x 2 bytes per layer
    assert float(ph.log_link_b_s[i2]) == pytest.approx(np.log(450e9), rel=1e-6)
    assert float(ph.comm_gpus[i2]) == 2.0
    assert float(eq.link_bytes_per_token(ph)[i2]) == pytest.approx(80 * 2 * 2 * 0.5 * 8192 * 2, rel=1e-6)
    pcie = rows.index[rows["gpu"].eq("L40S")][0]
    assert float(ph.log_link_b_s[pcie]) == pytest.approx(np.log(32e9), rel=1e-6)
    one = rows["n_gpus"].eq(1).to_numpy()
    assert (np.asarray(eq.link_bytes_per_token(ph))[one] == 0.0).all()
    # a row's all-reduce group: its tensor-parallel degree (pipeline stages do not all-reduce), or its expert-parallel
    staged = (rows["tp"].astype(float) < rows["n_gpus"].astype(float)).to_numpy()
    assert staged.any() and (np.asarray(ph.comm_gpus)[staged] < rows["n_gpus"].to_numpy()[staged]).any()
    # pipeline stages are the row's PP degree (1 without one): each stage reads its weights per micro-batch
    pp = rows["pp"].astype(float).fillna(1.0).to_numpy()
    assert (pp > 1).any() and (np.asarray(ph.pipeline_stages) == pp).all()
    # attention run data-parallel beside expert parallelism (DEPk: k ranks) sends each token to its top_k experts
    # and back; tensor parallelism all-reduces twice per layer, over one rank
    dep = rows["parallelism"].fillna("").str.startswith("DEP").to_numpy()
    tp_only = rows["parallelism"].fillna("").str.fullmatch(r"TP\d+").to_numpy()
    assert dep.any() and (np.asarray(ph.link_exchanges)[dep] == np.asarray(ph.top_k)[dep]).all()
    assert (np.asarray(ph.link_exchanges)[tp_only] == 2.0).all() and (np.asarray(ph.dp_width)[tp_only] == 1.0).all()
    dep_k = rows["parallelism"].fillna("").str.extract(r"^DEP(\d+)")[0].astype(float).to_numpy()
    assert (np.asarray(ph.dp_width)[dep] == dep_k[dep]).all()
    wide = rows["parallelism"].fillna("").str.contains("EP8,DP8").to_numpy()
    assert wide.any() and (np.asarray(ph.dp_width)[wide] == 8.0).all()
    j = np.flatnonzero(dep & (np.asarray(ph.comm_gpus) == 4.0))[0]
    expected = float(ph.layers[j]) * float(ph.top_k[j]) * 2.0 * 0.75 * float(ph.hidden[j]) * 2.0
    assert float(eq.link_bytes_per_token(ph)[j]) == pytest.approx(expected, rel=1e-6)
    # saturated rows run as many sequences as fit; MoE models route tokens to their experts
    assert (np.asarray(x.log_load)[rows["load_regime"].eq("max_throughput").to_numpy()] == LOG_SATURATED).all()
    i = rows.index[rows["model"] == "DeepSeek-R1"][0]
    assert (float(ph.experts[i]), float(ph.top_k[i])) == (256.0, 8.0)
    assert float(ph.active_weight_b[i]) < float(ph.weight_b[i])
    # the RTX PRO 6000 Server Edition's published bandwidth (1.597 TB/s); without it, the bandwidth is latent,
    # centred on its family's (the L40S's 0.864 TB/s)
    g = des.gpus.index("RTX-PRO-6000-SE")
    assert bool(x.gpu_bw_known[g]) and float(x.gpu_log_bw_c[g]) == pytest.approx(np.log(1.597 / 3.35))
    hardware = bundle.hardware.copy()
    hardware.loc[hardware["gpu"].eq("RTX-PRO-6000-SE"), "memory_bw_tb_s"] = np.nan
    blank = build_throughput_design(rows, hardware, bundle.models, bundle.tables["architectures"]).arrays
    assert not bool(blank.gpu_bw_known[g]) and float(blank.gpu_bw_prior_c[g]) == pytest.approx(np.log(0.864 / 3.35))
    assert np.array_equal(np.delete(np.asarray(blank.gpu_bw_known), g), np.delete(np.asarray(x.gpu_bw_known), g))
    # ML.ENERGY v3 tasks' prompts are not given: their input lengths are learned, one per task; v2's are stated from
    # its datasets (ShareGPT, HumanEval+)
    assert any("lm-arena-chat" in g for g in des.isl_groups)
    v2 = rows["source_table"].eq("mlenergy_v2").to_numpy()
    unknown = rows["isl"].isna().to_numpy()
    assert (np.asarray(x.isl_group)[unknown & ~v2] >= 0).all()
    assert (np.asarray(x.isl_group)[v2] == -1).all()
    assert (np.asarray(x.isl)[v2] == ISL_STATED_TOKENS["vllm-mlenergy_v2"]).all()


def test_prior_predictive_throughput_is_plausible(bundle):
    des = _design(bundle)
    prior = predictive_draws(throughput_model, jax.random.PRNGKey(0), (des.arrays,), des.sizes, num_samples=200)
    # percentiles on the log scale: the Student-t prior's far tails overflow exp() in float32
    lo, med, hi = np.exp(np.percentile(np.asarray(prior["tp_obs"], dtype=float), [5, 50, 95]))
    assert 0.1 < lo and 100 < med < 20_000 and hi < 1e6  # per-GPU tokens/s, before seeing data


def test_joint_design_on_shipped_data(bundle):
    des = build_design(bundle)
    assert des.n_rows["pw_obs"] > 100 and des.n_rows["pue_obs"] > 20
    assert set(des.power.gpus) == {"H100-SXM-80GB", "B200"}
    assert np.all(np.asarray(des.observations["y_pue"]) < np.log(1.0))  # PUE < 2 everywhere


def _nuts(model, *args, seed=0, **kwargs):
    mcmc = MCMC(NUTS(model), num_warmup=400, num_samples=400, num_chains=1, progress_bar=False)
    mcmc.run(jax.random.PRNGKey(seed), *args, **kwargs)
    return mcmc.get_samples()


def test_pue_model_recovers_known_parameters():
    rng = np.random.default_rng(1)
    n_ops, n = 6, 240
    # one site scatters more than a fleet or industry average: a scale per kind (site, average)
    truth = {"pue_m_scope": np.array([-2.3, -1.9, -2.5, -0.6]), "pue_tau_operator": 0.25,
             "pue_sigma": np.array([0.25, 0.05])}
    z = rng.normal(size=n_ops)
    x = PueArrays(scope_idx=rng.integers(0, len(PUE_SCOPES), n), operator_idx=rng.integers(0, n_ops, n))
    noise_sd = truth["pue_sigma"][np.asarray(PUE_SCOPE_KIND)[x.scope_idx]]
    y = truth["pue_m_scope"][x.scope_idx] + truth["pue_tau_operator"] * z[x.operator_idx] + rng.normal(0, noise_sd)
    s = _nuts(pue_model, x, n_ops, y=y)
    z = [z_score(s["pue_sigma"][:, k], truth["pue_sigma"][k]) for k in range(2)]
    z += [z_score(s["pue_tau_operator"], truth["pue_tau_operator"])]
    z += [z_score(s["pue_m_scope"][:, k], truth["pue_m_scope"][k]) for k in range(4)]
    assert_recovered(z)
    site, average = np.median(np.asarray(s["pue_sigma"]), axis=0)
    assert site > 2.5 * average  # the two scales are told apart


def test_power_model_recovers_the_load_curve():
    """Four simulated data sets: the load curve's shares and slopes recovered in each."""
    params = {"pw_logit_idle": np.array([-0.35, -0.65]), "pw_logit_peak": np.array([0.91, 1.09]),
              "pw_log_batch50": np.log(24.0) + np.array([0.12, -0.12]), "pw_beta_ngpu": -0.1, "pw_beta_size": 0.05,
              "pw_sigma": 0.05, "pw_nu": 30.0}
    z = []
    for seed in range(4):
        rng = np.random.default_rng(seed)
        n = 300
        x = PowerArrays(gpu_idx=rng.integers(0, 2, n),
                        log_batch=np.log(rng.choice([1, 4, 16, 64, 256, 1024], n).astype(float)),
                        log_ngpu=np.log(rng.choice([1, 2, 4, 8], n).astype(float)), log_active_c=rng.normal(0, 1, n))
        sim = Predictive(power_model, {k: np.asarray(v)[None] for k, v in params.items()},
                         return_sites=["pw_obs", "pw_idle_share", "pw_peak_share"])(jax.random.PRNGKey(seed), x, 2)
        s = _nuts(power_model, x, 2, y=np.asarray(sim["pw_obs"][0]), seed=seed)
        idle, peak = np.asarray(sim["pw_idle_share"][0]), np.asarray(sim["pw_peak_share"][0])
        z += [z_score(s["pw_idle_share"][:, g], idle[g]) for g in range(2)]
        z += [z_score(s["pw_peak_share"][:, g], peak[g]) for g in range(2)]
        z += [z_score(s["pw_beta_ngpu"], -0.1), z_score(s["pw_beta_size"], 0.05)]
    assert_recovered(z)


@pytest.mark.slow
def test_full_fit_on_shipped_data_passes_its_review(tmp_path):
    """The default fit (`infergy fit`, 4 parallel chains, default warm-up and draws) passes its review."""
    import json
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "infergy", "fit", "--out", str(tmp_path / "p.nc"), "--no-progress",
                           "--json"], capture_output=True, text=True, timeout=3600)
    report = json.loads(proc.stdout)
    failed = [c for c in report["checks"] if not c["passed"]]
    assert proc.returncode == 0 and report["ok"], failed
    print(f"default fit: sampling {report['seconds']:.0f} s, total {report['total_seconds']:.0f} s")


def test_throughput_model_recovers_known_effects(bundle):
    """Data simulated from the throughput model on a real (sub)design: the fit recovers the effects it identifies."""
    thr = bundle.throughput
    rows = usable_throughput_rows(thr[thr["source_table"].eq("trtllm_perf_overview")])
    rows = rows[rows["model"].isin(["Llama 3.1 8B", "Llama 3.1 70B", "Mixtral 8x7B", "Llama 3.1 405B"])]
    rows = rows.groupby(["model", "gpu"]).head(8).reset_index(drop=True)
    des = _design(bundle, rows)
    prior = Predictive(throughput_model, num_samples=1)(jax.random.PRNGKey(11), des.arrays, **des.sizes)
    truth = {k: np.asarray(v)[0] for k, v in prior.items() if k != "tp_obs"}
    truth["tp_sigma"] = np.full_like(truth["tp_sigma"], 0.1)  # a realistic residual scale and tail
    truth["tp_nu"] = np.asarray(10.0)
    sim = Predictive(throughput_model, {k: v[None] for k, v in truth.items()}, return_sites=["tp_obs"])(
        jax.random.PRNGKey(12), des.arrays, **des.sizes)
    y = np.asarray(sim["tp_obs"][0])
    def recorded(*args, **kwargs):  # the noise-free log throughput of every row, kept with the draws
        numpyro.deterministic("mu", throughput_model(*args, **kwargs)["mu"])

    s = _nuts(recorded, des.arrays, **des.sizes, y=y, seed=3)
    true_mu = np.asarray(handlers.trace(handlers.substitute(handlers.seed(recorded, 0), truth)).get_trace(
        des.arrays, **des.sizes)["mu"]["value"])
    # identified combinations: each model's effect, each GPU's throughput over its rows (a PCIe card's own effect
    # trades against the PCIe link's share on its multi-GPU rows; their sum is what the rows decide), the precision
    # effects seen, the scale of the noise
    z = [z_score(s["tp_a_model"][:, m], truth["tp_a_model"][m]) for m in range(len(des.models))]
    gpu_idx = np.asarray(des.arrays.gpu_idx)
    z += [z_score(s["mu"][:, gpu_idx == g].mean(axis=1), true_mu[gpu_idx == g].mean())
          for g in range(len(des.gpus)) if des.gpus[g] != "H100-SXM-80GB" and np.any(gpu_idx == g)]
    seen = sorted(set(np.asarray(des.arrays.precision_idx).tolist()) - {0})
    z += [z_score(s["tp_c_precision"][:, p], truth["tp_c_precision"][p]) for p in seen]
    z += [z_score(s["tp_sigma"][:, 0], 0.1), z_score(s["tp_beta_ngpu"], truth["tp_beta_ngpu"])]
    assert_recovered(z, f"{len(rows)} rows")
