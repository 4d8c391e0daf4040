"""What the commands share: argument types, the query options, device and compile-cache set-up, output."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _whole(text: str, minimum: int, bound: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be {bound}, got {value}")
    return value


def positive_int(text: str) -> int:
    return _whole(text, 1, "> 0")


def seed(text: str) -> int:
    return _whole(text, 0, ">= 0")


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def positive_float(text: str) -> float:
    value = _number(text)
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def count(text: str) -> int:
    """A positive whole number, also written as 1e8."""
    value = positive_float(text)
    if value != int(value):
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text}")
    return int(value)


def share(text: str) -> float:
    value = _number(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _writable_place(path: Path) -> None:
    """Refuse an output path no write could reach: a file where a folder must be, or a folder not writable."""
    import os

    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise argparse.ArgumentTypeError(f"{path}: {parent} is a file, not a folder")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise argparse.ArgumentTypeError(f"{path}: cannot write in {parent} (permission denied)")
            return


def out_file(text: str) -> Path:
    """An output file: its folder exists or can be made, and writes there are allowed (checked before any work)."""
    path = Path(text)
    if not text.strip():
        raise argparse.ArgumentTypeError("give a file name")
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{path} is a folder; give a file name")
    _writable_place(path)
    return path


def out_dir(text: str) -> Path:
    """An output folder: it is a folder or can be made one, and writes there are allowed."""
    import os

    path = Path(text)
    if not text.strip():
        raise argparse.ArgumentTypeError("give a folder name")
    if path.exists():
        if not path.is_dir():
            raise argparse.ArgumentTypeError(f"{path} is a file, not a folder")
        if not os.access(path, os.W_OK | os.X_OK):
            raise argparse.ArgumentTypeError(f"cannot write in {path} (permission denied)")
        return path
    _writable_place(path)
    return path


def pue(text: str) -> float:
    value = _number(text)
    if not 1.0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"a PUE is >= 1 (facility energy over IT energy), got {text}")
    return value


#: Sample counts past which a command asks for --force, and the rates its time estimate uses: propagation streams
#: in constant memory at 1.6e7 query-samples/s on 2 CPU cores and 9.3e9/s on one H100 (docs/scaling.md); paper
#: mode holds its samples in memory: 1e6 per model took 7 min and 0.85 GB on 2 cores.
FORCE_SAMPLES = {"propagation": 1e9, "paper": 1e7}
_RATE_CPU = {"propagation": 1.6e7, "paper": 1e6 / 420.0}


def _duration(seconds: float) -> str:
    for unit, size in (("days", 86400.0), ("hours", 3600.0), ("minutes", 60.0)):
        if seconds >= size:
            return f"{seconds / size:,.1f} {unit}"
    return f"{max(seconds, 1.0):,.0f} s"


def add_force_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--force", action="store_true",
                   help=f"run a sample count past {FORCE_SAMPLES['propagation']:g} ({FORCE_SAMPLES['paper']:g} per model in "
                   "paper mode) without asking")


def check_samples(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """A sample count whose run would be long (or, in paper mode, large) needs ``--force``; the message says how
    long it would take."""
    samples = getattr(args, "samples", None)
    if samples is None or getattr(args, "force", False):
        return
    kind = "paper" if getattr(args, "command", None) == "replicate-paper" else "propagation"
    if samples <= FORCE_SAMPLES[kind]:
        return
    cpu = _duration(samples / _RATE_CPU[kind])
    if kind == "paper":
        parser.error(f"argument --samples: {samples:g} samples per model would run for about {cpu} on 2 CPU cores "
                     f"and hold about {samples * 850 / 1e9:,.0f} GB (paper mode keeps every sample); --force runs it")
    parser.error(f"argument --samples: {samples:g} query-samples would run for about {cpu} on 2 CPU cores "
                 f"({_duration(samples / 9.3e9)} on one H100); --force runs it (Ctrl-C stops it)")


def check_extremes(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Values past the physical bounds of :mod:`infergy.model.names`, refused before any work unless
    ``--allow-extreme``: the same bounds the query object applies."""
    from ..model.names import pue_past, queries_per_day_past

    if getattr(args, "allow_extreme", False):
        return
    for flag, value, past in (("--pue", getattr(args, "pue", None), pue_past),
                              ("--queries-per-day", getattr(args, "queries_per_day", None), queries_per_day_past)):
        if value is not None and (why := past(value)):
            parser.error(f"argument {flag}: {why}; --allow-extreme answers it as a hypothetical")


def name_list(text: str, known, what: str) -> tuple[str, ...]:
    """A comma-separated list of names from ``known`` (``none``: the empty list); an unknown one is refused."""
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if names == ("none",):
        return ()
    for n in names:
        if n not in known:
            raise argparse.ArgumentTypeError(f"unknown {what} {n!r}; choose from {', '.join(known)} (or none)")
    return names


def levers(text: str) -> tuple[str, ...]:
    from ..model.names import LEVER_NAMES

    return name_list(text, LEVER_NAMES, "lever")


def add_posterior_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--posterior", type=Path, default=None, metavar="FILE",
                   help="a fitted posterior (netCDF) [the shipped default]")


def add_device_option(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto",
                   help=f"where JAX runs {what}: gpu needs a CUDA build of JAX (pip install -e '.[gpu]'); auto "
                   "picks what the benchmarks showed faster [auto]")


def compile_cache() -> None:
    """Turn on the persistent compile cache (``INFERGY_COMPILE_CACHE``; ``off`` for none) before any JAX work.
    A default folder that cannot be written only costs the speed-up; a folder the user named must work."""
    import os

    from ..compile_cache import ENV_VAR, enable_compile_cache

    try:
        enable_compile_cache()
    except ValueError as exc:
        if os.environ.get(ENV_VAR, "").strip():
            raise
        print(f"infergy: note: {exc}; running without it", file=sys.stderr)


def _progress_line():
    """A progress reporter for stderr: one line rewritten in place on a terminal, a line per tenth otherwise."""
    import time

    started, shown = time.monotonic(), [-1]
    tty = sys.stderr.isatty()

    def report(done: int, total: int) -> None:
        elapsed = time.monotonic() - started
        share = done / total
        tenth = int(share * 10)
        if not tty and tenth == shown[0]:
            return
        shown[0] = tenth
        left = elapsed / share - elapsed if share > 0 else float("nan")
        line = (f"infergy: {share:4.0%} of {total:,} query-samples, {elapsed:,.0f} s"
                + (f"; about {left:,.0f} s left" if done < total else ""))
        sys.stderr.write(("\r" + line + (" " * 8) + ("\n" if done >= total else "")) if tty else line + "\n")
        sys.stderr.flush()

    return report


def select_device(args: argparse.Namespace, task: str, cpu_devices: int | None = None):
    """Fix JAX's platform for this command (before its first JAX operation); say so on stderr unless auto/CPU.
    A propagation also reports its progress on stderr when it is long."""
    from ..devices import select_device

    choice = select_device(args.device, task=task, cpu_devices=cpu_devices)
    if task == "propagate":
        from ..analysis.propagate import report_progress

        report_progress(_progress_line())
    if task.startswith("fit") or choice.platform != "cpu" or args.device != "auto":
        print(f"infergy: {choice.line()}", file=sys.stderr)
    return choice


def add_query_options(p: argparse.ArgumentParser, *, blend_default: bool, boundary: str = "facility",
                       regime: bool = True) -> None:
    from ..data.vocab import SERVABLE_PRECISIONS
    from ..model.names import PREDICT_BOUNDARIES, REGIMES

    what = ("[the paper's >200B blend: DeepSeek-R1, Llama 3.1 405B, Nemotron Ultra 253B]" if blend_default
            else "(or give its size)")
    g = p.add_argument_group("the query")
    g.add_argument("--model", default=None, help=f"a model in the data (its fitted effect is used) {what}")
    g.add_argument("--total-params-b", type=positive_float, default=None, metavar="X",
                   help="total parameters in billions (an unseen model, drawn from the size regression)")
    g.add_argument("--active-params-b", type=positive_float, default=None, metavar="Y",
                   help="active parameters per token in billions [= total]")
    g.add_argument("--moe", action=argparse.BooleanOptionalAction, default=None,
                   help="mixture of experts [active < total]")
    g.add_argument("--gpu", default="H100-SXM-80GB", help="GPU type, e.g. A100, H100, H200, B200, GB200, L40S [H100]")
    g.add_argument("--gpus", type=positive_int, default=None, metavar="N",
                   help="GPUs per serving replica [the smallest group of 1, 2, 4 or 8, then whole 8-GPU servers, that "
                   "holds the weights and the load's KV cache]")
    g.add_argument("--layout", default=None, metavar="L",
                   help="how the replica spreads over its GPUs: TP8, TP4,PP2, DEP144 (attention data-parallel with "
                   "the experts over 144 GPUs), TP1,EP8,DP8 [tensor parallel over --gpus]")
    g.add_argument("--link-gb-s", type=positive_float, default=None, metavar="X",
                   help="GPU-to-GPU bandwidth per GPU, both directions, e.g. 100 for one 400 Gb/s InfiniBand NIC per "
                   "GPU between servers [the GPU's NVLink or PCIe]")
    g.add_argument("--precision", choices=SERVABLE_PRECISIONS, default="fp8", help="[fp8]")
    g.add_argument("--batch-size", type=positive_float, default=None, metavar="B",
                   help="concurrent queries per replica [the production operating point from the posterior]")
    g.add_argument("--input-tokens", type=positive_float, default=None, metavar="N",
                   help="a fixed prompt length [drawn per query from the regime's workload]")
    g.add_argument("--output-tokens", type=positive_float, default=None, metavar="N",
                   help="a fixed output length [drawn per query from the regime's workload]")
    if regime:
        g.add_argument("--regime", choices=REGIMES, default="traditional",
                       help="the workload prompt and answer lengths are drawn from, learned from production traces: "
                       "traditional (chat), code, reasoning (chat prompts, answers ~8x longer: a prior) "
                       "[traditional]")
    g.add_argument("--boundary", choices=PREDICT_BOUNDARIES, default=boundary,
                   help=f"gpu, node (+ host), facility (x PUE), facility+idle (+ idle capacity) [{boundary}]")
    g.add_argument("--pue", type=pue, default=None, help="a fixed PUE [a hyperscale fleet's, from the posterior]")
    g.add_argument("--allow-extreme", action="store_true",
                   help="answer values past the physical bounds (PUE >= 3, a context longer than the model's window, "
                   "weights larger than the replica's memory, a replica past 1,280 GPUs) as hypotheticals, with a "
                   "warning, instead of refusing")
    g.add_argument("--engine", default=None, metavar="SETUP",
                   help="a benchmarked engine setup whose fitted efficiency to use, e.g. "
                   "vllm-mlenergy_v3-lm-arena-chat or trtllm-0.21 (the posterior's 'setup' labels) "
                   "[production's engine level]")
    add_posterior_option(p)
    p.add_argument("--seed", type=seed, default=0, help="random seed [0]")
    p.add_argument("--json", action="store_true", help="print the answer as JSON")


def year(text: str) -> int:
    from ..model.names import YEAR_RANGE

    value = _whole(text, YEAR_RANGE[0], f"a year {YEAR_RANGE[0]}-{YEAR_RANGE[1]}")
    if value > YEAR_RANGE[1]:
        raise argparse.ArgumentTypeError(f"must be a year {YEAR_RANGE[0]}-{YEAR_RANGE[1]} (the grid trend is fitted "
                                         f"to five years and not carried further), got {text}")
    return value


def grams_per_kwh(text: str) -> float:
    value = _number(text)
    if not 0.0 <= value <= 2000.0:
        raise argparse.ArgumentTypeError(f"must be 0-2000 gCO2e/kWh (the dirtiest grids are ~1,100), got {text}")
    return value


def add_where_options(p: argparse.ArgumentParser) -> None:
    """Where and when the queries are served: adds carbon and water to the answer."""
    g = p.add_argument_group("carbon and water (where the queries are served)")
    g.add_argument("--region", default=None, metavar="ZONE",
                   help="a grid zone (`infergy regions` lists them: US-MIDA-PJM, IE, SE-SE3 ...), a continent (a zone "
                   "not listed there), or world: adds gCO2e and mL of water")
    g.add_argument("--year", type=year, default=None, metavar="Y",
                   help="the year served: a year of the data is its published average, another is predicted by the "
                   "grid sub-model [the latest year of the data]")
    m = g.add_mutually_exclusive_group()
    m.add_argument("--clean-share", type=share, default=None, metavar="S",
                   help="market-based carbon: share S of the load matched by clean energy [location-based]")
    m.add_argument("--market-based", type=grams_per_kwh, default=None, metavar="FACTOR",
                   help="market-based carbon at an operator's stated factor, gCO2e/kWh [location-based]")


def add_embodied_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--embodied", action="store_true",
                   help="add the hardware's manufacturing emissions to carbon, amortised per GPU-second the query "
                   "occupies (a prior from published LCAs; shown apart as embodied_g) [not included]")


def where_of(args: argparse.Namespace):
    """The :class:`~infergy.analysis.impacts.Where` of the options, or None without ``--region``."""
    from ..analysis.impacts import Where

    embodied = getattr(args, "embodied", False)
    if args.region is None:
        if args.year is not None or args.clean_share is not None or args.market_based is not None or embodied:
            raise ValueError("--year, --clean-share, --market-based and --embodied say how a region's carbon is "
                             "counted: give --region too")
        return None
    return Where(args.region, args.year, args.clean_share, args.market_based, embodied)


def query_spec(args: argparse.Namespace, regime: str | None = None):
    from ..analysis.predict import QuerySpec

    return QuerySpec(model=args.model, total_params_b=args.total_params_b, active_params_b=args.active_params_b,
                     moe=args.moe, gpu=args.gpu, n_gpus=args.gpus, layout=getattr(args, "layout", None),
                     link_gb_s=getattr(args, "link_gb_s", None), precision=args.precision,
                     input_tokens=args.input_tokens, output_tokens=args.output_tokens,
                     regime=regime or getattr(args, "regime", None) or "traditional", batch_size=args.batch_size,
                     boundary=args.boundary, pue=args.pue, engine=getattr(args, "engine", None),
                     allow_extreme=getattr(args, "allow_extreme", False))


def baseline(args: argparse.Namespace):
    """The query options as a pathways/fleet baseline: one model if named or sized, else the paper's blend on the
    given hardware and query shape."""
    from dataclasses import replace

    from ..analysis.pathways import Baseline, paper_setting

    spec = query_spec(args)
    if args.model is None and args.total_params_b is None:
        if args.active_params_b is not None or args.moe is not None:
            raise ValueError("--active-params-b and --moe describe a model sized with --total-params-b")
        blend = paper_setting(boundary=args.boundary)
        return Baseline(blend.name, tuple(replace(spec, model=m.model) for m in blend.members))
    name = args.model or f"{args.total_params_b:g}B model"
    return Baseline(name, (spec,))


def paper_version(text: str) -> str:
    from ..model.names import PAPER_VERSIONS

    if text not in PAPER_VERSIONS:
        raise argparse.ArgumentTypeError(f"unknown paper version {text!r}; known versions: {', '.join(PAPER_VERSIONS)}")
    return text


def formats(text: str) -> tuple[str, ...]:
    names = tuple(f.strip() for f in text.split(",") if f.strip())
    for f in names:
        if f not in ("html", "md"):
            raise argparse.ArgumentTypeError(f"unknown format {f!r}; choose html, md or html,md")
    if not names:
        raise argparse.ArgumentTypeError("give html, md or html,md")
    return names


def add_markdown_out(p: argparse.ArgumentParser, what: str = "tables") -> None:
    """``--out FILE``: where :func:`emit` also writes the Markdown."""
    p.add_argument("--out", type=out_file, default=None, metavar="FILE", help=f"also write the {what} as Markdown")


def emit(args: argparse.Namespace, result, text: str) -> int:
    """Write ``text`` (Markdown) to ``--out`` when given; print the result as JSON with ``--json``, else the text."""
    from ..inference.files import write_text_atomic

    if args.out is not None:
        write_text_atomic(args.out, text)
    print(json.dumps(result, indent=2) if args.json else text)
    return 0
