"""``infergy estimate``, ``pathways``, ``fleet`` and ``sensitivity``: answers from the posterior."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import options as opt


def register(sub) -> None:
    ep = sub.add_parser("estimate", help="energy per query (or per token) for a model and hardware, with intervals",
                        description="Wh per query (or J per output token) from the fitted posterior: a random query "
                        "of the given shape served as production serves it, parameter uncertainty included. "
                        "Give a model by name (--model) or by size (--total-params-b, --active-params-b).")
    opt.add_query_options(ep, blend_default=False)
    ep.add_argument("--per", choices=("query", "token"), default="query",
                    help="query: Wh per query (per workflow with --agent-steps); token: J per output token [query]")
    ep.add_argument("--agent-steps", type=opt.positive_int, default=1, metavar="K",
                    help="K sequential calls, each reading the input and all previous outputs [1]")
    ep.add_argument("--tool-tokens", type=float, default=0.0, metavar="T",
                    help="tokens of tool results added to the context at each agent step [0]")
    ep.add_argument("--cache-hit-rate", type=float, default=None, metavar="H",
                    help="share of an agent call's earlier context read from the prefix cache, not prefilled again "
                    "[0.563, DeepSeek's reported hit rate]")
    ep.add_argument("--samples", type=opt.count, default=None, metavar="N",
                    help="query-samples (posterior draws x simulated queries), e.g. 1e8 [1e6]")
    opt.add_force_option(ep)
    ep.add_argument("--data-add", type=Path, action="append", default=[], metavar="FILE",
                    help="the rows you added to the data when fitting --posterior (repeatable): a posterior answers "
                    "only for the data it was fitted to")
    ep.add_argument("--operator", default=None, metavar="NAME",
                    help="answer for an operator whose telemetry the posterior was fitted to (--posterior, with its "
                    "rows in --data-add): its own engine at its median load, unless --engine or --batch-size")
    opt.add_where_options(ep)
    opt.add_embodied_option(ep)
    ep.add_argument("--batch", type=Path, default=None, metavar="FILE.csv",
                    help="many queries: one per row, the columns named as estimate's options (model, gpu, n_gpus, "
                    "precision, batch_size, input_tokens, output_tokens, regime, boundary, pue, engine, operator, "
                    "agent_steps, tool_tokens, cache_hit_rate; a missing column or empty cell takes the default); "
                    "writes each row with its answer as CSV (--json: records) [samples per row: 1e4]")
    ep.add_argument("--batch-out", type=Path, default=None, metavar="FILE.csv",
                    help="with --batch: write the answers there instead of to standard output")
    opt.add_device_option(ep, "the propagation")
    ep.set_defaults(func=_cmd_estimate)

    pp = sub.add_parser("pathways", help="efficiency levers: reduction factors and the resulting Wh per query",
                        description="Efficiency pathways per regime: the paper's multipliers (model 1.5-10x, "
                        "serving 1.5-5x, hardware 1.5-2.5x) and levers evaluated through the fitted model (H100 -> "
                        "H200/B200, FP8 -> FP4, twice the load, a 4x smaller model, a mixture of experts), each "
                        "alone and combined, as distributions over the posterior.")
    opt.add_query_options(pp, blend_default=True, regime=False)
    pp.add_argument("--regime", choices=("traditional", "reasoning"), default=None, help="one regime [both]")
    pp.add_argument("--levers", type=opt.levers, default=None, metavar="A,B,...",
                    help="single levers to report [model,serving,hardware,h200,b200,fp4,load-x2,smaller-model,moe]")
    pp.add_argument("--combine", type=opt.levers, action="append", default=None, metavar="A,B,...",
                    help="a combination to report (repeatable) [paper: model,serving,hardware; "
                    "fitted: b200,fp4,load-x2,smaller-model]")
    pp.add_argument("--samples", type=opt.count, default=200_000, metavar="N",
                    help="query-samples per model and lever [200000]")
    opt.add_force_option(pp)
    opt.add_markdown_out(pp)
    opt.add_where_options(pp)
    pp.add_argument("--move-to", default=None, metavar="ZONE",
                    help="the where lever: the same load moved from --region to this zone (carbon and water of both)")
    opt.add_device_option(pp, "the propagation")
    pp.set_defaults(func=_cmd_pathways)

    fl = sub.add_parser("fleet", help="GWh/day for a number of queries per day, with posterior intervals",
                        description="Fleet energy: queries/day x mean Wh/query -> GWh/day for the baseline (all "
                        "traditional), with a share of long (reasoning) queries, and improved by efficiency levers; "
                        "posterior median and 90%% interval, next to paper mode and the reference lines.")
    opt.add_query_options(fl, blend_default=True, boundary="facility+idle", regime=False)
    fl.add_argument("--queries-per-day", type=opt.positive_float, default=1e9, metavar="Q", help="[1e9]")
    fl.add_argument("--long-share", type=opt.share, default=0.1, metavar="S", help="share of reasoning queries [0.1]")
    fl.add_argument("--pathways", type=opt.levers, default=None, metavar="A,B,...",
                    help="levers of the improved fleet, or none [b200,fp4,load-x2]; paper-fleet: the paper's")
    fl.add_argument("--overhead", type=opt.pue, default=1.0, metavar="X",
                    help="multiplier on top of the boundary (the paper: 1.3256) [1]")
    fl.add_argument("--paper-version", type=opt.paper_version, default="v2", help="paper mode beside it [v2]")
    fl.add_argument("--no-paper", action="store_true", help="skip paper mode")
    fl.add_argument("--samples", type=opt.count, default=1_000_000, metavar="N",
                    help="query-samples per model and regime [1e6]")
    opt.add_force_option(fl)
    opt.add_markdown_out(fl, "table")
    opt.add_where_options(fl)
    opt.add_device_option(fl, "the propagation")
    fl.set_defaults(func=_cmd_fleet)

    sp = sub.add_parser("sensitivity", help="which input drives the spread of Wh per query",
                        description="Variance decomposition of log Wh/query over the posterior and the simulated "
                        "queries: first-order (Sobol) shares per input, and posterior vs query variance.")
    opt.add_query_options(sp, blend_default=True)
    sp.add_argument("--queries", type=opt.count, default=200, metavar="N", help="simulated queries per draw [200]")
    sp.add_argument("--out", type=opt.out_dir, default=None, metavar="DIR",
                    help="write sensitivity.md and sensitivity.png there")
    opt.add_device_option(sp, "the propagation")
    sp.set_defaults(func=_cmd_sensitivity)


def estimate_answer(args: argparse.Namespace) -> dict:
    """The answer of ``infergy estimate`` (one query, not ``--batch``) as its ``--json`` dict: the command line and
    ``infergy serve`` both answer through here. ``args.posterior`` may be an open posterior."""
    from ..analysis.estimate import DEFAULT_SAMPLES, estimate

    _check_agent_options(args)
    where = opt.where_of(args)
    hit = {} if args.cache_hit_rate is None else {"cache_hit_rate": args.cache_hit_rate}
    bundle = None
    if args.data_add:
        from ..data import load

        bundle = load(extra=args.data_add)
    est = estimate(spec=opt.query_spec(args), per=args.per, agent_steps=args.agent_steps, tool_tokens=args.tool_tokens,
                   **hit, operator=args.operator, posterior=args.posterior, samples=args.samples or DEFAULT_SAMPLES,
                   seed=args.seed, bundle=bundle, where=where)
    return est.to_dict()


def _check_agent_options(args: argparse.Namespace) -> None:
    if args.tool_tokens < 0:
        raise ValueError(f"tool tokens must be >= 0, got {args.tool_tokens:g}")
    if args.tool_tokens and args.agent_steps == 1:
        raise ValueError("--tool-tokens adds context between agent steps: give --agent-steps K > 1")
    if args.cache_hit_rate is not None and not 0.0 <= args.cache_hit_rate <= 1.0:
        raise ValueError(f"cache hit rate must be in [0, 1], got {args.cache_hit_rate:g}")


def _cmd_estimate(args: argparse.Namespace) -> int:
    from ..text import estimate_text

    _check_agent_options(args)
    if args.batch is not None:
        return _estimate_batch(args)
    if args.batch_out is not None:
        raise ValueError("--batch-out writes the answers of --batch FILE.csv: give --batch")
    opt.where_of(args)  # a region's options are checked before the device is chosen
    opt.select_device(args, "propagate")
    answer = estimate_answer(args)
    print(json.dumps(answer, indent=2) if args.json else estimate_text(answer))
    return 0


def _estimate_batch(args: argparse.Namespace) -> int:
    """``estimate --batch FILE.csv``: every row's answer, the rows' own columns first."""
    import pandas as pd

    given = [flag for flag, value in (("--model", args.model), ("--total-params-b", args.total_params_b),
                                      ("--input-tokens", args.input_tokens), ("--output-tokens", args.output_tokens),
                                      ("--region", getattr(args, "region", None)), ("--operator", args.operator),
                                      ("--embodied", getattr(args, "embodied", None) or None))
             if value is not None]
    if given or args.agent_steps != 1 or args.tool_tokens or args.cache_hit_rate is not None:
        raise ValueError(f"--batch reads each query from its row: give {', '.join(given) or 'the agent options'} "
                         "as columns of the file")
    if not args.batch.is_file():
        raise ValueError(f"--batch {args.batch}: no such file")
    from ..analysis.batch import BATCH_SAMPLES, estimate_many

    opt.select_device(args, "propagate")
    queries = pd.read_csv(args.batch)
    if queries.empty:
        raise ValueError(f"--batch {args.batch}: no rows")
    bundle = None
    if args.data_add:
        from ..data import load

        bundle = load(extra=args.data_add)
    answers = estimate_many(queries, samples=args.samples or BATCH_SAMPLES, seed=args.seed, posterior=args.posterior,
                            bundle=bundle, per=args.per, allow_extreme=args.allow_extreme)
    table = pd.concat([queries, answers], axis=1)
    if args.json:
        text = table.to_json(orient="records", indent=2)
    else:
        text = table.to_csv(index=False, float_format="%.6g")
    if args.batch_out is not None:
        args.batch_out.write_text(text)
        print(f"{len(table):,} answers written to {args.batch_out}")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def pathways_answer(args: argparse.Namespace) -> dict:
    """The answer of ``infergy pathways`` as its ``--json`` dict (the command line's and ``infergy serve``'s)."""
    from ..analysis.pathways import DEFAULT_COMBINATIONS, DEFAULT_SINGLE, pathways

    where = opt.where_of(args)
    if args.move_to is not None and where is None:
        raise ValueError("--move-to moves the load from --region: give --region too")
    combos = DEFAULT_COMBINATIONS if args.combine is None else {
        "combined: " + " + ".join(c): c for c in args.combine if c}
    return pathways(opt.baseline(args), levers=DEFAULT_SINGLE if args.levers is None else args.levers,
                    combinations=combos, regimes=(args.regime,) if args.regime else ("traditional", "reasoning"),
                    posterior=args.posterior, samples_per_member=args.samples, seed=args.seed, where=where,
                    move_to=args.move_to)


def _cmd_pathways(args: argparse.Namespace) -> int:
    from ..text import pathways_markdown

    opt.where_of(args)
    opt.select_device(args, "propagate")
    res = pathways_answer(args)
    return opt.emit(args, res, pathways_markdown(res))


def fleet_answer(args: argparse.Namespace) -> dict:
    """The answer of ``infergy fleet`` as its ``--json`` dict (the command line's and ``infergy serve``'s)."""
    from ..analysis.fleet import DEFAULT_FLEET_LEVERS, fleet

    return fleet(args.queries_per_day, where=opt.where_of(args), long_share=args.long_share,
                 levers=DEFAULT_FLEET_LEVERS if args.pathways is None else args.pathways, overhead=args.overhead,
                 baseline=opt.baseline(args), posterior=args.posterior, samples_per_member=args.samples,
                 seed=args.seed, paper_version=None if args.no_paper else args.paper_version,
                 allow_extreme=args.allow_extreme)


def _cmd_fleet(args: argparse.Namespace) -> int:
    from ..text import fleet_markdown

    opt.where_of(args)
    opt.select_device(args, "propagate")
    res = fleet_answer(args)
    return opt.emit(args, res, fleet_markdown(res))


def _cmd_sensitivity(args: argparse.Namespace) -> int:
    from ..inference.files import write_text_atomic
    from ..analysis.sensitivity import sensitivity
    from ..figures import plot_sensitivity
    from ..text import sensitivity_markdown

    opt.select_device(args, "propagate")
    res = sensitivity(opt.baseline(args), posterior=args.posterior, queries=args.queries, seed=args.seed)
    text = sensitivity_markdown(res)
    if args.out is not None:
        write_text_atomic(args.out / "sensitivity.md", text)
        fig = plot_sensitivity(res, args.out / "sensitivity.png")
        print(f"wrote {args.out / 'sensitivity.md'} and {fig}", file=sys.stderr)
    print(json.dumps(res, indent=2) if args.json else text)
    return 0
