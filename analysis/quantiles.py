"""The one quantile summary every answer reports."""

from __future__ import annotations

import numpy as np

__all__ = ["QUANTILE_KEYS", "summarize"]

#: The keys of every answer's ``value`` (quantiles of samples, and their mean).
QUANTILE_KEYS = ("median", "mean", "p05", "p25", "p75", "p95")
_PROBABILITY = {"median": 0.5, "p05": 0.05, "p25": 0.25, "p75": 0.75, "p95": 0.95}


def summarize(x, keys: tuple[str, ...] = QUANTILE_KEYS) -> dict[str, float]:
    """``keys`` (of :data:`QUANTILE_KEYS`) of samples ``x``, in the samples' own precision, in that order."""
    x = np.asarray(x)
    unknown = set(keys) - set(QUANTILE_KEYS)
    if unknown:
        raise ValueError(f"unknown summary keys {sorted(unknown)}; choose from {QUANTILE_KEYS}")
    named = [k for k in keys if k != "mean"]
    q = dict(zip(named, np.quantile(x.ravel(), [_PROBABILITY[k] for k in named])))
    return {k: float(np.mean(x)) if k == "mean" else float(q[k]) for k in keys}
