"""Figures for paper mode: per-model and blended violins, pathway violins, fleet bars (PNG, written atomically)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from ..model.paper import REGIMES
from .files import atomic_path
from .paper_mc import PaperReplication

__all__ = ["WEB_SEARCH_GWH_PER_DAY", "DATACENTER_30MW_GWH_PER_DAY", "plot_energy_violins", "plot_pathways",
           "plot_fleet", "write_paper_figures"]

#: 1e9 web searches at 0.3 Wh each, in GWh/day.
WEB_SEARCH_GWH_PER_DAY = 1e9 * 0.3 / 1e9
#: A 30 MW data center at 80% load for 24 h, in GWh/day.
DATACENTER_30MW_GWH_PER_DAY = 30.0 * 0.8 * 24 / 1000
_REGIME_TITLES = {"traditional": f"Traditional queries (median {REGIMES['traditional']:,.0f} output tokens)",
                  "reasoning": f"Test-time scaling (median {REGIMES['reasoning']:,.0f} output tokens)"}


def _save(fig: Figure, path: Path) -> Path:
    """Write the PNG atomically (never a half-written file). Figures are made without pyplot, so drawing them
    neither needs nor changes the program's matplotlib backend."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=130, bbox_inches="tight", format="png")
    return path


def _trim_5_95(x: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(x, [5, 95])
    return x[(x >= lo) & (x <= hi)]


def _log_violins(ax: Axes, samples: Sequence[np.ndarray], labels: Sequence[str], colors: Sequence[str]) -> None:
    """Violins of log10(samples) (trimmed to P5-P95 for display), with the untrimmed median marked."""
    logs = [np.log10(_trim_5_95(np.asarray(s))) for s in samples]
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


def plot_energy_violins(rep: PaperReplication, path: str | Path) -> Path:
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


def plot_pathways(rep: PaperReplication, path: str | Path) -> Path:
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


def plot_fleet(rep: PaperReplication, path: str | Path) -> Path:
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
    ax.axhline(WEB_SEARCH_GWH_PER_DAY, color="gray", ls="--", lw=1)
    ax.text(2.45, WEB_SEARCH_GWH_PER_DAY, "1e9 web searches (0.3 GWh)", ha="right", va="bottom", fontsize=8)
    ax.axhline(DATACENTER_30MW_GWH_PER_DAY, color="firebrick", ls=":", lw=1)
    ax.text(2.45, DATACENTER_30MW_GWH_PER_DAY, "30 MW H100 data center (0.576 GWh)", ha="right", va="bottom",
            fontsize=8)
    ax.set_ylabel("GWh per day")
    ax.set_title(f"Paper mode {rep.version}: {cfg.fleet_queries_per_day:,.0f} queries/day "
                 f"(x{cfg.fleet_overhead:.4f} overhead; bars: bootstrap P5-P95)", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, Path(path))


def write_paper_figures(rep: PaperReplication, out_dir: str | Path) -> list[Path]:
    """All paper-mode figures into ``out_dir``; returns their paths."""
    out = Path(out_dir)
    return [
        plot_energy_violins(rep, out / "energy_per_query.png"),
        plot_pathways(rep, out / "pathways.png"),
        plot_fleet(rep, out / "fleet.png"),
    ]
