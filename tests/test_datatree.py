"""The fit's DataTree, built from one compiled trace of the model, holds what ``az.from_numpyro`` gives."""

from __future__ import annotations

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.infer import MCMC, NUTS

from infergy.inference.fit import _nuts_stats, model_datatree, predictive_draws
from infergy.model.student_t import StudentT


def _model(x, n_groups, y=None, z=None):
    mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
    with numpyro.plate("groups", n_groups):
        a = numpyro.sample("a", dist.Normal(mu, 1.0))
    numpyro.deterministic("a_mean", jnp.mean(a))
    sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))
    numpyro.factor("_penalty", -0.5 * mu ** 2)
    with numpyro.plate("rows", x.shape[0]):
        numpyro.sample("y", StudentT(5.0, a[x], sigma), obs=y)
    numpyro.sample("z", dist.Normal(mu, 0.5), obs=z)
    # an observed value the model computes from its data (traced when the model is compiled)
    numpyro.sample("log_y_sq", dist.Normal(0.0, 3.0).expand([x.shape[0]]), obs=None if y is None else jnp.log(y ** 2))


@pytest.fixture(scope="module")
def toy_fit():
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.integers(0, 3, 40))
    kwargs = {"n_groups": 3, "y": jnp.asarray(rng.normal(size=40), jnp.float32), "z": jnp.float32(0.3)}
    mcmc = MCMC(NUTS(_model, max_tree_depth=4), num_warmup=50, num_samples=60, num_chains=2,
                chain_method="sequential", progress_bar=False)
    mcmc.run(jax.random.PRNGKey(0), x, **kwargs, extra_fields=("diverging", "energy", "num_steps"))
    by_chain = jax.device_get(mcmc.get_samples(group_by_chain=True))
    samples = {k: np.reshape(v, (-1, *v.shape[2:])) for k, v in by_chain.items()}
    prior = {k: v[None] for k, v in predictive_draws(_model, jax.random.PRNGKey(1), (x,), {"n_groups": 3},
                                                      num_samples=25).items()}
    ppc = predictive_draws(_model, jax.random.PRNGKey(2), (x,), {"n_groups": 3}, samples=samples,
                           return_sites=["y", "z", "log_y_sq"])
    coords, dims = {"group": ["g0", "g1", "g2"]}, {"a": ["group"], "y": ["row"]}
    ours = model_datatree(_model, (x,), kwargs, by_chain, _nuts_stats(mcmc, 4), prior, ppc, coords=coords,
                          dims=dims, attrs={"inference_library": "numpyro"})
    ref = az.from_numpyro(mcmc, prior=prior, posterior_predictive=ppc, log_likelihood=True, coords=coords,
                          dims=dims, pred_dims={})
    return ours, ref


def test_same_groups_variables_dimensions_and_values_as_arviz(toy_fit):
    ours, ref = toy_fit
    assert set(ours.children) == set(ref.children)
    for group in ref.children:
        a, b = ref[group].to_dataset(), ours[group].to_dataset()
        # ArviZ keeps the factor site "_penalty" among the observed sites; the fit's groups hold no "_" site
        names = {str(n) for n in a.data_vars if not str(n).startswith("_")}
        assert names == set(map(str, b.data_vars)), group
        for name in names:
            assert a[name].dims == b[name].dims, (group, name)
            assert a[name].dtype == b[name].dtype, (group, name)
            for dim in a[name].dims:
                np.testing.assert_array_equal(a[name][dim], b[name][dim])
            if group == "log_likelihood" or name == "log_y_sq":
                # computed in one compiled program rather than op by op: the last float bits may differ
                np.testing.assert_allclose(b[name], a[name], rtol=1e-5, atol=1e-6)
            else:
                np.testing.assert_array_equal(b[name], a[name], err_msg=f"{group}/{name}")
    assert not [n for g in ours.children for n in ours[g].data_vars if str(n).startswith("_")]
    assert ours["sample_stats"]["tree_depth"].max() <= 4
    assert ours["posterior"].attrs["inference_library"] == "numpyro"


def test_compiled_predictive_matches_numpyro(toy_fit):
    from numpyro.infer import Predictive

    x = jnp.arange(40) % 3
    compiled = predictive_draws(_model, jax.random.PRNGKey(3), (x,), {"n_groups": 3}, num_samples=30)
    eager = Predictive(_model, num_samples=30, parallel=True)(jax.random.PRNGKey(3), x, n_groups=3)
    assert set(compiled) == set(eager)
    for name in eager:
        np.testing.assert_allclose(compiled[name], eager[name], rtol=1e-5, atol=1e-6, err_msg=name)
