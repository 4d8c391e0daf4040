"""Fleet energy: queries per day x energy per query -> GWh/day, with the posterior's uncertainty: ``infergy fleet``.

With 1e9 queries a day the spread between single queries averages out: what remains is the uncertainty of the
*mean* Wh per query, i.e. of the posterior. Each posterior draw's mean over many simulated queries (per regime) is
scaled to GWh/day, so the intervals are posterior intervals of the daily total. Rows, as the paper:

- baseline: every query traditional;
- with long queries: a share ``long_share`` of reasoning queries (median 5,000 output tokens);
- improved: the mix after the chosen efficiency levers (:mod:`infergy.analysis.pathways`), per regime.

Default boundary ``facility+idle``: a fleet's daily energy includes the provisioned-but-idle capacity it keeps
(fitted from production disclosures); ``overhead`` multiplies on top (the paper uses 1.3256 for orchestration and
backup, on node x PUE).
"""

from __future__ import annotations

import numpy as np

from ..model.names import EXTREME_HINT, queries_per_day_past
from .estimate import BOUNDARY_DESCRIPTIONS, open_posterior, queries_per_draw
from .pathways import Baseline, check_levers, BlendStreams, paper_setting, reduction_per_draw
from .predict import check_spec
from .propagate import Workload, pool
from .quantiles import summarize

__all__ = ["fleet", "REFERENCE_LINES_GWH_PER_DAY", "DEFAULT_FLEET_LEVERS"]

#: The paper's reference lines (GWh/day): 1e9 web searches at 0.3 Wh, and a 30 MW data center at 80% for 24 h.
REFERENCE_LINES_GWH_PER_DAY = {"1e9 web searches (0.3 Wh each)": 0.3,
                               "30 MW H100 data center (80% load, 24 h)": 0.576}
#: The improved fleet: same models, newer GPUs with FP4, at twice the load.
_INTERVAL = ("median", "mean", "p05", "p95")
DEFAULT_FLEET_LEVERS = ("b200", "fp4", "load-x2")


def fleet(queries_per_day: float = 1e9, *, long_share: float = 0.1, levers=DEFAULT_FLEET_LEVERS,
          overhead: float = 1.0, boundary: str = "facility+idle", baseline: Baseline | None = None,
          posterior=None, samples_per_member: int = 1_000_000, seed: int = 0, paper_version: str | None = "v2",
          bundle=None, paper_replication=None, allow_extreme: bool = False, where=None) -> dict:
    """GWh/day for ``queries_per_day`` queries: baseline (all traditional), with ``long_share`` reasoning queries,
    and improved by ``levers`` -- posterior medians and 90% intervals, next to the reference lines and (unless
    ``paper_version`` is None) paper mode's fleet numbers (``paper_replication`` reuses a paper-mode run).
    ``where`` (an :class:`~.impacts.Where`) adds tCO2e/day and m3/day of water for the same fleet served there.
    JSON-ready."""
    if not 0 < queries_per_day < float("inf"):
        raise ValueError(f"queries per day must be a finite number > 0, got {queries_per_day}")
    if not allow_extreme and (why := queries_per_day_past(queries_per_day)):
        raise ValueError(f"queries per day: {why}: {EXTREME_HINT}")
    if not 0.0 <= long_share <= 1.0:
        raise ValueError(f"long-query share must be between 0 and 1, got {long_share}")
    if not overhead >= 1.0:
        raise ValueError(f"overhead must be >= 1 (a multiplier on top of the boundary), got {overhead}")
    lever_objs = check_levers(levers)
    source = open_posterior(posterior, bundle)
    baseline = baseline if baseline is not None else paper_setting(boundary=boundary)
    for m in baseline.members:
        check_spec(m)
    q = queries_per_draw(samples_per_member, source.n_draws)
    scale = queries_per_day * overhead / 1e9  # Wh/query -> GWh/day
    mean_wh, improved_wh, per_query = {}, {}, {}
    for regime in ("traditional", "reasoning"):
        base = baseline.for_regime(regime)
        streams = BlendStreams(source, Workload.of(base.members[0]), q, seed)
        summary = pool([streams(m, i) for i, m in enumerate(base.members)])
        mean_wh[regime] = summary.per_draw_mean
        r = reduction_per_draw(lever_objs, base, streams, regime) if lever_objs else np.ones(source.n_draws)
        improved_wh[regime] = summary.per_draw_mean / r
        per_query[regime] = {"mean_wh_per_query": summarize(summary.per_draw_mean, _INTERVAL),
                             "reduction_factor": summarize(r, _INTERVAL)}
    mixed = (1.0 - long_share) * mean_wh["traditional"] + long_share * mean_wh["reasoning"]
    improved = (1.0 - long_share) * improved_wh["traditional"] + long_share * improved_wh["reasoning"]
    out = {
        "unit": "GWh/day", "queries_per_day": queries_per_day, "long_share": long_share, "overhead": overhead,
        "boundary": baseline.members[0].boundary,
        "boundary_description": BOUNDARY_DESCRIPTIONS[baseline.members[0].boundary],
        "baseline_setting": baseline.name, "levers": list(levers),
        "interval": "posterior median and 90% interval of the daily total (per-query spread averaged out)",
        "fleet": {"baseline": summarize(scale * mean_wh["traditional"], _INTERVAL),
                  "with_long_queries": summarize(scale * mixed, _INTERVAL),
                  "improved": summarize(scale * improved, _INTERVAL)},
        "per_regime": per_query,
        "reference_lines": dict(REFERENCE_LINES_GWH_PER_DAY),
        "samples_per_member": source.n_draws * q, "seed": seed, "posterior": source.info,
    }
    if where is not None:
        fleets = {"baseline": scale * mean_wh["traditional"], "with_long_queries": scale * mixed,
                  "improved": scale * improved}
        out["impacts"] = _fleet_impacts(where, fleets, baseline, source, seed)
    if paper_version is not None or paper_replication is not None:
        out["paper_mode"] = _paper_fleet(paper_replication or paper_version, queries_per_day, long_share, seed)
    return out


def _fleet_impacts(where, fleets: dict[str, np.ndarray], baseline: Baseline, source, seed: int) -> dict:
    """tCO2e/day and m3/day per posterior draw: GWh/day x the draw's grams (or mL) per Wh at the answer's
    boundary (GWh x 1e9 Wh x g/Wh / 1e6 g/t = GWh x 1,000 x g/Wh; likewise mL to m3)."""
    from .impacts import per_wh_factors

    per_wh, basis = per_wh_factors(where, baseline.members[0], source, seed)
    out = {"carbon_t_per_day": {k: summarize(1e3 * v * per_wh["carbon_g"], _INTERVAL) for k, v in fleets.items()},
           "water_m3_per_day": {k: summarize(1e3 * v * per_wh["water_ml"], _INTERVAL) for k, v in fleets.items()}}
    if "carbon_location_g" in per_wh:
        out["carbon_location_t_per_day"] = {k: summarize(1e3 * v * per_wh["carbon_location_g"], _INTERVAL)
                                            for k, v in fleets.items()}
    basis = {k: v for k, v in basis.items() if k != "unit"}
    return {**out, **basis, "unit": {"carbon_t_per_day": "tCO2e/day", "water_m3_per_day": "m3/day"}}


def _paper_fleet(version_or_rep, queries_per_day: float, long_share: float, seed: int) -> dict:
    """Paper mode's fleet rows (its own overhead and boundary), rescaled to these queries and mix; pass a
    :class:`~infergy.analysis.paper_mc.PaperReplication` to reuse one."""
    from .paper_mc import replicate_paper

    rep = replicate_paper(version_or_rep, seed=seed) if isinstance(version_or_rep, str) else version_or_rep
    cfg = rep.config
    k = queries_per_day / cfg.fleet_queries_per_day
    byr = rep.fleet_by_regime

    def mix(name: str, share: float) -> dict:
        t, r = byr["traditional"][name], byr["reasoning"][name]
        return {"median": k * ((1 - share) * t.median + share * r.median),
                "p05": k * ((1 - share) * t.p5 + share * r.p5), "p95": k * ((1 - share) * t.p95 + share * r.p95)}

    return {"version": rep.version, "overhead": cfg.fleet_overhead,
            "boundary": "facility (node x PUE), idle capacity excluded, x overhead",
            "interval": "bootstrap of the mean over the paper's samples (its per-query ranges are not posterior "
                        "uncertainty)",
            "fleet": {"baseline": mix("baseline", 0.0), "with_long_queries": mix("baseline", long_share),
                      "improved": mix("improved", long_share)}}


