"""Exact leave-one-out for the rows whose PSIS-LOO is unreliable (Pareto k > 0.7)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.stats import norm

from ..model.pue import PueDesign, pue_model, row_predictive
from .samplers import cpu_device, nuts

__all__ = ["exact_loo_pue"]


def exact_loo_pue(design: PueDesign, rows, *, draws: int = 500, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Refit the PUE model without each of ``rows`` (a row that alone pins down an operator or a scale).

    Returns ``(pit, elpd)``: the probability integral transform of each left-out row under the predictive fitted
    without it, and its log predictive density. The PUE parameters are informed by this table alone up to the three
    production disclosures, which this refit leaves out.
    """
    x, y = design.arrays, np.asarray(design.y_log_pue_minus_1)
    model = functools.partial(pue_model, n_operators=len(design.operators))  # sizes stay static
    mcmc = nuts(model, warmup=draws, draws=draws, target_accept=0.95, jit_model_args=True)
    pit, elpd = [], []
    # one chain of a ~20-parameter model is a chain of tiny sequential steps: on the CPU even when the fit ran on a GPU
    with jax.default_device(cpu_device()):
        for j, i in enumerate(np.atleast_1d(rows)):
            keep = np.ones(len(y), bool)
            keep[i] = False
            mcmc.run(jax.random.PRNGKey(seed + j), x, y=y, row_mask=jnp.asarray(keep))
            mu, sd = row_predictive(mcmc.get_samples(), x, i)
            pit.append(float(jnp.mean(norm.cdf((y[i] - mu) / sd))))
            elpd.append(float(jax.scipy.special.logsumexp(norm.logpdf(y[i], mu, sd)) - np.log(len(mu))))
    return np.array(pit), np.array(elpd)
