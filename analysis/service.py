"""A production service at the load it stated: the fitted model's prediction of what the service itself reported.

The service's deployment and load (:mod:`infergy.model.service`: DeepSeek's decode units of 144 GPUs with attention
data-parallel and experts spread over them, its prefill units of 32, its stated concurrency and KV length) are
asked of the posterior as queries, and the stated rates are computed from their serving times by the same function
the likelihood uses. Fitted without the service (``infergy loso --source DeepSeek``), it is an out-of-sample check
of the production engine at a scale no benchmark reaches; fitted with it, a check that the fit explains it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .predict import predict_components
from ..model.query import QuerySpec
from ..model.production import REPORTING_SD
from ..model.service import SERVICE_MODEL, SERVICE_QUANTITIES, service_log_rates, service_setting
from ..model import equations as eq

__all__ = ["ServiceCheck", "service_check"]


@dataclass(frozen=True)
class ServiceCheck:
    quantity: str
    unit: str
    stated: float
    stated_low: float
    stated_high: float
    median: float
    low_90: float  # posterior predictive: the rate's draws with the likelihood's reporting noise
    high_90: float
    mean_low_90: float  # the rate itself (the likelihood's mean), without the noise
    mean_high_90: float
    inside_90: bool  # the stated figure (or range) meets the predictive 90% interval


def _check(row: pd.Series, log_rate: np.ndarray, noise: np.ndarray) -> ServiceCheck:
    m_lo, m_hi = np.exp(np.quantile(log_rate, [0.05, 0.95]))
    lo, med, hi = np.exp(np.quantile(log_rate + REPORTING_SD * noise, [0.05, 0.5, 0.95]))
    s_lo = float(row["low"]) if pd.notna(row["low"]) else float(row["value"])
    s_hi = float(row["high"]) if pd.notna(row["high"]) else float(row["value"])
    return ServiceCheck(str(row["quantity"]), str(row["unit"]), float(row["value"]), s_lo, s_hi, float(med),
                        float(lo), float(hi), float(m_lo), float(m_hi), bool(s_hi >= lo and s_lo <= hi))


def _times(c: dict) -> eq.ServingTimes:
    n = len(c["decode_s"])
    return eq.ServingTimes(c["prefill_s"], c["decode_s"], np.log(c["running_batch"]), np.ones(n), np.ones(n),
                           np.ones(n))


def service_check(dt, *, bundle=None, seed: int = 0, operator: str = "DeepSeek") -> list[ServiceCheck]:
    """The service's decode throughput per node and per-request speed at its stated load, and its prefill
    throughput per node, predicted by the posterior ``dt``: 90% intervals of the posterior predictive (each draw's
    rate with the likelihood's reporting noise, seeded) and of the rate itself."""
    from ..data import load

    bundle = bundle if bundle is not None else load()
    s = service_setting(bundle.tables["service_statistics"], operator)

    def ask(layout: str, hits: float) -> dict:
        spec = QuerySpec(model=SERVICE_MODEL, gpu="H100", layout=layout, link_gb_s=s.link_gb_s,
                         batch_size=s.concurrency, input_tokens=s.prompt_tokens, output_tokens=s.output_tokens,
                         boundary="gpu")
        return predict_components(dt, spec, seed=seed, bundle=bundle, cache_hit_rate=hits)

    rates = service_log_rates(s.output_tokens, s.prompt_tokens, float(s.decode_gpus), float(s.prefill_gpus),
                              float(s.gpus_per_node), _times(ask(s.decode_layout, 0.0)),
                              _times(ask(s.prefill_layout, s.cache_hit_share)))
    noise = np.random.default_rng(seed).standard_normal((len(rates), len(np.asarray(rates[0]))))
    checks = [_check(s.rows.iloc[i], np.asarray(r, np.float64), noise[i]) for i, r in enumerate(rates)]
    assert tuple(c.quantity for c in checks) == SERVICE_QUANTITIES
    return checks
