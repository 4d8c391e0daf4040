"""Every figure infergy draws, in one style (PNG, written atomically): paper mode (per-model and blended violins,
pathways, fleet) and the report (the answer, fit health, what was learned, per-query energy, pathways, fleet,
sensitivity, public estimates). Each takes plain arrays or the JSON-ready results, and a path. Figures are made
without pyplot, so drawing them neither needs nor changes the program's matplotlib backend (ArviZ's rank and
predictive plots draw through pyplot, imported only when they are drawn)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import warnings

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FormatStrFormatter, FuncFormatter, NullFormatter

from .analysis.fleet import REFERENCE_LINES_GWH_PER_DAY
from .analysis.paper_mc import PaperReplication
from .inference.files import atomic_path
from .model.paper import REGIMES

__all__ = ["BOUNDARY_COLORS", "plot_paper_energy", "plot_paper_pathways", "plot_paper_fleet", "write_paper_figures",
           "plot_answer", "plot_calibration", "plot_learned", "plot_forest", "plot_per_query", "plot_pathways",
           "plot_fleet", "plot_estimates", "plot_sensitivity", "plot_rank", "plot_weights", "plot_ppc", "plot_lengths",
           "PPC_DRAWS", "plot_zones"]

#: Predictive draws the posterior predictive check overlays on each observed density.
PPC_DRAWS = 40
BOUNDARY_COLORS = {"gpu": "#7f7f7f", "node": "#8c564b", "facility": "#1f77b4", "facility+idle": "#2ca02c",
                   "undisclosed": "#d62728"}
_REGIME_TITLES = {"traditional": f"Traditional queries (median {REGIMES['traditional']:,.0f} output tokens)",
                  "reasoning": f"Test-time scaling (median {REGIMES['reasoning']:,.0f} output tokens)"}


def _save(fig: Figure, path: Path) -> Path:
    """Write the PNG atomically (never a half-written file)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=130, bbox_inches="tight", format="png")
    return path


def _trim_5_95(x: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(x, [5, 95])
    return x[(x >= lo) & (x <= hi)]


#: Most points a violin's density is estimated from: its kernel density costs points x samples, so 2e6 samples
#: per model took minutes; evenly spaced order statistics of a larger sample draw the same shape.
VIOLIN_POINTS = 20_000


def _for_density(x: np.ndarray, points: int = VIOLIN_POINTS) -> np.ndarray:
    """``x`` itself, or ``points`` evenly spaced order statistics of it (its quantiles at (i + 0.5) / points)."""
    if x.size <= points:
        return x
    return np.sort(x)[((np.arange(points) + 0.5) * (x.size / points)).astype(np.int64)]


def _log_violins(ax: Axes, samples: Sequence[np.ndarray], labels: Sequence[str], colors: Sequence[str]) -> None:
    """Violins of log10(samples) (trimmed to P5-P95 for display), with the untrimmed median marked."""
    logs = [np.log10(_for_density(_trim_5_95(np.asarray(s)))) for s in samples]
    parts = ax.violinplot(logs, showextrema=False, widths=0.8)
    for body, color in zip(parts["bodies"], colors):
        body.set_facecolor(color)
        body.set_edgecolor("black")
        body.set_alpha(0.75)
    for i, s in enumerate(samples, start=1):
        q25, med, q75 = np.log10(np.percentile(s, [25, 50, 75]))
        ax.vlines(i, q25, q75, color="black", lw=3)
        ax.scatter([i], [med], color="white", edgecolor="black", zorder=3, s=25)
        ax.annotate(f"{10 ** med:.3g}", (i, med), xytext=(8, 0), textcoords="offset points", fontsize=8,
                    va="center")
    ax.set_xticks(range(1, len(labels) + 1), labels, rotation=20, ha="right", fontsize=8)
    lo, hi = ax.get_ylim()
    ticks = [np.log10(m * 10.0**k) for k in range(int(np.floor(lo)) - 1, int(np.ceil(hi)) + 1) for m in (1, 3)]
    ax.set_yticks([t for t in ticks if lo <= t <= hi])
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{10 ** v:.3g}"))
    ax.grid(axis="y", alpha=0.3)


def plot_paper_energy(rep: PaperReplication, path: str | Path) -> Path:
    """Per-model and blended (>200B) energy per query, one panel per regime."""
    fig = Figure(figsize=(13, 5))
    axes = fig.subplots(1, 2)
    for ax, regime in zip(axes, ("traditional", "reasoning")):
        energy = rep.energy_wh[regime]
        order = np.argsort(-np.median(energy, axis=1))
        samples = [energy[i] for i in order] + [rep.blended_wh[regime]]
        labels = [rep.models[i] for i in order] + [f"Blended >200B\n(top {len(rep.blended_models[regime])})"]
        colors = ["#7fa7d9"] * len(order) + ["#e8a33d"]
        _log_violins(ax, samples, labels, colors)
        ax.set_title(_REGIME_TITLES[regime], fontsize=10)
        ax.set_ylabel("Wh per query (facility boundary, log scale)")
    fig.suptitle(f"Paper mode {rep.version}: energy per query, {rep.samples_per_model:,} samples per model "
                 "(violins P5-P95; bar = IQR; dot = median)", fontsize=11)
    return _save(fig, Path(path))


def plot_paper_pathways(rep: PaperReplication, path: str | Path) -> Path:
    """The blended baseline and each efficiency lever, one panel per regime."""
    fig = Figure(figsize=(12, 5))
    axes = fig.subplots(1, 2)
    levers = list(rep.pathways_wh)
    for ax, regime in zip(axes, ("traditional", "reasoning")):
        base = rep.blended_wh[regime]
        samples = [base] + [rep.pathways_wh[lv][regime] for lv in levers]
        base_med = np.median(base)
        labels = ["Baseline >200B"] + [
            f"{lv.capitalize()} ({100 * (np.median(rep.pathways_wh[lv][regime]) / base_med - 1):+.0f}%)"
            for lv in levers
        ]
        _log_violins(ax, samples, labels, ["#e8a33d"] + ["#6cb58a"] * len(levers))
        ax.set_title(_REGIME_TITLES[regime], fontsize=10)
        ax.set_ylabel("Wh per query (facility boundary, log scale)")
    fig.suptitle(f"Paper mode {rep.version}: efficiency pathways (each lever alone; % = change of the median)",
                 fontsize=11)
    return _save(fig, Path(path))


def plot_paper_fleet(rep: PaperReplication, path: str | Path) -> Path:
    """Fleet GWh/day at the configured query volume, with reference lines."""
    cfg = rep.config
    names = {"baseline": "Traditional only", "with_long_queries": f"{cfg.fleet_long_share:.0%} long queries",
             "improved": f"{cfg.fleet_long_share:.0%} long, improved"}
    est = [rep.fleet[k] for k in names]
    med = np.array([e.median for e in est])
    err = np.array([[e.median - e.p5 for e in est], [e.p95 - e.median for e in est]])
    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    ax.bar(list(names.values()), med, yerr=err, capsize=6, color=["#7fa7d9", "#e8a33d", "#6cb58a"])
    for i, v in enumerate(med):
        ax.annotate(f"{v:.3f}", (i, v), xytext=(0, 6), textcoords="offset points", ha="center")
    for (label, gwh), color, style in zip(REFERENCE_LINES_GWH_PER_DAY.items(), ("gray", "firebrick"), ("--", ":")):
        ax.axhline(gwh, color=color, ls=style, lw=1)
        ax.text(2.45, gwh, f"{label}: {gwh:g} GWh", ha="right", va="bottom", fontsize=8)
    ax.set_ylabel("GWh per day")
    ax.set_title(f"Paper mode {rep.version}: {cfg.fleet_queries_per_day:,.0f} queries/day "
                 f"(x{cfg.fleet_overhead:.4f} overhead; bars: P5-P95 of the mean, "
                 f"{'bootstrap' if rep.fleet_interval.startswith('bootstrap') else 'normal route'})", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, Path(path))


def write_paper_figures(rep: PaperReplication, out_dir: str | Path) -> list[Path]:
    """All paper-mode figures into ``out_dir``; returns their paths."""
    out = Path(out_dir)
    return [
        plot_paper_energy(rep, out / "energy_per_query.png"),
        plot_paper_pathways(rep, out / "pathways.png"),
        plot_paper_fleet(rep, out / "fleet.png"),
    ]


def _log_axis(ax, axis: str = "x") -> None:
    """Log scale with plain tick labels (0.3, 1, 2 rather than 3 x 10^-1)."""
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    target.set_minor_formatter(NullFormatter())
    ax.grid(True, which="major", axis=axis, alpha=0.3)


def plot_answer(rows: list[dict], path: str | Path) -> Path:
    """One row per answer: median, 50% and 90% intervals where known, coloured by boundary, log scale.
    ``rows``: dicts with label, boundary, median and optional p05/p25/p75/p95."""
    fig = Figure(figsize=(9.5, 0.48 * len(rows) + 1.6))
    ax = fig.subplots()
    for i, r in enumerate(rows[::-1]):
        c = BOUNDARY_COLORS.get(r["boundary"], "black")
        if "p05" in r:
            ax.hlines(i, r["p05"], r["p95"], color=c, lw=1.5)
        if "p25" in r:
            ax.hlines(i, r["p25"], r["p75"], color=c, lw=5, alpha=0.6)
        ax.plot(r["median"], i, "o", color=c, mec="black", ms=6, zorder=3)
        ax.annotate(f"{r['median']:.3g}", (r["median"], i), xytext=(0, 7), textcoords="offset points",
                    ha="center", fontsize=8)
    ax.set_yticks(range(len(rows)), [f"{r['label']}  [{r['boundary']}]" for r in rows[::-1]], fontsize=8.5)
    _log_axis(ax)
    ax.set_xlabel("Wh per query (log scale); thick: 50% interval, thin: 90% interval, dot: median")
    handles = [Line2D([], [], color=c, marker="o", ls="", label=b) for b, c in BOUNDARY_COLORS.items()]
    ax.legend(handles=handles, title="boundary", fontsize=8, title_fontsize=8, loc="lower right")
    ax.set_title("Energy per query: infergy's posterior, paper mode and the operators' disclosures", fontsize=10)
    fig.tight_layout()
    return _save(fig, Path(path))


def plot_calibration(panels: list[dict], path: str | Path) -> Path:
    """Observed vs posterior-predictive median with 90% intervals, one panel per table. ``panels``: dicts with
    title, unit, observed, median, p05, p95 (arrays) and coverage (share of rows inside the 90% interval)."""
    cols = min(3, len(panels))
    rows = -(-len(panels) // cols)
    fig = Figure(figsize=(4.2 * cols, 4.2 * rows))
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    for ax, p in zip(axes, panels):
        obs, med = np.asarray(p["observed"]), np.asarray(p["median"])
        alpha = 0.25 if len(obs) > 500 else 0.6
        ax.vlines(obs, p["p05"], p["p95"], color="#1f77b4", alpha=alpha * 0.6, lw=0.8)
        ax.plot(obs, med, ".", color="#1f77b4", alpha=alpha, ms=3)
        lo, hi = np.nanmin([obs.min(), np.min(p["p05"])]), np.nanmax([obs.max(), np.max(p["p95"])])
        ax.plot([lo, hi], [lo, hi], color="black", lw=0.8)
        if p.get("log"):
            ax.set_xscale("log")
            ax.set_yscale("log")
            minor = NullFormatter() if hi / lo > 10.0 else FormatStrFormatter("%g")  # within a decade: the only labels
            ax.xaxis.set_minor_formatter(minor)
            ax.yaxis.set_minor_formatter(minor)
        ax.set_xlabel(f"observed {p['unit']}", fontsize=8)
        ax.set_ylabel(f"predicted {p['unit']} (median, 90%)", fontsize=8)
        ax.set_title(f"{p['title']}\n{len(obs):,} rows; {p['coverage']:.0%} inside their 90% interval", fontsize=9)
        ax.tick_params(which="both", labelsize=7)
    fig.tight_layout()
    return _save(fig, Path(path))


def plot_learned(panels: dict, path: str | Path) -> Path:
    """Prior vs posterior for the key quantities: 2 x 2 panels (GPU throughput effects, power share vs load,
    fleet PUE, production load)."""
    fig = Figure(figsize=(11, 8))
    axes = fig.subplots(2, 2)
    prior_c, post_c = "#bbbbbb", "#1f77b4"
    # GPU throughput effects
    ax = axes[0, 0]
    g = panels["gpu_effects"]
    y = np.arange(len(g["labels"]))
    ax.hlines(y, *g["prior"], color=prior_c, lw=6, label="prior 90%")
    ax.hlines(y, *g["posterior"], color=post_c, lw=2.5, label="posterior 90%")
    ax.plot(g["median"], y, "o", color=post_c, mec="black", ms=4)
    ax.set_yticks(y, g["labels"], fontsize=7)
    ax.axvline(1.0, color="black", lw=0.6)
    _log_axis(ax)
    ax.set_xlabel("share of the GPU's HBM bandwidth the weights are read at (10B dense model, FP8)", fontsize=8)
    ax.set_title("Memory-bandwidth efficiency per GPU type", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    # power share vs load
    ax = axes[0, 1]
    b = panels["power"]["batch"]
    ax.fill_between(b, *panels["power"]["prior"], color=prior_c, alpha=0.5, label="prior 90% (reference GPU)")
    for (gpu, band), c in zip(panels["power"]["posterior"].items(), ("#1f77b4", "#ff7f0e", "#2ca02c")):
        ax.fill_between(b, band[0], band[2], color=c, alpha=0.3)
        ax.plot(b, band[1], color=c, label=f"{gpu} posterior (median, 90%)")
    ax.set_xscale("log")
    ax.set_xlabel("concurrent sequences (batch)", fontsize=8)
    ax.set_ylabel("average GPU power / TDP", fontsize=8)
    ax.set_title("GPU power vs load", fontsize=9)
    ax.legend(fontsize=7)
    # PUE and production load: densities
    for ax, key, xlabel, title in ((axes[1, 0], "pue", "PUE of a hyperscale operator's fleet", "PUE"),
                                   (axes[1, 1], "batch", "concurrent queries per 8-GPU replica (log)",
                                    "Production load (operating point)")):
        d = panels[key]
        logx = key == "batch"
        prior, post = (np.log10(d["prior"]), np.log10(d["posterior"])) if logx else (d["prior"], d["posterior"])
        lo, hi = np.quantile(np.concatenate([prior, post]), [0.005, 0.98])
        bins = np.linspace(lo, hi, 30)
        ax.hist(prior, bins=bins, density=True, color=prior_c, alpha=0.7, label="prior")
        ax.hist(post, bins=bins, density=True, color=post_c, alpha=0.6, label="posterior")
        if logx:
            ticks = [t for t in (1, 3, 10, 30, 100, 300, 1000) if lo <= np.log10(t) <= hi]
            ax.set_xticks(np.log10(ticks), [str(t) for t in ticks])
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_yticks([])
        ax.set_title(f"{title}: posterior median {np.median(d['posterior']):.3g} "
                     f"(90% {np.quantile(d['posterior'], 0.05):.3g}-{np.quantile(d['posterior'], 0.95):.3g})",
                     fontsize=9)
        ax.legend(fontsize=7)
    fig.suptitle("What the data taught the model: prior (grey) vs posterior", fontsize=11)
    fig.tight_layout()
    return _save(fig, Path(path))


def plot_forest(labels: list[str], draws: np.ndarray, path: str | Path, *, title: str, xlabel: str) -> Path:
    """Forest plot of per-group effects (draws x groups), sorted by median: 50% and 90% intervals."""
    med = np.median(draws, axis=0)
    order = np.argsort(med)
    q = np.quantile(draws[:, order], [0.05, 0.25, 0.75, 0.95], axis=0)
    fig = Figure(figsize=(8, 0.2 * len(labels) + 1.4))
    ax = fig.subplots()
    y = np.arange(len(labels))
    ax.hlines(y, q[0], q[3], color="#1f77b4", lw=1)
    ax.hlines(y, q[1], q[2], color="#1f77b4", lw=3.5)
    ax.plot(med[order], y, "o", color="white", mec="black", ms=3.5, zorder=3)
    ax.set_yticks(y, [labels[i] for i in order], fontsize=6.5 if len(labels) > 40 else 8)
    ax.axvline(1.0, color="black", lw=0.6)
    _log_axis(ax)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, Path(path))


def plot_per_query(samples: dict[str, dict[str, np.ndarray]], path: str | Path) -> Path:
    """Violins of Wh per query per model, one panel per regime (log scale), as the paper's figures."""
    regimes = list(next(iter(samples.values())))
    fig = Figure(figsize=(6 * len(regimes), 4.8))
    axes = fig.subplots(1, len(regimes))
    colors = matplotlib.colormaps["tab10"](np.arange(len(samples)))
    for ax, regime in zip(np.atleast_1d(axes), regimes):
        _log_violins(ax, [samples[m][regime] for m in samples], list(samples), colors)
        ax.set_ylabel("Wh per query (log scale)", fontsize=8)
        ax.set_title(f"{regime} queries (violins: P5-P95; bar: IQR; dot: median)", fontsize=9)
    fig.tight_layout()
    return _save(fig, Path(path))


def plot_pathways(res: dict, path: str | Path) -> Path:
    """Reduction factor per lever (median, 90% interval), one panel per regime; paper vs fitted levers."""
    regimes = list(res["regimes"])
    fig = Figure(figsize=(6.5 * len(regimes), 5))
    axes = fig.subplots(1, len(regimes), sharey=True)
    for ax, regime in zip(np.atleast_1d(axes), regimes):
        rows = res["regimes"][regime]["rows"]
        labels = list(rows)[::-1]
        for i, label in enumerate(labels):
            r = rows[label]["reduction_factor"]
            kind = res["levers"][label]["kind"] if label in res["levers"] else label.split(":")[0]
            c = "#ff7f0e" if kind == "paper" else "#1f77b4"
            ax.hlines(i, r["p05"], r["p95"], color=c, lw=1.5)
            ax.hlines(i, r["p25"], r["p75"], color=c, lw=5, alpha=0.6)
            ax.plot(r["median"], i, "o", color=c, mec="black", ms=5, zorder=3)
        names = [res["levers"][k]["label"] if k in res["levers"] else k for k in labels]
        ax.set_yticks(range(len(labels)), names, fontsize=8)
        ax.axvline(1.0, color="black", lw=0.8)
        _log_axis(ax)
        base = res["regimes"][regime]["baseline_wh_per_query"]["median"]
        ax.set_title(f"{regime}: baseline {base:.3g} Wh/query", fontsize=9)
        ax.set_xlabel("reduction factor (energy before / after); orange: paper, blue: fitted", fontsize=8)
    fig.tight_layout()
    return _save(fig, Path(path))


def plot_fleet(res: dict, path: str | Path) -> Path:
    """GWh/day bars with 90% intervals, infergy next to paper mode, with the reference lines."""
    names = list(res["fleet"])
    x = np.arange(len(names))
    fig = Figure(figsize=(8, 4.6))
    ax = fig.subplots()
    ours = [res["fleet"][n] for n in names]
    ax.bar(x - 0.2, [o["median"] for o in ours], 0.4, color="#1f77b4", label=f"infergy [{res['boundary']}]",
           yerr=[[o["median"] - o["p05"] for o in ours], [o["p95"] - o["median"] for o in ours]], capsize=4)
    if "paper_mode" in res:
        pm = [res["paper_mode"]["fleet"][n] for n in names]
        ax.bar(x + 0.2, [p["median"] for p in pm], 0.4, color="#ff7f0e", label="paper mode [facility x 1.33]",
               yerr=[[p["median"] - p["p05"] for p in pm], [p["p95"] - p["median"] for p in pm]], capsize=4)
    for (label, value), ls in zip(res["reference_lines"].items(), ("--", ":")):
        ax.axhline(value, color="black", ls=ls, lw=1, label=f"{label}: {value:g}")
    ax.set_xticks(x, [n.replace("_", " ") for n in names])
    ax.set_ylabel("GWh per day")
    ax.set_title(f"Fleet energy, {res['queries_per_day']:.3g} queries/day, {res['long_share']:.0%} long queries "
                 "(bars: median, whiskers: 90%)", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, Path(path))


def plot_estimates(rows: list[dict], path: str | Path) -> Path:
    """Public estimate / infergy posterior, with the posterior's 90% interval, per estimate (log scale)."""
    fig = Figure(figsize=(9.5, 0.22 * len(rows) + 1.8))
    ax = fig.subplots()
    for i, r in enumerate(rows[::-1]):
        c = BOUNDARY_COLORS.get(r["boundary"], "black")
        ax.hlines(i, r["factor_p05"], r["factor_p95"], color=c, lw=1.2)
        ax.plot(r["factor"], i, "o", color=c, mec="black", ms=4, zorder=3)
    ax.set_yticks(range(len(rows)), [r["label"] for r in rows[::-1]], fontsize=6)
    ax.axvline(1.0, color="black", lw=0.8)
    ax.axvspan(4, 20, color="#d62728", alpha=0.08, label="'overstated by 4-20x'")
    _log_axis(ax)
    ax.set_xlabel("published estimate / infergy posterior (same model or stand-in, tokens, boundary); "
                  "line: posterior 90%", fontsize=8)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title("Public estimates checked against the posterior", fontsize=10)
    fig.tight_layout()
    return _save(fig, Path(path))


def plot_rank(dt, var_names: list[str], path: str | Path) -> Path:
    """ArviZ rank plots (fractional-rank ECDF differences with envelopes) per chain."""
    import arviz_plots as azp
    import matplotlib.pyplot as plt  # arviz-plots draws through pyplot

    pc = azp.plot_rank(dt, var_names=var_names, backend="matplotlib")
    fig = plt.gcf()
    fig.set_size_inches(14, 3.2 * int(np.ceil(len(var_names) / 4)))
    fig.tight_layout()
    with atomic_path(path) as tmp:
        pc.savefig(str(tmp), dpi=110, bbox_inches="tight", format="png")
    plt.close("all")
    return Path(path)


def plot_weights(log_weights: np.ndarray, pareto_k: float, ess: float, path: str | Path) -> Path:
    """A reweighted posterior's importance weights (its draws are the base fit's, resampled by them, so it has no
    chains of its own to rank): each base draw's weight times the number of draws, sorted (1: every draw counts
    equally), and the cumulative share of the weight held by the heaviest draws."""
    w = np.exp(np.asarray(log_weights, np.float64) - np.max(log_weights))
    w = np.sort(w / w.sum())[::-1]
    n = w.size
    fig = Figure(figsize=(12, 3.6))
    ax, bx = fig.subplots(1, 2)
    ax.plot(np.arange(1, n + 1), w * n, color="#1f77b4", lw=1.2)
    ax.axhline(1.0, color="black", lw=0.8, ls="--")
    ax.set_yscale("log")
    ax.set_xlabel("base draws, heaviest first")
    ax.set_ylabel("weight x draws (1: equal)")
    ax.set_title(f"Importance weights (Pareto-smoothed): k = {pareto_k:.2f}, {ess:,.0f} effective of {n:,} draws",
                 fontsize=10)
    bx.plot(np.arange(1, n + 1) / n, np.cumsum(w), color="#1f77b4", lw=1.2)
    bx.plot([0, 1], [0, 1], color="black", lw=0.8, ls="--")
    bx.set_xlabel("share of the base draws, heaviest first")
    bx.set_ylabel("share of the weight")
    bx.set_title("How evenly the weight spreads (diagonal: equal weights)", fontsize=10)
    fig.tight_layout()
    return _save(fig, Path(path))


def plot_ppc(ppc: dict, observed: dict, n_chain: int, path: str | Path) -> Path:
    """ArviZ posterior predictive check: observed density vs densities of :data:`PPC_DRAWS` predictive draws, per
    observed site (``ppc``: site -> draws x rows, draws chain-major; ``observed``: site -> rows)."""
    import arviz as az
    import arviz_plots as azp
    import matplotlib.pyplot as plt  # arviz-plots draws through pyplot

    groups = {"posterior_predictive": {k: np.asarray(v).reshape(n_chain, -1, len(observed[k]))
                                       for k, v in ppc.items()},
              "observed_data": {k: np.asarray(v) for k, v in observed.items()}}
    dt = az.from_dict(groups, dims={k: [f"{k}_row"] for k in observed})
    with warnings.catch_warnings():  # arviz-plots' own use of a pandas call pandas has deprecated
        warnings.filterwarnings("ignore", message="Deleting a single level of a MultiIndex", category=FutureWarning)
        rows = -(-len(observed) // 4)  # four panels a row; tall enough that a title clears the row above's labels
        pc = azp.plot_ppc_dist(dt, var_names=list(observed), backend="matplotlib", num_samples=PPC_DRAWS,
                               col_wrap=4, figure_kwargs={"figsize": (14, 3.3 * rows)})
    with atomic_path(path) as tmp:
        pc.savefig(str(tmp), dpi=110, bbox_inches="tight", format="png")
    plt.close("all")
    return Path(path)


def plot_lengths(panels: list[dict], path: str | Path) -> Path:
    """The workload model against its traces: per workload and length (prompt, answer), the trace's histogram of
    log tokens and the posterior predictive's, on the same bins. ``panels``: dicts with ``title``, ``observed``
    and ``predicted`` token counts."""
    fig = Figure(figsize=(11, 3.2 * ((len(panels) + 1) // 2)))
    axes = np.atleast_1d(fig.subplots((len(panels) + 1) // 2, 2)).ravel()
    for ax, panel in zip(axes, panels):
        obs, pred = np.asarray(panel["observed"], float), np.asarray(panel["predicted"], float)
        bins = np.geomspace(max(1.0, min(obs.min(), np.quantile(pred, 0.001))), max(obs.max(), np.quantile(pred, 0.999)), 60)
        ax.hist(obs, bins=bins, density=True, color="0.6", label=f"trace ({obs.size:,} requests)")
        ax.hist(pred, bins=bins, density=True, histtype="step", color="#1f77b4", linewidth=1.5,
                label="posterior predictive")
        ax.set_xscale("log")
        ax.set_title(panel["title"], fontsize=9)
        ax.set_xlabel("tokens (log scale)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    fig.tight_layout()
    return _save(fig, Path(path))


def plot_sensitivity(res: dict, path: str | Path) -> Path:
    """A horizontal bar chart of the first-order shares."""
    names = list(res["first_order"])[::-1]
    values = [res["first_order"][k] for k in names]
    fig = Figure(figsize=(8.5, 0.45 * len(names) + 1.8))
    ax = fig.subplots()
    ax.barh(names, values, color="#3b6ea5")
    for i, v in enumerate(values):
        ax.text(v + 0.01, i, f"{v:.2f}", va="center", fontsize=9)
    ax.set_xlim(0, max(1.0, max(values) + 0.1))
    ax.set_xlabel("first-order share of the variance of log Wh/query")
    split = res["split"]
    ax.set_title(f"What drives the spread of Wh/query: {res['regime']} queries, {res['boundary']} boundary\n"
                 f"variance from the posterior {split['posterior (between draws)']:.0%}, from the query "
                 f"{split['query (within draws)']:.0%}", fontsize=10)
    fig.tight_layout()
    return _save(fig, Path(path))


def plot_zones(res: dict, path: str | Path) -> Path:
    """Carbon and water per query of one setting served in each zone (median, 50% and 90% intervals; log scale),
    with the operators' disclosures drawn where they fall and labelled with what they count."""
    rows = res["rows"]
    fig = Figure(figsize=(10, 0.3 * len(rows) + 2.6))
    axes = fig.subplots(1, 2, sharey=True)
    y = np.arange(len(rows))
    styles = {"PQ-007": ("#2ca02c", "--"), "PQ-009": ("#2ca02c", "--"), "PQ-012": ("#9467bd", ":"),
              "PQ-013": ("#d62728", "-."), "PQ-014": ("#d62728", "-.")}
    for ax, key, unit in ((axes[0], "carbon_g", "gCO2e per query (location-based, life-cycle grid)"),
                          (axes[1], "water_ml", "mL of water per query (on-site + off-site)")):
        q = [r[key] for r in rows]
        ax.hlines(y, [v["p05"] for v in q], [v["p95"] for v in q], color="#1f77b4", lw=1)
        ax.hlines(y, [v["p25"] for v in q], [v["p75"] for v in q], color="#1f77b4", lw=3.5)
        ax.plot([v["median"] for v in q], y, "o", color="white", mec="#1f77b4", ms=4, zorder=3)
        for d in res["disclosures"]:
            if d["quantity"] != key:
                continue
            color, ls = styles.get(d["id"], ("black", "--"))
            ax.axvline(d["value"], color=color, ls=ls, lw=1.1,
                       label=f"{d['who'].split(',')[0]}: {d['value']:.2g} ({d['short']})")
        _log_axis(ax)
        ax.set_xlabel(unit, fontsize=8)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.09), frameon=False)
    axes[0].set_yticks(y, [f"{r['zone']} ({r['grid_g_per_kwh']:,.0f} g/kWh)" for r in rows], fontsize=7)
    e = res["energy_wh"]
    fig.suptitle(f"Where a query is served: {res['setting']}, {e['median']:.2g} Wh median at the "
                 f"{res['boundary']} boundary\n(grids of {rows[0]['year']}; bars: 50% and 90% intervals; lines: operators' "
                 "disclosures for their own models and prompts)", fontsize=9)
    fig.tight_layout()
    return _save(fig, Path(path))
