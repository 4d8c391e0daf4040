"""``infergy report``: one self-contained report (HTML with embedded PNGs, and Markdown) from a posterior.

The answer first (Wh per query for the >200B class next to paper mode and the operators' disclosures), then the
fit's health, what the data taught the model, per-query distributions, pathways, fleet, what drives the spread,
the public estimates checked against the posterior, the method with its assumptions and boundaries, and the
provenance of every number. Figures go to ``<out>/figures/``; ``index.html`` embeds them.
"""

from __future__ import annotations

import base64
import json
import re
import time
from dataclasses import replace
from pathlib import Path

import jax
import numpy as np

from .analysis.estimate import open_posterior
from .analysis.pathways import PAPER_BLEND_MODELS, PAPER_GPU, BlendStreams, paper_setting, summarize
from .analysis.predict import PREDICT_BOUNDARIES, QuerySpec, posterior_draws, predict_energy_wh
from .analysis.propagate import Workload, pool
from .inference.files import write_text_atomic
from .model.pue import PUE_SCOPE_KIND, PUE_SCOPES

__all__ = ["write_report", "REPORT_SECTIONS", "REPORT_FIGURES", "estimates_checked"]

REPORT_SECTIONS = ("The answer", "Fit health", "What the data taught the model", "Energy per query",
                   "Efficiency pathways", "Fleet energy", "What drives the spread", "Public estimates checked",
                   "Method and assumptions", "Provenance")
REPORT_FIGURES = ("answer.png", "rank.png", "ppc.png", "calibration.png", "learned.png", "forest_models.png",
                  "forest_gpus.png", "per_query.png", "pathways.png", "fleet.png", "sensitivity.png",
                  "estimates.png")
RANK_VARS = ["op_log_batch", "op_log_engine_eff", "op_host_ratio", "op_idle_share", "tp_g0", "tp_k_bw",
             "pw_beta_ngpu", "pw_beta_size"]
#: Prior draws the report compares with the posterior (only these: all sites would cost 10x the time).
PRIOR_SITES = ["tp_b_gpu", "pw_idle_share", "pw_peak_share", "pw_log_batch50", "pue_m_scope", "pue_tau_operator",
               "pue_sigma", "op_log_batch"]
_SITE_VIEW = {  # observed site -> (title, unit, transform to natural units, log axes)
    "tp_obs": ("Throughput (benchmarks)", "output tok/s per GPU", np.exp, True),
    "pw_obs": ("GPU power (ML.ENERGY v3)", "power / TDP", np.exp, False),
    "pue_obs": ("PUE (operators, surveys)", "PUE", lambda v: 1.0 + np.exp(v), False),
    "prod_obs": ("Production disclosures", "Wh per query", np.exp, True),
}


def _fmt(x: float) -> str:
    return f"{x:.3g}" if abs(x) < 1000 else f"{x:,.0f}"


def _interval(q: dict) -> str:
    return f"{_fmt(q['median'])} (50% {_fmt(q['p25'])}-{_fmt(q['p75'])}; 90% {_fmt(q['p05'])}-{_fmt(q['p95'])})"


# --- computations --------------------------------------------------------------------------------------------------

def _answer(source, rep, seed: int) -> tuple[list[dict], dict]:
    """The >200B blend at three boundaries, paper mode, and the operators' disclosures."""
    rows, table = [], {}
    q = 400
    for regime, boundaries in (("traditional", ("facility", "facility+idle", "gpu")), ("reasoning", ("facility",))):
        for boundary in boundaries:
            base = paper_setting(regime, boundary=boundary)
            streams = BlendStreams(source, Workload.of(base.members[0]), q, seed)
            s = pool([streams(m, i) for i, m in enumerate(base.members)]).summary()
            label = f"infergy >200B blend, {regime}"
            rows.append({"label": label, "boundary": boundary, **s})
            table[(regime, boundary)] = s
    for regime in ("traditional", "reasoning"):
        stats = rep.blended_stats[regime]
        p05, p95 = np.quantile(rep.blended_wh[regime], [0.05, 0.95])
        rows.append({"label": f"paper mode {rep.version} >200B blend, {regime}", "boundary": "facility",
                     "median": float(stats[0]), "p25": float(stats[1]), "p75": float(stats[2]),
                     "p05": float(p05), "p95": float(p95)})
    prod = source.bundle.tables["production"]
    disc = prod[prod["operator_disclosure"].fillna(False).astype(bool) & prod["wh_per_query"].notna()]
    for _, r in disc.iterrows():
        who = "Google" if "Gemini" in str(r["model_or_system"]) else "OpenAI" if "ChatGPT" in str(
            r["model_or_system"]) else str(r["model_or_system"])
        system = str(r["model_or_system"]).split(" (")[0]
        rows.append({"label": f"{who} disclosure: {system}, {r['statistic']}", "boundary": str(r["boundary"]),
                     "median": float(r["wh_per_query"])})
    return rows, table


def _predictive(dt, bundle, seed: int, prior_draws: int = 1000):
    """Prior draws and posterior predictive draws of every table, from the (thinned) posterior."""
    from .model.joint import OBSERVED_SITES, build_design, infergy_model
    from .inference.fit import predictive_draws

    design = build_design(bundle)
    draws, _ = posterior_draws(dt)
    k_prior, k_ppc = jax.random.split(jax.random.PRNGKey(seed))
    prior = predictive_draws(infergy_model, k_prior, design.inputs, design.sizes, num_samples=prior_draws,
                             return_sites=PRIOR_SITES)
    ppc = predictive_draws(infergy_model, k_ppc, design.inputs, design.sizes,
                           samples={k: np.asarray(v) for k, v in draws.items()}, return_sites=list(OBSERVED_SITES))
    obs = {"tp_obs": design.throughput.y_log_tok_s, "pw_obs": design.power.y_log_power_share,
           "pue_obs": design.pue.y_log_pue_minus_1, "prod_obs": design.production.y_log_wh}
    return design, prior, ppc, obs


def _calibration(ppc: dict, obs: dict) -> list[dict]:
    panels = []
    for site, (title, unit, f, log) in _SITE_VIEW.items():
        y = np.asarray(obs[site], np.float64)
        pred = np.asarray(ppc[site], np.float64).reshape(-1, len(y))
        lo, med, hi = np.quantile(pred, [0.05, 0.5, 0.95], axis=0)
        cover = float(np.mean((y >= lo) & (y <= hi)))
        panels.append({"site": site, "title": title, "unit": unit, "observed": f(y), "median": f(med),
                       "p05": f(lo), "p95": f(hi), "coverage": cover, "log": log})
    return panels


def _learned(draws: dict, coords: dict, prior: dict) -> dict:
    """Prior vs posterior for throughput per GPU, the power curve, fleet PUE and the production load."""
    from .model.equations import power_share

    rng = np.random.default_rng(0)
    gpus = coords["gpu"]
    post_b, prior_b = np.exp(draws["tp_b_gpu"]), np.exp(prior["tp_b_gpu"])
    order = np.argsort(np.median(post_b, 0))
    gpu_effects = {"labels": [gpus[i] for i in order], "median": np.median(post_b, 0)[order],
                   "posterior": np.quantile(post_b, [0.05, 0.95], axis=0)[:, order],
                   "prior": np.quantile(prior_b, [0.05, 0.95], axis=0)[:, order]}
    batch = np.geomspace(1, 1024, 60)
    lb = np.log(batch)[None, :]

    def band(idle, peak, b50) -> np.ndarray:
        share = np.asarray(power_share(idle[:, None], peak[:, None], b50[:, None], lb))
        return np.quantile(share, [0.05, 0.5, 0.95], axis=0)

    posterior_bands = {g: band(draws["pw_idle_share"][:, i], draws["pw_peak_share"][:, i],
                               draws["pw_log_batch50"][:, i]) for i, g in enumerate(coords["power_gpu"])}
    prior_band = band(prior["pw_idle_share"][:, 0], prior["pw_peak_share"][:, 0], prior["pw_log_batch50"][:, 0])
    fleet, kind = PUE_SCOPES.index("fleet"), PUE_SCOPE_KIND[PUE_SCOPES.index("fleet")]

    def fleet_pue(d: dict) -> np.ndarray:
        n = len(d["pue_m_scope"])
        return 1.0 + np.exp(d["pue_m_scope"][:, fleet] + d["pue_tau_operator"].reshape(n) * rng.normal(size=n)
                            + d["pue_sigma"][:, kind] * rng.normal(size=n))

    return {"gpu_effects": gpu_effects,
            "power": {"batch": batch, "posterior": posterior_bands, "prior": (prior_band[0], prior_band[2])},
            "pue": {"prior": fleet_pue(prior), "posterior": fleet_pue(draws)},
            "batch": {"prior": np.exp(prior["op_log_batch"]).ravel(), "posterior": np.exp(draws["op_log_batch"])}}


_ACTIVE = re.compile(r"(\d+(?:\.\d+)?)\s*B active", re.I)
_TOTAL = re.compile(r"(\d+(?:\.\d+)?)\s*B total", re.I)


def _comparable(row, models) -> tuple[list[QuerySpec], str]:
    """The query infergy compares a published estimate with: its model (by name, by size in its description, or
    the >200B blend as a stand-in), tokens, hardware and boundary; and a note of what was assumed."""
    from .data.vocab import model_name, params_from_name

    notes = []
    text = str(row["model_or_system"])
    boundary = str(row["boundary"])
    pue = None
    if boundary == "node+idle":  # node energy with idle capacity: facility+idle at PUE 1
        boundary, pue = "facility+idle", 1.0
    elif boundary not in PREDICT_BOUNDARIES:
        notes.append(f"boundary {boundary}: compared at facility")
        boundary = "facility"
    hw = str(row.get("hardware", ""))
    gpu = "A100-SXM4-80GB" if "A100" in hw else PAPER_GPU
    out = float(row["output_tokens"]) if np.isfinite(row["output_tokens"]) else None
    inp = float(row["input_tokens"]) if np.isfinite(row["input_tokens"]) else 500.0
    regime = "traditional"
    described = f"{row['quantity']} {text}".lower()
    if out is None and re.search(r"reasoning|\bo[13]\b|o3-mini|thinking", described) and "minimal" not in described:
        regime = "reasoning"
        notes.append("reasoning regime")
    base = QuerySpec(gpu=gpu, input_tokens=inp, output_tokens=out, regime=regime, boundary=boundary, pue=pue)
    if re.search(r"\b(mini|nano)\b|most-downloaded|\bphi-", text, re.I):
        return [], "not compared: a small model of undisclosed size"
    if ">200B" in text:
        return [replace(base, model=m) for m in PAPER_BLEND_MODELS], "the >200B blend"
    key = lambda label: re.sub(r"[^a-z0-9]", "", label.lower())  # noqa: E731  ("LLaMA-3.1-405B" = "Llama 3.1 405B")
    known = {key(m): m for m in models["model"]}
    name = known.get(key(model_name(text.split(" (")[0])))
    if name is not None:
        return [replace(base, model=name)], ", ".join(notes)
    active, total = _ACTIVE.search(text), _TOTAL.search(text)
    size = params_from_name(text.split(" (")[0])
    if active or total:
        a = float(active.group(1)) if active else float(total.group(1))
        t = float(total.group(1)) if total else a
        notes.append(f"sized {t:g}B total / {a:g}B active from its description")
        return [replace(base, total_params_b=t, active_params_b=a, moe=a < t)], ", ".join(notes)
    if size is not None:
        notes.append(f"sized {size:g}B from its name")
        return [replace(base, total_params_b=size, active_params_b=size)], ", ".join(notes)
    notes.append("stand-in: the >200B blend")
    return [replace(base, model=m) for m in PAPER_BLEND_MODELS], ", ".join(notes)


def estimates_checked(source, seed: int = 0, queries: int = 100) -> tuple[list[dict], list[dict]]:
    """Every published non-operator estimate with a Wh/query: its value over the posterior's (median, or mean
    where it reports a mean) for the comparable query, with the posterior 90% interval of that ratio; and the
    estimates not compared (no defensible comparable query), with the reason."""
    prod = source.bundle.tables["production"]
    rows = prod[~prod["operator_disclosure"].fillna(False).astype(bool) & prod["wh_per_query"].notna()]
    out, skipped = [], []
    for _, r in rows.iterrows():
        specs, note = _comparable(r, source.bundle.models)
        if not specs:
            skipped.append({"id": r["id"], "model_or_system": str(r["model_or_system"]), "reason": note})
            continue
        per_draw = []
        for i, spec in enumerate(specs):
            wh = predict_energy_wh(source.draws_coords, spec, queries=queries, seed=seed + i,
                                   bundle=source.bundle).wh
            per_draw.append(wh)
        wh = np.concatenate(per_draw, axis=1)
        stat = "mean" if str(r["statistic"]) == "mean" else "median"
        ours = wh.mean(axis=1) if stat == "mean" else np.median(wh, axis=1)  # posterior of the statistic
        theirs = float(r["wh_per_query"])
        lo, mid, hi = np.quantile(ours, [0.05, 0.5, 0.95])
        short = re.sub(r"\s+", " ", str(r["source"]).split(",")[0].split("(")[0]).strip()[:28]
        out.append({"id": r["id"], "source": str(r["source"]), "label": f"{short}: {r['quantity']}"[:70]
                    + f" | {str(r['model_or_system'])[:28]}", "model_or_system": str(r["model_or_system"]),
                    "boundary": str(r["boundary"]), "statistic": stat, "published_wh": theirs,
                    "infergy_wh": float(mid), "infergy_wh_p05": float(lo), "infergy_wh_p95": float(hi),
                    "factor": theirs / float(mid), "factor_p05": theirs / float(hi), "factor_p95": theirs / float(lo),
                    "assumed": note})
    return out, skipped


# --- the report ----------------------------------------------------------------------------------------------------

def write_report(posterior=None, out_dir: str | Path = "report", formats=("html", "md"), *, seed: int = 0,
                 bundle=None, progress=None) -> dict[str, Path]:
    """Compute every section from ``posterior`` (the shipped default unless given) and write ``report.md`` and/or
    ``index.html`` (figures embedded) under ``out_dir``, figures under ``out_dir/figures``. Returns the paths."""
    from . import figures as rf
    from .analysis.fleet import fleet
    from .analysis.paper_mc import replicate_paper
    from .analysis.pathways import pathways
    from .analysis.sensitivity import sensitivity
    from .data import load
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
    answer_rows, answer = _answer(source, rep, seed)
    rf.plot_answer(answer_rows, figs / "answer.png")
    say("posterior predictive checks")
    design, prior, ppc, obs = _predictive(dt, bundle, seed)
    panels = _calibration(ppc, obs)
    rf.plot_calibration(panels, figs / "calibration.png")
    rf.plot_rank(dt, RANK_VARS, figs / "rank.png")
    _ppc_figure(dt, ppc, obs, figs / "ppc.png")
    review = json.loads(dt.attrs.get("review", "{}") or "{}")
    say("what was learned")
    learned = _learned(draws, coords, prior)
    rf.plot_learned(learned, figs / "learned.png")
    rf.plot_forest(coords["model"], np.exp(draws["tp_a_model"] - np.median(draws["tp_a_model"])),
                   figs / "forest_models.png", title="Model effects on throughput (relative to the median model)",
                   xlabel="output tok/s per GPU relative to the median model (same GPU, precision, setup)")
    rf.plot_forest(coords["gpu"], np.exp(draws["tp_b_gpu"]), figs / "forest_gpus.png",
                   title="GPU effects on throughput (relative to H100 SXM)",
                   xlabel="output tok/s per GPU relative to H100 SXM")
    say("energy per query")
    per_query = {}
    for m in rep.models:
        per_query[m] = {r: predict_energy_wh(source.draws_coords, QuerySpec(model=m, gpu=PAPER_GPU, regime=r),
                                             queries=100, seed=seed, bundle=bundle).wh.ravel()
                        for r in ("traditional", "reasoning")}
    rf.plot_per_query(per_query, figs / "per_query.png")
    say("pathways, fleet, sensitivity")
    pw = pathways(posterior=source, samples_per_member=100_000, seed=seed)
    rf.plot_pathways(pw, figs / "pathways.png")
    fl = fleet(posterior=source, samples_per_member=200_000, seed=seed, paper_replication=rep)
    rf.plot_fleet(fl, figs / "fleet.png")
    sens = sensitivity(posterior=source, queries=100, seed=seed)
    rf.plot_sensitivity(sens, figs / "sensitivity.png")
    say("public estimates")
    checked, skipped = estimates_checked(source, seed=seed)
    rf.plot_estimates(checked, figs / "estimates.png")
    md = _markdown(answer=answer, answer_rows=answer_rows, rep=rep, review=review, panels=panels, learned=learned,
                   per_query=per_query, pw=pw, fl=fl, sens=sens, checked=checked, skipped=skipped, source=source,
                   dt=dt,
                   version=package_version(), seconds=time.perf_counter() - t0)
    written = {}
    if "md" in formats:
        written["md"] = write_text_atomic(out / "report.md", md)
    if "html" in formats:
        written["html"] = write_text_atomic(out / "index.html", _html(md, out))
    return written


def _ppc_figure(dt, ppc: dict, obs: dict, path: Path) -> Path:
    """ArviZ's posterior predictive check on a DataTree of the predictive draws (by chain) and the observations."""
    import arviz as az

    from .figures import plot_ppc

    n_chain = dt["posterior"].sizes["chain"]
    groups = {"posterior_predictive": {k: np.asarray(v).reshape(n_chain, -1, len(obs[k])) for k, v in ppc.items()},
              "observed_data": {k: np.asarray(v) for k, v in obs.items()}}
    dims = {k: [f"{k}_row"] for k in obs}
    pdt = az.from_dict(groups, dims=dims)
    return plot_ppc(pdt, list(obs), path)


def _table(header: list[str], rows: list[list]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + [
        "| " + " | ".join(str(c) for c in r) + " |" for r in rows]


def _markdown(*, answer, answer_rows, rep, review, panels, learned, per_query, pw, fl, sens, checked, skipped, source,
              dt, version, seconds) -> str:
    from .text import fleet_markdown, pathways_markdown, sensitivity_markdown

    info = source.info
    L: list[str] = [
        "# infergy report: energy per LLM query, with calibrated uncertainty", "",
        f"infergy {version}; posterior fitted to data {source.data_version} (hash {info['data_hash'][:16]}); "
        f"posterior file: {source.path}. Every number below states its boundary; Wh are per query unless said.", "",
        "## The answer", "",
    ]
    prod_cover = next(p["coverage"] for p in panels if p["site"] == "prod_obs")
    t, r, idle, gpu = (answer[("traditional", "facility")], answer[("reasoning", "facility")],
                       answer[("traditional", "facility+idle")], answer[("traditional", "gpu")])
    L += [f"For a frontier-class (>200B-parameter) model served on 8 x H100 in FP8 at the production operating point "
          f"(the paper's setting: its blend of {', '.join(PAPER_BLEND_MODELS)}), a **traditional query** (median 300 "
          f"output tokens) takes **{_fmt(t['median'])} Wh** at the facility boundary (node x PUE), 50% interval "
          f"{_fmt(t['p25'])}-{_fmt(t['p75'])}, 90% {_fmt(t['p05'])}-{_fmt(t['p95'])}; a **reasoning query** (median "
          f"5,000 output tokens) **{_fmt(r['median'])} Wh** (50% {_fmt(r['p25'])}-{_fmt(r['p75'])}). Paper mode "
          f"({rep.version}) gives {_fmt(float(rep.blended_stats['traditional'][0]))} and "
          f"{_fmt(float(rep.blended_stats['reasoning'][0]))} Wh. With the idle and reserve capacity a fleet carries "
          f"(Google's 'comprehensive' boundary) the traditional query is {_fmt(idle['median'])} Wh; the GPUs alone "
          f"draw {_fmt(gpu['median'])} Wh. Google's median Gemini text prompt (0.24 Wh, comprehensive; 0.10 Wh "
          "GPU/TPU only) and OpenAI's average ChatGPT query (0.34 Wh, boundary undisclosed) are for their own, "
          "undisclosed models and prompts; they enter the fit as production disclosures (their calibration is under "
          f"Fit health: {prod_cover:.0%} of the production rows inside their 90% predictive interval).", "",
          "![The answer](figures/answer.png)", ""]
    L += _table(["answer", "boundary", "Wh per query: median (50%; 90%)"],
                [[a["label"], a["boundary"], _interval(a) if "p05" in a else _fmt(a["median"])]
                 for a in answer_rows])
    L += ["", "## Fit health", "",
          "The fit's automatic review, as recorded with the posterior. Coverage is judged "
          "leave-one-out (PSIS-LOO probability integral transform; rows with unreliable Pareto k refitted "
          "exactly).", ""]
    checks = review.get("checks", [])
    L += _table(["check", "value", "needs", "passed"],
                [[c["name"], f"{c['value']:.4g}", c["threshold"], "yes" if c["passed"] else "**no**"] for c in checks])
    L += ["", f"Review: **{'PASS' if review.get('ok') else 'FAIL'}**. Rank plots of key parameters by chain (flat "
          "ECDF differences inside the envelope = chains agree):", "", "![Rank plots](figures/rank.png)", "",
          "Posterior predictive checks per table (observed density, black, vs 40 predictive draws):", "",
          "![Posterior predictive checks](figures/ppc.png)", "",
          "Calibration: each observed row against its posterior predictive median and 90% interval (in-sample):", "",
          "![Calibration](figures/calibration.png)", ""]
    L += _table(["table", "rows", "inside the 90% interval"],
                [[p["title"], f"{len(p['observed']):,}", f"{p['coverage']:.0%}"] for p in panels])
    pue, b = learned["pue"], learned["batch"]
    L += ["", "## What the data taught the model", "",
          "Prior (grey) against posterior for the quantities every answer rests on: throughput per GPU type, the "
          "power curve, a hyperscale fleet's PUE and the production load. Where the posterior is much narrower "
          "than the prior the data decided; where it is not (the production load), the answer inherits the "
          "prior's width.", "", "![Prior vs posterior](figures/learned.png)", "",
          f"Fleet PUE: posterior median {_fmt(float(np.median(pue['posterior'])))} (prior "
          f"{_fmt(float(np.median(pue['prior'])))}); production load: median {_fmt(float(np.median(b['posterior'])))} "
          f"concurrent queries per replica (90% {_fmt(float(np.quantile(b['posterior'], 0.05)))}-"
          f"{_fmt(float(np.quantile(b['posterior'], 0.95)))}; prior {_fmt(float(np.quantile(b['prior'], 0.05)))}-"
          f"{_fmt(float(np.quantile(b['prior'], 0.95)))}).", "",
          "![Model effects](figures/forest_models.png)", "", "![GPU effects](figures/forest_gpus.png)", ""]
    L += ["## Energy per query", "",
          "Per model, 8 x H100 (two nodes where the weights need them), FP8, 500 input tokens, facility boundary, "
          "posterior predictive (parameters and query length both vary):", "",
          "![Energy per query per model](figures/per_query.png)", ""]
    L += _table(["model", "traditional: median (50%; 90%)", "reasoning: median (50%; 90%)"],
                [[m, _interval(summarize(v["traditional"])), _interval(summarize(v["reasoning"]))] for m, v in per_query.items()])
    L += ["", "## Efficiency pathways", "", "![Pathways](figures/pathways.png)", "", pathways_markdown(pw),
          "The paper's levers are its hand-set multipliers; the fitted ones change the query and are evaluated "
          "through the model with common random numbers (docs/answers.md explains the B200 row).", ""]
    L += ["## Fleet energy", "", "![Fleet](figures/fleet.png)", "", fleet_markdown(fl),
          "With 1e9 queries a day the per-query spread averages out: the intervals are the posterior's uncertainty "
          "about the mean energy per query. Paper mode's interval is a bootstrap of its Monte Carlo mean.", ""]
    L += ["## What drives the spread", "", "![Sensitivity](figures/sensitivity.png)", "", sensitivity_markdown(sens)]
    over = [c for c in checked if c["factor_p05"] > 1]
    under = [c for c in checked if c["factor_p95"] < 1]
    inside = len(checked) - len(over) - len(under)
    within_4_20 = [c for c in checked if 4 <= c["factor"] <= 20]
    by_source: dict[str, list[float]] = {}
    for c in checked:
        by_source.setdefault(c["label"].split(":")[0], []).append(c["factor"])
    L += ["## Public estimates checked", "",
          f"Each published, non-operator estimate in the data ({len(checked)} with a Wh per query) against the "
          "posterior for the same model (or, where unnamed, a size from its description or the >200B blend as a "
          "stand-in), the same tokens (500 input and the traditional regime where unstated) and the same boundary; "
          "a published mean is compared with the posterior mean, anything else with the median. The factor's "
          "interval is the posterior 90% interval of that statistic.", "",
          f"**{len(over)}** estimates lie above the posterior's 90% interval, **{len(under)}** below it and "
          f"**{inside}** inside it; {len(within_4_20)} are 4-20x the posterior median (the range the paper calls "
          "'overstated by 4-20x'). Median factor by source: " + "; ".join(
              f"{src} {np.median(f):.2g}x ({len(f)})" for src, f in by_source.items()) + ".", "",
          "![Estimates](figures/estimates.png)", ""]
    L += _table(["estimate", "model or system", "boundary", "published Wh", "infergy Wh (90%)", "factor (90%)",
                 "assumed"],
                [[c["label"].split(" | ")[0], c["model_or_system"][:40], c["boundary"], _fmt(c["published_wh"]),
                  f"{_fmt(c['infergy_wh'])} ({_fmt(c['infergy_wh_p05'])}-{_fmt(c['infergy_wh_p95'])})",
                  f"{c['factor']:.2g}x ({c['factor_p05']:.2g}-{c['factor_p95']:.2g})", c["assumed"] or "-"]
                 for c in checked])
    if skipped:
        L += ["", f"Not compared ({len(skipped)}): " + "; ".join(
            f"{s['id']} {s['model_or_system'][:40]} ({s['reason']})" for s in skipped) + "."]
    L += ["", "## Method and assumptions", "", *_METHOD, ""]
    L += ["## Provenance", "", *_provenance(source, dt, version, seconds)]
    return "\n".join(L) + "\n"


_METHOD = [
    "Energy per query = power x time: for each posterior draw and simulated query, `E_gpu = P_gpu x L_out / TPS_gpu`"
    " (W x tokens / (tokens/s), in Wh), then `E_node = E_gpu x (1 + host ratio)`, `E_facility = E_node x PUE`, and "
    "with idle capacity `E_facility / (1 - idle share)`.",
    "",
    "- **Throughput** (`TPS_gpu`, output tokens per second per GPU): a hierarchical regression on 4,790 benchmark "
    "rows (TensorRT-LLM, ML.ENERGY v2/v3, vendor and paper tables): model effects pooled through a size regression "
    "(active parameters, MoE, sparsity), GPU effects through memory bandwidth, precision, model x GPU and "
    "GPU x precision interactions, benchmark-setup effects, input/output-length slopes per model class, and a load "
    "curve in the batch size capped by the KV cache. Student-t noise per benchmark suite.",
    "- **Power** (`P_gpu`): share of TDP rising with load, per GPU type (ML.ENERGY v3 direct measurements), with "
    "effects of GPU count and model size; a GPU without measurements uses the H100's curve at its own TDP.",
    "- **PUE**: operators' fleet reports, site measurements and surveys, with operator effects and separate noise "
    "for one site and for averages.",
    "- **Production operating point**: concurrent queries per replica, engine efficiency relative to the benchmark "
    "setups, host/accelerator ratio and idle share, calibrated by the operators' disclosures (Google, OpenAI) "
    "through the same equation. Three disclosures constrain their product more than each part: this is the "
    "widest input.",
    "- **Queries**: 500 input tokens; output length exponential with median 300 (traditional) or 5,000 "
    "(reasoning), as the paper; 8-GPU servers, as many as the FP8 weights need with a quarter more for the KV "
    "cache.",
    "- **Boundaries**: gpu (accelerators), node (+ host), facility (x PUE; the paper's), facility+idle (+ idle "
    "and reserve capacity). Not included anywhere: training, embodied emissions, networking outside the data "
    "center, retrieval and tool calls, user devices; energy only (no carbon or water).",
    "- **Inference**: NumPyro NUTS, 4 chains, initialised from a mean-field variational fit; the shipped posterior "
    "is 1,000 evenly thinned draws. Propagation is one jitted JAX computation over (draw x query).",
]


def _provenance(source, dt, version: str, seconds: float) -> list[str]:
    cfg = json.loads(dt.attrs.get("fit_config", "{}") or "{}")
    lines = [f"- infergy {version}; data version {source.data_version}; data hash `{source.info['data_hash']}`",
             f"- posterior: {source.path}; fitted with infergy {source.info['version']}, "
             f"{cfg.get('chains', '?')} chains x ({cfg.get('warmup', '?')} warm-up + {cfg.get('draws', '?')} draws), "
             f"seed {cfg.get('seed', '?')}; {source.n_draws} draws used here",
             f"- this report: {seconds:.0f} s to compute; paper mode v2 at its own seed (42)", "",
             "Sources of the data (rows per table and source):", ""]
    rows = []
    for table in ("throughput", "gpu_energy", "production", "pue", "hardware", "token_lengths"):
        df = source.bundle.tables[table]
        for src, grp in df.groupby("source", sort=False):
            url = str(grp["source_url"].dropna().iloc[0]) if grp["source_url"].notna().any() else ""
            rows.append([table, str(src)[:110], len(grp), f"<{url}>" if url.startswith("http") else url])
    return lines + _table(["table", "source", "rows", "url"], rows)


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
