"""The sampler's start and coordinates (infergy.inference.precondition): exact densities, a correct whitening,
and fewer leapfrog steps where the posterior is correlated."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.infer import MCMC, NUTS
from numpyro.infer.util import potential_energy

from infergy.inference.precondition import (
    WHITENED_SITE,
    inverse_sqrt_hessian,
    mean_field,
    precondition,
    unconstrained_start,
)


def ridge_model(y=None):
    """Only a + b is measured: the posterior of (a, b) is a long, thin ridge; a positive scale and a plate too."""
    a = numpyro.sample("a", dist.Normal(0.0, 3.0))
    b = numpyro.sample("b", dist.Normal(0.0, 3.0))
    s = numpyro.sample("s", dist.HalfNormal(1.0))
    with numpyro.plate("g", 3):
        z = numpyro.sample("z", dist.Normal(0.0, s))
    with numpyro.plate("rows", 20):
        numpyro.sample("y", dist.Normal(a + b + z.sum(), 0.05), obs=y)


Y = jnp.asarray(np.random.default_rng(0).normal(1.0, 0.05, 20), dtype=jnp.float32)


@pytest.fixture(scope="module")
def pre():
    return precondition(ridge_model, (), {"y": Y}, jax.random.PRNGKey(0), chains=3, steps=1500)


def test_whitened_model_has_the_same_density(pre):
    """The reparameterised model's potential at u is the original model's at x = loc + scale @ u (Jacobians of
    the positive scale's transform included), and its deterministic sites are the original values."""
    whitened = pre.model(ridge_model)
    for u in np.random.default_rng(1).normal(size=(5, pre.loc.shape[0])).astype(np.float32):
        x = pre.unconstrained(jnp.asarray(u))
        original = potential_energy(ridge_model, (), {"y": Y}, x)
        new = potential_energy(whitened, (), {"y": Y}, {WHITENED_SITE: jnp.asarray(u)})
        assert float(new) == pytest.approx(float(original), rel=1e-5, abs=1e-3)
    trace = numpyro.handlers.trace(numpyro.handlers.substitute(
        numpyro.handlers.seed(whitened, 0), {WHITENED_SITE: jnp.zeros(pre.loc.shape[0])})).get_trace(y=Y)
    assert trace["s"]["type"] == "deterministic"
    at_centre = pre.unconstrained(jnp.zeros(pre.loc.shape[0]))
    assert float(trace["s"]["value"]) == pytest.approx(float(jnp.exp(at_centre["s"])), rel=1e-6)
    assert trace["z"]["value"].shape == (3,)


def test_hessian_whitening_is_exact_for_a_gaussian():
    """For a Gaussian potential 0.5 x'Px, scale = P^(-1/2): scale' P scale = I, whatever the correlation."""
    rng = np.random.default_rng(2)
    q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    precision = q @ np.diag([1e-2, 1e-1, 1.0, 10.0, 1e2, 1e3]) @ q.T
    pj = jnp.asarray(precision, jnp.float32)
    scale, floored = inverse_sqrt_hessian(lambda x: 0.5 * x @ pj @ x, jnp.zeros(6), floor_ratio=1e-6)
    assert floored == 0
    np.testing.assert_allclose(scale.T @ precision @ scale, np.eye(6), atol=2e-3)
    np.testing.assert_allclose(scale, scale.T, atol=1e-9)


def test_hessian_floor_keeps_the_metric_positive():
    """A direction of negative curvature (not locally concave) gets the floor, not a negative or infinite scale."""
    scale, floored = inverse_sqrt_hessian(lambda x: 0.5 * (4.0 * x[0] ** 2 + 1.0 * x[1] ** 2 - 0.5 * x[2] ** 2),
                                          jnp.zeros(3), floor_ratio=0.1)
    assert floored == 1
    w = np.linalg.eigvalsh(scale)
    assert np.all(np.isfinite(w)) and np.all(w > 0)
    assert scale[2, 2] == pytest.approx(1.0 / np.sqrt(0.1 * 1.0), rel=1e-6)  # floor: 0.1 x the median |eigenvalue|


def test_mean_field_recovers_a_diagonal_gaussian():
    mu, sd = jnp.array([1.0, -2.0, 0.5]), jnp.array([0.1, 2.0, 0.7])
    loc, fitted_sd, loss = mean_field(lambda x: 0.5 * jnp.sum(((x - mu) / sd) ** 2), jnp.zeros(3),
                                      jax.random.PRNGKey(0), 3000)
    np.testing.assert_allclose(loc, mu, atol=0.05 * float(sd.max()))
    np.testing.assert_allclose(fitted_sd, sd, rtol=0.15)
    assert np.isfinite(loss)


def test_mean_field_skips_non_finite_steps_and_fails_clearly():
    with pytest.raises(FloatingPointError, match="variational start"):
        mean_field(lambda x: jnp.sum(x) * jnp.nan, jnp.zeros(2), jax.random.PRNGKey(0), 20)


def test_start_is_the_prior_mean_on_the_unconstrained_scale():
    start = unconstrained_start(ridge_model, (), {"y": Y}, jax.random.PRNGKey(0))
    assert set(start) == {"a", "b", "s", "z"}
    assert float(start["s"]) == pytest.approx(np.log(np.sqrt(2.0 / np.pi)), rel=1e-5)  # HalfNormal(1) mean
    np.testing.assert_allclose(start["z"], 0.0)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="metric must be one of"):
        precondition(ridge_model, (), {"y": Y}, jax.random.PRNGKey(0), chains=2, steps=10, metric="dense")
    with pytest.raises(ValueError, match=">= 1 step"):
        precondition(ridge_model, (), {"y": Y}, jax.random.PRNGKey(0), chains=2, steps=0)


def _steps_per_draw(pre, seed=0):
    mcmc = MCMC(NUTS(pre.model(ridge_model), target_accept_prob=0.9), num_warmup=200, num_samples=200,
                num_chains=1, progress_bar=False)
    mcmc.run(jax.random.PRNGKey(seed), y=Y, init_params=jax.tree.map(lambda v: v[0], pre.init_params),
             extra_fields=("num_steps",))
    samples = mcmc.get_samples()
    return float(np.mean(mcmc.get_extra_fields()["num_steps"])), samples


def test_hessian_coordinates_take_fewer_steps_on_a_ridge(pre):
    """Only a + b is pinned down: diagonal coordinates need long trajectories along the ridge, whitened ones do
    not. Both sample the same posterior (a + b matches the data; a - b keeps its prior spread)."""
    diagonal = precondition(ridge_model, (), {"y": Y}, jax.random.PRNGKey(0), chains=3, steps=1500,
                            metric="diagonal")
    steps_h, draws_h = _steps_per_draw(pre)
    steps_d, draws_d = _steps_per_draw(diagonal)
    assert WHITENED_SITE in draws_h and {"a", "b", "s", "z"} <= set(draws_h)
    assert steps_h * 3 < steps_d, (steps_h, steps_d)
    for draws in (draws_h, draws_d):
        total = draws["a"] + draws["b"] + draws["z"].sum(-1)
        assert abs(float(total.mean()) - float(Y.mean())) < 0.03
        assert 2.0 < float(jnp.std(draws["a"] - draws["b"])) < 6.5  # prior: sd of a - b is 3 sqrt(2) = 4.2


def test_hessian_in_batches_matches_all_at_once(monkeypatch):
    """Above 8 x HVP_BATCH dimensions the Hessian is built in batches: the same matrix."""
    import infergy.inference.precondition as pc

    rng = np.random.default_rng(3)
    a = rng.normal(size=(12, 12))
    precision = jnp.asarray(a @ a.T + 12 * np.eye(12), jnp.float32)
    potential = lambda x: 0.5 * x @ precision @ x + 0.1 * jnp.sum(x**4)  # noqa: E731
    at = jnp.asarray(rng.normal(size=12), jnp.float32)
    whole, _ = pc.inverse_sqrt_hessian(potential, at)
    monkeypatch.setattr(pc, "HVP_BATCH", 1)  # 12 > 8 x 1: batches of one
    batched, _ = pc.inverse_sqrt_hessian(potential, at)
    np.testing.assert_allclose(batched, whole, rtol=1e-5, atol=1e-6)


def test_one_chain_gets_a_start_without_a_chain_axis():
    one = precondition(ridge_model, (), {"y": Y}, jax.random.PRNGKey(0), chains=1, steps=200)
    assert one.init_params[WHITENED_SITE].shape == (one.loc.shape[0],)
