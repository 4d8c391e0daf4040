"""Cross-validation that matters to users: predict a model, a GPU, a generation or a query shape the fit has
never seen.

Each fold leaves out a set of throughput rows, fits the throughput model to the rest (the
left-out rows stay in the design with their likelihood masked, so they are predicted exactly as an unseen model
or GPU is: from the size regression or the bandwidth line, with the spread the groups show), and reports how
often the left-out rows fall inside their 50% and 90% posterior-predictive intervals, and how wide those
intervals are. Honest intervals cover close to nominal without being wide for nothing. The folds:

- ``model`` / ``gpu``: every row of one model / one GPU type;
- ``shape``: every row with input or output of at least :data:`LONG_TOKENS` tokens (``long``): extrapolation in
  length, which the serving equations must carry;
- ``generation``: every Blackwell row (``blackwell``), fitted on Hopper and older GPUs.

A left-out group's rows share one draw of its unknown effects, so their errors share one bias: a fold's row
coverage falls below nominal whenever that bias is large, even when the model's spread of groups is right. Each
fold therefore also reports its group PIT: where the measured mean of the left-out rows falls among the
predictive draws of that mean. Over many folds, calibrated group-level predictions give PITs spread evenly over
(0, 1); PITs piled near 0 and 1 mean the groups' spread is too narrow, PITs near 0.5 that it is too wide.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.infer import Predictive

from ..model.joint import build_design
from ..model.throughput import build_throughput_design, throughput_model, usable_throughput_rows
from .precondition import WHITENED_SITE, precondition
from .samplers import nuts

__all__ = ["CV_MODELS", "CV_GPUS", "CV_BY", "LONG_TOKENS", "BLACKWELL", "CvFold", "cross_validate", "fold_mask",
           "group_pit"]

#: Default folds: models of every class and size, GPUs of every generation.
CV_MODELS = ("Llama 3.1 8B", "gemma-2-27b", "Llama 3.1 405B", "Mixtral 8x7B", "Qwen3-235B-A22B", "DeepSeek-R1")
CV_GPUS = ("A100-SXM4-80GB", "H200-SXM-141GB", "B200", "L40S")
CV_BY = ("model", "gpu", "shape", "generation")
#: A row with input or output at least this long is "long" (the shape fold).
LONG_TOKENS = 8000
BLACKWELL = ("B200", "B300", "GB200", "GB300", "RTX-PRO-6000-SE")


def fold_mask(rows, by: str, group: str) -> np.ndarray:
    """True for the rows fold ``group`` of kind ``by`` leaves out."""
    if by in ("model", "gpu"):
        return (rows[by] == group).to_numpy()
    if by == "shape" and group == "long":
        return ((rows["isl"].fillna(0) >= LONG_TOKENS) | (rows["osl"].fillna(0) >= LONG_TOKENS)).to_numpy()
    if by == "generation" and group == "blackwell":
        return rows["gpu"].isin(BLACKWELL).to_numpy()
    raise ValueError(f"no fold {group!r} of kind {by!r}")


@dataclass(frozen=True)
class CvFold:
    by: str
    left_out: str
    rows: int
    coverage_50: float
    coverage_90: float
    width_90: float  # median width of the 90% interval, as a factor (exp of the log width)
    median_abs_error: float  # median |log error| of the predictive median, as a factor
    group_pit: float  # share of predictive draws whose mean over the left-out rows is below the measured mean
    seconds: float


def group_pit(pred: np.ndarray, y: np.ndarray) -> float:
    """Where the mean of measurements ``y`` (rows) falls among predictive draws ``pred`` (draws x rows) of that mean:
    the share of draws whose mean over the rows is below it. The rows share each draw's group effects, so this is
    one probability integral transform per left-out group."""
    return float(np.mean(np.asarray(pred).mean(axis=1) < np.asarray(y).mean()))


def _fold_design(bundle, design, test: np.ndarray):
    """The design a fold fits: the full one, unless the fold leaves out every row of the reference GPU. That GPU's
    effect is 0 by construction, so it would be predicted with no GPU spread at all; the reference moves to the
    training rows' most-measured GPU and the left-out one is predicted like any unseen GPU."""
    rows = design.throughput.rows
    if not test[(rows["gpu"] == design.throughput.ref_gpu).to_numpy()].all():
        return design
    t = bundle.tables
    tp = build_throughput_design(usable_throughput_rows(t["throughput"]), t["hardware"], t["models"],
                                 t["architectures"], ref_gpu=rows.loc[~test, "gpu"].value_counts().index[0])
    return dataclasses.replace(design, throughput=tp)


def _fold(design, mask: np.ndarray, *, chains: int, warmup: int, draws: int, seed: int) -> np.ndarray:
    """Posterior-predictive draws of log tok/s for every row, fitted on the rows where ``mask`` is True."""
    key_init, key_fit, key_pred = jax.random.split(jax.random.PRNGKey(seed), 3)
    tp = design.throughput
    kwargs = {**tp.sizes, "y": tp.y_log_tok_s, "row_mask": jnp.asarray(mask)}
    pre = precondition(throughput_model, (tp.arrays,), kwargs, key_init, chains, 2000)
    mcmc = nuts(pre.model(throughput_model), warmup=warmup, draws=draws, chains=chains)
    mcmc.run(key_fit, tp.arrays, init_params=pre.init_params, **kwargs)
    samples = mcmc.get_samples()
    samples.pop(WHITENED_SITE)
    pred = Predictive(throughput_model, samples, return_sites=["tp_obs"])(key_pred, tp.arrays, **tp.sizes)
    return np.asarray(pred["tp_obs"])


def cross_validate(bundle=None, by: str = "model", groups=None, *, chains: int = 2, warmup: int = 400,
                   draws: int = 400, seed: int = 0, progress=None) -> list[CvFold]:
    """Folds of kind ``by`` (:data:`CV_BY`) over ``groups`` (default: :data:`CV_MODELS` or :data:`CV_GPUS`;
    ``long`` for ``shape``, ``blackwell`` for ``generation``). ``progress`` is called with a line after each fold."""
    from ..data import load

    if by not in CV_BY:
        raise ValueError(f"cross-validate by one of {', '.join(CV_BY)}, not {by!r}")
    bundle = bundle if bundle is not None else load()
    design = build_design(bundle)
    rows = design.throughput.rows
    defaults = {"model": CV_MODELS, "gpu": CV_GPUS, "shape": ("long",), "generation": ("blackwell",)}
    groups = list(groups or defaults[by])
    if by in ("model", "gpu"):
        present = set(rows[by])
        missing = [g for g in groups if g not in present]
        if missing:
            raise ValueError(f"no usable throughput rows for {by} {missing}; present: {sorted(present)[:60]}")
    folds = []
    y = np.asarray(design.throughput.y_log_tok_s)
    for i, group in enumerate(groups):
        start = time.perf_counter()
        test = fold_mask(rows, by, group)
        pred = _fold(_fold_design(bundle, design, test), ~test, chains=chains, warmup=warmup, draws=draws,
                     seed=seed + i)[:, test]
        lo50, hi50, lo90, med, hi90 = np.quantile(pred, [0.25, 0.75, 0.05, 0.5, 0.95], axis=0)
        yt = y[test]
        folds.append(CvFold(
            by=by, left_out=group, rows=int(test.sum()),
            coverage_50=float(np.mean((yt >= lo50) & (yt <= hi50))),
            coverage_90=float(np.mean((yt >= lo90) & (yt <= hi90))),
            width_90=float(np.exp(np.median(hi90 - lo90))),
            median_abs_error=float(np.exp(np.median(np.abs(yt - med)))), group_pit=group_pit(pred, yt),
            seconds=time.perf_counter() - start,
        ))
        f = folds[-1]
        if progress is not None:
            progress(f"cv fold {i + 1}/{len(groups)}: {by} {group}: {f.rows} rows, coverage {f.coverage_50:.2f} / "
                     f"{f.coverage_90:.2f}, group PIT {f.group_pit:.2f}, {f.seconds:.0f} s")
    return folds


