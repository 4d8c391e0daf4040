"""Fit speed: bulk ESS per second of the default model's fit, on the CPU or a GPU, measured in this run.

    python benchmarks/bench_fit.py [--device auto|cpu|gpu] [--sampler nuts|chees] [--chains 4] [--warmup 300]
                                   [--draws 1000] [--metric hessian|diagonal] [--against diagonal] [--json]

One row per run: chains and how they ran (parallel over CPU devices, vectorized on a GPU), sampling seconds (the
variational start, warm-up, draws and compilation: the wall time a user waits for the chains), the smallest bulk
and tail ESS over the parameters, ESS per second, leapfrog steps per draw, and whether the automatic review passed.
``--against diagonal`` fits a second time in the same run with the diagonal metric (the sampler's coordinates
before the Hessian whitening) and prints the ratios; ``make bench`` does that. Run it again with other
``--device``/``--chains`` for the ratio between two machines. ``--sampler chees`` measures ChEES-HMC with its own
defaults (128 chains x (800 + 2,000), the step halved after warm-up, every 40th draw kept:
``FitConfig.for_sampler``), the GPU's sampler.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto")
    ap.add_argument("--sampler", choices=("nuts", "chees"), default="nuts")
    ap.add_argument("--chains", type=int, default=None, help="[the sampler's default]")
    ap.add_argument("--chain-method", default="auto", choices=("auto", "parallel", "sequential", "vectorized"))
    ap.add_argument("--warmup", type=int, default=None, help="[the default fit's]")
    ap.add_argument("--draws", type=int, default=None, help="[the default fit's]")
    ap.add_argument("--max-tree-depth", type=int, default=None)
    ap.add_argument("--thin", type=int, default=None, help="keep every THIN-th draw (chees) [the sampler's default]")
    ap.add_argument("--step-scale", type=float, default=None,
                    help="chees: the adapted step times this after warm-up (as `infergy fit --step-scale`) [0.5]")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--metric", choices=("hessian", "diagonal"), default="hessian")
    ap.add_argument("--against", choices=("hessian", "diagonal"), default=None,
                    help="also fit with this metric in the same run and print the ratios")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    sys.path.insert(0, os.path.dirname(__file__))
    from infergy.devices import select_device
    from infergy.inference.fit import FitConfig

    given = {k: v for k, v in (("chains", args.chains), ("warmup", args.warmup), ("draws", args.draws),
                               ("max_tree_depth", args.max_tree_depth), ("thin", args.thin),
                               ("step_scale", args.step_scale)) if v is not None}
    base = FitConfig.for_sampler(args.sampler, seed=args.seed, chain_method=args.chain_method, progress_bar=False,
                                 **given)
    choice = select_device(args.device, task="fit" if args.sampler == "nuts" else "fit_chees",
                           cpu_devices=base.chains if args.sampler == "nuts" else None)
    import jax

    from dataclasses import replace

    from _machine import machine_name
    from infergy.inference.fit import fit

    def run(metric: str) -> dict:
        cfg = replace(base, metric=metric)
        t0 = time.perf_counter()
        result = fit(config=cfg)
        total = time.perf_counter() - t0
        checks = {c.name: c for c in result.review.checks}
        row = {
            "machine": machine_name(), "device": choice.line(), "jax": jax.__version__, "sampler": cfg.sampler,
            "metric": metric, "thin": cfg.thin,
            "chains": cfg.chains, "chain_method": result.datatree.attrs["chain_method"], "warmup": cfg.warmup,
            "draws": cfg.draws, "sampling_s": result.seconds, "total_s": total,
            "min_bulk_ess": checks["min bulk ESS"].value, "min_tail_ess": checks["min tail ESS"].value,
            "max_rhat": checks["max R-hat"].value, "divergences": checks["divergences"].value,
            "bulk_ess_per_s": checks["min bulk ESS"].value / result.seconds,
            "leapfrog_steps_per_draw": result.mean_leapfrog_steps, "review_passed": result.review.ok,
        }
        if not args.json:
            print(f"fit ({cfg.sampler}), {row['machine']}; {row['device']}; jax {row['jax']}; metric {metric}")
            print(f"{cfg.chains} chains ({row['chain_method']}) x ({cfg.warmup} warm-up + {cfg.draws} draws): "
                  f"sampling {row['sampling_s']:.1f} s (total {total:.1f} s), min bulk ESS "
                  f"{row['min_bulk_ess']:.0f}, {row['bulk_ess_per_s']:.2f} ESS/s, "
                  f"{row['leapfrog_steps_per_draw']:.0f} leapfrog steps/draw, max R-hat {row['max_rhat']:.3f}, "
                  f"{row['divergences']:.0f} divergences, review {'PASS' if row['review_passed'] else 'FAIL'}",
                  flush=True)
        return row

    row = run(args.metric)
    if args.against:
        other = run(args.against)
        row = {**row, "against": other,
               "ess_per_s_ratio": row["bulk_ess_per_s"] / other["bulk_ess_per_s"],
               "sampling_time_ratio": other["sampling_s"] / row["sampling_s"],
               "steps_per_draw_ratio": other["leapfrog_steps_per_draw"] / row["leapfrog_steps_per_draw"]}
        if not args.json:
            print(f"{args.metric} vs {args.against}, same run: {row['ess_per_s_ratio']:.2f}x the ESS per second, "
                  f"{row['sampling_time_ratio']:.2f}x faster sampling, {row['steps_per_draw_ratio']:.2f}x fewer "
                  "leapfrog steps per draw")
    if args.json:
        print(json.dumps(row, indent=2))
    return row

if __name__ == "__main__":
    main()
