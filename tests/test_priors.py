import math

import jax
import numpy as np
import pytest

from infergy.model import PAPER_Z90, lognormal_from_range


def test_paper_values_match_the_released_code():
    # paper_spec.md: PU P5 0.4 / P95 0.9 -> mu -0.5108, sigma 0.2465; PUE 1.05 / 1.6 -> mu 0.2594, sigma 0.1280
    pu = lognormal_from_range(0.4, 0.9, z=PAPER_Z90)
    assert pu.mu == pytest.approx(-0.5108, abs=5e-5)
    assert pu.sigma == pytest.approx(0.2465, abs=5e-5)
    assert pu.median == pytest.approx(0.600, abs=5e-4)
    assert pu.mean == pytest.approx(0.619, abs=5e-4)
    pue = lognormal_from_range(1.05, 1.6, z=PAPER_Z90)
    assert pue.mu == pytest.approx(0.2594, abs=5e-5)
    assert pue.sigma == pytest.approx(0.1280, abs=5e-5)
    assert pue.median == pytest.approx(1.296, abs=5e-4)


@pytest.mark.parametrize("low,high,mass", [(0.4, 0.9, 0.9), (1.5, 10.0, 0.9), (2.0, 3.0, 0.5), (1e-3, 1e3, 0.99)])
def test_exact_quantiles_hit_the_range(low, high, mass):
    d = lognormal_from_range(low, high, mass)
    tail = (1 - mass) / 2
    assert d.quantile(tail) == pytest.approx(low, rel=1e-9)
    assert d.quantile(1 - tail) == pytest.approx(high, rel=1e-9)
    assert d.median == pytest.approx(math.sqrt(low * high), rel=1e-12)


def test_samples_have_the_stated_range():
    d = lognormal_from_range(1.5, 10.0)
    x = np.asarray(d.sample(jax.random.PRNGKey(0), (200_000,)))
    p5, p95 = np.percentile(x, [5, 95])
    assert p5 == pytest.approx(1.5, rel=0.02)
    assert p95 == pytest.approx(10.0, rel=0.02)


@pytest.mark.parametrize(
    "args,message",
    [
        ((0.0, 1.0), "low > 0"),
        ((-1.0, 1.0), "low > 0"),
        ((2.0, 1.0), "high > low"),
        ((1.0, 1.0), "high > low"),
        ((1.0, float("inf")), "finite"),
        ((1.0, 2.0, 1.0), "mass must be in (0, 1)"),
    ],
)
def test_bad_ranges_raise_clear_errors(args, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        lognormal_from_range(*args)
