"""Cross-validation that matters to users: predict a model (or a GPU) the fit has never seen.

Each fold leaves out every throughput row of one model (or one GPU type), fits the throughput model to the rest
(the left-out rows stay in the design with their likelihood masked, so they are predicted exactly as an unseen
model or GPU is: from the size regression or the bandwidth line, with the spread the groups show), and reports
how often the left-out rows fall inside their 50% and 90% posterior-predictive intervals, and how wide those
intervals are. Honest intervals cover close to nominal without being wide for nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.infer import Predictive

from ..model.throughput import build_throughput_design, throughput_model, usable_throughput_rows
from .precondition import WHITENED_SITE, precondition
from .samplers import nuts

__all__ = ["CV_MODELS", "CV_GPUS", "CvFold", "cross_validate"]

#: Default folds: models of every class and size, GPUs of every generation.
CV_MODELS = ("Llama 3.1 8B", "gemma-2-27b", "Llama 3.1 405B", "Mixtral 8x7B", "Qwen3-235B-A22B", "DeepSeek-R1")
CV_GPUS = ("A100-SXM4-80GB", "H200-SXM-141GB", "B200", "L40S")


@dataclass(frozen=True)
class CvFold:
    by: str
    left_out: str
    rows: int
    coverage_50: float
    coverage_90: float
    width_90: float  # median width of the 90% interval, as a factor (exp of the log width)
    median_abs_error: float  # median |log error| of the predictive median, as a factor
    seconds: float


def _fold(design, mask: np.ndarray, *, chains: int, warmup: int, draws: int, seed: int) -> np.ndarray:
    """Posterior-predictive draws of log tok/s for every row, fitted on the rows where ``mask`` is True."""
    key_init, key_fit, key_pred = jax.random.split(jax.random.PRNGKey(seed), 3)
    kwargs = {**design.sizes, "y": design.y_log_tok_s, "row_mask": jnp.asarray(mask)}
    pre = precondition(throughput_model, (design.arrays,), kwargs, key_init, chains, 2000)
    mcmc = nuts(pre.model(throughput_model), warmup=warmup, draws=draws, chains=chains)
    mcmc.run(key_fit, design.arrays, init_params=pre.init_params, **kwargs)
    samples = mcmc.get_samples()
    samples.pop(WHITENED_SITE)
    pred = Predictive(throughput_model, samples, return_sites=["tp_obs"])(key_pred, design.arrays, **design.sizes)
    return np.asarray(pred["tp_obs"])


def cross_validate(bundle=None, by: str = "model", groups=None, *, chains: int = 2, warmup: int = 400,
                   draws: int = 400, seed: int = 0, progress=None) -> list[CvFold]:
    """Leave-one-``by``-out folds (``by`` = "model" or "gpu") over ``groups`` (default: :data:`CV_MODELS` or
    :data:`CV_GPUS`, those present in the data). ``progress`` is called with a line after each fold."""
    from ..data import load

    if by not in ("model", "gpu"):
        raise ValueError(f"cross-validate by 'model' or 'gpu', not {by!r}")
    bundle = bundle if bundle is not None else load()
    rows = usable_throughput_rows(bundle.tables["throughput"])
    design = build_throughput_design(rows, bundle.tables["hardware"], bundle.tables["models"])
    present = set(design.rows[by])
    groups = [g for g in (groups or (CV_MODELS if by == "model" else CV_GPUS))]
    missing = [g for g in groups if g not in present]
    if missing:
        raise ValueError(f"no usable throughput rows for {by} {missing}; present: {sorted(present)[:60]}")
    folds = []
    y = np.asarray(design.y_log_tok_s)
    for i, group in enumerate(groups):
        start = time.perf_counter()
        test = (design.rows[by] == group).to_numpy()
        pred = _fold(design, ~test, chains=chains, warmup=warmup, draws=draws, seed=seed + i)[:, test]
        lo50, hi50, lo90, med, hi90 = np.quantile(pred, [0.25, 0.75, 0.05, 0.5, 0.95], axis=0)
        yt = y[test]
        folds.append(CvFold(
            by=by, left_out=group, rows=int(test.sum()),
            coverage_50=float(np.mean((yt >= lo50) & (yt <= hi50))),
            coverage_90=float(np.mean((yt >= lo90) & (yt <= hi90))),
            width_90=float(np.exp(np.median(hi90 - lo90))),
            median_abs_error=float(np.exp(np.median(np.abs(yt - med)))),
            seconds=time.perf_counter() - start,
        ))
        f = folds[-1]
        if progress is not None:
            progress(f"cv fold {i + 1}/{len(groups)}: {by} {group}: {f.rows} rows, coverage {f.coverage_50:.2f} / "
                     f"{f.coverage_90:.2f}, {f.seconds:.0f} s")
    return folds


