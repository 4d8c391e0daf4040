"""The workload-length model: recovery on simulated traces, the shipped fit against the Azure traces it was fitted
to, drawing lengths given a fixed one, and the traces themselves against the medians published from them."""

from __future__ import annotations

import jax
import numpy as np
import pandas as pd
import pytest
from recovery import assert_recovered, z_score

import infergy.data as d
from infergy.analysis.predict import posterior_draws
from infergy.data.tables import TRACE_WORKLOADS
from infergy.inference.posterior import load_posterior
from infergy.model.workload import (REASONING_RATIO, draw_lengths, draw_output, fit_workload, length_mixture,
                                    typical_lengths)

BUNDLE = d.load()
TRACES = BUNDLE.tables["request_lengths"]


@pytest.fixture(scope="module")
def draws():
    return posterior_draws(load_posterior())[0]


def test_the_traces_give_the_medians_published_from_them():
    """The rows are the whole traces (19,366 chat and 8,819 code requests), and their medians are the ones the
    token-length table quotes from the same files (TL-004..007: 1,020 / 129 chat, 1,469 / 13 code)."""
    assert TRACES.groupby("workload").size().to_dict() == {"chat": 19366, "code": 8819}
    published = BUNDLE.tables["token_lengths"].set_index("id")["value"]
    med = TRACES.groupby("workload")[["input_tokens", "output_tokens"]].median()
    assert med.loc["chat"].tolist() == [published["TL-004"], published["TL-005"]]
    assert med.loc["code"].tolist() == [published["TL-006"], published["TL-007"]]


def _simulate(rng, truth: dict, n: int) -> pd.DataFrame:
    rows = []
    for w, name in enumerate(TRACE_WORKLOADS):
        c = rng.choice(3, n, p=truth["weights"][w])
        tin = np.exp(truth["mu_in"][w][c] + truth["sd_in"][w][c] * rng.standard_normal(n))
        tout = np.exp(truth["mu_out"][w][c] + truth["sd_out"][w][c] * rng.standard_normal(n))
        rows.append(pd.DataFrame({"workload": name, "input_tokens": np.maximum(np.round(tin), 1).astype(int),
                                  "output_tokens": np.maximum(np.round(tout), 1).astype(int)}))
    return pd.concat(rows, ignore_index=True)


def test_the_mixture_is_recovered_from_simulated_traces():
    """Requests simulated from known mixtures (whole tokens, a short-answer workload among them): the weights,
    medians and spreads are recovered."""
    truth = {"weights": np.array([[0.5, 0.3, 0.2], [0.2, 0.3, 0.5]]),
             "mu_in": np.log([[150.0, 900.0, 4000.0], [60.0, 700.0, 2500.0]]),
             "sd_in": np.array([[0.8, 0.3, 0.2], [0.9, 0.6, 0.4]]),
             "mu_out": np.log([[80.0, 300.0, 150.0], [8.0, 20.0, 12.0]]),
             "sd_out": np.array([[0.7, 0.4, 0.5], [0.5, 0.8, 0.6]])}
    s = fit_workload(_simulate(np.random.default_rng(0), truth, 6000), chains=2, warmup=300, draws=300, seed=1)
    z, labels = [], []
    for name, value in truth.items():
        post = s[f"wl_{name}"].reshape(-1, 2, 3)
        for w in range(2):
            for k in range(3):
                z.append(z_score(post[:, w, k], value[w, k]))
                labels.append(f"{name}[{w},{k}]")
    assert_recovered(z, labels)


def test_the_fitted_workloads_reproduce_the_traces(draws):
    """Lengths drawn from the shipped posterior match each trace's quantiles (5%-95%) within 15%, and the share
    of the traces' most common cluster."""
    key = jax.random.PRNGKey(0)
    for regime, workload in (("traditional", "chat"), ("code", "code")):
        p = {k: np.asarray(v, np.float32) for k, v in length_mixture(draws, regime).items()}
        c, tin = draw_lengths(p, key, (p["len_log_w"].shape[0], 200))
        tout = draw_output(p, jax.random.fold_in(key, 1), c)
        trace = TRACES[TRACES["workload"] == workload]
        for sim, obs in ((tin, trace["input_tokens"]), (tout, trace["output_tokens"])):
            qs = [0.05, 0.25, 0.5, 0.75, 0.95]
            np.testing.assert_allclose(np.quantile(np.asarray(sim), qs), np.quantile(obs, qs), rtol=0.15,
                                       err_msg=workload)


def test_a_fixed_length_holds_and_selects_its_component(draws):
    """A given prompt length is kept and the component is drawn given it (a prompt at the median of the trace's
    tightest cluster draws that cluster's answers); every drawn length is a whole number of at least one token."""
    p = {k: np.asarray(v, np.float32) for k, v in length_mixture(draws, "traditional").items()}
    n = p["len_log_w"].shape[0]
    tight = int(np.argmin(np.median(p["len_sd_in"], 0)))
    prompt = float(np.round(np.exp(np.median(p["len_mu_in"][:, tight]))))
    c, tin = draw_lengths(p, jax.random.PRNGKey(3), (n, 50), input_tokens=prompt)
    assert np.all(np.asarray(tin) == prompt)
    assert np.mean(np.asarray(c) == tight) > 0.9
    c, tin = draw_lengths(p, jax.random.PRNGKey(4), (n, 50))
    out = np.asarray(draw_output(p, jax.random.PRNGKey(5), c))
    for x in (np.asarray(tin), out):
        assert np.all(x >= 1) and np.all(x == np.round(x))


def test_typical_lengths_are_the_drawn_medians(draws):
    p = {k: np.asarray(v, np.float32) for k, v in length_mixture(draws, "traditional").items()}
    c, tin = draw_lengths(p, jax.random.PRNGKey(6), (p["len_log_w"].shape[0], 400))
    tout = draw_output(p, jax.random.PRNGKey(7), c)
    typ_in, typ_out = typical_lengths(draws, "traditional")
    assert typ_in == pytest.approx(np.median(np.asarray(tin)), rel=0.05)
    assert typ_out == pytest.approx(np.median(np.asarray(tout)), rel=0.05)


def test_reasoning_answers_are_chat_answers_scaled_by_the_prior_ratio(draws):
    """No trace decides the reasoning ratio: its posterior is its prior (Epoch AI's ~8x), and a reasoning answer
    is a chat answer times that ratio, draw by draw."""
    ratio = np.asarray(draws["wl_log_reasoning_ratio"])
    assert np.median(ratio) == pytest.approx(np.log(REASONING_RATIO[0]), abs=0.1)
    assert np.std(ratio) == pytest.approx(REASONING_RATIO[1], rel=0.15)
    chat, reasoning = length_mixture(draws, "traditional"), length_mixture(draws, "reasoning")
    np.testing.assert_allclose(reasoning["len_mu_out"] - chat["len_mu_out"], ratio[:, None] * np.ones((1, 3)),
                               atol=1e-5)  # float32 draws: the sum is exact to a few ulps of the log medians
    np.testing.assert_array_equal(reasoning["len_mu_in"], chat["len_mu_in"])


def test_a_posterior_without_the_workload_model_is_refused_with_a_reason(draws):
    old = {k: v for k, v in draws.items() if not k.startswith("wl_")}
    with pytest.raises(ValueError, match="no workload-length model .* refit"):
        length_mixture(old, "traditional")
    with pytest.raises(ValueError, match="unknown regime 'poetry'; choose one of traditional, code, reasoning"):
        length_mixture(draws, "poetry")
