"""Efficiency pathways: how much less energy per query each lever gives, as a distribution: ``infergy pathways``.

Two kinds of lever, side by side:

- **paper**: the seed paper's hand-set multipliers (model 1.5-10x, serving 1.5-5x, hardware 1.5-2.5x as P5-P95 of a
  log-normal; combined as their product), one draw per posterior draw;
- **fitted**: a change of the query's configuration evaluated through the fitted model -- H100 -> H200 or B200
  (fitted hardware effect, power curve and TDP), FP8 -> FP4 (fitted precision effect, on a GPU with FP4), twice the
  production load (fitted load curve and power curve), a smaller or a mixture-of-experts model (fitted size
  regression). The reduction factor per posterior draw is the ratio of mean energies per query, with common random
  numbers (same simulated queries and random effects on both sides), so it reflects the lever, not Monte Carlo noise.

The baseline is the paper's >200B setting unless given: the three >200B models of the paper's blend on 8 x H100
SXM, FP8, 500 input tokens, pooled with equal weight.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import jax
import numpy as np

from ..data.vocab import canonical_gpu, gpus_supporting
from ..model.names import LEVER_NAMES
from ..model.paper import PATHWAYS, REGIMES as PAPER_REGIMES, get_paper_config
from ..model.throughput import REF_GPU
from .estimate import BOUNDARY_DESCRIPTIONS, PosteriorSource, open_posterior, queries_per_draw
from .predict import QuerySpec, check_spec
from .propagate import StreamSummary, Workload, pool, stream_spec
from .quantiles import summarize

__all__ = ["BlendStreams", "check_levers", "Lever", "LEVERS", "PAPER_BLEND_MODELS", "DEFAULT_COMBINATIONS",
           "paper_setting", "pathways", "reduction_per_draw", "Baseline"]

#: The paper's >200B blend: its top three >200B models by median energy, in both regimes (paper mode picks them;
#: a test checks that it still does).
PAPER_BLEND_MODELS = ("DeepSeek-R1", "Llama 3.1 405B", "Llama-3.1 Nemotron Ultra 253B")
PAPER_GPU = REF_GPU
#: Where a GPU lacks FP4 tensor cores (the hardware table has no FP4 figure for it), FP4 moves to this GPU.
FP4_FALLBACK_GPU = "B200"
DEFAULT_LOAD_FACTOR = 2.0
SMALLER_MODEL_FACTOR = 4.0
MOE_ACTIVE_SHARE = 1.0 / 16.0


@dataclass(frozen=True)
class Baseline:
    """What the levers act on: an equal-weight blend of query configurations (one member for a single model)."""

    name: str
    members: tuple[QuerySpec, ...]

    def for_regime(self, regime: str) -> "Baseline":
        return Baseline(self.name, tuple(replace(m, regime=regime) for m in self.members))


def paper_setting(regime: str = "traditional", boundary: str = "facility") -> Baseline:
    """The paper's >200B setting: its blend's three models on 8 x H100 SXM, FP8, 500 input tokens."""
    return Baseline(">200B blend (" + ", ".join(PAPER_BLEND_MODELS) + ")",
                    tuple(QuerySpec(model=m, gpu=PAPER_GPU, n_gpus=None, precision="fp8", regime=regime,
                                    boundary=boundary) for m in PAPER_BLEND_MODELS))


def _on_gpu(gpu: str) -> Callable[[QuerySpec, object], QuerySpec]:
    return lambda s, bundle: replace(s, gpu=gpu)


def _has_fp4(s: QuerySpec, bundle) -> bool:
    return canonical_gpu(s.gpu, bundle.hardware) in gpus_supporting(bundle.hardware, "fp4")


def _fp4(s: QuerySpec, bundle) -> QuerySpec:
    return replace(s, precision="fp4", gpu=s.gpu if _has_fp4(s, bundle) else FP4_FALLBACK_GPU)


def _fp8_on_fp4_gpu(s: QuerySpec, bundle) -> QuerySpec:
    return s if _has_fp4(s, bundle) else replace(s, gpu=FP4_FALLBACK_GPU)


def _more_load(s: QuerySpec, bundle) -> QuerySpec:
    return replace(s, batch_scale=s.batch_scale * DEFAULT_LOAD_FACTOR)


def _smaller(s: QuerySpec, bundle) -> QuerySpec:
    return replace(s, total_params_b=s.total_params_b / SMALLER_MODEL_FACTOR,
                   active_params_b=s.active_params_b / SMALLER_MODEL_FACTOR)


def _moe(s: QuerySpec, bundle) -> QuerySpec:
    if s.moe:  # already sparse: unchanged
        return s
    return replace(s, moe=True, active_params_b=s.total_params_b * MOE_ACTIVE_SHARE)


@dataclass(frozen=True)
class Lever:
    """One efficiency lever. Paper levers carry (P5, P95) of the multiplier per regime; fitted ones change the
    query (``change``), measured against ``base_change`` of the baseline when alone (FP4 is compared on an FP4 GPU);
    ``sized`` levers compare both sides through the size regression."""

    name: str
    label: str
    kind: str
    description: str
    p5_p95: dict | None = None
    change: Callable[[QuerySpec, object], QuerySpec] | None = None  # (query, data bundle) -> changed query
    base_change: Callable[[QuerySpec, object], QuerySpec] | None = None
    sized: bool = False


def _paper_ranges(lever: str) -> dict:
    return {r: PATHWAYS[lever] for r in PAPER_REGIMES}


_FLEET_IMPROVEMENT = get_paper_config("v2").fleet_improvement_p5_p95
LEVERS: dict[str, Lever] = {
    "model": Lever("model", "Algorithm/model (paper)", "paper",
                   "distillation, low-bit formats, MoE, faster attention: multiplier 1.5-10 (P5-P95)",
                   p5_p95=_paper_ranges("model")),
    "serving": Lever("serving", "Serving platform (paper)", "paper",
                     "disaggregated prefill/decode, speculative decoding, KV-cache tuning, routing: 1.5-5",
                     p5_p95=_paper_ranges("serving")),
    "hardware": Lever("hardware", "Hardware & datacenter (paper)", "paper", "next GPU generations, PUE: 1.5-2.5",
                      p5_p95=_paper_ranges("hardware")),
    "paper-fleet": Lever("paper-fleet", "Fleet interventions (paper)", "paper",
                         "the paper's fleet improvement: 1.5-3.5 traditional, 1.5-3 reasoning",
                         p5_p95=dict(_FLEET_IMPROVEMENT)),
    "h200": Lever("h200", "H200 (fitted)", "fitted", "same model on H200-SXM-141GB: fitted GPU effect, TDP and "
                  "power curve", change=_on_gpu("H200-SXM-141GB")),
    "b200": Lever("b200", "B200 (fitted)", "fitted", "same model and precision on B200: fitted GPU effect, TDP "
                  "and power curve", change=_on_gpu("B200")),
    "fp4": Lever("fp4", "FP8 -> FP4 (fitted)", "fitted", "FP4 weights and compute, on a GPU with FP4 (B200 unless "
                 "the GPU has it); alone it is measured against FP8 on that GPU", change=_fp4,
                 base_change=_fp8_on_fp4_gpu),
    "load-x2": Lever("load-x2", "Twice the load (fitted)", "fitted", "twice the concurrent queries per replica: "
                     "fitted load curve (throughput) and power curve", change=_more_load),
    "smaller-model": Lever("smaller-model", "4x smaller model (fitted)", "fitted", "a model with a quarter of the "
                           "parameters (distillation): fitted size regression", change=_smaller, sized=True),
    "moe": Lever("moe", "Mixture of experts (fitted)", "fitted", "same total parameters, 1/16 of them active "
                 "(dense models only): fitted size, MoE and sparsity effects", change=_moe, sized=True),
}
if tuple(LEVERS) != LEVER_NAMES:  # the command line checks names against LEVER_NAMES before this module loads
    raise ImportError(f"LEVERS {tuple(LEVERS)} and model.names.LEVER_NAMES {LEVER_NAMES} differ")
#: Combinations reported after the single levers: the paper's product, and the fitted levers together.
DEFAULT_COMBINATIONS = {"paper: combined": ("model", "serving", "hardware"),
                        "fitted: combined": ("b200", "fp4", "load-x2", "smaller-model")}
DEFAULT_SINGLE = ("model", "serving", "hardware", "h200", "b200", "fp4", "load-x2", "smaller-model", "moe")


def _sized(spec: QuerySpec, bundle) -> QuerySpec:
    """The same model described by its size (so a size lever compares like with like through the regression)."""
    from ..data.vocab import model_name

    if spec.model is None:
        return spec
    sizes = bundle.models.set_index("model")
    name = model_name(spec.model)
    if name not in sizes.index:
        return replace(spec, model=None)
    row = sizes.loc[name]
    return replace(spec, model=None, total_params_b=float(row["total_params_b"]),
                   active_params_b=float(row["active_params_b"]), moe=bool(row["moe"]))


def check_levers(names) -> list[Lever]:
    unknown = [n for n in names if n not in LEVERS]
    if unknown:
        raise ValueError(f"unknown lever {unknown[0]!r}; choose from {', '.join(LEVERS)}")
    return [LEVERS[n] for n in names]


class BlendStreams:
    """Stream summaries of a blend's members (member ``i`` uses seed + 1000 i), cached by (spec, member, scale)
    so that a baseline shared by several levers is evaluated once."""

    def __init__(self, source: PosteriorSource, workload: Workload, q: int, seed: int):
        self.source, self.workload, self.q, self.seed = source, workload, q, seed
        self.cache: dict = {}

    def __call__(self, spec: QuerySpec, i: int, log_scale: np.ndarray | None = None) -> StreamSummary:
        key = (spec, i, None if log_scale is None else log_scale.tobytes())
        if key not in self.cache:
            self.cache[key] = stream_spec(self.source.draws_coords, spec, self.workload, self.source.bundle,
                                          queries_per_draw=self.q, seed=self.seed + 1000 * i,
                                          log_scale=log_scale)[0]
        return self.cache[key]


def _paper_multiplier(lever: Lever, regime: str, n: int, seed: int) -> np.ndarray:
    p5, p95 = lever.p5_p95[regime]
    ln = get_paper_config("v2").lognormal((p5, p95))
    key = jax.random.fold_in(jax.random.PRNGKey(seed), 7 + list(LEVERS).index(lever.name))
    return np.exp(ln.mu + ln.sigma * np.asarray(jax.random.normal(key, (n,)), np.float64))


def reduction_per_draw(levers: list[Lever], baseline: Baseline, streams: BlendStreams, regime: str) -> np.ndarray:
    """Factor by which the levers together divide the mean Wh per query, per posterior draw."""
    n = streams.source.n_draws
    r = np.ones(n)
    for lever in levers:
        if lever.kind == "paper":
            r = r * _paper_multiplier(lever, regime, n, streams.seed)
    fitted = [lv for lv in levers if lv.kind == "fitted"]
    if fitted:
        sized = any(lv.sized for lv in fitted)
        base_mean, lever_mean = np.zeros(n), np.zeros(n)
        bundle = streams.source.bundle
        for i, member in enumerate(baseline.members):
            base = _sized(member, bundle) if sized else member
            if len(fitted) == 1 and fitted[0].base_change is not None:
                base = fitted[0].base_change(base, bundle)
            changed = base
            for lv in fitted:
                changed = lv.change(changed, bundle)
            base_mean += streams(base, i).per_draw_mean
            lever_mean += streams(changed, i).per_draw_mean
        r = r * base_mean / lever_mean
    return r


def pathways(baseline: Baseline | None = None, *, levers=DEFAULT_SINGLE, combinations: dict | None = None,
             regimes=("traditional", "reasoning"), boundary: str = "facility", posterior=None,
             samples_per_member: int = 200_000, seed: int = 0, bundle=None, where=None,
             move_to: str | None = None) -> dict:
    """Per regime: the baseline's Wh/query, then for each lever alone and each combination the reduction factor
    (posterior of the ratio of mean energies, per draw) and the resulting Wh/query (baseline / factor). JSON-ready.
    ``where`` (an :class:`~.impacts.Where`) and ``move_to`` (another region): the "where" lever, the same load
    moved from one grid to another: the factor on its mean carbon per query, and the carbon in each.

    ``baseline`` defaults to the paper's >200B setting; ``combinations`` maps a row label to lever names."""
    combinations = DEFAULT_COMBINATIONS if combinations is None else combinations
    check_levers(levers)
    for names in combinations.values():
        check_levers(names)
    source = open_posterior(posterior, bundle)
    baseline = baseline if baseline is not None else paper_setting(boundary=boundary)
    for m in baseline.members:
        check_spec(m)
    q = queries_per_draw(samples_per_member, source.n_draws)
    out: dict = {"baseline": baseline.name, "boundary": baseline.members[0].boundary,
                 "boundary_description": BOUNDARY_DESCRIPTIONS[baseline.members[0].boundary], "unit": "Wh/query",
                 "regimes": {}, "levers": {n: {"label": lv.label, "kind": lv.kind, "description": lv.description}
                                           for n, lv in LEVERS.items()},
                 "samples_per_member": source.n_draws * q, "seed": seed, "posterior": source.info}
    for regime in regimes:
        if regime not in PAPER_REGIMES:  # the paper's levers are stated for its two regimes
            raise ValueError(f"unknown regime {regime!r}; choose {' or '.join(PAPER_REGIMES)}")
        base = baseline.for_regime(regime)
        streams = BlendStreams(source, Workload.of(base.members[0]), q, seed)
        base_summary = pool([streams(m, i) for i, m in enumerate(base.members)])
        rows = {}
        for label, names in [*((n, (n,)) for n in levers), *combinations.items()]:
            r = reduction_per_draw(check_levers(names), base, streams, regime)
            scaled = pool([streams(m, i, -np.log(r)) for i, m in enumerate(base.members)])
            rows[label] = {"levers": list(names), "reduction_factor": summarize(r),
                           "reduction_pct_median": 100.0 * (1.0 - 1.0 / float(np.median(r))),
                           "wh_per_query": scaled.summary()}
        out["regimes"][regime] = {"baseline_wh_per_query": base_summary.summary(),
                                  "baseline_mean_per_draw": summarize(base_summary.per_draw_mean), "rows": rows}
        if move_to is not None:
            out["regimes"][regime]["where"] = _where_lever(where, move_to, base, source, base_summary, seed)
    return out


def _where_lever(where, move_to: str, base: Baseline, source, summary, seed: int) -> dict:
    """The same queries served in ``where`` and in ``move_to`` (same year and basis): per draw, the mean carbon per
    query in each and their ratio (the draws of both grids are paired, as the queries are)."""
    from dataclasses import replace as _replace

    from .impacts import per_wh_factors

    if where is None:
        raise ValueError("the where lever moves load from --region to --move-to: give --region too")
    here, basis = per_wh_factors(where, base.members[0], source, seed)
    there, basis_to = per_wh_factors(_replace(where, region=move_to), base.members[0], source, seed)
    c_here, c_there = summary.per_draw_mean * here["carbon_g"], summary.per_draw_mean * there["carbon_g"]
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = c_here / c_there
    return {"from": basis["where"]["label"], "to": basis_to["where"]["label"], "year": basis["where"]["year"],
            "carbon_basis": basis["carbon_basis"]["scope"],
            "mean_carbon_g_per_query": {"from": summarize(c_here), "to": summarize(c_there)},
            "mean_water_ml_per_query": {"from": summarize(summary.per_draw_mean * here["water_ml"]),
                                        "to": summarize(summary.per_draw_mean * there["water_ml"])},
            "carbon_reduction_factor": summarize(factor) if np.all(np.isfinite(factor)) else None}


