"""Answers where users feel them, measured in one run on one machine: one warm ``estimate``, a batch of queries with
``estimate_many`` against a loop over ``estimate``, and a partitioned request log with Dask.

    python benchmarks/bench_answers.py [--queries 1000] [--samples 1e4] [--log-rows 1e5] [--json]

- warm estimate: the posterior open and the programs compiled (a server's or a notebook's case), the default
  1e6 query-samples; the same query again, and queries not asked before. The cold command (a fresh process) apart.
- batch: ``--queries`` queries of four models on H100s, lengths given (a request log) and with the output drawn,
  ``--samples`` query-samples each; the loop over ``estimate`` runs on 20 of them and is scaled.
- Dask: a Parquet dataset of ``--log-rows`` requests in 8 partitions on a local cluster (2 worker processes, one
  thread each), per-request answers and per-model totals; rows per second after the workers have started.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

MODELS = ("Llama 3.1 405B", "Llama 3.1 70B", "Llama 3.1 8B", "DeepSeek-R1")


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _log(rows: int, seed: int = 0):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    return pd.DataFrame({"model": rng.choice(MODELS, rows), "gpu": "H100",
                         "input_tokens": rng.integers(50, 4_000, rows).astype(float),
                         "output_tokens": rng.integers(10, 2_000, rows).astype(float)})


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--queries", type=int, default=1_000)
    ap.add_argument("--samples", type=float, default=1e4)
    ap.add_argument("--log-rows", type=float, default=1e5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    sys.path.insert(0, os.path.dirname(__file__))
    import jax
    import numpy as np

    from _machine import machine_name
    from infergy.analysis.batch import energy_totals, estimate_many
    from infergy.analysis.estimate import estimate, open_posterior

    result: dict = {"info": {"machine": machine_name(), "jax": jax.__version__}}
    source = open_posterior()
    # --- one warm estimate
    estimate("Llama 3.1 405B", gpu="H100", posterior=source)
    result["warm_same_query_s"] = _median_time(lambda: estimate("Llama 3.1 405B", gpu="H100", posterior=source), 7)
    fresh = iter([dict(model=m, gpu=g, input_tokens=i) for m in MODELS for g in ("H100", "H200")
                  for i in (700, 1300)])
    result["warm_new_query_s"] = _median_time(lambda: estimate(**next(fresh), posterior=source), 7)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "infergy", "estimate", "--model", "Llama 3.1 405B", "--gpu", "H100",
                    "--json"], check=True, capture_output=True)
    result["cold_command_s"] = time.perf_counter() - t0
    # --- a batch against a loop
    samples = int(args.samples)
    for label, frame in (("lengths_given", _log(args.queries)),
                         ("output_drawn", _log(args.queries).assign(output_tokens=np.nan))):
        estimate_many(frame, samples=samples, posterior=source)  # compile
        batch_s = _median_time(lambda: estimate_many(frame, samples=samples, posterior=source), 3)
        some = frame.head(20)

        def loop():
            for row in some.to_dict("records"):
                estimate(**{k: (None if v != v else v) for k, v in row.items()}, samples=samples, posterior=source)

        loop()
        loop_s = _median_time(loop, 1) * len(frame) / len(some)
        result[f"batch_{label}"] = {"queries": len(frame), "samples_each": samples, "batch_s": batch_s,
                                    "batch_queries_per_s": len(frame) / batch_s,
                                    "loop_queries_per_s": len(frame) / loop_s, "batch_over_loop": loop_s / batch_s}
    # --- a partitioned log on a local Dask cluster
    try:
        import dask.dataframe as dd
        import distributed
    except ImportError:
        result["dask"] = "not installed (pip install -e '.[dask]')"
    else:
        rows = int(args.log_rows)
        with tempfile.TemporaryDirectory() as tmp, \
                distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                         dashboard_address=None) as cluster, distributed.Client(cluster) as client:
            dd.from_pandas(_log(rows, seed=1), npartitions=8).to_parquet(f"{tmp}/log")
            warm = dd.from_pandas(_log(16, seed=2), npartitions=2)
            estimate_many(warm).compute(), energy_totals(warm, by="model")  # workers load the posterior, compile
            log = dd.read_parquet(f"{tmp}/log")
            t0 = time.perf_counter()
            answers = estimate_many(log).compute()
            rows_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            totals = energy_totals(log, by="model")
            totals_s = time.perf_counter() - t0
            client.close()
        result["dask"] = {"rows": rows, "partitions": 8, "workers": 2, "per_request_s": rows_s,
                          "per_request_rows_per_s": rows / rows_s, "totals_s": totals_s,
                          "totals_rows_per_s": rows / totals_s, "answered": len(answers),
                          "total_mwh_median": float(totals["median"].sum() / 1e6)}
    if args.json:
        print(json.dumps(result, indent=2))
        return result
    print(f"answers, {result['info']['machine']}; jax {jax.__version__}")
    print(f"  warm estimate (1e6 query-samples): same query {result['warm_same_query_s'] * 1e3:.0f} ms, "
          f"a new query {result['warm_new_query_s'] * 1e3:.0f} ms; cold command {result['cold_command_s']:.1f} s")
    for label in ("lengths_given", "output_drawn"):
        r = result[f"batch_{label}"]
        print(f"  estimate_many, {label.replace('_', ' ')}: {r['queries']:,} queries x {r['samples_each']:,} "
              f"samples in {r['batch_s']:.2f} s = {r['batch_queries_per_s']:,.0f} queries/s; a loop over estimate "
              f"{r['loop_queries_per_s']:,.1f} queries/s ({r['batch_over_loop']:,.0f}x)")
    d = result["dask"]
    if isinstance(d, dict):
        print(f"  Dask, {d['rows']:,} requests in {d['partitions']} partitions, {d['workers']} workers: per-request "
              f"{d['per_request_rows_per_s']:,.0f} rows/s, per-model totals {d['totals_rows_per_s']:,.0f} rows/s")
    else:
        print(f"  Dask: {d}")
    return result


if __name__ == "__main__":
    main()
