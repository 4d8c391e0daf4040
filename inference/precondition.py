"""Where the chains start and the shape they sample in: a variational fit, then the local curvature at its centre.

NUTS with a diagonal metric needs trees of 127-255 leapfrog steps per draw on the joint model: the posterior's
correlation matrix has a condition number of about 14,000 (the throughput intercept against the precision,
bandwidth and size effects; operator PUE effects against the scope offsets), and a diagonal metric cannot undo
a correlation. A dense metric learned during warm-up needs far more than a few hundred draws in ~400 dimensions.

Instead the chains sample ``u`` with ``x = loc + scale @ u`` on the unconstrained scale, where

- ``loc`` is the centre of a mean-field Gaussian fitted to the posterior (ADVI, a few thousand Adam steps on one
  compiled gradient of the flattened log density: seconds);
- ``scale`` is the symmetric inverse square root of ``H``, the Hessian of the negative log density at ``loc``
  (``metric="hessian"``), or the mean-field standard deviations (``metric="diagonal"``). Eigenvalues of ``H``
  below ``floor_ratio`` times their median are raised to it: at a hierarchical scale, or on a Student-t outlier,
  the density need not be locally concave, and a flat direction is given a wide (not an infinite) scale.

NUTS then adapts a diagonal metric on ``u`` as usual, so a curvature that is off by a constant factor along an
axis is still corrected. The model itself is unchanged: every latent site becomes a deterministic function of the
one whitened latent and contributes its own prior density (NumPyro's reparameterisation machinery, as in
NeuTra-HMC with an affine map), so the posterior, log-likelihood and predictive checks read the original sites.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from jax.flatten_util import ravel_pytree
from numpyro import handlers
from numpyro.distributions import biject_to
from numpyro.distributions.util import sum_rightmost
from numpyro.infer import init_to_mean, init_to_median
from numpyro.infer.reparam import Reparam
from numpyro.infer.util import potential_energy

__all__ = ["METRICS", "WHITENED_SITE", "Preconditioner", "inverse_sqrt_hessian", "mean_field", "precondition",
           "unconstrained_start"]

METRICS = ("hessian", "diagonal")
#: Hessian-vector products evaluated together when the model has more than 8 x this many dimensions.
HVP_BATCH = 64
#: The name of the one latent the sampler moves (dropped from the saved posterior).
WHITENED_SITE = "_whitened"


@dataclass(frozen=True)
class Preconditioner:
    """The affine map ``x = loc + scale @ u`` from whitened to unconstrained coordinates, and per-chain starts."""

    loc: jax.Array  # (D,) unconstrained centre
    scale: jax.Array  # (D, D)
    unravel: Callable  # flat unconstrained vector -> {site: unconstrained value}
    sites: tuple[str, ...]
    starts: jax.Array  # (chains, D) whitened chain starts
    metric: str
    elbo_loss: float  # mean negative ELBO over the last tenth of the variational steps
    floored: int  # Hessian eigenvalues raised to the floor (0 for the diagonal metric)
    potential: Callable  # negative log density of a flat unconstrained vector (jitted)

    @property
    def init_params(self) -> dict:
        """NumPyro ``init_params`` for :meth:`model`: one start per chain (no chain axis for a single chain, as
        NumPyro expects)."""
        return {WHITENED_SITE: self.starts if self.starts.shape[0] > 1 else self.starts[0]}

    def log_density(self, u: jax.Array) -> jax.Array:
        """The posterior's log density at whitened coordinates ``u`` (one point), up to a constant: what a sampler
        other than NumPyro's (ChEES) moves on."""
        return -self.potential(self.loc + self.scale @ u)

    def unconstrained(self, u: jax.Array) -> dict:
        """Per-site unconstrained values at whitened coordinates ``u`` (one point)."""
        return self.unravel(self.loc + self.scale @ u)

    def model(self, model: Callable) -> Callable:
        """``model`` with every latent site a deterministic function of the one whitened latent."""
        dim = self.loc.shape[0]

        def whitened(*args, **kwargs):
            # flat (improper) prior on u: the sites' own densities enter through their factors
            u = numpyro.sample(WHITENED_SITE, dist.Normal(0.0, 1.0).expand([dim]).to_event(1).mask(False))
            reparam = _FromWhitened(self.unconstrained(u))
            with handlers.reparam(config=lambda msg: reparam if msg["name"] in self.sites else None):
                return model(*args, **kwargs)

        return whitened


class _FromWhitened(Reparam):
    """A latent site's value from the whitened latent, with the site's log density (and its transform's Jacobian)
    added as a factor of the site's own batch shape."""

    def __init__(self, values: dict):
        self.values = values

    def __call__(self, name, fn, obs):
        if obs is not None:
            raise ValueError(f"site {name!r} is observed: only latent sites are whitened")
        unconstrained = self.values[name]
        transform = biject_to(fn.support)
        value = transform(unconstrained)
        if numpyro.get_mask() is not False:
            logdet = transform.log_abs_det_jacobian(unconstrained, value)
            logdet = sum_rightmost(logdet, jnp.ndim(logdet) - jnp.ndim(value) + len(fn.event_shape))
            numpyro.factor(f"_{name}_log_density", fn.log_prob(value) + logdet)
        return None, value


def mean_field(potential: Callable, x0: jax.Array, key: jax.Array, steps: int, *, learning_rate: float = 0.01,
               init_scale: float = 0.05) -> tuple[jax.Array, jax.Array, float]:
    """Mean-field Gaussian ``N(loc, diag(sd^2))`` fitted by ADVI (Adam on the one-draw reparameterised ELBO).

    ``potential``: negative log density of a flat unconstrained vector. A step whose gradient is not finite is
    skipped. Returns ``(loc, sd, mean negative ELBO over the last tenth of the steps)``.
    """
    b1, b2, eps = 0.9, 0.999, 1e-8

    def loss(params, noise):
        loc, log_sd = params
        return potential(loc + jnp.exp(log_sd) * noise) - jnp.sum(log_sd)

    grad = jax.value_and_grad(loss)

    def step(carry, inputs):
        params, m, v = carry
        t, noise = inputs
        value, g = grad(params, noise)
        ok = jnp.isfinite(value) & jnp.all(jnp.isfinite(g[0])) & jnp.all(jnp.isfinite(g[1]))
        m_new = jax.tree.map(lambda a, b: b1 * a + (1 - b1) * b, m, g)
        v_new = jax.tree.map(lambda a, b: b2 * a + (1 - b2) * b * b, v, g)
        p_new = jax.tree.map(lambda p, a, b: p - learning_rate * (a / (1 - b1**t)) / (jnp.sqrt(b / (1 - b2**t)) + eps),
                             params, m_new, v_new)
        keep = lambda new, old: jax.tree.map(lambda n, o: jnp.where(ok, n, o), new, old)
        return (keep(p_new, params), keep(m_new, m), keep(v_new, v)), jnp.where(ok, value, jnp.nan)

    @jax.jit
    def run(x0, key):
        params = (x0, jnp.full_like(x0, jnp.log(init_scale)))
        zeros = jax.tree.map(jnp.zeros_like, params)
        noise = jax.random.normal(key, (steps, x0.shape[0]), x0.dtype)
        ts = jnp.arange(1, steps + 1, dtype=x0.dtype)
        (params, _, _), losses = jax.lax.scan(step, (params, zeros, zeros), (ts, noise))
        return params, losses

    (loc, log_sd), losses = run(x0, key)
    tail = np.asarray(losses)[-max(1, steps // 10):]
    tail = tail[np.isfinite(tail)]
    if not bool(jnp.all(jnp.isfinite(loc))) or tail.size == 0:
        raise FloatingPointError("the variational start did not converge to a finite point (non-finite log density)")
    return loc, jnp.exp(log_sd), float(tail.mean())


def inverse_sqrt_hessian(potential: Callable, at: jax.Array, floor_ratio: float = 1e-2) -> tuple[np.ndarray, int]:
    """``H^{-1/2}`` (symmetric) of ``potential``'s Hessian at ``at``, eigenvalues floored at ``floor_ratio`` times
    their median. Returns the matrix (float64) and how many eigenvalues were floored.

    The Hessian is built from Hessian-vector products: all at once up to :data:`HVP_BATCH` x 8 dimensions (the
    joint model's 376: 7 s, mostly compilation), :data:`HVP_BATCH` at a time above that (memory stays bounded;
    compiling the loop takes longer)."""
    hvp = lambda v: jax.jvp(jax.grad(potential), (at,), (v,))[1]
    if at.shape[0] <= 8 * HVP_BATCH:
        rows = jax.jit(jax.vmap(hvp))
    else:
        rows = jax.jit(lambda basis: jax.lax.map(hvp, basis, batch_size=HVP_BATCH))
    h = np.asarray(rows(jnp.eye(at.shape[0], dtype=at.dtype)), dtype=np.float64)
    if not np.all(np.isfinite(h)):
        raise FloatingPointError("the Hessian of the log density at the variational centre is not finite")
    w, v = np.linalg.eigh(0.5 * (h + h.T))
    floor = floor_ratio * float(np.median(np.abs(w)))
    floored = int(np.sum(w < floor))
    return (v * np.maximum(w, floor) ** -0.5) @ v.T, floored


def unconstrained_start(model: Callable, args: tuple, kwargs: dict, key: jax.Array) -> dict:
    """Every latent site's prior mean on the unconstrained scale (the prior median of 15 draws where a mean is not
    finite), in one compiled trace of the model. NumPyro's ``initialize_model`` runs the model op by op first, and
    sampling for medians compiles slowly: about 40 s and 12 s here against under 1 s."""

    def start(key, strategy):
        seeded = handlers.seed(model, key)
        trace = handlers.trace(handlers.substitute(seeded, substitute_fn=strategy)).get_trace(*args, **kwargs)
        return {name: biject_to(site["fn"].support).inv(site["value"]) for name, site in trace.items()
                if site["type"] == "sample" and not site["is_observed"]}

    values = jax.jit(start, static_argnums=1)(key, init_to_mean)
    if all(bool(jnp.all(jnp.isfinite(v))) for v in values.values()):
        return values
    return jax.jit(start, static_argnums=1)(key, init_to_median(num_samples=15))


def precondition(model: Callable, args: tuple, kwargs: dict, key: jax.Array, chains: int, steps: int,
                 metric: str = "hessian") -> Preconditioner:
    """Fit the mean-field start (``steps`` Adam steps) and build the whitening for ``metric``.

    Each chain starts at its own draw from the mean-field approximation (dispersed, so R-hat keeps its meaning).
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    if steps < 1:
        raise ValueError(f"the variational start needs >= 1 step, got {steps}")
    key_init, key_fit, key_draw = jax.random.split(key, 3)
    start = unconstrained_start(model, args, kwargs, key_init)
    x0, unravel = ravel_pytree(start)
    potential = jax.jit(lambda x: potential_energy(model, args, kwargs, unravel(x)))
    loc, sd, elbo_loss = mean_field(potential, x0, key_fit, steps)
    if metric == "hessian":
        scale, floored = inverse_sqrt_hessian(potential, loc)
    else:
        scale, floored = np.diag(np.asarray(sd, dtype=np.float64)), 0
    scale_inv = np.linalg.inv(scale)
    starts = loc + sd * jax.random.normal(key_draw, (chains, loc.shape[0]), loc.dtype)
    starts_u = (np.asarray(starts, np.float64) - np.asarray(loc, np.float64)) @ scale_inv.T
    dtype = loc.dtype
    return Preconditioner(loc=loc, scale=jnp.asarray(scale, dtype), unravel=unravel,
                          sites=tuple(sorted(start)), starts=jnp.asarray(starts_u, dtype), metric=metric,
                          elbo_loss=elbo_loss, floored=floored, potential=potential)
