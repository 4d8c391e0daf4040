"""The report's answers: the >200B blend at three boundaries next to paper mode and the operators' disclosures,
and every published estimate checked against the posterior for a comparable query."""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np

from ..data.vocab import model_name, params_from_name
from .pathways import PAPER_BLEND_MODELS, PAPER_GPU, BlendStreams, paper_setting
from .predict import PREDICT_BOUNDARIES, QuerySpec, predict_energy_wh
from .propagate import Workload, pool

__all__ = ["OPERATOR_REFERENCE_QUERY", "comparable_query", "estimates_checked", "headline", "operator_answers", "your_operators"]


def headline(source, rep, seed: int) -> tuple[list[dict], dict]:
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


#: The query an operator with PUE rows but no telemetry is answered for (a dense 70B on one H100 node in FP8).
OPERATOR_REFERENCE_QUERY = {"model": "Llama 3.1 70B", "gpu": "H100-SXM-80GB", "precision": "fp8"}


def your_operators(source) -> list[str]:
    """Operators the posterior was fitted to beyond the shipped tables: those with telemetry, and those the added
    PUE, production or breakdown rows name (operators the shipped tables do not)."""
    from ..data import load
    from ..model.production import fleet_operators, usable_production_rows

    tables = source.bundle.tables
    telemetry = tables.get("telemetry")
    with_telemetry = list(telemetry["operator"].astype(str).unique()) if telemetry is not None else []
    t = load().tables
    shipped = set(t["pue"]["operator"].astype(str)) | set(
        fleet_operators(usable_production_rows(t["production"]), t["energy_shares"]))
    fitted = source.draws_coords[1].get("operator", [])
    return list(dict.fromkeys(with_telemetry + [op for op in fitted if op not in shipped]))


def operator_answers(source, seed: int, samples: int = 100_000) -> list[dict]:
    """Each of :func:`your_operators`' answer (Wh per query at the facility) next to the public one for the same
    query: its telemetry's model, GPU, GPU count and precision where it has telemetry, else
    :data:`OPERATOR_REFERENCE_QUERY`."""
    from .estimate import estimate

    rows = []
    telemetry = source.bundle.tables.get("telemetry")
    for op in your_operators(source):
        mine = telemetry[telemetry["operator"] == op] if telemetry is not None else telemetry
        if mine is None or mine.empty:
            query = dict(OPERATOR_REFERENCE_QUERY)
        else:
            first = mine.iloc[0]
            named = str(first["model"]).strip() not in ("", "nan")
            query = {**({"model": str(first["model"])} if named else
                        {"total_params_b": float(first["total_params_b"]),
                         "active_params_b": float(first["active_params_b"])}),
                     "gpu": str(first["gpu"]), "n_gpus": int(float(first["n_gpus"])),
                     "precision": str(first["precision"])}
        own = estimate(**query, operator=op, posterior=source, samples=samples, seed=seed)
        public = estimate(**query, posterior=source, samples=samples, seed=seed)
        rows.append({"operator": op, "query": query, "operator_wh": own.value, "public_wh": public.value,
                     "operator_pue": own.inputs["pue"], "operator_engine": own.inputs["engine"],
                     "operator_host_ratio": own.inputs["host_ratio_median"],
                     "operator_idle_share": own.inputs["idle_share_median"],
                     "public_host_ratio": public.inputs["host_ratio_median"],
                     "public_idle_share": public.inputs["idle_share_median"],
                     "operator_load": own.inputs.get("batch_size")})
    return rows


_ACTIVE = re.compile(r"(\d+(?:\.\d+)?)\s*B active", re.I)
_TOTAL = re.compile(r"(\d+(?:\.\d+)?)\s*B total", re.I)


def comparable_query(row, models) -> tuple[list[QuerySpec], str]:
    """The query infergy compares a published estimate with: its model (by name, by size in its description, or
    the >200B blend as a stand-in), tokens, hardware and boundary; and a note of what was assumed."""
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
    inp = float(row["input_tokens"]) if np.isfinite(row["input_tokens"]) else None  # else the workload's
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
        specs, note = comparable_query(r, source.bundle.models)
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
