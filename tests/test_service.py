"""A production service's own statistics at its stated load (DeepSeek's 24 hours): the table, and the fitted
model's out-of-sample prediction of them."""

from __future__ import annotations

import numpy as np
import pytest

import infergy.data as d
from infergy.analysis.predict import QuerySpec, predict_components
from infergy.analysis.service import service_check
from infergy.inference.posterior import load_posterior

BUNDLE = d.load()


@pytest.fixture(scope="module")
def post():
    return load_posterior()


def test_the_statistics_state_the_load_they_were_served_at():
    """The published figures, each with its source: decode throughput over the per-request speed is ~700
    sequences per node (~88 per GPU), and the decode and prefill node-equivalents add up to the mean occupancy
    (the reference's own arithmetic)."""
    s = BUNDLE.tables["service_statistics"].set_index("quantity")
    own = s.drop(index="scale_out_link_gb_s")
    assert own["source_url"].str.startswith("https://github.com/deepseek-ai/open-infra-index").all()
    # the network: one 400 Gb/s NIC per GPU (DeepSeek's ISCA 2025 paper), in the hardware table's convention
    assert s.loc["scale_out_link_gb_s", "value"] == 2 * 400 / 8
    assert "2505.09343" in s.loc["scale_out_link_gb_s", "source_url"]
    per_node = s.loc["decode_tok_s_per_node", "value"] / s.loc["request_speed_tok_s", "value"]
    assert per_node / s.loc["decode_tok_s_per_node", "gpus_per_node"] == pytest.approx(88, rel=0.01)
    decode_nodes = s.loc["output_tokens_per_day", "value"] / 86_400 / s.loc["decode_tok_s_per_node", "value"]
    prefill_nodes = s.loc["input_tokens_per_day", "value"] / 86_400 / s.loc["prefill_tok_s_per_node", "value"]
    assert decode_nodes + prefill_nodes == pytest.approx(s.loc["nodes_mean", "value"], rel=0.01)
    assert s.loc["request_speed_tok_s", "low"] <= s.loc["request_speed_tok_s", "value"] <= s.loc[
        "request_speed_tok_s", "high"]


def test_a_cache_hit_shortens_the_prefill_only(post):
    spec = QuerySpec(model="Llama 3.1 70B", input_tokens=4000, output_tokens=300, boundary="gpu")
    cold = predict_components(post, spec, bundle=BUNDLE)
    warm = predict_components(post, spec, bundle=BUNDLE, cache_hit_rate=0.5)
    assert np.all(warm["prefill_s"] < cold["prefill_s"])
    np.testing.assert_allclose(warm["decode_s"], cold["decode_s"], rtol=1e-6)
    with pytest.raises(ValueError, match=r"cache_hit_rate must be in \[0, 1\); got 1.0"):
        predict_components(post, spec, bundle=BUNDLE, cache_hit_rate=1.0)


def test_the_service_check_restates_the_likelihoods_mean(post):
    """One copy: the check's per-draw rates (asked as queries: DEP144 decode, DEP32 prefill over InfiniBand) are the
    service likelihood's mean at the same draws."""
    from numpyro import handlers

    from infergy.analysis.predict import posterior_draws
    from infergy.model.joint import build_design, infergy_model
    from infergy.model.service import SERVICE_QUANTITIES

    design = build_design(BUNDLE)
    draws, _ = posterior_draws(post)
    checks = service_check(post, bundle=BUNDLE)
    assert [c.quantity for c in checks] == list(SERVICE_QUANTITIES)
    means = []
    for i in (0, 3, 11):
        with handlers.seed(rng_seed=0), handlers.substitute(data={k: v[i] for k, v in draws.items()}), \
                handlers.trace() as tr:
            infergy_model(*design.inputs, **design.sizes, **design.observations)
        means.append(np.exp(np.asarray(tr["service_obs"]["fn"].loc, np.float64)))
    per_draw = _service_rates(post)
    np.testing.assert_allclose(np.stack(means), per_draw[[0, 3, 11]], rtol=2e-3)


def _service_rates(post) -> np.ndarray:
    """The check's rates per draw (draws x quantities)."""
    from infergy.analysis.service import _times
    from infergy.model.service import SERVICE_MODEL, service_log_rates, service_setting

    s = service_setting(BUNDLE.tables["service_statistics"])
    comps = [predict_components(post, QuerySpec(model=SERVICE_MODEL, gpu="H100", layout=layout, link_gb_s=s.link_gb_s,
                                                batch_size=s.concurrency, input_tokens=s.prompt_tokens,
                                                output_tokens=s.output_tokens, boundary="gpu"),
                                bundle=BUNDLE, cache_hit_rate=hits)
             for layout, hits in ((s.decode_layout, 0.0), (s.prefill_layout, s.cache_hit_share))]
    rates = service_log_rates(s.output_tokens, s.prompt_tokens, float(s.decode_gpus), float(s.prefill_gpus),
                              float(s.gpus_per_node), _times(comps[0]), _times(comps[1]))
    return np.exp(np.stack([np.asarray(r, np.float64) for r in rates], axis=1))


def test_deepseek_service_at_its_stated_load_is_explained(post):
    """Fitted with them: decode tok/s per node, the speed one request sees and prefill tok/s per node at the stated
    load and replicas, each inside the posterior predictive 90% interval (the reporting noise of the likelihood
    included; the out-of-sample prediction, fitted without them, is tests/test_loso.py's). The decode rates are
    inside the rate's own interval too; prefill sits ~20% above it (docs/validation.md)."""
    checks = service_check(post, bundle=BUNDLE)
    assert all(c.inside_90 for c in checks), [(c.quantity, c.stated, c.low_90, c.high_90) for c in checks]
    decode, speed, _ = checks
    assert decode.mean_low_90 <= decode.stated <= decode.mean_high_90
    assert speed.stated_high >= speed.mean_low_90 and speed.stated_low <= speed.mean_high_90
    assert all(c.mean_low_90 >= c.low_90 and c.mean_high_90 <= c.high_90 for c in checks)


def test_a_layout_is_read_and_a_wrong_one_refused_with_the_reason(post):
    from infergy.model.throughput import parse_layout

    assert parse_layout("DEP144") == parse_layout("TP1,EP144,DP144")
    assert parse_layout("TP4,PP2").pipeline_stages == 2.0 and parse_layout("TP4,PP2").comm_gpus == 4.0
    for layout, message in (("TP0", "'TP0' is not TPk"), ("DEP8,TP2", "DEPk already sets"),
                            ("TP1,EP16,DP8", "exceeds the 8 GPUs of a stage")):
        with pytest.raises(ValueError, match=message):
            parse_layout(layout)
    with pytest.raises(ValueError, match="layout 'TP8' spans 8 GPUs, not the 16 asked for"):
        predict_components(post, QuerySpec(model="Llama 3.1 70B", n_gpus=16, layout="TP8"), bundle=BUNDLE)
    with pytest.raises(ValueError, match="expert parallelism needs a mixture of experts; Llama 3.1 70B is dense"):
        predict_components(post, QuerySpec(model="Llama 3.1 70B", layout="DEP8"), bundle=BUNDLE)
    with pytest.raises(ValueError, match="link_gb_s: link bandwidth must be > 0, got -1.0"):
        predict_components(post, QuerySpec(model="Llama 3.1 70B", link_gb_s=-1.0), bundle=BUNDLE)


def test_data_parallel_ranks_of_a_dense_model_are_independent_replicas(post):
    """Physics: a dense model on 4 GPUs as 4 data-parallel ranks (TP1,DP4) at 4x the load is four one-GPU replicas:
    the same output tokens/s per GPU and the same energy per token (per-layer overheads and efficiencies are those
    of a whole-matrix GPU in both)."""
    one = predict_components(post, QuerySpec(model="Llama 3.1 8B", precision="bf16", n_gpus=1, batch_size=32,
                                             input_tokens=1000, output_tokens=300, boundary="gpu"), bundle=BUNDLE)
    four = predict_components(post, QuerySpec(model="Llama 3.1 8B", precision="bf16", layout="TP1,DP4",
                                              batch_size=128, input_tokens=1000, output_tokens=300, boundary="gpu"),
                              bundle=BUNDLE)
    np.testing.assert_allclose(four["tps_gpu_tok_s"], one["tps_gpu_tok_s"], rtol=1e-4)
    np.testing.assert_allclose(four["decode_s"] * 4, one["decode_s"], rtol=1e-4)
    # wide expert parallelism beats tensor parallelism at DeepSeek's scale (no per-GPU share of every sequence)
    spec = dict(model="DeepSeek-R1", gpu="H100", batch_size=12_000, input_tokens=4000, output_tokens=1000,
                boundary="gpu")
    dep = predict_components(post, QuerySpec(layout="DEP144", **spec), bundle=BUNDLE)
    tp = predict_components(post, QuerySpec(n_gpus=144, **spec), bundle=BUNDLE)
    assert np.median(dep["decode_s"]) < np.median(tp["decode_s"])


def test_the_exchange_waits_under_tensor_parallelism_and_overlaps_under_data_parallel_attention():
    """A step's exchange adds to its work under tensor parallelism; where attention runs data-parallel it runs
    under the other micro-batch's work: the step is then at least the larger of the two and at most 2^(1/4) of it
    (the soft maximum's p = 4), and an exchange well under the work costs nearly nothing."""
    import jax.numpy as jnp

    from infergy.model import equations as eq
    from infergy.model.physics import physics

    ph = physics(BUNDLE.hardware, BUNDLE.tables["architectures"], BUNDLE.models, model_names=["DeepSeek-R1"] * 2,
                 total_params_b=[671.0] * 2, active_params_b=[37.0] * 2, gpus=["H200-SXM-141GB"] * 2,
                 precisions=["fp8"] * 2, n_gpus=[8.0, 8.0], dp_width=[1.0, 8.0])
    busy, exchange = np.array([0.02, 0.02]), np.array([0.01, 0.01])
    both = np.asarray(eq._with_exchange(jnp.log(busy), jnp.asarray(exchange), ph))
    assert both[0] == pytest.approx(0.03, rel=1e-6)
    assert max(busy[1], exchange[1]) <= both[1] <= 2 ** 0.25 * max(busy[1], exchange[1])
    small = np.asarray(eq._with_exchange(jnp.log(busy), jnp.asarray(exchange / 10), ph))
    assert small[1] == pytest.approx(0.02, rel=1e-3) and small[0] == pytest.approx(0.021, rel=1e-6)
    # the layouts read from the physics: data-parallel attention exchanges top-k copies, tensor parallelism twice
    assert list(np.asarray(ph.link_exchanges)) == [2.0, 8.0] and list(np.asarray(ph.dp_width)) == [1.0, 8.0]
