"""Properties of the energy equation (hypothesis): linear in PUE and power, monotone in tokens, nested boundaries."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infergy.model import energy_per_query_wh, fit_tps_regressions
from infergy.data import load_paper_throughput

tokens = st.floats(1.0, 1e5)
tps = st.floats(10.0, 1e5)
power = st.floats(50.0, 2e4)
host = st.floats(0.0, 5e3)
pue = st.floats(1.0, 3.0)
factor = st.floats(0.1, 10.0)
SETTINGS = settings(max_examples=60, deadline=None)


def e(*args, **kw) -> float:
    return float(energy_per_query_wh(*args, **kw))


def test_known_value():
    # 8 GPUs x 700 W + 1.2 kW host, 1000 tokens at 2000 tok/s = 0.5 s -> 6.8 kW x 0.5 s = 0.9444 Wh; x PUE 1.2
    assert e(1000.0, 2000.0, 5600.0, 1200.0, 1.2, boundary="gpu") == pytest.approx(5600 * 0.5 / 3600, rel=1e-6)
    assert e(1000.0, 2000.0, 5600.0, 1200.0, 1.2, boundary="node") == pytest.approx(6800 * 0.5 / 3600, rel=1e-6)
    assert e(1000.0, 2000.0, 5600.0, 1200.0, 1.2) == pytest.approx(1.2 * 6800 * 0.5 / 3600, rel=1e-6)


@SETTINGS
@given(tokens, tps, power, host, pue, factor)
def test_linear_in_pue(l, t, p, h, u, k):
    assert e(l, t, p, h, u * k) == pytest.approx(k * e(l, t, p, h, u), rel=1e-5)


@SETTINGS
@given(tokens, tps, power, host, pue, factor)
def test_linear_in_power(l, t, p, h, u, k):
    assert e(l, t, p * k, h * k, u) == pytest.approx(k * e(l, t, p, h, u), rel=1e-5)
    assert e(l, t, p * k, h, u, boundary="gpu") == pytest.approx(k * e(l, t, p, h, u, boundary="gpu"), rel=1e-5)


@SETTINGS
@given(tokens, tps, power, host, pue, st.floats(1.0, 100.0))
def test_inverse_in_throughput(l, t, p, h, u, k):
    assert e(l, t * k, p, h, u) == pytest.approx(e(l, t, p, h, u) / k, rel=1e-5)


@SETTINGS
@given(tokens, tokens, tps, power, host, pue)
def test_monotone_in_output_tokens_at_fixed_throughput(l1, l2, t, p, h, u):
    lo, hi = sorted((l1, l2))
    assert e(lo, t, p, h, u) <= e(hi, t, p, h, u)


@SETTINGS
@given(tps, power, host, pue)
def test_boundaries_nest(t, p, h, u):
    gpu, node, fac = (e(500.0, t, p, h, u, boundary=b) for b in ("gpu", "node", "facility"))
    assert gpu <= node * (1 + 1e-6)
    assert node <= fac * (1 + 1e-6)


def test_monotone_in_output_tokens_through_the_paper_tps_regressions():
    """With the throughput regression (TPS grows with L_out, then caps), energy still rises with L_out."""
    fits = fit_tps_regressions(load_paper_throughput())
    l_out = np.geomspace(1, 200_000, 400)
    for fit in fits.values():
        energy = np.asarray(energy_per_query_wh(l_out, fit.predict_tok_s(500.0, l_out), 10_200.0 * 0.6, 0.0, 1.3))
        assert np.all(np.diff(energy) > 0), fit.model


def test_jit_and_broadcast():
    f = jax.jit(lambda l: energy_per_query_wh(l, 1000.0, jnp.array([1000.0, 2000.0])[:, None], 0.0, 1.1))
    out = f(jnp.array([100.0, 200.0, 300.0]))
    assert out.shape == (2, 3)
    np.testing.assert_allclose(out[1], 2 * out[0], rtol=1e-6)


def test_unknown_boundary_is_a_clear_error():
    with pytest.raises(ValueError, match=r"unknown boundary 'rack'; choose one of gpu, node, facility"):
        energy_per_query_wh(1.0, 1.0, 1.0, boundary="rack")
