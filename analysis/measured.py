"""Measured energy against the answer: every directly measured ML.ENERGY v3 configuration (model, GPU, GPU count,
precision, batch, output length, engine setup), asked through the same query path as ``infergy estimate`` at the
GPU boundary, per output token (``--engine`` names the benchmark's setup, so its fitted efficiency is used, and its
input length is the one the fit learned for the task). The measurement enters the fit as throughput and power
rows; the answer comes from the serving equations and the power curve, as every user's answer does."""

from __future__ import annotations

import numpy as np

from ..model.power import TEXT_TASKS
from ..model.throughput import learned_input_tokens
from .estimate import open_posterior
from .predict import QuerySpec, predict_energy_wh

__all__ = ["MEASURED_SOURCE", "ASSUMED_INPUT_TOKENS", "measured_rows", "measured_energy_check", "task_input_tokens"]

#: The table whose energy per token is measured directly (Zeus, GPU boundary, steady state).
MEASURED_SOURCE = "mlenergy_v3"
#: ML.ENERGY v3's files do not give input lengths: the fit learns one per task (``tp_log_isl_task``); this length
#: stands in for a task the posterior has none for.
ASSUMED_INPUT_TOKENS = 1000.0


def task_input_tokens(draws_coords, task: str) -> float:
    """The posterior median input length of an ML.ENERGY v3 task (the fit learns it from the throughput rows)."""
    draws, coords = draws_coords
    tokens = learned_input_tokens(draws, coords, f"vllm-{MEASURED_SOURCE}-{task}")
    return ASSUMED_INPUT_TOKENS if tokens is None else float(np.median(tokens))


def measured_rows(bundle, limit: int | None = None):
    """The text-generation rows of :data:`MEASURED_SOURCE` with a batch size (every ``len // limit``-th with
    ``limit``: a spread over models, GPUs and batches)."""
    g = bundle.tables["gpu_energy"]
    rows = g[(g["source_table"] == MEASURED_SOURCE) & g["task"].isin(TEXT_TASKS) & g["batch_size"].notna()
             & g["energy_per_token_j"].notna()].reset_index(drop=True)
    if limit is not None and limit < len(rows):
        rows = rows.iloc[np.linspace(0, len(rows) - 1, limit).round().astype(int)].reset_index(drop=True)
    return rows


def measured_energy_check(posterior=None, bundle=None, *, limit: int | None = None, seed: int = 0) -> dict:
    """Per measured row: the posterior median and 90% interval of J per output token for its configuration, the
    ratio predicted/measured and whether the measurement lies inside the interval; and over the rows the median
    absolute log ratio (as a factor) and the 90% coverage, also per model and per GPU."""
    source = open_posterior(posterior, bundle)
    rows = measured_rows(source.bundle, limit)
    out = []
    inputs = {task: task_input_tokens(source.draws_coords, task) for task in rows["task"].unique()}
    for i, r in rows.iterrows():
        out_tokens = float(r["avg_output_tokens"])
        spec = QuerySpec(model=str(r["model"]), gpu=str(r["gpu"]), n_gpus=int(r["n_gpus"]),
                         precision=str(r["precision"]), input_tokens=inputs[r["task"]], output_tokens=out_tokens,
                         engine=f"vllm-{MEASURED_SOURCE}-{r['task']}",
                         batch_size=float(r["batch_size"]), boundary="gpu")
        wh = predict_energy_wh(source.draws_coords, spec, queries=1, seed=seed + i, bundle=source.bundle).wh[:, 0]
        j_per_token = wh * 3600.0 / out_tokens
        lo, med, hi = np.quantile(j_per_token, [0.05, 0.5, 0.95])
        measured = float(r["energy_per_token_j"])
        out.append({"model": str(r["model"]), "gpu": str(r["gpu"]), "n_gpus": int(r["n_gpus"]),
                    "precision": str(r["precision"]), "batch_size": float(r["batch_size"]), "task": str(r["task"]),
                    "input_tokens": inputs[r["task"]], "output_tokens": out_tokens, "measured_j_per_token": measured, "predicted_j_per_token": float(med),
                    "predicted_p05": float(lo), "predicted_p95": float(hi), "ratio": float(med) / measured,
                    "inside_90": bool(lo <= measured <= hi)})

    def summary(items: list[dict]) -> dict:
        log_ratio = np.abs(np.log([x["ratio"] for x in items]))
        return {"rows": len(items), "median_abs_error_factor": float(np.exp(np.median(log_ratio))),
                "median_ratio": float(np.exp(np.median(np.log([x["ratio"] for x in items])))),
                "coverage_90": float(np.mean([x["inside_90"] for x in items]))}

    def grouped(key: str) -> dict:
        return {name: summary([x for x in out if x[key] == name]) for name in sorted({x[key] for x in out})}

    return {"source": MEASURED_SOURCE, "boundary": "gpu", "unit": "J per output token",
            "input_tokens_by_task": inputs, "overall": summary(out), "by_model": grouped("model"),
            "by_gpu": grouped("gpu"), "rows": out, "posterior": source.info, "seed": seed}
