"""``infergy serve`` under load, measured in one run on one machine, against the same answers computed in this
process without HTTP (the baseline: what the server cannot beat).

    python benchmarks/bench_serve.py [--requests 500] [--clients 16] [--distinct 40] [--json]

- baseline: ``estimate()`` in this process, posterior open and programs compiled, the default 1e6 query-samples,
  queries not asked before (20 of them).
- one client, queries not asked before: the warm request a calculator user makes (its p50 is the figure the
  server is held to: <= 300 ms on 2 cores); then the same queries again (answered from memory).
- load: ``--requests`` requests from ``--clients`` concurrent clients over ``--distinct`` queries (a mix of repeated
  and new queries), then ``--requests`` queries all different (every request computed: one at a time, so the
  clients queue); p50 and p99 latency, errors, requests per second.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor


def _quantiles(seconds: list[float]) -> dict:
    q = statistics.quantiles(seconds, n=100)
    return {"p50_ms": q[49] * 1e3, "p99_ms": q[98] * 1e3, "n": len(seconds)}


def _queries(n: int, offset: int) -> list[dict]:
    models = ("Llama 3.1 8B", "Llama 3.1 70B", "Qwen3-32B", "Mixtral 8x7B", "Llama 3.1 405B")
    return [{"model": models[i % len(models)], "seed": offset + i, "output_tokens": 100 + 7 * (i % 50)}
            for i in range(n)]


def _load(httpx, url: str, order: list[dict], clients: int) -> dict:
    def one(client, fields):
        t0 = time.perf_counter()
        try:
            status = client.get(url, params=fields, timeout=600).status_code
        except httpx.HTTPError:
            status = -1
        return status, time.perf_counter() - t0

    started = time.perf_counter()
    with httpx.Client(limits=httpx.Limits(max_connections=clients)) as client, ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(lambda f: one(client, f), order))
    wall = time.perf_counter() - started
    return {**_quantiles([s for _, s in results]), "errors": sum(status != 200 for status, _ in results),
            "requests_per_s": len(order) / wall, "wall_s": wall}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--distinct", type=int, default=40)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    sys.path.insert(0, os.path.dirname(__file__))
    import httpx

    from _machine import machine_name
    from infergy.analysis.estimate import estimate, open_posterior
    from infergy.analysis.predict import QuerySpec
    from infergy.compile_cache import enable_compile_cache
    from infergy.serve import Running

    enable_compile_cache()
    source = open_posterior()
    estimate(spec=QuerySpec(model="Llama 3.1 70B", output_tokens=300.0), posterior=source)  # compiles
    base = []
    for fields in _queries(20, 10_000):
        t0 = time.perf_counter()
        estimate(spec=QuerySpec(model=fields["model"], output_tokens=float(fields["output_tokens"])), posterior=source,
                 seed=fields["seed"])
        base.append(time.perf_counter() - t0)
    out = {"machine": machine_name(), "baseline_in_process": _quantiles(base)}

    with Running("--warm", "estimate") as server:
        url = server.url + "api/estimate"
        with httpx.Client() as client:
            client.get(url, params={"model": "Llama 3.1 70B", "output_tokens": 300, "seed": 99_999}, timeout=600)
            new, again = [], []
            for fields in _queries(40, 20_000):
                t0 = time.perf_counter()
                assert client.get(url, params=fields, timeout=600).status_code == 200
                new.append(time.perf_counter() - t0)
            for fields in _queries(40, 20_000):
                t0 = time.perf_counter()
                assert client.get(url, params=fields, timeout=600).status_code == 200
                again.append(time.perf_counter() - t0)
        out["one_client_new"] = _quantiles(new)
        out["one_client_again"] = _quantiles(again)
        mix = _queries(args.distinct, 30_000)
        out["load_mix"] = _load(httpx, url, [mix[i % len(mix)] for i in range(args.requests)], args.clients)
        out["load_all_new"] = _load(httpx, url, _queries(args.requests, 40_000), args.clients)
        out["health"] = httpx.get(server.url + "health").json()

    if args.json:
        print(json.dumps(out, indent=2))
        return out
    b = out["baseline_in_process"]["p50_ms"]
    print(f"infergy serve on {out['machine']}: estimate, default 1e6 query-samples")
    print(f"  in process (baseline), new queries:  p50 {b:7.0f} ms")
    for key, label in (("one_client_new", "HTTP, one client, new queries"),
                       ("one_client_again", "HTTP, one client, asked before")):
        r = out[key]
        print(f"  {label:<36} p50 {r['p50_ms']:7.0f} ms  p99 {r['p99_ms']:7.0f} ms  ({r['p50_ms'] / b:.2f}x the "
              "baseline)")
    for key, label in (("load_mix", f"{args.requests} requests, {args.clients} clients, {args.distinct} queries"),
                       ("load_all_new", f"{args.requests} requests, {args.clients} clients, all new")):
        r = out[key]
        print(f"  {label}: p50 {r['p50_ms']:.0f} ms, p99 {r['p99_ms']:.0f} ms, {r['errors']} errors, "
              f"{r['requests_per_s']:.1f} requests/s")
    return out


if __name__ == "__main__":
    main()
