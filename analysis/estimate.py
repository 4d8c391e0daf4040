"""Energy per query (or per output token) for one configuration, from the posterior: ``infergy estimate``.

The answer is the posterior predictive distribution over (posterior draw x simulated query): a random query of the
stated shape, served as production serves it (the fitted operating point, unless a batch size is given), with the
parameters' uncertainty included. Summaries are streamed (:mod:`infergy.analysis.propagate`).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data.vocab import BOUNDARY_TABLE
from ..model.throughput import n_draws
from ..model.workload import REGIME_WORKLOAD
from .predict import PREDICT_BOUNDARIES, QuerySpec, check_spec, posterior_draws, prepare
from .propagate import DEFAULT_CACHE_HIT_RATE, QUANTILE_KEYS, StreamSummary, Workload, stream_spec

__all__ = ["Estimate", "PosteriorSource", "estimate", "open_posterior", "BOUNDARY_DESCRIPTIONS",
           "DEFAULT_SAMPLES", "describe_inputs"]

#: Query-samples of an estimate unless told otherwise (1,000 draws x 1,000 queries).
DEFAULT_SAMPLES = 1_000_000
#: Resolved queries a :class:`PosteriorSource` keeps (about 0.3 MB each).
PREPARED_KEPT = 128
BOUNDARY_DESCRIPTIONS = {name: BOUNDARY_TABLE[name].description for name in PREDICT_BOUNDARIES}


@dataclass
class PosteriorSource:
    """A posterior flattened over chains, with its provenance; :func:`open_posterior` makes one."""

    draws_coords: tuple[dict, dict]
    info: dict  # data_hash, version
    path: str
    bundle: object
    data_version: str

    _prepared: OrderedDict = field(default_factory=OrderedDict, repr=False)

    @property
    def n_draws(self) -> int:
        return n_draws(self.draws_coords[0])

    def prepare(self, spec: QuerySpec, seed: int) -> tuple[dict, dict]:
        """:func:`~.predict.prepare` of ``spec`` against this posterior, kept for the :data:`PREPARED_KEPT` queries
        asked last: a server or a notebook asking again skips resolving the query (a fresh copy of what was
        resolved each time; the per-draw arrays are immutable)."""
        key = (spec, int(seed))
        if key in self._prepared:
            self._prepared.move_to_end(key)
        else:
            self._prepared[key] = prepare(self.draws_coords, spec, self.bundle, seed)
            while len(self._prepared) > PREPARED_KEPT:
                self._prepared.popitem(last=False)
        arrays, meta = self._prepared[key]
        return arrays, {k: list(v) if isinstance(v, list) else v for k, v in meta.items()}


def open_posterior(posterior=None, bundle=None) -> PosteriorSource:
    """``posterior``: None (the shipped default), a netCDF path, a DataTree, or an open :class:`PosteriorSource`.
    Checks that it was fitted to the data in ``bundle`` (the shipped tables by default)."""
    if isinstance(posterior, PosteriorSource):
        return posterior
    from ..data import load
    from ..inference.posterior import DEFAULT_POSTERIOR, check_posterior, load_posterior

    bundle = bundle if bundle is not None else load()
    if posterior is None or isinstance(posterior, (str, Path)):
        path = str(posterior) if posterior is not None else f"{DEFAULT_POSTERIOR.name} (shipped default)"
        dt = load_posterior(posterior)
    else:
        dt, path = posterior, "(in memory)"
    check_posterior(dt, bundle)
    info = {"data_hash": str(dt.attrs.get("data_hash", "")), "version": str(dt.attrs.get("infergy_version", ""))}
    return PosteriorSource(posterior_draws(dt), info, path, bundle, str(dt.attrs.get("data_version", "")))


@dataclass
class Estimate:
    """The answer: ``value`` (median, mean, p05, p25, p75, p95) in ``unit`` at ``boundary``, the resolved
    ``inputs``, and the ``posterior`` it came from. ``per_draw_mean`` is the posterior of the mean."""

    value: dict[str, float]
    unit: str
    boundary: str
    inputs: dict
    posterior: dict
    per_draw_mean: np.ndarray = field(repr=False, default=None)
    #: with a region: each impact's quantiles (same keys as ``value``), and the basis (``"carbon_basis"``, where,
    #: units, boundary, sources)
    impacts: dict | None = None

    def to_dict(self) -> dict:
        """The JSON shape of ``infergy estimate --json``."""
        out = {"value": dict(self.value), "unit": self.unit, "boundary": self.boundary, "inputs": self.inputs,
               "posterior": dict(self.posterior)}
        if self.impacts is not None:
            out["impacts"] = self.impacts
        return out


def queries_per_draw(samples: int, n_draws: int) -> int:
    if not samples >= n_draws:
        raise ValueError(f"samples must be at least the number of posterior draws ({n_draws}), got {samples}")
    return int(math.ceil(samples / n_draws))


def _workload_label(regime: str) -> str:
    """Where a regime's lengths come from, in words."""
    trace = f"the Azure 2023 {REGIME_WORKLOAD[regime]} trace's prompts and answers"
    return (trace + ", answers longer by the reasoning ratio (a prior: ~8x, Epoch AI 2025)" if regime == "reasoning"
            else trace)


def describe_inputs(spec: QuerySpec, meta: dict, workload: Workload) -> tuple[dict, list[str]]:
    """Every resolved input of a query (JSON-ready), and the notes on where the answer extrapolates."""
    fixed = spec.output_tokens is not None
    inputs = {
        "model": meta["model"], "total_params_b": meta["total"], "active_params_b": meta["active"],
        "moe": meta["moe"], "model_effect": "fitted" if meta["model_fitted"] else "size regression (unseen model)",
        "gpu": meta["gpu"], "gpu_effect": "fitted" if meta["gpu_fitted"] else "bandwidth line (GPU not benchmarked)",
        "power_curve_gpu": meta["power_curve_gpu"], "n_gpus": meta["n_gpus"], "replica": meta["replica"],
        "precision": meta["precision"],
        "precision_requested": spec.precision,
        "batch_size": (f"{spec.batch_size:g} concurrent queries" if spec.batch_size
                       else "production operating point (posterior)")
        + (f" x {spec.batch_scale:g}" if spec.batch_scale != 1.0 else ""),
        "batch_size_median": meta["batch_median"],
        "input_tokens": spec.input_tokens,
        "output_tokens": spec.output_tokens,
        "regime": None if fixed and spec.input_tokens is not None else spec.regime,
        "workload": None if fixed and spec.input_tokens is not None else _workload_label(spec.regime),
        "input_length": "fixed" if spec.input_tokens is not None else "drawn from the workload"
        + (" given the output length" if fixed else ""),
        "output_length": "fixed" if fixed else "drawn from the workload"
        + (" given the input length" if spec.input_tokens is not None else ""),
        "input_tokens_median": spec.input_tokens or meta["typical_input_tokens"],
        "output_tokens_median": spec.output_tokens or meta["typical_output_tokens"],
        "agent_steps": workload.agent_steps, "tool_tokens_per_step": workload.tool_tokens,
        "cache_hit_rate": workload.cache_hit_rate if workload.agent_steps > 1 else None,
        "engine": spec.engine or "production engine level (posterior)",
        "per": workload.per, "pue": f"{spec.pue:g} (fixed)" if spec.pue is not None
        else f"{spec.operator}'s own fleet average (posterior)" if spec.operator is not None
        else "hyperscale fleet average (posterior)", "pue_median": meta["pue_median"],
        "fleet": f"{spec.operator}'s own host ratio and idle share (posterior)" if spec.operator is not None
        else "a new operator of the population: host ratio and idle share (posterior)",
        "host_ratio_median": meta["host_ratio_median"], "idle_share_median": meta["idle_share_median"],
        "boundary_description": BOUNDARY_DESCRIPTIONS[spec.boundary],
    }
    notes = []
    if meta["precision"] != spec.precision:
        notes.append(f"{meta['gpu']} has no {spec.precision} tensor cores: answered in {meta['precision']}, the "
                     "precision it would serve the model in")
    if not meta["model_fitted"]:
        notes.append("the model was not benchmarked: its throughput is drawn from the size regression, with the "
                     "spread between models")
    if not meta["gpu_fitted"]:
        notes.append(f"{meta['gpu']} was not benchmarked: its throughput is drawn from the memory-bandwidth line")
    if meta["power_curve_gpu"] != meta["gpu"]:
        notes.append(f"no power measurements for {meta['gpu']}: the {meta['power_curve_gpu']} power curve (share "
                     "of TDP vs load) is used at this GPU's TDP")
    if not meta["gpu_precision_fitted"]:
        notes.append(f"{meta['precision']} on {meta['gpu']} was not benchmarked: that pairing's effect is drawn from "
                     "the spread of pairings")
    return inputs, notes


def estimate(model: str | None = None, *, total_params_b: float | None = None, active_params_b: float | None = None,
             moe: bool | None = None, gpu: str = "H100-SXM-80GB", n_gpus: int | None = None, precision: str = "fp8",
             batch_size: float | None = None, input_tokens: float | None = None, output_tokens: float | None = None,
             regime: str = "traditional", boundary: str = "facility", pue: float | None = None,
             engine: str | None = None, operator: str | None = None, per: str = "query",
             agent_steps: int = 1, tool_tokens: float = 0.0, cache_hit_rate: float = DEFAULT_CACHE_HIT_RATE,
             posterior=None, samples: int = DEFAULT_SAMPLES, seed: int = 0, bundle=None,
             spec: QuerySpec | None = None, allow_extreme: bool = False, where=None) -> Estimate:
    """Energy per query (``per="query"``, Wh) or per output token (``per="token"``, J) for a model (by name, or by
    size) on ``n_gpus`` x ``gpu``, from the posterior (the shipped default unless ``posterior`` is given).

    Prompt and answer lengths are drawn per query from the regime's workload, learned from production traces
    (``traditional``: chat, ``code``, ``reasoning``: chat prompts with longer answers), unless ``input_tokens`` or
    ``output_tokens`` fixes them (the other is then drawn given it); ``agent_steps`` > 1 chains that many calls, each reading the input, every previous
    output and ``tool_tokens`` per step, and prefilling only what its prefix cache misses (``cache_hit_rate`` of
    the context it has seen before is a hit). ``batch_size`` None uses the fitted production operating point; ``pue``
    None a hyperscale operator's fleet PUE from the posterior. ``operator``: an operator whose telemetry the
    posterior was fitted to: its engine (unless ``engine`` is given) at its median load (unless ``batch_size`` is).
    ``samples`` query-samples in all. Values past the physical bounds (a PUE of 3 or more, a context longer than
    the model's window, weights larger than the replica's memory, a replica past 1,280 GPUs) are refused unless
    ``allow_extreme``; then the answer carries the reason among its warnings. A load past what the memory holds
    saturates the replica (answered, with a warning). ``where`` (an :class:`~.impacts.Where`: region, year,
    market basis) adds the query's carbon and water, on the same simulated queries (``Estimate.impacts``)."""
    spec = spec if spec is not None else QuerySpec(
        model=model, total_params_b=total_params_b, active_params_b=active_params_b, moe=moe, gpu=gpu,
        n_gpus=n_gpus, precision=precision, input_tokens=input_tokens, output_tokens=output_tokens, regime=regime,
        batch_size=batch_size, boundary=boundary, pue=pue, engine=engine, allow_extreme=allow_extreme)
    check_spec(spec)
    workload = Workload.of(spec, agent_steps=agent_steps, tool_tokens=tool_tokens, per=per,
                           cache_hit_rate=cache_hit_rate)
    workload.check()
    source = open_posterior(posterior, bundle)
    if operator is not None:
        spec = _for_operator(spec, source, operator)
    q = queries_per_draw(samples, source.n_draws)
    plan = None
    if where is not None:
        from .impacts import plan_impacts

        plan = plan_impacts(where, boundary=spec.boundary, per=per, operator=spec.operator, n_draws=source.n_draws,
                            seed=seed)
    summary, meta = stream_spec(source.draws_coords, spec, workload, source.bundle, queries_per_draw=q, seed=seed,
                                prepared=source.prepare(spec, seed),
                                extra_scales=plan.scales if plan else None,
                                extra_rates=plan.rates if plan else None)
    result = _estimate_from(summary, spec, meta, workload, source, seed)
    if plan is not None:
        result.impacts = _impacts_of(summary, plan)
    return result


def _impacts_of(summary: StreamSummary, plan) -> dict:
    """Each impact's quantiles (exactly 0 where the factor is 0 for every draw), then the basis."""
    out = {}
    for name, part in zip(plan.names, summary.extras):
        if name in plan.zero:
            out[name] = {k: 0.0 for k in QUANTILE_KEYS}
            continue
        if part.out_of_range:
            raise ValueError(f"{part.out_of_range:,} of {part.count:,} simulated {name} values fall outside the "
                             "range the answer summarises: the query is past what the model describes")
        value = part.summary()
        out[name] = {k: value[k] for k in QUANTILE_KEYS}
    return {**out, **plan.basis}


def _for_operator(spec: QuerySpec, source: PosteriorSource, operator: str) -> QuerySpec:
    """``spec`` for ``operator``'s fleet: its own host ratio, idle share and PUE (unless a PUE is given), and where
    it has telemetry, its engine at its median load (unless given)."""
    from dataclasses import replace

    from ..model.telemetry import operator_setting

    telemetry = source.bundle.tables.get("telemetry")
    with_telemetry = sorted(telemetry["operator"].astype(str).unique()) if telemetry is not None else []
    named = list(source.draws_coords[1].get("operator", []))
    if operator not in named:
        raise ValueError(f"no rows of operator {operator!r} in the data (its operators: {', '.join(named)}; add that "
                         "operator's PUE, production, breakdown or telemetry rows with --data-add)")
    if operator in with_telemetry:
        setup, load = operator_setting(telemetry, source.draws_coords[1].get("setup", []), operator)
        spec = replace(spec, engine=spec.engine or setup, batch_size=spec.batch_size or load)
    spec = replace(spec, operator=operator)
    check_spec(spec)
    return spec


def _estimate_from(summary: StreamSummary, spec: QuerySpec, meta: dict, workload: Workload, source: PosteriorSource,
                   seed: int) -> Estimate:
    inputs, notes = describe_inputs(spec, meta, workload)
    bench = source.bundle.tables["throughput"]
    max_in, max_out = float(bench["isl"].max()), float(bench["osl"].max())
    if summary.max_context_tokens > max_in:
        notes.append(f"input contexts reach {summary.max_context_tokens:,.0f} tokens, beyond the longest benchmarked "
                     f"input ({max_in:,.0f}): the serving equations carry it, the learned efficiencies are "
                     "extrapolated")
    if (spec.output_tokens or 0.0) > max_out:
        notes.append(f"{spec.output_tokens:,.0f} output tokens is beyond the longest benchmarked output "
                     f"({max_out:,.0f}): the serving equations carry it, the learned efficiencies are "
                     "extrapolated")
    notes += meta["extreme"]
    inputs.update({"max_context_tokens": summary.max_context_tokens, "samples": summary.count,
                   "posterior_draws": source.n_draws, "queries_per_draw": summary.count // source.n_draws,
                   "seed": seed, "posterior_file": source.path, "data_version": source.data_version,
                   "warnings": notes})
    value = summary.summary()
    return Estimate({k: value[k] for k in QUANTILE_KEYS}, workload.unit, spec.boundary, inputs, source.info,
                    summary.per_draw_mean)
