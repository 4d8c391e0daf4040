"""``infergy regions`` and ``infergy fit-impacts``: the grid zones an answer can be served in, and the carbon and
water sub-model's own fit."""

from __future__ import annotations

import argparse
import json
import sys

from . import options as opt


def register(sub) -> None:
    rp = sub.add_parser("regions", help="grid zones with their latest carbon intensity, trend and water per kWh",
                        description="Every zone --region accepts: its latest life-cycle grid intensity (Electricity "
                        "Maps), Ember's direct intensity for its country where published, the fitted trend, and the "
                        "off-site water of its country's electricity (EcoLogits). Continents and 'world' are also "
                        "accepted (a zone not listed there).")
    rp.add_argument("--continent", default=None, metavar="NAME", help="only this continent's zones")
    rp.add_argument("--search", default=None, metavar="TEXT", help="only zones whose code or name contains TEXT")
    rp.add_argument("--sort", choices=("zone", "intensity"), default="zone", help="[zone]")
    rp.add_argument("--json", action="store_true", help="print the table as JSON")
    rp.set_defaults(func=_cmd_regions)

    fp = sub.add_parser("fit-impacts", help="refit the carbon and water sub-model (grid zones, water, WUE)",
                        description="NUTS fit of the carbon and water sub-model to the shipped carbon and water "
                        "tables, with its review (R-hat, ESS, divergences); writes the posterior (netCDF). It is "
                        "independent of the energy posterior. Exits 1 if the review fails.")
    fp.add_argument("--out", type=opt.out_file, default="report/impacts_posterior.nc",
                    help="where to write it [report/impacts_posterior.nc]")
    fp.add_argument("--chains", type=opt.positive_int, default=4, help="[4]")
    fp.add_argument("--warmup", type=opt.positive_int, default=1000, help="[1000]")
    fp.add_argument("--draws", type=opt.positive_int, default=2000, help="draws per chain [2000]")
    fp.add_argument("--seed", type=opt.seed, default=0, help="[0]")
    fp.add_argument("--thin-out", type=opt.out_file, default=None, metavar="FILE",
                    help="also write a copy thinned to 1,000 draws (what the package ships)")
    fp.set_defaults(func=_cmd_fit_impacts)


def _cmd_regions(args: argparse.Namespace) -> int:
    from ..analysis.impacts import regions_table
    from ..text import regions_markdown

    table = regions_table(continent=args.continent, search=args.search, sort=args.sort)
    print(json.dumps(table, indent=2) if args.json else regions_markdown(table))
    return 0


def _cmd_fit_impacts(args: argparse.Namespace) -> int:
    from ..inference.files import atomic_path
    from ..inference.impacts import fit_impacts, write_impact_posterior

    opt.select_device(argparse.Namespace(device="auto"), "fit", cpu_devices=args.chains)
    dt = fit_impacts(chains=args.chains, warmup=args.warmup, draws=args.draws, seed=args.seed)
    with atomic_path(args.out) as tmp:
        dt.to_netcdf(tmp, engine="h5netcdf")
    if args.thin_out is not None:
        write_impact_posterior(dt, args.thin_out)
    a = dt.attrs
    print(f"max R-hat {a['max_rhat']:.4f}, min ESS bulk {a['min_ess_bulk']:.0f} / tail {a['min_ess_tail']:.0f}, "
          f"{a['divergences']} divergences: review {'passed' if a['review_passed'] else 'FAILED'}")
    print(f"wrote {args.out}" + (f" and {args.thin_out}" if args.thin_out else ""), file=sys.stderr)
    return 0 if a["review_passed"] else 1
