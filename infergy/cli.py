"""The ``infergy`` command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

__all__ = ["main", "build_parser"]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _count(text: str) -> int:
    """A positive whole number, also written as 1e8."""
    value = _positive_float(text)
    if value != int(value):
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text}")
    return int(value)


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _pue(text: str) -> float:
    value = _positive_float(text)
    if value < 1.0:
        raise argparse.ArgumentTypeError(f"a PUE is >= 1, got {text}")
    return value


def _levers(text: str) -> tuple[str, ...]:
    from .analysis.pathways import LEVERS

    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if names == ("none",):
        return ()
    for n in names:
        if n not in LEVERS:
            raise argparse.ArgumentTypeError(f"unknown lever {n!r}; choose from {', '.join(LEVERS)} (or none)")
    return names


class _Parser(argparse.ArgumentParser):
    """Bad flags: one line naming the problem, exit code 2 (no usage dump)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _add_posterior_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--posterior", type=Path, default=None, metavar="FILE",
                   help="a fitted posterior (netCDF) [the shipped default]")


def _add_device_option(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto",
                   help=f"where JAX runs {what}: gpu needs a CUDA build of JAX (pip install -e '.[gpu]'); auto "
                   "picks what the benchmarks showed faster [auto]")


def _compile_cache() -> None:
    """Turn on the persistent compile cache (``INFERGY_COMPILE_CACHE``; ``off`` for none) before any JAX work.
    A default folder that cannot be written only costs the speed-up; a folder the user named must work."""
    import os

    from .compile_cache import ENV_VAR, enable_compile_cache

    try:
        enable_compile_cache()
    except ValueError as exc:
        if os.environ.get(ENV_VAR, "").strip():
            raise
        print(f"infergy: note: {exc}; running without it", file=sys.stderr)


def _select_device(args: argparse.Namespace, task: str, cpu_devices: int | None = None):
    """Fix JAX's platform for this command (before its first JAX operation); say so on stderr unless auto/CPU."""
    from .devices import select_device

    choice = select_device(args.device, task=task, cpu_devices=cpu_devices)
    if task.startswith("fit") or choice.platform != "cpu" or args.device != "auto":
        print(f"infergy: {choice.line()}", file=sys.stderr)
    return choice


def _add_query_options(p: argparse.ArgumentParser, *, blend_default: bool, boundary: str = "facility",
                       regime: bool = True) -> None:
    from .analysis.predict import PREDICT_BOUNDARIES

    what = ("[the paper's >200B blend: DeepSeek-R1, Llama 3.1 405B, Nemotron Ultra 253B]" if blend_default
            else "(or give its size)")
    g = p.add_argument_group("the query")
    g.add_argument("--model", default=None, help=f"a model in the data (its fitted effect is used) {what}")
    g.add_argument("--total-params-b", type=_positive_float, default=None, metavar="X",
                   help="total parameters in billions (an unseen model, drawn from the size regression)")
    g.add_argument("--active-params-b", type=_positive_float, default=None, metavar="Y",
                   help="active parameters per token in billions [= total]")
    g.add_argument("--moe", action=argparse.BooleanOptionalAction, default=None,
                   help="mixture of experts [active < total]")
    g.add_argument("--gpu", default="H100-SXM-80GB", help="GPU type, e.g. A100, H100, H200, B200, GB200, L40S [H100]")
    g.add_argument("--gpus", type=_positive_int, default=None, metavar="N",
                   help="GPUs per serving replica [8, or whole 8-GPU servers as the weights need]")
    g.add_argument("--precision", choices=("fp4", "fp8", "bf16", "fp16"), default="fp8", help="[fp8]")
    g.add_argument("--batch-size", type=_positive_float, default=None, metavar="B",
                   help="concurrent queries per replica [the production operating point from the posterior]")
    g.add_argument("--input-tokens", type=_positive_float, default=500.0, metavar="N", help="[500]")
    g.add_argument("--output-tokens", type=_positive_float, default=None, metavar="N",
                   help="a fixed output length (overrides --regime)")
    if regime:
        g.add_argument("--regime", choices=("traditional", "reasoning"), default="traditional",
                       help="exponential output length with median 300 (traditional) or 5000 (reasoning) "
                       "[traditional]")
    g.add_argument("--boundary", choices=PREDICT_BOUNDARIES, default=boundary,
                   help=f"gpu, node (+ host), facility (x PUE), facility+idle (+ idle capacity) [{boundary}]")
    g.add_argument("--pue", type=_pue, default=None, help="a fixed PUE [a hyperscale fleet's, from the posterior]")
    _add_posterior_option(p)
    p.add_argument("--seed", type=_seed, default=0, help="random seed [0]")
    p.add_argument("--json", action="store_true", help="print the answer as JSON")


def _query_spec(args: argparse.Namespace, regime: str | None = None):
    from .analysis.predict import QuerySpec

    return QuerySpec(model=args.model, total_params_b=args.total_params_b, active_params_b=args.active_params_b,
                     moe=args.moe, gpu=args.gpu, n_gpus=args.gpus, precision=args.precision,
                     input_tokens=args.input_tokens, output_tokens=args.output_tokens,
                     regime=regime or getattr(args, "regime", None) or "traditional", batch_size=args.batch_size,
                     boundary=args.boundary, pue=args.pue)


def _baseline(args: argparse.Namespace):
    """The query options as a pathways/fleet baseline: one model if named or sized, else the paper's blend on the
    given hardware and query shape."""
    from dataclasses import replace

    from .analysis.pathways import Baseline, paper_setting

    spec = _query_spec(args)
    if args.model is None and args.total_params_b is None:
        if args.active_params_b is not None or args.moe is not None:
            raise ValueError("--active-params-b and --moe describe a model sized with --total-params-b")
        blend = paper_setting(boundary=args.boundary)
        return Baseline(blend.name, tuple(replace(spec, model=m.model) for m in blend.members))
    name = args.model or f"{args.total_params_b:g}B model"
    return Baseline(name, (spec,))


def _paper_version(text: str) -> str:
    from .model import get_paper_config

    try:
        return get_paper_config(text).version
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    from .analysis.paper_mc import RNG_BACKENDS, SAMPLING
    from .model import PAPER_CONFIGS

    parser = _Parser(prog="infergy", description="Energy per LLM query, with calibrated uncertainty.")
    parser.add_argument("--version", action="version", version=f"infergy {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    rp = sub.add_parser(
        "replicate-paper",
        help="reproduce Oviedo et al. (2025/2026) with its own assumptions (paper mode)",
        description="Paper mode: the seed paper's Monte Carlo with its frozen assumptions. Prints per-model, "
        "blended (>200B), pathway and fleet results next to the published numbers, and writes figures.",
    )
    rp.add_argument("--version", dest="paper_version", type=_paper_version, default="v2",
                    metavar="{" + ",".join(PAPER_CONFIGS) + "}",
                    help="paper version: v1 (arXiv, 11.3/14.1 kW nodes) or v2 (Joule, 10.2/12.8 kW) [v2]")
    rp.add_argument("--samples", type=_positive_int, default=None,
                    help="Monte Carlo samples per model and regime [10000, as the paper]")
    rp.add_argument("--seed", type=_seed, default=42, help="random seed [42]")
    rp.add_argument("--rng", choices=list(RNG_BACKENDS), default="jax",
                    help="jax (default) or numpy-legacy: the released scripts' numpy draws, digit for digit")
    rp.add_argument("--sampling", choices=list(SAMPLING), default=None,
                    help="lhs: Latin-hypercube stratified inputs (default with --rng jax); iid: plain draws")
    rp.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    rp.add_argument("--out", type=Path, default=None,
                    help="folder for figures and summary.json [report/paper-<version>]")
    rp.add_argument("--no-figures", action="store_true", help="skip the figures (summary.json is still written)")
    rp.set_defaults(func=_cmd_replicate_paper)

    dp = sub.add_parser("data", help="inspect and validate the data tables",
                        description="The curated tables infergy learns from, and users' own rows.")
    dsub = dp.add_subparsers(dest="data_command", required=True, metavar="DATA_COMMAND")
    dv = dsub.add_parser("validate", help="check a CSV of your own rows against a table's schema",
                         description="Validate a CSV against a table's schema (inferred from its columns unless "
                         "--table is given). Exit 0 if valid, 1 with one line per problem if not.")
    dv.add_argument("file", type=Path, help="CSV file with a header row")
    dv.add_argument("--table", default=None, help="table to check against: " + ", ".join(_table_names()))
    dv.set_defaults(func=_cmd_data_validate)
    ds = dsub.add_parser("summary", help="what is in the data: rows per table, GPU, model and source")
    ds.add_argument("--data-add", type=Path, action="append", default=[], metavar="FILE",
                    help="add your own rows (CSV in a table's schema; repeatable)")
    ds.add_argument("--json", action="store_true", help="print the summary as JSON")
    ds.set_defaults(func=_cmd_data_summary)
    fp = sub.add_parser("fit", help="fit the hierarchical model to the data and review the fit",
                        description="Fit the Bayesian model (NUTS, or ChEES-HMC on a GPU) to the shipped data plus "
                        "your rows, print the "
                        "automatic review (R-hat, ESS, divergences, BFMI, LOO, predictive coverage) and save the "
                        "posterior as netCDF. Exits 1 if the review fails, unless --allow-bad-fit.")
    fp.add_argument("--out", type=Path, default=Path("report") / "posterior.nc",
                    help="where to write the posterior (netCDF) [report/posterior.nc]")
    fp.add_argument("--data-add", type=Path, action="append", default=[], metavar="FILE",
                    help="add your own rows (CSV in a table's schema; repeatable)")
    fp.add_argument("--sampler", choices=("nuts", "chees"), default="nuts",
                    help="nuts: NUTS, chains in parallel on CPU cores (the fastest on a CPU); chees: ChEES-HMC, "
                    "many chains in lock step, on a GPU where one is usable (its sampler: 33x the ESS/s of 2-core NUTS "
                    "on one H200; docs/scaling.md) [nuts]")
    fp.add_argument("--chains", type=_positive_int, default=None,
                    help="Markov chains: parallel on CPU cores, vectorized on a GPU [nuts 4, chees 128]")
    fp.add_argument("--chain-method", choices=("auto", "parallel", "sequential", "vectorized"), default="auto",
                    help="auto: parallel over devices when there are enough, vectorized on a GPU, else "
                    "sequential [auto]")
    fp.add_argument("--warmup", type=_positive_int, default=None,
                    help="warm-up iterations per chain [nuts 300, chees 800]")
    fp.add_argument("--draws", type=_positive_int, default=None,
                    help="draws per chain after warm-up (before --thin) [nuts 1000, chees 2000]")
    fp.add_argument("--thin", type=_positive_int, default=None,
                    help="keep every THIN-th draw (chees only; divergences and BFMI count every draw) [chees 40]")
    fp.add_argument("--target-accept", type=float, default=None, metavar="P",
                    help="acceptance rate the step size is adapted to [nuts 0.9, chees 0.651]")
    fp.add_argument("--step-scale", type=float, default=None, metavar="F",
                    help="chees only: after warm-up, the adapted step times F, with 1/F as many leapfrog steps "
                    "(the same trajectory length) [chees 0.5]")
    fp.add_argument("--seed", type=_seed, default=0, help="random seed [0]")
    fp.add_argument("--max-tree-depth", type=_positive_int, default=None, metavar="D",
                    help="NUTS tree depth limit: at most 2^D - 1 leapfrog steps per draw [10]")
    fp.add_argument("--init-steps", type=_seed, default=None, metavar="N",
                    help="steps of the variational fit that starts the chains and sets their metric; 0: start at "
                    "prior medians with a unit metric [2000]")
    fp.add_argument("--metric", choices=("hessian", "diagonal"), default="hessian",
                    help="the coordinates NUTS samples in: hessian whitens by the curvature of the log density at "
                    "the variational centre (about 4x fewer leapfrog steps here), diagonal scales each parameter "
                    "by its variational spread [hessian]")
    fp.add_argument("--allow-bad-fit", action="store_true", help="save and exit 0 even if the review fails")
    fp.add_argument("--thin-out", type=Path, default=None, metavar="FILE",
                    help="also write a thinned, posterior-only copy (what the package ships; `make posterior` "
                    "writes the default) -- only when the review passes")
    fp.add_argument("--no-progress", action="store_true", help="no progress bar")
    fp.add_argument("--json", action="store_true", help="print the review as JSON")
    _add_device_option(fp, "the sampler (a GPU pays only with many chains)")
    fp.set_defaults(func=_cmd_fit)
    cp = sub.add_parser("compare-paper", help="the posterior's answer next to paper mode, for the paper's setting",
                        description="Wh per query for the paper's >200B setting (and its five models) from the "
                        "fitted posterior, next to paper mode, with the factors that differ (throughput and power "
                        "per GPU, PUE, load). Boundary: node x PUE, idle capacity excluded, as the paper.")
    _add_posterior_option(cp)
    cp.add_argument("--version", dest="paper_version", type=_paper_version, default="v2",
                    help="paper version for paper mode (v1 or v2) [v2]")
    cp.add_argument("--seed", type=_seed, default=0, help="random seed [0]")
    cp.add_argument("--out", type=Path, default=None, metavar="FILE", help="also write the tables as Markdown")
    cp.add_argument("--json", action="store_true", help="print the comparison as JSON")
    cp.set_defaults(func=_cmd_compare_paper)
    vp = sub.add_parser("cv", help="cross-validation: predict a left-out model or GPU type from the rest",
                        description="Leave one model (or GPU type) out, fit the throughput model to the rest, and "
                        "report the coverage of the 50%% and 90%% predictive intervals for the left-out rows.")
    vp.add_argument("--by", choices=("model", "gpu"), default="model", help="what to leave out [model]")
    vp.add_argument("--groups", nargs="+", default=None, metavar="NAME",
                    help="models (or GPU ids) to leave out, one per fold [a spread of sizes / generations]")
    vp.add_argument("--chains", type=_positive_int, default=2, help="chains per fold [2]")
    vp.add_argument("--warmup", type=_positive_int, default=300, help="warm-up iterations per chain [300]")
    vp.add_argument("--draws", type=_positive_int, default=300, help="draws per chain [300]")
    vp.add_argument("--seed", type=_seed, default=0, help="random seed [0]")
    vp.add_argument("--out", type=Path, default=None, metavar="FILE", help="also write the table as Markdown")
    vp.add_argument("--json", action="store_true", help="print the folds as JSON")
    vp.set_defaults(func=_cmd_cv)

    ep = sub.add_parser("estimate", help="energy per query (or per token) for a model and hardware, with intervals",
                        description="Wh per query (or J per output token) from the fitted posterior: a random query "
                        "of the given shape served as production serves it, parameter uncertainty included. "
                        "Give a model by name (--model) or by size (--total-params-b, --active-params-b).")
    _add_query_options(ep, blend_default=False)
    ep.add_argument("--per", choices=("query", "token"), default="query",
                    help="query: Wh per query (per workflow with --agent-steps); token: J per output token [query]")
    ep.add_argument("--agent-steps", type=_positive_int, default=1, metavar="K",
                    help="K sequential calls, each reading the input and all previous outputs [1]")
    ep.add_argument("--tool-tokens", type=float, default=0.0, metavar="T",
                    help="tokens of tool results added to the context at each agent step [0]")
    ep.add_argument("--samples", type=_count, default=None, metavar="N",
                    help="query-samples (posterior draws x simulated queries), e.g. 1e8 [1e6]")
    _add_device_option(ep, "the propagation")
    ep.set_defaults(func=_cmd_estimate)

    pp = sub.add_parser("pathways", help="efficiency levers: reduction factors and the resulting Wh per query",
                        description="Efficiency pathways per regime: the paper's multipliers (model 1.5-10x, "
                        "serving 1.5-5x, hardware 1.5-2.5x) and levers evaluated through the fitted model (H100 -> "
                        "H200/B200, FP8 -> FP4, twice the load, a 4x smaller model, a mixture of experts), each "
                        "alone and combined, as distributions over the posterior.")
    _add_query_options(pp, blend_default=True, regime=False)
    pp.add_argument("--regime", choices=("traditional", "reasoning"), default=None, help="one regime [both]")
    pp.add_argument("--levers", type=_levers, default=None, metavar="A,B,...",
                    help="single levers to report [model,serving,hardware,h200,b200,fp4,load-x2,smaller-model,moe]")
    pp.add_argument("--combine", type=_levers, action="append", default=None, metavar="A,B,...",
                    help="a combination to report (repeatable) [paper: model,serving,hardware; "
                    "fitted: b200,fp4,load-x2,smaller-model]")
    pp.add_argument("--samples", type=_count, default=200_000, metavar="N",
                    help="query-samples per model and lever [200000]")
    pp.add_argument("--out", type=Path, default=None, metavar="FILE", help="also write the tables as Markdown")
    _add_device_option(pp, "the propagation")
    pp.set_defaults(func=_cmd_pathways)

    fl = sub.add_parser("fleet", help="GWh/day for a number of queries per day, with posterior intervals",
                        description="Fleet energy: queries/day x mean Wh/query -> GWh/day for the baseline (all "
                        "traditional), with a share of long (reasoning) queries, and improved by efficiency levers; "
                        "posterior median and 90%% interval, next to paper mode and the reference lines.")
    _add_query_options(fl, blend_default=True, boundary="facility+idle", regime=False)
    fl.add_argument("--queries-per-day", type=_positive_float, default=1e9, metavar="Q", help="[1e9]")
    fl.add_argument("--long-share", type=_share, default=0.1, metavar="S", help="share of reasoning queries [0.1]")
    fl.add_argument("--pathways", type=_levers, default=None, metavar="A,B,...",
                    help="levers of the improved fleet, or none [b200,fp4,load-x2]; paper-fleet: the paper's")
    fl.add_argument("--overhead", type=_pue, default=1.0, metavar="X",
                    help="multiplier on top of the boundary (the paper: 1.3256) [1]")
    fl.add_argument("--paper-version", type=_paper_version, default="v2", help="paper mode beside it [v2]")
    fl.add_argument("--no-paper", action="store_true", help="skip paper mode")
    fl.add_argument("--samples", type=_count, default=1_000_000, metavar="N",
                    help="query-samples per model and regime [1e6]")
    fl.add_argument("--out", type=Path, default=None, metavar="FILE", help="also write the table as Markdown")
    _add_device_option(fl, "the propagation")
    fl.set_defaults(func=_cmd_fleet)

    sp = sub.add_parser("sensitivity", help="which input drives the spread of Wh per query",
                        description="Variance decomposition of log Wh/query over the posterior and the simulated "
                        "queries: first-order (Sobol) shares per input, and posterior vs query variance.")
    _add_query_options(sp, blend_default=True)
    sp.add_argument("--queries", type=_count, default=200, metavar="N", help="simulated queries per draw [200]")
    sp.add_argument("--out", type=Path, default=None, metavar="DIR",
                    help="write sensitivity.md and sensitivity.png there")
    _add_device_option(sp, "the propagation")
    sp.set_defaults(func=_cmd_sensitivity)

    rp2 = sub.add_parser("report", help="the full report: HTML (figures embedded) and Markdown",
                         description="One self-contained report a reader understands without the code: the answer "
                         "next to paper mode and the disclosures, fit health, what was learned, per-query "
                         "distributions, pathways, fleet, sensitivity, public estimates checked, method, provenance.")
    _add_posterior_option(rp2)
    rp2.add_argument("--refit", action="store_true",
                     help="fit the default model to the data first (~9 min on 2 cores) and report on that fit")
    rp2.add_argument("--out", type=Path, default=Path("report"), metavar="DIR", help="[report]")
    rp2.add_argument("--format", type=_formats, default=("html", "md"), metavar="html,md",
                     help="html (index.html), md (report.md) or both [html,md]")
    rp2.add_argument("--seed", type=_seed, default=0, help="random seed [0]")
    _add_device_option(rp2, "the report's propagation (and the fit with --refit)")
    rp2.set_defaults(func=_cmd_report)
    return parser


def _formats(text: str) -> tuple[str, ...]:
    names = tuple(f.strip() for f in text.split(",") if f.strip())
    for f in names:
        if f not in ("html", "md"):
            raise argparse.ArgumentTypeError(f"unknown format {f!r}; choose html, md or html,md")
    if not names:
        raise argparse.ArgumentTypeError("give html, md or html,md")
    return names


def _cmd_report(args: argparse.Namespace) -> int:
    from .inference.fit import FitConfig
    from .report import write_report

    posterior = args.posterior
    if args.refit and posterior is not None:
        raise ValueError("--refit fits a new posterior: do not also give --posterior")
    chains = FitConfig().chains
    _select_device(args, "fit" if args.refit else "propagate", cpu_devices=chains)
    if args.refit:
        from .inference.fit import fit, save_fit

        result = fit(config=FitConfig(progress_bar=False))
        posterior = save_fit(result, args.out / "posterior.nc")
        print(result.summary_text(), file=sys.stderr)
    paths = write_report(posterior, args.out, args.format, seed=args.seed,
                         progress=lambda msg: print(f"report: {msg}", file=sys.stderr))
    for path in paths.values():
        print(f"wrote {path}")
    return 0


def _cmd_estimate(args: argparse.Namespace) -> int:
    from .analysis.estimate import DEFAULT_SAMPLES, estimate
    from .text import estimate_text

    if args.tool_tokens < 0:
        raise ValueError(f"tool tokens must be >= 0, got {args.tool_tokens:g}")
    if args.tool_tokens and args.agent_steps == 1:
        raise ValueError("--tool-tokens adds context between agent steps: give --agent-steps K > 1")
    _select_device(args, "propagate")
    est = estimate(spec=_query_spec(args), per=args.per, agent_steps=args.agent_steps, tool_tokens=args.tool_tokens,
                   posterior=args.posterior, samples=args.samples or DEFAULT_SAMPLES, seed=args.seed)
    print(json.dumps(est.to_dict(), indent=2) if args.json else estimate_text(est))
    return 0


def _cmd_pathways(args: argparse.Namespace) -> int:
    from .analysis.pathways import DEFAULT_COMBINATIONS, DEFAULT_SINGLE, pathways
    from .text import pathways_markdown

    _select_device(args, "propagate")
    combos = DEFAULT_COMBINATIONS if args.combine is None else {
        "combined: " + " + ".join(c): c for c in args.combine if c}
    res = pathways(_baseline(args), levers=DEFAULT_SINGLE if args.levers is None else args.levers,
                   combinations=combos, regimes=(args.regime,) if args.regime else ("traditional", "reasoning"),
                   posterior=args.posterior, samples_per_member=args.samples, seed=args.seed)
    return _emit(args, res, pathways_markdown(res))


def _cmd_fleet(args: argparse.Namespace) -> int:
    from .analysis.fleet import DEFAULT_FLEET_LEVERS, fleet
    from .text import fleet_markdown

    _select_device(args, "propagate")
    res = fleet(args.queries_per_day, long_share=args.long_share,
                levers=DEFAULT_FLEET_LEVERS if args.pathways is None else args.pathways, overhead=args.overhead,
                baseline=_baseline(args), posterior=args.posterior, samples_per_member=args.samples,
                seed=args.seed, paper_version=None if args.no_paper else args.paper_version)
    return _emit(args, res, fleet_markdown(res))


def _cmd_sensitivity(args: argparse.Namespace) -> int:
    from .inference.files import write_text_atomic
    from .analysis.sensitivity import sensitivity
    from .figures import plot_sensitivity
    from .text import sensitivity_markdown

    _select_device(args, "propagate")
    res = sensitivity(_baseline(args), posterior=args.posterior, queries=args.queries, seed=args.seed)
    text = sensitivity_markdown(res)
    if args.out is not None:
        write_text_atomic(args.out / "sensitivity.md", text)
        fig = plot_sensitivity(res, args.out / "sensitivity.png")
        print(f"wrote {args.out / 'sensitivity.md'} and {fig}", file=sys.stderr)
    print(json.dumps(res, indent=2) if args.json else text)
    return 0


def _emit(args: argparse.Namespace, result, text: str) -> int:
    """Write ``text`` (Markdown) to ``--out`` when given; print the result as JSON with ``--json``, else the text."""
    from .inference.files import write_text_atomic

    if args.out is not None:
        write_text_atomic(args.out, text)
    print(json.dumps(result, indent=2) if args.json else text)
    return 0


def _cmd_cv(args: argparse.Namespace) -> int:
    from .devices import use_cpu_devices

    use_cpu_devices(args.chains)
    from dataclasses import asdict

    from .inference.cv import cross_validate
    from .text import cv_markdown

    folds = cross_validate(by=args.by, groups=args.groups, chains=args.chains, warmup=args.warmup,
                           draws=args.draws, seed=args.seed)
    return _emit(args, [asdict(f) for f in folds], cv_markdown(folds))


def _cmd_compare_paper(args: argparse.Namespace) -> int:
    from .data import load
    from .analysis.compare import compare_with_paper
    from .text import comparison_markdown
    from .inference.posterior import check_posterior, load_posterior

    dt = load_posterior(args.posterior)
    bundle = load()
    check_posterior(dt, bundle)
    cmp = compare_with_paper(dt, args.paper_version, seed=args.seed, bundle=bundle)
    return _emit(args, cmp, comparison_markdown(cmp))


def _cmd_fit(args: argparse.Namespace) -> int:
    from .inference.fit import FitConfig, fit, save_fit
    from .data import DataValidationError

    given = {"chains": args.chains, "warmup": args.warmup, "draws": args.draws, "thin": args.thin,
             "target_accept": args.target_accept, "max_tree_depth": args.max_tree_depth, "init_steps": args.init_steps,
             "step_scale": args.step_scale}
    cfg = FitConfig.for_sampler(args.sampler, seed=args.seed, progress_bar=not args.no_progress,
                                chain_method=args.chain_method, metric=args.metric,
                                **{k: v for k, v in given.items() if v is not None})
    # NUTS: parallel chains on CPU cores; ChEES: vectorized chains, on a GPU where one is usable (before JAX starts)
    _select_device(args, "fit" if cfg.sampler == "nuts" else "fit_chees",
                   cpu_devices=cfg.chains if cfg.sampler == "nuts" else None)
    try:
        result = fit(config=cfg, extra=args.data_add)
    except DataValidationError as exc:
        print("infergy: error: the data did not validate:", file=sys.stderr)
        for line in exc.problems:
            print(f"  {line}", file=sys.stderr)
        return 1
    path = save_fit(result, args.out)
    thin_path = None
    if args.thin_out is not None and result.review.ok:  # a shipped posterior must have passed its review
        from .inference.posterior import write_shipped_posterior

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
    if not result.review.ok:
        failed = ", ".join(c.name for c in result.review.failed)
        print(f"infergy: the fit failed its review ({failed})"
              + ("; saved anyway (--allow-bad-fit)" if args.allow_bad_fit else "; rerun with more --draws, "
                 "or pass --allow-bad-fit to accept it"), file=sys.stderr)
        return 0 if args.allow_bad_fit else 1
    return 0


def _table_names() -> list[str]:
    from .data import SCHEMAS

    return list(SCHEMAS)


def _cmd_data_validate(args: argparse.Namespace) -> int:
    from .data import DataValidationError, validate_file

    try:
        table, df = validate_file(args.file, args.table)
    except DataValidationError as exc:
        print(f"{args.file}: INVALID ({len(exc.problems)} problem{'s' if len(exc.problems) != 1 else ''})")
        for line in exc.problems:
            print(f"  {line}")
        return 1
    print(f"{args.file}: valid '{table}' table, {len(df)} row{'s' if len(df) != 1 else ''}")
    return 0


def _cmd_data_summary(args: argparse.Namespace) -> int:
    from .data import DataValidationError, load
    from .data.summary import data_summary

    try:
        bundle = load(extra=args.data_add)
    except DataValidationError as exc:
        print("infergy: error: the data did not validate:", file=sys.stderr)
        for line in exc.problems:
            print(f"  {line}", file=sys.stderr)
        return 1
    summary = data_summary(bundle)
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    lines = [f"infergy data {summary['data_version']} (content hash {summary['content_hash'][:16]})"]
    if args.data_add:
        lines.append("with your rows from: " + ", ".join(str(p) for p in args.data_add))
    lines += ["", f"{'table':16s} {'rows':>6s}"] + [f"{k:16s} {v:6d}" for k, v in summary["rows"].items()]

    def block(title: str, d: dict, limit: int = 12) -> None:
        lines.extend(["", title])
        items = list(d.items())
        lines.extend(f"  {k:38s} {v:6d}" for k, v in items[:limit])
        if len(items) > limit:
            lines.append(f"  ... and {len(items) - limit} more")

    thr = summary["throughput"]
    block(f"throughput rows by source ({thr['flagged_rows']} carry quality flags)", thr["by_source"])
    block("throughput rows by GPU", thr["by_gpu"], 20)
    block("throughput rows by precision", thr["by_precision"])
    block(f"throughput rows by model ({len(thr['by_model'])} models)", thr["by_model"])
    block("gpu_energy rows by GPU (boundary: gpu)", summary["gpu_energy"]["by_gpu"])
    block("production rows by kind/boundary", summary["production"]["by_kind_and_boundary"])
    block("pue rows by scope", summary["pue"]["by_scope"])
    print("\n".join(lines))
    return 0


def _cmd_replicate_paper(args: argparse.Namespace) -> int:
    from . import __version__
    from .analysis.paper_mc import replicate_paper
    from .inference.files import write_text_atomic

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
        from .figures import write_paper_figures

        written += write_paper_figures(rep, out)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        from .text import format_replication

        print(format_replication(rep))
    print("wrote " + ", ".join(str(p) for p in written), file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        _compile_cache()
        return args.func(args)
    except (ValueError, FileNotFoundError) as exc:  # bad input: one clear line, no traceback
        print(f"infergy: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
