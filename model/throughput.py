"""Throughput sub-model: per-GPU output tokens/s of a model on a GPU, for a query shape and a load, from the
serving equations of :mod:`.equations` (prefill + decode, roofline of HBM bandwidth and peak FLOP/s) with learned
efficiencies.

    log y_i ~ StudentT(nu, mu_i, sigma[source group of row i])
    mu_i    = log tok/s per GPU from serving_times(physics_i, efficiency_i, power curve, load_i, ISL_i, OSL_i)
    logit eta_memory_i  = delta_i,  logit eta_compute_i = delta_i + shift_c,  logit eta_prefill_i = delta_i + shift_p
    delta_i = a[model] + b[gpu] + c[precision] + d[setup] + e[gpu x precision] + e[model x gpu] + beta_ngpu log n_i
    a[model] ~ Normal(g0 + g_active log(active/10B) + moe (g_moe + g_sparsity log(total/active/10)), tau_model)
    b[gpu]   ~ Normal(k_bw log(bandwidth / 3.35 TB/s), tau_gpu)        (bandwidth latent where not published)
    d[setup] ~ Normal(0, tau_setup)
    overhead per decode step = layers x exp(o_layer + o_ngpu log n + o[setup]) + B x exp(o_token + t[setup])
    o[setup], t[setup] ~ Normal(0, tau_o), Normal(0, tau_t)                  batch cap exp(log_batch_cap)
    an operator's own engine (its telemetry): d, o, t ~ Normal(0, stated spreads)   (OPERATOR_ENGINE_SCALES)
    logit eta_link = l0 (NVLink) or l0 + l_pcie + l_pcie_gpus log c (PCIe across c GPUs)

The hardware (bandwidth, peak FLOP/s at the precision, memory) and the model (active and total parameters,
experts, KV bytes and attention FLOPs per token from its architecture) are physics, not parameters: size, GPU
and query shape enter only through them. What is learned is how close each engine, GPU, precision and model gets
to those limits. A row measured at saturation runs the batch the KV cache and the engine's cap allow; a row with
a stated batch runs that batch (or fewer, where the cache is full). A benchmark task whose prompts are not given
(ML.ENERGY) has its input length learned (one per task).

Reference levels: precision fp8, the GPU H100 SXM (b = 0) and the engine setup with the most rows (d = o = t = 0).
An engine's step overheads are its own (kernel launches and CUDA graphs, custom all-reduce, the scheduler's work per
sequence differ between engines and versions): a setup measured at stated batches pins them, and the share of
bandwidth it reaches no longer has to absorb them.

Parameterisation: model effects are deviations from the size regression on an orthonormal basis orthogonal to
its covariates, GPU effects deviations from the bandwidth line (zero for the reference GPU, orthogonal to the
published bandwidths), and the GPU x precision and model x GPU interactions live on a basis of the observed cells
with both margins centred (:func:`interaction_basis`), so no group mean can trade against an intercept, a slope
or a main effect. Engine setups are centred where the data pin them down and non-centred where they do not
(:func:`partially_centred`).

An operator's own engine, from its telemetry, is centred on the reference setup at stated spreads, not at the
benchmarked setups' learned ones: hundreds of precise intervals of one deployment would otherwise decide those
spreads (one such day took tau_setup from 0.19 to 1.0), and with them production's engine, which is one more draw
from the benchmarked population -- every public answer would move with one operator's logs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pandas as pd

from ..data.vocab import PRECISION_TABLE
from . import equations as eq
from .physics import FAMILY_OF, REF_BANDWIDTH_TB_S, gpu_spec, physics
from .student_t import StudentT
from .telemetry import engine_operator, noise_index, telemetry_operators

__all__ = [
    "NOISE_GROUPS",
    "PRECISION_LEVELS",
    "ROW_FIELDS",
    "ThroughputArrays",
    "ThroughputDesign",
    "take_rows",
    "build_throughput_design",
    "throughput_refusals",
    "comm_gpus",
    "data_parallel_width",
    "Layout",
    "layout_columns",
    "layout_degrees",
    "parse_layout",
    "parameters",
    "gpu_effects",
    "learned_input_tokens",
    "REF_ACTIVE_B",
    "serving_efficiencies",
    "unread_elements",
    "model_effects",
    "n_draws",
    "efficiency",
    "setup_overheads",
    "size_regression",
    "setup_overhead_effects",
    "throughput_model",
    "usable_throughput_rows",
]

#: Quality flags whose rows the fit leaves out (kept in the data; see the data card).
#: Quality flags that keep a row out of the fit, and why (data/README.md, "Quality flags").
EXCLUDED_FLAGS = {
    "superseded_revision": "a later revision of the same document holds these cells",
    "repeats_earlier_version": "an earlier version printed the same cell",
    "anomalous_cell": "far from its neighbours in its own table (~7-9x)",
    "v0.10_methodology": "TensorRT-LLM v0.10 measured long outputs 2-3x lower than v0.11+ (another methodology)",
    "gh200_tp2_inconsistent": "GH200 TP2 cells disagree across TensorRT-LLM v0.11-v0.13",
    "duplicate_of": "repeats a cell another table already holds",
    "short_osl_inconsistent": "its output rate is below its request rate x its output length",
    "speculative_decoding": "speculative decoding (MTP) is not in the serving equations",
    "legacy_2023": "ML.ENERGY v1 (2023) states neither batch size nor precision",
}
#: Multimodal benchmark tasks (image/video chat) are not text-LLM serving.
EXCLUDED_TASKS = ("image-chat", "video-chat", "mllm_text_generation")
#: Load regimes at (or treated as) saturation, and those with a measured batch size.
SATURATED = ("max_throughput", "offered_qps_inf")
BATCHED = ("static_batch", "batch_size")
PRECISION_LEVELS = ("fp8", "fp4", "fp16", "bf16", "mixed")  # fp8 is the reference level
REF_GPU = "H100-SXM-80GB"
REF_SPARSITY = 10.0  # total / active parameters of a typical mixture of experts
REF_ACTIVE_B = 10.0  # the size regression's centre: log(active / 10B)
WEIGHT_BYTES = {p: PRECISION_TABLE[p].weight_bytes for p in PRECISION_LEVELS}
KV_BYTES = {p: PRECISION_TABLE[p].kv_bytes for p in PRECISION_LEVELS}
#: Measurement-noise groups: benchmark suites differ in how repeatable their numbers are (TensorRT-LLM's
#: tables are tight, ML.ENERGY's runs scatter more), so each suite gets its own residual scale.
NOISE_GROUPS = ("trtllm", "mlenergy_v2", "mlenergy_v3", "other")
NOISE_GROUP_OF = {"trtllm_perf_overview": "trtllm", "trtllm_serving": "trtllm", "trtllm_dsr1_blog": "trtllm",
                  "mlenergy_v2": "mlenergy_v2", "mlenergy_v3": "mlenergy_v3"}


def throughput_refusals(throughput: pd.DataFrame) -> pd.Series:
    """Why the fit leaves each row out: a sentence per row, ``""`` where the likelihood uses it."""
    from .usage import first_reason

    flags = throughput["quality_flags"].fillna("").astype(str)
    flag = flags.str.extract(f"({'|'.join(map(re.escape, EXCLUDED_FLAGS))})", expand=False)
    notes = throughput["notes"].fillna("").astype(str) + " " + throughput["source"].fillna("").astype(str)
    task = notes.str.extract(f"({'|'.join(map(re.escape, EXCLUDED_TASKS))})", expand=False)
    regime = throughput["load_regime"].astype(str)
    return first_reason(throughput.index, [
        (flag.notna(), "quality flag '" + flag.fillna("") + "': " + flag.map(EXCLUDED_FLAGS).fillna("")),
        (task.notna(), "task '" + task.fillna("") + "' is multimodal, not text generation"),
        (~regime.isin(SATURATED + BATCHED),
         "load regime '" + regime + f"': the batch it ran is not known (the fit reads saturated runs, "
         f"{', '.join(SATURATED)}, or a stated batch, {', '.join(BATCHED)})"),
        (regime.isin(BATCHED) & throughput["batch_size"].isna(), "load regime '" + regime + "' without a batch_size"),
        (~throughput["precision"].isin(PRECISION_LEVELS),
         "precision '" + throughput["precision"].astype(str) + f"' is not one the fit tells apart "
         f"({', '.join(PRECISION_LEVELS)})"),
    ])


def usable_throughput_rows(throughput: pd.DataFrame) -> pd.DataFrame:
    """Rows the fit uses (:func:`throughput_refusals` gives the others' reasons)."""
    return throughput[(throughput_refusals(throughput) == "").to_numpy()].reset_index(drop=True)


class ThroughputArrays(NamedTuple):
    """Everything the NumPyro model reads (a pytree of arrays)."""

    model_idx: jnp.ndarray
    gpu_idx: jnp.ndarray
    precision_idx: jnp.ndarray
    setup_idx: jnp.ndarray
    noise_idx: jnp.ndarray  # per row: its measurement-noise group (NOISE_GROUPS)
    physics: eq.Physics  # per row; its bandwidth is replaced by the GPU's latent one where unpublished
    log_ngpu: jnp.ndarray
    isl: jnp.ndarray  # input tokens; where unknown (isl_group >= 0) the task's learned length replaces it
    isl_group: jnp.ndarray  # per row: its task with an unknown input length, -1 where given
    osl: jnp.ndarray
    log_load: jnp.ndarray  # log batch offered; LOG_SATURATED where the row ran as many as fit
    model_log_active_c: jnp.ndarray  # log(active / 10B), per model
    model_log_sparsity_c: jnp.ndarray  # MoE: log(total / active / 10); 0 for dense models
    model_moe: jnp.ndarray
    gpu_log_bw_c: jnp.ndarray  # log(bandwidth / 3.35 TB/s); 0 where unknown
    gpu_bw_known: jnp.ndarray  # bool
    gpu_bw_prior_c: jnp.ndarray  # prior centre for unknown bandwidths (the family's), log scale
    gpu_precision_idx: jnp.ndarray  # per row: index of its (GPU, precision) pair
    model_gpu_idx: jnp.ndarray  # per row: index of its (model, GPU) pair
    gpu_basis: jnp.ndarray  # (GPUs, free contrasts): zero on the reference GPU, orthogonal to log bandwidth
    model_basis: jnp.ndarray  # (models, free contrasts): orthogonal to the size regression's covariates
    setup_is_ref: jnp.ndarray  # 1.0 for the reference setup (effect 0)
    centred_setup: jnp.ndarray  # 1.0 where a setup's effect is sampled centred (well measured), 0.0 non-centred
    setup_engine_idx: jnp.ndarray  # per setup: its engine (a setup less the benchmark task), whose overheads it has
    engine_is_ref: jnp.ndarray  # 1.0 for the reference setup's engine (overhead shifts 0)
    centred_engine: jnp.ndarray  # 1.0 where an engine's overheads are sampled centred (well measured)
    operator_setup: jnp.ndarray  # 1.0 for an operator's own engine (from its telemetry): a stated spread, not tau's
    operator_engine: jnp.ndarray  # the same per engine
    # interactions live on an orthonormal basis of the observed cells orthogonal to both main effects
    gpu_precision_basis: jnp.ndarray  # (GPU x precision cells, free contrasts)
    model_gpu_basis: jnp.ndarray  # (model x GPU cells, free contrasts)


#: The :class:`ThroughputArrays` fields with one entry per row (``physics`` too: every field of it); the rest are per
#: model, GPU, setup, engine or cell.
ROW_FIELDS = ("model_idx", "gpu_idx", "precision_idx", "setup_idx", "noise_idx", "log_ngpu", "isl", "isl_group", "osl",
              "log_load", "gpu_precision_idx", "model_gpu_idx")


def take_rows(x: ThroughputArrays, rows) -> ThroughputArrays:
    """The arrays of the rows ``rows`` (indices) only: the same parameters, a likelihood over those rows."""
    rows = np.asarray(rows, int)
    return x._replace(physics=eq.Physics(*(jnp.asarray(v)[rows] for v in x.physics)),
                      **{name: jnp.asarray(getattr(x, name))[rows] for name in ROW_FIELDS})


@dataclass(frozen=True)
class ThroughputDesign:
    """The arrays plus the labels of every index (for coords and for prediction)."""

    arrays: ThroughputArrays
    y_log_tok_s: np.ndarray | None
    models: tuple[str, ...]
    gpus: tuple[str, ...]
    precisions: tuple[str, ...]
    setups: tuple[str, ...]
    gpu_precision_pairs: tuple[tuple[str, str], ...]
    model_gpu_pairs: tuple[tuple[str, str], ...]
    isl_groups: tuple[str, ...]  # benchmark tasks whose input length is learned
    rows: pd.DataFrame
    ref_gpu: str = REF_GPU  # the GPU whose effect is 0 (the others' are contrasts to it)
    engines: tuple[str, ...] = ()  # engines (setups less their benchmark task): the step overheads' groups

    @property
    def sizes(self) -> dict[str, int]:
        """The static sizes the NumPyro model needs."""
        return dict(n_models=len(self.models), n_gpus=len(self.gpus), n_setups=len(self.setups),
                    n_gpu_precision=int(self.arrays.gpu_precision_basis.shape[1]),
                    n_model_gpu=int(self.arrays.model_gpu_basis.shape[1]), n_isl_groups=len(self.isl_groups),
                    n_telemetry_operators=len(telemetry_operators(self.rows)))

    @property
    def n_rows(self) -> int:
        return len(self.rows)


#: Rows (or distinct shapes) from which a group effect is sampled centred.
CENTRE_MIN_ROWS = {"setup": 20}
#: log batch of a row run at saturation: far above any KV capacity or engine cap, so those set its batch.
LOG_SATURATED = 20.0


def size_regression(g0, g_active, g_moe, g_sparsity, log_active_c, moe, log_sparsity_c):
    """The model effect's mean from size: ``g0 + g_active log(active/10B) + moe g_moe + g_sparsity log(sparsity)``
    (the throughput likelihood's pooling centre and an unseen model's prediction)."""
    return g0 + g_active * log_active_c + g_moe * moe + g_sparsity * log_sparsity_c


def partially_centred(name: str, loc, scale, centred):
    """Sample a group effect ``~ Normal(loc, scale)``, centred where ``centred`` is 1 and non-centred where 0.

    The site ``name`` holds the raw variable: the effect itself where centred, a standard normal where not.
    """
    w = jnp.asarray(centred, dtype=jnp.result_type(float))
    raw = numpyro.sample(name, dist.Normal(w * loc, scale ** w))
    return loc + scale ** (1.0 - w) * (raw - w * loc)


def residual_basis(constraints) -> np.ndarray:
    """Orthonormal basis (columns) of the vectors orthogonal to every row of ``constraints``: the unit vectors
    projected onto that space, orthonormalised in order (Gram-Schmidt, twice for stability).

    The space is unique, but an SVD's basis of it is not: LAPACK builds rotate it differently, and a posterior's
    contrasts mean something only in the basis they were fitted in. Built this way, the same constraints give the
    same basis on every machine, to rounding."""
    c = np.atleast_2d(np.asarray(constraints, dtype=float))
    n = c.shape[1]
    projected = np.eye(n) - np.linalg.pinv(c) @ c
    q = np.zeros((n, n))
    k = 0
    for j in range(n):
        v = projected[:, j]
        for _ in range(2):
            v = v - q[:, :k] @ (q[:, :k].T @ v)
        norm = float(np.linalg.norm(v))
        if norm > 1e-6:  # a unit vector already spanned leaves a residual of ~1e-15; a new direction one of ~0.1
            q[:, k] = v / norm
            k += 1
    rank = int(np.linalg.matrix_rank(c)) if c.size else 0
    if k != n - rank:
        raise ArithmeticError(f"residual basis: {k} columns for a space of dimension {n - rank}")
    return q[:, :k]


def interaction_basis(a_idx, b_idx) -> np.ndarray:
    """Orthonormal basis of the interaction effects of the observed (a, b) cells that no main effect can mimic.

    Columns span the null space of the cells' incidence with levels of ``a`` and of ``b``: every column sums to
    zero over the cells of each level (the two-way interaction with both margins centred). A cell that is the
    only one of its level gets no interaction: its main effect carries it. Without this, a model with many rows
    can trade its main effect against the mean of its interactions (a long ridge for the sampler).
    """
    a_idx, b_idx = np.asarray(a_idx), np.asarray(b_idx)
    n = len(a_idx)
    basis = residual_basis(np.vstack([np.eye(a_idx.max() + 1)[a_idx].T, np.eye(b_idx.max() + 1)[b_idx].T]))
    return basis if basis.shape[1] else np.zeros((n, 0))


def _well_measured(counts: pd.Series, labels, minimum: int) -> np.ndarray:
    return np.array([float(counts.get(label, 0) >= minimum) for label in labels])


def _setup_label(row: pd.Series) -> str:
    if str(row["source_table"]).startswith("telemetry:"):  # an operator's own engine, whatever it runs
        return _engine_label(row)
    if row["engine"] == "tensorrt-llm":
        version = str(row["engine_version"]) if pd.notna(row["engine_version"]) else "unknown"
        return f"trtllm-{version}"
    task = str(row["notes"]).split("task ")[-1].split(";")[0].strip() if "task " in str(row["notes"]) else ""
    return f"{_engine_label(row)}-{task}".rstrip("-")


def _engine_label(row: pd.Series) -> str:
    """The engine a row ran: its setup less the benchmark task (one engine's step overheads serve every task)."""
    if row["engine"] == "tensorrt-llm" and not str(row["source_table"]).startswith("telemetry:"):
        return _setup_label(row)
    return f"{row['engine']}-{row['source_table']}"


def _isl_group(row: pd.Series) -> str:
    """The benchmark task a row without an input length belongs to (its source table and task)."""
    return _setup_label(row) if row["engine"] != "tensorrt-llm" else f"{row['source_table']}"


def build_throughput_design(rows: pd.DataFrame, hardware: pd.DataFrame, models: pd.DataFrame,
                            architectures: pd.DataFrame, with_observations: bool = True,
                            ref_gpu: str | None = None) -> ThroughputDesign:
    """Index and covariate arrays for ``rows`` (already filtered with :func:`usable_throughput_rows`). The reference
    GPU (effect 0: the others' effects are contrasts to it) is ``ref_gpu``, else :data:`REF_GPU` where present, else
    the GPU with the most rows."""
    if rows.empty:
        raise ValueError("no throughput rows to fit")
    model_names = tuple(sorted(rows["model"].unique()))
    gpu_names = tuple(sorted(rows["gpu"].unique()))
    setup_labels = rows.apply(_setup_label, axis=1)
    setups = tuple(sorted(setup_labels.unique()))
    sizes = models.set_index("model").reindex(list(model_names))
    total = sizes["total_params_b"].to_numpy(float)
    active = sizes["active_params_b"].to_numpy(float)
    moe = sizes["moe"].fillna(False).to_numpy(bool) & (active < total)
    if not (np.isfinite(total).all() and np.isfinite(active).all()):
        missing = [m for m, t in zip(model_names, total) if not np.isfinite(t)]
        raise ValueError(f"no parameter counts for model(s) {missing}")

    specs = {g: gpu_spec(hardware, g, "bf16") for g in gpu_names}
    if any(not np.isfinite(specs[g].memory_gb) for g in gpu_names):
        raise ValueError(f"no memory size for GPU(s) {sorted(g for g in gpu_names if not np.isfinite(specs[g].memory_gb))}")
    bw = np.array([specs[g].bandwidth_tb_s for g in gpu_names])
    known = np.isfinite(bw)
    hw = hardware[hardware["kind"] == "gpu"].set_index("gpu")
    family_bw = np.array([float(hw["memory_bw_tb_s"].astype(float).get(FAMILY_OF.get(g, g), np.nan))
                          for g in gpu_names])
    prior_c = np.where(np.isfinite(family_bw), np.log(family_bw / REF_BANDWIDTH_TB_S), 0.0)
    m_idx = rows["model"].map({m: i for i, m in enumerate(model_names)}).to_numpy()
    g_idx = rows["gpu"].map({g: i for i, g in enumerate(gpu_names)}).to_numpy()
    phys = physics(hardware, architectures, models, model_names=rows["model"].tolist(),
                   total_params_b=total[m_idx], active_params_b=active[m_idx], gpus=rows["gpu"].tolist(),
                   precisions=rows["precision"].tolist(), n_gpus=rows["n_gpus"].astype(float).to_numpy(),
                   comm_gpus=comm_gpus(rows), dp_width=data_parallel_width(rows),
                   pipeline_stages=rows["pp"].astype(float).fillna(1.0).clip(lower=1.0).to_numpy())
    phys = phys._replace(log_bw_b_s=np.where(np.isfinite(phys.log_bw_b_s), phys.log_bw_b_s, 0.0))

    if ref_gpu is None:
        ref_gpu = REF_GPU if REF_GPU in gpu_names else rows["gpu"].value_counts().index[0]
    elif ref_gpu not in gpu_names:
        raise ValueError(f"reference GPU {ref_gpu!r} has no throughput rows")
    ref_setup = setup_labels.value_counts().index[0]
    engine_labels = rows.apply(_engine_label, axis=1)
    engines = tuple(sorted(engine_labels.unique()))
    engine_of_setup = dict(zip(setup_labels, engine_labels))
    gp = list(zip(rows["gpu"], rows["precision"]))
    gp_pairs = tuple(sorted(set(gp)))
    mg = list(zip(rows["model"], rows["gpu"]))
    mg_pairs = tuple(sorted(set(mg)))
    groups = rows.apply(_isl_group, axis=1)
    isl = rows["isl"].astype(float).fillna(groups.map(ISL_STATED_TOKENS)).to_numpy()
    groups = groups.where(~np.isfinite(isl))
    isl_groups = tuple(sorted(groups.dropna().unique()))
    saturated = rows["load_regime"].isin(SATURATED).to_numpy()
    arrays = ThroughputArrays(
        model_idx=jnp.asarray(m_idx),
        gpu_idx=jnp.asarray(g_idx),
        precision_idx=jnp.asarray(rows["precision"].map({p: i for i, p in enumerate(PRECISION_LEVELS)}).to_numpy()),
        setup_idx=jnp.asarray(setup_labels.map({s: i for i, s in enumerate(setups)}).to_numpy()),
        noise_idx=jnp.asarray(noise_index(rows, rows["source_table"].map(NOISE_GROUP_OF).fillna("other")
                                          .map({g: i for i, g in enumerate(NOISE_GROUPS)}), len(NOISE_GROUPS))),
        physics=eq.Physics(*(jnp.asarray(v, dtype=jnp.float32) for v in phys)),
        log_ngpu=jnp.asarray(np.asarray(eq.log_split_gpus(phys))),
        isl=jnp.asarray(np.where(np.isfinite(isl), isl, 1000.0)),
        isl_group=jnp.asarray(groups.map({g: i for i, g in enumerate(isl_groups)}).fillna(-1).astype(int).to_numpy()),
        osl=jnp.asarray(rows["osl"].astype(float).to_numpy()),
        log_load=jnp.asarray(np.where(saturated, LOG_SATURATED,
                                      np.log(np.where(saturated, 1.0, rows["batch_size"].astype(float).to_numpy())))),
        model_log_active_c=jnp.asarray(np.log(active / 10.0)),
        model_log_sparsity_c=jnp.asarray(np.where(moe, np.log(total / active / REF_SPARSITY), 0.0)),
        model_moe=jnp.asarray(moe.astype(float)),
        gpu_log_bw_c=jnp.asarray(np.where(known, np.log(np.where(known, bw, 1.0) / REF_BANDWIDTH_TB_S), 0.0)),
        gpu_bw_known=jnp.asarray(known),
        gpu_bw_prior_c=jnp.asarray(prior_c),
        gpu_precision_idx=jnp.asarray([gp_pairs.index(p) for p in gp]),
        model_gpu_idx=jnp.asarray([mg_pairs.index(p) for p in mg]),
        gpu_basis=jnp.asarray(residual_basis([np.array([float(g == ref_gpu) for g in gpu_names]),
                                              np.where(known, np.log(np.where(known, bw, 1.0) / REF_BANDWIDTH_TB_S),
                                                       0.0)])),
        model_basis=jnp.asarray(residual_basis([np.ones(len(model_names)), np.log(active / 10.0), moe.astype(float),
                                                np.where(moe, np.log(total / active / REF_SPARSITY), 0.0)])),
        setup_is_ref=jnp.asarray(np.array([float(u == ref_setup) for u in setups])),
        centred_setup=jnp.asarray(_well_measured(setup_labels.value_counts(), setups, CENTRE_MIN_ROWS["setup"])),
        setup_engine_idx=jnp.asarray([engines.index(engine_of_setup[u]) for u in setups]),
        engine_is_ref=jnp.asarray(np.array([float(e == engine_of_setup[ref_setup]) for e in engines])),
        centred_engine=jnp.asarray(_well_measured(engine_labels.value_counts(), engines, CENTRE_MIN_ROWS["setup"])),
        operator_setup=jnp.asarray([float(engine_operator(u) is not None) for u in setups]),
        operator_engine=jnp.asarray([float(engine_operator(e) is not None) for e in engines]),
        gpu_precision_basis=jnp.asarray(interaction_basis([gpu_names.index(g) for g, _ in gp_pairs],
                                                          [PRECISION_LEVELS.index(q) for _, q in gp_pairs])),
        model_gpu_basis=jnp.asarray(interaction_basis([model_names.index(m) for m, _ in mg_pairs],
                                                      [gpu_names.index(g) for _, g in mg_pairs])),
    )
    y = np.log(rows["output_tok_s_per_gpu"].astype(float).to_numpy()) if with_observations else None
    return ThroughputDesign(arrays, y, model_names, gpu_names, PRECISION_LEVELS, setups, gp_pairs, mg_pairs,
                            isl_groups, rows.reset_index(drop=True), ref_gpu, engines)


#: Fewer free contrasts than this: a fixed prior scale (a handful of contrasts cannot learn their own spread,
#: and a hierarchical scale over them mixes slowly).
MIN_CONTRASTS_FOR_SCALE = 10
INTERACTION_SCALE = 0.3


def _interaction(name: str, basis: jnp.ndarray, n_contrasts: int) -> jnp.ndarray:
    """Cell effects ``basis @ z``, ``z ~ Normal(0, tau)`` (centred: the contrasts are well measured); ``tau`` is
    learned when there are at least :data:`MIN_CONTRASTS_FOR_SCALE` contrasts, else fixed at 0.3."""
    if n_contrasts >= MIN_CONTRASTS_FOR_SCALE:
        tau = numpyro.sample(f"tp_tau_{name}", dist.HalfNormal(INTERACTION_SCALE))
    else:
        tau = INTERACTION_SCALE
    if n_contrasts == 0:
        return numpyro.deterministic(f"tp_e_{name}", jnp.zeros(basis.shape[0]))
    with numpyro.plate(name, n_contrasts):
        z = numpyro.sample(f"tp_raw_{name}", dist.Normal(0.0, tau))
    return numpyro.deterministic(f"tp_e_{name}", basis @ z)


#: Priors of the learned efficiencies and overheads (see the module docstring), with the reason for each centre.
OVERHEAD_PRIOR_S = 1e-5  # per layer and decode step: ~10 us of launches and synchronisation (CUDA graphs)
BATCH_CAP_PRIOR = 1024.0  # engines' default maximum of concurrent sequences is 256-2048
TOKEN_OVERHEAD_PRIOR_S = 1e-5  # per sequence and step: scheduling and sampling, microseconds (wide: sd 1.5 in log)
#: An all-reduce's bus bandwidth reaches most of the link's one-way peak at large messages (NCCL's nccl-tests: about
#: 0.7-0.9 on NVLink); a decode step's messages are small, so the prior is wide around sigmoid(1) = 0.73.
LINK_LOGIT_PRIOR = 1.0
#: Decode attention kernels (FlashDecoding, FlashInfer, TensorRT-LLM's XQA) stream the KV cache at most of HBM
#: bandwidth whatever the weights' format: the prior is wide around sigmoid(1) = 0.73.
KV_LOGIT_PRIOR = 1.0
#: A link slower than 100 GB/s one way is PCIe (NVLink 3 and later: 300 GB/s and more).
PCIE_LOG_LINK_B_S = float(np.log(100e9))
#: The site of each throughput parameter :func:`efficiency` reads.
_EFFICIENCY_SITES = {"shift_compute": "shift_compute", "shift_prefill": "shift_prefill",
                     "log_overhead_layer": "log_overhead_layer_s", "overhead_ngpu": "overhead_ngpu",
                     "log_batch_cap": "log_batch_cap", "logit_link": "logit_link", "link_pcie": "link_pcie",
                     "link_pcie_gpus": "link_pcie_gpus", "log_token_overhead": "log_token_overhead_s",
                     "logit_kv": "logit_kv"}
ISL_PRIOR_TOKENS = 1000.0  # a chat or code-completion prompt with its conversation
ISL_PRIOR_SD = 0.75  # 230-4,300 tokens (95%): a short question to a long file; shorter prompts barely move a row
#: Prompt lengths stated from the benchmark's dataset where the rows cannot learn them. ML.ENERGY v2's chat and code
#: tasks are 500 human prompts from ShareGPT and HumanEval+ (the leaderboard-v2 About page); ShareGPT's prompts
#: average 161 tokens (Kwon et al., SOSP 2023, Fig. 11), HumanEval's signatures with docstrings are of that order,
#: and the chat template with its system prompt adds ~40. Below ~250 tokens the prefill barely moves a row, so the
#: rows cannot learn it (docs/validation.md: learned, it was the sampler's slowest direction).
ISL_STATED_TOKENS = {"vllm-mlenergy_v2": 200.0}


def comm_gpus(rows: pd.DataFrame) -> np.ndarray:
    """GPUs each row's layers all-reduce across: the tensor-parallel degree (or the replica over its pipeline
    stages), widened to the expert-parallel degree, at most the replica."""
    n = rows["n_gpus"].astype(float).to_numpy()
    tp = rows["tp"].astype(float).to_numpy()
    pp = rows["pp"].astype(float).to_numpy()
    ep = rows["ep"].astype(float).to_numpy()
    c = np.where(np.isfinite(tp), tp, n / np.where(np.isfinite(pp), pp, 1.0))
    return np.clip(np.fmax(c, ep), 1.0, n)


@dataclass(frozen=True)
class Layout:
    """How a replica spreads over its GPUs (the throughput table's ``parallelism`` notation), as the physics reads
    it: the GPUs each layer exchanges activations across, the attention's data-parallel ranks, pipeline stages."""

    n_gpus: int
    comm_gpus: float
    dp_width: float
    pipeline_stages: float
    expert_parallel: int


_LAYOUT_TERM = re.compile(r"^(TP|PP|EP|DP|DEP)(\d+)$")


def parse_layout(text: str, n_gpus: int | None = None) -> Layout:
    """A layout such as ``TP8``, ``TP4,PP2``, ``DEP8`` (attention data-parallel with experts over 8 GPUs) or
    ``TP1,EP8,DP8`` over ``n_gpus`` (default: the GPUs it names; the throughput table's notes in parentheses are
    ignored); a layout whose GPUs differ from ``n_gpus`` is an error."""
    degrees = layout_degrees(text, n_gpus)
    row = pd.DataFrame([layout_columns(degrees)])
    return Layout(int(row["n_gpus"].iloc[0]), float(comm_gpus(row)[0]), float(data_parallel_width(row)[0]),
                  float(degrees["PP"]), degrees["EP"])


def layout_degrees(text: str, n_gpus: int | None = None) -> dict[str, int]:
    """The degrees (``TP``, ``PP``, ``EP``, ``DP``, ``DEP``) a layout names (:func:`parse_layout`)."""
    degrees = {"TP": 1, "PP": 1, "EP": 1, "DP": 1, "DEP": 1}
    for term in (t.strip().upper() for t in re.sub(r"\([^)]*\)", "", str(text)).split(",")):  # notes dropped
        m = _LAYOUT_TERM.match(term)
        if not m or int(m.group(2)) < 1:
            raise ValueError(f"layout {text!r}: {term!r} is not TPk, PPk, EPk, DPk or DEPk (k >= 1 GPUs)")
        degrees[m.group(1)] = int(m.group(2))
    if degrees["DEP"] > 1:
        if degrees["TP"] > 1 or degrees["DP"] > 1 or degrees["EP"] > 1:
            raise ValueError(f"layout {text!r}: DEPk already sets the data-parallel and expert-parallel degrees")
        degrees["DP"] = degrees["EP"] = degrees["DEP"]
    per_stage = degrees["TP"] * degrees["DP"]
    if degrees["EP"] > per_stage:
        raise ValueError(f"layout {text!r}: expert parallelism over {degrees['EP']} GPUs exceeds the "
                         f"{per_stage} GPUs of a stage (TP x DP)")
    named = per_stage * degrees["PP"]
    if n_gpus is not None and int(n_gpus) != named:
        raise ValueError(f"layout {text!r} spans {named} GPUs, not the {int(n_gpus)} asked for")
    return degrees


def layout_columns(degrees: dict[str, int]) -> dict:
    """The throughput table's layout columns (``n_gpus``, ``tp``, ``pp``, ``ep``, ``parallelism``) of a layout's
    degrees (``TP``, ``PP``, ``EP``, ``DP``, as :func:`parse_layout` reads them)."""
    return {"n_gpus": float(degrees["TP"] * degrees["DP"] * degrees["PP"]), "tp": float(degrees["TP"]),
            "pp": float(degrees["PP"]), "ep": float(degrees["EP"]) if degrees["EP"] > 1 else np.nan,
            "parallelism": f"TP{degrees['TP']},PP{degrees['PP']},EP{degrees['EP']},DP{degrees['DP']}"}


def data_parallel_width(rows: pd.DataFrame) -> np.ndarray:
    """Ranks each row's attention runs data-parallel over: TensorRT-LLM's DEPk (attention-DP with expert parallelism
    over k GPUs) or a layout's DPk (vLLM/SGLang data parallelism with experts spread); 1 for tensor parallelism."""
    layout = rows["parallelism"].fillna("").astype(str)
    dep = pd.to_numeric(layout.str.extract(r"\bDEP(\d+)")[0], errors="coerce")
    dp = pd.to_numeric(layout.str.extract(r"\bDP(\d+)")[0], errors="coerce")
    return dep.fillna(dp).fillna(1.0).clip(lower=1.0).to_numpy(float)


def efficiency(tp: dict, delta, phys: eq.Physics, setup_overheads=(0.0, 0.0)) -> eq.Efficiency:
    """:class:`~.equations.Efficiency` from the throughput parameters ``tp`` and a group effect ``delta`` (the
    logit of the share of HBM bandwidth the weights are read at) for a replica of ``phys``: the KV cache is read at
    one share for every model and GPU (attention kernels do not depend on the weights' format or experts); the step
    overhead grows with its GPUs; an all-reduce over PCIe (cards without NVLink) reaches its own share of the link,
    which changes with the GPUs it spans (PCIe switches and sockets they share). ``setup_overheads``: the engine
    setup's log shifts of the per-layer and per-sequence step overheads (0: the reference setup's)."""
    o_setup, t_setup = setup_overheads
    log_ngpu = eq.log_split_gpus(phys)
    pcie = (phys.log_link_b_s < PCIE_LOG_LINK_B_S).astype(jnp.result_type(float))
    return eq.Efficiency(logit_memory=delta, logit_compute=delta + tp["shift_compute"],
                         logit_prefill=delta + tp["shift_prefill"],
                         log_overhead_s=tp["log_overhead_layer"] + tp["overhead_ngpu"] * log_ngpu + o_setup,
                         log_batch_cap=tp["log_batch_cap"],
                         logit_link=tp["logit_link"] + pcie * (tp["link_pcie"] + tp["link_pcie_gpus"]
                                                                * jnp.log(jnp.maximum(phys.comm_gpus, 1.0))),
                         log_token_overhead_s=tp["log_token_overhead"] + t_setup,
                         logit_kv=tp["logit_kv"])


#: Prior scale of the spread of engine setups' step overheads (log): engines and versions differ by up to a few
#: times in launch and scheduling overhead (CUDA graphs or none, Python or C++ schedulers).
SETUP_OVERHEAD_SCALE = 1.0
#: Prior scales of an operator's own engine (efficiency logit, log per-layer and log per-sequence overhead shifts):
#: the 97.5th percentiles of the benchmarked spreads' priors (HalfNormal(0.5), HalfNormal(1.0)), so an operator's
#: engine may sit as far from the reference as those priors let engines spread, and no learned spread is read.
OPERATOR_ENGINE_SCALES = (1.12, 2.24, 2.24)


def setup_overhead_effects(x: ThroughputArrays, operators: bool = False):
    """Each engine setup's log shift of the per-layer and of the per-sequence step overhead: its engine's (zero for
    the reference setup's engine), around the reference with learned spreads (an operator's own engine: stated ones,
    :data:`OPERATOR_ENGINE_SCALES`), centred where the engine's rows pin it down. The setups of one engine (benchmark
    tasks) share its overheads."""
    shifts, taus = [], []
    for name, stated in zip(("overhead", "token_overhead"), OPERATOR_ENGINE_SCALES[1:]):
        tau = numpyro.sample(f"tp_tau_{name}_engine", dist.HalfNormal(SETUP_OVERHEAD_SCALE))
        scale = jnp.where(x.operator_engine > 0, stated, tau) if operators else tau  # without: the same program
        with numpyro.plate("engines", x.engine_is_ref.shape[0]):
            shift = partially_centred(f"tp_raw_{name}_engine", 0.0, scale, x.centred_engine * (1.0 - x.engine_is_ref))
        shift = shift * (1.0 - x.engine_is_ref)
        shifts.append(numpyro.deterministic(f"tp_{name}_setup", shift[x.setup_engine_idx]))
        taus.append(tau)
    return (*shifts, *taus)


def setup_overheads(draws: dict, coords: dict, setup: str | None) -> tuple:
    """The log shifts of the step overheads of a fitted engine ``setup`` per draw (None: production's engine, a new
    engine from the benchmarked engines' population, informed by the production data)."""
    if setup is None:
        return (np.asarray(draws["op_overhead_engine"]), np.asarray(draws["op_token_overhead_engine"]))
    i = list(coords.get("setup", [])).index(setup)
    return (np.asarray(draws["tp_overhead_setup"])[:, i], np.asarray(draws["tp_token_overhead_setup"])[:, i])


def unread_elements(design: ThroughputDesign) -> dict[str, np.ndarray]:
    """Per site, the elements the model samples but no likelihood reads: a GPU's latent bandwidth where the hardware
    table publishes it."""
    return {"tp_log_bw_latent": np.asarray(design.arrays.gpu_bw_known, bool)}


def parameters(draws: dict) -> dict:
    """The throughput parameters :func:`efficiency` reads, from posterior ``draws`` (one entry per draw)."""
    return {k: draws[f"tp_{name}"] for k, name in _EFFICIENCY_SITES.items()}


def throughput_model(x: ThroughputArrays, n_models: int, n_gpus: int, n_setups: int, n_gpu_precision: int,
                     n_model_gpu: int, n_isl_groups: int, y=None, row_mask=None, n_telemetry_operators: int = 0):
    """NumPyro model of log per-GPU output tokens/s (observations last).

    ``row_mask`` (per row, default all True): rows where it is False do not inform the fit but are still predicted
    (cross-validation: a left-out model's or GPU's rows, predicted from the rest).
    """
    # model effects pooled toward a size regression (logit of the memory-bandwidth share)
    g0 = numpyro.sample("tp_g0", dist.Normal(0.5, 1.0))  # a 10B dense model at FP8 on an H100: ~60% of bandwidth
    g_active = numpyro.sample("tp_g_active", dist.Normal(0.0, 0.5))
    g_sparsity = numpyro.sample("tp_g_sparsity", dist.Normal(0.0, 0.5))
    g_moe = numpyro.sample("tp_g_moe", dist.Normal(0.0, 0.5))
    tau_model = numpyro.sample("tp_tau_model", dist.HalfNormal(0.5))
    size_mean = size_regression(g0, g_active, g_moe, g_sparsity, x.model_log_active_c, x.model_moe,
                                x.model_log_sparsity_c)
    with numpyro.plate("model_contrasts", x.model_basis.shape[1]):
        z_model = numpyro.sample("tp_raw_model", dist.Normal(0.0, tau_model))
    a_model = numpyro.deterministic("tp_a_model", size_mean + x.model_basis @ z_model)
    # GPU effects pooled toward a line in memory bandwidth (latent where unpublished)
    k_bw = numpyro.sample("tp_k_bw", dist.Normal(0.0, 0.5))
    tau_gpu = numpyro.sample("tp_tau_gpu", dist.HalfNormal(0.5))
    with numpyro.plate("gpus", n_gpus):
        bw_latent = numpyro.sample("tp_log_bw_latent", dist.Normal(x.gpu_bw_prior_c, 0.3))
    log_bw = jnp.where(x.gpu_bw_known, x.gpu_log_bw_c, bw_latent)
    with numpyro.plate("gpu_contrasts", x.gpu_basis.shape[1]):
        z_gpu = numpyro.sample("tp_raw_gpu", dist.Normal(0.0, tau_gpu))
    b_gpu = numpyro.deterministic("tp_b_gpu", k_bw * log_bw + x.gpu_basis @ z_gpu)
    with numpyro.plate("precisions_free", len(PRECISION_LEVELS) - 1):
        c_free = numpyro.sample("tp_c_precision_free", dist.Normal(0.0, 0.7))
    c_precision = numpyro.deterministic("tp_c_precision", jnp.concatenate([jnp.zeros(1), c_free]))
    tau_setup = numpyro.sample("tp_tau_setup", dist.HalfNormal(0.5))
    # an operator's own engine at its stated spread; without operators, the program the shipped posterior was fitted by
    scale_setup = (jnp.where(x.operator_setup > 0, OPERATOR_ENGINE_SCALES[0], tau_setup) if n_telemetry_operators
                   else tau_setup)
    with numpyro.plate("setups", n_setups):
        d_setup = partially_centred("tp_raw_setup", 0.0, scale_setup, x.centred_setup * (1.0 - x.setup_is_ref))
    d_setup = numpyro.deterministic("tp_d_setup", d_setup * (1.0 - x.setup_is_ref))
    o_setup, t_setup, tau_o, tau_t = setup_overhead_effects(x, operators=bool(n_telemetry_operators))
    e_gp = _interaction("gpu_precision", x.gpu_precision_basis, n_gpu_precision)
    e_mg = _interaction("model_gpu", x.model_gpu_basis, n_model_gpu)
    beta_ngpu = numpyro.sample("tp_beta_ngpu", dist.Normal(0.0, 0.3))
    # compute and prefill shares relative to the memory share, step overhead, engine cap
    tp = {"shift_compute": numpyro.sample("tp_shift_compute", dist.Normal(0.0, 1.0)),
          "shift_prefill": numpyro.sample("tp_shift_prefill", dist.Normal(0.0, 1.0)),
          "log_overhead_layer": numpyro.sample("tp_log_overhead_layer_s",
                                               dist.Normal(float(np.log(OVERHEAD_PRIOR_S)), 1.0)),
          "overhead_ngpu": numpyro.sample("tp_overhead_ngpu", dist.Normal(0.3, 0.3)),
          "log_batch_cap": numpyro.sample("tp_log_batch_cap", dist.Normal(float(np.log(BATCH_CAP_PRIOR)), 1.0)),
          "logit_link": numpyro.sample("tp_logit_link", dist.Normal(LINK_LOGIT_PRIOR, 1.0)),
          "link_pcie": numpyro.sample("tp_link_pcie", dist.Normal(0.0, 1.0)),
          "link_pcie_gpus": numpyro.sample("tp_link_pcie_gpus", dist.Normal(0.0, 0.5)),
          "logit_kv": numpyro.sample("tp_logit_kv", dist.Normal(KV_LOGIT_PRIOR, 1.0)),
          "log_token_overhead": numpyro.sample("tp_log_token_overhead_s",
                                               dist.Normal(float(np.log(TOKEN_OVERHEAD_PRIOR_S)), 1.5))}
    isl = x.isl
    if n_isl_groups:  # benchmark tasks that do not state their prompt length
        with numpyro.plate("isl_groups", n_isl_groups):
            log_isl_task = numpyro.sample("tp_log_isl_task", dist.Normal(float(np.log(ISL_PRIOR_TOKENS)), ISL_PRIOR_SD))
        isl = jnp.where(x.isl_group >= 0, jnp.exp(log_isl_task[jnp.maximum(x.isl_group, 0)]), x.isl)
    delta = (a_model[x.model_idx] + b_gpu[x.gpu_idx] + c_precision[x.precision_idx] + d_setup[x.setup_idx]
             + e_gp[x.gpu_precision_idx] + e_mg[x.model_gpu_idx] + beta_ngpu * x.log_ngpu)
    phys = x.physics._replace(log_bw_b_s=jnp.log(REF_BANDWIDTH_TB_S * 1e12) + log_bw[x.gpu_idx])
    eff = efficiency(tp, delta, phys, (o_setup[x.setup_idx], t_setup[x.setup_idx]))
    times = eq.serving_times(phys, eff, x.log_load, isl, isl, x.osl)
    mu = eq.log_tps_per_gpu(phys.n_gpus, x.osl, times)
    with numpyro.plate("noise_groups", len(NOISE_GROUPS)):
        sigma = numpyro.sample("tp_sigma", dist.HalfNormal(0.5))
    if n_telemetry_operators:  # one deployment's logs: a noise scale of each operator's own
        with numpyro.plate("telemetry_operators", n_telemetry_operators):
            sigma = jnp.concatenate([sigma, numpyro.sample("tp_sigma_telemetry", dist.HalfNormal(0.5))])
    nu = numpyro.sample("tp_nu", dist.Gamma(2.0, 0.1))
    with numpyro.plate("throughput_rows", mu.shape[0]), \
            numpyro.handlers.mask(mask=True if row_mask is None else row_mask):
        numpyro.sample("tp_obs", StudentT(nu, mu, sigma[x.noise_idx]), obs=y)
    return {**tp, "g0": g0, "g_active": g_active, "g_moe": g_moe, "g_sparsity": g_sparsity, "tau_model": tau_model,
            "tau_setup": tau_setup, "tau_overhead_engine": tau_o, "tau_token_overhead_engine": tau_t,
            "a_model": a_model, "b_gpu": b_gpu, "c_precision": c_precision, "beta_ngpu": beta_ngpu,
            "e_gpu_precision": e_gp, "e_model_gpu": e_mg,
            "tau_gpu": tau_gpu, "k_bw": k_bw, "mu": mu, "times": times}


# --- reading a posterior: the only place outside the likelihood that names this model's sites ---------------------

def n_draws(draws: dict) -> int:
    """The number of draws in flattened posterior ``draws``."""
    return len(draws["tp_g0"])


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def gpu_effects(draws: dict) -> np.ndarray:
    """Share of each fitted GPU's HBM bandwidth a decode step reaches (draws x GPU): a 10B dense model at FP8 on the
    reference engine setup."""
    return _sigmoid(np.asarray(draws["tp_g0"])[:, None] + np.asarray(draws["tp_b_gpu"]))


def model_effects(draws: dict) -> np.ndarray:
    """Share of the reference GPU's HBM bandwidth each fitted model's decode step reaches (draws x model), at FP8
    on the reference engine setup."""
    return _sigmoid(np.asarray(draws["tp_a_model"]))


def learned_input_tokens(draws: dict, coords: dict, task: str) -> np.ndarray | None:
    """Input tokens per draw the fit learned for a benchmark task that does not state them (its label in the
    ``isl_group`` coordinate); None for a task the posterior has none for."""
    groups = coords.get("isl_group", [])
    if task not in groups or "tp_log_isl_task" not in draws:
        return None
    return np.exp(np.asarray(draws["tp_log_isl_task"])[:, groups.index(task)])


def serving_efficiencies(draws: dict, coords: dict) -> dict[str, np.ndarray]:
    """What the throughput data taught about serving, per draw (posterior or prior ``draws``): the shares of HBM
    bandwidth (reading weights), of peak FLOP/s in decode and in prefill a 10B dense model reaches at FP8 on the
    H100 with the reference engine, the per-layer overhead of a decode step on one GPU and the time each sequence
    adds to a step (microseconds), the engines' batch cap, the share of HBM bandwidth the KV cache is read at, the
    share of the GPU-to-GPU link an all-reduce reaches (NVLink; PCIe across 2 and 8 GPUs) and the prompt length of
    each benchmark task that does not state it."""
    g0 = np.asarray(draws["tp_g0"], np.float64)
    link = np.asarray(draws["tp_logit_link"], np.float64)
    pcie = link + np.asarray(draws["tp_link_pcie"], np.float64)
    pcie_gpus = np.asarray(draws["tp_link_pcie_gpus"], np.float64)
    out = {"bandwidth_share": _sigmoid(g0),
           "decode_flops_share": _sigmoid(g0 + np.asarray(draws["tp_shift_compute"])),
           "prefill_flops_share": _sigmoid(g0 + np.asarray(draws["tp_shift_prefill"])),
           "overhead_us_per_layer": 1e6 * np.exp(np.asarray(draws["tp_log_overhead_layer_s"], np.float64)),
           "us_per_sequence_and_step": 1e6 * np.exp(np.asarray(draws["tp_log_token_overhead_s"], np.float64)),
           "batch_cap": np.exp(np.asarray(draws["tp_log_batch_cap"], np.float64)),
           "kv_read_share": _sigmoid(np.asarray(draws["tp_logit_kv"], np.float64)),
           "nvlink_share": _sigmoid(link),
           "pcie_share 2 GPUs": _sigmoid(pcie + pcie_gpus * np.log(2.0)),
           "pcie_share 8 GPUs": _sigmoid(pcie + pcie_gpus * np.log(8.0))}
    for task in coords.get("isl_group", []):
        tokens = learned_input_tokens(draws, coords, task)
        if tokens is not None:
            out[f"prompt_tokens {task}"] = tokens
    return out
