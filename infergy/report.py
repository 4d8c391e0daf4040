"""``infergy report``: one self-contained report (HTML with embedded PNGs, and Markdown) from a posterior.

The answer first (Wh per query for the >200B class next to paper mode and the operators' disclosures), then the
fit's health, what the data taught the model, per-query distributions, pathways, fleet, what drives the spread,
the public estimates checked against the posterior, the method with its assumptions and boundaries, and the
provenance of every number. The prose is the template ``templates/report.md.j2``; this module computes what it
shows, draws the figures into ``<out>/figures/`` and embeds them in ``index.html``.
"""

from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path

import numpy as np

from .analysis.pathways import PAPER_BLEND_MODELS, PAPER_GPU
from .analysis.quantiles import summarize
from .analysis.predict import QuerySpec, predict_energy_wh
from .inference.files import write_text_atomic
from .model.joint import KEY_SITES
from .analysis.predict import REGIMES
from .model.throughput import REF_ACTIVE_B, gpu_effects, model_effects
from .data.tables import TRACE_CITATION, TRACE_URL
from .model.workload import REASONING_SOURCE, TRACE_NAME
from .figures import PPC_DRAWS
from .text import fmt, interval

__all__ = ["write_report", "REPORT_SECTIONS", "REPORT_FIGURES"]

REPORT_SECTIONS = ("The answer", "Fit health", "What the data taught the model", "Energy per query",
                   "Efficiency pathways", "Fleet energy", "Carbon and water", "What drives the spread", "Public estimates checked",
                   "Method and assumptions", "Provenance")
REPORT_FIGURES = ("answer.png", "rank.png", "ppc.png", "calibration.png", "learned.png", "forest_models.png",
                  "forest_gpus.png", "per_query.png", "pathways.png", "fleet.png", "zones.png", "sensitivity.png",
                  "estimates.png", "lengths.png")
#: The data tables whose sources the provenance lists.
PROVENANCE_TABLES = ("throughput", "gpu_energy", "production", "pue", "hardware", "token_lengths", "request_lengths")


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in r) + " |" for r in rows])


def write_report(posterior=None, out_dir: str | Path = "report", formats=("html", "md"), *, seed: int = 0,
                 bundle=None, progress=None) -> dict[str, Path]:
    """Compute every section from ``posterior`` (the shipped default unless given) and write ``report.md`` and/or
    ``index.html`` (figures embedded) under ``out_dir``, figures under ``out_dir/figures``. ``progress`` is called
    with the name of each stage. Returns the paths."""
    from . import figures as rf
    from .analysis.estimate import open_posterior
    from .analysis.fleet import fleet
    from .analysis.headline import estimates_checked, headline, operator_answers
    from .analysis.paper_mc import replicate_paper
    from .analysis.pathways import paper_setting, pathways
    from .analysis.sensitivity import sensitivity
    from .data import load
    from .inference.learned import calibration, length_panels, predictive, prior_vs_posterior
    from .model.workload import typical_lengths
    from .inference.posterior import DEFAULT_POSTERIOR, load_posterior, package_version

    formats = tuple(formats)
    bad = [f for f in formats if f not in ("html", "md")]
    if bad or not formats:
        raise ValueError(f"unknown report format {bad[0] if bad else ''!r}; choose html, md or both")
    say = progress or (lambda msg: None)
    t0 = time.perf_counter()
    out = Path(out_dir)
    figs = out / "figures"
    figs.mkdir(parents=True, exist_ok=True)
    bundle = bundle if bundle is not None else load()
    dt = load_posterior(posterior) if posterior is None or isinstance(posterior, (str, Path)) else posterior
    source = open_posterior(dt, bundle)
    if posterior is None:
        source.path = f"{DEFAULT_POSTERIOR.name} (shipped default)"
    elif isinstance(posterior, (str, Path)):
        source.path = str(posterior)
    draws, coords = source.draws_coords
    say("paper mode")
    rep = replicate_paper("v2", seed=42)
    say("the answer")
    answer_rows, answer = headline(source, rep, seed)
    rf.plot_answer(answer_rows, figs / "answer.png")
    say("posterior predictive checks")
    pred = predictive(draws, bundle, seed)
    panels = calibration(pred)
    rf.plot_calibration(panels, figs / "calibration.png")
    from .inference.update import IMPORTANCE_WEIGHTS_GROUP

    reweighted = IMPORTANCE_WEIGHTS_GROUP in dt.children
    if reweighted:  # resampled base draws: the weights say how far to trust them; there are no chains to rank
        weights = dt[IMPORTANCE_WEIGHTS_GROUP]
        rf.plot_weights(np.asarray(weights["log_weight"]), float(weights.attrs["pareto_k"]),
                        float(weights.attrs["ess"]), figs / "rank.png")
    else:
        rf.plot_rank(dt, list(KEY_SITES), figs / "rank.png")
    rf.plot_ppc(pred.ppc, pred.observed, dt["posterior"].sizes["chain"], figs / "ppc.png")
    review = json.loads(dt.attrs.get("review", "{}") or "{}")
    say("what was learned")
    learned = prior_vs_posterior(draws, coords, pred.prior)
    rf.plot_learned(learned, figs / "learned.png")
    rf.plot_forest(coords["model"], model_effects(draws), figs / "forest_models.png",
                   title=f"Share of HBM bandwidth each model's weights are read at in decode ({PAPER_GPU}, FP8)",
                   xlabel="memory-bandwidth efficiency (1: the hardware's limit)")
    rf.plot_forest(coords["gpu"], gpu_effects(draws), figs / "forest_gpus.png",
                   title="Share of its HBM bandwidth each GPU reads the weights at in decode (10B dense model, FP8)",
                   xlabel="memory-bandwidth efficiency (1: the hardware's limit)")
    say("workload lengths")
    rf.plot_lengths(length_panels(draws, bundle.tables["request_lengths"], seed), figs / "lengths.png")
    lengths = {r: typical_lengths(draws, r, bundle.tables["request_lengths"]) for r in REGIMES}
    say("energy per query")
    per_query, replicas = {}, {}
    for m in rep.models:
        preds = {r: predict_energy_wh(source.draws_coords, QuerySpec(model=m, gpu=PAPER_GPU, regime=r),
                                      queries=100, seed=seed, bundle=bundle) for r in ("traditional", "reasoning")}
        per_query[m] = {r: p.wh.ravel() for r, p in preds.items()}
        replicas[m] = "/".join(dict.fromkeys(str(p.inputs["n_gpus"]) for p in preds.values()))
    rf.plot_per_query(per_query, figs / "per_query.png")
    say("pathways, fleet, sensitivity")
    pw = pathways(posterior=source, samples_per_member=100_000, seed=seed)
    rf.plot_pathways(pw, figs / "pathways.png")
    fl = fleet(posterior=source, samples_per_member=200_000, seed=seed, paper_replication=rep)
    rf.plot_fleet(fl, figs / "fleet.png")
    say("carbon and water")
    from .analysis.impacts import disclosure_rows, zones_ranked

    zones = zones_ranked(paper_setting(), posterior=source, samples_per_member=50_000, seed=seed)
    rf.plot_zones(zones, figs / "zones.png")
    water_checks = disclosure_rows(posterior=source, seed=seed)
    sens = sensitivity(posterior=source, queries=100, seed=seed)
    rf.plot_sensitivity(sens, figs / "sensitivity.png")
    say("public estimates")
    checked, skipped = estimates_checked(source, seed=seed)
    say("your operators")
    yours = operator_answers(source, seed)
    rf.plot_estimates(checked, figs / "estimates.png")
    md = render_markdown(answer=answer, answer_rows=answer_rows, rep=rep, review=review, panels=panels,
                         learned=learned, per_query=per_query, replicas=replicas, pw=pw, fl=fl, sens=sens,
                         checked=checked, lengths=lengths, yours=yours, zones=zones, water_checks=water_checks,
                         skipped=skipped, source=source, dt=dt, design=pred.design, version=package_version(),
                         seconds=time.perf_counter() - t0)
    written = {}
    if "md" in formats:
        written["md"] = write_text_atomic(out / "report.md", md)
    if "html" in formats:
        written["html"] = write_text_atomic(out / "index.html", _html(md, out))
    return written


def _template():
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("infergy", "templates"), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, autoescape=False)
    env.filters.update(fmt=fmt, pct=lambda x: f"{x:.0%}")
    env.globals.update(table=_table)
    return env.get_template("report.md.j2")


def render_markdown(*, answer, answer_rows, rep, review, panels, learned, per_query, replicas, pw, fl, sens, checked,
                    lengths, skipped, source, dt, design, version, seconds, yours=(), zones=None,
                    water_checks=()) -> str:
    """The report's Markdown: the template filled with the computed sections."""
    from .text import fleet_markdown, pathways_markdown, sensitivity_markdown

    info = source.info
    over = [c for c in checked if c["factor_p05"] > 1]
    under = [c for c in checked if c["factor_p95"] < 1]
    by_source: dict[str, list[float]] = {}
    for c in checked:
        by_source.setdefault(c["label"].split(":")[0], []).append(c["factor"])
    cfg = json.loads(dt.attrs.get("fit_config", "{}") or "{}")
    sources = []
    for table in PROVENANCE_TABLES:
        df = source.bundle.tables[table]
        if "source_url" not in df:  # the traces: every row from one of two files of one dataset
            df = df.assign(source=TRACE_CITATION + ": " + df["source"], source_url=TRACE_URL)
        for src, grp in df.groupby("source", sort=False):
            url = str(grp["source_url"].dropna().iloc[0]) if grp["source_url"].notna().any() else ""
            sources.append([table, str(src)[:110] if "source_url" in source.bundle.tables[table] else str(src), len(grp), f"<{url}>" if url.startswith("http") else url])
    disclosures = [r for r in answer_rows if "disclosure" in r["label"]]
    operators = list(dict.fromkeys(r["label"].split(" disclosure")[0] for r in disclosures))
    cells = {
        "answer_cells": [[a["label"], a["boundary"], interval(a) if "p05" in a else fmt(a["median"])]
                         for a in answer_rows],
        "operator_cells": [[o["operator"], ", ".join(f"{v:g}" if isinstance(v, float) else str(v)
                                                     for v in o["query"].values()),
                            interval(o["operator_wh"]), interval(o["public_wh"]), o["operator_pue"],
                            f"{o['operator_host_ratio']:.2f}, {o['operator_idle_share']:.0%} (public "
                            f"{o['public_host_ratio']:.2f}, {o['public_idle_share']:.0%})",
                            f"{o['operator_engine']}, {o['operator_load']}"] for o in yours],
        "check_cells": [[c["name"], f"{c['value']:.4g}", c["threshold"], "yes" if c["passed"] else "**no**"]
                        for c in review.get("checks", [])],
        "panel_cells": [[p["title"], f"{len(p['observed']):,}", f"{p['coverage']:.0%}"] for p in panels],
        "per_query_cells": [[m, replicas[m], interval(summarize(v["traditional"])),
                             interval(summarize(v["reasoning"]))] for m, v in per_query.items()],
        "zone_cells": [[r["label"], f"{r['grid_g_per_kwh']:,.0f}", interval(r["carbon_g"]), interval(r["water_ml"])]
                       for r in (zones or {}).get("rows", [])],
        "disclosure_cells": [[f"{d['who']} ({d['id']})", d["quantity"].replace("_", " "), f"{d['value']:.3g}",
                              d["includes"], d["implied"],
                              f"{fmt(d['infergy']['median'])} ({fmt(d['infergy']['p05'])}-{fmt(d['infergy']['p95'])})"
                              + (f"; with off-site water {fmt(d['infergy_total']['median'])}" if "infergy_total" in d
                                 else ""), d["infergy_basis"], d["differs"]] for d in water_checks],
        "checked_cells": [[c["label"].split(" | ")[0], c["model_or_system"][:40], c["boundary"], fmt(c["published_wh"]),
                           f"{fmt(c['infergy_wh'])} ({fmt(c['infergy_wh_p05'])}-{fmt(c['infergy_wh_p95'])})",
                           f"{c['factor']:.2g}x ({c['factor_p05']:.2g}-{c['factor_p95']:.2g})", c["assumed"] or "-"]
                          for c in checked],
    }
    return _template().render(
        version=version, source=source, info=info, rep=rep, review=review, panels=panels, learned=learned,
        update_path=str(dt.attrs.get("update_path", "")),
        reference_params_b=REF_ACTIVE_B,
        per_query=per_query, answer_rows=answer_rows, disclosures=disclosures, cfg=cfg, seconds=seconds,
        t=answer[("traditional", "facility")], r=answer[("reasoning", "facility")],
        idle=answer[("traditional", "facility+idle")], gpu=answer[("traditional", "gpu")],
        prod_cover=next(p["coverage"] for p in panels if p["site"] == "prod_obs"),
        blend_models=", ".join(PAPER_BLEND_MODELS),
        blend_replicas=", ".join(f"{replicas[m]} for {m}" for m in PAPER_BLEND_MODELS if m in replicas),
        paper_gpu=PAPER_GPU, lengths=lengths, query=QuerySpec(), trace_name=TRACE_NAME,
        reasoning_source=REASONING_SOURCE,
        throughput_rows=design.throughput.n_rows, checked=checked, skipped=skipped, over=over, under=under,
        inside=len(checked) - len(over) - len(under), within_4_20=[c for c in checked if 4 <= c["factor"] <= 20],
        by_source=by_source, median=np.median, quantile=np.quantile, sources=sources,
        pathways_md=pathways_markdown(pw), fleet_md=fleet_markdown(fl), sensitivity_md=sensitivity_markdown(sens),
        ppc_draws=PPC_DRAWS, disclosure_operators=", ".join(operators), zones=zones, **cells)


_CSS = """body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
line-height:1.45;color:#222}table{border-collapse:collapse;margin:1em 0;font-size:0.88em}th,td{border:1px solid #ccc;
padding:0.25em 0.5em;text-align:left;vertical-align:top}th{background:#f3f3f3}img{max-width:100%;height:auto;
margin:0.5em 0}code{background:#f6f6f6;padding:0 0.2em}h2{border-bottom:1px solid #ddd;padding-bottom:0.2em;
margin-top:2em}"""


def _html(md: str, out: Path) -> str:
    """The Markdown as one self-contained HTML page, every figure embedded as a data URI."""
    import markdown

    body = markdown.markdown(md, extensions=["tables", "fenced_code"])

    def embed(m: re.Match) -> str:
        src = m.group(1)
        path = out / src
        if not path.exists():
            raise FileNotFoundError(f"report figure {path} is missing")
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return f'src="data:image/png;base64,{data}"'

    body = re.sub(r'src="(figures/[^"]+\.png)"', embed, body)
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>infergy report</title>"
            f"<style>{_CSS}</style></head><body>\n{body}\n</body></html>\n")
