"""The answers users come for -- estimate, pathways, fleet, sensitivity -- through the API and the CLI."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

import infergy
from infergy.cli import main
from infergy.analysis import propagate
from infergy.inference.posterior import load_posterior
from infergy.analysis.estimate import open_posterior
from infergy.analysis.numpy_reference import energy_wh_numpy, stream_numpy
from infergy.analysis.pathways import PAPER_BLEND_MODELS, Baseline, pathways
from infergy.analysis.predict import QuerySpec, boundary_flags, prepare
from infergy.analysis.propagate import Workload, stream
from infergy.analysis.sensitivity import first_order_index

ROOT = Path(__file__).resolve().parents[1]
SMALL = 20_000  # query-samples: 1,000 draws x 20 queries


@pytest.fixture(scope="module")
def source():
    return open_posterior()


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def cli_json(capsys, *args: str) -> dict:
    code, out, err = cli(capsys, *args, "--json")
    assert code == 0, err
    return json.loads(out)


# --- estimate ----------------------------------------------------------------------------------------------------

def test_estimate_json_has_exactly_the_documented_shape():
    proc = subprocess.run([sys.executable, "-m", "infergy", "estimate", "--model", "Llama 3.1 405B", "--gpu", "H100",
                           "--samples", str(SMALL), "--json"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    assert set(res) == {"value", "unit", "boundary", "inputs", "posterior"}
    assert list(res["value"]) == ["median", "mean", "p05", "p25", "p75", "p95"]
    v = res["value"]
    assert 0 < v["p05"] <= v["p25"] <= v["median"] <= v["p75"] <= v["p95"]
    assert res["unit"] == "Wh/query" and res["boundary"] == "facility"
    assert set(res["posterior"]) == {"data_hash", "version"}
    assert res["posterior"]["data_hash"] == load_posterior().attrs["data_hash"]  # the data it was fitted to
    i = res["inputs"]
    for key in ("model", "total_params_b", "active_params_b", "gpu", "n_gpus", "precision", "batch_size",
                "input_tokens", "output_tokens", "regime", "boundary_description", "pue", "samples", "seed",
                "agent_steps", "per", "warnings", "data_version"):
        assert key in i, key
    assert i["gpu"] == "H100-SXM-80GB" and i["n_gpus"] == 8 and i["samples"] == SMALL and i["model_effect"] == "fitted"


def test_same_seed_same_json_and_another_seed_differs(capsys):
    args = ("estimate", "--model", "Llama 3.1 70B", "--samples", str(SMALL), "--json")
    a, b = cli(capsys, *args, "--seed", "5"), cli(capsys, *args, "--seed", "5")
    assert a == b and a[0] == 0
    c = cli(capsys, *args, "--seed", "6")
    assert json.loads(c[1])["value"] != json.loads(a[1])["value"]


def test_boundaries_nest_and_more_output_tokens_never_cost_less(source):
    means = [infergy.estimate("Llama 3.1 405B", boundary=b, samples=SMALL, posterior=source).per_draw_mean
             for b in ("gpu", "node", "facility", "facility+idle")]
    for narrow, wide in zip(means, means[1:]):
        assert np.all(narrow <= wide * (1 + 1e-6))
    # the same prompt: a given answer length selects its workload component, and with it how long prompts are
    by_len = [infergy.estimate("Llama 3.1 405B", input_tokens=1000, output_tokens=n, samples=SMALL, posterior=source)
              for n in (50, 300, 2000, 8000)]
    for short, long in zip(by_len, by_len[1:]):
        assert np.all(short.per_draw_mean <= long.per_draw_mean)
        assert short.value["median"] <= long.value["median"]


def test_reasoning_costs_more_and_unseen_model_is_wider(source):
    trad = infergy.estimate("Llama 3.1 70B", samples=SMALL, posterior=source)
    reas = infergy.estimate("Llama 3.1 70B", regime="reasoning", samples=SMALL, posterior=source)
    assert reas.value["median"] > 5 * trad.value["median"]
    unseen = infergy.estimate(total_params_b=70, samples=SMALL, posterior=source)
    assert unseen.inputs["model_effect"].startswith("size regression") and unseen.inputs["warnings"]
    # the parameter uncertainty: the spread of each draw's mean energy (a query's own spread is mostly its output
    # length, drawn alike for both, so its 90% width differs between the two by less than the Monte Carlo error)
    width = lambda e: math.log(np.quantile(e.per_draw_mean, 0.95) / np.quantile(e.per_draw_mean, 0.05))  # noqa: E731
    assert width(unseen) > 1.1 * width(trad)


def test_per_token_is_the_per_query_energy_over_its_tokens(source):
    q = infergy.estimate("Llama 3.1 405B", output_tokens=700, samples=SMALL, posterior=source)
    t = infergy.estimate("Llama 3.1 405B", output_tokens=700, samples=SMALL, posterior=source, per="token")
    assert t.unit == "J/token" and q.unit == "Wh/query"
    np.testing.assert_allclose(t.per_draw_mean, q.per_draw_mean * 3600.0 / 700.0, rtol=1e-5)


@pytest.mark.parametrize("layout", [None, "DEP8"])
def test_fixed_length_stream_matches_numpy_exactly(source, layout):
    """Fixed output length: no randomness, so the streamed summary must match NumPy on the same arrays -- means to
    float32 precision, quantiles to the histogram's resolution (0.23% per bin). The histogram inverts the
    empirical CDF (the smallest value whose CDF reaches q), so that is the NumPy quantile to compare with: NumPy's
    default interpolates between order statistics, which differs by a whole gap between draws in a sparse tail.
    Tensor parallel and attention data-parallel over 8 ranks (each its copy of the non-expert weights)."""
    spec = QuerySpec(model="Mixtral 8x22B", output_tokens=900.0, input_tokens=2000.0, boundary="facility+idle",
                     layout=layout, gpu="H200" if layout else "H100-SXM-80GB")
    arrays, _ = prepare(source.draws_coords, spec, source.bundle, 0)
    s = stream(arrays, spec, Workload.of(spec), queries_per_draw=3, seed=0)
    flags = np.asarray(boundary_flags(spec.boundary))
    exact = energy_wh_numpy(arrays, 2000.0, 2000.0, np.full((source.n_draws, 1), 900.0), flags)[:, 0]
    np.testing.assert_allclose(s.per_draw_mean, exact, rtol=2e-5)
    qs = [0.05, 0.25, 0.5, 0.75, 0.95]
    np.testing.assert_allclose(s.quantiles(qs), np.quantile(exact, qs, method="inverted_cdf"), rtol=5e-3)


def test_agent_steps_grow_the_context_as_documented(source):
    spec = QuerySpec(model="Llama 3.1 70B", output_tokens=400.0, input_tokens=1000.0)
    arrays, _ = prepare(source.draws_coords, spec, source.bundle, 0)
    steps, tool = 4, 250.0
    s = stream(arrays, spec, Workload.of(spec, agent_steps=steps, tool_tokens=tool), queries_per_draw=2, seed=0)
    flags = np.asarray(boundary_flags(spec.boundary))
    contexts = [1000.0 + k * (400.0 + tool) for k in range(steps)]
    # the first call prefills its prompt; each later one the new tool tokens and the cache's misses
    hit = Workload.of(spec).cache_hit_rate
    prefills = [1000.0] + [(1.0 - hit) * (c + 400.0) + tool for c in contexts[:-1]]
    expected = sum(energy_wh_numpy(arrays, c, f, np.full((source.n_draws, 1), 400.0), flags)[:, 0]
                   for c, f in zip(contexts, prefills))
    np.testing.assert_allclose(s.per_draw_mean, expected, rtol=2e-5)
    assert s.max_context_tokens == pytest.approx(contexts[-1])
    one = infergy.estimate("Llama 3.1 70B", output_tokens=400.0, input_tokens=1000.0, samples=SMALL,
                           posterior=source)
    assert np.all(s.per_draw_mean > steps * one.per_draw_mean * 0.999)  # longer contexts never make calls cheaper


def test_chunked_random_stream_agrees_with_numpy_in_distribution(source, monkeypatch):
    monkeypatch.setattr(propagate, "MAX_CHUNK_ELEMENTS", 16_000)  # force several chunks
    spec = QuerySpec(model="Llama 3.1 405B", regime="reasoning")
    arrays, _ = prepare(source.draws_coords, spec, source.bundle, 0)
    n_chunks, chunk = propagate.chunking(source.n_draws, 100)
    assert n_chunks > 1 and 100 <= n_chunks * chunk < 100 + n_chunks  # rounded up to whole chunks
    wl = Workload.of(spec, agent_steps=2)
    s = stream(arrays, spec, wl, queries_per_draw=100, seed=1)
    ref = stream_numpy({k: np.asarray(v) for k, v in arrays.items()}, np.asarray(boundary_flags(spec.boundary)), wl,
                       queries_per_draw=100, seed=1)
    assert s.count == ref.count == n_chunks * chunk * source.n_draws
    for q in (0.1, 0.5, 0.9):
        assert s.quantiles([q])[0] == pytest.approx(ref.quantiles([q])[0], rel=0.03)
    assert s.mean == pytest.approx(ref.mean, rel=0.03)


@pytest.mark.parametrize("args,message", [
    (["--model", "Llama 3.1 70B", "--gpu", "X100"], "unknown GPU 'X100'"),
    (["--model", "Llama 3.1 70B", "--output-tokens", "-5"], "argument --output-tokens: must be > 0, got -5"),
    (["--model", "Llama 3.1 70B", "--input-tokens", "0"], "argument --input-tokens: must be > 0, got 0"),
    (["--model", "NoSuchModel"], "unknown model 'NoSuchModel': give its size"),
    ([], "describe the model"),
    (["--model", "Llama 3.1 70B", "--samples", "10"], "samples must be at least the number of posterior draws"),
    (["--model", "Llama 3.1 70B", "--tool-tokens", "100"], "give --agent-steps K > 1"),
    (["--total-params-b", "70", "--active-params-b", "80"], "0 < active <= total"),
    (["--model", "Llama 3.1 70B", "--pue", "0.9"], "argument --pue: a PUE is >= 1"),
    (["--model", "Llama 3.1 70B", "--layout", "TP8", "--gpus", "16"], "layout 'TP8' spans 8 GPUs, not the 16"),
    (["--model", "DeepSeek-R1", "--layout", "DEP8,XP2"], "'XP2' is not TPk, PPk, EPk, DPk or DEPk"),
    (["--model", "DeepSeek-R1", "--link-gb-s", "0"], "argument --link-gb-s: must be > 0, got 0"),
])
def test_estimate_bad_input_is_one_line_and_exit_2(capsys, args, message):
    try:
        code = main(["estimate", *args])
    except SystemExit as exc:  # argparse's own checks
        code = exc.code
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_argparse_errors_exit_2_with_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["estimate", "--precision", "int3", "--model", "Llama 3.1 70B"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "invalid choice: 'int3'" in err


def test_estimate_readable_text_states_interval_boundary_and_version(capsys):
    code, out, _ = cli(capsys, "estimate", "--total-params-b", "120", "--active-params-b", "5", "--gpu", "B200",
                       "--precision", "fp4", "--samples", str(SMALL))
    assert code == 0
    assert "Wh/query (median)" in out and "90% interval" in out and "boundary: facility" in out
    assert "size regression" in out and "posterior infergy 0.1" in out


# --- pathways, fleet, sensitivity ----------------------------------------------------------------------------------

def test_paper_blend_models_are_the_ones_paper_mode_blends(rep_v2):
    for regime in ("traditional", "reasoning"):
        assert set(rep_v2.blended_models[regime]) == set(PAPER_BLEND_MODELS)


def test_pathways_cli_json(capsys):
    res = cli_json(capsys, "pathways", "--regime", "traditional", "--samples", str(SMALL))
    block = res["regimes"]["traditional"]
    rows = block["rows"]
    assert {"model", "serving", "hardware", "h200", "b200", "fp4", "load-x2", "smaller-model", "moe",
            "paper: combined", "fitted: combined"} <= set(rows)
    base = block["baseline_wh_per_query"]
    for row in rows.values():
        r, w = row["reduction_factor"], row["wh_per_query"]
        assert r["p05"] <= r["p25"] <= r["median"] <= r["p75"] <= r["p95"]
        assert w["p05"] <= w["median"] <= w["p95"]
    # the paper's multipliers keep their published medians (log-normal from P5-P95 with z = 1.645)
    assert rows["model"]["reduction_factor"]["median"] == pytest.approx(math.sqrt(1.5 * 10.0), rel=0.08)
    assert rows["paper: combined"]["reduction_factor"]["median"] == pytest.approx(
        math.sqrt(15) * math.sqrt(7.5) * math.sqrt(3.75), rel=0.15)
    # levers that cut energy per draw cut the resulting Wh too; the load curve rises, so more load helps
    assert rows["load-x2"]["reduction_factor"]["p05"] > 1.0 and rows["smaller-model"]["reduction_factor"]["p05"] > 1.0
    assert rows["smaller-model"]["wh_per_query"]["median"] < base["median"]
    assert res["boundary"] == "facility" and res["posterior"]["data_hash"]


def test_a_lever_that_changes_nothing_has_factor_exactly_one(source):
    """Common random numbers: DeepSeek-R1 is already a mixture of experts, so the MoE lever leaves it unchanged."""
    base = Baseline("DeepSeek-R1", (QuerySpec(model="DeepSeek-R1"),))
    res = pathways(base, levers=("moe",), combinations={}, regimes=("traditional",), posterior=source,
                   samples_per_member=SMALL)
    r = res["regimes"]["traditional"]["rows"]["moe"]["reduction_factor"]
    assert r["p05"] == r["p95"] == pytest.approx(1.0, abs=1e-9)


def test_fleet_cli_json(capsys):
    res = cli_json(capsys, "fleet", "--samples", str(SMALL), "--long-share", "0.2")
    f = res["fleet"]
    assert res["unit"] == "GWh/day" and res["boundary"] == "facility+idle"
    for row in f.values():
        assert row["p05"] <= row["median"] <= row["p95"]
    assert f["with_long_queries"]["median"] > f["baseline"]["median"]
    assert f["improved"]["median"] < f["with_long_queries"]["median"]
    paper = res["paper_mode"]["fleet"]  # paper mode rescaled to 20% long queries
    assert paper["baseline"]["median"] == pytest.approx(0.731, rel=0.02)
    assert paper["with_long_queries"]["median"] == pytest.approx(0.8 * 0.731 + 0.2 * 10.53, rel=0.02)
    assert res["reference_lines"] == {"1e9 web searches (0.3 Wh each)": 0.3,
                                      "30 MW H100 data center (80% load, 24 h)": 0.576}


def test_fleet_is_linear_in_queries_and_overhead_and_levers_none_is_no_change(source):
    a = infergy.fleet(1e9, levers=(), posterior=source, samples_per_member=SMALL, paper_version=None)
    b = infergy.fleet(3e9, levers=(), overhead=1.5, posterior=source, samples_per_member=SMALL, paper_version=None)
    for name in ("baseline", "with_long_queries"):
        assert b["fleet"][name]["median"] == pytest.approx(4.5 * a["fleet"][name]["median"], rel=1e-6)
    assert a["fleet"]["improved"] == a["fleet"]["with_long_queries"]


@pytest.mark.parametrize("args,message", [
    (["fleet", "--long-share", "1.5"], "argument --long-share: must be between 0 and 1"),
    (["fleet", "--pathways", "warp-drive"], "unknown lever 'warp-drive'"),
    (["fleet", "--queries-per-day", "-1"], "argument --queries-per-day: must be > 0"),
    (["pathways", "--levers", "b200,teleport"], "unknown lever 'teleport'"),
])
def test_scenario_bad_flags(capsys, args, message):
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_first_order_index_recovers_known_shares():
    rng = np.random.default_rng(0)
    x1, x2, x3 = rng.normal(size=(3, 200_000))
    y = 2.0 * x1 + 1.0 * x2 + 0.0 * x3 + rng.normal(scale=1.0, size=x1.shape)  # shares 4/6, 1/6, 0
    assert first_order_index(x1, y) == pytest.approx(4 / 6, abs=0.02)
    assert first_order_index(x2, y) == pytest.approx(1 / 6, abs=0.02)
    assert first_order_index(x3, y) == pytest.approx(0.0, abs=0.01)
    assert first_order_index(x1, x1) == pytest.approx(1.0, abs=0.01)


def test_sensitivity_cli_writes_table_and_figure(capsys, tmp_path):
    code, out, err = cli(capsys, "sensitivity", "--model", "Llama 3.1 405B", "--queries", "20", "--out",
                         str(tmp_path), "--json")
    assert code == 0, err
    res = json.loads(out)
    shares = res["first_order"]
    assert all(0.0 <= v <= 1.0 for v in shares.values())
    assert sum(res["split"].values()) == pytest.approx(1.0)
    # the query's own lengths (drawn from the workload) dominate a single model's spread
    assert list(shares)[0] in ("prompt length (which query)", "output length (which query)")
    assert (tmp_path / "sensitivity.png").stat().st_size > 10_000 and (tmp_path / "sensitivity.md").exists()


def test_benchmark_script_runs_and_reports_both_paths():
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_propagation.py"), "--sizes", "2e5",
                           "--json"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    row = json.loads(proc.stdout)["rows"][0]
    assert row["samples"] == 200_000 and row["jax_samples_per_s"] > 0 and row["numpy_samples_per_s"] > 0
    assert row["median_jax_wh"] == pytest.approx(row["median_numpy_wh"], rel=0.03)


def test_extrapolation_beyond_the_benchmarked_lengths_is_flagged(source):
    long_out = infergy.estimate("Llama 3.1 70B", output_tokens=40_000, samples=SMALL, posterior=source)
    assert any("beyond the longest benchmarked output" in w for w in long_out.inputs["warnings"])
    agent = infergy.estimate("Llama 3.1 70B", regime="reasoning", agent_steps=8, samples=SMALL, posterior=source)
    assert any("beyond the longest benchmarked input" in w for w in agent.inputs["warnings"])
    plain = infergy.estimate("Llama 3.1 70B", samples=SMALL, posterior=source)
    assert plain.inputs["warnings"] == []


SHARDED = """
import json, numpy as np, jax
from infergy.analysis.estimate import open_posterior
from infergy.analysis.predict import QuerySpec, prepare
from infergy.analysis.propagate import Workload, shard_draws, stream
src = open_posterior()
spec = QuerySpec(model="Llama 3.1 405B", regime="reasoning")
arrays, _ = prepare(src.draws_coords, spec, src.bundle, 0)
wl = Workload.of(spec, agent_steps=2)
scale = np.linspace(-0.1, 0.1, src.n_draws)
one = stream(arrays, spec, wl, queries_per_draw=300, seed=3, log_scale=scale, shard=False)
two = stream(arrays, spec, wl, queries_per_draw=300, seed=3, log_scale=scale)
placed, n = shard_draws(arrays)
print(json.dumps({"devices": jax.local_device_count(), "used": n,
                  "shards": len(placed["log_batch"].sharding.device_set),
                  "hist_equal": bool(np.array_equal(one.hist, two.hist)),
                  "max_rel_diff": float(np.max(np.abs(one.per_draw_mean / two.per_draw_mean - 1))),
                  "ctx_equal": one.max_context_tokens == two.max_context_tokens}))
"""


def test_propagation_sharded_over_two_devices_equals_one_device(subprocess_env):
    """The draws split over 2 (forced host) devices: the same histogram and per-draw means as on one device."""
    env = subprocess_env("--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-c", SHARDED], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["devices"] == 2 and res["used"] == 2 and res["shards"] == 2
    assert res["hist_equal"] and res["max_rel_diff"] < 1e-6 and res["ctx_equal"]


def test_one_device_or_uneven_draws_are_left_unsharded(source):
    arrays, _ = prepare(source.draws_coords, QuerySpec(model="Llama 3.1 70B"), source.bundle, 0)
    assert propagate.shard_draws(arrays)[1] == 1  # this process has one CPU device
    cpu = jax.local_devices()[0]
    assert propagate.shard_draws({k: v[:999] for k, v in arrays.items()}, devices=[cpu, cpu])[1] == 1


@pytest.mark.parametrize("field, value, message", [
    ("pue", float("nan"), "pue: PUE must be a finite number, got nan"),
    ("pue", 0.9, "pue: PUE must be >= 1, got 0.9"),
    ("batch_size", float("inf"), "batch_size: batch size must be a finite number"),
    ("input_tokens", "many", "input_tokens: input tokens must be a number, got str 'many'"),
    ("output_tokens", True, "output_tokens: output tokens must be a number, got True"),
    ("output_tokens", 0, "output_tokens: output tokens must be > 0, got 0"),
    ("n_gpus", 1.5, "n_gpus: GPUs per replica must be a whole number"),
    ("total_params_b", -70, "total_params_b: total parameters (billions) must be > 0"),
    ("gpu", None, "gpu must be given"),
    ("model", 70, "model must be text, got int 70"),
    ("moe", "yes", "moe must be true, false or None"),
])
def test_a_query_refuses_what_is_not_a_valid_value_and_names_the_field(field, value, message):
    """NaN, infinity, strings for numbers, booleans, out-of-range values: refused where the query is made (the CLI,
    the Python API and every answer build one), with the field's name."""
    with pytest.raises(ValueError, match=re.escape(message)):
        QuerySpec(**{"model": "Llama 3.1 70B", field: value})


def test_a_query_coerces_numbers_given_as_text_or_numpy():
    spec = QuerySpec(model="Llama 3.1 70B", input_tokens="1000", output_tokens=np.int64(300), n_gpus=8.0, pue="1.2")
    assert (spec.input_tokens, spec.output_tokens, spec.n_gpus, spec.pue) == (1000.0, 300.0, 8, 1.2)
    assert isinstance(spec.n_gpus, int) and isinstance(spec.output_tokens, float)
