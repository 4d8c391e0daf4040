"""The one quantile summary every answer reports, and quantiles read off sorted samples."""

from __future__ import annotations

import numpy as np

__all__ = ["QUANTILE_KEYS", "summarize", "sorted_quantiles"]

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


def sorted_quantiles(s: np.ndarray, count: np.ndarray, probs: np.ndarray, start: np.ndarray | int = 0) -> np.ndarray:
    """Linear-interpolated quantiles ``probs`` of each row's values ``s[row, start:start + count]`` (rows sorted
    ascending): shape (probs, rows). The arithmetic is ``jnp.nanquantile``'s, in float32, so the figures match it
    bit for bit; above 2^24 values per row the float32 position is within a rank in 2^24 of the exact one."""
    probs = np.asarray(probs, np.float32)
    count = np.broadcast_to(np.asarray(count), s.shape[:-1]).astype(np.float32)
    pos = probs[:, None] * (count[None, :] - np.float32(1.0))
    low, high = np.floor(pos), np.ceil(pos)
    high_w = pos - low
    low_w = np.float32(1.0) - high_w
    last = count[None, :] - np.float32(1.0)
    start = np.broadcast_to(np.asarray(start, np.int64), s.shape[:-1])[None, :]
    rows = np.arange(s.shape[0])[None, :]
    lo_i = start + np.clip(low, 0.0, last).astype(np.int64)
    hi_i = start + np.clip(high, 0.0, last).astype(np.int64)
    # low * w_low + high * w_high as XLA fuses it on a CPU with FMA, in float64 and rounded once to float32: the
    # same bits on every CPU, and jnp.nanquantile's on the machines that wrote the published figures
    return ((s[rows, lo_i] * low_w).astype(np.float64) + s[rows, hi_i].astype(np.float64) * high_w).astype(np.float32)
