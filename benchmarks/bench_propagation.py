"""Propagation speed: query-samples per second of the jitted, streaming JAX path vs the same computation in plain
NumPy, both measured in this run on this machine.

    python benchmarks/bench_propagation.py [--device auto|cpu|gpu] [--sizes 1e6,1e7,1e8] [--json]

Each row: a Llama 3.1 405B query on 8 x H100 (traditional regime, facility boundary) over the shipped posterior's
1,000 draws x (size / 1,000) simulated queries. JAX time excludes compilation (reported apart) and is the best of
three runs; NumPy runs once at each size (at 1e8, on a 1e7 subset, scaled: it is linear in the samples). The medians
of both are printed so that a reader sees they computed the same thing (equal in distribution; different random
numbers).

With a GPU (``--device gpu``, or ``auto`` where one is usable) each row also times the same JAX computation on
the CPU cores in this run, so the GPU/CPU ratio is measured on one machine.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np


def _time_jax(stream, arrays, spec, workload, q: int, reps: int = 3):
    """(compile-and-first seconds, best of ``reps`` seconds, last summary) for one size."""
    t0 = time.perf_counter()
    stream(arrays, spec, workload, queries_per_draw=q, seed=0).hist.sum()
    first = time.perf_counter() - t0
    times = []
    for rep in range(reps):
        t0 = time.perf_counter()
        res = stream(arrays, spec, workload, queries_per_draw=q, seed=rep)
        times.append(time.perf_counter() - t0)
    return first, min(times), res


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1e6,1e7,1e8", help="query-sample counts, comma separated [1e6,1e7,1e8]")
    ap.add_argument("--numpy-max", type=float, default=1e7,
                    help="largest size NumPy runs in full; above it NumPy's rate is measured at this size [1e7]")
    ap.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto")
    ap.add_argument("--cpu-max", type=float, default=1e8,
                    help="with a GPU: largest size the CPU (JAX) also runs; above it the CPU column is blank [1e8]")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    sys.path.insert(0, os.path.dirname(__file__))
    from infergy.devices import select_device

    choice = select_device(args.device, task="propagate")
    import jax

    from _machine import machine_name
    from infergy.analysis.estimate import open_posterior
    from infergy.analysis.numpy_reference import stream_numpy
    from infergy.analysis.predict import QuerySpec, boundary_flags, prepare
    from infergy.analysis.propagate import Workload, stream

    source = open_posterior()
    spec = QuerySpec(model="Llama 3.1 405B", gpu="H100-SXM-80GB", regime="traditional", boundary="facility")
    arrays, _ = prepare(source.draws_coords, spec, source.bundle, 0)
    np_arrays = {k: np.asarray(v) for k, v in arrays.items()}
    workload = Workload.of(spec)
    n = source.n_draws
    gpu = choice.platform == "gpu"
    cpu_arrays = jax.device_put(arrays, jax.devices("cpu")[0]) if gpu else None
    rows = []
    for size in (int(float(s)) for s in args.sizes.split(",")):
        q = max(1, size // n)
        first, jax_s, res = _time_jax(stream, arrays, spec, workload, q)
        cpu = {}
        if gpu and size <= args.cpu_max:
            with jax.default_device(jax.devices("cpu")[0]):
                cpu_first, cpu_s, cpu_res = _time_jax(stream, cpu_arrays, spec, workload, q)
            cpu = {"cpu_jax_s": cpu_s, "cpu_jax_samples_per_s": cpu_res.count / cpu_s,
                   "gpu_over_cpu": (cpu_s / cpu_res.count) / (jax_s / res.count),
                   "median_cpu_jax_wh": float(cpu_res.quantiles([0.5])[0])}
        np_size = int(min(size, args.numpy_max))
        t0 = time.perf_counter()
        ref = stream_numpy(np_arrays, np.asarray(boundary_flags(spec.boundary)), workload,
                           queries_per_draw=max(1, np_size // n), seed=0)
        np_s = (time.perf_counter() - t0) * res.count / ref.count
        rows.append({"samples": res.count, "jax_s": jax_s, "jax_compile_and_first_s": first,
                     "jax_samples_per_s": res.count / jax_s, "numpy_s": np_s,
                     "numpy_samples_per_s": res.count / np_s, "numpy_measured_samples": ref.count,
                     "speedup": np_s / jax_s, "median_jax_wh": float(res.quantiles([0.5])[0]),
                     "median_numpy_wh": float(ref.quantiles([0.5])[0]), **cpu})
    info = {"machine": machine_name(), "device": choice.line(), "jax": jax.__version__, "numpy": np.__version__}
    if args.json:
        print(json.dumps({"info": info, "rows": rows}, indent=2))
        return {"info": info, "rows": rows}
    print(f"propagation, {info['machine']}; jax {info['jax']}, numpy {info['numpy']}")
    print(f"{'samples':>12s} {'jax s':>8s} {'jax samples/s':>14s} {'numpy s':>9s} {'numpy samples/s':>16s} "
          f"{'jax/numpy':>9s} {'median Wh jax | numpy':>22s}")
    for r in rows:
        extrap = "*" if r["numpy_measured_samples"] < r["samples"] else " "
        print(f"{r['samples']:>12,d} {r['jax_s']:8.3f} {r['jax_samples_per_s']:14.3g} {r['numpy_s']:8.2f}{extrap} "
              f"{r['numpy_samples_per_s']:16.3g} {r['speedup']:8.1f}x {r['median_jax_wh']:10.4f} | "
              f"{r['median_numpy_wh']:.4f}")
    if any(r["numpy_measured_samples"] < r["samples"] for r in rows):
        print("* NumPy measured at --numpy-max samples and scaled linearly")
    if gpu:
        print(f"{'samples':>12s} {'gpu samples/s':>14s} {'cpu jax samples/s':>18s} {'gpu/cpu':>8s}")
        for r in rows:
            if "cpu_jax_s" in r:
                print(f"{r['samples']:>12,d} {r['jax_samples_per_s']:14.3g} {r['cpu_jax_samples_per_s']:18.3g} "
                      f"{r['gpu_over_cpu']:7.1f}x")
    return {"info": info, "rows": rows}


if __name__ == "__main__":
    main()
