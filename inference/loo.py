"""Exact leave-one-out for the rows whose PSIS-LOO is unreliable (Pareto k > 0.7)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.stats import norm
from numpyro.infer.hmc import hmc
from numpyro.infer.util import initialize_model

from ..model.pue import PueDesign, pue_model, row_predictive
from .samplers import cpu_device

__all__ = ["exact_loo_pue"]


def exact_loo_pue(design: PueDesign, rows, *, draws: int = 500, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Refit the PUE model without each of ``rows`` (a row that alone pins down an operator or a scale).

    Returns ``(pit, elpd)``: the probability integral transform of each left-out row under the predictive fitted
    without it, and its log predictive density. The PUE parameters are informed by this table alone up to the three
    production disclosures, which this refit leaves out. Each refit is one NUTS chain of ``draws`` warmup and ``draws``
    kept draws.
    """
    rows = np.atleast_1d(np.asarray(rows, int))
    x, y = design.arrays, jnp.asarray(design.y_log_pue_minus_1)
    model = _pue_model(len(design.operators))  # sizes stay static; one model object per size keeps the compiled refit
    out = []
    # one chain of a ~20-parameter model is a chain of tiny sequential steps: on the CPU even when the fit ran on a GPU
    with jax.default_device(cpu_device()):
        for j, i in enumerate(rows):
            out.append(_refit(model, x, y, jnp.asarray(np.arange(len(y)) != i), i, jax.random.PRNGKey(seed + j),
                              draws))
    pit, elpd = np.asarray(out, np.float64).T
    return pit, elpd


@functools.cache
def _pue_model(n_operators: int):
    return functools.partial(pue_model, n_operators=n_operators)


@functools.partial(jax.jit, static_argnums=(0, 6))
def _refit(model, x, y, mask, i, key, draws: int):
    """Row ``i``'s leave-one-out PIT and log predictive density from a NUTS refit without it (``mask``), compiled
    whole: NumPyro's set-up, run op by op, compiles each of its operations, and a refit is shapes-alike for every
    row."""
    key_init, key_run = jax.random.split(key)
    kwargs = {"y": y, "row_mask": mask}
    info = initialize_model(key_init, model, model_args=(x,), model_kwargs=kwargs, dynamic_args=True)
    init_kernel, sample_kernel = hmc(potential_fn_gen=info.potential_fn, algo="NUTS")
    state = init_kernel(info.param_info, draws, target_accept_prob=0.95, model_args=(x,), model_kwargs=kwargs,
                        rng_key=key_run)

    def step(s, _):
        s = sample_kernel(s, model_args=(x,), model_kwargs=kwargs)
        return s, s.z

    _, z = jax.lax.scan(step, state, length=2 * draws)  # the first half warms up: step size and mass adapt
    kept = jax.tree.map(lambda v: v[draws:], z)
    mu, sd = row_predictive(jax.vmap(info.postprocess_fn(x, **kwargs))(kept), x, i)
    return (jnp.mean(norm.cdf((y[i] - mu) / sd)),
            jax.scipy.special.logsumexp(norm.logpdf(y[i], mu, sd)) - jnp.log(draws))
