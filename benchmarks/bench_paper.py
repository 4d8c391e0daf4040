"""Paper mode's speed at large sample counts against the same Monte Carlo in plain NumPy, in one run on one machine.

    python benchmarks/bench_paper.py [--samples 2e6] [--repeats 3] [--sampling lhs|iid] [--json]

Rows: ``replicate_paper`` (warm: compiled programs reused; the median of ``--repeats``), the plain-NumPy reference
``replicate_paper_numpy`` (the median of as many repeats), and the whole command ``infergy replicate-paper
--samples N --json --no-figures`` in a fresh process (cold: imports, compiling, everything a user waits for). The
medians of both implementations' blended figures are printed so a reader sees they computed the same thing (equal in
distribution; different random numbers).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def _timed(fn, repeats: int):
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times, out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=float, default=2e6, help="samples per model and regime [2e6]")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sampling", choices=("lhs", "iid"), default="lhs")
    ap.add_argument("--version", default="v2")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    n = int(args.samples)

    sys.path.insert(0, os.path.dirname(__file__))
    import jax
    import numpy as np

    from _machine import machine_name
    from infergy.analysis.paper_mc import replicate_paper
    from infergy.analysis.paper_numpy import replicate_paper_numpy

    replicate_paper(args.version, samples=n, sampling=args.sampling)  # compile
    jax_s, jax_all, rep = _timed(lambda: replicate_paper(args.version, samples=n, sampling=args.sampling),
                                 args.repeats)
    np_s, np_all, ref = _timed(lambda: replicate_paper_numpy(args.version, samples=n, sampling=args.sampling),
                               args.repeats)
    cli = [sys.executable, "-m", "infergy", "replicate-paper", "--version", args.version, "--samples", str(n),
           "--sampling", args.sampling, "--json", "--no-figures"]
    t0 = time.perf_counter()
    done = subprocess.run(cli, capture_output=True, text=True, check=True)
    cli_s = time.perf_counter() - t0
    blended = {r: (rep.to_dict()["blended"][r]["median"], ref["blended"][r]["median"]) for r in ref["blended"]}
    assert json.loads(done.stdout)["samples_per_model"] == n
    result = {
        "info": {"machine": machine_name(), "jax": jax.__version__, "numpy": np.__version__,
                 "samples_per_model": n, "sampling": args.sampling, "version": args.version,
                 "fleet_interval": rep.fleet_interval},
        "paper_mode_warm_s": jax_s, "paper_mode_warm_all_s": jax_all,
        "numpy_reference_s": np_s, "numpy_reference_all_s": np_all,
        "cli_cold_s": cli_s, "warm_over_numpy": jax_s / np_s, "cli_cold_over_numpy": cli_s / np_s,
        "blended_median_wh": blended,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return result
    print(f"paper mode {args.version}, {n:,} samples per model and regime ({args.sampling}), {result['info']['machine']};"
          f" jax {jax.__version__}, numpy {np.__version__}")
    print(f"  replicate_paper, warm (median of {args.repeats}):   {jax_s:7.2f} s")
    print(f"  plain-NumPy reference (median of {args.repeats}):   {np_s:7.2f} s")
    print(f"  infergy replicate-paper, cold process: {cli_s:7.2f} s")
    print(f"  warm / NumPy: {jax_s / np_s:.2f}x   cold command / NumPy: {cli_s / np_s:.2f}x")
    for r, (a, b) in blended.items():
        print(f"  blended median, {r}: {a:.4f} Wh | NumPy {b:.4f} Wh")
    print(f"  fleet interval: {rep.fleet_interval}")
    return result


if __name__ == "__main__":
    main()
