"""``infergy replicate-paper`` and ``infergy compare-paper``: paper mode, and the posterior beside it."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import options as opt


def register_replicate(sub) -> None:
    from ..model.names import PAPER_VERSIONS, RNG_BACKENDS, SAMPLING

    rp = sub.add_parser(
        "replicate-paper",
        help="reproduce Oviedo et al. (2025/2026) with its own assumptions (paper mode)",
        description="Paper mode: the seed paper's Monte Carlo with its frozen assumptions. Prints per-model, "
        "blended (>200B), pathway and fleet results next to the published numbers, and writes figures.",
    )
    rp.add_argument("--version", dest="paper_version", type=opt.paper_version, default="v2",
                    metavar="{" + ",".join(PAPER_VERSIONS) + "}",
                    help="paper version: v1 (arXiv, 11.3/14.1 kW nodes) or v2 (Joule, 10.2/12.8 kW) [v2]")
    rp.add_argument("--samples", type=opt.count, default=None,
                    help="Monte Carlo samples per model and regime, e.g. 1e5 [10000, as the paper]")
    opt.add_force_option(rp)
    rp.add_argument("--seed", type=opt.seed, default=42, help="random seed [42]")
    rp.add_argument("--rng", choices=list(RNG_BACKENDS), default="jax",
                    help="jax (default) or numpy-legacy: the released scripts' numpy draws, digit for digit")
    rp.add_argument("--sampling", choices=list(SAMPLING), default=None,
                    help="lhs: Latin-hypercube stratified inputs (default with --rng jax); iid: plain draws")
    rp.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    rp.add_argument("--out", type=opt.out_dir, default=None,
                    help="folder for figures and summary.json [report/paper-<version>]")
    rp.add_argument("--no-figures", action="store_true", help="skip the figures (summary.json is still written)")
    rp.set_defaults(func=_cmd_replicate_paper)


def register_compare(sub) -> None:
    cp = sub.add_parser("compare-paper", help="the posterior's answer next to paper mode, for the paper's setting",
                        description="Wh per query for the paper's >200B setting (and its five models) from the "
                        "fitted posterior, next to paper mode, with the factors that differ (throughput and power "
                        "per GPU, PUE, load). Boundary: node x PUE, idle capacity excluded, as the paper.")
    opt.add_posterior_option(cp)
    cp.add_argument("--version", dest="paper_version", type=opt.paper_version, default="v2",
                    help="paper version for paper mode (v1 or v2) [v2]")
    cp.add_argument("--seed", type=opt.seed, default=0, help="random seed [0]")
    opt.add_markdown_out(cp)
    cp.add_argument("--json", action="store_true", help="print the comparison as JSON")
    cp.set_defaults(func=_cmd_compare_paper)


def _cmd_replicate_paper(args: argparse.Namespace) -> int:
    from .. import __version__
    from ..analysis.paper_mc import replicate_paper
    from ..inference.files import write_text_atomic

    rep = replicate_paper(
        args.paper_version, samples=args.samples, seed=args.seed, rng=args.rng, sampling=args.sampling
    )
    out = args.out if args.out is not None else Path("report") / f"paper-{rep.version}"
    summary = rep.to_dict()
    meta = {
        "boundary": rep.boundary,
        "units": {"energy": "Wh/query", "fleet": "GWh/day"},
        "seed": rep.seed,
        "rng": rep.rng,
        "sampling": rep.sampling,
        "data_sha256": rep.data_sha256,
        "infergy_version": __version__,
        "blended_models": {r: list(m) for r, m in rep.blended_models.items()},
        "fleet_interval_p5_p95": {k: [v.p5, v.p95] for k, v in rep.fleet.items()},
    }
    write_text_atomic(out / "summary.json", json.dumps({**summary, "meta": meta}, indent=2) + "\n")
    written = [out / "summary.json"]
    if not args.no_figures:
        from ..figures import write_paper_figures

        written += write_paper_figures(rep, out)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        from ..text import format_replication

        print(format_replication(rep))
    print("wrote " + ", ".join(str(p) for p in written), file=sys.stderr)
    return 0


def _cmd_compare_paper(args: argparse.Namespace) -> int:
    from ..data import load
    from ..analysis.compare import compare_with_paper
    from ..text import comparison_markdown
    from ..inference.posterior import check_posterior, load_posterior

    dt = load_posterior(args.posterior)
    bundle = load()
    check_posterior(dt, bundle)
    cmp = compare_with_paper(dt, args.paper_version, seed=args.seed, bundle=bundle)
    return opt.emit(args, cmp, comparison_markdown(cmp))
