"""Throughput sub-model: per-GPU output tokens/s of a model on a GPU, for a query shape and a load.

    log y_i ~ StudentT(nu, mu_i, sigma[source group of row i])
    mu_i = a[model] + b[gpu] + c[precision] + d[setup]
           + beta_isl[class] * log(ISL/1000) + beta_osl[class] * log(OSL/1000) + beta_io * log(ISL/1000) log(OSL/1000)
           + beta_ngpu * log(n_gpus) + log s(batch)
    a[model] ~ Normal(g0 + g_active * log(active/10B) + moe * (g_moe + g_sparsity * log(total/active / 10)),
                      tau_model)
    b[gpu]   ~ Normal(k_bw * log(bandwidth / 3.35 TB/s), tau_gpu)       (bandwidth latent where not published)
    d[setup] ~ Normal(0, tau_setup)
    s(batch) = batch / (batch + batch50[class])                        (1 at saturation: max-throughput rows)

Reference levels: precision fp8, the GPU H100 SXM (b = 0: g0 is throughput on an H100) and the engine setup
with the most rows (d = 0), so the intercept is not confounded with the mean of a well-measured group.

Partial pooling lets an unseen model be predicted from its size, and an unseen GPU from its memory bandwidth,
each with the spread its group shows. Everything is on the log scale.

Parameterisation (measured on the shipped data: 511 -> 127 leapfrog steps per draw, step size 0.011 -> 0.038):
model effects are deviations from the size regression on an orthonormal basis orthogonal to its covariates,
GPU effects deviations from the bandwidth line (zero for the reference GPU, orthogonal to the published
bandwidths), and the GPU x precision and model x GPU interactions live on a basis of the observed cells with
both margins centred (:func:`interaction_basis`), so no group mean can trade against an intercept, a slope or a
main effect. Per-model slopes and engine setups are centred where the data pin them down and non-centred where
they do not (:func:`partially_centred`). A fully non-centred version made the well-measured effects nearly
collinear with their group means (posterior correlations above 0.97).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pandas as pd

from ..data.vocab import PRECISION_TABLE
from . import equations as eq
from .student_t import StudentT

__all__ = [
    "MODEL_CLASSES",
    "NOISE_GROUPS",
    "PRECISION_LEVELS",
    "ThroughputArrays",
    "ThroughputDesign",
    "build_throughput_design",
    "gpu_effects",
    "model_effects",
    "n_draws",
    "throughput_model",
    "usable_throughput_rows",
]

#: Quality flags whose rows the fit leaves out (kept in the data; see the data card).
EXCLUDED_FLAGS = ("superseded_revision", "repeats_earlier_version", "anomalous_cell", "v0.10_methodology",
                  "gh200_tp2_inconsistent", "duplicate_of", "short_osl_inconsistent", "speculative_decoding",
                  "legacy_2023")
#: Multimodal benchmark tasks (image/video chat) are not text-LLM serving.
EXCLUDED_TASKS = ("image-chat", "video-chat", "mllm_text_generation")
#: Load regimes at (or treated as) saturation, and those with a measured batch size.
SATURATED = ("max_throughput", "offered_qps_inf")
BATCHED = ("static_batch", "batch_size")
PRECISION_LEVELS = ("fp8", "fp4", "fp16", "bf16", "mixed")  # fp8 is the reference level
MODEL_CLASSES = ("dense_small", "dense_large", "moe")  # dense <= 20B, dense > 20B, mixture of experts
REF_BANDWIDTH_TB_S = 3.35  # H100 SXM
REF_GPU = "H100-SXM-80GB"
REF_SPARSITY = 10.0  # total / active parameters of a typical mixture of experts
WEIGHT_BYTES = {p: PRECISION_TABLE[p].weight_bytes for p in PRECISION_LEVELS}
KV_BYTES = {p: PRECISION_TABLE[p].kv_bytes for p in PRECISION_LEVELS}
USABLE_MEMORY = 0.9  # share of GPU memory an engine gives to weights + KV cache
#: Measurement-noise groups: benchmark suites differ in how repeatable their numbers are (TensorRT-LLM's
#: tables are tight, ML.ENERGY's runs scatter more), so each suite gets its own residual scale.
NOISE_GROUPS = ("trtllm", "mlenergy_v2", "mlenergy_v3", "other")
NOISE_GROUP_OF = {"trtllm_perf_overview": "trtllm", "trtllm_serving": "trtllm", "trtllm_dsr1_blog": "trtllm",
                  "mlenergy_v2": "mlenergy_v2", "mlenergy_v3": "mlenergy_v3"}
FAMILY_OF = {"GH200-120GB": "GH200-96GB", "RTX-PRO-6000-SE": "L40S", "A40": "L40S"}


def model_class(total_params_b: float, active_params_b: float, moe: bool) -> str:
    if moe and active_params_b < total_params_b:
        return "moe"
    return "dense_small" if total_params_b <= 20 else "dense_large"


def usable_throughput_rows(throughput: pd.DataFrame) -> pd.DataFrame:
    """Rows the fit uses: no excluding flag, text tasks, a load regime the likelihood describes."""
    flags = throughput["quality_flags"].fillna("").astype(str)
    bad_flag = flags.str.contains("|".join(EXCLUDED_FLAGS))
    notes = throughput["notes"].fillna("").astype(str) + " " + throughput["source"].fillna("").astype(str)
    bad_task = notes.str.contains("|".join(EXCLUDED_TASKS))
    regime = throughput["load_regime"]
    ok_regime = regime.isin(SATURATED) | (regime.isin(BATCHED) & throughput["batch_size"].notna())
    ok_precision = throughput["precision"].isin(PRECISION_LEVELS)
    return throughput[~bad_flag & ~bad_task & ok_regime & ok_precision].reset_index(drop=True)


class ThroughputArrays(NamedTuple):
    """Everything the NumPyro model reads (a pytree of arrays)."""

    model_idx: jnp.ndarray
    gpu_idx: jnp.ndarray
    precision_idx: jnp.ndarray
    setup_idx: jnp.ndarray
    class_idx: jnp.ndarray  # per row (the row's model class)
    noise_idx: jnp.ndarray  # per row: its measurement-noise group (NOISE_GROUPS)
    log_isl_c: jnp.ndarray  # log(ISL / 1000); 0 where unknown (the setup effect absorbs the task's inputs)
    log_osl_c: jnp.ndarray
    log_ngpu: jnp.ndarray
    batch: jnp.ndarray  # batch size; +inf at saturation
    model_log_active_c: jnp.ndarray  # log(active / 10B), per model
    model_log_total_c: jnp.ndarray
    model_log_sparsity_c: jnp.ndarray  # MoE: log(total / active / 10); 0 for dense models
    model_moe: jnp.ndarray
    gpu_log_bw_c: jnp.ndarray  # log(bandwidth / 3.35 TB/s); 0 where unknown
    gpu_bw_known: jnp.ndarray  # bool
    gpu_bw_prior_c: jnp.ndarray  # prior centre for unknown bandwidths (the family's), log scale
    gpu_precision_idx: jnp.ndarray  # per row: index of its (GPU, precision) pair
    model_gpu_idx: jnp.ndarray  # per row: index of its (model, GPU) pair
    model_class_idx: jnp.ndarray  # per model
    log_headroom_gb: jnp.ndarray  # per row: log(GPU memory of the group x 0.9 - weight memory), floored at 1 GB
    log_seq_tokens: jnp.ndarray  # per row: log(ISL + OSL) (ISL 1000 where unknown)
    log_kv_bytes: jnp.ndarray  # per row: log bytes per KV element (1 for fp8/fp4 KV cache, 2 for 16-bit)
    # 1.0 where a group effect is sampled centred (well measured), 0.0 where non-centred
    gpu_basis: jnp.ndarray  # (GPUs, free contrasts): zero on the reference GPU, orthogonal to log bandwidth
    model_basis: jnp.ndarray  # (models, free contrasts): orthogonal to the size regression's covariates
    setup_is_ref: jnp.ndarray  # 1.0 for the reference setup (effect 0)
    centred_setup: jnp.ndarray
    centred_isl: jnp.ndarray  # per model
    centred_osl: jnp.ndarray  # per model
    # interactions live on an orthonormal basis of the observed cells orthogonal to both main effects
    gpu_precision_basis: jnp.ndarray  # (GPU x precision cells, free contrasts)
    model_gpu_basis: jnp.ndarray  # (model x GPU cells, free contrasts)


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
    rows: pd.DataFrame

    @property
    def sizes(self) -> dict[str, int]:
        """The static sizes the NumPyro model needs."""
        return dict(n_models=len(self.models), n_gpus=len(self.gpus), n_setups=len(self.setups),
                    n_gpu_precision=int(self.arrays.gpu_precision_basis.shape[1]),
                    n_model_gpu=int(self.arrays.model_gpu_basis.shape[1]))

    @property
    def n_rows(self) -> int:
        return len(self.rows)


#: Rows (or distinct shapes) from which a group effect is sampled centred.
CENTRE_MIN_ROWS = {"setup": 20}
CENTRE_MIN_SHAPES = 3  # distinct ISL (OSL) values spanning at least a factor e, for a model's slope


def partially_centred(name: str, loc, scale, centred):
    """Sample a group effect ``~ Normal(loc, scale)``, centred where ``centred`` is 1 and non-centred where 0.

    The site ``name`` holds the raw variable: the effect itself where centred, a standard normal where not.
    """
    w = jnp.asarray(centred, dtype=jnp.result_type(float))
    raw = numpyro.sample(name, dist.Normal(w * loc, scale ** w))
    return loc + scale ** (1.0 - w) * (raw - w * loc)


def residual_basis(constraints) -> np.ndarray:
    """Orthonormal basis (columns) of the vectors orthogonal to every row of ``constraints``."""
    c = np.atleast_2d(np.asarray(constraints, dtype=float))
    _, sv, vt = np.linalg.svd(c, full_matrices=True)
    rank = int(np.sum(sv > 1e-9 * sv.max())) if sv.size else 0
    return vt[rank:].T


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


def _slope_identified(values: pd.Series, groups: pd.Series, labels) -> np.ndarray:
    out = []
    for label in labels:
        v = np.log(values[(groups == label).to_numpy()].dropna().astype(float).to_numpy())
        out.append(float(len(np.unique(v)) >= CENTRE_MIN_SHAPES and np.ptp(v) >= 1.0) if len(v) else 0.0)
    return np.array(out)


def _setup_label(row: pd.Series) -> str:
    if row["engine"] == "tensorrt-llm":
        version = str(row["engine_version"]) if pd.notna(row["engine_version"]) else "unknown"
        return f"trtllm-{version}"
    task = str(row["notes"]).split("task ")[-1].split(";")[0].strip() if "task " in str(row["notes"]) else ""
    return f"{row['engine']}-{row['source_table']}-{task}".rstrip("-")


def build_throughput_design(rows: pd.DataFrame, hardware: pd.DataFrame, models: pd.DataFrame | None = None,
                            with_observations: bool = True) -> ThroughputDesign:
    """Index and covariate arrays for ``rows`` (already filtered with :func:`usable_throughput_rows`)."""
    if rows.empty:
        raise ValueError("no throughput rows to fit")
    model_names = tuple(sorted(rows["model"].unique()))
    gpu_names = tuple(sorted(rows["gpu"].unique()))
    setup_labels = rows.apply(_setup_label, axis=1)
    setups = tuple(sorted(setup_labels.unique()))
    per_model = rows.groupby("model").first().loc[list(model_names)]
    if models is not None:
        sizes = models.set_index("model").reindex(list(model_names))
        per_model[["total_params_b", "active_params_b", "moe"]] = sizes[["total_params_b", "active_params_b", "moe"]]
    total = per_model["total_params_b"].to_numpy(float)
    active = per_model["active_params_b"].to_numpy(float)
    moe = per_model["moe"].to_numpy(bool)
    classes = np.array([MODEL_CLASSES.index(model_class(t, a, m)) for t, a, m in zip(total, active, moe)])

    gpu_specs = hardware[hardware["kind"] == "gpu"].set_index("gpu")
    mem_gb = gpu_specs["memory_gb"].astype(float).reindex(rows["gpu"]).to_numpy()
    named = rows["gpu"].str.extract(r"(\d+)GB")[0].astype(float).to_numpy()  # e.g. GH200-120GB as labelled
    mem_gb = np.where(np.isfinite(mem_gb), mem_gb, named)
    if not np.isfinite(mem_gb).all():
        raise ValueError(f"no memory size for GPU(s) {sorted(set(rows['gpu'][~np.isfinite(mem_gb)]))}")
    row_total = rows["model"].map(dict(zip(per_model.index, per_model["total_params_b"]))).to_numpy(float)
    weight_gb = row_total * rows["precision"].map(WEIGHT_BYTES).to_numpy(float)
    headroom_gb = np.maximum(rows["n_gpus"].to_numpy(float) * mem_gb * USABLE_MEMORY - weight_gb, 1.0)
    bw = gpu_specs["memory_bw_tb_s"].astype(float).reindex(list(gpu_names)).to_numpy()
    known = np.isfinite(bw)
    family_bw = np.array([gpu_specs["memory_bw_tb_s"].astype(float).get(FAMILY_OF.get(g, g), np.nan)
                          for g in gpu_names])
    prior_c = np.where(np.isfinite(family_bw), np.log(family_bw / REF_BANDWIDTH_TB_S), 0.0)

    ref_gpu = REF_GPU if REF_GPU in gpu_names else rows["gpu"].value_counts().index[0]
    ref_setup = setup_labels.value_counts().index[0]
    m_idx = rows["model"].map({m: i for i, m in enumerate(model_names)}).to_numpy()
    gp = list(zip(rows["gpu"], rows["precision"]))
    gp_pairs = tuple(sorted(set(gp)))
    mg = list(zip(rows["model"], rows["gpu"]))
    mg_pairs = tuple(sorted(set(mg)))
    isl = rows["isl"].astype(float).to_numpy()
    batch = np.where(rows["load_regime"].isin(SATURATED), np.inf, rows["batch_size"].astype(float).to_numpy())
    arrays = ThroughputArrays(
        model_idx=jnp.asarray(m_idx),
        gpu_idx=jnp.asarray(rows["gpu"].map({g: i for i, g in enumerate(gpu_names)}).to_numpy()),
        precision_idx=jnp.asarray(rows["precision"].map({p: i for i, p in enumerate(PRECISION_LEVELS)}).to_numpy()),
        setup_idx=jnp.asarray(setup_labels.map({s: i for i, s in enumerate(setups)}).to_numpy()),
        class_idx=jnp.asarray(classes[m_idx]),
        noise_idx=jnp.asarray(rows["source_table"].map(NOISE_GROUP_OF).fillna("other")
                              .map({g: i for i, g in enumerate(NOISE_GROUPS)}).to_numpy()),
        log_isl_c=jnp.asarray(np.where(np.isfinite(isl), np.log(np.where(np.isfinite(isl), isl, 1000.0) / 1000.0),
                                       0.0)),
        log_osl_c=jnp.asarray(np.log(rows["osl"].astype(float).to_numpy() / 1000.0)),
        log_ngpu=jnp.asarray(np.log(rows["n_gpus"].astype(float).to_numpy())),
        batch=jnp.asarray(batch),
        model_log_active_c=jnp.asarray(np.log(active / 10.0)),
        model_log_total_c=jnp.asarray(np.log(total / 10.0)),
        model_log_sparsity_c=jnp.asarray(np.where(moe, np.log(total / active / REF_SPARSITY), 0.0)),
        gpu_basis=jnp.asarray(residual_basis([np.array([float(g == ref_gpu) for g in gpu_names]),
                                              np.where(known, np.log(np.where(known, bw, 1.0) / REF_BANDWIDTH_TB_S),
                                                       0.0)])),
        model_basis=jnp.asarray(residual_basis([np.ones(len(model_names)), np.log(active / 10.0), moe.astype(float),
                                                np.where(moe, np.log(total / active / REF_SPARSITY), 0.0)])),
        setup_is_ref=jnp.asarray(np.array([float(u == ref_setup) for u in setups])),
        model_moe=jnp.asarray(moe.astype(float)),
        gpu_log_bw_c=jnp.asarray(np.where(known, np.log(np.where(known, bw, 1.0) / REF_BANDWIDTH_TB_S), 0.0)),
        gpu_bw_known=jnp.asarray(known),
        gpu_bw_prior_c=jnp.asarray(prior_c),
        gpu_precision_idx=jnp.asarray([gp_pairs.index(p) for p in gp]),
        model_gpu_idx=jnp.asarray([mg_pairs.index(p) for p in mg]),
        model_class_idx=jnp.asarray(classes),
        log_headroom_gb=jnp.asarray(np.log(headroom_gb)),
        log_seq_tokens=jnp.asarray(np.log(np.where(np.isfinite(isl), isl, 1000.0) + rows["osl"].astype(float).to_numpy())),
        log_kv_bytes=jnp.asarray(np.log(rows["precision"].map(KV_BYTES).to_numpy(float))),
        centred_setup=jnp.asarray(_well_measured(setup_labels.value_counts(), setups, CENTRE_MIN_ROWS["setup"])),
        centred_isl=jnp.asarray(_slope_identified(rows["isl"], rows["model"], model_names)),
        centred_osl=jnp.asarray(_slope_identified(rows["osl"], rows["model"], model_names)),
        gpu_precision_basis=jnp.asarray(interaction_basis([gpu_names.index(g) for g, _ in gp_pairs],
                                                          [PRECISION_LEVELS.index(q) for _, q in gp_pairs])),
        model_gpu_basis=jnp.asarray(interaction_basis([model_names.index(m) for m, _ in mg_pairs],
                                                      [gpu_names.index(g) for _, g in mg_pairs])),
    )
    y = np.log(rows["output_tok_s_per_gpu"].astype(float).to_numpy()) if with_observations else None
    return ThroughputDesign(arrays, y, model_names, gpu_names, PRECISION_LEVELS, setups, gp_pairs, mg_pairs,
                            rows.reset_index(drop=True))


#: Fewer free contrasts than this: a fixed prior scale (a handful of contrasts cannot learn their own spread,
#: and a hierarchical scale over them mixes slowly).
MIN_CONTRASTS_FOR_SCALE = 10
INTERACTION_SCALE = 0.3
#: Spread of the model classes' length slopes about their mean, fixed: three classes cannot learn their own
#: spread (docs/validation.md, "Sampler geometry").
CLASS_SLOPE_SCALE = 0.3


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


def throughput_model(x: ThroughputArrays, n_models: int, n_gpus: int, n_setups: int, n_gpu_precision: int,
                     n_model_gpu: int, y=None, row_mask=None):
    """NumPyro model of log per-GPU output tokens/s (observations last).

    ``row_mask`` (per row, default all True): rows where it is False do not inform the fit but are still predicted
    (cross-validation: a left-out model's or GPU's rows, predicted from the rest).
    """
    n_classes = len(MODEL_CLASSES)
    # model effects pooled toward a size regression
    g0 = numpyro.sample("tp_g0", dist.Normal(7.0, 2.0))  # log tok/s/GPU of a 10B dense model at 1k/1k, fp8, H100
    g_active = numpyro.sample("tp_g_active", dist.Normal(-0.7, 0.5))
    g_sparsity = numpyro.sample("tp_g_sparsity", dist.Normal(-0.2, 0.5))
    g_moe = numpyro.sample("tp_g_moe", dist.Normal(0.0, 1.0))
    tau_model = numpyro.sample("tp_tau_model", dist.HalfNormal(0.5))
    size_mean = g0 + g_active * x.model_log_active_c + g_moe * x.model_moe + g_sparsity * x.model_log_sparsity_c
    # deviations from the size regression, on a basis orthogonal to its covariates (no ridge with the g's)
    with numpyro.plate("model_contrasts", x.model_basis.shape[1]):
        z_model = numpyro.sample("tp_raw_model", dist.Normal(0.0, tau_model))
    a_model = numpyro.deterministic("tp_a_model", size_mean + x.model_basis @ z_model)
    # GPU effects pooled toward memory bandwidth (latent where unpublished)
    k_bw = numpyro.sample("tp_k_bw", dist.Normal(1.0, 0.5))
    tau_gpu = numpyro.sample("tp_tau_gpu", dist.HalfNormal(0.5))
    with numpyro.plate("gpus", n_gpus):
        bw_latent = numpyro.sample("tp_log_bw_latent", dist.Normal(x.gpu_bw_prior_c, 0.3))
    log_bw = jnp.where(x.gpu_bw_known, x.gpu_log_bw_c, bw_latent)
    # deviations from the bandwidth line: zero for the reference GPU, orthogonal to the published bandwidths
    with numpyro.plate("gpu_contrasts", x.gpu_basis.shape[1]):
        z_gpu = numpyro.sample("tp_raw_gpu", dist.Normal(0.0, tau_gpu))
    b_gpu = numpyro.deterministic("tp_b_gpu", k_bw * log_bw + x.gpu_basis @ z_gpu)
    # precision (fp8 = 0), engine setup
    with numpyro.plate("precisions_free", len(PRECISION_LEVELS) - 1):
        c_free = numpyro.sample("tp_c_precision_free", dist.Normal(0.0, 0.7))
    c_precision = numpyro.deterministic("tp_c_precision", jnp.concatenate([jnp.zeros(1), c_free]))
    tau_setup = numpyro.sample("tp_tau_setup", dist.HalfNormal(0.5))
    with numpyro.plate("setups", n_setups):
        d_setup = partially_centred("tp_raw_setup", 0.0, tau_setup, x.centred_setup * (1.0 - x.setup_is_ref))
    d_setup = d_setup * (1.0 - x.setup_is_ref)
    d_setup = numpyro.deterministic("tp_d_setup", d_setup)
    # shape slopes by model class, pooled toward a common mean with a fixed spread (too few classes to learn it)
    beta_isl_mu = numpyro.sample("tp_beta_isl_mu", dist.Normal(-0.4, 0.5))
    beta_osl_mu = numpyro.sample("tp_beta_osl_mu", dist.Normal(0.2, 0.5))
    with numpyro.plate("classes", n_classes):
        beta_isl = numpyro.sample("tp_beta_isl", dist.Normal(beta_isl_mu, CLASS_SLOPE_SCALE))
        beta_osl = numpyro.sample("tp_beta_osl", dist.Normal(beta_osl_mu, CLASS_SLOPE_SCALE))
        log_batch50 = numpyro.sample("tp_log_batch50", dist.Normal(jnp.log(64.0), 1.0))
    # each model's slopes pooled toward its class's
    tau_slope_model = numpyro.sample("tp_tau_slope_model", dist.HalfNormal(0.2))
    with numpyro.plate("models_slopes", n_models):
        beta_isl_m = partially_centred("tp_raw_isl_model", beta_isl[x.model_class_idx], tau_slope_model, x.centred_isl)
        beta_osl_m = partially_centred("tp_raw_osl_model", beta_osl[x.model_class_idx], tau_slope_model, x.centred_osl)
    beta_isl_m = numpyro.deterministic("tp_beta_isl_model", beta_isl_m)
    beta_osl_m = numpyro.deterministic("tp_beta_osl_model", beta_osl_m)
    # interactions seen in the data: GPU x precision (e.g. FP4 only on Blackwell), model x GPU (memory fit)
    # (n_gpu_precision, n_model_gpu: the numbers of free interaction contrasts, i.e. the bases' columns)
    e_gp = _interaction("gpu_precision", x.gpu_precision_basis, n_gpu_precision)
    e_mg = _interaction("model_gpu", x.model_gpu_basis, n_model_gpu)
    beta_io = numpyro.sample("tp_beta_io", dist.Normal(0.0, 0.3))
    beta_ngpu = numpyro.sample("tp_beta_ngpu", dist.Normal(-0.2, 0.5))
    # KV-cache capacity: how many sequences of this length fit in the memory left after the weights
    kv0 = numpyro.sample("tp_log_kv_mb_per_token", dist.Normal(jnp.log(0.15), 0.7))  # 16-bit, 10B model
    kv_slope = numpyro.sample("tp_kv_slope", dist.Normal(0.4, 0.3))
    log_kv_mb = eq.log_kv_mb_per_token(kv0, kv_slope, x.log_kv_bytes, x.model_log_total_c[x.model_idx])
    log_b_kv = eq.log_kv_capacity(x.log_headroom_gb, log_kv_mb, x.log_seq_tokens)
    # effective batch: the KV capacity at saturation (batch inf), else the smaller of the batch run and the capacity
    saturated = jnp.isinf(x.batch)
    log_b_eff = jnp.where(saturated, log_b_kv,
                          eq.log_effective_batch(log_b_kv, jnp.log(jnp.where(saturated, 1.0, x.batch))))
    log_tps_fixed = (a_model[x.model_idx] + b_gpu[x.gpu_idx] + c_precision[x.precision_idx] + d_setup[x.setup_idx]
                     + e_gp[x.gpu_precision_idx] + e_mg[x.model_gpu_idx] + beta_ngpu * x.log_ngpu)
    mu = eq.log_tps_per_gpu(log_tps_fixed, beta_isl_m[x.model_idx], beta_osl_m[x.model_idx], beta_io, x.log_isl_c,
                            x.log_osl_c, eq.log_load(log_batch50[x.class_idx], log_b_eff))
    with numpyro.plate("noise_groups", len(NOISE_GROUPS)):
        sigma = numpyro.sample("tp_sigma", dist.HalfNormal(0.5))
    nu = numpyro.sample("tp_nu", dist.Gamma(2.0, 0.1))
    with numpyro.plate("throughput_rows", mu.shape[0]), \
            numpyro.handlers.mask(mask=True if row_mask is None else row_mask):
        numpyro.sample("tp_obs", StudentT(nu, mu, sigma[x.noise_idx]), obs=y)
    return {"g0": g0, "g_active": g_active, "g_moe": g_moe, "g_sparsity": g_sparsity, "tau_model": tau_model,
            "a_model": a_model, "b_gpu": b_gpu, "c_precision": c_precision, "beta_isl": beta_isl,
            "beta_osl": beta_osl, "beta_isl_model": beta_isl_m, "beta_osl_model": beta_osl_m, "beta_io": beta_io,
            "beta_ngpu": beta_ngpu, "log_batch50": log_batch50, "tau_gpu": tau_gpu, "k_bw": k_bw, "mu": mu}


# --- reading a posterior: the only place outside the likelihood that names this model's sites ---------------------

def n_draws(draws: dict) -> int:
    """The number of draws in flattened posterior ``draws``."""
    return len(draws["tp_g0"])


def gpu_effects(draws: dict) -> np.ndarray:
    """Throughput of each fitted GPU relative to the reference GPU (draws x GPU)."""
    return np.exp(np.asarray(draws["tp_b_gpu"]))


def model_effects(draws: dict) -> np.ndarray:
    """Throughput of each fitted model relative to the median model (draws x model)."""
    a = np.asarray(draws["tp_a_model"])
    return np.exp(a - np.median(a))
