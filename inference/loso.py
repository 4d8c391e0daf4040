"""Leave one production source out: refit the joint model without every row one source contributes and predict
them, beside the prior predictive of the same rows.

The production operating point (batch, engine level, host ratio, idle share) is informed by a few independent
sources -- an operator's disclosure and breakdown, another's per-query figure, each API provider's measured
speeds. A check that keeps a source in the fit cannot fail on it; this one refits without it, so each left-out row
is predicted as an unseen operator's or provider's would be (its latent population, boundary share and hardware
drawn from their priors), and the prior predictive shows how much the rest of the data narrowed it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from ..model.joint import OBSERVATION_VIEWS, build_design, infergy_model
from .fit import FitConfig
from .precondition import WHITENED_SITE, precondition
from .samplers import nuts

__all__ = ["DISCLOSERS", "SOURCE_SITES", "SourceRow", "production_sources", "leave_source_out"]

#: Who published a per-query disclosure, by keywords of its system and source (an operator's own figure).
DISCLOSERS = {"Google": ("Google", "Gemini"), "OpenAI": ("OpenAI", "ChatGPT")}
#: The likelihoods of production data: the observed site of each, and the keep-mask key it takes.
_SITES = {"prod": "prod_obs", "share": "share_obs", "api": "api_obs", "service": "service_obs"}
#: The observed sites whose rows the refits judge.
SOURCE_SITES = tuple(_SITES.values())


@dataclass(frozen=True)
class SourceRow:
    source: str
    row: str  # the row's id
    what: str
    unit: str
    observed: float
    median: float  # left-out predictive (fitted without the source)
    low_90: float
    high_90: float
    prior_low_90: float  # prior predictive
    prior_high_90: float
    inside_90: bool
    narrowing: float  # width of the left-out 90% interval over the prior predictive's (on the fitted scale)
    seconds: float  # the source's refit


def _discloser(row) -> str:
    text = " ".join(str(row[c]) for c in ("model_or_system", "source") if c in row and row[c] == row[c])
    for name, keys in DISCLOSERS.items():
        if any(k in text for k in keys):
            return name
    raise ValueError(f"production row {row['id']} names no known discloser ({', '.join(DISCLOSERS)}): add it to "
                     "DISCLOSERS")


def production_sources(design) -> dict[str, dict[str, np.ndarray]]:
    """Each independent production source and the rows it contributes, per likelihood (``prod``: disclosures,
    ``share``: energy breakdowns, ``api``: API speeds, ``service``: a service's stated rates): True where the row is
    the source's."""
    prod = design.production
    who = {"prod": np.array([_discloser(r) for _, r in prod.rows.iterrows()], dtype=object),
           "share": (np.asarray(prod.share_rows["operator"].astype(str), dtype=object) if prod.share_rows is not None
                     else np.array([], dtype=object)),
           "api": (np.asarray(prod.api_rows["provider"].astype(str), dtype=object) if prod.api_rows is not None
                   else np.array([], dtype=object)),
           "service": (np.asarray(prod.service_rows["operator"].astype(str), dtype=object)
                       if prod.service_rows is not None else np.array([], dtype=object))}
    names = list(dict.fromkeys(name for rows in who.values() for name in rows))
    return {name: {kind: rows == name for kind, rows in who.items()} for name in names}


def _row_labels(design, kind: str) -> tuple[list[str], list[str]]:
    """Each row's id and a short description."""
    prod = design.production
    if kind == "prod":
        rows, what = prod.rows, lambda r: f"{r['model_or_system']}, {r['boundary']}"
    elif kind == "share":
        rows, what = prod.share_rows, lambda r: f"{r['operator']} {r['component']} share"
    elif kind == "api":
        rows, what = prod.api_rows, lambda r: f"{r['provider']} {r['model']} speed"
    else:
        rows, what = prod.service_rows, lambda r: f"{r['operator']} {r['quantity']} at its stated load"
    return list(rows["id"].astype(str)), [what(r) for _, r in rows.iterrows()]


def _predictive(key, samples: dict | None, design, kwargs: dict, num_samples: int | None) -> dict:
    from .fit import predictive_draws

    return predictive_draws(infergy_model, key, design.inputs, kwargs, samples=samples, num_samples=num_samples,
                            return_sites=[_SITES[k] for k in _SITES if design.n_rows[_SITES[k]]])


def leave_source_out(bundle=None, sources=None, *, chains: int = 2, warmup: int = 300, draws: int = 300,
                     seed: int = 0, init_steps: int = 2000, prior_draws: int = 1000, progress=None
                     ) -> list[SourceRow]:
    """For each of ``sources`` (default: every one in :func:`production_sources`), refit without its rows and
    return each of them against its left-out and prior 90% predictive intervals."""
    from ..data import load

    bundle = bundle if bundle is not None else load()
    design = build_design(bundle)
    found = production_sources(design)
    sources = list(sources or found)
    unknown = [s for s in sources if s not in found]
    if unknown:
        raise ValueError(f"no production source {unknown}; the sources are: {', '.join(found)}")
    observed = design.observed
    key_prior = jax.random.PRNGKey(seed + 10_000)
    prior = _predictive(key_prior, None, design, design.sizes, prior_draws)
    out = []
    for i, name in enumerate(sources):
        start = time.perf_counter()
        keep = {kind: jnp.asarray(~rows) for kind, rows in found[name].items() if rows.size}
        kwargs = {**design.sizes, **design.observations, "keep": keep}
        key_init, key_fit, key_pred = jax.random.split(jax.random.PRNGKey(seed + i), 3)
        pre = precondition(infergy_model, design.inputs, kwargs, key_init, chains, init_steps)
        mcmc = nuts(pre.model(infergy_model), warmup=warmup, draws=draws, chains=chains,
                    target_accept=FitConfig.target_accept)
        mcmc.run(key_fit, *design.inputs, **kwargs, init_params=pre.init_params)
        samples = mcmc.get_samples()
        samples.pop(WHITENED_SITE, None)
        pred = _predictive(key_pred, samples, design, design.sizes, None)  # a mask does not change a draw
        seconds = time.perf_counter() - start
        for kind, rows in found[name].items():
            if not rows.any():
                continue
            site = _SITES[kind]
            view = OBSERVATION_VIEWS[site]  # the unit, and the map from the fitted scale to it
            ids, whats = _row_labels(design, kind)
            for j in np.flatnonzero(rows):
                y = float(np.asarray(observed[site])[j])
                lo, med, hi = np.quantile(np.asarray(pred[site])[:, j], [0.05, 0.5, 0.95])
                plo, phi = np.quantile(np.asarray(prior[site])[:, j], [0.05, 0.95])
                out.append(SourceRow(name, ids[j], whats[j], view.unit,
                                     *(float(view.natural(v)) for v in (y, med, lo, hi, plo, phi)),
                                     bool(lo <= y <= hi), float((hi - lo) / (phi - plo)), seconds))
        if progress:
            inside = [r.inside_90 for r in out if r.source == name]
            progress(f"{name}: {sum(inside)}/{len(inside)} rows inside the left-out 90% interval ({seconds:.0f} s)")
    return out
