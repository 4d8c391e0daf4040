"""A sampler built for many chains: ChEES-HMC (BlackJAX) on the joint model, for comparison with the NUTS fit.

    pip install blackjax   # not a dependency of infergy: this script decides whether it should become one
    python benchmarks/bench_chees.py [--device auto|cpu|gpu] [--chains 16] [--warmup 300] [--draws 200]
                                     [--metric hessian|diagonal] [--json]

All chains take the same number of leapfrog steps per iteration, so a vectorized batch never waits for its
longest trajectory, which is what held NUTS back on the GPU (docs/scaling.md). The chains start as the NUTS fit
starts: from the mean-field variational fit, one draw each, and sample in the same whitened coordinates
(``--metric``, see infergy/inference/precondition.py). ChEES adapts the step size, the trajectory length and a
diagonal metric over the ensemble. Prints the smallest bulk ESS and the largest R-hat over the model's
unconstrained parameters, and the ESS per 1,000 chain-gradients (warm-up included). That last figure is the
sampler's efficiency whatever the hardware: compare it with NUTS's (bench_fit.py).
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
    ap.add_argument("--chains", type=int, default=16)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--draws", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--metric", choices=("hessian", "diagonal"), default="hessian",
                    help="the coordinates the chains move in (as `infergy fit --metric`)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    sys.path.insert(0, os.path.dirname(__file__))
    from infergy.inference.devices import select_device

    choice = select_device(args.device, task="propagate")  # many chains: the GPU where one is usable
    import arviz as az
    import blackjax
    import jax
    import numpy as np
    import optax

    from _machine import machine_name
    from infergy.data import load
    from infergy.inference.fit import FitConfig
    from infergy.inference.precondition import precondition
    from infergy.model.joint import build_design, infergy_model

    key_init, key_warm, key_draw = jax.random.split(jax.random.PRNGKey(args.seed), 3)
    design = build_design(load())
    kwargs = {**design.sizes, **design.observations}
    t0 = time.perf_counter()
    # the same start and coordinates as `infergy fit` (see infergy/inference/precondition.py)
    pre = precondition(infergy_model, design.inputs, kwargs, key_init, args.chains, FitConfig().init_steps,
                       args.metric)

    def logdensity(u):
        return -pre.potential(pre.loc + pre.scale @ u)

    u0 = pre.starts
    start_s = time.perf_counter() - t0
    warmup = blackjax.chees_adaptation(logdensity, args.chains, mass_matrix_estimation="diagonal",
                                       max_leapfrog_steps=512)
    t1 = time.perf_counter()
    (state, params), warm_info = warmup.run(key_warm, u0, 0.1, optax.adam(0.025), args.warmup,
                                            max_sampling_steps=512)
    jax.block_until_ready(state)
    warm_s = time.perf_counter() - t1
    kernel = blackjax.dynamic_hmc(logdensity, **params)

    def one(states, key):
        states, inf = jax.vmap(kernel.step)(jax.random.split(key, args.chains), states)
        return states, (states.position, inf.num_integration_steps, inf.acceptance_rate, inf.is_divergent)

    t2 = time.perf_counter()
    _, (pos, n_steps, accept, divergent) = jax.lax.scan(one, state, jax.random.split(key_draw, args.draws))
    jax.block_until_ready(pos)
    sample_s = time.perf_counter() - t2
    # diagnostics on the model's unconstrained parameters, not on the whitened coordinates
    x = np.asarray(pre.loc) + np.swapaxes(np.asarray(pos), 0, 1) @ np.asarray(pre.scale).T
    draws = az.from_dict({"posterior": {"x": x}})
    min_ess = float(np.min(az.ess(draws)["x"].values))
    max_rhat = float(np.max(az.rhat(draws)["x"].values))
    warm_grads = float(np.asarray(warm_info.info.num_integration_steps).sum())
    sample_grads = float(np.asarray(n_steps).sum())
    row = {"machine": machine_name(), "device": choice.line(), "metric": args.metric, "chains": args.chains,
           "warmup": args.warmup,
           "draws": args.draws, "start_s": start_s, "warmup_s": warm_s, "sample_s": sample_s,
           "step_size": float(params["step_size"]), "mean_steps": float(np.asarray(n_steps).mean()),
           "acceptance": float(np.asarray(accept).mean()), "divergences": int(np.asarray(divergent).sum()),
           "min_bulk_ess": min_ess, "max_rhat": max_rhat,
           "bulk_ess_per_s": min_ess / (start_s + warm_s + sample_s),
           "ess_per_1000_chain_gradients": 1000.0 * min_ess / (warm_grads + sample_grads)}
    if args.json:
        print(json.dumps(row, indent=2))
    else:
        print(f"ChEES-HMC, {row['machine']}; {row['device']}")
        print(f"{args.chains} chains x ({args.warmup} warm-up + {args.draws} draws): start {start_s:.0f} s, warm-up "
              f"{warm_s:.0f} s, draws {sample_s:.0f} s; min bulk ESS {min_ess:.0f}, max R-hat {max_rhat:.3f}, "
              f"{row['divergences']} divergences, {row['mean_steps']:.0f} leapfrog steps per draw; "
              f"{row['bulk_ess_per_s']:.2f} ESS/s, {row['ess_per_1000_chain_gradients']:.2f} ESS per 1,000 "
              "chain-gradients")
    return row


if __name__ == "__main__":
    main()
