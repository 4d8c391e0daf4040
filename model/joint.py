"""The joint model: throughput, power, PUE and the production operating point over one set of tables."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from ..data.tables import TRACE_WORKLOADS
from .power import PowerArrays, PowerDesign, build_power_design, power_model, take_power_rows, usable_power_rows
from .production import (
    ProductionArrays,
    ProductionDesign,
    build_production_design,
    fleet_levels,
    fleet_operators,
    production_model,
    usable_production_rows,
)
from .workload import COMPONENTS, WorkloadArrays, workload_arrays
from .telemetry import telemetry_operators, telemetry_power_rows, telemetry_throughput_rows
from .pue import PUE_KINDS, PUE_SCOPES, PueArrays, PueDesign, build_pue_design, pue_model, usable_pue_rows
from .throughput import (
    NOISE_GROUPS,
    ThroughputArrays,
    ThroughputDesign,
    build_throughput_design,
    take_rows,
    throughput_model,
    usable_throughput_rows,
)

__all__ = ["OBSERVED_SITES", "OBSERVATION_VIEWS", "KEY_SITES", "LEARNED_SITES", "ObservationView", "InfergyDesign",
           "PER_ROW_LATENTS", "SITE_PREFIX_DATA", "build_design", "coords_dims", "infergy_model"]

#: Observed sites -> (table, what is observed).
OBSERVED_SITES = {
    "tp_obs": ("throughput", "log output tok/s per GPU"),
    "pw_obs": ("gpu_energy", "log(average GPU power / TDP)"),
    "pue_obs": ("pue", "log(PUE - 1)"),
    "prod_obs": ("production", "log Wh per query (operators' disclosures)"),
    "share_obs": ("energy_shares", "share of comprehensive energy (operators' breakdowns)"),
    "api_obs": ("api_speeds", "log output tok/s one request sees (API-served models)"),
    "service_obs": ("service_statistics", "log tok/s a service stated at its load (per node, per request)"),
}


@dataclass(frozen=True)
class ObservationView:
    """How to show an observed site: its title, the natural unit and the map from the model's scale to it."""

    title: str
    unit: str
    natural: Callable[[np.ndarray], np.ndarray]
    log_axis: bool


OBSERVATION_VIEWS = {
    "tp_obs": ObservationView("Throughput (benchmarks)", "output tok/s per GPU", np.exp, True),
    "pw_obs": ObservationView("GPU power (ML.ENERGY v3)", "power / TDP", np.exp, False),
    "pue_obs": ObservationView("PUE (operators, surveys)", "PUE", lambda v: 1.0 + np.exp(v), False),
    "prod_obs": ObservationView("Production disclosures", "Wh per query", np.exp, True),
    "share_obs": ObservationView("Operators' energy breakdowns", "share of comprehensive energy", lambda v: v, False),
    "api_obs": ObservationView("API output speeds", "output tok/s per request", np.exp, True),
    "service_obs": ObservationView("A service at its stated load (DeepSeek)", "tok/s per node or per request",
                                   np.exp, True),
}
#: The parameters whose chains the report's rank plots show: the production operating point and the throughput and
#: power terms it trades off against (the slowest to mix).
KEY_SITES = ("op_log_batch", "op_log_engine_eff", "op_host_ratio", "op_idle_share", "tp_g0", "tp_shift_compute",
             "tp_shift_prefill", "tp_log_overhead_layer_s", "pw_beta_ngpu", "pw_beta_size")
#: The sites whose prior draws the prior-vs-posterior panels need (the accessors of each sub-model read them).
LEARNED_SITES = ("tp_g0", "tp_b_gpu", "tp_shift_compute", "tp_shift_prefill", "tp_log_overhead_layer_s",
                 "tp_log_token_overhead_s", "tp_log_batch_cap", "tp_logit_link", "tp_link_pcie", "tp_link_pcie_gpus",
                 "tp_logit_kv", "tp_log_isl_task", "pw_idle_share", "pw_peak_share", "pw_log_batch50", "pue_m_scope",
                 "pue_tau_operator", "pue_sigma", "op_log_batch")


@dataclass(frozen=True)
class InfergyDesign:
    throughput: ThroughputDesign
    power: PowerDesign
    pue: PueDesign
    production: ProductionDesign
    workload: WorkloadArrays  # the request traces, binned: the workload model's data (fitted on its own)

    @property
    def sizes(self) -> dict[str, int]:
        return {**self.throughput.sizes, **self.power.sizes, **self.pue.sizes, **self.production.sizes}

    @property
    def inputs(self) -> tuple[ThroughputArrays, PowerArrays, PueArrays, ProductionArrays]:
        return self.throughput.arrays, self.power.arrays, self.pue.arrays, self.production.arrays

    @property
    def observations(self) -> dict[str, np.ndarray | None]:
        return {"y_tp": self.throughput.y_log_tok_s, "y_pw": self.power.y_log_power_share,
                "y_pue": self.pue.y_log_pue_minus_1, "y_prod": self.production.y_log_wh,
                "y_share": self.production.y_share, "y_api": self.production.y_api_log_tps,
                "y_service": self.production.y_service_log}

    def fingerprint(self) -> str:
        """SHA-256 of what the likelihood reads: every input array and observation (values, dtype, shape), the
        sizes and each group's labels in order (they give the posterior's indices their meaning). Tables, rows
        and columns the fit does not read (a GPU no benchmark ran on, a source's notes) leave it unchanged.

        Floating-point values enter at the single precision the likelihood computes in: NumPy's float64
        logarithms round differently on processors with and without AVX-512 (its own vector code, or the C
        library's), so a double-precision hash would tie a posterior to the processor that fitted it. The
        interactions' contrast bases are left out: they follow from the cells' labels, which are hashed."""
        digest = hashlib.sha256()
        for group in (*self.inputs, self.observations, self.workload):
            items = group._asdict().items() if hasattr(group, "_asdict") else group.items()
            defaults = getattr(group, "_field_defaults", {})
            for name, value in items:
                if name in defaults and value is defaults[name]:  # a feature these data do not use (telemetry):
                    continue  # the designs without it hash as before it existed
                if name.endswith("_basis"):  # a function of the cell labels hashed below; its zeros carry BLAS's
                    continue  # rounding (1e-16, whose bits depend on the thread count), not the data
                a = np.asarray(value)
                a = np.ascontiguousarray(a.astype(np.float32) if a.dtype.kind == "f" else a)
                digest.update(f"{name}:{a.dtype.str}:{a.shape}".encode())
                digest.update(a.tobytes())
        labels = {"sizes": self.sizes, "models": self.throughput.models, "gpus": self.throughput.gpus,
                  "precisions": self.throughput.precisions, "setups": self.throughput.setups,
                  "gpu_precision": self.throughput.gpu_precision_pairs, "model_gpu": self.throughput.model_gpu_pairs,
                  "power_gpus": self.power.gpus, "power_tdp_w": self.power.tdp_w, "operators": self.pue.operators,
                  "populations": self.production.populations, "isl_groups": self.throughput.isl_groups}
        digest.update(json.dumps(labels, default=lambda v: np.asarray(v).tolist(), sort_keys=True).encode())
        return digest.hexdigest()

    def rows_only(self, tp_rows, pw_rows) -> tuple[tuple, dict]:
        """Inputs and observations of the same model with the throughput and power likelihoods over the rows
        ``tp_rows`` and ``pw_rows`` (indices) only, plus each kept telemetry power row's interval throughput row:
        every parameter and every other likelihood as they are. What depends only on those rows (an operator's
        own block) is the full model's, at a fraction of its cost."""
        tp_x, pw_x, pue_x, prod_x = self.inputs
        pw_rows = np.asarray(pw_rows, int)
        own = np.asarray(pw_x.tp_row_idx)[pw_rows] if np.ndim(pw_x.tp_row_idx) else np.zeros(0, int)
        tp_rows = np.union1d(np.asarray(tp_rows, int), own[own >= 0])
        position = np.full(self.throughput.n_rows, -1)
        position[tp_rows] = np.arange(tp_rows.size)
        inputs = (take_rows(tp_x, tp_rows), take_power_rows(pw_x, pw_rows, position), pue_x, prod_x)
        obs = dict(self.observations)
        obs["y_tp"] = None if obs["y_tp"] is None else np.asarray(obs["y_tp"])[tp_rows]
        obs["y_pw"] = None if obs["y_pw"] is None else np.asarray(obs["y_pw"])[pw_rows]
        return inputs, obs

    @property
    def observed(self) -> dict[str, np.ndarray | None]:
        """The observations by observed site."""
        return dict(zip(OBSERVED_SITES, self.observations.values()))

    @property
    def n_rows(self) -> dict[str, int]:
        return {"tp_obs": self.throughput.n_rows, "pw_obs": len(self.power.rows), "pue_obs": len(self.pue.rows),
                "prod_obs": len(self.production.rows),
                "share_obs": 0 if self.production.share_rows is None else len(self.production.share_rows),
                "api_obs": 0 if self.production.api_rows is None else len(self.production.api_rows),
                "service_obs": 0 if self.production.service_rows is None else len(self.production.service_rows)}


def build_design(bundle) -> InfergyDesign:
    """Arrays for the joint model from a :class:`~infergy.data.DataBundle`."""
    t = bundle.tables
    tp_rows, pw_rows = usable_throughput_rows(t["throughput"]), usable_power_rows(t["gpu_energy"], t["hardware"])
    telemetry = t.get("telemetry")
    if telemetry is not None and len(telemetry):  # an operator's intervals: throughput and power rows at its load
        tp_rows = pd.concat([tp_rows, telemetry_throughput_rows(telemetry, t["hardware"])], ignore_index=True)
        pw_rows = pd.concat([pw_rows, telemetry_power_rows(telemetry, t["hardware"])], ignore_index=True)
    tp = build_throughput_design(tp_rows, t["hardware"], t["models"], t["architectures"])
    prod_rows = usable_production_rows(t["production"])
    # every operator a table names is a level: its PUE, host ratio and idle share
    pue = build_pue_design(usable_pue_rows(t["pue"]),
                           extra_operators=fleet_operators(prod_rows, t["energy_shares"], telemetry))
    pw = build_power_design(pw_rows, t["hardware"], operators=pue.operators, throughput_rows=tp.rows)
    prod = build_production_design(prod_rows, t["models"], t["hardware"],
                                   t["architectures"], tp, pw, pue, shares=t["energy_shares"], api=t["api_speeds"],
                                   service=t.get("service_statistics"))
    return InfergyDesign(throughput=tp, power=pw, pue=pue, production=prod,
                         workload=workload_arrays(t["request_lengths"]))


def infergy_model(tp_x: ThroughputArrays, pw_x: PowerArrays, pue_x: PueArrays, prod_x: ProductionArrays, *,
                  n_models: int, n_gpus: int, n_setups: int, n_gpu_precision: int, n_model_gpu: int,
                  n_isl_groups: int, n_power_gpus: int, n_operators: int, n_populations: int, y_tp=None, y_pw=None,
                  y_pue=None, y_prod=None, y_share=None, y_api=None, y_service=None, keep: dict | None = None,
                  n_telemetry_operators: int = 0, n_power_telemetry: int = 0):
    """The joint NumPyro model (observations last; ``keep``: the production rows whose likelihood counts, see
    :func:`~infergy.model.production.production_model`)."""
    tp = throughput_model(tp_x, n_models, n_gpus, n_setups, n_gpu_precision, n_model_gpu, n_isl_groups, y=y_tp,
                          n_telemetry_operators=n_telemetry_operators)
    fleet = fleet_levels(n_operators)  # before the power model: node-level telemetry reads an operator's host
    pw = power_model(pw_x, n_power_gpus, y=y_pw, n_power_telemetry=n_power_telemetry,
                     host_operator=fleet["host_operator"], times=tp["times"])
    pue = pue_model(pue_x, n_operators, y=y_pue)
    production_model(prod_x, tp, pw, pue, n_populations, y=y_prod, y_share=y_share, y_api=y_api, y_service=y_service,
                     keep=keep, fleet=fleet)


#: Per-row latent variables (one per observation, e.g. where in an undisclosed boundary a disclosure sits): the
#: convergence targets apply to the model's parameters, not to these; their worst R-hat is reported alongside.
PER_ROW_LATENTS = ("op_boundary_share", "op_log_wh")
#: The likelihood whose rows inform a site, by the site's prefix.
SITE_PREFIX_DATA = {"tp_": "throughput benchmarks (data/throughput.csv)", "pw_": "GPU power (data/gpu_energy.csv)",
                    "pue_": "PUE (data/pue.csv)",
                    "op_": "production disclosures, operators' energy breakdowns, API output speeds and a "
                           "service's stated rates (data/production.csv, data/energy_shares.csv, data/api_speeds.csv, "
                           "data/service_statistics.csv)",
                    "wl_": "production request traces (data/request_lengths.csv: Azure 2023, chat and code)"}


def coords_dims(design: InfergyDesign) -> tuple[dict, dict]:
    """The labels of every dimension, and the dimensions of every site (for the fit's DataTree)."""
    tp, pw, pue, prod = design.throughput, design.power, design.pue, design.production
    coords = {
        "model": list(tp.models), "gpu": list(tp.gpus), "precision": list(tp.precisions),
        "setup": list(tp.setups), "engine": list(tp.engines), "power_gpu": list(pw.gpus),
        "operator": list(pue.operators), "api_provider": list(prod.providers),
        "pue_scope": list(PUE_SCOPES), "isl_group": list(tp.isl_groups),
        "production_population": list(prod.populations), "noise_group": list(NOISE_GROUPS),
        "telemetry_operator": list(telemetry_operators(tp.rows)), "power_telemetry": list(telemetry_operators(pw.rows)),
        "pue_kind": list(PUE_KINDS),
        "gpu_precision_cell": [f"{g} | {q}" for g, q in tp.gpu_precision_pairs],
        "model_gpu_cell": [f"{m} | {g}" for m, g in tp.model_gpu_pairs], "prod_row": list(prod.rows["id"].astype(str)),
        "workload": list(TRACE_WORKLOADS), "length_component": list(range(COMPONENTS)),
        "length_gap": list(range(COMPONENTS - 1)),
    }
    dims = {
        "tp_a_model": ["model"], "tp_log_isl_task": ["isl_group"],
        "tp_b_gpu": ["gpu"], "tp_log_bw_latent": ["gpu"],
        "tp_c_precision": ["precision"], "tp_raw_setup": ["setup"], "tp_d_setup": ["setup"],
        "op_log_api_hardware": ["api_provider"], "tp_raw_overhead_engine": ["engine"], "tp_overhead_setup": ["setup"],
        "tp_raw_token_overhead_engine": ["engine"], "tp_token_overhead_setup": ["setup"],
        "tp_e_gpu_precision": ["gpu_precision_cell"], "tp_e_model_gpu": ["model_gpu_cell"],
        "pw_logit_idle": ["power_gpu"], "pw_logit_peak": ["power_gpu"],
        "pw_idle_share": ["power_gpu"], "pw_peak_share": ["power_gpu"], "pw_log_batch50": ["power_gpu"],
        "pue_z_operator": ["operator"], "pue_e_operator": ["operator"], "pue_m_scope": ["pue_scope"],
        **{f"op_{v}_operator": ["operator"] for v in ("z_host", "z_idle", "host", "idle")},
        "pue_sigma": ["pue_kind"],
        "tp_sigma": ["noise_group"], "tp_sigma_telemetry": ["telemetry_operator"],
        "pw_sigma_telemetry": ["power_telemetry"], "pw_shift_idle_telemetry": ["power_telemetry"],
        "pw_shift_peak_telemetry": ["power_telemetry"], "pw_shift_batch50_telemetry": ["power_telemetry"],
        **{f"op_{v}": ["production_population"] for v in ("log_active_c", "log_output_tokens",
                                                           "log_input_tokens", "z_model", "log_hardware",
                                                           "z_operator", "z_host_new", "z_idle_new")},
        "op_boundary_share": ["prod_row"], "op_log_wh": ["prod_row"],
        "tp_obs": ["tp_row"], "pw_obs": ["pw_row"], "pue_obs": ["pue_row"], "prod_obs": ["prod_row"],
        **{v: ["workload", "length_component"] for v in ("wl_weights", "wl_mu_in", "wl_sd_in", "wl_mu_out",
                                                          "wl_sd_out", "wl_sd_in_excess", "wl_sd_out_excess")},
        "wl_mu_in_first": ["workload"], "wl_mu_in_gap": ["workload", "length_gap"],
    }
    return coords, dims
