"""``--device {auto,cpu,gpu}``: platform choice per task, clear errors without a GPU, chain methods, block sizes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import jax
import pytest

from infergy import devices
from infergy.analysis import propagate
from infergy.inference.samplers import resolve_chain_method

HAS_GPU = any(d.platform == "gpu" for d in jax.devices())


CHOOSE = """
import json, os, sys
from infergy.devices import select_device
c = select_device(sys.argv[1], task=sys.argv[2], cpu_devices=int(sys.argv[3]))
import jax
print(json.dumps({"platform": c.platform, "devices": c.devices, "reason": c.reason,
                  "jax_platform": jax.default_backend(), "jax_devices": jax.local_device_count()}))
"""


def _choose(requested: str, task: str, cpu_devices: int = 0) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "JAX_PLATFORMS"}
    proc = subprocess.run([sys.executable, "-c", CHOOSE, requested, task, str(cpu_devices)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_cpu_is_honoured_and_asks_for_cpu_devices_for_parallel_chains():
    res = _choose("cpu", "fit", cpu_devices=4)
    assert res["platform"] == res["jax_platform"] == "cpu"
    assert res["devices"] == res["jax_devices"] == 4  # one CPU device per chain: parallel chains
    assert res["reason"] == "asked for"


def test_auto_fits_on_the_cpu_whatever_is_installed():
    res = _choose("auto", "fit", cpu_devices=4)
    assert res["jax_platform"] == "cpu"
    assert res["reason"] == "auto: the fit runs faster on CPU cores"


@pytest.mark.skipif(HAS_GPU, reason="a GPU is present")
@pytest.mark.parametrize("task", ["propagate", "fit_chees"])
def test_auto_gpu_tasks_without_a_gpu_run_on_the_cpu(task):
    assert devices.AUTO_PLATFORM[task] == "gpu"  # propagation and the ChEES fit prefer a GPU (docs/scaling.md)
    res = _choose("auto", task)
    assert res["jax_platform"] == "cpu"
    if not devices.cuda_jax_installed():
        assert res["reason"] == "auto: no CUDA build of JAX installed"


@pytest.mark.skipif(HAS_GPU, reason="a GPU is present")
def test_gpu_without_one_is_a_clear_error():
    with pytest.raises(ValueError, match=r"--device gpu: .*(pip install -e '\.\[gpu\]'|no usable GPU)"):
        devices.select_device("gpu")


def test_unknown_choice_or_task_is_refused():
    with pytest.raises(ValueError, match="unknown device 'tpu'; choose one of auto, cpu, gpu"):
        devices.select_device("tpu")
    with pytest.raises(ValueError, match="unknown task 'train'"):
        devices.select_device("cpu", task="train")


@pytest.mark.skipif(HAS_GPU, reason="a GPU is present")
def test_cli_device_gpu_without_one_exits_2_with_one_line():
    proc = subprocess.run([sys.executable, "-m", "infergy", "estimate", "--model", "Llama 3.1 70B", "--device", "gpu"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("infergy: error: --device gpu:"), proc.stderr


def test_cli_device_cpu_estimate_runs_and_says_where():
    proc = subprocess.run([sys.executable, "-m", "infergy", "estimate", "--model", "Llama 3.1 70B", "--device", "cpu",
                           "--samples", "1e5", "--json"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["value"]["median"] > 0
    assert "infergy: device: cpu x1 (asked for)" in proc.stderr


def test_chain_method_auto():
    n = jax.local_device_count()
    assert resolve_chain_method("auto", 1) == "sequential"
    assert resolve_chain_method("auto", n) == ("parallel" if n > 1 else "sequential")
    expected = "vectorized" if jax.default_backend() == "gpu" else "sequential"
    assert resolve_chain_method("auto", n + 1) == expected
    assert resolve_chain_method("vectorized", 4) == "vectorized"


def test_block_size_follows_the_platform():
    x = jax.numpy.zeros(3)
    expected = propagate.MAX_CHUNK_ELEMENTS_GPU if jax.default_backend() == "gpu" else propagate.MAX_CHUNK_ELEMENTS
    assert propagate._max_chunk_elements(x) == expected
    cpu_x = jax.device_put(x, jax.devices("cpu")[0])
    assert propagate._max_chunk_elements(cpu_x) == propagate.MAX_CHUNK_ELEMENTS
    assert propagate.chunking(1000, 10_000, propagate.MAX_CHUNK_ELEMENTS_GPU) == (1, 10_000)
    assert propagate.chunking(1000, 10_000) == (5, 2000)


def _run_bench(script: str, *args: str) -> dict:
    """Run ``benchmarks/<script>`` with ``args`` (and ``--json``); its JSON row."""
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / script
    proc = subprocess.run([sys.executable, str(path), *args, "--json"], capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


@pytest.mark.slow
def test_fit_benchmark_reports_ess_per_second():
    row = _run_bench("bench_fit.py", "--device", "cpu", "--chains", "2", "--warmup", "30", "--draws", "30",
                     "--against", "diagonal")
    assert row["chains"] == 2 and row["chain_method"] == "parallel" and row["draws"] == 30
    assert row["bulk_ess_per_s"] == pytest.approx(row["min_bulk_ess"] / row["sampling_s"])
    assert row["leapfrog_steps_per_draw"] >= 1 and "cpu" in row["machine"]
    # the same fit with the diagonal metric, in the same run, and the ratios between the two
    assert row["metric"] == "hessian" and row["against"]["metric"] == "diagonal"
    assert row["ess_per_s_ratio"] == pytest.approx(row["bulk_ess_per_s"] / row["against"]["bulk_ess_per_s"])
    assert row["steps_per_draw_ratio"] == pytest.approx(row["against"]["leapfrog_steps_per_draw"]
                                                        / row["leapfrog_steps_per_draw"])


@pytest.mark.slow
def test_fit_benchmark_measures_the_chees_fit():
    row = _run_bench("bench_fit.py", "--device", "cpu", "--sampler", "chees", "--chains", "4", "--warmup", "30",
                     "--draws", "40", "--thin", "2")
    assert (row["sampler"], row["chains"], row["thin"], row["chain_method"]) == ("chees", 4, 2, "vectorized")
    assert row["bulk_ess_per_s"] == pytest.approx(row["min_bulk_ess"] / row["sampling_s"])
    assert row["leapfrog_steps_per_draw"] >= 1 and "device: cpu" in row["device"]


@pytest.mark.slow
def test_chees_sampler_benchmark_names_where_its_divergences_started():
    # a step size far too long, hardly adapted: divergences to locate
    row = _run_bench("bench_chees.py", "--device", "cpu", "--chains", "4", "--warmup", "3", "--draws", "40",
                     "--initial-step-size", "1.5")
    starts = row["divergence_starts"]
    assert row["divergences"] >= len(starts) >= 1 and row["chains"] == 4 and row["step_scale"] == 1.0
    for d in starts:
        assert 0 <= d["chain"] < 4 and 0 <= d["kept_draw"] < 40 and len(d["most_extreme"]) == 5
        ranks = [e["rank"] for e in d["most_extreme"]]
        assert all(0.0 <= r <= 1.0 for r in ranks)
        extremeness = [min(r, 1 - r) for r in ranks]
        assert extremeness == sorted(extremeness)  # most extreme first
        # an element that is the same in every draw (a structural zero) ranks in the middle, never at an end
        assert not [e for e in d["most_extreme"] if e["value"] == 0.0 and e["rank"] in (0.0, 1.0)]
