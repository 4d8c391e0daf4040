"""Prior building blocks: log-normal distributions specified by a central probability range."""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import jax
import jax.numpy as jnp

__all__ = ["LogNormal", "lognormal_from_range", "PAPER_Z90"]

#: The two-sided 90% normal quantile as the paper's released code writes it (1.645, not 1.6448536...).
PAPER_Z90 = 1.645


@dataclass(frozen=True)
class LogNormal:
    """``X = exp(mu + sigma * N(0, 1))``; ``mu`` and ``sigma`` are on the natural-log scale."""

    mu: float
    sigma: float

    @property
    def median(self) -> float:
        return math.exp(self.mu)

    @property
    def mean(self) -> float:
        return math.exp(self.mu + 0.5 * self.sigma**2)

    def quantile(self, q: float) -> float:
        """Exact quantile ``q`` in (0, 1)."""
        if not 0.0 < q < 1.0:
            raise ValueError(f"quantile must be in (0, 1), got {q}")
        return math.exp(self.mu + self.sigma * NormalDist().inv_cdf(q))

    def sample(self, key: jax.Array, shape: tuple[int, ...], dtype=jnp.float32) -> jax.Array:
        """Draws with JAX's counter-based RNG (jit-able; deterministic for a key)."""
        return jnp.exp(self.mu + self.sigma * jax.random.normal(key, shape, dtype))


def lognormal_from_range(low: float, high: float, mass: float = 0.90, z: float | None = None) -> LogNormal:
    """Log-normal whose central ``mass`` interval is ``[low, high]`` (default: P5 and P95).

    ``sigma = (ln high - ln low) / (2 z)`` and ``mu = ln low + z sigma``, so the median is ``sqrt(low * high)``.
    ``z`` defaults to the exact normal quantile of ``(1 + mass) / 2``; pass :data:`PAPER_Z90` to match the paper's code.
    """
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"range bounds must be finite, got low={low}, high={high}")
    if low <= 0.0:
        raise ValueError(f"a log-normal range needs low > 0, got low={low}")
    if high <= low:
        raise ValueError(f"a log-normal range needs high > low, got low={low}, high={high}")
    if not 0.0 < mass < 1.0:
        raise ValueError(f"mass must be in (0, 1), got {mass}")
    if z is None:
        z = NormalDist().inv_cdf(0.5 + mass / 2.0)
    elif z <= 0.0:
        raise ValueError(f"z must be > 0, got {z}")
    sigma = (math.log(high) - math.log(low)) / (2.0 * z)
    return LogNormal(mu=math.log(low) + z * sigma, sigma=sigma)
