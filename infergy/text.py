"""The answers as text: terminal tables and the Markdown of the CLI, the notebooks and the report. The analysis
returns plain data; only this module turns it into prose."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .analysis.estimate import BOUNDARY_DESCRIPTIONS

__all__ = ["fmt", "interquartile", "interval", "provenance_line", "estimate_text", "impacts_lines", "regions_markdown", "format_replication", "pathways_markdown",
           "fleet_markdown", "sensitivity_markdown", "comparison_markdown", "cv_markdown",
           "measured_markdown", "learned_markdown"]


def fmt(x: float) -> str:
    """A number for a reader: three significant figures, or a grouped integer from 100 up (1,234 not 1.23e+03)."""
    return f"{x:.3g}" if abs(x) < 100 else f"{x:,.0f}"


def interquartile(q: dict) -> str:
    """``median (p25-p75)`` of a quantile summary."""
    return f"{fmt(q['median'])} ({fmt(q['p25'])}-{fmt(q['p75'])})"


def interval(q: dict) -> str:
    """``median (50% p25-p75; 90% p05-p95)`` of a quantile summary."""
    return f"{fmt(q['median'])} (50% {fmt(q['p25'])}-{fmt(q['p75'])}; 90% {fmt(q['p05'])}-{fmt(q['p95'])})"


def _diff(ours: float, ref: float) -> str:
    return f"{100.0 * (ours / ref - 1.0):+.1f}%"


def provenance_line(res: dict) -> str:
    """Where an answer came from: the posterior's package version and data hash, and the seed."""
    post = res["posterior"]
    line = f"Posterior: infergy {post['version']}, fitted to data {post['data_hash'][:12]}; seed {res['seed']}"
    samples = res.get("samples", res.get("samples_per_member"))
    if samples is None:
        return line + "."
    return line + f"; {samples:,} query-samples" + (" per model" if "samples_per_member" in res else "") + "."


def estimate_text(est) -> str:
    """A readable answer for a terminal: an :class:`~infergy.analysis.estimate.Estimate` or its JSON dict."""
    est = est.to_dict() if hasattr(est, "to_dict") else est
    v, i, unit, boundary = est["value"], est["inputs"], est["unit"], est["boundary"]
    model = i["model"] or f"an unseen {i['total_params_b']:g}B-parameter model ({i['active_params_b']:g}B active)"
    prompt = (f"{i['input_tokens']:g} input tokens" if i["input_tokens"] is not None
              else f"input tokens drawn (median {i['input_tokens_median']:,.0f})")
    answer = (f"{i['output_tokens']:g} output tokens" if i["output_tokens"] is not None
              else f"output tokens drawn (median {i['output_tokens_median']:,.0f})")
    workload = f"; {i['regime']} regime: {i['workload']}" if i["workload"] else ""
    steps = f", {i['agent_steps']} sequential agent calls" if i["agent_steps"] > 1 else ""
    lines = [
        f"{model} on {i['n_gpus']} x {i['gpu']} ({i['precision']}), {prompt}, {answer}{steps}{workload}",
        f"  {fmt(v['median'])} {unit} (median); 50% interval {fmt(v['p25'])}-{fmt(v['p75'])}, "
        f"90% interval {fmt(v['p05'])}-{fmt(v['p95'])}; mean {fmt(v['mean'])}",
        f"  boundary: {boundary} ({BOUNDARY_DESCRIPTIONS[boundary]})",
        f"  load: {i['batch_size']}; PUE: {i['pue']}",
        f"  {i['samples']:,} query-samples ({i['posterior_draws']} posterior draws x {i['queries_per_draw']:,} "
        f"queries), seed {i['seed']}; posterior infergy {est['posterior']['version']}, data "
        f"{est['posterior']['data_hash'][:12]}",
    ]
    lines += [f"  note: {w}" for w in i["warnings"]]
    if est.get("impacts") is not None:
        lines += impacts_lines(est["impacts"])
    return "\n".join(lines)


def impacts_lines(imp: dict) -> list[str]:
    """The carbon and water of an answer, with where, when and how they are counted."""
    w, unit = imp["where"], imp["unit"]
    lines = [f"  served in {w['label']}, {w['year']} (grid: {w['grid_intensity']}, median "
             f"{fmt(w['grid_intensity_g_per_kwh_median'])} gCO2e/kWh); at the {imp['boundary']} boundary:"]
    for key, label in (("energy_wh", "energy"), ("carbon_g", "carbon"), ("carbon_location_g", "carbon, location-based"),
                       ("embodied_g", "of which hardware manufacturing (a prior)"), ("water_ml", "water")):
        if key in unit:
            lines.append(f"    {label}: {interval(imp[key])} {unit[key]}")
    lines.append(f"  carbon: {imp['carbon_basis']['scope']}; {imp['carbon_basis']['intensity'].split(':')[0]}; "
                 f"embodied hardware {imp['carbon_basis']['embodied_hardware'].split(':')[0].split(' (')[0]}")
    lines.append(f"  water: {imp['water_basis']['on_site']}; plus off-site, {imp['water_basis']['off_site'].split(': ', 1)[1]}")
    if w["static_source"]:
        lines.append(f"  note: the source repeats one value for {w['region']} every year: an estimate, not yearly data")
    return lines


def format_replication(rep) -> str:
    """A readable table of a :class:`~infergy.analysis.paper_mc.PaperReplication`, the published values beside
    it."""
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
        iqr = f"{fmt(q['p25'])}-{fmt(q['p75'])}"
        text = f"{label:34s} {regime:12s} {fmt(q['median']):>8s} {iqr:>17s} {fmt(q['mean']):>8s}"
        if key in published:
            ref, source = published[key]
            ref_text = fmt(ref["median"])
            if "p25" in ref:
                ref_text += f" ({fmt(ref['p25'])}-{fmt(ref['p75'])})"
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
        f"{cfg.fleet_long_share:.0%} long queries; GWh/day, median (P5-P95) of the mean",
        f"  interval: {rep.fleet_interval}",
    ]
    for name, est in rep.fleet.items():
        text = f"{name:34s} {fmt(est.median):>8s} ({fmt(est.p5)}-{fmt(est.p95)})"
        key = ("fleet_gwh_per_day", name)
        if key in published:
            ref, source = published[key]
            text += f"   published {fmt(ref)} [{source}] {_diff(est.median, ref)}"
        lines.append(text)
    return "\n".join(lines)


def pathways_markdown(res: dict) -> str:
    """The pathways as Markdown tables, one per regime."""
    lines = [f"Efficiency pathways for {res['baseline']}; Wh per query at the {res['boundary']} boundary "
             f"({res['boundary_description']}).", ""]
    for regime, block in res["regimes"].items():
        b = block["baseline_wh_per_query"]
        lines += [f"**{regime}**: baseline {fmt(b['median'])} Wh/query (50% {fmt(b['p25'])}-{fmt(b['p75'])}, "
                  f"90% {fmt(b['p05'])}-{fmt(b['p95'])})", "",
                  "| lever | reduction factor, median (90%) | reduction | Wh/query, median (50%) |",
                  "|---|---|---|---|"]
        for label, row in block["rows"].items():
            r, w = row["reduction_factor"], row["wh_per_query"]
            if label in res["levers"]:
                name = res["levers"][label]["label"]
            else:
                name = label if "+" in label else f"{label} ({' + '.join(row['levers'])})"
            lines.append(f"| {name} | {fmt(r['median'])}x ({fmt(r['p05'])}-{fmt(r['p95'])}) | "
                         f"{row['reduction_pct_median']:.0f}% | {fmt(w['median'])} ({fmt(w['p25'])}-{fmt(w['p75'])}) |")
        lines.append("")
        if "where" in block:
            w = block["where"]
            c, f = w["mean_carbon_g_per_query"], w["carbon_reduction_factor"]
            factor = "" if f is None else f"; factor {fmt(f['median'])}x (90% {fmt(f['p05'])}-{fmt(f['p95'])})"
            lines += [f"Where lever ({w['carbon_basis'].split(':')[0]}, {w['year']}): mean gCO2e per query "
                      f"{fmt(c['from']['median'])} in {w['from']} -> {fmt(c['to']['median'])} in {w['to']}{factor}; "
                      f"water {fmt(w['mean_water_ml_per_query']['from']['median'])} -> "
                      f"{fmt(w['mean_water_ml_per_query']['to']['median'])} mL.", ""]
    lines.append(provenance_line(res))
    return "\n".join(lines) + "\n"


def fleet_markdown(res: dict) -> str:
    """The fleet table (ours, paper mode, reference lines) as Markdown."""
    lines = [f"Fleet energy for {res['queries_per_day']:.3g} queries/day ({res['long_share']:.0%} long queries), "
             f"{res['baseline_setting']}; boundary {res['boundary']} ({res['boundary_description']})"
             + (f", x{res['overhead']:g} overhead" if res["overhead"] != 1.0 else "")
             + f"; improved = {' + '.join(res['levers']) or 'no levers'}.", "",
             "| scenario | infergy GWh/day, median (90%) | paper mode GWh/day (bootstrap 90%) |", "|---|---|---|"]
    paper = res.get("paper_mode", {}).get("fleet", {})
    for name, row in res["fleet"].items():
        p = paper.get(name)
        ptxt = f"{fmt(p['median'])} ({fmt(p['p05'])}-{fmt(p['p95'])})" if p else "-"
        interval = f"{fmt(row['median'])} ({fmt(row['p05'])}-{fmt(row['p95'])})"
        lines.append(f"| {name.replace('_', ' ')} | {interval} | {ptxt} |")
    for label, value in res["reference_lines"].items():
        lines.append(f"| reference: {label} | {fmt(value)} | |")
    if "impacts" in res:
        imp, w = res["impacts"], res["impacts"]["where"]
        location = "carbon_location_t_per_day" in imp
        lines += ["", f"Served in {w['label']}, {w['year']} (grid: {w['grid_intensity']}); carbon "
                  f"{imp['carbon_basis']['scope']}; water on-site and off-site:", "",
                  "| scenario | tCO2e/day, median (90%) |" + (" location-based tCO2e/day |" if location else "")
                  + " water m3/day, median (90%) |", "|---|---|" + ("---|" if location else "") + "---|"]
        for name in res["fleet"]:
            cells = [imp["carbon_t_per_day"][name]] + ([imp["carbon_location_t_per_day"][name]] if location else []) \
                + [imp["water_m3_per_day"][name]]
            lines.append(f"| {name.replace('_', ' ')} | "
                         + " | ".join(f"{fmt(c['median'])} ({fmt(c['p05'])}-{fmt(c['p95'])})" for c in cells) + " |")
    lines += ["", provenance_line(res)]
    return "\n".join(lines) + "\n"


def sensitivity_markdown(res: dict) -> str:
    """The first-order shares and the law-of-total-variance split as Markdown."""
    lines = [f"What drives the spread of {res['target']} for {res['setting']} ({res['regime']}, boundary "
             f"{res['boundary']}); variance {res['variance_log_wh']:.3g} over {res['samples']:,} samples.", "",
             "| input | first-order share of variance |", "|---|---|"]
    lines += [f"| {k} | {v:.2f} |" for k, v in res["first_order"].items()]
    lines += [f"| (sum; the rest is interaction and dependence) | {res['sum_first_order']:.2f} |", "",
              "Law of total variance: " + ", ".join(f"{k} {v:.0%}" for k, v in res["split"].items()) + ".",
              "", provenance_line(res)]
    return "\n".join(lines) + "\n"


def comparison_markdown(cmp: dict) -> str:
    """The comparison as Markdown tables (numbers only; the explanation lives in the docs page)."""
    lines = [f"Paper mode ({cmp['version']}) vs the posterior: Wh per query, median (IQR), boundary: "
             f"{cmp['boundary']}; "
             f"{cmp['gpu']}, {cmp['input_tokens']:.0f} input tokens, FP8.", "",
             "| setting | regime | paper mode | infergy posterior | posterior / paper |", "|---|---|---|---|---|"]
    for regime, row in cmp["blended"].items():
        lines.append(f"| >200B blend ({', '.join(row['models'])}) | {regime} | {interquartile(row['paper'])} | "
                     f"{interquartile(row['bayes'])} | {row['ratio_of_medians']:.2f}x |")
    for model, regimes in cmp["models"].items():
        for regime, row in regimes.items():
            lines.append(f"| {model} | {regime} | {interquartile(row['paper'])} | {interquartile(row['bayes'])} | "
                         f"{row['ratio_of_medians']:.2f}x |")
    lines += ["", "Factors at the regime's median output length (paper value -> posterior median), traditional regime:",
              "",
              "| model | output tok/s per GPU | W per GPU incl. host | PUE | GPUs per replica | concurrent queries |",
              "|---|---|---|---|---|---|"]
    for model, regimes in cmp["models"].items():
        f = regimes["traditional"]["factors"]
        cells = []
        for name in ("output tok/s per GPU", "W per GPU (node power / GPUs)", "PUE", "GPUs per replica",
                     "concurrent queries per replica"):
            a, b = f[name]
            cells.append(fmt(b) if not np.isfinite(a) else f"{fmt(a)} -> {fmt(b)}")
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def cv_markdown(folds: list) -> str:
    """The folds as a Markdown table, with the row-weighted and the fold-averaged coverage."""
    df = pd.DataFrame([f.__dict__ for f in folds])
    lines = ["| left out | rows | 50% coverage | 90% coverage | 90% interval width (x) | median error (x) | "
             "group PIT |", "|---|---|---|---|---|---|---|"]
    for f in folds:
        lines.append(f"| {f.by} {f.left_out} | {f.rows} | {f.coverage_50:.2f} | {f.coverage_90:.2f} | "
                     f"{f.width_90:.2f} | {f.median_abs_error:.2f} | {f.group_pit:.2f} |")
    w = df["rows"] / df["rows"].sum()
    lines.append(f"| **all rows** | {int(df['rows'].sum())} | {float((w * df['coverage_50']).sum()):.2f} | "
                 f"{float((w * df['coverage_90']).sum()):.2f} | | | |")
    lines.append(f"| **mean of folds** | | {df['coverage_50'].mean():.2f} | {df['coverage_90'].mean():.2f} | | | |")
    return "\n".join(lines) + "\n"


def loso_markdown(rows: list) -> str:
    """Leave-one-source-out rows as a Markdown table: each left-out row against the predictive fitted without its
    source, and the prior predictive."""
    def g(v: float) -> str:
        return f"{v:.3g}"

    lines = ["| left out | row | what | observed | predicted without it (90%) | prior predictive (90%) | inside | "
             "width vs prior |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.source} | {r.row} | {r.what} ({r.unit}) | {g(r.observed)} | {g(r.median)} "
                     f"({g(r.low_90)}-{g(r.high_90)}) | {g(r.prior_low_90)}-{g(r.prior_high_90)} | "
                     f"{'yes' if r.inside_90 else '**no**'} | {r.narrowing:.2f} |")
    inside = sum(r.inside_90 for r in rows)
    lines.append(f"\n{inside} of {len(rows)} left-out rows inside their 90% interval; median width "
                 f"{float(np.median([r.narrowing for r in rows])):.2f} of the prior predictive's (on the scale each "
                 "is fitted on: log, or the share itself).")
    return "\n".join(lines) + "\n"


def measured_markdown(res: dict) -> str:
    """The measured-energy check as Markdown: overall, per GPU, per model."""
    o = res["overall"]
    lines = [f"Measured GPU energy ({res['source']}, {res['unit']}, boundary {res['boundary']}) against the answer for "
             f"the same configuration (input tokens per task, learned by the fit as the files do not give them: "
             + ", ".join(f"{task} {tokens:,.0f}" for task, tokens in res["input_tokens_by_task"].items())
             + f"): {o['rows']} rows, median error {o['median_abs_error_factor']:.2f}x, median predicted/measured "
             f"{o['median_ratio']:.2f}, 90% interval coverage {o['coverage_90']:.2f}.", "",
             "| group | rows | median error (x) | median predicted / measured | 90% coverage |", "|---|---|---|---|---|"]
    for kind in ("by_gpu", "by_model"):
        for name, s in res[kind].items():
            lines.append(f"| {name} | {s['rows']} | {s['median_abs_error_factor']:.2f} | {s['median_ratio']:.2f} | "
                         f"{s['coverage_90']:.2f} |")
    lines += ["", provenance_line(res)]
    return "\n".join(lines) + "\n"


def learned_markdown(res: dict) -> str:
    """Each parameter group's contraction (posterior sd / prior sd) as Markdown, the operating point first."""
    t = res["thresholds"]
    head = [f"What the data taught: posterior sd / prior sd per parameter group ({res['prior_draws']:,} prior draws; "
            f"learned <= {t['learned']}, prior > {t['prior']}).", "",
            "| parameter | elements | sd ratio, median (max) | verdict | informed by |", "|---|---|---|---|---|"]
    ordered = sorted(res["groups"], key=lambda g: (not g["site"].startswith("op_"), g["site"]))
    rows = [f"| {g['site']} | {g['elements']} | {g['ratio_median']:.2f} ({g['ratio_max']:.2f}) | {g['verdict']} | "
            f"{g['informed_by']} |" for g in ordered]
    undecided = [f"- `{g['site']}` ({g['ratio_median']:.2f}) would be decided by {g['would_decide']}."
                 for g in ordered if g.get("would_decide")]
    tail = ["", "The production operating point, where the data leave it near its prior:", *undecided] if undecided else []
    return "\n".join(head + rows + tail + ["", provenance_line(res)]) + "\n"


def regions_markdown(table: dict) -> str:
    """The zones of ``infergy regions`` as a Markdown table."""
    def opt(x, f=fmt) -> str:
        return "" if x is None else f(x)

    lines = ["| zone | name | continent | year | gCO2e/kWh (life-cycle) | trend %/yr (90%) | direct (Ember, year) "
             "| off-site water L/kWh |", "|---|---|---|---|---|---|---|---|"]
    for r in table["zones"]:
        t = r["trend_pct_per_year"]
        direct = "" if r["direct_g_per_kwh"] is None else f"{fmt(r['direct_g_per_kwh'])} ({r['direct_year']})"
        lines.append(f"| {r['zone']} | {r['name']}{' (static estimate)' if r['static_source'] else ''} | "
                     f"{r['continent']} | {r['year']} | {fmt(r['carbon_intensity_g_per_kwh'])} | "
                     f"{t['median']:+.1f} ({t['p05']:+.1f} to {t['p95']:+.1f}) | {direct} | "
                     f"{opt(r['offsite_water_l_per_kwh'])} |")
    lines += ["", f"{len(table['zones'])} zones; also accepted: {', '.join(table['also_accepted'])} (a zone not "
              f"listed there). {table['basis']}."]
    return "\n".join(lines)
