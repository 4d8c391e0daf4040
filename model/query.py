"""A query and the model's parameters for it: what is asked, and how one posterior draw answers it.

:class:`QuerySpec` describes a query (a model by name or size, hardware, lengths, load, boundary).
:func:`resolve_parameters` turns posterior draws into the per-draw arrays the equations
(:mod:`infergy.model.equations`) take for that query: the fitted effect of a benchmarked model, GPU or pairing,
or a new one drawn from its hierarchy (the size regression, the bandwidth line, the interactions' spread) with
its own random stream, so two queries with the same seed share draws (common random numbers).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import jax
import numpy as np
import pandas as pd

from . import equations as eq
from .architecture import kv_bytes_per_token
from .names import EXTREME_HINT, pue_past
from .workload import typical_lengths
from .equations import KV_MEMORY_SHARE
from .physics import REF_BANDWIDTH_TB_S, gpu_spec, kv_budget_b, log_link_b_s, physics, replica_memory_b
from .power import operator_curve
from .production import HOST_RATIO_SPREAD, IDLE_SHARE_SPREAD, fleet_host_ratio, fleet_idle_share
from .pue import fleet_pue, operator_fleet_pue
from .telemetry import engine_operator
from .throughput import (
    INTERACTION_SCALE,
    NOISE_GROUP_OF,
    NOISE_GROUPS,
    PRECISION_LEVELS,
    REF_GPU,
    REF_SPARSITY,
    WEIGHT_BYTES,
    efficiency,
    n_draws,
    parse_layout,
    setup_overheads,
    size_regression,
)
from .throughput import parameters as tp_parameters

__all__ = ["QuerySpec", "default_gpu_count", "resolve_parameters", "PARAMETER_GROUPS", "physics_of", "efficiency_of",
           "power_curve_of"]

_NORMAL_TAGS = ("model", "kv", "attn", "gpu", "gpu_precision", "model_gpu", "pue_operator", "pue_site", "layers",
                "scatter_throughput", "scatter_power", "hidden", "host_operator", "idle_operator")
#: The per-draw arrays :func:`resolve_parameters` returns are named ``<group>_<field>`` for these groups.
PARAMETER_GROUPS = {"phys": eq.Physics, "eff": eq.Efficiency, "power": eq.PowerCurve}


def physics_of(p: dict, expand=lambda v: v) -> eq.Physics:
    """The :class:`~.equations.Physics` in resolved parameters ``p`` (each array passed through ``expand``)."""
    return eq.Physics(*(expand(p[f"phys_{f}"]) for f in eq.Physics._fields))


def efficiency_of(p: dict, expand=lambda v: v) -> eq.Efficiency:
    return eq.Efficiency(*(expand(p[f"eff_{f}"]) for f in eq.Efficiency._fields))


def power_curve_of(p: dict, expand=lambda v: v) -> eq.PowerCurve:
    return eq.PowerCurve(*(expand(p[f"power_{f}"]) for f in eq.PowerCurve._fields))


@dataclass(frozen=True)
class QuerySpec:
    """What is asked: a model (by name, or by size), hardware, query shape, load and boundary."""

    model: str | None = None
    total_params_b: float | None = None
    active_params_b: float | None = None
    moe: bool | None = None
    gpu: str = REF_GPU
    n_gpus: int | None = None  # GPUs per serving replica; None: whole 8-GPU servers, as many as the weights need
    layout: str | None = None  # how the replica spreads ("TP8", "TP4,PP2", "DEP144"); None: tensor parallel
    link_gb_s: float | None = None  # GPU-to-GPU bandwidth, bidirectional as printed; None: the GPU's NVLink/PCIe
    precision: str = "fp8"
    input_tokens: float | None = None  # fixed length; else drawn from the regime's workload
    output_tokens: float | None = None  # fixed length; else drawn from the regime's workload
    regime: str = "traditional"
    batch_size: float | None = None  # None: the fitted production operating point
    batch_scale: float = 1.0  # multiplies the load (a "higher load" lever on the production operating point)
    boundary: str = "facility"
    pue: float | None = None  # None: a hyperscale operator's fleet PUE from the posterior
    operator: str | None = None  # a named operator's fleet: its host ratio, idle share and (with pue None) PUE
    engine: str | None = None  # None: production's engine level; else a benchmarked engine setup (its fitted effect)
    allow_extreme: bool = False  # answer values past the physical bounds (PUE, context window, memory) as hypotheticals

    def __post_init__(self):
        """Numbers coerced to float (an integer count to int) or refused with the field's name: a string that is
        not a number, a boolean, NaN, infinity or a value outside the field's range never reaches the model."""
        for name, (low, inclusive, label) in _NUMBER_FIELDS.items():
            value = getattr(self, name)
            if value is None:
                continue
            number = _number(f"{name}: {label}", value)
            if not (number >= low if inclusive else number > low):
                raise ValueError(f"{name}: {label} must be {'>=' if inclusive else '>'} {low:g}, got {value!r}")
            if name == "n_gpus":
                if number != int(number):
                    raise ValueError(f"n_gpus: {label} must be a whole number, got {value!r}")
                number = int(number)
            object.__setattr__(self, name, number)
        for name in _TEXT_FIELDS:
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{name} must be text, got {type(value).__name__} {value!r}")
        for name in ("gpu", "precision", "regime", "boundary"):
            if getattr(self, name) is None:
                raise ValueError(f"{name} must be given (text), got None")
        if self.moe is not None and not isinstance(self.moe, (bool, np.bool_)):
            raise ValueError(f"moe must be true, false or None, got {self.moe!r}")
        if not isinstance(self.allow_extreme, (bool, np.bool_)):
            raise ValueError(f"allow_extreme must be true or false, got {self.allow_extreme!r}")
        if self.pue is not None and not self.allow_extreme and (why := pue_past(self.pue)):
            raise ValueError(f"pue: {why}: {EXTREME_HINT}")

    def resolved(self) -> dict:
        return asdict(self)


#: Numeric fields of a query: lower bound, whether it is allowed, and what the field is.
_NUMBER_FIELDS = {"total_params_b": (0.0, False, "total parameters (billions)"),
                  "active_params_b": (0.0, False, "active parameters (billions)"),
                  "n_gpus": (1.0, True, "GPUs per replica"), "link_gb_s": (0.0, False, "link bandwidth"),
                  "input_tokens": (0.0, True, "input tokens"), "output_tokens": (0.0, False, "output tokens"),
                  "batch_size": (1.0, True, "batch size"), "batch_scale": (0.0, False, "load scale"),
                  "pue": (1.0, True, "PUE")}
_TEXT_FIELDS = ("model", "gpu", "layout", "precision", "regime", "boundary", "operator", "engine")


def _number(what: str, value) -> float:
    """``value`` as a finite float, or a ``ValueError`` naming the field (``what``)."""
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{what} must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number, got {type(value).__name__} {value!r}") from None
    if not np.isfinite(number):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    return number


#: Tensor-parallel groups within one server; larger replicas are whole 8-GPU servers.
REPLICA_SIZES = (1, 2, 4, 8)
#: KV cache held beside the weights where the model's architecture is not in the table (a share of the weights).
KV_HEADROOM_SHARE = 0.25


def default_gpu_count(total_params_b: float, precision: str, memory_gb: float, kv_cache_gb: float | None = None) -> int:
    """GPUs of one serving replica, as production would size it: the smallest tensor-parallel group (1, 2, 4 or 8
    GPUs, then whole 8-GPU servers) whose KV-cache budget beside the weights holds ``kv_cache_gb`` (the load's
    sequences at their context; a quarter of the weights where the architecture is not known). Llama 3.1 8B at
    BF16 on H100s: 1; 70B: 2; 405B at FP8: 8; DeepSeek-R1 at FP8: 16."""
    weights_b = total_params_b * 1e9 * WEIGHT_BYTES[precision]
    need_b = (KV_HEADROOM_SHARE * weights_b if kv_cache_gb is None or not np.isfinite(kv_cache_gb)
              else kv_cache_gb * 1e9)

    def holds(n: int) -> bool:
        return bool(kv_budget_b(replica_memory_b(n, memory_gb), weights_b) >= need_b)

    for n in REPLICA_SIZES:
        if holds(n):
            return n
    # whole servers: the least count whose memory holds both, solved rather than searched (a huge load is quick)
    per_gpu_b = float(replica_memory_b(1, memory_gb))
    server = REPLICA_SIZES[-1]
    least = (need_b / KV_MEMORY_SHARE + weights_b) / per_gpu_b
    n = max(2 * server, server * math.ceil(min(least, 1e15) / server))
    while not holds(n):  # float rounding at the boundary
        n += server
    return n


#: The most GPUs one serving replica spans unless asked for as an extreme case: 4 x the largest published
#: deployment unit, DeepSeek-V3's decoding stage on 40 nodes of 8 GPUs (DeepSeek-AI, arXiv 2412.19437, sec. 3.4).
MAX_REPLICA_GPUS = 4 * 320
#: A given load whose KV cache at full context exceeds the replica's budget by more than this is said to saturate
#: it: the measured ML.ENERGY v3 configurations ran up to 1.62x that estimate (a sequence in flight holds half its
#: answer on average, engines share prefixes and preempt), so twice the estimate is past what any measured engine
#: held at once. The serving equations then run the batch the memory holds (a smooth minimum of load and KV
#: capacity, as for the saturated benchmark rows): the rest of the load waits.
KV_OVERCOMMIT_MAX = 2.0


def check_replica(*, name: str | None, total_params_b: float, precision: str, gpu: str, memory_gb: float,
                  n_gpus: int, kv_cache_gb: float | None, batch: float | None, context_tokens: float,
                  allow_extreme: bool) -> list[str]:
    """Refuse a replica that could not serve the query (unless ``allow_extreme``; then the reasons come back as
    warnings): more GPUs than :data:`MAX_REPLICA_GPUS`, or weights larger than the GPUs' memory. A given load whose
    KV cache (``kv_cache_gb``: ``batch`` sequences of ``context_tokens``) exceeds :data:`KV_OVERCOMMIT_MAX` times
    the budget beside them saturates the replica: answered, with a warning saying so."""
    what = name or f"a {total_params_b:g}B model"
    problems = []
    if n_gpus > MAX_REPLICA_GPUS:
        problems.append(f"a replica of {n_gpus:,} GPUs is past the largest deployments (refused above "
                        f"{MAX_REPLICA_GPUS:,}: 4 x DeepSeek-V3's 320-GPU decoding unit)")
    weights_b = total_params_b * 1e9 * WEIGHT_BYTES[precision]
    memory_b = float(replica_memory_b(n_gpus, memory_gb))
    if weights_b > memory_b:
        problems.append(f"{what}'s {precision} weights ({weights_b / 1e9:,.0f} GB) do not fit the memory of "
                        f"{n_gpus} x {gpu} ({memory_b / 1e9:,.0f} GB usable): give more GPUs (--gpus)")
    saturated = []
    if (weights_b <= memory_b and batch is not None and kv_cache_gb is not None
            and kv_cache_gb * 1e9 > KV_OVERCOMMIT_MAX * kv_budget_b(memory_b, weights_b)):
        budget_gb = float(kv_budget_b(memory_b, weights_b)) / 1e9
        saturated.append(f"{batch:,.0f} concurrent sequences of {context_tokens:,.0f} tokens need {kv_cache_gb:,.0f} "
                         f"GB of KV cache; {n_gpus} x {gpu} hold {budget_gb:,.0f} GB beside {what}'s weights (measured "
                         f"engines held up to 1.6x that): the replica runs about {batch * budget_gb / kv_cache_gb:,.0f} "
                         "at once and the rest of the load waits (saturated)")
    if problems and not allow_extreme:
        raise ValueError(f"{problems[0]}; {EXTREME_HINT}")
    return [f"{p} (answered as a hypothetical: --allow-extreme)" for p in problems] + saturated


def context_window(bundle, name: str | None) -> float | None:
    """Tokens (prompt + answer) model ``name`` serves, from its architecture row (None where not known)."""
    arch = bundle.tables["architectures"]
    if name is None or "context_window" not in arch:
        return None
    row = arch.loc[arch["model"] == name, "context_window"]
    return float(row.iloc[0]) if len(row) and pd.notna(row.iloc[0]) else None


def check_context(tokens: float, name: str | None, window: float | None, bundle, allow_extreme: bool,
                  detail: str = "") -> list[str]:
    """Refuse a call holding more than ``tokens`` the model's context window (for a model known only by its size,
    the longest window in the data) unless ``allow_extreme``; then a warning saying by how much."""
    if window is not None:
        limit, whose = window, f"{name}'s {window:,.0f}-token context window"
    else:
        longest, limit = longest_context_window(bundle)
        whose = f"the longest context window of any model in the data ({longest}: {limit:,.0f} tokens)"
    if tokens <= limit:
        return []
    problem = f"the query holds {tokens:,.0f} tokens{detail}, {tokens / limit:,.1f} x {whose}"
    if not allow_extreme:
        raise ValueError(f"{problem}: {EXTREME_HINT}")
    return [f"{problem}: answered as a hypothetical (--allow-extreme); the serving equations carry it, the learned "
            "efficiencies are extrapolated"]


def longest_context_window(bundle) -> tuple[str, float]:
    """The model with the longest context window in the architectures table, and that window."""
    arch = bundle.tables["architectures"].dropna(subset=["context_window"])
    row = arch.loc[arch["context_window"].astype(float).idxmax()]
    return str(row["model"]), float(row["context_window"])


def _kv_cache_gb(bundle, name: str | None, precision: str, batch: float, context_tokens: float) -> float | None:
    """GB of KV cache ``batch`` sequences of ``context_tokens`` hold, from the model's architecture row (None where
    the table has no row for it)."""
    arch = bundle.tables["architectures"]
    row = arch[arch["model"] == name]
    if name is None or row.empty:
        return None
    per_token = float(kv_bytes_per_token(row, precision, context_tokens)[0])
    return per_token * context_tokens * batch / 1e9


def _cell(coords: list[str], a: str, b: str) -> int:
    label = f"{a} | {b}"
    return coords.index(label) if label in coords else -1


def _engine(spec: QuerySpec, draws: dict, coords: dict) -> np.ndarray:
    """The engine level per draw: production's (fitted to the operators' disclosures), or a benchmarked setup's."""
    if spec.engine is None:
        return draws["op_log_engine_eff"]
    setups = coords.get("setup", [])
    if spec.engine not in setups:
        raise ValueError(f"unknown engine setup {spec.engine!r}; the fitted setups are: {', '.join(setups)}")
    return draws["tp_d_setup"][:, setups.index(spec.engine)]


def _power_operator(spec: QuerySpec, coords: dict) -> int | None:
    """The index among the posterior's ``power_telemetry`` operators of the operator whose telemetry's engine the
    query runs (its own power curve), or None."""
    operator, power = engine_operator(spec.engine), list(coords.get("power_telemetry", []))
    return power.index(operator) if operator in power else None


def _scatter(spec: QuerySpec, draws: dict, coords: dict, key, n: int) -> np.ndarray:
    """log of how far one configuration's energy lies from the model's mean, per draw: the Student-t scatter
    measured configurations show around the throughput model (in the noise group of the engine setup asked for,
    an operator's own for its telemetry's setup; production's engine level is anchored on TensorRT-LLM's) and
    around the power curve (an operator's own logs' scatter about its own curve)."""
    engine = spec.engine or "trtllm"
    table = "trtllm_perf_overview" if engine.startswith("trtllm") else engine.split("-", 1)[-1]
    operator = engine_operator(spec.engine)
    pw_sigma = np.asarray(draws["pw_sigma"])
    if operator in coords.get("telemetry_operator", []):
        tp_sigma = np.asarray(draws["tp_sigma_telemetry"])[:, coords["telemetry_operator"].index(operator)]
        p = _power_operator(spec, coords)
        if p is not None:
            pw_sigma = np.asarray(draws["pw_sigma_telemetry"])[:, p]
    else:
        table = (engine.split("-") + [""])[1] if not engine.startswith("trtllm") else table
        tp_sigma = np.asarray(draws["tp_sigma"])[:, NOISE_GROUPS.index(NOISE_GROUP_OF.get(table, "other"))]

    def t(tag: str, df) -> np.ndarray:
        return np.asarray(jax.random.t(jax.random.fold_in(key, _NORMAL_TAGS.index(tag)), np.asarray(df), (n,)))

    return -tp_sigma * t("scatter_throughput", draws["tp_nu"]) + pw_sigma * t("scatter_power", draws["pw_nu"])


def resolve_parameters(spec: QuerySpec, draws: dict, coords: dict, bundle, key) -> dict[str, np.ndarray]:
    """Per-draw arrays for the query's model, GPU, precision, power curve and PUE, from posterior ``draws``
    (flattened over chains) and their ``coords``: a fitted group's effect where the data had it, else a new
    group drawn from its hierarchy (``key``). Keys starting with ``_`` describe what was resolved."""
    from ..data.vocab import SERVABLE_PRECISIONS, canonical_gpu, model_name, runnable_precision

    n = n_draws(draws)

    def normal(tag: str) -> np.ndarray:
        # one stream per random effect: two specs with the same seed share each draw (common random numbers), so
        # the ratio of their energies shows what differs between them, not Monte Carlo noise
        return np.asarray(jax.random.normal(jax.random.fold_in(key, _NORMAL_TAGS.index(tag)), (n,)))

    if spec.precision not in SERVABLE_PRECISIONS:
        raise ValueError(f"unknown precision {spec.precision!r}; choose one of {', '.join(SERVABLE_PRECISIONS)}")
    # --- model: fitted effect, or drawn from the size regression
    sizes = bundle.models.set_index("model")
    name = model_name(spec.model) if spec.model else None
    if name is not None and name not in sizes.index and spec.total_params_b is None:
        raise ValueError(f"unknown model {spec.model!r}: give its size with total/active parameters")
    total = spec.total_params_b if spec.total_params_b is not None else (
        float(sizes.loc[name, "total_params_b"]) if name else None)
    if total is None:
        raise ValueError("describe the model: a known model name, or its total (and active) parameters")
    active = spec.active_params_b if spec.active_params_b is not None else (
        float(sizes.loc[name, "active_params_b"]) if name in sizes.index and spec.total_params_b is None else total)
    moe = bool(spec.moe) if spec.moe is not None else (bool(sizes.loc[name, "moe"]) if name in sizes.index else
                                                      active < total)
    if not (total > 0 and 0 < active <= total):
        raise ValueError(f"parameters must satisfy 0 < active <= total, got total {total}, active {active}")
    is_moe = float(moe and active < total)
    log_active_c = math.log(active / 10.0)
    models = coords.get("model", [])
    if name in models:
        a = draws["tp_a_model"][:, models.index(name)]
    else:
        sparsity = math.log(total / active / REF_SPARSITY) if is_moe else 0.0
        a = (size_regression(draws["tp_g0"], draws["tp_g_active"], draws["tp_g_moe"], draws["tp_g_sparsity"],
                             log_active_c, is_moe, sparsity) + draws["tp_tau_model"] * normal("model"))
    # --- GPU: fitted effect, or drawn from the bandwidth line
    gpu = canonical_gpu(spec.gpu, bundle.hardware)
    hw = bundle.hardware[bundle.hardware["kind"] == "gpu"].set_index("gpu")
    if gpu not in hw.index or not np.isfinite(float(hw.loc[gpu, "tdp_w"])):
        raise ValueError(f"no specification (memory, bandwidth, TDP) for GPU {spec.gpu!r}")
    gpus = coords.get("gpu", [])
    spec_gpu = gpu_spec(bundle.hardware, gpu, "bf16")
    bw = spec_gpu.bandwidth_tb_s
    if gpu in gpus:
        b = draws["tp_b_gpu"][:, gpus.index(gpu)]
        log_bw_c = (np.full(n, math.log(bw / REF_BANDWIDTH_TB_S)) if np.isfinite(bw)
                    else draws["tp_log_bw_latent"][:, gpus.index(gpu)])
    else:
        if not np.isfinite(bw):
            raise ValueError(f"GPU {gpu} was not benchmarked and has no published memory bandwidth")
        log_bw_c = np.full(n, math.log(bw / REF_BANDWIDTH_TB_S))
        b = draws["tp_k_bw"] * log_bw_c + draws["tp_tau_gpu"] * normal("gpu")
    memory_gb = spec_gpu.memory_gb
    # --- precision: what this GPU would serve the request in (no FP8 tensor cores on an A100, no FP4 on Hopper)
    precision = runnable_precision(bundle.hardware, gpu, spec.precision)
    layout = parse_layout(spec.layout, spec.n_gpus) if spec.layout else None
    if layout is not None and is_moe == 0.0 and layout.expert_parallel > 1:
        raise ValueError(f"layout {spec.layout!r}: expert parallelism needs a mixture of experts; "
                         f"{name or 'this model'} is dense")
    if spec.link_gb_s is not None and not (np.isfinite(spec.link_gb_s) and spec.link_gb_s > 0):
        raise ValueError(f"link bandwidth must be a positive number of GB/s, got {spec.link_gb_s}")
    # the load's sequences at the query's context (the workload's medians where it is drawn)
    batch = (spec.batch_size or float(np.exp(np.median(draws["op_log_batch"])))) * spec.batch_scale
    typical_in, typical_out = typical_lengths(draws, spec.regime, bundle.tables["request_lengths"])
    context = (spec.input_tokens or typical_in) + (spec.output_tokens or typical_out)
    kv_gb = _kv_cache_gb(bundle, name, precision, batch, context)
    if layout is not None:
        n_gpus, replica = layout.n_gpus, f"given ({spec.layout})"
    elif spec.n_gpus:
        n_gpus, replica = spec.n_gpus, "given"
    else:  # sized for that load
        n_gpus = default_gpu_count(total, precision, memory_gb, kv_gb)
        replica = (f"smallest group holding the {precision} weights ({total * WEIGHT_BYTES[precision]:,.0f} GB) and "
                   + (f"the KV cache of {batch:,.0f} sequences of {context:,.0f} tokens ({kv_gb:,.1f} GB)"
                      if kv_gb is not None else "a quarter of them again for the KV cache (architecture not in "
                      "the table)"))
    window = context_window(bundle, name)
    extreme = check_context(context, name, window, bundle, spec.allow_extreme,
                            "" if spec.input_tokens and spec.output_tokens else " (at the workload's median lengths)")
    extreme += check_replica(name=name, total_params_b=total, precision=precision, gpu=gpu, memory_gb=memory_gb,
                            n_gpus=n_gpus, kv_cache_gb=kv_gb, batch=spec.batch_size and batch, context_tokens=context,
                            allow_extreme=spec.allow_extreme)
    # --- precision and the two interactions
    c = draws["tp_c_precision"][:, PRECISION_LEVELS.index(precision)]
    gp = _cell(coords.get("gpu_precision_cell", []), gpu, precision)
    e_gp = draws["tp_e_gpu_precision"][:, gp] if gp >= 0 else INTERACTION_SCALE * normal("gpu_precision")
    mg = _cell(coords.get("model_gpu_cell", []), name or "", gpu)
    tau_mg = draws.get("tp_tau_model_gpu", np.full(n, INTERACTION_SCALE))
    e_mg = draws["tp_e_model_gpu"][:, mg] if mg >= 0 else tau_mg * normal("model_gpu")
    # --- power curve: the GPU's own where measured, else the reference GPU's shares at this GPU's TDP
    power_gpus = coords.get("power_gpu", [])
    pg = power_gpus.index(gpu) if gpu in power_gpus else power_gpus.index(REF_GPU)
    # --- the fleet: a named operator's own host ratio, idle share and PUE, or a new operator of the population
    operators = list(coords.get("operator", []))
    if spec.operator is not None and spec.operator not in operators:
        raise ValueError(f"the posterior has no operator {spec.operator!r} (its operators: {', '.join(operators)}; "
                         "add that operator's rows with --data-add)")
    o = operators.index(spec.operator) if spec.operator is not None else None
    if o is not None:
        host, idle = np.asarray(draws["op_host_operator"])[:, o], np.asarray(draws["op_idle_operator"])[:, o]
    else:
        host = np.asarray(fleet_host_ratio(draws["op_host_ratio"], HOST_RATIO_SPREAD * normal("host_operator")))
        idle = np.asarray(fleet_idle_share(draws["op_idle_share"], IDLE_SHARE_SPREAD * normal("idle_operator")))
    if spec.pue is not None:  # PUE: fixed, the operator's fleet average, or a hyperscale operator's (a new draw)
        if spec.pue < 1.0:
            raise ValueError(f"PUE must be >= 1, got {spec.pue}")
        pue = np.full(n, float(spec.pue))
    elif o is not None:
        pue = operator_fleet_pue(draws, o, normal("pue_site"))
    else:
        pue = fleet_pue(draws, normal("pue_operator"), normal("pue_site"))
    arch = bundle.tables["architectures"]
    # a fitted model lacking architecture values was fitted at the size lines' means; an unseen one gets their spread
    z = ({} if name in models else
         {"kv_full_values": normal("kv"), "attn_full_flops": normal("attn"), "layers": normal("layers"),
          "hidden": normal("hidden")})
    # one row: only what the size lines guess (with per-draw z) varies by draw; the rest broadcasts below
    phys = physics(bundle.hardware, arch, bundle.models, model_names=[name], total_params_b=[total],
                   active_params_b=[active], gpus=[gpu], precisions=[precision], n_gpus=[float(n_gpus)], z=z,
                   **({} if layout is None else dict(comm_gpus=[layout.comm_gpus], dp_width=[layout.dp_width],
                                                     pipeline_stages=[layout.pipeline_stages])))
    phys = phys._replace(log_bw_b_s=np.log(REF_BANDWIDTH_TB_S * 1e12) + log_bw_c)
    log_ngpu = math.log(n_gpus)
    delta = (a + b + c + e_gp + e_mg + draws["tp_beta_ngpu"] * float(eq.log_split_gpus(phys)[0])
             + _engine(spec, draws, coords))
    eff = efficiency(tp_parameters(draws), delta, phys, setup_overheads(draws, coords, spec.engine))
    if spec.link_gb_s is not None:  # a given network (InfiniBand between servers) at the GPU's own link efficiency
        phys = phys._replace(log_link_b_s=log_link_b_s([spec.link_gb_s]))
    p_op = _power_operator(spec, coords)  # an operator's telemetry engine runs on that operator's own curve
    idle_share, peak_share, log_b50 = ((draws["pw_idle_share"][:, pg], draws["pw_peak_share"][:, pg],
                                        draws["pw_log_batch50"][:, pg]) if p_op is None
                                       else operator_curve(draws, pg, p_op))
    power = eq.PowerCurve(idle=idle_share, peak=peak_share, log_batch50=log_b50,
                          log_adjustment=eq.log_power_adjustment(draws["pw_beta_ngpu"], log_ngpu,
                                                                 draws["pw_beta_size"], log_active_c),
                          tdp_w=np.full(n, float(hw.loc[gpu, "tdp_w"])))
    grouped = {f"{group}_{f}": np.broadcast_to(np.asarray(v, float), (n,))
               for group, values in (("phys", phys), ("eff", eff), ("power", power))
               for f, v in values._asdict().items()}
    return {
        **grouped,
        "log_batch": (np.full(n, math.log(spec.batch_size)) if spec.batch_size else draws["op_log_batch"])
        + math.log(spec.batch_scale),
        "log_scatter": _scatter(spec, draws, coords, key, n),
        "host_ratio": host, "pue": pue, "idle_share": idle,
        "_n_gpus": n_gpus, "_replica": replica, "_extreme": extreme, "_context_window": window, "_gpu": gpu, "_precision": precision, "_model": name, "_total": total, "_active": active, "_moe": moe,
        "_model_fitted": name in models, "_gpu_fitted": gpu in gpus, "_gpu_precision_fitted": gp >= 0,
        "_model_gpu_fitted": mg >= 0, "_power_curve_gpu": power_gpus[pg],
        "_batch_median": float(np.exp(np.median(draws["op_log_batch"]))) * spec.batch_scale
        if not spec.batch_size else spec.batch_size * spec.batch_scale,
        "_pue_median": float(np.median(pue)), "_host_ratio_median": float(np.median(host)),
        "_idle_share_median": float(np.median(idle)),
    }
