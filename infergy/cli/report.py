"""``infergy report``: the full report, optionally on a fresh fit."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import options as opt


def register(sub) -> None:
    rp2 = sub.add_parser("report", help="the full report: HTML (figures embedded) and Markdown",
                         description="One self-contained report a reader understands without the code: the answer "
                         "next to paper mode and the disclosures, fit health, what was learned, per-query "
                         "distributions, pathways, fleet, sensitivity, public estimates checked, method, provenance.")
    opt.add_posterior_option(rp2)
    rp2.add_argument("--data-add", type=Path, action="append", default=[], metavar="FILE",
                     help="rows the posterior was fitted to beyond the shipped tables (repeatable): the report then "
                     "shows your operators' answers next to the public ones")
    rp2.add_argument("--refit", action="store_true",
                     help="fit the default model to the data first (~9 min on 2 cores) and report on that fit")
    rp2.add_argument("--out", type=opt.out_dir, default="report", metavar="DIR", help="[report]")
    rp2.add_argument("--format", type=opt.formats, default=("html", "md"), metavar="html,md",
                     help="html (index.html), md (report.md) or both [html,md]")
    rp2.add_argument("--seed", type=opt.seed, default=0, help="random seed [0]")
    opt.add_device_option(rp2, "the report's propagation (and the fit with --refit)")
    rp2.set_defaults(func=_cmd_report)


def _cmd_report(args: argparse.Namespace) -> int:
    from ..inference.fit import FitConfig
    from ..report import write_report

    posterior = args.posterior
    if args.refit and posterior is not None:
        raise ValueError("--refit fits a new posterior: do not also give --posterior")
    chains = FitConfig().chains
    opt.select_device(args, "fit" if args.refit else "propagate", cpu_devices=chains)
    from ..data import load

    bundle = load(extra=args.data_add)
    if args.refit:
        from ..inference.fit import fit, save_fit

        result = fit(bundle, config=FitConfig(progress_bar=False))
        posterior = save_fit(result, args.out / "posterior.nc")
        print(result.summary_text(), file=sys.stderr)
    paths = write_report(posterior, args.out, args.format, seed=args.seed, bundle=bundle,
                         progress=lambda msg: print(f"report: {msg}", file=sys.stderr))
    for path in paths.values():
        print(f"wrote {path}")
    return 0
