"""Update a posterior with new rows without a full refit.

Two paths, and a diagnostic that chooses between them:

- **reweight**: every draw of the base posterior, extended by the parameters only the new rows have (an operator's
  noise scale, its setup's level), weighted by the ratio of the updated posterior's density to that proposal's.
  The weights are Pareto-smoothed (PSIS; Vehtari, Simpson, Gelman, Yao & Gabry 2024, JMLR 25(72)) and their
  Pareto k says whether the estimate can be trusted: at k <= 0.7 and enough effective draws, the draws are
  resampled by their weights. The new parameters are first drawn from their prior given the rest of the draw;
  where the new rows pin them far tighter than that (an operator's telemetry: hundreds of precise intervals), they
  are drawn instead from their conditional posterior at each draw -- the block's mode by Newton's method on the
  likelihood of the new rows only (:meth:`InfergyDesign.rows_only`, the same model on a fraction of the rows), then
  a short HMC chain from its Laplace approximation -- and each draw is weighted by the new rows' marginal likelihood
  there (Laplace's method, checked against importance sampling), so the weights carry only what the new rows say
  about the shared parameters.
- **sampler**: otherwise a short NUTS run on the full model, each chain started at a base draw, sampling in
  coordinates whitened by the base posterior's mean and covariance (the new parameters by their prior's spread, or
  where they were drawn from their conditional posterior, by those draws').

Reweighting needs the new rows to leave the meaning of the shared parameters alone. A new model, GPU, precision or
model x GPU cell changes the throughput contrasts every row shares (their bases are built from the labels), and a
site that grows along an unlabelled dimension cannot be aligned: those updates take the sampler, and say why.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import xarray as xr
from jax.flatten_util import ravel_pytree
from numpyro import handlers
from numpyro.distributions import biject_to
from numpyro.infer.util import log_density, potential_energy
from numpyro.primitives import Messenger

from ..data import load
from ..model.joint import OBSERVED_SITES, InfergyDesign, build_design, coords_dims, infergy_model
from .fit import (FitConfig, _nuts_stats, add_workload, posterior_datatree, predictive_draws, provenance,
                  review_joint)
from .posterior import check_posterior, load_posterior, review_of
from .precondition import WHITENED_SITE, Preconditioner
from .psis import psis_log_weights
from .review import FitReview, ReviewCheck, ReviewThresholds
from .samplers import nuts, resolve_chain_method

__all__ = ["IMPORTANCE_WEIGHTS_GROUP", "UPDATE_PATHS", "UpdateConfig", "UpdateResult", "update"]

#: ``auto``: reweight when the diagnostic allows, else sample; or force one path
UPDATE_PATHS = ("auto", "reweight", "sampler")
#: Dimensions a site may grow along (new rows bring a setup, an engine, an operator, a production row...): the base
#: draws keep their elements, the new elements are drawn from their prior.
#: The DataTree group of a reweighted posterior that holds each base draw's normalised log weight (Pareto-smoothed).
IMPORTANCE_WEIGHTS_GROUP = "importance_weights"
GROWABLE_DIMS = ("setup", "engine", "operator", "telemetry_operator", "power_telemetry", "power_gpu", "prod_row",
                 "production_population", "api_provider")


@dataclass(frozen=True)
class UpdateConfig:
    """How an update runs. The reweighting path keeps the base posterior's draw count; the sampler path runs
    ``chains`` x (``warmup`` + ``draws``)."""

    path: str = "auto"
    pareto_k_max: float = 0.7  # PSIS's threshold for a reliable importance-sampling estimate (Vehtari et al. 2024)
    min_ess: float = 100.0  # effective draws after weighting, below which the reweighted posterior is too coarse
    chains: int = 2
    warmup: int = 200
    draws: int = 500
    seed: int = 0
    target_accept: float = FitConfig.target_accept  # as the full fit's NUTS
    max_tree_depth: int = 10
    prior_draws: int = 200  # drawn afresh only where the base carries no prior draws to extend (reweighting does)
    progress_bar: bool = False

    def __post_init__(self):
        if self.path not in UPDATE_PATHS:
            raise ValueError(f"path must be one of {UPDATE_PATHS}, got {self.path!r}")
        for name in ("chains", "warmup", "draws", "prior_draws"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 < self.pareto_k_max <= 1.0:
            raise ValueError(f"pareto_k_max must be in (0, 1], got {self.pareto_k_max}")
        if not 0.5 <= self.target_accept < 1.0:
            raise ValueError(f"target_accept must be in [0.5, 1), got {self.target_accept}")


@dataclass
class UpdateResult:
    """The updated DataTree and its review, the path taken and why, the weights' diagnostics and the wall time."""

    datatree: object
    review: FitReview
    design: InfergyDesign
    path: str
    reason: str
    pareto_k: float  # of the importance weights (nan where the draws could not be aligned)
    ess: float  # effective draws of the weights
    seconds: float
    config: UpdateConfig

    def summary_text(self) -> str:
        k = "n/a" if not np.isfinite(self.pareto_k) else f"{self.pareto_k:.2f}"
        ess = "n/a" if not np.isfinite(self.ess) else f"{self.ess:.0f}"
        return "\n".join([f"infergy update: {self.path} ({self.reason})",
                          f"importance weights: Pareto k {k}, effective draws {ess}; {self.seconds:.1f} s",
                          f"data {self.datatree.attrs['data_version']} "
                          f"(hash {self.datatree.attrs['data_hash'][:16]})",
                          self.review.to_text()])


def _latent_sites(design: InfergyDesign) -> dict:
    """The joint model's latent sites: name -> (shape, dimension names)."""
    def latents():
        trace = handlers.trace(handlers.seed(infergy_model, 0)).get_trace(*design.inputs, **design.sizes,
                                                                          **design.observations)
        return {name: site["value"] for name, site in trace.items()
                if site["type"] == "sample" and not site["is_observed"]}

    _, dims = coords_dims(design)
    # traced abstractly: run op by op, the model compiles each of its hundreds of operations
    return {name: (tuple(v.shape), dims.get(name)) for name, v in jax.eval_shape(latents).items()}


def _shared_labels(design: InfergyDesign) -> dict:
    """The labels the throughput contrasts' bases are built from: a change moves every shared contrast."""
    tp = design.throughput
    return {"models": list(tp.models), "GPUs": list(tp.gpus), "precisions": list(tp.precisions),
            "GPU x precision cells": [list(p) for p in tp.gpu_precision_pairs],
            "model x GPU cells": [list(p) for p in tp.model_gpu_pairs], "input-length groups": list(tp.isl_groups)}


def align(old: InfergyDesign, new: InfergyDesign, draws: dict) -> tuple[dict, str | None]:
    """The base ``draws`` (``(S, ...)`` per latent site of ``old``) placed in ``new``'s latent sites: name ->
    ``(values, mask)`` (``mask`` None: every element known; else True where the base draw supplies it), and None;
    or ``({}, why)`` where they cannot be aligned."""
    before, after = _shared_labels(old), _shared_labels(new)
    changed = [what for what in before if before[what] != after[what]]
    if changed:
        return {}, f"the new rows change the {', '.join(changed)} every throughput contrast is built on"
    old_sites, new_sites = _latent_sites(old), _latent_sites(new)
    old_coords, _ = coords_dims(old)
    new_coords, _ = coords_dims(new)
    known = {}
    for name, (shape, dims) in new_sites.items():
        if name not in old_sites:
            continue  # a new parameter: drawn from its prior
        old_shape, _ = old_sites[name]
        values = np.asarray(draws[name], np.float64)
        if old_shape == shape and (not dims or old_coords[dims[0]] == new_coords[dims[0]]):
            known[name] = (values, None)
            continue
        if not dims or len(dims) != 1 or len(shape) != 1 or dims[0] not in GROWABLE_DIMS:
            return {}, f"{name} changes shape {old_shape} -> {shape} along a dimension the base draws cannot be " \
                       "aligned on"
        old_labels, new_labels = list(old_coords[dims[0]]), list(new_coords[dims[0]])
        if not set(old_labels) <= set(new_labels):
            return {}, f"{name}: the new rows remove {dims[0]} labels"
        index = {label: i for i, label in enumerate(new_labels)}
        placed = np.zeros((values.shape[0], shape[0]))
        mask = np.zeros(shape[0], bool)
        for i, label in enumerate(old_labels):
            placed[:, index[label]] = values[:, i]
            mask[index[label]] = True
        known[name] = (placed, mask)
    return known, None


class _Fill(Messenger):
    """Latent sites take the base draw's values where ``known`` has them; the rest are drawn from their prior given
    the values upstream (outside :func:`numpyro.handlers.seed`, which has set each site's key by then)."""

    def __init__(self, fn, known: dict):
        self.known = known
        super().__init__(fn)

    def process_message(self, msg):
        if msg["type"] != "sample" or msg["is_observed"] or msg["name"] not in self.known:
            return
        values, mask = self.known[msg["name"]]
        if mask is None:
            msg["value"] = values
        else:
            fresh = msg["fn"](rng_key=msg["kwargs"]["rng_key"], sample_shape=msg["kwargs"]["sample_shape"])
            msg["value"] = jnp.where(mask, values, fresh)


def _extend(design: InfergyDesign, known: dict, key: jax.Array, n: int) -> tuple[dict, jax.Array, jax.Array]:
    """Every latent site of ``design`` per draw (``known`` values, the rest from their conditional prior), the log
    density of what was drawn (the proposal's part beyond the base posterior) and the joint model's log density
    (prior and likelihood) there; one compiled program."""
    args, kwargs = design.inputs, {**design.sizes, **design.observations}
    masks = {name: mask for name, (_, mask) in known.items()}

    def one(key, values):
        fill = {name: (values[name], masks[name]) for name in values}
        trace = handlers.trace(_Fill(handlers.seed(infergy_model, key), fill)).get_trace(*args, **kwargs)
        latents, log_q = {}, 0.0
        for name, site in trace.items():
            if site["type"] != "sample" or site["is_observed"]:
                continue
            latents[name] = site["value"]
            if name in masks and masks[name] is None:
                continue
            lp = site["fn"].log_prob(site["value"])
            log_q = log_q + jnp.sum(lp if name not in masks else jnp.where(masks[name], 0.0, lp))
        return latents, log_q, log_density(infergy_model, args, kwargs, latents)[0]

    values = {name: v for name, (v, _) in known.items()}
    return jax.jit(jax.vmap(one))(jax.random.split(key, n), values)


#: Newton's method for an operator's block: iterations at most, and the Newton decrement (the log density a full
#: step would still gain) below which a draw's mode is found.
BLOCK_NEWTON_ITERATIONS = 50
BLOCK_DECREMENT_TOL = 1e-8
#: The split-normal proposal's probes (in the Laplace's standard deviations) and the range of its side scales.
PROBE_SDS = (1.0, 2.0)
SPLIT_SCALE_RANGE = (0.1, 3.0)
#: Draws of an operator's block per draw of the rest (importance sampling squared).
BLOCK_PROPOSALS = 64
#: The most the two estimates of the draws' weights (Laplace's method and importance sampling) may differ in what
#: they make of any parameter's posterior mean, in its posterior standard deviations: about three times the Monte
#: Carlo error of a mean over 800 effective draws.
BLOCK_WEIGHTING_SHIFT = 0.1
#: Each draw's block chain: HMC moves (the first half adapt its step size, the second leave the conditional
#: posterior invariant), leapfrog steps per move, the step size it starts at (in the Laplace's standard deviations)
#: and the acceptance rate it adapts to.
LAYER_MOVES = 48
LAYER_LEAPFROG = 12
LAYER_STEP = 0.4
LAYER_ACCEPT = 0.75


def new_rows(old: pd.DataFrame, new: pd.DataFrame) -> np.ndarray:
    """Indices of the rows of ``new`` that ``old`` does not hold (rows compared on their shared columns, as a
    multiset: a repeated row is new as often as it is repeated beyond ``old``'s count)."""
    cols = [c for c in new.columns if c in old.columns]

    def cell(v) -> str:  # a number reads the same whatever its column's dtype (8 in one frame is 8.0 in another)
        if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)):
            return repr(float(v))
        return "nan" if v is None or v is pd.NA or v is pd.NaT else str(v)

    def keys(frame: pd.DataFrame) -> pd.Series:
        return pd.Series(["\x1f".join(map(cell, row)) for row in frame[cols].itertuples(index=False)], dtype=object)

    k_old, k_new = keys(old), keys(new)
    held = k_new.map(k_old.value_counts()).fillna(0).to_numpy()
    return np.flatnonzero(k_new.groupby(k_new).cumcount().to_numpy() >= held)


def _block(design: InfergyDesign, known: dict) -> list[tuple[str, np.ndarray | None, tuple]]:
    """The parameters the base draws do not supply: (site, its new elements' flat indices or None for all of a new
    site, the site's shape)."""
    block = []
    for name, (shape, _) in _latent_sites(design).items():
        if name not in known:
            block.append((name, None, shape))
        elif known[name][1] is not None:
            block.append((name, np.flatnonzero(~known[name][1]), shape))
    return block


def _block_laplace(design: InfergyDesign, latents: dict, block: list, tp_rows: np.ndarray, pw_rows: np.ndarray,
                   key: jax.Array) -> tuple[dict, dict, dict, dict]:
    """The new parameters (``block``) drawn, at each draw of the other parameters (``latents``, ``(S, ...)``), from
    their conditional posterior over the model restricted to the new rows (``tp_rows``, ``pw_rows``): its mode by
    damped Newton on the unconstrained scale, its Laplace approximation (refined to a split normal) the start and
    the coordinates of a short HMC chain whose last state is the draw's block. Returns the latents with the block
    drawn, the latents with the block at its mode, the log ratios to add to the full model's log density at the
    mode to get each draw's importance weight (before the base posterior's density is divided out) by Laplace's
    method (``"laplace"``) and by importance sampling from the split normal (``"importance"``), and diagnostics."""
    inputs, obs = design.rows_only(tp_rows, pw_rows)
    kwargs = {**design.sizes, **obs}
    trace = handlers.trace(handlers.seed(infergy_model, 0)).get_trace(*inputs, **kwargs)  # the rows-only model: cheap
    transforms = {name: biject_to(trace[name]["fn"].support) for name, _, _ in block}
    widths = [int(np.prod(shape)) if idx is None else idx.size for name, idx, shape in block]
    # each chain of Newton starts at the prior's mean (a scale's: its unconstrained image)
    start = jnp.concatenate([
        jnp.broadcast_to(transforms[name].inv(jnp.asarray(trace[name]["fn"].mean)), shape).reshape(-1)
        [slice(None) if idx is None else idx] for name, idx, shape in block])

    def place(values: dict, z: jax.Array) -> tuple[dict, jax.Array]:
        out, off, log_det = dict(values), 0, 0.0
        for (name, idx, shape), k in zip(block, widths):
            u = z[off:off + k]
            off += k
            c = transforms[name](u)
            log_det = log_det + jnp.sum(transforms[name].log_abs_det_jacobian(u, c))
            out[name] = c.reshape(shape) if idx is None else values[name].reshape(-1).at[idx].set(c).reshape(shape)
        return out, log_det

    def log_post(z, values):
        placed, log_det = place(values, z)
        return log_density(infergy_model, inputs, kwargs, placed)[0] + log_det

    values = {name: jnp.asarray(v) for name, v in latents.items()}
    n, d = next(iter(values.values())).shape[0], int(start.size)
    grad = jax.jit(jax.vmap(jax.value_and_grad(log_post)))
    hess = jax.jit(jax.vmap(jax.hessian(log_post)))
    value = jax.jit(jax.vmap(log_post))  # where no gradient is needed
    z, v, g, iterations, done = _newton(grad, hess, jnp.broadcast_to(start, (n, d)), values)
    w, vec = jnp.linalg.eigh(-hess(z, values))
    sd = 1.0 / jnp.sqrt(jnp.maximum(w, 1e-2))  # a direction curving the wrong way keeps a finite spread
    # split normal (Geweke 1989, Econometrica 57(6)): along each principal direction and side, the widest scale that
    # the log density's fall at 1 and 2 of the Laplace's standard deviations implies (a wall or a long flank there
    # is a narrower or wider side), so the proposal neither wastes draws past a wall nor misses a flank
    side = []
    for sign in (1.0, -1.0):
        scales = []
        for j in range(d):
            probe = []
            for delta in PROBE_SDS:
                v_at = value(z + sign * delta * vec[:, :, j] * sd[:, j:j + 1], values)
                fall = jnp.maximum(v - v_at, 1e-12)
                probe.append(delta / jnp.sqrt(2.0 * fall))
            scales.append(jnp.clip(jnp.max(jnp.stack(probe), axis=0), *SPLIT_SCALE_RANGE))
        side.append(jnp.stack(scales, axis=1))
    # importance sampling squared (Tran, Scharth, Pitt & Kohn 2014, arXiv:1309.3339): 2 x BLOCK_PROPOSALS draws of
    # the block per draw of the rest; their mean ratio estimates the new rows' marginal likelihood there (the check
    # on Laplace's estimate of the draw's weight). The full model's log density differs from the rows-only one's by
    # what does not depend on the block: it is evaluated once, at the mode.
    key_eps, key_pick = jax.random.split(key)
    c = 0.5 * d * np.log(2.0 * np.pi)

    def split_q(u):  # log density of the split normal, u: (n, K, d) in the Laplace's standard deviations
        scale = jnp.where(u >= 0, side[0][:, None], side[1][:, None])
        return jnp.sum(-0.5 * (u / scale) ** 2 - jnp.log(sd[:, None] * scale), axis=2) - c

    def evaluate(u):  # the rows-only log density at the mode + u, less the mode's: (n, K)
        z_u = z[:, None] + jnp.einsum("nij,nj,nkj->nki", vec, sd, u)
        return jnp.stack([value(z_u[:, k], values) for k in range(u.shape[1])], axis=1) - v[:, None]

    eps = jax.random.normal(key_eps, (n, 2 * BLOCK_PROPOSALS, d), dtype=z.dtype)
    u = eps * jnp.where(eps >= 0, side[0][:, None], side[1][:, None])
    log_r = evaluate(u) - split_q(u)
    # each draw's ratios Pareto-smoothed (a rare block draw far out on a ridge does not make its mean; the share of
    # draws whose k > 0.7 is reported)
    raw = np.asarray(log_r, np.float64)
    smoothed, inner_k = psis_log_weights(raw)
    low = np.argmin(raw, axis=1)[:, None]  # smoothing leaves the smallest ratio as it is: the normaliser from it
    log_mean = (np.take_along_axis(raw, low, 1) - np.take_along_axis(smoothed, low, 1))[:, 0] - np.log(raw.shape[1])
    # each draw's block: a short HMC chain on its conditional posterior, in the Laplace's coordinates, from a draw of
    # the split normal (the Laplace misses the curved ridge along which the new rows pin some directions fifteen
    # times tighter than others: a draw from it, or picked from a few hundred proposals, is too narrow there)
    eps0 = jax.random.normal(key_pick, (n, d), dtype=z.dtype)
    last, accept = _hmc_layer(grad, eps0 * jnp.where(eps0 >= 0, side[0], side[1]), z, vec, sd, values,
                              jax.random.fold_in(key_pick, 1))
    placed, _ = jax.vmap(place)(values, z + jnp.einsum("nij,nj->ni", vec, sd * last))
    mode, log_det_mode = jax.vmap(place)(values, z)
    # each draw's marginal likelihood of the new rows, less the rows-only density at the mode: by Laplace's method
    # (Tierney & Kadane 1986, JASA 81(393)) and by importance sampling; with the log Jacobian of the block's mode
    # (the full model's density there is on its own scale)
    log_ratio = {"laplace": jnp.sum(jnp.log(sd), axis=1) + c + log_det_mode,
                 "importance": jnp.asarray(log_mean) + log_det_mode}
    return placed, mode, log_ratio, {"iterations": iterations, "unconverged": int(np.sum(~done)), "dimensions": d,
                                     "inner_k_over": float(np.mean(inner_k > 0.7)), "accept": float(accept)}


def _newton(grad, hess, z: jax.Array, values: dict) -> tuple[jax.Array, jax.Array, jax.Array, int, np.ndarray]:
    """Damped, saddle-free Newton from ``z`` (``(n, d)``) to each draw's mode of the log density whose value and
    gradient ``grad`` and Hessian ``hess`` give (at ``values``): the modes, their log densities and gradients,
    the iterations taken and which draws converged."""
    n = z.shape[0]
    v, g = grad(z, values)
    iterations, done = 0, np.zeros(n, bool)
    for iterations in range(1, BLOCK_NEWTON_ITERATIONS + 1):
        w, vec = jnp.linalg.eigh(-hess(z, values))
        # saddle-free Newton: |curvature|, at least the prior's unit scale along a flat or convex direction
        step = jnp.einsum("nij,nj,nkj,nk->ni", vec, 1.0 / jnp.maximum(jnp.abs(w), 1.0), vec, g)
        # the Newton decrement: the log density a full step would still gain; a draw is at its mode below the
        # tolerance (the gradient itself is not scale-free: the new rows curve it by 1e4 and more)
        done = np.asarray(jnp.sum(g * step, axis=1)) < BLOCK_DECREMENT_TOL
        if done.all():
            break
        step = step * jnp.minimum(1.0, 3.0 / jnp.maximum(jnp.linalg.norm(step, axis=1, keepdims=True), 1e-30))
        step = jnp.where(done[:, None], 0.0, step)
        scale = jnp.ones((n, 1))
        for _ in range(8):  # backtracking: a draw takes its step once the log density does not fall
            v_try, g_try = grad(z + scale * step, values)
            ok = np.asarray(v_try >= v)
            if ok.all():
                break
            scale = jnp.where(ok[:, None], scale, 0.25 * scale)
        z = jnp.where(ok[:, None], z + scale * step, z)
        v, g = jnp.where(ok, v_try, v), jnp.where(ok[:, None], g_try, g)
    return z, v, g, iterations, done


def _hmc_layer(grad, u0: jax.Array, z: jax.Array, vec: jax.Array, sd: jax.Array, values: dict,
               key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """One HMC chain per draw on the block's conditional log density, whose value and gradient at every draw
    ``grad(z, values)`` gives (a jitted function: its program is traced once, here and wherever else it is used),
    in the Laplace's coordinates ``u`` (the block = ``z + vec @ (sd * u)``), started at ``u0``: its last state
    ``(n, d)`` and the second half's mean acceptance rate. Each chain's step size adapts in the first half (a
    multiplicative step toward the target acceptance rate), then stays, so the second half leaves the conditional
    posterior invariant."""
    def f_u(u, z, vec, sd, values):
        val, gz = grad(z + jnp.einsum("nij,nj->ni", vec, sd * u), values)
        return val, sd * jnp.einsum("nij,ni->nj", vec, gz)

    @jax.jit
    def run(u0, z, vec, sd, values, key):
        f0, g0 = f_u(u0, z, vec, sd, values)

        def move(carry, t):
            u, f, g, step, key = carry
            key, k_p, k_a, k_j = jax.random.split(key, 4)
            h = step * jax.random.uniform(k_j, step.shape, minval=0.8, maxval=1.2)  # no periodic orbits
            p = jax.random.normal(k_p, u.shape, u.dtype)

            def leapfrog(i, state):  # a loop, not unrolled: the model is traced once, not once per step
                q, r, _, _ = state
                q = q + h[:, None] * r
                fq, gq = f_u(q, z, vec, sd, values)
                return q, r + jnp.where(i < LAYER_LEAPFROG - 1, h, 0.5 * h)[:, None] * gq, fq, gq

            q, r, fq, gq = jax.lax.fori_loop(0, LAYER_LEAPFROG, leapfrog, (u, p + 0.5 * h[:, None] * g, f, g))
            log_a = (fq - 0.5 * jnp.sum(r ** 2, axis=1)) - (f - 0.5 * jnp.sum(p ** 2, axis=1))
            log_a = jnp.where(jnp.isfinite(log_a), jnp.minimum(log_a, 0.0), -jnp.inf)
            take = jnp.log(jax.random.uniform(k_a, f.shape, f.dtype)) < log_a
            u, f, g = jnp.where(take[:, None], q, u), jnp.where(take, fq, f), jnp.where(take[:, None], gq, g)
            adapting = t < LAYER_MOVES // 2
            step = jnp.where(adapting, step * jnp.exp(jnp.exp(log_a) - LAYER_ACCEPT), step)
            return (u, f, g, step, key), jnp.mean(jnp.exp(log_a))

        carry = (u0, f0, g0, jnp.full(f0.shape, LAYER_STEP, f0.dtype), key)
        (u, _, _, _, _), accept = jax.lax.scan(move, carry, jnp.arange(LAYER_MOVES))
        return u, jnp.mean(accept[LAYER_MOVES // 2:])

    return run(u0, z, vec, sd, values, key)


def _weighting_shift(latents: dict, first: tuple, second: tuple) -> float:
    """The largest difference between two weightings (:func:`_psis` results) of ``latents``' draws in any scalar's
    weighted mean, in its weighted standard deviations under ``first``."""
    x = np.concatenate([np.asarray(v, np.float64).reshape(v.shape[0], -1) for v in latents.values()], axis=1)

    def weights(result) -> np.ndarray:
        w = np.zeros(x.shape[0])
        w[result[0]] = np.exp(result[1])
        return w / w.sum()

    w1, w2 = weights(first), weights(second)
    m1, m2 = w1 @ x, w2 @ x
    sd = np.sqrt(np.maximum(w1 @ (x - m1) ** 2, 0.0))
    moving = sd > 0
    return float(np.max(np.abs(m1 - m2)[moving] / sd[moving])) if moving.any() else 0.0


def _log_joint(design: InfergyDesign, latents: dict) -> jax.Array:
    """The joint model's log density (prior and likelihood) at each draw of ``latents``."""
    args, kwargs = design.inputs, {**design.sizes, **design.observations}
    return jax.jit(jax.vmap(lambda p: log_density(infergy_model, args, kwargs, p)[0]))(latents)


def _all_sites(design: InfergyDesign, latents: dict) -> dict:
    """Latent and deterministic sites (what a fit's posterior holds) at each draw of ``latents``."""
    args, kwargs = design.inputs, {**design.sizes, **design.observations}

    def one(p):
        trace = handlers.trace(handlers.substitute(handlers.seed(infergy_model, 0), p)).get_trace(*args, **kwargs)
        return {name: site["value"] for name, site in trace.items()
                if (site["type"] == "deterministic" or (site["type"] == "sample" and not site["is_observed"]))
                and not name.startswith("_")}

    return {name: np.asarray(v) for name, v in jax.jit(jax.vmap(one))(latents).items()}


def _sites_and_predictive(design: InfergyDesign, posterior: dict, prior: dict, key: jax.Array):
    """Every site of the model at the latent draws ``posterior`` and ``prior`` (each ``(S, ...)`` per latent site),
    in one compiled program: ``(posterior sites (latent and deterministic), posterior predictive draws of the
    observed sites, prior sites (latent, deterministic and observed))``."""
    n = next(iter(posterior.values())).shape[0]
    both = {name: np.concatenate([v, prior[name]]) for name, v in posterior.items()}
    drawn = {**both, **predictive_draws(infergy_model, key, design.inputs, design.sizes, samples=both)}
    sites = {name: v[:n] for name, v in drawn.items() if name not in OBSERVED_SITES and not name.startswith("_")}
    ppc = {name: drawn[name][:n] for name in OBSERVED_SITES}
    return sites, ppc, {name: v[n:] for name, v in drawn.items()}


def _psis(log_w: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Pareto-smoothed importance weights of the finite ``log_w``: (which are finite, their normalised smoothed
    log weights, Pareto k, effective draws)."""
    from arviz_stats.base import array_stats

    finite = np.isfinite(log_w)
    # arviz-stats takes the negated log ratios (its LOO passes -log-likelihood) and returns normalised log weights
    smoothed, pareto_k = array_stats.psislw(-log_w[finite], r_eff=1.0)
    weights = np.exp(np.asarray(smoothed))
    return finite, np.asarray(smoothed), float(pareto_k), float(1.0 / np.sum(weights ** 2))


def _systematic(log_w: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Systematic resampling: ``n`` indices with each drawn in proportion to its weight (the least added noise)."""
    w = np.exp(log_w - log_w.max())
    cdf = np.cumsum(w / w.sum())
    cdf[-1] = 1.0
    return np.searchsorted(cdf, (rng.random() + np.arange(n)) / n)


def _sample_warm(design: InfergyDesign, latents: dict, cfg: UpdateConfig, key: jax.Array):
    """NUTS on the full model, chains started at base draws, in coordinates whitened by the base draws' mean and
    covariance on the unconstrained scale."""
    args, kwargs = design.inputs, {**design.sizes, **design.observations}

    def unconstrain(p):
        trace = handlers.trace(handlers.substitute(handlers.seed(infergy_model, 0), p)).get_trace(*args, **kwargs)
        return {name: biject_to(trace[name]["fn"].support).inv(v) for name, v in p.items()}

    u = jax.jit(jax.vmap(unconstrain))(latents)
    _, unravel = ravel_pytree(jax.tree.map(lambda v: v[0], u))
    x = np.asarray(jax.vmap(lambda d: ravel_pytree(d)[0])(u), np.float64)
    loc = x.mean(axis=0)
    w, v = np.linalg.eigh(np.cov(x, rowvar=False))
    floor = 1e-3 * float(np.median(w))  # a direction the base draws barely spread along keeps a usable scale
    floored = int(np.sum(w < floor))
    scale = (v * np.sqrt(np.maximum(w, floor))) @ v.T
    rng = np.random.default_rng(cfg.seed)
    starts = (x[rng.choice(x.shape[0], cfg.chains, replace=False)] - loc) @ np.linalg.inv(scale).T
    dtype = jnp.result_type(float)
    potential = jax.jit(lambda z: potential_energy(infergy_model, args, kwargs, unravel(z)))
    pre = Preconditioner(loc=jnp.asarray(loc, dtype), scale=jnp.asarray(scale, dtype), unravel=unravel,
                         sites=tuple(sorted(latents)), starts=jnp.asarray(starts, dtype),
                         metric="base posterior covariance", elbo_loss=float("nan"), floored=floored,
                         potential=potential)
    mcmc = nuts(pre.model(infergy_model), warmup=cfg.warmup, draws=cfg.draws, chains=cfg.chains,
                chain_method=resolve_chain_method("auto", cfg.chains), target_accept=cfg.target_accept,
                max_tree_depth=cfg.max_tree_depth, progress_bar=cfg.progress_bar)
    mcmc.run(key, *args, **kwargs, init_params=pre.init_params, extra_fields=("diverging", "energy", "num_steps"))
    by_chain = jax.device_get(jax.block_until_ready(mcmc.get_samples(group_by_chain=True)))
    by_chain.pop(WHITENED_SITE, None)
    return by_chain, _nuts_stats(mcmc, cfg.max_tree_depth)


def _base_draws(dt, names, group: str = "posterior") -> dict:
    """The base posterior's draws of ``names`` (in ``group``), chains stacked: ``(S, ...)``."""
    post = dt[group].to_dataset()
    return {name: np.asarray(post[name], np.float64).reshape(-1, *post[name].shape[2:]) for name in names}


def _base_prior(dt, names) -> dict | None:
    """The base's prior draws of ``names`` (``(S, ...)``), or None where it has none of some (a file written
    before the shipped posterior carried its prior)."""
    if "prior" not in dt.children or not set(names) <= set(dt["prior"].data_vars):
        return None
    return _base_draws(dt, names, "prior")


def update(extra, *, posterior=None, base_extra=(), config: UpdateConfig | None = None,
           thresholds: ReviewThresholds | None = None) -> UpdateResult:
    """The posterior given the base's data plus the rows in ``extra`` (user CSVs), from the base posterior
    (``posterior``: a file, default the shipped one, fitted to the shipped tables plus ``base_extra``)."""
    cfg = config or UpdateConfig()
    start = time.perf_counter()
    base = load_posterior(posterior)
    old_bundle = load(extra=base_extra)
    old = build_design(old_bundle)
    check_posterior(base, old_bundle, old)
    new_bundle = load(extra=(*base_extra, *extra))
    if new_bundle.content_hash == old_bundle.content_hash:
        raise ValueError("the added files bring no rows the base posterior was not fitted to")
    new = build_design(new_bundle)
    old_names = list(_latent_sites(old))
    base_draws = _base_draws(base, old_names)
    n = next(iter(base_draws.values())).shape[0]
    key_fill, key_fit, key_prior, key_ppc = jax.random.split(jax.random.PRNGKey(cfg.seed), 4)
    # the base's prior draws, extended like its posterior draws, are prior draws of the new model: no program that
    # draws every site afresh (the slowest of an update's programs to compile) is needed
    base_prior = _base_prior(base, old_names)
    m = 0 if base_prior is None else next(iter(base_prior.values())).shape[0]
    known, why = align(old, new, base_draws if base_prior is None else
                       {name: np.concatenate([v, base_prior[name]]) for name, v in base_draws.items()})
    pareto_k = ess = float("nan")
    prior_latents = None
    if why is None:
        with jax.enable_x64(True):  # the log densities are sums over thousands of rows: their difference needs doubles
            latents, log_q, log_p = _extend(new, known, key_fill, n + m)
            latents = {name: np.asarray(v) for name, v in latents.items()}
            if m:
                prior_latents = {name: v[n:] for name, v in latents.items()}
                latents = {name: v[:n] for name, v in latents.items()}
            log_old = np.asarray(_log_joint(old, base_draws), np.float64)
            log_w = np.asarray(log_p[:n], np.float64) - log_old - np.asarray(log_q[:n], np.float64)
            finite, smoothed, pareto_k, ess = _psis(log_w)
            raw = log_w
            reweight = pareto_k <= cfg.pareto_k_max and ess >= cfg.min_ess
            proposal = "the new parameters drawn from their prior given each draw"
            block = _block(new, known) if not reweight and cfg.path != "sampler" else []
            tp_new = new_rows(old.throughput.rows, new.throughput.rows) if block else np.zeros(0, int)
            pw_new = new_rows(old.power.rows, new.power.rows) if block else np.zeros(0, int)
            if tp_new.size or pw_new.size:
                # the new rows pin the new parameters: draw those from their conditional posterior instead
                drawn, mode, log_ratio, newton = _block_laplace(new, {k: v[:n] for k, v in latents.items()}, block,
                                                                tp_new, pw_new, jax.random.fold_in(key_fill, 1))
                log_mode = np.asarray(_log_joint(new, mode), np.float64) - log_old
                found = _psis(log_mode + np.asarray(log_ratio["laplace"]))
                checked = _psis(log_mode + np.asarray(log_ratio["importance"]))
                blocked = {k: np.asarray(v) for k, v in drawn.items()}
                shift = _weighting_shift({**latents, **blocked}, found, checked)
                laplace = (f"drawn from their conditional posterior at each draw ({newton['dimensions']} dimensions; "
                           f"Newton on the {tp_new.size} throughput and {pw_new.size} power rows that are new: "
                           f"{newton['iterations']} iterations, {newton['unconverged']} draws unconverged; then "
                           f"{LAYER_MOVES} HMC moves, acceptance {newton['accept']:.2f}); each draw weighted by the "
                           f"new rows' marginal likelihood there by Laplace's method, which importance sampling "
                           f"({2 * BLOCK_PROPOSALS} block draws per draw; {newton['inner_k_over']:.0%} of draws with "
                           f"their ratios' Pareto k > 0.7) moves no posterior mean by more than {shift:.3f} sd")
                if found[2] <= pareto_k:
                    proposal = (f"{laplace}; from their prior, Pareto k {pareto_k:.2f} with {ess:.0f} effective "
                                "draws")
                    finite, smoothed, pareto_k, ess = found
                    raw = log_mode + np.asarray(log_ratio["laplace"])
                    # the sampler, if it comes to that, starts from and is whitened by these draws
                    latents.update(blocked)
                    agree = shift <= BLOCK_WEIGHTING_SHIFT
                    reweight = pareto_k <= cfg.pareto_k_max and ess >= cfg.min_ess and agree
                    if not agree:
                        proposal += (f"; the two estimates of the draws' weights disagree (more than "
                                     f"{BLOCK_WEIGHTING_SHIFT} sd)")
                else:
                    proposal += f" (from {laplace}: Pareto k {found[2]:.2f})"
        if reweight:
            why = f"Pareto k {pareto_k:.2f} <= {cfg.pareto_k_max} and {ess:.0f} effective draws"
        elif pareto_k <= cfg.pareto_k_max and ess >= cfg.min_ess:
            why = (f"Pareto k {pareto_k:.2f} and {ess:.0f} effective draws, but the new parameters' conditional "
                   "posterior is too far from its approximation for each draw's weight to be trusted")
        else:
            why = (f"Pareto k {pareto_k:.2f} (needs <= {cfg.pareto_k_max}) or {ess:.0f} effective draws (needs >= "
                   f"{cfg.min_ess:g}): the new rows move the posterior too far for reweighting")
        why += f"; {proposal}"
    else:
        reweight = False
    if cfg.progress_bar:
        print(f"infergy update: {why}", flush=True)
    aligned = np.isfinite(pareto_k)
    if not aligned:
        if cfg.path == "reweight":
            raise ValueError(f"cannot reweight: {why}")
        # nothing of the base posterior carries over: a short fit from the variational start
        from .fit import fit

        result = fit(new_bundle, config=FitConfig(chains=cfg.chains, warmup=cfg.warmup, draws=cfg.draws,
                                                  seed=cfg.seed, target_accept=cfg.target_accept,
                                                  max_tree_depth=cfg.max_tree_depth, prior_draws=cfg.prior_draws,
                                                  progress_bar=cfg.progress_bar), thresholds=thresholds)
        result.datatree.attrs.update({"update_path": "sampler", "update_reason": why})
        return UpdateResult(datatree=result.datatree, review=result.review, design=new, path="sampler",
                            reason=f"{why}: a short fit from the variational start", pareto_k=pareto_k, ess=ess,
                            seconds=time.perf_counter() - start, config=cfg)
    path = cfg.path if cfg.path != "auto" else ("reweight" if reweight else "sampler")
    chains, kept = base["posterior"].sizes["chain"], base["posterior"].sizes["draw"]
    prior = ppc = None
    if path == "reweight":
        # every site at every base draw: the review weighs these draws; the posterior kept is their resample
        if prior_latents is None:
            sites = _all_sites(new, latents)
        else:  # one program: the deterministic sites and predictive draws of the posterior and the prior draws
            sites, ppc, prior = _sites_and_predictive(new, latents, prior_latents, key_ppc)
        by_chain = {name: v.reshape(chains, kept, *v.shape[1:]) for name, v in sites.items()}
        stats, library = {}, "infergy (PSIS reweighting of the base posterior)"
    else:
        by_chain, stats = _sample_warm(new, {name: v.astype(np.float32) for name, v in latents.items()}, cfg,
                                       key_fit)
        chains, kept, library = cfg.chains, cfg.draws, "numpyro"
    seconds = time.perf_counter() - start
    dt = posterior_datatree(new, by_chain, stats, key_prior=key_prior, key_ppc=key_ppc, prior_draws=cfg.prior_draws,
                            library=library.split(" ")[0], prior=prior, ppc=ppc)
    if path == "reweight":
        raw = np.where(finite, raw, -np.inf)
        review = _reweight_review(dt, new, base, pareto_k, ess, cfg, thresholds, raw)
        idx = np.flatnonzero(finite)[_systematic(smoothed, n, np.random.default_rng(cfg.seed))]
        # a base draw resampled twice keeps its one predictive draw twice: the predictive of the weighted draws
        for group in ("posterior", "log_likelihood", "posterior_predictive"):
            dt[group] = xr.DataTree(_resampled(dt[group].to_dataset(), idx))
        dt.attrs["inference_method"] = library
    wl_names = [v for v in base["posterior"].data_vars if str(v).startswith("wl_")]
    same_lengths = old_bundle.tables["request_lengths"].equals(new_bundle.tables["request_lengths"])
    wl = wl_prior = None
    if same_lengths and chains * kept <= n:  # the workload posterior factorises: any of the base's draws will do
        wl = {name: v[: chains * kept].reshape(chains, kept, *v.shape[1:])
              for name, v in _base_draws(base, wl_names).items()}
        wl_prior = _base_prior(base, wl_names)
    add_workload(dt, new, new_bundle.tables["request_lengths"], warmup=cfg.warmup, seed=cfg.seed,
                 key_prior=key_prior, prior_draws=cfg.prior_draws, draws=wl, prior=wl_prior,
                 max_tree_depth=cfg.max_tree_depth)
    if path == "reweight":
        # the draws are the base fit's, resampled: what shows how far to trust them is the weights, not chains
        placed = np.full(finite.shape, -np.inf)
        placed[finite] = np.asarray(smoothed)
        dt[IMPORTANCE_WEIGHTS_GROUP] = xr.DataTree(xr.Dataset(
            {"log_weight": ("base_draw", placed)}, attrs={"pareto_k": pareto_k, "ess": ess}))
    else:
        review = review_joint(dt, new, seed=cfg.seed, thresholds=thresholds)
    dt.attrs.update({**provenance(new_bundle, new), "update_path": path, "update_reason": why,
                     "update_pareto_k": pareto_k, "update_ess": ess, "update_config": json.dumps(asdict(cfg)),
                     "base_design_hash": str(base.attrs.get("design_hash", "")), "fit_seconds": seconds,
                     "review": review.to_json()})
    return UpdateResult(datatree=dt, review=review, design=new, path=path, reason=why, pareto_k=pareto_k, ess=ess,
                        seconds=time.perf_counter() - start, config=cfg)


def _resampled(ds: xr.Dataset, idx: np.ndarray) -> xr.Dataset:
    """``ds``'s draws (chain, draw, ...) at the flat indices ``idx`` (as many as its draws), in its shape."""
    def pick(v: xr.DataArray) -> xr.DataArray:
        values = np.asarray(v)
        return v.copy(data=values.reshape(-1, *values.shape[2:])[idx].reshape(values.shape))

    return ds.map(pick, keep_attrs=True)


def _reweight_review(dt, design: InfergyDesign, base, pareto_k: float, ess: float, cfg: UpdateConfig,
                     thresholds: ReviewThresholds | None, raw_log_w: np.ndarray) -> FitReview:
    """The weights' diagnostics, the base fit's convergence checks (its draws are the ones reweighted) and the
    updated posterior's predictive checks on the base draws (``dt``) weighted by their log ratios ``raw_log_w``:
    leave-one-out of resampled draws would smooth ties."""
    th = thresholds or ReviewThresholds()
    checks = [ReviewCheck("update: Pareto k of the weights", pareto_k, f"<= {cfg.pareto_k_max}",
                          pareto_k <= cfg.pareto_k_max, "PSIS of the base draws"),
              ReviewCheck("update: effective draws", ess, f">= {cfg.min_ess:g}", ess >= cfg.min_ess)]
    for c in review_of(base).get("checks", []):
        if c["name"] in ("max R-hat", "min bulk ESS", "min tail ESS", "divergences", "min energy BFMI"):
            checks.append(ReviewCheck(f"base fit: {c['name']}", c["value"], c["threshold"], c["passed"],
                                      c.get("detail", "")))
    checks += review_joint(dt, design, seed=cfg.seed, thresholds=th, convergence=False,
                           draw_log_ratio=raw_log_w).checks
    return FitReview(tuple(checks), th)
