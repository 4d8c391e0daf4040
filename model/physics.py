"""The constants of the serving equations (:class:`infergy.model.equations.Physics`) for rows or queries, from
the tables: the GPU's memory, bandwidth, peak FLOP/s at the precision and TDP (hardware), the model's parameters
(models) and its attention layout (architectures, or the size lines for a model the table lacks). NumPy only."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from ..data.frame_cache import frame_cache
from ..data.vocab import PRECISION_TABLE
from .architecture import SizeLines, model_constants
from .equations import KV_MEMORY_SHARE, TP_LINK_EXCHANGES, Physics

__all__ = ["REF_BANDWIDTH_TB_S", "RUNTIME_MEMORY_SHARE", "KV_MEMORY_SHARE", "FAMILY_OF", "GpuSpec", "gpu_spec",
           "physics", "replica_memory_b", "kv_budget_b", "REF_LINK_GB_S", "log_link_b_s"]

REF_BANDWIDTH_TB_S = 3.35  # H100 SXM: the centre of the bandwidth scale
#: GPU-to-GPU link of a GPU whose link is unpublished (TPUs, some AMD parts): the H100 SXM's NVLink 4, bidirectional.
REF_LINK_GB_S = 900.0
#: HBM capacities are quoted in GiB ("80 GB" H100: 80 x 2^30 bytes); the engine's runtime (activations, CUDA
#: graphs, communication buffers) keeps about 5% of it.
GIB = 2.0**30
RUNTIME_MEMORY_SHARE = 0.95


def replica_memory_b(n_gpus, memory_gb):
    """Bytes a replica of ``n_gpus`` GPUs of ``memory_gb`` (GiB, as quoted) gives to weights and KV cache."""
    return np.asarray(n_gpus, float) * np.asarray(memory_gb, float) * GIB * RUNTIME_MEMORY_SHARE


def log_link_b_s(link_gb_s):
    """log bytes/s one GPU sends to the others in one direction: half the bidirectional figure as printed (the
    reference NVLink where unpublished)."""
    link = np.asarray(link_gb_s, float)
    return np.log(np.where(np.isfinite(link), link, REF_LINK_GB_S) * 1e9 / 2.0)


def kv_budget_b(memory_b, weight_b):
    """Bytes of KV cache a replica holds beside its weights (NumPy or JAX)."""
    return KV_MEMORY_SHARE * (memory_b - weight_b)
#: A GPU the hardware table describes only in part takes the rest from its family's row.
FAMILY_OF = {"GH200-120GB": "GH200-96GB", "RTX-PRO-6000-SE": "L40S", "A40": "L40S"}
#: Dense tensor throughput doubles with each halving of the bits (FP4 = 2 x FP8 = 4 x BF16) where the GPU has them.
_BITS_RATIO = {"fp4": 4.0, "fp8": 2.0, "bf16": 1.0, "fp16": 1.0}


class GpuSpec(NamedTuple):
    """What the equations need of a GPU: memory, HBM bandwidth (NaN where unpublished), dense peak at the
    precision, TDP."""

    memory_gb: float
    bandwidth_tb_s: float
    peak_tflops: float
    tdp_w: float
    link_gb_s: float  # GPU-to-GPU link, bidirectional as printed (NaN where unpublished)


def _peak(row: pd.Series, precision: str) -> float:
    """Dense TFLOP/s at ``precision``: the table's figure; else that of the nearest format with more bits (the GPU
    runs the request in it, no faster); else the nearest with fewer bits, scaled down by the bits."""
    want = _BITS_RATIO.get(precision, 1.0)  # 'mixed' computes in 16 bits

    def figure(p):
        return float(row.get(PRECISION_TABLE[p].hardware_column, np.nan))

    wider = sorted((p for p, r in _BITS_RATIO.items() if r <= want), key=lambda p: -_BITS_RATIO[p])
    narrower = sorted((p for p, r in _BITS_RATIO.items() if r > want), key=lambda p: _BITS_RATIO[p])
    for p in wider:
        if np.isfinite(figure(p)):
            return figure(p)
    for p in narrower:
        if np.isfinite(figure(p)):
            return figure(p) * want / _BITS_RATIO[p]
    return np.nan


@frame_cache
def gpu_spec(hardware: pd.DataFrame, gpu: str, precision: str) -> GpuSpec:
    """The figures of ``gpu`` the equations need; missing ones from its family (:data:`FAMILY_OF`), the memory
    from the label where the table has none (``GH200-120GB``). Bandwidth stays NaN where unpublished (the fit
    learns it)."""
    hw = hardware[hardware["kind"] == "gpu"].set_index("gpu")
    row = hw.loc[gpu] if gpu in hw.index else pd.Series(dtype=float)
    family = hw.loc[FAMILY_OF[gpu]] if FAMILY_OF.get(gpu) in hw.index else pd.Series(dtype=float)

    def value(column):
        v = float(row.get(column, np.nan))
        return v if np.isfinite(v) else float(family.get(column, np.nan))

    memory = float(row.get("memory_gb", np.nan))
    if not np.isfinite(memory):
        named = pd.Series([gpu]).str.extract(r"(\d+)GB")[0].astype(float).iloc[0]
        memory = named if np.isfinite(named) else value("memory_gb")
    peak = _peak(row, precision)
    if not np.isfinite(peak):
        peak = _peak(family, precision)
    bandwidth = float(row.get("memory_bw_tb_s", np.nan))
    if not np.isfinite(bandwidth) and gpu in FAMILY_OF and not np.isfinite(float(row.get("tdp_w", np.nan))):
        bandwidth = value("memory_bw_tb_s")  # a variant with no figures of its own: its family's
    return GpuSpec(memory, bandwidth, peak, value("tdp_w"), value("gpu_link_gb_s"))


def physics(hardware: pd.DataFrame, arch: pd.DataFrame, models: pd.DataFrame, *, model_names, total_params_b,
            active_params_b, gpus, precisions, n_gpus, comm_gpus=None, dp_width=None,
            pipeline_stages=None, lines: SizeLines | None = None,
            z: dict | None = None, log_bw_b_s=None) -> Physics:
    """:class:`Physics` (NumPy arrays, one entry per row) for rows of (model, sizes, GPU, precision, GPU count).
    ``comm_gpus``: the GPUs each layer's activations are exchanged across (tensor/expert parallel; default all
    of the replica); ``dp_width``: the ranks attention runs data-parallel over (default 1: tensor parallel); where
    it is above one, a mixture of experts exchanges ``top_k`` copies of each token per layer (dispatch and combine),
    else two all-reduces (tensor parallel); ``pipeline_stages`` (default 1).
    ``log_bw_b_s`` overrides the bandwidths (NaN where the table has none); ``lines``/``z`` as in
    :func:`~.architecture.model_constants`."""
    total = np.asarray(total_params_b, float)
    active = np.asarray(active_params_b, float)
    n = np.asarray(n_gpus, float)
    specs = {(g, p): gpu_spec(hardware, g, p) for g, p in set(zip(gpus, precisions))}
    spec = [specs[(g, p)] for g, p in zip(gpus, precisions)]
    weight_bytes = np.array([PRECISION_TABLE[p].weight_bytes for p in precisions], float)
    kv_bytes = np.array([PRECISION_TABLE[p].kv_bytes for p in precisions], float)
    consts = model_constants(arch, models, model_names, active, lines, z)
    bw = np.array([s.bandwidth_tb_s for s in spec], float) * 1e12
    dp = np.ones_like(n) if dp_width is None else np.maximum(np.asarray(dp_width, float), 1.0) * np.ones_like(n)
    return Physics(
        n_gpus=n,
        log_bw_b_s=np.log(bw) if log_bw_b_s is None else np.asarray(log_bw_b_s, float),
        peak_flop_s=np.array([s.peak_tflops for s in spec], float) * 1e12,
        memory_b=replica_memory_b(n, [s.memory_gb for s in spec]),
        weight_b=total * 1e9 * weight_bytes,
        active_weight_b=active * 1e9 * weight_bytes,
        experts=consts["experts"], top_k=consts["top_k"],
        linear_flops=2.0 * active * 1e9,
        kv_full_b=consts["kv_full_values"] * kv_bytes,
        kv_window_b=consts["kv_window_values"] * kv_bytes,
        window_tokens=consts["window_tokens"],
        attn_full_flops=consts["attn_full_flops"],
        attn_window_flops=consts["attn_window_flops"],
        layers=consts["layers"],
        hidden=consts["hidden"],
        comm_gpus=n if comm_gpus is None else np.asarray(comm_gpus, float),
        link_exchanges=np.where((dp > 1.0) & (consts["experts"] > consts["top_k"]), consts["top_k"],
                                TP_LINK_EXCHANGES) * np.ones_like(n),
        pipeline_stages=np.ones_like(n) if pipeline_stages is None else np.asarray(pipeline_stages, float),
        log_link_b_s=log_link_b_s([s.link_gb_s for s in spec]),
        dp_width=dp,
    )
