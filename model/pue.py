"""PUE sub-model: hierarchical over operators, with scopes kept apart.

    log(PUE - 1)_i ~ Normal(m[scope] + e[operator], sigma)       e ~ Normal(0, tau_operator)

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

__all__ = ["PUE_SCOPES", "PueArrays", "PueDesign", "build_pue_design", "pue_model", "usable_pue_rows"]

PUE_SCOPES = ("fleet", "site", "design", "industry")


def usable_pue_rows(pue: pd.DataFrame) -> pd.DataFrame:
    """Reported PUEs (assumptions and modelled estimates are comparators, not data)."""
    return pue[(pue["kind"] == "reported") & pue["scope"].isin(PUE_SCOPES)].reset_index(drop=True)


class PueArrays(NamedTuple):
    scope_idx: jnp.ndarray
    operator_idx: jnp.ndarray


@dataclass(frozen=True)
class PueDesign:
    arrays: PueArrays
    y_log_pue_minus_1: np.ndarray | None
    operators: tuple[str, ...]
    rows: pd.DataFrame

    @property
    def sizes(self) -> dict[str, int]:
        return dict(n_operators=len(self.operators))


def build_pue_design(rows: pd.DataFrame, with_observations: bool = True) -> PueDesign:
    if rows.empty:
        raise ValueError("no PUE rows to fit")
    operators = tuple(sorted(rows["operator"].unique()))
    arrays = PueArrays(
        scope_idx=jnp.asarray(rows["scope"].map({s: i for i, s in enumerate(PUE_SCOPES)}).to_numpy()),
        operator_idx=jnp.asarray(rows["operator"].map({o: i for i, o in enumerate(operators)}).to_numpy()),
    )
    y = np.log(rows["pue"].astype(float).to_numpy() - 1.0) if with_observations else None
    return PueDesign(arrays, y, operators, rows.reset_index(drop=True))


def pue_model(x: PueArrays, n_operators: int, y=None):
    """NumPyro model of log(PUE - 1) (observations last)."""
    with numpyro.plate("pue_scopes", len(PUE_SCOPES)):
        m_scope = numpyro.sample("pue_m_scope", dist.Normal(jnp.log(0.3), 1.0))
    tau_op = numpyro.sample("pue_tau_operator", dist.HalfNormal(0.5))
    with numpyro.plate("operators", n_operators):
        z_op = numpyro.sample("pue_z_operator", dist.Normal(0.0, 1.0))
    mu = m_scope[x.scope_idx] + tau_op * z_op[x.operator_idx]
    sigma = numpyro.sample("pue_sigma", dist.HalfNormal(0.5))
    with numpyro.plate("pue_rows", mu.shape[0]):
        numpyro.sample("pue_obs", dist.Normal(mu, sigma), obs=y)
    return {"m_scope": m_scope, "tau_operator": tau_op, "e_operator": tau_op * z_op, "sigma": sigma, "mu": mu}
