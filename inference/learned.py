"""What the data taught the model: prior and posterior predictive draws of every table, each row's calibration,
prior against posterior for the quantities every answer rests on (the report draws them), and each parameter
group's contraction, posterior sd over prior sd (``infergy learned``)."""

from __future__ import annotations

from typing import NamedTuple

import jax
import numpy as np

from ..model.joint import LEARNED_SITES, OBSERVATION_VIEWS, OBSERVED_SITES, PER_ROW_LATENTS, SITE_PREFIX_DATA, \
    InfergyDesign, build_design, infergy_model
from ..model.power import power_curve
from ..model.production import OPERATING_POINT_DECIDERS, production_load
from ..model.pue import fleet_pue
from ..model.throughput import gpu_effects, serving_efficiencies, unread_elements
from .fit import predictive_draws

__all__ = ["Predictive", "calibration", "contraction", "length_panels", "predictive", "prior_vs_posterior"]

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


#: Posterior sd / prior sd at or below this: the data decided the parameter; above PRIOR_RATIO it is its prior.
LEARNED_RATIO = 0.5
PRIOR_RATIO = 0.9


def _element_labels(dt, site: str) -> list[str]:
    """A label per element of ``site``'s draws (its coordinates, joined), or the site's name for a scalar."""
    da = dt["posterior"][site]
    dims = da.dims[2:]
    if not dims:
        return [site]
    axes = [[str(v) for v in np.asarray(dt["posterior"][d])] if d in dt["posterior"].coords
            else [str(i) for i in range(n)] for d, n in zip(dims, da.shape[2:])]
    return [f"{site}[{', '.join(parts)}]" for parts in np.array(np.meshgrid(*axes, indexing="ij")).reshape(
        len(axes), -1).T.tolist()]


def contraction(dt, bundle=None, *, prior_draws: int = 1000, seed: int = 0) -> dict:
    """For every parameter group of posterior ``dt`` (per-row latents aside): prior sd and posterior sd of each
    element, their ratio, which data informed it, and a verdict (``learned``: ratio <= 0.5; ``prior``: > 0.9;
    else ``partly``). Elements with no prior spread (a reference level fixed at 0) and elements no likelihood
    reads are left out. The production operating point's sites say what would decide them."""
    from ..data import load

    if prior_draws < 2:
        raise ValueError(f"prior_draws must be >= 2 to estimate a spread, got {prior_draws}")
    bundle = bundle if bundle is not None else load()
    design = build_design(bundle)
    post = dt["posterior"]
    sites = [name for name in post.data_vars
             if name not in OBSERVED_SITES and name not in PER_ROW_LATENTS and not name.startswith("_")]
    prior = predictive_draws(infergy_model, jax.random.PRNGKey(seed), design.inputs, design.sizes, num_samples=prior_draws,
                             return_sites=[x for x in sites if not x.startswith("wl_")])
    workload_sites = [x for x in sites if x.startswith("wl_")]
    if workload_sites:  # the workload model is its own (its parameters share nothing with the joint model's)
        from ..model.workload import workload_model

        prior.update(predictive_draws(workload_model, jax.random.fold_in(jax.random.PRNGKey(seed), 1), (), {},
                                      num_samples=prior_draws,
                                      return_sites=workload_sites))
    unused = unread_elements(design.throughput)
    groups = []
    for site in sites:
        if site not in prior:
            continue
        p = np.asarray(post[site], np.float64)
        p = p.reshape(p.shape[0] * p.shape[1], -1)
        q = np.asarray(prior[site], np.float64).reshape(prior_draws, -1)
        if q.shape[1] != p.shape[1]:
            continue
        sd_post, sd_prior = p.std(0, ddof=1), q.std(0, ddof=1)
        keep = sd_prior > 1e-9 * np.maximum(1.0, np.abs(q).max(0))
        keep &= ~unused.get(site, np.zeros(p.shape[1], bool))
        if not keep.any():
            continue
        labels = _element_labels(dt, site)
        ratio = sd_post[keep] / sd_prior[keep]
        median = float(np.median(ratio))
        verdict = "learned" if median <= LEARNED_RATIO else "prior" if median > PRIOR_RATIO else "partly"
        group = {"site": site, "informed_by": next(v for k, v in SITE_PREFIX_DATA.items() if site.startswith(k)),
                 "elements": int(keep.sum()), "ratio_median": median, "ratio_max": float(ratio.max()),
                 "verdict": verdict,
                 "by_element": [{"label": lab, "prior_sd": float(a), "posterior_sd": float(b), "ratio": float(b / a)}
                                for lab, a, b in zip(np.asarray(labels)[keep], sd_prior[keep], sd_post[keep])]}
        if site in OPERATING_POINT_DECIDERS:
            group["would_decide"] = OPERATING_POINT_DECIDERS[site] if median > LEARNED_RATIO else None
        groups.append(group)
    return {"groups": groups, "prior_draws": prior_draws, "seed": seed,
            "thresholds": {"learned": LEARNED_RATIO, "prior": PRIOR_RATIO},
            "posterior": {"data_hash": str(dt.attrs.get("data_hash", "")),
                          "version": str(dt.attrs.get("infergy_version", ""))}}


def length_panels(draws: dict, traces, seed: int, queries_per_draw: int = 40) -> list[dict]:
    """Per traced workload, its prompts and answers beside the posterior predictive's (every draw's mixture,
    ``queries_per_draw`` requests each): the workload model's check against the traces it was fitted to."""
    from ..model.workload import REGIME_WORKLOAD, draw_lengths, draw_output, length_mixture

    panels = []
    for i, (regime, workload) in enumerate((r, w) for r, w in REGIME_WORKLOAD.items() if r != "reasoning"):
        p = {k: np.asarray(v, np.float32) for k, v in length_mixture(draws, regime, traces).items()}
        key_in, key_out = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(seed), i))
        component, prompt = draw_lengths(p, key_in, (p["len_log_w"].shape[0], queries_per_draw))
        answer = draw_output(p, key_out, component)
        rows = traces[traces["workload"] == workload]
        panels += [{"title": f"{workload} trace: prompt tokens", "observed": rows["input_tokens"].to_numpy(),
                    "predicted": np.asarray(prompt).ravel()},
                   {"title": f"{workload} trace: answer tokens", "observed": rows["output_tokens"].to_numpy(),
                    "predicted": np.asarray(answer).ravel()}]
    return panels
