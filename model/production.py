"""Production operating point: how real serving differs from benchmarks, calibrated by operators' disclosures.

Benchmarks run one engine at saturation; production serves at a moderate load, on engines tuned for latency,
with hosts, idle reserve capacity and cooling around the accelerators. Four latent quantities describe that:

    op_log_batch       log concurrent sequences per GPU replica in production      Normal(log 32, 0.8)
    production engine  one more engine from the benchmarked engines' population: its efficiency logit and the
                       log shifts of its per-layer and per-sequence step overheads vs the reference setup,
                       tau_setup z_1, tau_o z_2, tau_t z_3 (the throughput fit's spreads; z ~ Normal(0, 1))
    op_host_ratio      host (CPU, DRAM, network, fans) power / accelerator power,    LogNormal(log 0.82, 0.5)
                       the population's median fleet
    op_idle_share      share of provisioned energy spent idle or in reserve, the      Beta(1.84, 8.16)
                       population's median fleet

Operators are a level: each named operator (a PUE, production, breakdown or telemetry row names it) has its own
host ratio and idle share, partially pooled with the population's, beside its own PUE (:mod:`.pue`):

    host_o = op_host_ratio exp(0.3 z_o)                     z_o, z'_o ~ Normal(0, 1)
    idle_o = logistic(logit(op_idle_share) + 0.5 z'_o)

(the spreads stated from the servers' nameplate splits and two operators' idle shares: one breakdown cannot
learn them)

A row of an operator reads that operator's; a row that names none, and the public answer, a new operator's draw.

Where the two last priors come from (neither from the disclosures they are checked against):
- host ratio: centred on the reference server's nameplate split, NVIDIA DGX H100: 10.2 kW for the system, 8 x
  700 W for its GPUs, so 4.6 kW of host over 5.6 kW of GPUs (data/hardware.csv; DGX B200 0.79, DGX A100 1.03).
  A host rarely draws its nameplate while the GPUs draw near theirs, so the width is wide and reaches down:
  90% 0.36-1.87.
- idle share: centred on what a fleet provisioned for its daily peak leaves idle, from DeepSeek's 24-hour
  occupancy (data/service_statistics.csv: peak 278, mean 226.75 nodes, so 18.4% of node-hours), with a
  concentration of 10 (90% 0.03-0.41): DeepSeek lends its night-time nodes to research, and operators also keep
  failover reserve above the peak.
The production batch's Normal(log 32, 0.8) has no such source yet: it is the data's to decide (the API speeds).

A disclosure (e.g. Google's median Gemini prompt: 0.24 Wh comprehensive, 0.10 Wh active accelerators only)
is predicted with the fitted throughput, power and PUE sub-models at the production operating point:

    E_gpu      = n (P_prefill t_prefill + P_decode t_decode) / 3600    (equations.serving_times at batch B)
    E_boundary = E_gpu * [1 + host] * [PUE] / [1 - idle]      (the brackets a boundary includes)
    log y ~ Normal(log E_boundary, REPORTING_SD)

An operator's breakdown of its comprehensive energy (data/energy_shares.csv: Google's accelerators 58%, host CPU
and DRAM 25%, idle machines 10%, data-centre overhead 8%) observes the same factors directly:

    shares = equations.energy_shares(host, PUE_operator, idle)    share_obs ~ Normal(shares, SHARE_SD)

One operator has published such a breakdown: it decides that operator's host ratio and idle share, and the
population's only through the pooling (the spreads are priors until more operators publish theirs). A row that
restates a service another row measured, under another accounting, is not a second observation
(:data:`OTHER_ACCOUNTINGS`).

The output speed one request sees on an API (data/api_speeds.csv: models of known size) is that of a replica
busy at the production batch b: requests finish one per ``prefill_s + decode_s`` replica-seconds and b decode at
once, so the other requests' prefills slow each one's steps. It observes the batch and the production engine's
overheads through the same serving equations:

    log tps_user ~ Normal(log output - log b - log(prefill_s + decode_s), sigma_api)
                   (equations.log_request_speed_tok_s; model, H100-class GPUs x provider hardware, production engine)

with the replica production would size for the model (:func:`~.query.default_gpu_count`), FP8 weights, the
provider's hardware a latent scale of the H100's bandwidth and FLOP/s, and the context a latent length (prior
from the Azure 2023 production traces).

A service that stated its load (:mod:`.service`: DeepSeek's decode units of 144 GPUs at ~12,700 sequences,
attention data-parallel, experts spread, tokens exchanged over InfiniBand; prefill units of 32) observes the
production engine at a scale no benchmark ran at, through the same serving equations:

    log rate ~ Normal(service.service_log_rates(serving_times(unit, production engine, stated load)), REPORTING_SD)

for its decode output tokens/s per node, the speed one request sees and its prefill input tokens/s per node.

What a disclosure does not say is integrated out with stated priors, shared by the rows of one population
(same source): the serving model's active parameters (its architecture then from the size lines), the token
counts, the hardware (an H100 scaled in bandwidth and FLOP/s), and, where the boundary is undisclosed, how much of the facility it covers (a
uniform share, on the log scale, between the accelerator and the comprehensive boundary).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pandas as pd

from ..data.vocab import BOUNDARY_TABLE
from . import equations as eq
from .architecture import NO_WINDOW_TOKENS, SizeLines
from .physics import REF_BANDWIDTH_TB_S, gpu_spec, log_link_b_s, physics
from .power import curve_of
from .throughput import PRECISION_LEVELS, REF_GPU, REF_SPARSITY, efficiency, size_regression

__all__ = [
    "HOST_RATIO_PRIOR",
    "HOST_RATIO_SPREAD",
    "IDLE_SHARE_PRIOR",
    "IDLE_SHARE_SPREAD",
    "OPERATING_POINT_DECIDERS",
    "PRODUCTION_BOUNDARIES",
    "PRODUCTION_PRIORS",
    "ProductionArrays",
    "ProductionDesign",
    "build_production_design",
    "engine_log_efficiency",
    "fleet_host_ratio",
    "fleet_idle_share",
    "fleet_levels",
    "fleet_operators",
    "idle_share_beta",
    "production_load",
    "production_model",
    "production_operator",
    "production_refusals",
    "service_refusals",
    "usable_production_rows",
]

#: The production operating point's sites, and the data that would decide each where the disclosures leave it
#: near its prior (``infergy learned``).
OPERATING_POINT_DECIDERS = {
    "op_log_batch": "an operator's own concurrency per replica, or per-request speeds beside per-GPU throughput "
                    "of one service (a service that states its load, as DeepSeek does, informs the engine at that "
                    "load, not the batch other operators run at)",
    "op_log_engine_eff": "measured production throughput per GPU next to a benchmark of the same engine "
                         "generation",
    "op_overhead_engine": "per-request speeds of small and large models on stated hardware (the per-layer "
                          "overhead is the part of a step that does not grow with the model's bytes)",
    "op_token_overhead_engine": "the production engine's time per sequence and step: decode throughput of one "
                                "service at several stated loads (at DeepSeek's one load, ~88 sequences per rank, "
                                "it is ~2 of ~43 ms a step); per-request speeds alone trade it against the batch",
    "op_host_ratio": "more operators' breakdowns of their energy (one operator's, Google's host CPU and DRAM 25% "
                     "beside the accelerators' 58%, decides its own host ratio, the population's only through the "
                     "pooling)",
    "op_idle_share": "more operators' idle shares (Google's 10% decides its own) or occupancy curves over a day",
    "op_host_operator": "an operator's own rows: its breakdown, its telemetry metered at the nodes, or its per-query "
                        "energy at the node boundary beside its telemetry",
    "op_idle_operator": "an operator's own breakdown, or its per-query energy with and without idle capacity",
}

#: Host ratio prior (log-normal: median, sd of the log): the DGX H100 nameplate split (module docstring).
HOST_RATIO_PRIOR = ((10_200.0 - 8 * 700.0) / (8 * 700.0), 0.5)
#: Idle share prior (Beta: mean, concentration): 1 - mean / peak of DeepSeek's daily node occupancy.
IDLE_SHARE_PRIOR = (1.0 - 226.75 / 278.0, 10.0)
#: How far operators' host ratios spread about the population's median (sd of the log; stated, not learned): one
#: vendor's 8-GPU servers' nameplate splits spread by 0.17 (DGX A100 1.03, H100 and H200 0.82, B200 0.79, B300
#: 0.65: data/hardware.csv), and operators build their own hosts, so about twice that.
HOST_RATIO_SPREAD = 0.3
#: How far operators' idle shares spread (sd of the logit; stated): Google's breakdown (10%) and DeepSeek's daily
#: occupancy (18% of node-hours idle) are 0.71 apart on the logit scale, 1.4 spreads.
IDLE_SHARE_SPREAD = 0.5


def idle_share_beta() -> tuple[float, float]:
    """The idle share prior's Beta(a, b)."""
    mean, conc = IDLE_SHARE_PRIOR
    return mean * conc, (1.0 - mean) * conc


#: Boundary -> (host included, PUE included, idle capacity included); None: undisclosed (latent share). A
#: life-cycle total is not an operational measurement: no row of it calibrates the operating point.
PRODUCTION_BOUNDARIES: dict[str, tuple[bool, bool, bool] | None] = {
    name: b.switches for name, b in BOUNDARY_TABLE.items() if name != "lifecycle"}
#: Priors for what a disclosure leaves out (log-normal: median, sd of the log).
PRODUCTION_PRIORS = {
    "active_params_b": (50.0, 1.0),  # frontier chat default: ~10-260B active (90%)
    "output_tokens": (300.0, 0.8),  # the paper's traditional-regime median
    "input_tokens": (500.0, 1.0),
    "hardware_log_sd": 0.5,  # unknown accelerator: throughput within ~x2.3 of an H100 (90%)
    "n_gpus": 8,  # one 8-GPU server per replica (more where the weights need them)
}
REPORTING_SD = 0.15  # rounding, median vs mean, period of measurement (log scale)
#: API rows: the provider's accelerators, as a log scale of the H100's bandwidth and FLOP/s (A100 to B200 class
#: within about x0.6-1.6, 90%), and the context a decode step reads: the Azure LLM inference traces (Patel et al.,
#: ISCA 2024) put the median prompt at 1,020 (chat) and 1,469 (code) tokens; wide around 1,200.
API_HARDWARE_LOG_SD = 0.3
API_CONTEXT_TOKENS = (1200.0, 0.7)
API_OUTPUT_TOKENS = 300.0  # each request's output: its decode steps read a context growing by half of it
#: Shares are published to whole percent (uniform rounding error: sd 0.29 points); one point allows for the shares
#: describing the median prompt's energy, not the fleet's.
SHARE_SD = 0.01
#: Production rows that restate a service another row measured, under another accounting: not calibration data.
OTHER_ACCOUNTINGS = {
    "PQ-002": "Google's recomputation of the PQ-001 prompts under the narrow accounting other studies use (active "
              "accelerators only, 0.10 Wh); Google's own accelerator share of PQ-001 is 58% (0.14 Wh), so the two "
              "differ in method, not only in boundary (energy_shares.csv carries the breakdown)",
}
#: Disclosures whose PUE is the operator's own (matched in the PUE table), by a keyword of the source.
OPERATOR_HINTS = {"Google": "Google", "Gemini": "Google", "OpenAI": "Microsoft", "ChatGPT": "Microsoft",
                  "Azure": "Microsoft", "Meta": "Meta", "AWS": "AWS", "Amazon": "AWS"}


def production_refusals(production: pd.DataFrame) -> pd.Series:
    """Why the fit leaves each row out (``""`` where it uses it): it calibrates on operators' own per-query
    measurements of a production service with a value and an operating boundary, less other accountings of a
    service already measured (:data:`OTHER_ACCOUNTINGS`)."""
    from .usage import first_reason

    disclosed = production["operator_disclosure"].fillna(False).astype(bool)  # missing: not an operator's own
    ids = production["id"].astype(str)
    return first_reason(production.index, [
        (production["kind"] != "measurement",
         "kind '" + production["kind"].astype(str) + "': a modelled figure is a comparator, not data (fitting it "
         "would count another model's assumptions as evidence)"),
        (~disclosed, "not an operator's measurement of its own production service (operator_disclosure is not "
                     "true): a benchmark setup's energy is checked against, not calibrated on"),
        (ids.isin(list(OTHER_ACCOUNTINGS)), "another accounting of a service already measured: "
         + ids.map(OTHER_ACCOUNTINGS).fillna("")),
        (production["wh_per_query"].isna(), "no wh_per_query (a range or a per-token figure only)"),
        (~production["boundary"].isin(list(PRODUCTION_BOUNDARIES)),
         "boundary '" + production["boundary"].astype(str) + "' is not an operating boundary "
         f"({', '.join(PRODUCTION_BOUNDARIES)})"),
    ])


def usable_production_rows(production: pd.DataFrame) -> pd.DataFrame:
    """Operators' own per-query measurements (:func:`production_refusals` gives the others' reasons)."""
    return production[(production_refusals(production) == "").to_numpy()].reset_index(drop=True)


def service_refusals(service: pd.DataFrame, throughput_rows: pd.DataFrame) -> pd.Series:
    """Why the service likelihood leaves each row out (``""`` where it uses it): it observes the rates of the one
    deployment :mod:`.service` lays out (DeepSeek's), at the load the service's other rows state."""
    from .service import SERVICE_MODEL, SERVICE_OPERATOR, SERVICE_QUANTITIES
    from .usage import first_reason

    quantity = service["quantity"].astype(str)
    role = quantity.map(SERVICE_ROW_ROLES).fillna("")
    benchmarked = SERVICE_MODEL in set(throughput_rows["model"])
    return first_reason(service.index, [
        (service["operator"].astype(str) != SERVICE_OPERATOR,
         "operator '" + service["operator"].astype(str) + f"': only {SERVICE_OPERATOR}'s deployment is laid out "
         "(model/service.py); another service's rates need its layout, load and hardware there"),
        (~quantity.isin(SERVICE_QUANTITIES), "not a likelihood: " + role),
        (pd.Series(not benchmarked, index=service.index),
         f"{SERVICE_MODEL} has no throughput rows, so the serving physics cannot be evaluated for it"),
    ])


#: What a service statistic that is not an observed rate does.
SERVICE_ROW_ROLES = {
    "kv_length_per_output_token": "it sets the context the service's decode steps read",
    "cache_hit_share": "it sets the prompt tokens the prefill units compute",
    "decode_unit_nodes": "it sets the decode unit's GPUs",
    "prefill_unit_nodes": "it sets the prefill unit's GPUs",
    "scale_out_link_gb_s": "it sets the network the experts' tokens cross",
    "nodes_peak": "with nodes_mean, the idle share's prior centre cites it (a fleet sized for its daily peak)",
    "nodes_mean": "with nodes_peak, the idle share's prior centre cites it (a fleet sized for its daily peak)",
    "input_tokens_per_day": "context: the day's volume (its rates per node are the observations)",
    "output_tokens_per_day": "context: the day's volume (its rates per node are the observations)",
}


class ProductionArrays(NamedTuple):
    pop_idx: jnp.ndarray  # per row: its population (rows of one source share the unknowns)
    boundary_host: jnp.ndarray  # per row, 0/1
    boundary_pue: jnp.ndarray
    boundary_idle: jnp.ndarray
    boundary_unknown: jnp.ndarray  # 1 where the boundary is undisclosed
    # per population: known values (NaN -> latent)
    pop_log_active_c: jnp.ndarray  # log(active / 10B); latent where NaN
    pop_log_out: jnp.ndarray  # log output tokens; latent where NaN
    pop_log_in: jnp.ndarray
    pop_model_idx: jnp.ndarray  # index into the throughput model list, -1 if not a fitted model
    pop_gpu_idx: jnp.ndarray  # index into the throughput GPU list, -1 if unknown hardware
    pop_moe: jnp.ndarray
    pop_log_sparsity_c: jnp.ndarray
    pop_operator_idx: jnp.ndarray  # index into the PUE operators, -1 for a new hyperscale operator
    pop_physics: object  # equations.Physics per population (a named model's; an unnamed one's is set in the model)
    pop_named: jnp.ndarray  # 1 where the population's model is in the tables (its physics is known)
    size_lines: jnp.ndarray  # (4, 2): intercept and slope of log KV values, attention FLOPs, layers, hidden size
    ref_gpu_idx: jnp.ndarray  # scalar: the reference GPU in the throughput list
    power_ref_idx: jnp.ndarray  # scalar: the power curve used (H100's where fitted)
    power_tdp_w: jnp.ndarray  # scalar: TDP of that GPU
    share_component: jnp.ndarray  # per breakdown row: its component (tables.ENERGY_COMPONENTS order)
    share_group: jnp.ndarray  # per breakdown row: its operator among those with a breakdown
    share_operator_idx: jnp.ndarray  # per breakdown operator: index into the named operators (fleet_operators)
    api_physics: object  # equations.Physics per API row (size known, architecture from the size lines)
    api_provider: jnp.ndarray  # per API row: its provider
    api_hardware_sd: jnp.ndarray  # per provider: prior sd of its hardware's log scale (API_HARDWARE_LOG_SD)
    api_log_active_c: jnp.ndarray  # per API row: log(active / 10B)
    api_moe: jnp.ndarray
    api_log_sparsity_c: jnp.ndarray
    # a service that stated its load (model.service); the defaults: none
    svc_physics: object = eq.Physics(*(np.zeros(0, np.float32) for _ in eq.Physics._fields))  # decode, prefill unit
    svc_log_link_b_s: jnp.ndarray = np.float32(0.0)  # log bytes/s one GPU sends over the scale-out network
    svc_model_idx: jnp.ndarray = np.int32(0)  # the service's model in the throughput model list
    svc_cells: jnp.ndarray = np.array([-1, -1])  # its GPU x precision, model x GPU cells in the throughput fit
    svc_log_load: jnp.ndarray = np.float32(0.0)  # log of the sequences a decode unit runs at the stated load
    svc_prompt_tokens: jnp.ndarray = np.float32(1.0)
    svc_prefill_tokens: jnp.ndarray = np.zeros(0, np.float32)  # per unit: prompt tokens computed (cache misses)
    svc_output_tokens: jnp.ndarray = np.float32(1.0)
    svc_gpus: jnp.ndarray = np.zeros(0, np.float32)  # per unit: GPUs of the decode and of the prefill unit
    svc_gpus_per_node: jnp.ndarray = np.float32(1.0)


@dataclass(frozen=True)
class ProductionDesign:
    arrays: ProductionArrays
    y_log_wh: np.ndarray | None
    populations: tuple[str, ...]
    rows: pd.DataFrame
    y_share: np.ndarray | None = None  # breakdown shares (fractions), per energy_shares row
    share_rows: pd.DataFrame | None = None
    y_api_log_tps: np.ndarray | None = None  # log output tok/s one request sees, per api_speeds row
    api_rows: pd.DataFrame | None = None
    providers: tuple[str, ...] = ()
    y_service_log: np.ndarray | None = None  # log of the rates a service stated (model.service.SERVICE_QUANTITIES)
    service_rows: pd.DataFrame | None = None

    @property
    def sizes(self) -> dict[str, int]:
        return dict(n_populations=len(self.populations))


def _gpu(hardware) -> str | None:
    """The GPU id where ``hardware`` names exactly one known GPU (e.g. a user's 'H100-SXM-80GB'), else None."""
    from ..data.vocab import canonical_gpu

    try:
        return canonical_gpu(str(hardware)) if pd.notna(hardware) else None
    except ValueError:
        return None


def production_operator(row: pd.Series) -> str | None:
    """The operator a production row measures: its ``operator`` where given, else the known operator its source,
    system or hardware names (:data:`OPERATOR_HINTS`), else None (a new operator of the population)."""
    given = row.get("operator")
    if given is not None and pd.notna(given) and str(given).strip():
        return str(given).strip()
    text = " ".join(str(row[c]) for c in ("source", "model_or_system", "hardware") if pd.notna(row.get(c)))
    for key, operator in OPERATOR_HINTS.items():
        if key.lower() in text.lower():
            return operator
    return None


def fleet_operators(production: pd.DataFrame, shares: pd.DataFrame | None = None,
                    telemetry: pd.DataFrame | None = None) -> tuple[str, ...]:
    """The operators the production rows, breakdowns and telemetry name: each is a level of the model (its own PUE,
    host ratio and idle share, pooled with the population's), with or without PUE rows of its own."""
    named = {production_operator(r) for _, r in production.iterrows()} - {None}
    for table in (shares, telemetry):
        if table is not None and len(table):
            named |= set(table["operator"].astype(str))
    return tuple(sorted(named))


def fleet_host_ratio(host_ratio, shift):
    """A fleet's host ratio: the population's median ``host_ratio`` shifted by ``shift`` (its effect, ``tau z``) on
    the log scale (the likelihood and the answers both read it here)."""
    return host_ratio * jnp.exp(shift)


def fleet_idle_share(idle_share, shift):
    """A fleet's idle share: the population's median ``idle_share`` shifted by ``shift`` on the logit scale."""
    return jax.nn.sigmoid(jnp.log(idle_share) - jnp.log1p(-idle_share) + shift)


def build_production_design(rows: pd.DataFrame, models: pd.DataFrame, hardware: pd.DataFrame,
                            architectures: pd.DataFrame, throughput_design, power_design, pue_design,
                            with_observations: bool = True, shares: pd.DataFrame | None = None,
                            api: pd.DataFrame | None = None, service: pd.DataFrame | None = None) -> ProductionDesign:
    """Arrays for :func:`production_model` (rows from :func:`usable_production_rows`; ``shares``: operators'
    breakdowns of their comprehensive energy, the energy_shares table; ``api``: the api_speeds table; ``service``:
    the service_statistics table, whose stated rates count where its model was benchmarked)."""
    from ..data.tables import ENERGY_COMPONENTS
    from .query import default_gpu_count

    from ..data.vocab import model_name

    if rows.empty:
        raise ValueError("no production measurements to calibrate the operating point")
    pop_keys = rows["source"].fillna("").astype(str).tolist()
    pops = tuple(dict.fromkeys(pop_keys))
    first = rows.groupby(pd.Series(pop_keys, index=rows.index), sort=False).first().loc[list(pops)]
    tp_models = list(throughput_design.models)
    tp_gpus = list(throughput_design.gpus)
    sizes = models.set_index("model")
    model_idx, active, moe, sparsity, names = [], [], [], [], []
    for _, r in first.iterrows():
        name = model_name(str(r["model_or_system"])) if pd.notna(r["model_or_system"]) else None
        known = name in sizes.index if name else False
        model_idx.append(tp_models.index(name) if name in tp_models else -1)
        if known:
            t, a, m = (float(sizes.loc[name, "total_params_b"]), float(sizes.loc[name, "active_params_b"]),
                       bool(sizes.loc[name, "moe"]))
        else:
            t, a, m = np.nan, np.nan, False
        active.append(np.log(a / 10.0) if np.isfinite(a) else np.nan)
        moe.append(float(m and a < t))
        sparsity.append(np.log(t / a / REF_SPARSITY) if m and a < t else 0.0)
        names.append((name, t, a) if known else (None, 10.0, 10.0))
    pop_gpus = [_gpu(h) for h in first["hardware"]]
    gpu_idx = [tp_gpus.index(g) if g in tp_gpus else -1 for g in pop_gpus]
    lines = SizeLines(architectures, models)
    phys = physics(hardware, architectures, models, model_names=[n for n, _, _ in names],
                   total_params_b=[t for _, t, _ in names], active_params_b=[a for _, _, a in names],
                   gpus=[g if g is not None else REF_GPU for g in pop_gpus], precisions=["fp8"] * len(names),
                   n_gpus=[PRODUCTION_PRIORS["n_gpus"]] * len(names), lines=lines)
    operators = list(pue_design.operators)
    op_idx = [operators.index(op) if (op := production_operator(r)) in operators else -1 for _, r in first.iterrows()]
    shares = (shares if shares is not None else pd.DataFrame(columns=["operator", "component", "share_pct"]))
    shares = shares.reset_index(drop=True)
    share_ops = tuple(dict.fromkeys(shares["operator"].astype(str)))
    api = (api if api is not None else pd.DataFrame(columns=["provider", "total_params_b", "active_params_b",
                                                              "tps_per_user_tok_s"])).reset_index(drop=True)
    providers = tuple(dict.fromkeys(api["provider"].astype(str)))
    api_total = api["total_params_b"].astype(float).to_numpy()
    api_active = api["active_params_b"].astype(float).to_numpy()
    api_moe = api_active < api_total
    ref_memory_gb = gpu_spec(hardware, REF_GPU, "fp8").memory_gb
    api_phys = physics(hardware, architectures, models, model_names=[None] * len(api), total_params_b=api_total,
                       active_params_b=api_active, gpus=[REF_GPU] * len(api), precisions=["fp8"] * len(api),
                       n_gpus=[default_gpu_count(t, "fp8", ref_memory_gb) for t in api_total], lines=lines)
    svc, svc_rows = _service_arrays(service, hardware, architectures, models, throughput_design, lines)
    flags = [PRODUCTION_BOUNDARIES[b] for b in rows["boundary"]]
    ref = power_design.gpus.index(REF_GPU) if REF_GPU in power_design.gpus else 0
    arrays = ProductionArrays(
        pop_idx=jnp.asarray([pops.index(k) for k in pop_keys]),
        boundary_host=jnp.asarray([float(f[0]) if f else 0.0 for f in flags]),
        boundary_pue=jnp.asarray([float(f[1]) if f else 0.0 for f in flags]),
        boundary_idle=jnp.asarray([float(f[2]) if f else 0.0 for f in flags]),
        boundary_unknown=jnp.asarray([0.0 if f else 1.0 for f in flags]),
        pop_log_active_c=jnp.asarray(active, dtype=float),
        pop_log_out=jnp.asarray(np.log(first["output_tokens"].astype(float).to_numpy())),
        pop_log_in=jnp.asarray(np.log(first["input_tokens"].astype(float).to_numpy())),
        pop_model_idx=jnp.asarray(model_idx),
        pop_gpu_idx=jnp.asarray(gpu_idx),
        pop_moe=jnp.asarray(moe),
        pop_log_sparsity_c=jnp.asarray(sparsity),
        pop_operator_idx=jnp.asarray(op_idx),
        pop_physics=type(phys)(*(jnp.asarray(np.nan_to_num(v, nan=1.0), dtype=jnp.float32)
                                 for v in phys)),
        pop_named=jnp.asarray([float(n is not None) for n, _, _ in names]),
        size_lines=jnp.asarray([lines.lines[k][:2] for k in SizeLines.KEYS]),
        ref_gpu_idx=jnp.asarray(tp_gpus.index(REF_GPU) if REF_GPU in tp_gpus else 0),
        power_ref_idx=jnp.asarray(ref),
        power_tdp_w=jnp.asarray(float(power_design.tdp_w[ref])),
        share_component=jnp.asarray([ENERGY_COMPONENTS.index(c) for c in shares["component"]], dtype=int),
        share_group=jnp.asarray([share_ops.index(o) for o in shares["operator"].astype(str)], dtype=int),
        share_operator_idx=jnp.asarray([_named(operators, o) for o in share_ops], dtype=int),
        api_physics=type(api_phys)(*(jnp.asarray(v, dtype=jnp.float32) for v in api_phys)),
        api_provider=jnp.asarray([providers.index(p) for p in api["provider"].astype(str)], dtype=int),
        api_hardware_sd=jnp.full(len(providers), API_HARDWARE_LOG_SD),
        api_log_active_c=jnp.asarray(np.log(api_active / 10.0)),
        api_moe=jnp.asarray(api_moe.astype(float)),
        api_log_sparsity_c=jnp.asarray(np.where(api_moe, np.log(api_total / api_active / REF_SPARSITY), 0.0)),
        **svc,
    )
    y = np.log(rows["wh_per_query"].astype(float).to_numpy()) if with_observations else None
    y_share = shares["share_pct"].astype(float).to_numpy() / 100.0 if with_observations else None
    y_api = np.log(api["tps_per_user_tok_s"].astype(float).to_numpy()) if with_observations else None
    y_svc = np.log(svc_rows["value"].astype(float).to_numpy()) if with_observations else None
    return ProductionDesign(arrays, y, pops, rows.reset_index(drop=True), y_share, shares, y_api, api, providers,
                            y_svc, svc_rows)


def _service_arrays(service: pd.DataFrame | None, hardware, architectures, models, throughput_design,
                    lines: SizeLines) -> tuple[dict, pd.DataFrame]:
    """The service likelihood's arrays (:mod:`.service`: DeepSeek's decode and prefill units at its stated load) and
    its stated rates; empty where the table has no such service or its model was not benchmarked."""
    from .service import SERVICE_MODEL, SERVICE_OPERATOR, service_setting
    from .throughput import parse_layout

    tp_models = list(throughput_design.models)
    stated = service is not None and not service.empty and (service["operator"] == SERVICE_OPERATOR).any()
    if not stated or SERVICE_MODEL not in tp_models:
        return {}, pd.DataFrame(columns=["id", "operator", "quantity", "value", "unit"])
    s = service_setting(service)
    size = models.set_index("model").loc[SERVICE_MODEL]
    units = [parse_layout(s.decode_layout), parse_layout(s.prefill_layout)]
    phys = physics(hardware, architectures, models, model_names=[SERVICE_MODEL] * 2,
                   total_params_b=[float(size["total_params_b"])] * 2,
                   active_params_b=[float(size["active_params_b"])] * 2, gpus=[REF_GPU] * 2,
                   precisions=["fp8"] * 2, n_gpus=[u.n_gpus for u in units], comm_gpus=[u.comm_gpus for u in units],
                   dp_width=[u.dp_width for u in units], pipeline_stages=[u.pipeline_stages for u in units],
                   lines=lines)
    arrays = {"svc_physics": type(phys)(*(jnp.asarray(v, dtype=jnp.float32) for v in phys)),
              "svc_log_link_b_s": jnp.asarray(float(log_link_b_s([s.link_gb_s])[0])),
              "svc_model_idx": jnp.asarray(tp_models.index(SERVICE_MODEL)),
              "svc_cells": jnp.asarray([_cell_index(throughput_design.gpu_precision_pairs, (REF_GPU, "fp8")),
                                        _cell_index(throughput_design.model_gpu_pairs, (SERVICE_MODEL, REF_GPU))]),
              "svc_log_load": jnp.asarray(float(np.log(s.concurrency))),
              "svc_prompt_tokens": jnp.asarray(s.prompt_tokens),
              "svc_prefill_tokens": jnp.asarray([s.prompt_tokens, s.prompt_tokens * (1.0 - s.cache_hit_share)]),
              "svc_output_tokens": jnp.asarray(s.output_tokens),
              "svc_gpus": jnp.asarray([float(s.decode_gpus), float(s.prefill_gpus)]),
              "svc_gpus_per_node": jnp.asarray(float(s.gpus_per_node))}
    return arrays, s.rows


def _named(operators: list, operator: str) -> int:
    if operator not in operators:
        raise ValueError(f"breakdown of operator {operator!r}, not among the model's operators (build the PUE "
                         "design with fleet_operators' names)")
    return operators.index(operator)


def _cell_index(pairs, pair: tuple) -> int:
    pairs = [tuple(p) for p in pairs]
    return pairs.index(pair) if pair in pairs else -1


def _latent_where_missing(name: str, known: jnp.ndarray, loc: float, scale: float) -> jnp.ndarray:
    """Known values where finite; elsewhere a latent draw ~ Normal(loc, scale) (sampled for every element)."""
    draw = numpyro.sample(name, dist.Normal(loc, scale))
    return jnp.where(jnp.isfinite(known), known, draw)


def operating_point(tp: dict):
    """Sample the production operating point (see the module docstring); the engine is one more draw from the
    benchmarked engines' population (``tp``: the throughput model's spreads)."""
    def engine(name: str, scale):  # non-centred; centred took the same 127 leapfrog steps per draw
        return numpyro.deterministic(f"op_{name}", scale * numpyro.sample(f"op_z_{name}", dist.Normal(0.0, 1.0)))

    return {
        "log_batch": numpyro.sample("op_log_batch", dist.Normal(jnp.log(32.0), 0.8)),
        "log_engine_eff": engine("log_engine_eff", tp["tau_setup"]),
        "overhead_engine": engine("overhead_engine", tp["tau_overhead_engine"]),
        "token_overhead_engine": engine("token_overhead_engine", tp["tau_token_overhead_engine"]),
    }


def fleet_levels(n_operators: int) -> dict:
    """The population's median host ratio and idle share, and each named operator's own at the stated spreads
    (:data:`HOST_RATIO_SPREAD`, :data:`IDLE_SHARE_SPREAD`); the joint model samples them before the power model,
    whose node-level telemetry rows read an operator's host ratio.

    The spreads are stated, not learned: one operator's breakdown cannot tell how far operators spread, and a
    learned spread with one pinned operator put NUTS in a funnel (its offset against the population's median,
    narrowing as the spread shrinks: 1-4 divergences in 4,000 draws, centred or not). At a stated spread the
    operator's offset and the population's median trade along a straight ridge the whitened coordinates absorb."""
    host = numpyro.sample("op_host_ratio", dist.LogNormal(float(np.log(HOST_RATIO_PRIOR[0])), HOST_RATIO_PRIOR[1]))
    idle = numpyro.sample("op_idle_share", dist.Beta(*idle_share_beta()))
    with numpyro.plate("fleet_operators", n_operators):
        z_host = numpyro.sample("op_z_host_operator", dist.Normal(0.0, 1.0))
        z_idle = numpyro.sample("op_z_idle_operator", dist.Normal(0.0, 1.0))
    return {"host_ratio": host, "idle_share": idle,
            "host_operator": numpyro.deterministic("op_host_operator",
                                                   fleet_host_ratio(host, HOST_RATIO_SPREAD * z_host)),
            "idle_operator": numpyro.deterministic("op_idle_operator",
                                                   fleet_idle_share(idle, IDLE_SHARE_SPREAD * z_idle))}


def _population_physics(x: ProductionArrays, log_active_c, log_hardware):
    """Each population's :class:`~.equations.Physics`: a named model's from the tables; an unnamed one's from its
    (latent) active size through the architecture table's size lines, served dense at FP8; unknown hardware a
    reference GPU scaled in bandwidth and FLOP/s by ``exp(log_hardware)``."""
    p = x.pop_physics
    named = x.pop_named > 0
    active_b = jnp.exp(log_active_c) * 10e9
    kv, attn, layers, hidden = (jnp.exp(x.size_lines[k, 0] + x.size_lines[k, 1] * log_active_c)
                                for k in range(len(SizeLines.KEYS)))

    def pick(known, guess):
        return jnp.where(named, known, guess)

    weight_b = pick(p.weight_b, active_b)
    # a model too large for one 8-GPU server is served on more: room for its weights and half as much again
    per_gpu_b = p.memory_b / p.n_gpus
    n_gpus = (p.n_gpus ** 4 + (1.5 * weight_b / per_gpu_b) ** 4) ** 0.25
    return p._replace(
        n_gpus=n_gpus, comm_gpus=n_gpus, memory_b=per_gpu_b * n_gpus,
        log_bw_b_s=p.log_bw_b_s + log_hardware, peak_flop_s=p.peak_flop_s * jnp.exp(log_hardware),
        weight_b=weight_b, active_weight_b=pick(p.active_weight_b, active_b),
        experts=pick(p.experts, 1.0), top_k=pick(p.top_k, 1.0), linear_flops=pick(p.linear_flops, 2.0 * active_b),
        kv_full_b=pick(p.kv_full_b, kv), kv_window_b=pick(p.kv_window_b, 0.0),
        window_tokens=pick(p.window_tokens, NO_WINDOW_TOKENS), attn_full_flops=pick(p.attn_full_flops, attn),
        attn_window_flops=pick(p.attn_window_flops, 0.0), layers=pick(p.layers, layers),
        hidden=pick(p.hidden, hidden))


def production_model(x: ProductionArrays, tp: dict, pw: dict, pue: dict, n_populations: int, y=None, y_share=None,
                     y_api=None, y_service=None, keep: dict | None = None, fleet: dict | None = None):
    """NumPyro likelihood of per-query disclosures, operators' energy breakdowns, API output speeds and a service's
    stated rates given the sub-models' parameters (observations last; ``fleet``: :func:`fleet_levels`, sampled
    here where not given, one level per PUE operator). ``keep`` (``prod``, ``share``, ``api``,
    ``service``: per row, default all True): False leaves a row's likelihood out, shapes unchanged, so its value is
    predicted as an unseen one's (leave-one-source-out refits)."""
    keep = keep or {}
    op = {**operating_point(tp), **(fleet if fleet is not None else fleet_levels(pue["e_operator"].shape[-1]))}
    host_op, idle_op = op["host_operator"], op["idle_operator"]
    pri = PRODUCTION_PRIORS
    with numpyro.plate("production_populations", n_populations):
        log_active_c = _latent_where_missing("op_log_active_c", x.pop_log_active_c,
                                             float(np.log(pri["active_params_b"][0] / 10.0)), pri["active_params_b"][1])
        log_out = _latent_where_missing("op_log_output_tokens", x.pop_log_out, float(np.log(pri["output_tokens"][0])),
                                        pri["output_tokens"][1])
        log_in = _latent_where_missing("op_log_input_tokens", x.pop_log_in, float(np.log(pri["input_tokens"][0])),
                                       pri["input_tokens"][1])
        z_model = numpyro.sample("op_z_model", dist.Normal(0.0, 1.0))
        hw = numpyro.sample("op_log_hardware", dist.Normal(0.0, pri["hardware_log_sd"]))
        z_operator = numpyro.sample("op_z_operator", dist.Normal(0.0, 1.0))
        z_host = numpyro.sample("op_z_host_new", dist.Normal(0.0, 1.0))  # a population naming no operator
        z_idle = numpyro.sample("op_z_idle_new", dist.Normal(0.0, 1.0))
    # the model effect: fitted where the model was benchmarked, else drawn from the size regression
    size_mean = _size_mean(tp, log_active_c, x.pop_moe, x.pop_log_sparsity_c)
    known_model = x.pop_model_idx >= 0
    midx = jnp.maximum(x.pop_model_idx, 0)
    a = jnp.where(known_model, tp["a_model"][midx], size_mean + tp["tau_model"] * z_model)
    known_gpu = x.pop_gpu_idx >= 0
    b = jnp.where(known_gpu, tp["b_gpu"][jnp.maximum(x.pop_gpu_idx, 0)], tp["b_gpu"][x.ref_gpu_idx])
    phys = _population_physics(x, log_active_c, jnp.where(known_gpu, 0.0, hw))
    log_ngpu = jnp.log(phys.n_gpus)
    delta = (a + b + tp["c_precision"][PRECISION_LEVELS.index("fp8")] + tp["beta_ngpu"] * eq.log_split_gpus(phys)
             + op["log_engine_eff"])
    tokens_in, tokens_out = jnp.exp(log_in), jnp.exp(log_out)
    times = eq.serving_times(phys, efficiency(tp, delta, phys, _engine_overheads(op)), op["log_batch"], tokens_in,
                             tokens_in, tokens_out)
    log_w = eq.phase_log_power_w(curve_of(pw, x.power_ref_idx, x.power_tdp_w, log_ngpu, log_active_c),
                                 op["log_batch"], times)
    log_e_gpu_wh = jnp.log(eq.gpu_energy_j(phys.n_gpus, times, *log_w)) - jnp.log(3600.0)
    known_op = x.pop_operator_idx >= 0
    oi = jnp.maximum(x.pop_operator_idx, 0)
    log_pue_m1 = pue["m_scope"][0] + jnp.where(known_op, pue["e_operator"][oi], pue["tau_operator"] * z_operator)
    host = jnp.where(known_op, host_op[oi], fleet_host_ratio(op["host_ratio"], HOST_RATIO_SPREAD * z_host))
    idle = jnp.where(known_op, idle_op[oi], fleet_idle_share(op["idle_share"], IDLE_SHARE_SPREAD * z_idle))
    p = x.pop_idx
    with numpyro.plate("production_rows", x.pop_idx.shape[0]):
        u = numpyro.sample("op_boundary_share", dist.Uniform(0.0, 1.0))
        unknown = x.boundary_unknown > 0  # an undisclosed boundary includes an unknown share of each factor
        factor = eq.log_boundary_factor(host[p], 1.0 + jnp.exp(log_pue_m1[p]), idle[p],
                                        jnp.where(unknown, u, x.boundary_host), jnp.where(unknown, u, x.boundary_pue),
                                        jnp.where(unknown, u, x.boundary_idle))
        mu = numpyro.deterministic("op_log_wh", log_e_gpu_wh[p] + factor)
        with numpyro.handlers.mask(mask=keep.get("prod", True)):
            numpyro.sample("prod_obs", dist.Normal(mu, REPORTING_SD), obs=y)
    if x.share_component.shape[0]:
        _breakdown_likelihood(x, host_op, idle_op, pue, y_share, keep.get("share", True))
    if x.api_provider.shape[0]:
        _api_speed_likelihood(x, tp, op, y_api, keep.get("api", True))
    if x.svc_gpus.shape[0]:
        _service_likelihood(x, tp, op, y_service, keep.get("service", True))
    return {**op, "mu": mu}


def _service_likelihood(x: ProductionArrays, tp: dict, op: dict, y_service, keep=True):
    """A service's stated decode and prefill rates at its stated load (:mod:`.service`), on the production engine:
    its model's fitted effect on the reference GPU at FP8, its layout's data-parallel ranks and scale-out network."""
    from .service import service_log_rates

    p = x.svc_physics
    gp, mg = x.svc_cells[0], x.svc_cells[1]  # the fitted interactions where the benchmarks had the cell
    delta = (tp["a_model"][x.svc_model_idx] + tp["b_gpu"][x.ref_gpu_idx]
             + tp["c_precision"][PRECISION_LEVELS.index("fp8")] + tp["beta_ngpu"] * eq.log_split_gpus(p)
             + jnp.where(gp >= 0, tp["e_gpu_precision"][jnp.maximum(gp, 0)], 0.0)
             + jnp.where(mg >= 0, tp["e_model_gpu"][jnp.maximum(mg, 0)], 0.0) + op["log_engine_eff"])
    eff = efficiency(tp, delta, p, _engine_overheads(op))  # the link's efficiency is the GPU's own (not PCIe)
    times = eq.serving_times(p._replace(log_link_b_s=jnp.broadcast_to(x.svc_log_link_b_s, p.n_gpus.shape)), eff,
                             x.svc_log_load, x.svc_prompt_tokens, x.svc_prefill_tokens, x.svc_output_tokens)
    decode, prefill = (eq.ServingTimes(*(v[i] for v in times)) for i in (0, 1))
    mu = jnp.stack(service_log_rates(x.svc_output_tokens, x.svc_prompt_tokens, x.svc_gpus[0], x.svc_gpus[1],
                                     x.svc_gpus_per_node, decode, prefill))
    with numpyro.plate("service_rows", mu.shape[0]), numpyro.handlers.mask(mask=keep):
        numpyro.sample("service_obs", dist.Normal(mu, REPORTING_SD), obs=y_service)


def _size_mean(tp: dict, log_active_c, moe, log_sparsity_c):
    return size_regression(tp["g0"], tp["g_active"], tp["g_moe"], tp["g_sparsity"], log_active_c, moe, log_sparsity_c)


def _engine_overheads(op: dict) -> tuple:
    return op["overhead_engine"], op["token_overhead_engine"]


def _api_speed_likelihood(x: ProductionArrays, tp: dict, op: dict, y_api, keep=True):
    """Per-request output speeds of API-served models on a busy replica at the production batch, the other
    requests' prefills included."""
    with numpyro.plate("api_providers", x.api_hardware_sd.shape[0]):
        log_hw = numpyro.sample("op_log_api_hardware", dist.Normal(0.0, x.api_hardware_sd))
    log_context = numpyro.sample("op_log_api_context", dist.Normal(float(np.log(API_CONTEXT_TOKENS[0])),
                                                                    API_CONTEXT_TOKENS[1]))
    sigma = numpyro.sample("op_sigma_api", dist.HalfNormal(0.5))
    hw = log_hw[x.api_provider]
    p = x.api_physics
    phys = p._replace(log_bw_b_s=jnp.log(REF_BANDWIDTH_TB_S * 1e12) + hw, peak_flop_s=p.peak_flop_s * jnp.exp(hw))
    size_mean = _size_mean(tp, x.api_log_active_c, x.api_moe, x.api_log_sparsity_c)
    delta = (size_mean + tp["c_precision"][PRECISION_LEVELS.index("fp8")] + tp["beta_ngpu"] * eq.log_split_gpus(phys)
             + op["log_engine_eff"])
    context = jnp.exp(log_context)
    times = eq.serving_times(phys, efficiency(tp, delta, phys, _engine_overheads(op)), op["log_batch"], context,
                             context, API_OUTPUT_TOKENS)
    with numpyro.plate("api_rows", x.api_provider.shape[0]), numpyro.handlers.mask(mask=keep):
        numpyro.sample("api_obs", dist.Normal(eq.log_request_speed_tok_s(API_OUTPUT_TOKENS, times), sigma), obs=y_api)


def _breakdown_likelihood(x: ProductionArrays, host_op, idle_op, pue: dict, y_share, keep=True):
    """Operators' shares of their comprehensive energy: the operator's own host ratio, idle share and PUE (every
    breakdown's operator is a named operator, :func:`fleet_operators`)."""
    o = x.share_operator_idx
    log_pue_m1 = pue["m_scope"][0] + pue["e_operator"][o]
    shares = eq.energy_shares(host_op[o], 1.0 + jnp.exp(log_pue_m1), idle_op[o])  # (operators, 4)
    with numpyro.plate("breakdown_rows", x.share_component.shape[0]), numpyro.handlers.mask(mask=keep):
        numpyro.sample("share_obs", dist.Normal(shares[x.share_group, x.share_component], SHARE_SD), obs=y_share)


def production_load(draws: dict) -> np.ndarray:
    """Concurrent queries per replica at the production operating point, per draw."""
    return np.exp(np.asarray(draws["op_log_batch"])).ravel()


def engine_log_efficiency(draws: dict) -> np.ndarray:
    """Logit shift of production engines' efficiencies relative to the reference benchmark setup, per draw."""
    return np.asarray(draws["op_log_engine_eff"], np.float64)
