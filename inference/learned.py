"""What the data taught the model: prior and posterior predictive draws of every table, each row's calibration,
and prior against posterior for the quantities every answer rests on. Plain arrays out (the report draws them)."""

from __future__ import annotations

from typing import NamedTuple

import jax
import numpy as np

from ..model.joint import LEARNED_SITES, OBSERVATION_VIEWS, OBSERVED_SITES, InfergyDesign, build_design, \
    infergy_model
from ..model.power import power_curve
from ..model.production import production_load
from ..model.pue import fleet_pue
from ..model.throughput import gpu_effects, serving_efficiencies
from .fit import predictive_draws

__all__ = ["Predictive", "calibration", "predictive", "prior_vs_posterior"]

#: Batch sizes of the power-curve panel.
CURVE_BATCH = np.geomspace(1, 1024, 60)


class Predictive(NamedTuple):
    """Prior draws of :data:`~infergy.model.joint.LEARNED_SITES`, posterior predictive draws of every observed
    site, and the observations, for one design."""

    design: InfergyDesign
    prior: dict
    ppc: dict
    observed: dict


def predictive(draws: dict, bundle, seed: int, prior_draws: int = 1000) -> Predictive:
    """Prior draws and posterior predictive draws of every table from flattened posterior ``draws``."""
    design = build_design(bundle)
    k_prior, k_ppc = jax.random.split(jax.random.PRNGKey(seed))
    prior = predictive_draws(infergy_model, k_prior, design.inputs, design.sizes, num_samples=prior_draws,
                             return_sites=list(LEARNED_SITES))
    ppc = predictive_draws(infergy_model, k_ppc, design.inputs, design.sizes,
                           samples={k: np.asarray(v) for k, v in draws.items()}, return_sites=list(OBSERVED_SITES))
    return Predictive(design, prior, ppc, design.observed)


def calibration(pred: Predictive) -> list[dict]:
    """Per observed site: each row in natural units with its predictive median and 90% interval, and the share of
    rows inside that interval (in-sample)."""
    panels = []
    for site, view in OBSERVATION_VIEWS.items():
        y = np.asarray(pred.observed[site], np.float64)
        draws = np.asarray(pred.ppc[site], np.float64).reshape(-1, len(y))
        lo, med, hi = np.quantile(draws, [0.05, 0.5, 0.95], axis=0)
        cover = float(np.mean((y >= lo) & (y <= hi)))
        f = view.natural
        panels.append({"site": site, "title": view.title, "unit": view.unit, "observed": f(y), "median": f(med),
                       "p05": f(lo), "p95": f(hi), "coverage": cover, "log": view.log_axis})
    return panels


def prior_vs_posterior(draws: dict, coords: dict, prior: dict) -> dict:
    """Prior against posterior for the serving efficiencies, the bandwidth share per GPU type, the power curve, a
    hyperscale fleet's PUE and the production load."""
    rng = np.random.default_rng(0)
    post_b, prior_b = gpu_effects(draws), gpu_effects(prior)
    order = np.argsort(np.median(post_b, 0))
    gpu = {"labels": [coords["gpu"][i] for i in order], "median": np.median(post_b, 0)[order],
           "posterior": np.quantile(post_b, [0.05, 0.95], axis=0)[:, order],
           "prior": np.quantile(prior_b, [0.05, 0.95], axis=0)[:, order]}
    lb = np.log(CURVE_BATCH)
    posterior_bands = {g: np.quantile(power_curve(draws, lb, i), [0.05, 0.5, 0.95], axis=0)
                       for i, g in enumerate(coords["power_gpu"])}
    prior_band = np.quantile(power_curve(prior, lb, 0), [0.05, 0.5, 0.95], axis=0)

    def pue(d: dict) -> np.ndarray:
        n = len(next(iter(d.values())))
        z_operator = rng.normal(size=n)
        return fleet_pue(d, z_operator, rng.normal(size=n))

    post_s, prior_s = serving_efficiencies(draws, coords), serving_efficiencies(prior, coords)
    serving = {name: {"median": float(np.median(v)), "posterior": np.quantile(v, [0.05, 0.95]),
                      "prior": np.quantile(prior_s[name], [0.05, 0.95])} for name, v in post_s.items()}
    return {"gpu_effects": gpu, "serving": serving,
            "power": {"batch": CURVE_BATCH, "posterior": posterior_bands, "prior": (prior_band[0], prior_band[2])},
            "pue": {"prior": pue(prior), "posterior": pue(draws)},
            "batch": {"prior": production_load(prior), "posterior": production_load(draws)}}
