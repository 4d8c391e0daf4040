"""Answers as text for a terminal: the paper replication's table next to the published values."""

from __future__ import annotations

__all__ = ["format_replication"]


def _fmt(x: float) -> str:
    return f"{x:.3g}" if abs(x) < 100 else f"{x:,.0f}"


def _diff(ours: float, ref: float) -> str:
    return f"{100.0 * (ours / ref - 1.0):+.1f}%"


def format_replication(rep) -> str:
    """A readable table of a :class:`~infergy.inference.PaperReplication`, with the published values beside it."""
    from .model import PUBLISHED

    published = PUBLISHED.get(rep.version, {})
    d = rep.to_dict()
    lines = [
        f"infergy paper mode {rep.version}: {rep.samples_per_model:,} samples per model and regime, "
        f"seed {rep.seed}, rng {rep.rng}, {rep.sampling} sampling",
        "Wh per query at the facility boundary (node power x PUE; idle capacity not included)",
        "",
    ]
    header = f"{'':34s} {'regime':12s} {'median':>8s} {'IQR':>17s} {'mean':>8s}   {'published (source)':s}"

    def row(label: str, regime: str, q: dict, key: tuple) -> str:
        iqr = f"{_fmt(q['p25'])}-{_fmt(q['p75'])}"
        text = f"{label:34s} {regime:12s} {_fmt(q['median']):>8s} {iqr:>17s} {_fmt(q['mean']):>8s}"
        if key in published:
            ref, source = published[key]
            ref_text = _fmt(ref["median"])
            if "p25" in ref:
                ref_text += f" ({_fmt(ref['p25'])}-{_fmt(ref['p75'])})"
            text += f"   {ref_text} [{source}] {_diff(q['median'], ref['median'])}"
        return text

    lines += ["Per model", header]
    for model, by_regime in d["per_model"].items():
        for regime, q in by_regime.items():
            lines.append(row(model, regime, q, ("per_model", model, regime)))
    lines += ["", "Blended >200B (top models by median; each trimmed to P5-P95, then P10-P90)", header]
    for regime, q in d["blended"].items():
        members = ", ".join(rep.blended_models[regime])
        lines.append(row(f"blended ({len(rep.blended_models[regime])} models)", regime, q, ("blended", regime)))
        lines.append(f"{'':34s}   of: {members}")
    lines += ["", "Efficiency pathways (blended baseline / log-normal multiplier, P5-P95)", header]
    for lever, by_regime in d["pathways"].items():
        p5, p95 = rep.config.pathways_p5_p95[lever]
        for regime, q in by_regime.items():
            lines.append(row(f"{lever} ({p5:g}-{p95:g}x)", regime, q, ("pathways", lever, regime)))
    cfg = rep.config
    lines += [
        "",
        f"Fleet: {cfg.fleet_queries_per_day:,.0f} queries/day, x{cfg.fleet_overhead:.4f} overhead, "
        f"{cfg.fleet_long_share:.0%} long queries; GWh/day, bootstrap median (P5-P95 of the mean)",
    ]
    for name, est in rep.fleet.items():
        text = f"{name:34s} {_fmt(est.median):>8s} ({_fmt(est.p5)}-{_fmt(est.p95)})"
        key = ("fleet_gwh_per_day", name)
        if key in published:
            ref, source = published[key]
            text += f"   published {_fmt(ref)} [{source}] {_diff(est.median, ref)}"
        lines.append(text)
    return "\n".join(lines)
