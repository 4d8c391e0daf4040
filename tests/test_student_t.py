"""The Student-t likelihood's polar sampler: the right distribution, NumPyro's density, usable under jit and vmap."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.infer import Predictive
from scipy import stats

from infergy.model.student_t import StudentT, standard_t


@pytest.mark.parametrize("df", [0.7, 2.5, 7.0, 60.0])
def test_draws_follow_the_student_t(df):
    loc, scale = 1.5, 0.4
    x = np.asarray(StudentT(df, loc, scale).sample(jax.random.PRNGKey(int(df * 10)), (200_000,)), np.float64)
    assert np.isfinite(x).all()
    # a 1% shift of the median or of the scale gives KS p-values far below this
    assert stats.kstest(x, stats.t(df, loc, scale).cdf).pvalue > 1e-3
    # quantiles within 4 standard errors, sqrt(p (1 - p) / n) / density
    p = np.array([0.05, 0.25, 0.5, 0.75, 0.95])
    truth = stats.t(df, loc, scale)
    se = np.sqrt(p * (1 - p) / x.size) / truth.pdf(truth.ppf(p))
    assert np.all(np.abs(np.quantile(x, p) - truth.ppf(p)) < 4 * se)


def test_the_test_detects_a_wrong_df():
    x = np.asarray(standard_t(jax.random.PRNGKey(0), 4.0, (200_000,)), np.float64)
    assert stats.kstest(x, stats.t(4.0).cdf).pvalue > 1e-3
    assert stats.kstest(x, stats.t(3.0).cdf).pvalue < 1e-6
    assert stats.kstest(x, stats.norm.cdf).pvalue < 1e-6


def test_per_element_df_and_every_element_accepted():
    df = jnp.array([1.0, 3.0, 30.0])
    x = np.asarray(standard_t(jax.random.PRNGKey(1), df, (100_000, 3)), np.float64)
    assert np.isfinite(x).all()
    for j, nu in enumerate(np.asarray(df)):
        assert stats.kstest(x[:, j], stats.t(nu).cdf).pvalue > 1e-3
    # the columns are independent draws, not one draw scaled
    assert abs(np.corrcoef(x[:, 1], x[:, 2])[0, 1]) < 0.02


def test_same_density_as_numpyro_and_reproducible():
    y = jnp.linspace(-8.0, 8.0, 41)
    for df, loc, scale in ((0.9, 0.0, 1.0), (4.0, -1.0, 0.3), (50.0, 2.0, 2.0)):
        np.testing.assert_array_equal(StudentT(df, loc, scale).log_prob(y), dist.StudentT(df, loc, scale).log_prob(y))
    d = StudentT(3.0, jnp.zeros(5), 1.0)
    a, b = d.sample(jax.random.PRNGKey(7), (4,)), d.sample(jax.random.PRNGKey(7), (4,))
    assert a.shape == (4, 5)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, d.sample(jax.random.PRNGKey(8), (4,)))


def test_predictive_under_jit_and_vmap_with_a_sampled_df():
    def model(n=50, y=None):
        nu = numpyro.sample("nu", dist.Gamma(2.0, 0.1))
        with numpyro.plate("rows", n):
            numpyro.sample("obs", StudentT(nu, 0.0, 1.0), obs=y)

    pred = Predictive(model, {"nu": jnp.array([2.0, 20.0])}, return_sites=["obs"], parallel=True)
    eager = pred(jax.random.PRNGKey(0), n=50)["obs"]
    jitted = jax.jit(lambda key: pred(key, n=50)["obs"])(jax.random.PRNGKey(0))
    assert eager.shape == (2, 50) and np.isfinite(np.asarray(eager)).all()
    np.testing.assert_allclose(jitted, eager, rtol=1e-5, atol=1e-6)
