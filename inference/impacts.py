"""Fit, check, ship and load the carbon and water posterior (:mod:`infergy.model.impacts`).

It is a posterior of its own, beside the energy posterior: the two share no parameter and no data, so the joint
posterior is their product and each is refitted only when its own tables change. The shipped copy
(``impacts_posterior.nc``) records the hash of the carbon and water tables; answers refuse a copy fitted to other
tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["IMPACTS_POSTERIOR", "ImpactPosterior", "fit_impacts", "load_impact_posterior", "write_impact_posterior"]

IMPACTS_POSTERIOR = Path(__file__).with_name("impacts_posterior.nc")
#: What the review requires of the fit (the energy posterior's own thresholds).
MAX_RHAT, MIN_ESS = 1.01, 400


@dataclass
class ImpactPosterior:
    """The flattened draws of the carbon and water sub-model, with its design and tables."""

    draws: dict[str, np.ndarray]
    design: object  # ImpactDesign
    data: object  # ImpactData
    attrs: dict

    @property
    def n_draws(self) -> int:
        return len(self.draws["ci_m"])


def fit_impacts(data=None, *, chains: int = 4, warmup: int = 1000, draws: int = 2000, seed: int = 0,
                target_accept: float = 0.95,
                progress: bool = False):
    """NUTS fit of :func:`~infergy.model.impacts.impact_model`; returns a DataTree (posterior with each zone's
    drawn level and trend, sample stats) whose attributes hold the data hash and the review."""
    import arviz as az
    import jax
    from numpyro.infer import MCMC, NUTS

    from ..data.impacts import load_impacts
    from ..model.impacts import build_impact_design, impact_model
    from .version import package_version

    data = data if data is not None else load_impacts()
    design = build_impact_design(data)
    n_dev = jax.local_device_count()
    mcmc = MCMC(NUTS(impact_model, target_accept_prob=target_accept), num_warmup=warmup, num_samples=draws,
                num_chains=chains, chain_method="parallel" if n_dev >= chains else "sequential",
                progress_bar=progress)
    mcmc.run(jax.random.PRNGKey(seed), design, extra_fields=("diverging",))
    # each zone's spread is kept, its raw coordinate and log-likelihood are not (they would double the file);
    # levels and trends are drawn on loading (draw_zone_effects, from the fit's seed)
    samples = {k: np.asarray(v) for k, v in mcmc.get_samples(group_by_chain=True).items()
               if k not in ("ci_log_s_raw", "ci_loglik_zone")}
    dims = {"ci_s": ["zone"],
            "ci_z_country": ["country"], "ci_z_continent": ["continent"], "ci_z_trend_continent": ["continent"],
            "wue_m_scope": ["wue_scope"], "wue_z_operator": ["wue_operator"], "wue_e_operator": ["wue_operator"]}
    from ..data.impacts import CONTINENTS, WUE_SCOPES

    coords = {"zone": list(design.zones), "country": list(design.countries), "continent": list(CONTINENTS),
              "wue_scope": list(WUE_SCOPES), "wue_operator": list(design.wue_operators)}
    divergent = np.asarray(mcmc.get_extra_fields(group_by_chain=True)["diverging"])
    dt = az.from_dict({"posterior": samples, "sample_stats": {"diverging": divergent}}, dims=dims, coords=coords)
    review = review_impacts(dt)
    dt.attrs.update({"data_hash": data.content_hash, "infergy_version": package_version(), "seed": seed,
                     "chains": chains, "warmup": warmup, "draws": draws, "target_accept": target_accept, **review})
    return dt


def review_impacts(dt) -> dict:
    """Largest R-hat, smallest bulk and tail ESS over the sampled parameters, divergences, and a verdict."""
    import arviz as az

    post = dt["posterior"].to_dataset()
    sampled = post[[v for v in post.data_vars if v not in ("ci_s", "wue_e_operator")]]
    rhat = az.rhat(sampled)
    bulk, tail = az.ess(sampled, method="bulk"), az.ess(sampled, method="tail")
    worst = lambda ds, f: float(f([float(f(ds[v].values)) for v in ds.data_vars]))  # noqa: E731
    out = {"max_rhat": worst(rhat, np.max), "min_ess_bulk": worst(bulk, np.min), "min_ess_tail": worst(tail, np.min),
           "divergences": int(np.asarray(dt["sample_stats"]["diverging"]).sum())}
    out["review_passed"] = int(out["max_rhat"] <= MAX_RHAT and min(out["min_ess_bulk"], out["min_ess_tail"]) >= MIN_ESS
                               and out["divergences"] == 0)
    return out


def write_impact_posterior(dt, path: str | Path = IMPACTS_POSTERIOR, draws: int = 1000) -> Path:
    from .posterior import write_shipped_posterior

    return write_shipped_posterior(dt, path, draws)


_LOADED: dict[str, ImpactPosterior] = {}


def load_impact_posterior(path: str | Path | None = None, data=None) -> ImpactPosterior:
    """The carbon and water posterior (the shipped one by default), checked against the tables' hash."""
    from ..data.impacts import load_impacts
    from ..model.impacts import build_impact_design, draw_zone_effects
    from .posterior import PosteriorMismatchError, load_posterior

    data = data if data is not None else load_impacts()
    path = Path(path) if path is not None else IMPACTS_POSTERIOR
    key = f"{path.resolve()}:{data.content_hash}"
    if key in _LOADED:
        return _LOADED[key]
    dt = load_posterior(path)
    if dt.attrs.get("data_hash") != data.content_hash:
        raise PosteriorMismatchError(
            f"{path.name}: fitted to carbon and water tables {str(dt.attrs.get('data_hash'))[:12]}, the tables now "
            f"hash to {data.content_hash[:12]}: refit with `infergy fit-impacts`")
    post = dt["posterior"].to_dataset()
    draws = {k: np.asarray(v.values, np.float64).reshape(-1, *v.shape[2:]) for k, v in post.data_vars.items()}
    design = build_impact_design(data)
    draws["ci_a"], draws["ci_b"] = draw_zone_effects(draws, design, int(dt.attrs.get("seed", 0)))
    _LOADED[key] = out = ImpactPosterior(draws, design, data, dict(dt.attrs))
    return out
