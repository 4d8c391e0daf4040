"""Physical invariants of an answer, over the whole domain (hypothesis): input 1 to 128k tokens, output 1 to 32k,
batch 1 to 1,024, every GPU of the hardware table, named models and models known only by size, every boundary.

Energy grows strictly with input and with output tokens, is never below the FLOP floor (the query's FLOPs at
the GPU's dense peak and its full TDP), and the boundaries nest draw by draw (GPU <= node <= facility)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infergy.analysis.predict import QuerySpec, boundary_flags, energy_wh, posterior_draws, prepare
from infergy.data import load
from infergy.data.vocab import SERVABLE_PRECISIONS
from infergy.inference.posterior import load_posterior
from infergy.model.architecture import attention_flops_per_token
from infergy.model.physics import gpu_spec

BUNDLE = load()
DRAWS = posterior_draws(load_posterior())
HW = BUNDLE.hardware[BUNDLE.hardware["kind"] == "gpu"]
GPUS = sorted(HW.loc[HW["tdp_w"].notna() & HW["memory_gb"].notna() & HW["memory_bw_tb_s"].notna(), "gpu"])
NAMED = ("Llama 3.1 8B", "Llama 3.1 70B", "Llama 3.1 405B", "DeepSeek-R1", "gpt-oss-120b", "gemma-3-27b",
         "Qwen3-30B-A3B", "Llama 3.1 Nemotron Ultra 253B")
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _model():
    named = st.sampled_from(NAMED).map(lambda m: {"model": m})
    sized = st.tuples(st.floats(1.0, 1000.0), st.floats(0.05, 1.0)).map(
        lambda t: {"total_params_b": t[0], "active_params_b": t[0] * t[1], "moe": t[1] < 1.0})
    return st.one_of(named, sized)


@st.composite
def queries(draw):
    return {**draw(_model()), "gpu": draw(st.sampled_from(GPUS)), "precision": draw(st.sampled_from(SERVABLE_PRECISIONS)),
            "batch_size": draw(st.floats(1.0, 1024.0)), "input_tokens": float(draw(st.integers(1, 128_000))),
            "output_tokens": float(draw(st.integers(1, 32_000)))}


def _energy(q: dict, boundary: str, inputs, outputs) -> tuple[np.ndarray, dict]:
    """Wh per query (draws x len(inputs)) at ``boundary`` for the query with the given token counts."""
    spec = QuerySpec(**{k: v for k, v in q.items() if k not in ("input_tokens", "output_tokens")},
                     input_tokens=float(q["input_tokens"]), output_tokens=float(q["output_tokens"]),
                     boundary=boundary, pue=None, allow_extreme=True)  # physics holds past a context window too
    arrays, meta = prepare(DRAWS, spec, BUNDLE, seed=0)
    n = arrays["log_batch"].shape[0]
    tokens_in = jnp.broadcast_to(jnp.asarray(inputs, jnp.float32), (n, len(inputs)))
    out = jnp.broadcast_to(jnp.asarray(outputs, jnp.float32), (n, len(inputs)))
    return np.asarray(energy_wh(arrays, tokens_in, tokens_in, out, boundary_flags(boundary)), np.float64), meta


def _more(tokens: float, factor: float) -> float:
    """``tokens`` grown by ``factor``, by at least one whole token (a query's lengths are whole tokens)."""
    return max(tokens * factor, tokens + 1.0)


@SETTINGS
@given(queries(), st.floats(1.02, 4.0))
def test_energy_grows_with_input_and_output_tokens(q, factor):
    base_in, base_out = q["input_tokens"], q["output_tokens"]
    more_in, more_out = _more(base_in, factor), _more(base_out, factor)
    wh, _ = _energy(q, "gpu", [base_in, min(more_in, 128_000.0), base_in],
                    [base_out, base_out, min(more_out, 32_000.0)])
    assert np.isfinite(wh).all() and (wh > 0).all()
    if more_in <= 128_000.0:
        assert (wh[:, 1] > wh[:, 0]).all(), "more input tokens cost less"
    if more_out <= 32_000.0:
        assert (wh[:, 2] > wh[:, 0]).all(), "more output tokens cost less"


def _flops(q: dict, meta: dict) -> float:
    """The query's FLOPs, from the parameter count and (for a model in the architecture table) its attention."""
    tokens_in, tokens_out = q["input_tokens"], q["output_tokens"]
    flops = 2e9 * meta["active"] * (tokens_in + tokens_out)
    arch = BUNDLE.tables["architectures"]
    row = arch[arch["model"] == meta["model"]]
    if len(row) and np.isfinite(attention_flops_per_token(row, 1.0)[0]):
        # each token attends to the context before it: the sum over positions, at least the mean context's
        positions = np.linspace(0.0, tokens_in + tokens_out, 64)
        per_token = attention_flops_per_token(row, np.maximum(positions, 1.0))
        flops += float(np.trapezoid(per_token, positions)) * 0.99
    return flops


@SETTINGS
@given(queries())
def test_energy_is_never_below_the_flop_floor(q):
    wh, meta = _energy(q, "gpu", [q["input_tokens"]], [q["output_tokens"]])
    spec = gpu_spec(BUNDLE.hardware, meta["gpu"], meta["precision"])
    floor_wh = _flops(q, meta) / (spec.peak_tflops * 1e12) * spec.tdp_w / 3600.0
    assert (wh[:, 0] >= floor_wh * (1.0 - 1e-4)).all(), (wh[:, 0].min(), floor_wh)


@SETTINGS
@given(queries())
def test_boundaries_nest_draw_by_draw(q):
    gpu, node, facility, idle = (_energy(q, b, [q["input_tokens"]], [q["output_tokens"]])[0][:, 0]
                                 for b in ("gpu", "node", "facility", "facility+idle"))
    assert (gpu <= node).all() and (node <= facility).all() and (facility <= idle).all()


@pytest.mark.parametrize("model", ["Llama 3.1 405B", "DeepSeek-R1"])
def test_a_long_prompt_costs_at_least_its_prefill(model):
    """The issue's case: 100k input tokens on a node, 1 / 300 / 3,000 output tokens: energy grows with output
    and the 1-token answer already pays the 100k-token prefill."""
    q = {"model": model, "gpu": "H100-SXM-80GB", "precision": "fp8", "batch_size": 32.0,
         "input_tokens": 100_000.0, "output_tokens": 1.0}
    wh, meta = _energy(q, "node", [1e5, 1e5, 1e5], [1.0, 300.0, 3000.0])
    median = np.median(wh, axis=0)
    assert median[0] < median[1] < median[2]
    spec = gpu_spec(BUNDLE.hardware, meta["gpu"], meta["precision"])
    assert median[0] >= _flops(q, meta) / (spec.peak_tflops * 1e12) * spec.tdp_w / 3600.0
