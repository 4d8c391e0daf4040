"""The workload-length model: recovery on simulated traces, the shipped fit against the Azure traces it was fitted
to, drawing lengths given a fixed one, and the traces themselves against the medians published from them."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from recovery import assert_recovered, z_score

import infergy.data as d
from infergy.analysis.predict import posterior_draws
from infergy.data.tables import TRACE_WORKLOADS
from infergy.inference.posterior import load_posterior
from infergy.model.workload import (COMPONENTS, REASONING_RATIO, draw_lengths, draw_output, fit_workload, length_mixture,
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
        c = rng.choice(COMPONENTS, n, p=truth["weights"][w])
        tin = np.exp(truth["mu_in"][w][c] + truth["sd_in"][w][c] * rng.standard_normal(n))
        tout = np.exp(truth["mu_out"][w][c] + truth["sd_out"][w][c] * rng.standard_normal(n))
        rows.append(pd.DataFrame({"workload": name, "input_tokens": np.maximum(np.round(tin), 1).astype(int),
                                  "output_tokens": np.maximum(np.round(tout), 1).astype(int)}))
    return pd.concat(rows, ignore_index=True)


def test_the_mixture_is_recovered_from_simulated_traces():
    """Requests simulated from known mixtures (whole tokens, a short-answer workload among them): the weights,
    medians and spreads are recovered."""
    truth = {"weights": np.array([[0.4, 0.3, 0.2, 0.1], [0.2, 0.3, 0.3, 0.2]]),
             "mu_in": np.log([[150.0, 900.0, 4000.0, 12000.0], [60.0, 700.0, 2500.0, 6000.0]]),
             "sd_in": np.array([[0.8, 0.3, 0.25, 0.4], [0.9, 0.6, 0.4, 0.3]]),
             "mu_out": np.log([[80.0, 300.0, 150.0, 600.0], [8.0, 20.0, 12.0, 40.0]]),
             "sd_out": np.array([[0.7, 0.4, 0.5, 0.3], [0.5, 0.8, 0.6, 0.4]])}
    s = fit_workload(_simulate(np.random.default_rng(0), truth, 2000), chains=2, warmup=200, draws=200, seed=1)
    z, labels = [], []
    for name, value in truth.items():
        post = s[f"wl_{name}"].reshape(-1, 2, COMPONENTS)
        for w in range(2):
            for k in range(COMPONENTS):
                z.append(z_score(post[:, w, k], value[w, k]))
                labels.append(f"{name}[{w},{k}]")
    assert_recovered(z, labels)


def test_the_fitted_workloads_reproduce_the_traces(draws):
    """Lengths drawn from the shipped posterior reproduce each trace where the energy depends on it: the mean
    prompt and answer within 5% (energy is close to linear in both), and the distribution everywhere within 0.1
    of probability (Kolmogorov distance). Not within less: no component is narrower than the floor (log sd 0.2),
    and the chat trace has two clusters narrower than that -- a quarter of its prompts between 1,020 and 1,189
    tokens, a fifth of its answers between 395 and 451 -- which the model spreads (distance 0.08-0.09 there,
    0.02-0.03 on the code trace)."""
    key = jax.random.PRNGKey(0)
    for regime, workload in (("traditional", "chat"), ("code", "code")):
        p = {k: np.asarray(v, np.float32) for k, v in length_mixture(draws, regime, TRACES).items()}
        c, tin = draw_lengths(p, key, (p["len_log_w"].shape[0], 200))
        tout = draw_output(p, jax.random.fold_in(key, 1), c)
        trace = TRACES[TRACES["workload"] == workload]
        for side, sim, obs in (("prompt", tin, trace["input_tokens"]), ("answer", tout, trace["output_tokens"])):
            sim, obs = np.sort(np.asarray(sim).ravel()), np.sort(obs.to_numpy(np.float64))
            assert np.mean(sim) == pytest.approx(np.mean(obs), rel=0.05), (workload, side)
            grid = np.unique(obs)
            distance = np.max(np.abs(np.searchsorted(sim, grid, "right") / sim.size
                                     - np.searchsorted(obs, grid, "right") / obs.size))
            assert distance < 0.1, (workload, side, distance)


def test_a_fixed_length_holds_and_selects_its_component(draws):
    """A given prompt length is kept and the component is drawn given it, by Bayes' rule (each component's weight
    times its mass on the whole token count, computed here with SciPy, draw by draw); every drawn length is a
    whole number of at least one token."""
    from scipy.stats import norm

    p = {k: np.asarray(v, np.float32) for k, v in length_mixture(draws, "traditional", TRACES).items()}
    n = p["len_log_w"].shape[0]
    tight = int(np.argmin(np.median(p["len_sd_in"], 0)))
    prompt = float(np.round(np.exp(np.median(p["len_mu_in"][:, tight]))))
    c, tin = draw_lengths(p, jax.random.PRNGKey(3), (n, 50), input_tokens=prompt)
    assert np.all(np.asarray(tin) == prompt)
    mu, sd = p["len_mu_in"].astype(np.float64), p["len_sd_in"].astype(np.float64)
    mass = norm.cdf((np.log(prompt + 0.5) - mu) / sd) - norm.cdf((np.log(prompt - 0.5) - mu) / sd)
    post = np.exp(p["len_log_w"]) * mass
    post /= post.sum(axis=1, keepdims=True)
    drawn = np.stack([np.mean(np.asarray(c) == k, axis=1) for k in range(COMPONENTS)], axis=1)
    np.testing.assert_allclose(drawn.mean(0), post.mean(0), atol=0.01)
    assert post.mean(0)[tight] > 0.5  # the prompt's own cluster is the likeliest
    c, tin = draw_lengths(p, jax.random.PRNGKey(4), (n, 50))
    out = np.asarray(draw_output(p, jax.random.PRNGKey(5), c))
    for x in (np.asarray(tin), out):
        assert np.all(x >= 1) and np.all(x == np.round(x))


def test_component_draws_follow_the_weights_and_never_an_empty_component():
    """The inverse-CDF component draw: frequencies within 4 standard errors of softmax(logits), per draw and per
    query; a component of zero weight (first, middle or last) is never drawn."""
    from infergy.model.workload import draw_component

    with np.errstate(divide="ignore"):  # log 0 = -inf: a component of zero weight
        logits = np.log(np.array([[0.0, 0.5, 0.2, 0.3], [0.25, 0.25, 0.0, 0.5], [0.1, 0.6, 0.3, 0.0]], np.float32))
        per_query = np.log(np.array([[[1.0, 0, 0, 0], [0, 0, 0, 1.0]]], np.float32))  # one draw, two queries
    n = 200_000
    c = np.asarray(draw_component(jax.random.PRNGKey(0), jnp.asarray(logits)[:, None, :], (3, n)))
    assert c.dtype == np.int32 and c.min() >= 0 and c.max() <= 3
    for row, w in enumerate(np.exp(logits)):
        freq = np.bincount(c[row], minlength=4) / n
        assert np.all(freq[w == 0] == 0)
        np.testing.assert_array_less(np.abs(freq - w), 4 * np.sqrt(w * (1 - w) / n) + 1e-12)
    c = np.asarray(draw_component(jax.random.PRNGKey(1), jnp.asarray(per_query), (1, 2)))
    assert c.tolist() == [[0, 3]]


def test_typical_lengths_are_the_drawn_medians(draws):
    p = {k: np.asarray(v, np.float32) for k, v in length_mixture(draws, "traditional", TRACES).items()}
    c, tin = draw_lengths(p, jax.random.PRNGKey(6), (p["len_log_w"].shape[0], 400))
    tout = draw_output(p, jax.random.PRNGKey(7), c)
    typ_in, typ_out = typical_lengths(draws, "traditional", TRACES)
    assert typ_in == pytest.approx(np.median(np.asarray(tin)), rel=0.05)
    assert typ_out == pytest.approx(np.median(np.asarray(tout)), rel=0.05)


def test_reasoning_answers_are_chat_answers_scaled_by_the_prior_ratio(draws):
    """No trace decides the reasoning ratio: its posterior is its prior (Epoch AI's ~8x), and a reasoning answer
    is a chat answer times that ratio, draw by draw."""
    ratio = np.asarray(draws["wl_log_reasoning_ratio"])
    assert np.median(ratio) == pytest.approx(np.log(REASONING_RATIO[0]), abs=0.1)
    assert np.std(ratio) == pytest.approx(REASONING_RATIO[1], rel=0.15)
    chat, reasoning = length_mixture(draws, "traditional", TRACES), length_mixture(draws, "reasoning", TRACES)
    np.testing.assert_allclose(reasoning["len_mu_out"] - chat["len_mu_out"], ratio[:, None] * np.ones((1, COMPONENTS)),
                               atol=1e-5)  # float32 draws: the sum is exact to a few ulps of the log medians
    np.testing.assert_array_equal(reasoning["len_mu_in"], chat["len_mu_in"])
    np.testing.assert_allclose(reasoning["len_log_limit_out"] - chat["len_log_limit_out"], ratio, atol=1e-5)


def test_drawn_lengths_are_cut_at_the_traces_limits(draws):
    """Requests at a trace's longest length were cut there (3.7% of the code prompts sit within four tokens of 7,437): the
    fit treats them as "at least", and drawn lengths are cut at the same limits -- about as many code prompts at
    the limit as in the trace, none beyond; a reasoning answer at the chat limit times the draw's ratio. The
    NumPy twin cuts alike."""
    from infergy.analysis.numpy_reference import _draw_lengths, _whole
    from infergy.model.workload import trace_limits

    limits = trace_limits(TRACES)
    code = TRACES.query("workload == 'code'")
    assert limits["code"] == (code["input_tokens"].max(), code["output_tokens"].max())
    for regime, workload in (("traditional", "chat"), ("code", "code"), ("reasoning", "chat")):
        p = {k: np.asarray(v, np.float32) for k, v in length_mixture(draws, regime, TRACES).items()}
        n = p["len_log_w"].shape[0]
        c, tin = draw_lengths(p, jax.random.PRNGKey(8), (n, 400))
        tin, tout = np.asarray(tin), np.asarray(draw_output(p, jax.random.PRNGKey(9), c))
        max_in, max_out = limits[workload]
        top_out = np.round(np.exp(p["len_log_limit_out"].astype(np.float64)))[:, None]
        assert tin.max() <= max_in and np.all(tout <= top_out), regime
        c_np, tin_np = _draw_lengths(p, np.random.default_rng(0), (n, 400), None, None)
        tout_np = _whole(p, "out", c_np, np.random.default_rng(1))
        assert tin_np.max() <= max_in and np.all(tout_np <= top_out), regime
        for jax_draws, np_draws in ((tin, tin_np), (tout, tout_np)):
            np.testing.assert_allclose(np.quantile(np_draws, [0.1, 0.5, 0.9]), np.quantile(jax_draws, [0.1, 0.5, 0.9]),
                                       rtol=0.05)
        if regime == "code":  # the trace's cut prompts sit within a few tokens of the window (7,434-7,437)
            observed = np.mean(code["input_tokens"] >= max_in - 4)
            assert np.mean(tin == max_in) == pytest.approx(observed, rel=0.3)


def test_a_posterior_without_the_workload_model_is_refused_with_a_reason(draws):
    old = {k: v for k, v in draws.items() if not k.startswith("wl_")}
    with pytest.raises(ValueError, match="no workload-length model .* refit"):
        length_mixture(old, "traditional", TRACES)
    with pytest.raises(ValueError, match="unknown regime 'poetry'; choose one of traditional, code, reasoning"):
        length_mixture(draws, "poetry", TRACES)
