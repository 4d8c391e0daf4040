"""PUE sub-model: hierarchical over operators, with scopes kept apart.

    log(PUE - 1)_i ~ Normal(m[scope] + e[operator], sigma[kind])   e ~ Normal(0, tau_operator)

``kind`` separates single sites (and design targets) from averages over a fleet or an industry survey: an
average over many sites varies far less from year to year than one site does from another (Microsoft's sites:
1.11-1.43; Google's fleet: 1.09-1.10 over three years). One shared scale made the averages' intervals far too wide.

Predictions: a hyperscale AI data center (fleet scope, a new draw of a hyperscale operator, a new site) and the
industry average (industry scope). Working on log(PUE - 1) keeps every prediction above 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pandas as pd

from .throughput import partially_centred

__all__ = ["fleet_pue", "row_predictive", "PUE_KINDS", "PUE_SCOPES", "PUE_SCOPE_KIND", "PueArrays", "PueDesign", "build_pue_design",
           "pue_model", "pue_refusals", "usable_pue_rows"]

PUE_SCOPES = ("fleet", "site", "design", "industry")
#: Noise kind of each scope: 0 = one site (or a design target), 1 = an average over many sites.
PUE_SCOPE_KIND = (1, 0, 0, 1)
PUE_KINDS = ("site", "average")


def pue_refusals(pue: pd.DataFrame) -> pd.Series:
    """Why the fit leaves each row out (``""`` where it uses it): assumptions and modelled estimates are
    comparators, not data."""
    from .usage import first_reason

    return first_reason(pue.index, [
        (pue["kind"] != "reported",
         "kind '" + pue["kind"].astype(str) + "': an assumed or modelled PUE is a comparator, not a measurement"),
        (~pue["scope"].isin(PUE_SCOPES),
         "scope '" + pue["scope"].astype(str) + f"' is not one the fit tells apart ({', '.join(PUE_SCOPES)})"),
    ])


def usable_pue_rows(pue: pd.DataFrame) -> pd.DataFrame:
    """Reported PUEs (:func:`pue_refusals` gives the others' reasons)."""
    return pue[(pue_refusals(pue) == "").to_numpy()].reset_index(drop=True)


class PueArrays(NamedTuple):
    scope_idx: jnp.ndarray
    operator_idx: jnp.ndarray
    centred_operator: jnp.ndarray | float = 0.0  # per operator: 1.0 where sampled centred (many rows)


#: Operators with at least this many rows have their effect sampled centred: the data pin it down, and centred
#: the ridge with its scope's offset is straight (docs/validation.md, "Sampler geometry").
CENTRE_MIN_ROWS = 3


@dataclass(frozen=True)
class PueDesign:
    arrays: PueArrays
    y_log_pue_minus_1: np.ndarray | None
    operators: tuple[str, ...]
    rows: pd.DataFrame

    @property
    def sizes(self) -> dict[str, int]:
        return dict(n_operators=len(self.operators))


def build_pue_design(rows: pd.DataFrame, with_observations: bool = True,
                     extra_operators: tuple[str, ...] = ()) -> PueDesign:
    """Arrays for :func:`pue_model`; ``extra_operators``: operators other tables name, levels of the model without
    PUE rows of their own (their effect is the population's spread until they have some)."""
    if rows.empty:
        raise ValueError("no PUE rows to fit")
    operators = tuple(sorted(set(rows["operator"].astype(str)) | set(extra_operators)))
    arrays = PueArrays(
        scope_idx=jnp.asarray(rows["scope"].map({s: i for i, s in enumerate(PUE_SCOPES)}).to_numpy()),
        operator_idx=jnp.asarray(rows["operator"].map({o: i for i, o in enumerate(operators)}).to_numpy()),
        centred_operator=jnp.asarray([float((rows["operator"] == o).sum() >= CENTRE_MIN_ROWS) for o in operators]),
    )
    y = np.log(rows["pue"].astype(float).to_numpy() - 1.0) if with_observations else None
    return PueDesign(arrays, y, operators, rows.reset_index(drop=True))


def pue_model(x: PueArrays, n_operators: int, y=None, row_mask=None):
    """NumPyro model of log(PUE - 1) (observations last).

    ``row_mask`` (per row, default all True): False leaves a row out without changing any shape (exact
    leave-one-out refits reuse one compiled sampler).
    """
    with numpyro.plate("pue_scopes", len(PUE_SCOPES)):
        m_scope = numpyro.sample("pue_m_scope", dist.Normal(jnp.log(0.3), 1.0))
    with numpyro.plate("pue_kinds", len(PUE_KINDS)):
        sigma = numpyro.sample("pue_sigma", dist.HalfNormal(0.5))
    tau_op = numpyro.sample("pue_tau_operator", dist.HalfNormal(0.5))
    with numpyro.plate("operators", n_operators):
        # centred for an operator with many rows (Microsoft's sites), non-centred for the rest
        e_op = partially_centred("pue_z_operator", 0.0, tau_op, jnp.broadcast_to(x.centred_operator, (n_operators,)))
    e_op = numpyro.deterministic("pue_e_operator", e_op)
    mu = m_scope[x.scope_idx] + e_op[x.operator_idx]
    with numpyro.plate("pue_rows", mu.shape[0]), numpyro.handlers.mask(mask=True if row_mask is None else row_mask):
        numpyro.sample("pue_obs", dist.Normal(mu, sigma[jnp.asarray(PUE_SCOPE_KIND)[x.scope_idx]]), obs=y)
    return {"m_scope": m_scope, "tau_operator": tau_op, "e_operator": e_op, "sigma": sigma, "mu": mu}


def fleet_pue(draws: dict, z_operator: np.ndarray, z_site: np.ndarray) -> np.ndarray:
    """A hyperscale operator's fleet-average PUE per draw: a new operator (``z_operator``) and a new fleet
    (``z_site``), standard-normal draws one per posterior draw."""
    fleet = PUE_SCOPES.index("fleet")
    n = len(draws["pue_m_scope"])
    log_m1 = (np.asarray(draws["pue_m_scope"])[:, fleet] + np.asarray(draws["pue_tau_operator"]).reshape(n) * z_operator
              + np.asarray(draws["pue_sigma"])[:, PUE_SCOPE_KIND[fleet]] * z_site)
    return 1.0 + np.exp(log_m1)


def operator_fleet_pue(draws: dict, operator: int, z_site: np.ndarray) -> np.ndarray:
    """Operator ``operator``'s (an index into the fitted operators) fleet-average PUE per draw: the fleet scope's
    offset plus the operator's own fitted effect, and a new fleet of it (``z_site``)."""
    fleet = PUE_SCOPES.index("fleet")
    log_m1 = (np.asarray(draws["pue_m_scope"])[:, fleet] + np.asarray(draws["pue_e_operator"])[:, operator]
              + np.asarray(draws["pue_sigma"])[:, PUE_SCOPE_KIND[fleet]] * z_site)
    return 1.0 + np.exp(log_m1)


def row_predictive(samples: dict, x: PueArrays, i) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Mean and sd of row ``i``'s log(PUE - 1) under each posterior draw of ``samples`` (a PUE-model fit)."""
    mu = samples["pue_m_scope"][:, x.scope_idx[i]] + samples["pue_e_operator"][:, x.operator_idx[i]]
    return mu, samples["pue_sigma"][:, jnp.asarray(PUE_SCOPE_KIND)[x.scope_idx[i]]]
