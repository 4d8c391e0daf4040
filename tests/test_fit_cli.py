"""``infergy fit`` end to end (tiny sampler settings) and its exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

import infergy.data as d
from infergy import cli
from infergy.inference.posterior import design_fingerprint
from infergy.inference.review import FitReview, ReviewCheck


@pytest.fixture(scope="module")
def tiny_fit(tmp_path_factory):
    out = tmp_path_factory.mktemp("fit") / "posterior.nc"
    proc = subprocess.run([sys.executable, "-m", "infergy", "fit", "--chains", "2", "--warmup", "20", "--draws", "30",
                           "--seed", "1", "--max-tree-depth", "6", "--init-steps", "500", "--out", str(out),
                           "--thin-out", str(out.with_name("thin.nc")),
                           "--allow-bad-fit", "--no-progress", "--json"],
                          capture_output=True, text=True, timeout=1200)
    return proc, out


def test_fit_writes_a_posterior_with_its_provenance(tiny_fit):
    from infergy.inference.fit import load_fit

    proc, out = tiny_fit
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    names = [c["name"] for c in report["checks"]]
    for expected in ("max R-hat", "min bulk ESS", "min tail ESS", "divergences", "min energy BFMI"):
        assert expected in names
    assert any("coverage" in n for n in names) and any("Pareto k" in n for n in names)
    assert report["data_hash"] == d.load().content_hash
    assert report["mean_leapfrog_steps"] >= 1 and report["seconds"] > 0
    dt = load_fit(out)
    assert dt.attrs["data_hash"] == report["data_hash"] and "infergy_version" in dt.attrs
    assert dt.attrs["design_hash"] == design_fingerprint(d.load())
    config = json.loads(dt.attrs["fit_config"])
    assert config["draws"] == 30 and config["max_tree_depth"] == 6 and config["init_steps"] == 500
    assert config["metric"] == "hessian"
    coordinates = json.loads(dt.attrs["sampler_coordinates"])
    assert coordinates["metric"] == "hessian" and coordinates["dimension"] > 250
    assert 0 <= coordinates["hessian_eigenvalues_floored"] < coordinates["dimension"]
    assert report["mean_leapfrog_steps"] <= 63 + 1e-3  # 2^6 - 1 per draw at most (a float32 mean)
    for group in ("posterior", "prior", "posterior_predictive", "log_likelihood", "observed_data", "sample_stats"):
        assert group in dt.children, group
    post = dt["posterior"]
    assert post.sizes["chain"] == 2 and post.sizes["draw"] == 30
    prior = dt["prior"]  # prior draws as one chain, every variable complete
    assert prior.sizes["chain"] == 1 and prior.sizes["draw"] == 200
    for name in ("op_log_batch", "tp_raw_model", "tp_sigma"):
        assert np.isfinite(np.asarray(prior[name])).all(), name
    assert {"op_log_batch", "op_idle_share", "tp_a_model", "pw_peak_share", "pue_m_scope"} <= set(post.data_vars)
    # the sampler's whitened latent and its per-site density factors stay internal: the groups hold the model's
    # own sites, with the observed sites' log-likelihood only
    for group in ("posterior", "log_likelihood", "observed_data"):
        names = [str(n) for n in dt[group].data_vars] + [str(n) for n in dt[group].dims]
        assert not [n for n in names if n.startswith("_")], (group, names)
    assert set(dt["log_likelihood"].data_vars) == {"tp_obs", "pw_obs", "pue_obs", "prod_obs", "share_obs",
                                                   "api_obs", "service_obs"}
    from numpyro import handlers

    from infergy.model.joint import build_design, infergy_model
    design = build_design(d.load())
    trace = handlers.trace(handlers.seed(infergy_model, 0)).get_trace(*design.inputs, **design.sizes,
                                                                     **design.observations)
    latent = {n for n, site in trace.items() if site["type"] == "sample" and not site["is_observed"]}
    assert latent <= set(post.data_vars)
    # a shipped (thinned) copy only of a fit that passed its review
    assert out.with_name("thin.nc").exists() == report["ok"] == (report["thinned_posterior"] is not None)
    if not report["ok"]:  # a 30-draw fit is not expected to pass: the CLI must say so and name what failed
        assert "failed its review" in proc.stderr and "--allow-bad-fit" in proc.stderr


def _fake_result(ok: bool):
    check = ReviewCheck("max R-hat", 1.2 if not ok else 1.0, "<= 1.01", ok)
    return SimpleNamespace(review=FitReview((check,)), datatree=SimpleNamespace(attrs={"data_hash": "x"}),
                           seconds=1.0, total_seconds=2.0, min_ess_per_second=1.0, summary_text=lambda: "summary")


@pytest.mark.parametrize("ok, allow, code", [(True, False, 0), (False, False, 1), (False, True, 0)])
def test_exit_code_follows_the_review(monkeypatch, tmp_path, capsys, ok, allow, code):
    import importlib

    fit_mod = importlib.import_module("infergy.inference.fit")  # the module (the package re-exports fit())
    monkeypatch.setattr(fit_mod, "fit", lambda **kw: _fake_result(ok))
    monkeypatch.setattr(fit_mod, "save_fit", lambda result, path: path)
    args = ["fit", "--out", str(tmp_path / "p.nc"), "--no-progress"] + (["--allow-bad-fit"] if allow else [])
    assert cli.main(args) == code
    err = capsys.readouterr().err
    assert ("failed its review (max R-hat)" in err) == (not ok)


def test_fit_rejects_bad_flags():
    proc = subprocess.run([sys.executable, "-m", "infergy", "fit", "--draws", "0"], capture_output=True, text=True)
    assert proc.returncode == 2 and "must be > 0" in proc.stderr


def test_fit_rejects_an_unknown_metric():
    from infergy.inference.fit import FitConfig

    proc = subprocess.run([sys.executable, "-m", "infergy", "fit", "--metric", "dense"], capture_output=True,
                          text=True)
    assert proc.returncode == 2 and "invalid choice: 'dense'" in proc.stderr
    with pytest.raises(ValueError, match="metric must be one of"):
        FitConfig(metric="dense")


@pytest.fixture(scope="module")
def tiny_chees_fit(tmp_path_factory):
    out = tmp_path_factory.mktemp("chees") / "posterior.nc"
    proc = subprocess.run([sys.executable, "-m", "infergy", "fit", "--sampler", "chees", "--chains", "4",
                           "--warmup", "30", "--draws", "40", "--thin", "2", "--seed", "1", "--init-steps", "300",
                           "--out", str(out), "--allow-bad-fit", "--no-progress", "--json"],
                          capture_output=True, text=True, timeout=1200)
    return proc, out


@pytest.mark.slow
def test_chees_fit_saves_what_a_nuts_fit_saves(tiny_fit, tiny_chees_fit):
    """Everything downstream (estimate, report, review, thinning) reads the same groups, variables and dimensions
    whichever sampler ran. Slow tier: a second whole fit (~100 s on 2 cores, mostly compiling); the fast tier runs
    the ChEES sampler itself (test_chees.py) and maps its draws to the model's sites."""
    from infergy.inference.fit import load_fit

    proc, out = tiny_chees_fit
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert {"divergences", "min energy BFMI", "max R-hat"} <= {c["name"] for c in report["checks"]}
    chees, nuts = load_fit(out), load_fit(tiny_fit[1])
    assert set(chees.children) == set(nuts.children)
    for group in nuts.children:
        if group == "sample_stats":
            continue
        a, b = nuts[group].to_dataset(), chees[group].to_dataset()
        assert set(a.data_vars) == set(b.data_vars), group
        for name in a.data_vars:
            assert a[name].dims == b[name].dims, (group, name)
            if group != "posterior" or a[name].dtype.kind == "f":
                assert a[name].dtype == b[name].dtype, (group, name)
    post = chees["posterior"]
    assert post.sizes["chain"] == 4 and post.sizes["draw"] == 20  # 40 draws, every 2nd kept
    assert np.isfinite(post["tp_sigma"]).all() and (post["tp_sigma"] > 0).all()
    stats = chees["sample_stats"]
    assert {"diverging", "n_divergent", "n_steps", "acceptance_rate", "bfmi"} <= set(stats.data_vars)
    assert stats["bfmi"].dims == ("chain",) and stats["n_divergent"].sizes["draw"] == 20
    config = json.loads(chees.attrs["fit_config"])
    # the step halved after warm-up: --sampler chees's default
    assert (config["sampler"], config["thin"], config["chains"], config["step_scale"]) == ("chees", 2, 4, 0.5)
    coordinates = json.loads(chees.attrs["sampler_coordinates"])
    assert coordinates["sampler"] == "chees" and coordinates["step_size"] > 0 and coordinates["metric"] == "hessian"
    assert chees.attrs["chain_method"] == "vectorized"
    assert "device: cpu" in proc.stderr  # auto: no usable GPU here, and it says where it ran


@pytest.mark.parametrize("flags, message", [
    (["--thin", "2"], "thin applies to the chees sampler only"),
    (["--sampler", "chees", "--chains", "1"], "chains must be >= 2"),
    (["--sampler", "chees", "--draws", "100", "--thin", "30"], r"draws \(100\) must be a multiple of thin \(30\)"),
    (["--sampler", "chees", "--init-steps", "0"], "init_steps must be >= 1"),
    (["--step-scale", "0.5"], "step_scale applies to the chees sampler only"),
    (["--sampler", "chees", "--step-scale", "1.5"], r"step_scale must be in \(0, 1\]"),
])
def test_fit_rejects_bad_sampler_settings(flags, message):
    import re

    proc = subprocess.run([sys.executable, "-m", "infergy", "fit", *flags], capture_output=True, text=True)
    assert proc.returncode == 2 and re.search(message, proc.stderr), proc.stderr
