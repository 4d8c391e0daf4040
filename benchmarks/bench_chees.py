"""The sampler of ``infergy fit --sampler chees`` (ChEES-HMC, :mod:`infergy.inference.chees`) on the joint model,
every draw kept, for comparison with the NUTS fit.

    python benchmarks/bench_chees.py [--device auto|cpu|gpu] [--chains 128] [--warmup 800] [--draws 1000]
                                     [--metric hessian|diagonal] [--target-accept 0.651]
                                     [--initial-step-size 0.1] [--step-scale 1.0] [--json]

All chains take the same number of leapfrog steps per iteration, so a vectorized batch never waits for its
longest trajectory, which is what held NUTS back on the GPU (docs/scaling.md). The chains start as the NUTS fit
starts: from the mean-field variational fit, one draw each, and sample in the same whitened coordinates
(``--metric``, see infergy/inference/precondition.py). ChEES adapts the step size, the trajectory length and a
diagonal metric over the ensemble. Prints the smallest bulk ESS and the largest R-hat over the model's
unconstrained parameters, and the ESS per 1,000 chain-gradients (warm-up included). That last figure is the
sampler's efficiency whatever the hardware: compare it with NUTS's (bench_fit.py). For each divergent transition
it names the model parameters that were most extreme where the transition started.
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
    ap.add_argument("--chains", type=int, default=128)
    ap.add_argument("--warmup", type=int, default=800)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--metric", choices=("hessian", "diagonal"), default="hessian",
                    help="the coordinates the chains move in (as `infergy fit --metric`)")
    ap.add_argument("--target-accept", type=float, default=0.651,
                    help="the acceptance rate ChEES adapts the shared step size to [BlackJAX's 0.651]")
    ap.add_argument("--initial-step-size", type=float, default=0.1,
                    help="the step size warm-up starts from, in the whitened coordinates [0.1]")
    ap.add_argument("--step-scale", type=float, default=1.0,
                    help="after warm-up, the adapted step times this, with proportionally more leapfrog steps "
                         "(the same trajectory length) [1.0]")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    sys.path.insert(0, os.path.dirname(__file__))
    from infergy.devices import select_device

    choice = select_device(args.device, task="fit_chees")  # many chains: the GPU where one is usable
    import arviz as az
    import jax
    import numpy as np

    from _machine import machine_name
    from infergy.data import load
    from infergy.inference.chees import sample_chees
    from infergy.inference.fit import FitConfig
    from infergy.inference.precondition import precondition
    from infergy.model.joint import build_design, infergy_model

    key_init, key_warm = jax.random.split(jax.random.PRNGKey(args.seed))
    design = build_design(load())
    kwargs = {**design.sizes, **design.observations}
    t0 = time.perf_counter()
    # the same start and coordinates as `infergy fit` (see infergy/inference/precondition.py)
    pre = precondition(infergy_model, design.inputs, kwargs, key_init, args.chains, FitConfig().init_steps,
                       args.metric)
    start_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    out = sample_chees(pre.log_density, pre.starts, key_warm, warmup=args.warmup, draws=args.draws,
                       target_accept=args.target_accept, initial_step_size=args.initial_step_size,
                       step_scale=args.step_scale)
    run_s = time.perf_counter() - t1
    # diagnostics on the model's unconstrained parameters, not on the whitened coordinates
    x = np.asarray(pre.loc) + out.positions @ np.asarray(pre.scale).T
    draws = az.from_dict({"posterior": {"x": x}})
    ess, rhat = az.ess(draws)["x"].values, az.rhat(draws)["x"].values
    min_ess, max_rhat = float(np.min(ess)), float(np.max(rhat))
    # name each unconstrained coordinate: unravel the flat positions themselves
    labels = [""] * x.shape[-1]
    for name, at in pre.unravel(jax.numpy.arange(x.shape[-1], dtype=pre.loc.dtype)).items():
        for j, k in enumerate(np.asarray(at).ravel().astype(int)):
            labels[k] = f"{name}[{j}]" if np.ndim(at) else name
    per_chain_div = out.divergent.sum(axis=1)
    grads_per_chain = out.warmup_gradients + float(out.steps.sum(axis=1).mean())
    row = {"machine": machine_name(), "device": choice.line(), "metric": args.metric, "chains": args.chains,
           "warmup": args.warmup, "target_accept": args.target_accept, "step_scale": args.step_scale,
           "draws": args.draws, "start_s": start_s, "warmup_and_draws_s": run_s,
           "step_size": out.step_size, "mean_steps": out.trajectory_steps,
           "acceptance": float(out.acceptance.mean()), "divergences": int(out.divergent.sum()),
           "min_bfmi": float(out.bfmi.min()),
           "min_bulk_ess": min_ess, "min_ess_parameter": labels[int(np.argmin(ess))], "max_rhat": max_rhat,
           "max_rhat_parameter": labels[int(np.argmax(rhat))],
           "chains_with_divergences": int((per_chain_div > 0).sum()),
           "most_divergences_in_one_chain": int(per_chain_div.max()),
           "bulk_ess_per_s": min_ess / (start_s + run_s),
           "ess_per_1000_chain_gradients": 1000.0 * min_ess / (args.chains * grads_per_chain)}
    row["divergence_starts"] = _where_divergent(out, pre, design.inputs, kwargs)
    if args.json:
        print(json.dumps(row, indent=2))
    else:
        print(f"ChEES-HMC, {row['machine']}; {row['device']}")
        print(f"{args.chains} chains x ({args.warmup} warm-up + {args.draws} draws): start {start_s:.0f} s, warm-up "
              f"and draws {run_s:.0f} s; min bulk ESS {min_ess:.0f} ({row['min_ess_parameter']}), max "
              f"R-hat {max_rhat:.3f} ({row['max_rhat_parameter']}), {row['divergences']} divergences in "
              f"{row['chains_with_divergences']} chains, {row['mean_steps']:.0f} leapfrog steps per draw; "
              f"{row['bulk_ess_per_s']:.2f} ESS/s, {row['ess_per_1000_chain_gradients']:.2f} ESS per 1,000 "
              "chain-gradients")
        for d in row["divergence_starts"]:
            print(f"divergence in chain {d['chain']} before kept draw {d['kept_draw']}: " + ", ".join(
                f"{e['site']} = {e['value']:.3g} (rank {e['rank']:.4f})" for e in d["most_extreme"]))
    return row


def _where_divergent(out, pre, inputs, kwargs, top: int = 5) -> list[dict]:
    """Each divergent transition's start (the last in its thinning block) in the model's terms: the ``top``
    elements of the model's sites (up to 64 elements each) whose values there are the most extreme, each with its
    mid-rank among the kept draws (0: below every kept draw, 1: above every one)."""
    import numpy as np

    from infergy.inference.fit import _sites_at

    chains, kept = np.nonzero(out.divergent > 0)
    if not len(chains):
        return []
    dim = out.positions.shape[-1]
    flat = out.positions.reshape(-1, dim)
    sub = flat[np.unique(np.linspace(0, len(flat) - 1, min(len(flat), 4000)).astype(int))]
    ref = _sites_at(pre, inputs, kwargs, sub)
    at = _sites_at(pre, inputs, kwargs, out.divergent_start[chains, kept])
    names, refs, vals = [], [], []
    for name, r in ref.items():
        r = r.reshape(len(sub), -1)
        if r.shape[1] > 64:
            continue
        names += [f"{name}[{j}]" if r.shape[1] > 1 else name for j in range(r.shape[1])]
        refs.append(r)
        vals.append(at[name].reshape(len(chains), -1))
    refs, vals = np.concatenate(refs, axis=1), np.concatenate(vals, axis=1)
    # mid-ranks (divergences, elements): an element every draw shares (a structural zero) ranks 0.5, not extreme
    rank = (refs[None] < vals[:, None]).mean(axis=1) + 0.5 * (refs[None] == vals[:, None]).mean(axis=1)
    rows = []
    for i in range(len(chains)):
        order = np.argsort(np.minimum(rank[i], 1.0 - rank[i]), kind="stable")[:top]
        rows.append({"chain": int(chains[i]), "kept_draw": int(kept[i]),
                     "most_extreme": [{"site": names[j], "value": float(vals[i, j]), "rank": float(rank[i, j])}
                                      for j in order]})
    return rows


if __name__ == "__main__":
    main()
