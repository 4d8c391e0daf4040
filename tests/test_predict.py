"""Posterior-predictive energy per query from the shipped posterior, and the comparison with paper mode."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import infergy.data as d
from infergy.inference.posterior import load_posterior
from infergy.analysis.predict import QuerySpec, default_gpu_count, predict_components, predict_energy_wh


@pytest.fixture(scope="module")
def post():
    return load_posterior()


@pytest.fixture(scope="module")
def bundle():
    return d.load()


def _wh(post, bundle, **kw):
    return predict_energy_wh(post, QuerySpec(**kw), queries=50, seed=3, bundle=bundle).wh


def test_boundaries_nest_draw_by_draw(post, bundle):
    gpu, node, fac, idle = (_wh(post, bundle, model="Llama 3.1 405B", boundary=b)
                            for b in ("gpu", "node", "facility", "facility+idle"))
    assert np.all(gpu > 0) and np.all(gpu <= node) and np.all(node <= fac) and np.all(fac <= idle)


def test_facility_energy_is_linear_in_a_fixed_pue(post, bundle):
    node = _wh(post, bundle, model="Llama 3.1 70B", boundary="node")
    np.testing.assert_allclose(_wh(post, bundle, model="Llama 3.1 70B", pue=1.3), 1.3 * node, rtol=1e-5)
    np.testing.assert_allclose(_wh(post, bundle, model="Llama 3.1 70B", pue=2.6), 2.6 * node, rtol=1e-5)


def test_more_output_tokens_never_cost_less(post, bundle):
    meds = [np.median(_wh(post, bundle, model="DeepSeek-R1", output_tokens=n)) for n in (50, 300, 2000, 8000)]
    assert all(a < b for a, b in zip(meds, meds[1:])), meds
    # and a longer context (prefill) costs more at a fixed output length
    assert np.median(_wh(post, bundle, model="DeepSeek-R1", output_tokens=500, input_tokens=20000)) > \
        np.median(_wh(post, bundle, model="DeepSeek-R1", output_tokens=500, input_tokens=200))


def test_reasoning_regime_costs_about_its_token_ratio_more(post, bundle):
    trad = np.median(_wh(post, bundle, model="Llama 3.1 405B", regime="traditional"))
    reason = np.median(_wh(post, bundle, model="Llama 3.1 405B", regime="reasoning"))
    assert 3.0 < reason / trad < 25.0  # 16.7x the tokens, less per token at lower per-stream throughput


def test_same_seed_same_draws_and_unseen_models_and_gpus(post, bundle):
    a = _wh(post, bundle, total_params_b=300, active_params_b=30, gpu="B300")
    np.testing.assert_array_equal(a, _wh(post, bundle, total_params_b=300, active_params_b=30, gpu="B300"))
    assert np.isfinite(a).all() and np.median(a) > 0
    # an unseen model's interval is wider than a benchmarked model's of similar size (at a stated load and engine:
    # the production operating point's width would swamp the difference)
    fixed = {"batch_size": 32, "engine": "trtllm-0.13.0"}
    seen = _wh(post, bundle, model="Llama 3.1 405B", **fixed)
    unseen = _wh(post, bundle, total_params_b=405, active_params_b=405, moe=False, **fixed)
    width = lambda x: np.subtract(*np.quantile(np.log(x.mean(1)), [0.95, 0.05]))  # noqa: E731
    assert width(unseen) > width(seen)


@pytest.mark.parametrize("kw, message", [
    ({"model": "Llama 3.1 70B", "gpu": "Z900"}, "Z900"),
    ({"model": "Llama 3.1 70B", "output_tokens": -5}, "output tokens must be > 0"),
    ({"model": "no-such-model"}, "unknown model"),
    ({"model": "Llama 3.1 70B", "boundary": "planet"}, "unknown boundary"),
    ({"model": "Llama 3.1 70B", "pue": 0.9}, "PUE must be >= 1"),
])
def test_bad_queries_say_what_is_wrong(post, bundle, kw, message):
    with pytest.raises(ValueError, match=message):
        _wh(post, bundle, **kw)


def test_gpus_per_replica_follow_the_weights_and_the_kv_cache(post, bundle):
    """The smallest tensor-parallel group (1, 2, 4, 8, then whole servers) that holds the weights and the load's
    KV cache: a quarter of the weights where the architecture is unknown, the architecture's bytes where known."""
    assert default_gpu_count(671, "fp8", 80) == 16  # DeepSeek-R1 on H100s: two servers
    assert default_gpu_count(70, "fp8", 80) == 2
    assert default_gpu_count(8, "bf16", 80) == 1
    assert default_gpu_count(405, "bf16", 80) == 16
    assert default_gpu_count(70, "fp8", 80, kv_cache_gb=100.0) == 4  # a long-context load needs more memory
    for model, precision, n in (("Llama 3.1 8B", "bf16", 1), ("Llama 3.1 70B", "bf16", 4), ("Llama 3.1 70B", "fp8", 2),
                                ("Llama 3.1 405B", "fp8", 8), ("DeepSeek-R1", "fp8", 16)):
        # 128 sequences of 800 tokens: 16.8 GB of cache for 70B at FP8 (one H100 keeps 9.9 GB beside the weights,
        # two 83 GB), 33.5 GB at BF16 (two keep 19.8 GB, four 167 GB)
        pred = predict_energy_wh(post, QuerySpec(model=model, precision=precision, batch_size=128), queries=2,
                                 bundle=bundle)
        assert pred.inputs["n_gpus"] == n, model
    # 128k-token contexts at 32 sequences: 70B's 327,680 B per token at BF16 is 1.4 TB of cache
    long = predict_energy_wh(post, QuerySpec(model="Llama 3.1 70B", precision="bf16", input_tokens=128_000,
                                             output_tokens=1000.0, batch_size=32), queries=2, bundle=bundle)
    assert long.inputs["n_gpus"] == 24


def test_components_multiply_back_to_the_energy(post, bundle):
    spec = QuerySpec(model="Llama 3.1 405B", input_tokens=500, output_tokens=300, boundary="facility")
    c = predict_components(post, spec, bundle=bundle)
    wh = c["gpu_power_w"] * (1 + c["host_ratio"]) * c["pue"] * c["scatter"] * 300 / c["tps_gpu_tok_s"] / 3600
    np.testing.assert_allclose(wh, predict_energy_wh(post, spec, queries=1, bundle=bundle).wh[:, 0], rtol=1e-4)


def test_compare_paper_cli(tmp_path):
    out = tmp_path / "cmp.md"
    proc = subprocess.run([sys.executable, "-m", "infergy", "compare-paper", "--json", "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    cmp = json.loads(proc.stdout)
    blend = cmp["blended"]["traditional"]
    assert blend["models"] == ["DeepSeek-R1", "Llama 3.1 405B", "Llama-3.1 Nemotron Ultra 253B"]
    assert blend["paper"]["median"] == pytest.approx(0.308, rel=0.02)  # paper mode reproduces the paper
    b = blend["bayes"]
    assert 0 < b["p05"] < b["p25"] < b["median"] < b["p75"] < b["p95"]
    assert cmp["posterior"]["data_hash"] == load_posterior().attrs["data_hash"]
    assert "| >200B blend" in out.read_text()


def test_compare_paper_refuses_a_missing_posterior(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "infergy", "compare-paper", "--posterior", str(tmp_path / "x.nc")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "no such posterior" in proc.stderr


def test_a_new_gpu_is_one_hardware_row(post, bundle):
    """A GPU no benchmark ran on needs its hardware row only: the shipped posterior stays valid, its throughput
    comes from the bandwidth line and its power from the reference curve at its own TDP."""
    import pandas as pd

    from infergy.inference.posterior import check_posterior

    hw = bundle.hardware
    row = hw[hw["gpu"] == "H200-SXM-141GB"].assign(id="NEXT-GPU", gpu="NEXT-GPU", device="a GPU of the future",
                                                    memory_gb=288.0, memory_bw_tb_s=9.6, tdp_w=1200.0)
    added = d.DataBundle(tables={**bundle.tables, "hardware": pd.concat([hw, row], ignore_index=True)},
                         version=bundle.version, content_hash="n" * 64)
    check_posterior(post, added)
    res = predict_energy_wh(post, QuerySpec(model="Llama 3.1 70B", gpu="NEXT-GPU"), queries=50, seed=3, bundle=added)
    assert res.inputs["gpu"] == "NEXT-GPU"
    assert np.isfinite(res.wh).all() and (res.wh > 0).all()
    with pytest.raises(ValueError, match="unknown GPU 'NEXT-GPU'"):
        _wh(post, bundle, model="Llama 3.1 70B", gpu="NEXT-GPU")


def test_a_precision_the_gpu_lacks_is_answered_in_the_one_it_would_run(post, bundle):
    """FP8 on an A100 (no FP8 tensor cores) is served in BF16, FP4 on an H100 in FP8: the answer is that
    precision's, draw for draw, and the estimate says so."""
    import infergy

    for gpu, asked, runs in (("A100-SXM4-80GB", "fp8", "bf16"), ("H100-SXM-80GB", "fp4", "fp8")):
        kw = dict(model="Llama 3.1 70B", gpu=gpu, output_tokens=300.0)
        np.testing.assert_array_equal(_wh(post, bundle, precision=asked, **kw), _wh(post, bundle, precision=runs, **kw))
        est = infergy.estimate(precision=asked, samples=2000, bundle=bundle, **kw)
        assert est.inputs["precision"] == runs and est.inputs["precision_requested"] == asked
        assert any(f"no {asked} tensor cores: answered in {runs}" in w for w in est.inputs["warnings"])
    est = infergy.estimate(model="Llama 3.1 70B", gpu="B200", precision="fp4", samples=2000, bundle=bundle)
    assert est.inputs["precision"] == "fp4" and not any("tensor cores" in w for w in est.inputs["warnings"])
