"""``infergy fit``, ``infergy cv``, ``infergy check-measured`` and ``infergy learned``: the fit with its review,
cross-validation, the answer against measured energy, and what the data taught each parameter."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import options as opt


def register_fit(sub) -> None:
    fp = sub.add_parser("fit", help="fit the hierarchical model to the data and review the fit",
                        description="Fit the Bayesian model (NUTS, or ChEES-HMC on a GPU) to the shipped data plus "
                        "your rows, print the "
                        "automatic review (R-hat, ESS, divergences, BFMI, LOO, predictive coverage) and save the "
                        "posterior as netCDF. Exits 1 if the review fails, unless --allow-bad-fit.")
    fp.add_argument("--out", type=opt.out_file, default="report/posterior.nc",
                    help="where to write the posterior (netCDF) [report/posterior.nc]")
    fp.add_argument("--data-add", type=Path, action="append", default=[], metavar="FILE",
                    help="add your own rows (CSV in a table's schema; repeatable)")
    fp.add_argument("--sampler", choices=("nuts", "chees"), default="nuts",
                    help="nuts: NUTS, chains in parallel on CPU cores (the fastest on a CPU); chees: ChEES-HMC, "
                    "many chains in lock step, on a GPU where one is usable (its sampler: 33x the ESS/s of 2-core NUTS "
                    "on one H200; docs/scaling.md) [nuts]")
    fp.add_argument("--chains", type=opt.positive_int, default=None,
                    help="Markov chains: parallel on CPU cores, vectorized on a GPU [nuts 4, chees 128]")
    fp.add_argument("--chain-method", choices=("auto", "parallel", "sequential", "vectorized"), default="auto",
                    help="auto: parallel over devices when there are enough, vectorized on a GPU, else "
                    "sequential [auto]")
    fp.add_argument("--warmup", type=opt.positive_int, default=None,
                    help="warm-up iterations per chain [nuts 300, chees 800]")
    fp.add_argument("--draws", type=opt.positive_int, default=None,
                    help="draws per chain after warm-up (before --thin) [nuts 1000, chees 2000]")
    fp.add_argument("--thin", type=opt.positive_int, default=None,
                    help="keep every THIN-th draw (chees only; divergences and BFMI count every draw) [chees 40]")
    fp.add_argument("--target-accept", type=float, default=None, metavar="P",
                    help="acceptance rate the step size is adapted to [nuts 0.99, chees 0.651]")
    fp.add_argument("--step-scale", type=float, default=None, metavar="F",
                    help="chees only: after warm-up, the adapted step times F, with 1/F as many leapfrog steps "
                    "(the same trajectory length) [chees 0.5]")
    fp.add_argument("--seed", type=opt.seed, default=0, help="random seed [0]")
    fp.add_argument("--max-tree-depth", type=opt.positive_int, default=None, metavar="D",
                    help="NUTS tree depth limit: at most 2^D - 1 leapfrog steps per draw, in the joint model's "
                    "chains and the request-length model's [10]")
    fp.add_argument("--init-steps", type=opt.seed, default=None, metavar="N",
                    help="steps of the variational fit that starts the chains and sets their metric; 0: start at "
                    "prior medians with a unit metric [2000]")
    fp.add_argument("--metric", choices=("hessian", "diagonal"), default="hessian",
                    help="the coordinates NUTS samples in: hessian whitens by the curvature of the log density at "
                    "the variational centre (about 4x fewer leapfrog steps here), diagonal scales each parameter "
                    "by its variational spread [hessian]")
    fp.add_argument("--leave-source-out", action="store_true",
                    help="also refit without each production source and review its rows by the interval predicted "
                    "without them (`make posterior` does; ~3 min per source on 2 cores)")
    fp.add_argument("--allow-bad-fit", action="store_true", help="save and exit 0 even if the review fails")
    fp.add_argument("--thin-out", type=opt.out_file, default=None, metavar="FILE",
                    help="also write a thinned, posterior-only copy (what the package ships; `make posterior` "
                    "writes the default) -- only when the review passes")
    fp.add_argument("--no-progress", action="store_true", help="no progress bar")
    fp.add_argument("--json", action="store_true", help="print the review as JSON")
    opt.add_device_option(fp, "the sampler (a GPU pays only with many chains)")
    fp.set_defaults(func=_cmd_fit)


def register_update(sub) -> None:
    up = sub.add_parser("update", help="update a posterior with your rows in about a minute (no full refit)",
                        description="Start from a fitted posterior (the shipped one unless --posterior) and add your "
                        "rows: where they touch few parameters, the base draws are importance-reweighted (Pareto-"
                        "smoothed; the Pareto k of the weights decides whether that can be trusted), otherwise a short "
                        "NUTS run on the full model starts from the base draws, whitened by their covariance. Prints "
                        "which path it took and why, and the same review as `fit`; exits 1 if the review fails, unless "
                        "--allow-bad-fit.")
    up.add_argument("--data-add", type=Path, action="append", default=[], metavar="FILE", required=True,
                    help="your new rows (CSV in a table's schema; repeatable)")
    up.add_argument("--out", type=opt.out_file, default="report/posterior.nc",
                    help="where to write the updated posterior (netCDF) [report/posterior.nc]")
    opt.add_posterior_option(up)
    up.add_argument("--base-data-add", type=Path, action="append", default=[], metavar="FILE",
                    help="rows the base posterior was already fitted to (repeatable)")
    up.add_argument("--path", choices=("auto", "reweight", "sampler"), default="auto",
                    help="auto: reweight when the Pareto k of the weights is <= --pareto-k and enough draws keep "
                    "weight, else sample; or force one [auto]")
    up.add_argument("--pareto-k", type=float, default=0.7, metavar="K",
                    help="largest Pareto k of the importance weights the reweighting path accepts [0.7]")
    up.add_argument("--chains", type=opt.positive_int, default=2, help="sampler path: Markov chains [2]")
    up.add_argument("--warmup", type=opt.positive_int, default=200, help="sampler path: warm-up per chain [200]")
    up.add_argument("--draws", type=opt.positive_int, default=500, help="sampler path: draws per chain [500]")
    up.add_argument("--target-accept", type=float, default=0.99, metavar="P",
                    help="sampler path: acceptance rate the step size is adapted to [0.99]")
    up.add_argument("--max-tree-depth", type=opt.positive_int, default=10, metavar="D",
                    help="sampler path: NUTS tree depth limit [10]")
    up.add_argument("--seed", type=opt.seed, default=0, help="random seed [0]")
    up.add_argument("--allow-bad-fit", action="store_true", help="save and exit 0 even if the review fails")
    up.add_argument("--no-progress", action="store_true", help="no progress bar")
    up.add_argument("--json", action="store_true", help="print the path, the weights' diagnostics and the review as "
                    "JSON")
    up.set_defaults(func=_cmd_update)


def register_cv(sub) -> None:
    vp = sub.add_parser("cv", help="cross-validation: predict a left-out model, GPU type or production source",
                        description="Leave one model (or GPU type) out, fit the throughput model to the rest, and "
                        "report the coverage of the 50%% and 90%% predictive intervals for the left-out rows; or "
                        "(--by source) leave one production source out, refit the joint model, and show each of its "
                        "rows against the left-out and the prior 90%% predictive intervals.")
    vp.add_argument("--by", choices=("model", "gpu", "shape", "generation", "source"), default="model",
                    help="what to leave out: a model, a GPU, the long rows (shape), Blackwell (generation), a "
                    "production source (source) [model]")
    vp.add_argument("--groups", nargs="+", default=None, metavar="NAME",
                    help="models (or GPU ids, or sources) to leave out, one per fold [a spread of sizes / "
                    "generations; every production source]")
    vp.add_argument("--chains", type=opt.positive_int, default=2, help="chains per fold [2]")
    vp.add_argument("--warmup", type=opt.positive_int, default=300, help="warm-up iterations per chain [300]")
    vp.add_argument("--draws", type=opt.positive_int, default=300, help="draws per chain [300]")
    vp.add_argument("--seed", type=opt.seed, default=0, help="random seed [0]")
    opt.add_markdown_out(vp, "table")
    vp.add_argument("--json", action="store_true", help="print the folds as JSON")
    vp.set_defaults(func=_cmd_cv)


def register_check(sub) -> None:
    mp = sub.add_parser("check-measured", help="the answer against measured GPU energy (ML.ENERGY v3), row by row",
                        description="Every directly measured ML.ENERGY v3 text-generation configuration asked "
                        "through the query path of `infergy estimate` (its model, GPU, GPU count, precision, batch "
                        "and output length; GPU boundary, J per output token): predicted median and 90%% interval "
                        "against the measurement, the median error and the 90%% coverage, overall, per model and "
                        "per GPU.")
    opt.add_posterior_option(mp)
    mp.add_argument("--rows", type=opt.positive_int, default=None, metavar="N",
                    help="a spread of N rows instead of all")
    mp.add_argument("--seed", type=opt.seed, default=0, help="random seed [0]")
    opt.add_markdown_out(mp)
    mp.add_argument("--json", action="store_true", help="print every row and the summaries as JSON")
    mp.set_defaults(func=_cmd_check_measured)
    lp = sub.add_parser("learned", help="what the data taught: posterior sd / prior sd per parameter group",
                        description="For every parameter group of the posterior: the prior sd and the posterior sd "
                        "of each element, their ratio (<= 0.5: the data decided it; > 0.9: it is its prior), which "
                        "data's likelihood informed it, and for the production operating point what data would "
                        "decide it. The machine-readable twin of the report's 'what the data taught'.")
    opt.add_posterior_option(lp)
    lp.add_argument("--prior-draws", type=opt.count, default=1000, metavar="N",
                    help="prior draws to measure the prior sd from [1000]")
    lp.add_argument("--seed", type=opt.seed, default=0, help="random seed of the prior draws [0]")
    opt.add_markdown_out(lp, "table")
    lp.add_argument("--json", action="store_true", help="every group and element as JSON")
    lp.set_defaults(func=_cmd_learned)


def _cmd_fit(args: argparse.Namespace) -> int:
    from ..inference.fit import FitConfig, fit, save_fit
    from ..data import DataValidationError

    given = {"chains": args.chains, "warmup": args.warmup, "draws": args.draws, "thin": args.thin,
             "target_accept": args.target_accept, "max_tree_depth": args.max_tree_depth, "init_steps": args.init_steps,
             "step_scale": args.step_scale}
    cfg = FitConfig.for_sampler(args.sampler, seed=args.seed, progress_bar=not args.no_progress,
                                chain_method=args.chain_method, metric=args.metric,
                                leave_source_out=args.leave_source_out, **{k: v for k, v in given.items() if v is not None})
    # NUTS: parallel chains on CPU cores; ChEES: vectorized chains, on a GPU where one is usable (before JAX starts)
    opt.select_device(args, "fit" if cfg.sampler == "nuts" else "fit_chees",
                   cpu_devices=cfg.chains if cfg.sampler == "nuts" else None)
    try:
        result = fit(config=cfg, extra=args.data_add)
    except DataValidationError as exc:
        return _invalid(exc)
    path = save_fit(result, args.out)
    thin_path = None
    if args.thin_out is not None and result.review.ok:  # a shipped posterior must have passed its review
        from ..inference.posterior import write_shipped_posterior

        thin_path = write_shipped_posterior(result.datatree, args.thin_out)
    if args.json:
        print(json.dumps({**result.review.to_dict(), "seconds": result.seconds, "total_seconds": result.total_seconds,
                          "min_ess_bulk_per_second": result.min_ess_per_second,
                          "mean_leapfrog_steps": result.mean_leapfrog_steps, "posterior": str(path),
                          "thinned_posterior": str(thin_path) if thin_path else None,
                          "data_hash": result.datatree.attrs["data_hash"]}, indent=2))
    else:
        print(result.summary_text())
        print(f"wrote {path}" + (f" and {thin_path}" if thin_path else ""))
    return _review_exit(result.review, args.allow_bad_fit, "fit", "rerun with more --draws")


def _invalid(exc) -> int:
    """The data did not validate: one line per problem, exit 1 (nothing written)."""
    print("infergy: error: the data did not validate:", file=sys.stderr)
    for line in exc.problems:
        print(f"  {line}", file=sys.stderr)
    return 1


def _review_exit(review, allow_bad_fit: bool, what: str, remedy: str) -> int:
    """Exit 0 if the review passed (or --allow-bad-fit), else 1, saying which checks failed."""
    if review.ok:
        return 0
    failed = ", ".join(c.name for c in review.failed)
    print(f"infergy: the {what} failed its review ({failed})"
          + ("; saved anyway (--allow-bad-fit)" if allow_bad_fit else f"; {remedy}, or pass --allow-bad-fit to "
             "accept it"), file=sys.stderr)
    return 0 if allow_bad_fit else 1


def _cmd_update(args: argparse.Namespace) -> int:
    from ..devices import use_cpu_devices

    use_cpu_devices(args.chains)
    from ..data import DataValidationError
    from ..inference.fit import save_fit
    from ..inference.update import UpdateConfig, update

    cfg = UpdateConfig(path=args.path, pareto_k_max=args.pareto_k, chains=args.chains, warmup=args.warmup,
                       draws=args.draws, seed=args.seed, target_accept=args.target_accept,
                       max_tree_depth=args.max_tree_depth, progress_bar=not args.no_progress)
    try:
        result = update(args.data_add, posterior=args.posterior, base_extra=args.base_data_add, config=cfg)
    except DataValidationError as exc:
        return _invalid(exc)
    path = save_fit(result, args.out)
    if args.json:
        print(json.dumps({"path": result.path, "reason": result.reason, "pareto_k": result.pareto_k,
                          "effective_draws": result.ess, "seconds": result.seconds, "posterior": str(path),
                          **result.review.to_dict()}, indent=2))
    else:
        print(result.summary_text())
        print(f"wrote {path}")
    return _review_exit(result.review, args.allow_bad_fit, "update",
                        "rerun with more --draws, or `infergy fit --data-add ...`")


def _cmd_cv(args: argparse.Namespace) -> int:
    from ..devices import use_cpu_devices

    use_cpu_devices(args.chains)
    from dataclasses import asdict

    from ..inference.cv import cross_validate
    from ..text import cv_markdown, loso_markdown

    if args.by == "source":
        from ..inference.loso import leave_source_out

        rows = leave_source_out(sources=args.groups, chains=args.chains, warmup=args.warmup, draws=args.draws,
                                seed=args.seed, progress=lambda line: print(line, file=sys.stderr, flush=True))
        return opt.emit(args, [asdict(r) for r in rows], loso_markdown(rows))
    folds = cross_validate(by=args.by, groups=args.groups, chains=args.chains, warmup=args.warmup,
                           draws=args.draws, seed=args.seed,
                           progress=lambda line: print(line, file=sys.stderr, flush=True))
    return opt.emit(args, [asdict(f) for f in folds], cv_markdown(folds))


def _cmd_learned(args: argparse.Namespace) -> int:
    from ..data import load
    from ..inference.learned import contraction
    from ..inference.posterior import check_posterior, load_posterior
    from ..text import learned_markdown

    if args.prior_draws < 2:
        raise ValueError(f"--prior-draws must be >= 2 to estimate a spread, got {args.prior_draws}")
    bundle = load()
    dt = load_posterior(args.posterior)
    check_posterior(dt, bundle)
    res = contraction(dt, bundle, prior_draws=args.prior_draws, seed=args.seed)
    return opt.emit(args, res, learned_markdown(res))


def _cmd_check_measured(args: argparse.Namespace) -> int:
    from ..analysis.measured import measured_energy_check
    from ..text import measured_markdown

    res = measured_energy_check(args.posterior, limit=args.rows, seed=args.seed)
    return opt.emit(args, res, measured_markdown(res))
