"""``infergy learned``: each parameter group's contraction from its prior, and what informed it."""

from __future__ import annotations

import json

import numpy as np
import pytest

import infergy.data as d
from infergy.cli import main
from infergy.model.joint import build_design


@pytest.fixture(scope="module")
def learned(tmp_path_factory):
    import contextlib
    import io

    out = tmp_path_factory.mktemp("learned") / "learned.md"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(["learned", "--json", "--prior-draws", "300", "--out", str(out)])
    assert code == 0
    return json.loads(buf.getvalue()), out.read_text()


def test_every_likelihood_informs_its_groups_and_the_ratios_are_spreads(learned):
    res, _ = learned
    groups = {g["site"]: g for g in res["groups"]}
    for prefix in ("tp_", "pw_", "pue_", "op_", "wl_"):
        assert any(s.startswith(prefix) for s in groups), prefix
    for g in groups.values():
        ratios = np.array([e["ratio"] for e in g["by_element"]])
        assert len(ratios) == g["elements"] > 0 and np.all(np.isfinite(ratios)) and np.all(ratios > 0)
        assert g["ratio_median"] == pytest.approx(float(np.median(ratios)))
        for e in g["by_element"]:
            assert e["ratio"] == pytest.approx(e["posterior_sd"] / e["prior_sd"])
    # 4,790 throughput rows pin down the intercept; no per-row latent is reported
    assert groups["tp_g0"]["verdict"] == "learned" and groups["tp_g0"]["ratio_median"] < 0.3
    assert "op_log_wh" not in groups and "tp_obs" not in groups
    # 28,185 traced requests decide the workload mixtures; no trace decides the reasoning ratio
    for site in ("wl_weights", "wl_mu_out", "wl_sd_out", "wl_mu_in_first"):
        assert groups[site]["verdict"] == "learned", site
    assert groups["wl_log_reasoning_ratio"]["verdict"] == "prior"
    assert "request_lengths" in groups["wl_weights"]["informed_by"]


def test_fixed_and_unread_elements_are_left_out(learned):
    res, _ = learned
    groups = {g["site"]: g for g in res["groups"]}
    design = build_design(d.load())
    # the reference precision's effect is 0 by construction
    assert groups["tp_c_precision"]["elements"] == len(design.throughput.precisions) - 1
    # a GPU's latent bandwidth is read only where the hardware table has none (every benchmarked GPU's is
    # published since data 2026.12.05: then the site is not reported at all)
    latent = [g for g, known in zip(design.throughput.gpus, np.asarray(design.throughput.arrays.gpu_bw_known))
              if not known]
    reported = [e["label"] for e in groups["tp_log_bw_latent"]["by_element"]] if "tp_log_bw_latent" in groups else []
    assert reported == [f"tp_log_bw_latent[{g}]" for g in latent]


def test_the_operating_point_says_what_would_decide_it(learned):
    res, text = learned
    for g in res["groups"]:
        if g["site"] in ("op_log_batch", "op_log_engine_eff", "op_overhead_engine", "op_token_overhead_engine",
                         "op_host_ratio", "op_idle_share", "op_host_operator", "op_idle_operator"):
            assert (g["would_decide"] is not None) == (g["ratio_median"] > res["thresholds"]["learned"])
    assert "| parameter | elements | sd ratio, median (max) | verdict | informed by |" in text
    assert text.index("| op_") < text.index("| tp_")  # the operating point first


def test_too_few_prior_draws_is_refused(capsys):
    assert main(["learned", "--prior-draws", "1"]) == 2
    assert "--prior-draws must be >= 2" in capsys.readouterr().err
