"""Which input drives the spread of Wh per query: ``infergy sensitivity``.

The target is log Wh/query over (posterior draw x simulated query) -- the scale on which the factors multiply. Two
decompositions:

- **posterior vs query**: the law of total variance splits Var(log Wh) into the variance of each draw's mean log
  energy (what we do not know about the parameters) and the average variance within a draw (which query it is);
- **first-order (Sobol) indices** per input: Var(E[log Wh | input]) / Var(log Wh), estimated from the samples by
  binning each input into equal-count bins (given-data estimator, with the within-bin noise subtracted). Inputs
  are the scalar quantities each draw or query contributes: output length, the benchmark efficiency effects
  (model, GPU, precision: the logit of the bandwidth share reached), production engine efficiency, production load, the GPU power curve, host overhead, PUE,
  idle capacity, and, for a blend, which model. The indices of dependent inputs need not sum to one; the remainder
  is interaction and dependence.
"""

from __future__ import annotations


import jax
import jax.numpy as jnp
import numpy as np

from ..model.equations import power_share
from ..model.production import engine_log_efficiency
from ..model.throughput import setup_overheads
from .estimate import BOUNDARY_DESCRIPTIONS, open_posterior
from .pathways import Baseline, paper_setting
from ..model.workload import draw_lengths, draw_output
from .predict import QuerySpec, boundary_flags, check_spec, energy_wh, prepare

__all__ = ["sensitivity", "first_order_index"]

BINS = 50


def first_order_index(x: np.ndarray, y: np.ndarray, bins: int = BINS) -> float:
    """Var(E[y | x]) / Var(y) from samples, by ``bins`` equal-count bins of x (ties kept together by a stable sort),
    minus the bias the within-bin noise adds to the variance of bin means. In [0, 1]. Variation of E[y | x] within
    a bin is lost, so a strongly curved response is understated (y = exp(x), x normal: 0.86 for 1); the inputs
    here enter log Wh nearly linearly (identity: 0.995)."""
    x, y = np.asarray(x, np.float64).ravel(), np.asarray(y, np.float64).ravel()
    var = y.var()
    if var == 0 or np.ptp(x) == 0:
        return 0.0
    order = np.argsort(x, kind="stable")
    groups = np.array_split(y[order], bins)
    means = np.array([g.mean() for g in groups])
    sizes = np.array([len(g) for g in groups], np.float64)
    within = np.array([g.var() for g in groups])
    between = np.sum(sizes * (means - y.mean()) ** 2) / len(y)
    noise = np.sum(within) / len(y)  # what independent noise adds: sum over bins of n_b * var_b / n_b, / N
    return float(np.clip((between - noise) / var, 0.0, 1.0))


def _samples(source, spec: QuerySpec, queries: int, seed: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """log Wh (draws x queries) and the inputs' values, broadcast to that shape."""
    arrays, _ = prepare(source.draws_coords, spec, source.bundle, seed)
    n = int(arrays["log_batch"].shape[0])
    k_lengths, k_out = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(seed), 1))
    component, tokens_in = draw_lengths(arrays, k_lengths, (n, queries), spec.input_tokens, spec.output_tokens)
    out = (jnp.full((n, queries), float(spec.output_tokens)) if spec.output_tokens is not None
           else draw_output(arrays, k_out, component))
    flags = boundary_flags(spec.boundary)
    wh = jax.jit(energy_wh)(arrays, tokens_in, tokens_in, out, flags)
    a = {k: np.asarray(v, np.float64) for k, v in arrays.items()}
    typical_batch = float(np.median(a["log_batch"]))
    curve = np.log(np.asarray(power_share(arrays["power_idle"], arrays["power_peak"], arrays["power_log_batch50"],
                                          jnp.float32(typical_batch))))
    engine = engine_log_efficiency(source.draws_coords[0])
    overhead, token_overhead = (np.asarray(v, np.float64) for v in setup_overheads(*source.draws_coords, None))
    per_draw = {
        "benchmark efficiency (model, GPU, precision)": a["eff_logit_memory"] - engine,
        "production engine efficiency": engine,
        "production engine's step overhead per layer": overhead,
        "production engine's time per sequence and step": token_overhead,
        "production load (concurrent queries)": a["log_batch"],
        "configuration scatter about the model": a["log_scatter"],
        "GPU power curve (share of TDP)": curve,
        "host overhead": np.log1p(a["host_ratio"]),
        "PUE": np.log(a["pue"]),
        "idle capacity": -np.log1p(-a["idle_share"]),
    }
    if not float(flags[0]):
        per_draw.pop("host overhead")
    if not float(flags[1]):
        per_draw.pop("PUE")
    if not float(flags[2]):
        per_draw.pop("idle capacity")
    if spec.pue is not None:
        per_draw.pop("PUE", None)
    if spec.batch_size is not None:
        per_draw.pop("production load (concurrent queries)")
    factors = {k: np.broadcast_to(v[:, None], (n, queries)) for k, v in per_draw.items()}
    if spec.output_tokens is None:
        factors["output length (which query)"] = np.asarray(out, np.float64)
    if spec.input_tokens is None:
        factors["prompt length (which query)"] = np.asarray(tokens_in, np.float64)
    return np.log(np.asarray(wh, np.float64)), factors


def sensitivity(baseline: Baseline | QuerySpec | None = None, *, posterior=None, queries: int = 200, seed: int = 0,
                bundle=None) -> dict:
    """First-order indices of log Wh/query per input, and the posterior-vs-query split. JSON-ready."""
    if not queries >= 2:
        raise ValueError(f"queries per draw must be >= 2, got {queries}")
    source = open_posterior(posterior, bundle)
    if baseline is None:
        baseline = paper_setting()
    elif isinstance(baseline, QuerySpec):
        baseline = Baseline(baseline.model or f"{baseline.total_params_b:g}B model", (baseline,))
    ys, fs = [], []
    for i, spec in enumerate(baseline.members):
        check_spec(spec)
        y, f = _samples(source, spec, queries, seed + 1000 * i)
        if len(baseline.members) > 1:
            f["which model of the blend"] = np.full(y.shape, float(i))
        ys.append(y)
        fs.append(f)
    y = np.concatenate(ys, axis=1)  # draws x (members x queries): a draw's queries span the blend
    factors = {k: np.concatenate([f[k] for f in fs], axis=1) for k in fs[0]}
    total = float(y.var())
    between = float(y.mean(axis=1).var())
    indices = {k: first_order_index(v, y) for k, v in factors.items()}
    ranked = dict(sorted(indices.items(), key=lambda kv: -kv[1]))
    spec0 = baseline.members[0]
    return {
        "target": "log Wh/query", "setting": baseline.name, "regime": spec0.regime, "boundary": spec0.boundary,
        "boundary_description": BOUNDARY_DESCRIPTIONS[spec0.boundary],
        "variance_log_wh": total,
        "split": {"posterior (between draws)": between / total, "query (within draws)": 1.0 - between / total},
        "first_order": ranked, "sum_first_order": float(sum(indices.values())),
        "samples": int(y.size), "seed": seed, "posterior": source.info,
    }


