"""The Bayesian answer next to paper mode for the paper's own setting (>200B models on H100 nodes, FP8, 500 input
tokens, traditional and reasoning regimes, node x PUE boundary), with the factors that make them differ."""

from __future__ import annotations

import numpy as np

from ..model.paper import REGIMES, get_paper_config
from .paper_mc import replicate_paper
from .quantiles import summarize
from .predict import QuerySpec, posterior_draws, predict_components, predict_energy_wh

__all__ = ["compare_with_paper"]

PAPER_GPU = "H100-SXM-80GB"
PAPER_GPUS_PER_NODE = 8
_IQR = ("median", "p25", "p75", "p05", "p95")


def compare_with_paper(dt, version: str = "v2", *, queries: int = 200, seed: int = 0, bundle=None) -> dict:
    """Per model and regime: paper mode's and the posterior's Wh/query (facility boundary, no idle capacity),
    the >200B blend of both (the paper's top-3 models, pooled), and per-model factors (throughput per GPU, power
    per GPU, PUE) from each side."""
    from ..data import load

    bundle = bundle if bundle is not None else load()
    cfg = get_paper_config(version)
    rep = replicate_paper(version, seed=seed)
    draws = posterior_draws(dt)  # flattened once for the 20 predictions below
    pu, pue_paper = cfg.power_utilisation, cfg.pue
    out: dict = {"version": cfg.version, "boundary": "facility (node x PUE; idle capacity excluded, as the paper)",
                 "gpu": PAPER_GPU, "input_tokens": cfg.input_tokens, "models": {}, "blended": {}}
    bayes_wh: dict[tuple[str, str], np.ndarray] = {}
    for i, model in enumerate(rep.models):
        out["models"][model] = {}
        for regime in REGIMES:
            spec = QuerySpec(model=model, gpu=PAPER_GPU, precision="fp8", input_tokens=cfg.input_tokens,
                             regime=regime, boundary="facility")
            pred = predict_energy_wh(draws, spec, queries=queries, seed=seed, bundle=bundle)
            bayes_wh[(model, regime)] = pred.wh
            comp = predict_components(draws, spec, seed=seed, bundle=bundle)
            paper_stats = rep.per_model_stats[regime][i]
            osl = REGIMES[regime]
            paper_tps_gpu = float(rep.regressions[model].predict_tok_s(cfg.input_tokens, osl)) / PAPER_GPUS_PER_NODE
            out["models"][model][regime] = {
                "paper": {"median": float(paper_stats[0]), "p25": float(paper_stats[1]), "p75": float(paper_stats[2])},
                "bayes": summarize(pred.wh, _IQR),
                "bayes_mean_per_query": summarize(pred.mean_per_draw, _IQR),
                "ratio_of_medians": float(np.median(pred.wh) / paper_stats[0]),
                "factors": {
                    "output tok/s per GPU": (paper_tps_gpu, float(np.median(comp["tps_gpu_tok_s"]))),
                    "W per GPU (node power / GPUs)": (cfg.node_power_w(model) * pu.median / PAPER_GPUS_PER_NODE,
                                                      float(np.median(comp["gpu_power_w"] * (1 + comp["host_ratio"])))),
                    "PUE": (pue_paper.median, float(np.median(comp["pue"]))),
                    "GPUs per replica": (PAPER_GPUS_PER_NODE, comp["n_gpus"]),
                    "concurrent queries per replica": (float("nan"), float(np.median(comp["batch"]))),
                },
            }
    for regime in REGIMES:
        top = rep.blended_models[regime]
        pooled = np.concatenate([bayes_wh[(m, regime)].ravel() for m in top])
        stats = rep.blended_stats[regime]
        out["blended"][regime] = {
            "models": list(top),
            "paper": {"median": float(stats[0]), "p25": float(stats[1]), "p75": float(stats[2])},
            "bayes": summarize(pooled, _IQR),
            "ratio_of_medians": float(np.median(pooled) / stats[0]),
        }
    out["posterior"] = {"data_hash": dt.attrs.get("data_hash", ""), "version": dt.attrs.get("infergy_version", "")}
    return out


