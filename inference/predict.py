"""Posterior-predictive energy per query: the fitted sub-models, evaluated at the production operating point.

For every posterior draw and every simulated query (its output length drawn from the regime),

    log TPS_gpu = a[model] + b[gpu] + c[precision] + e[gpu, precision] + e[model, gpu]
                  + beta_isl[model] log(L_in/1000) + beta_osl[model] log(L_out/1000) + beta_io (...) (...)
                  + beta_ngpu log(n_gpus) + log s(batch) + engine efficiency of production
    P_gpu      = TDP * (idle + (peak - idle) * B / (B + B50)) * n_gpus^beta_ngpu * (active/10B)^beta_size
    E_gpu      = P_gpu * L_out / TPS_gpu / 3600                                  (Wh)
    E_node     = E_gpu * (1 + host ratio);  E_facility = E_node * PUE;  idle capacity: / (1 - idle share)

exactly as the production likelihood calibrated them. A model that was not benchmarked is drawn from the size
regression (with its spread), a GPU that was not benchmarked from the bandwidth line, an unobserved model x GPU or
GPU x precision pairing from its interaction's spread. Everything is vectorised over (draw x query) in JAX.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from ..data.vocab import BOUNDARY_TABLE
from ..model import equations as eq
from ..model.paper import REGIMES
from ..model.pue import PUE_SCOPE_KIND, PUE_SCOPES
from ..model.throughput import (
    INTERACTION_SCALE,
    KV_BYTES,
    MODEL_CLASSES,
    PRECISION_LEVELS,
    REF_BANDWIDTH_TB_S,
    REF_GPU,
    REF_SPARSITY,
    USABLE_MEMORY,
    WEIGHT_BYTES,
    model_class,
)

__all__ = ["QuerySpec", "PredictiveEnergy", "posterior_draws", "predict_energy_wh", "predict_components",
           "default_gpu_count", "PREDICT_BOUNDARIES", "REGIME_MEDIAN_OUTPUT_TOKENS", "boundary_flags", "check_spec",
           "energy_wh", "prepare"]

#: Boundaries of a prediction, narrowest first; "+idle" adds the provisioned-but-idle capacity.
PREDICT_BOUNDARIES = ("gpu", "node", "facility", "facility+idle")
#: Output-length regimes (median output tokens): the paper's, until the workload model learns them from traces.
REGIME_MEDIAN_OUTPUT_TOKENS = REGIMES
_NORMAL_TAGS = ("model", "isl", "osl", "gpu", "gpu_precision", "model_gpu", "pue_operator", "pue_site")


@dataclass(frozen=True)
class QuerySpec:
    """What is asked: a model (by name, or by size), hardware, query shape, load and boundary."""

    model: str | None = None
    total_params_b: float | None = None
    active_params_b: float | None = None
    moe: bool | None = None
    gpu: str = REF_GPU
    n_gpus: int | None = None  # GPUs per serving replica; None: whole 8-GPU servers, as many as the weights need
    precision: str = "fp8"
    input_tokens: float = 500.0
    output_tokens: float | None = None  # fixed length; else drawn from the regime
    regime: str = "traditional"
    batch_size: float | None = None  # None: the fitted production operating point
    batch_scale: float = 1.0  # multiplies the load (a "higher load" lever on the production operating point)
    boundary: str = "facility"
    pue: float | None = None  # None: a hyperscale operator's fleet PUE from the posterior

    def resolved(self) -> dict:
        return asdict(self)


@dataclass
class PredictiveEnergy:
    """Draws of Wh per query: ``wh`` has shape (posterior draws, queries)."""

    wh: np.ndarray
    spec: QuerySpec
    inputs: dict = field(default_factory=dict)

    @property
    def mean_per_draw(self) -> np.ndarray:
        """Posterior of the mean Wh per query (the per-query spread averaged out)."""
        return self.wh.mean(axis=1)


def posterior_draws(dt) -> tuple[dict[str, np.ndarray], dict[str, list]]:
    """Posterior variables flattened over chains (draws first), and the coordinate labels."""
    post = dt["posterior"]
    draws = {name: np.asarray(da).reshape(-1, *da.shape[2:]) for name, da in post.data_vars.items()}
    coords = {name: [str(v) for v in np.asarray(post[name])] for name in post.coords if name not in ("chain", "draw")}
    return draws, coords


def _as_draws(dt) -> tuple[dict[str, np.ndarray], dict[str, list]]:
    """``dt`` flattened by :func:`posterior_draws`, unless it already is (callers predicting many queries
    flatten once)."""
    return dt if isinstance(dt, tuple) else posterior_draws(dt)


def default_gpu_count(total_params_b: float, precision: str, memory_gb: float) -> int:
    """GPUs of one serving replica: whole 8-GPU servers, as many as hold the weights with a quarter of them again
    left for the KV cache (DeepSeek-R1 in fp8 on H100s: 16). Eight is what the production operating point was
    calibrated with and what the paper assumes; pass ``n_gpus`` for smaller replicas."""
    weights_gb = total_params_b * WEIGHT_BYTES[precision]
    n = 8
    while n * memory_gb * USABLE_MEMORY < 1.25 * weights_gb:
        n += 8
    return n


def _cell(coords: list[str], a: str, b: str) -> int:
    label = f"{a} | {b}"
    return coords.index(label) if label in coords else -1


def _resolve(spec: QuerySpec, draws: dict, coords: dict, bundle, key) -> dict[str, np.ndarray]:
    """Per-draw arrays for the query's model, GPU, precision, power curve and PUE."""
    from ..data.vocab import canonical_gpu, model_name

    n = len(draws["tp_g0"])

    def normal(tag: str) -> np.ndarray:
        # one stream per random effect: two specs with the same seed share each draw (common random numbers), so
        # the ratio of their energies shows what differs between them, not Monte Carlo noise
        return np.asarray(jax.random.normal(jax.random.fold_in(key, _NORMAL_TAGS.index(tag)), (n,)))

    if spec.precision not in PRECISION_LEVELS or spec.precision == "mixed":
        raise ValueError(f"unknown precision {spec.precision!r}; choose one of fp4, fp8, fp16, bf16")
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
    cls = MODEL_CLASSES.index(model_class(total, active, moe))
    is_moe = float(moe and active < total)
    log_active_c = math.log(active / 10.0)
    models = coords.get("model", [])
    if name in models:
        m = models.index(name)
        a = draws["tp_a_model"][:, m]
        b_isl, b_osl = draws["tp_beta_isl_model"][:, m], draws["tp_beta_osl_model"][:, m]
    else:
        sparsity = math.log(total / active / REF_SPARSITY) if is_moe else 0.0
        a = (draws["tp_g0"] + draws["tp_g_active"] * log_active_c + draws["tp_g_moe"] * is_moe
             + draws["tp_g_sparsity"] * sparsity + draws["tp_tau_model"] * normal("model"))
        b_isl = draws["tp_beta_isl"][:, cls] + draws["tp_tau_slope_model"] * normal("isl")
        b_osl = draws["tp_beta_osl"][:, cls] + draws["tp_tau_slope_model"] * normal("osl")
    # --- GPU: fitted effect, or drawn from the bandwidth line
    gpu = canonical_gpu(spec.gpu)
    hw = bundle.hardware[bundle.hardware["kind"] == "gpu"].set_index("gpu")
    if gpu not in hw.index or not np.isfinite(float(hw.loc[gpu, "tdp_w"])):
        raise ValueError(f"no specification (memory, bandwidth, TDP) for GPU {spec.gpu!r}")
    gpus = coords.get("gpu", [])
    if gpu in gpus:
        b = draws["tp_b_gpu"][:, gpus.index(gpu)]
    else:
        bw = float(hw.loc[gpu, "memory_bw_tb_s"])
        if not np.isfinite(bw):
            raise ValueError(f"GPU {gpu} was not benchmarked and has no published memory bandwidth")
        b = draws["tp_k_bw"] * math.log(bw / REF_BANDWIDTH_TB_S) + draws["tp_tau_gpu"] * normal("gpu")
    memory_gb = float(hw.loc[gpu, "memory_gb"])
    n_gpus = spec.n_gpus or default_gpu_count(total, spec.precision, memory_gb)
    # --- precision and the two interactions
    c = draws["tp_c_precision"][:, PRECISION_LEVELS.index(spec.precision)]
    gp = _cell(coords.get("gpu_precision_cell", []), gpu, spec.precision)
    e_gp = draws["tp_e_gpu_precision"][:, gp] if gp >= 0 else INTERACTION_SCALE * normal("gpu_precision")
    mg = _cell(coords.get("model_gpu_cell", []), name or "", gpu)
    tau_mg = draws.get("tp_tau_model_gpu", np.full(n, INTERACTION_SCALE))
    e_mg = draws["tp_e_model_gpu"][:, mg] if mg >= 0 else tau_mg * normal("model_gpu")
    # --- power curve: the GPU's own where measured, else the reference GPU's shares at this GPU's TDP
    power_gpus = coords.get("power_gpu", [])
    pg = power_gpus.index(gpu) if gpu in power_gpus else power_gpus.index(REF_GPU)
    # --- PUE: fixed, or a hyperscale operator's fleet average (a new operator draw)
    if spec.pue is not None:
        if spec.pue < 1.0:
            raise ValueError(f"PUE must be >= 1, got {spec.pue}")
        pue = np.full(n, float(spec.pue))
    else:
        fleet = PUE_SCOPES.index("fleet")
        log_m1 = (draws["pue_m_scope"][:, fleet] + draws["pue_tau_operator"] * normal("pue_operator")
                  + draws["pue_sigma"][:, PUE_SCOPE_KIND[fleet]] * normal("pue_site"))
        pue = 1.0 + np.exp(log_m1)
    weights_gb = total * WEIGHT_BYTES[spec.precision]
    headroom_gb = max(n_gpus * memory_gb * USABLE_MEMORY - weights_gb, 1.0)
    return {
        "log_tps_fixed": a + b + c + e_gp + e_mg + draws["tp_beta_ngpu"] * math.log(n_gpus)
        + draws["op_log_engine_eff"],
        "beta_isl": b_isl, "beta_osl": b_osl, "beta_io": draws["tp_beta_io"],
        "log_batch50": draws["tp_log_batch50"][:, cls],
        "log_kv_mb": eq.log_kv_mb_per_token(draws["tp_log_kv_mb_per_token"], draws["tp_kv_slope"],
                                            math.log(KV_BYTES[spec.precision]), math.log(total / 10.0)),
        "log_headroom_gb": np.full(n, math.log(headroom_gb)),
        "log_batch": (np.full(n, math.log(spec.batch_size)) if spec.batch_size else draws["op_log_batch"])
        + math.log(spec.batch_scale),
        "idle": draws["pw_idle_share"][:, pg], "peak": draws["pw_peak_share"][:, pg],
        "pw_log_batch50": draws["pw_log_batch50"][:, pg],
        "log_power_adj": eq.log_power_adjustment(draws["pw_beta_ngpu"], math.log(n_gpus), draws["pw_beta_size"],
                                                 log_active_c),
        "tdp_w": np.full(n, float(hw.loc[gpu, "tdp_w"])),
        "host_ratio": draws["op_host_ratio"], "pue": pue, "idle_share": draws["op_idle_share"],
        "_n_gpus": n_gpus, "_gpu": gpu, "_model": name, "_total": total, "_active": active, "_moe": moe,
        "_model_fitted": name in models, "_gpu_fitted": gpu in gpus, "_gpu_precision_fitted": gp >= 0,
        "_model_gpu_fitted": mg >= 0, "_power_curve_gpu": power_gpus[pg],
        "_batch_median": float(np.exp(np.median(draws["op_log_batch"]))) * spec.batch_scale
        if not spec.batch_size else spec.batch_size * spec.batch_scale,
        "_pue_median": float(np.median(pue)),
    }


def _log_tps_and_power(p: dict, log_in_c, out_tokens):
    """log output tok/s per GPU (draws x queries) and log W per GPU (draws) for ``out_tokens`` (draws x queries)."""
    col = lambda v: v[:, None]  # noqa: E731  (per-draw values against the query axis)
    log_out_c = jnp.log(jnp.maximum(out_tokens, 1.0) / 1000.0)
    log_seq = jnp.log(jnp.exp(log_in_c) * 1000.0 + out_tokens)
    log_b_kv = eq.log_kv_capacity(col(p["log_headroom_gb"]), col(p["log_kv_mb"]), log_seq)
    log_b_eff = eq.log_effective_batch(log_b_kv, col(p["log_batch"]))
    log_tps = eq.log_tps_per_gpu(col(p["log_tps_fixed"]), col(p["beta_isl"]), col(p["beta_osl"]), col(p["beta_io"]),
                                 log_in_c, log_out_c, eq.log_load(col(p["log_batch50"]), log_b_eff))
    share = eq.power_share(p["idle"], p["peak"], p["pw_log_batch50"], p["log_batch"])
    return log_tps, eq.log_gpu_power_w(p["tdp_w"], share, p["log_power_adj"])


def energy_wh(p: dict, log_in_c: jnp.ndarray, out_tokens: jnp.ndarray, boundary_flags: jnp.ndarray):
    """Wh per query for (draws x queries): ``out_tokens`` has shape (draws, queries), ``log_in_c``
    (log(input tokens / 1000)) is a scalar or has that shape too; ``boundary_flags`` from :func:`boundary_flags`."""
    log_tps, log_power_w = _log_tps_and_power(p, log_in_c, out_tokens)
    wh = jnp.exp(eq.log_gpu_energy_j(log_power_w[:, None], jnp.log(jnp.maximum(out_tokens, 1.0)), log_tps)) / 3600.0
    return wh * eq.boundary_factor(p["host_ratio"], p["pue"], p["idle_share"], boundary_flags)[:, None]


_energy_kernel = jax.jit(energy_wh)

#: What each boundary adds to the accelerators' energy: (host, PUE, idle capacity).
_BOUNDARY_FLAGS = {name: tuple(float(f) for f in (BOUNDARY_TABLE[name].host, BOUNDARY_TABLE[name].pue,
                                                  BOUNDARY_TABLE[name].idle)) for name in PREDICT_BOUNDARIES}


def boundary_flags(boundary: str) -> jnp.ndarray:
    """(host, PUE, idle capacity) switches of ``boundary``."""
    if boundary not in _BOUNDARY_FLAGS:
        raise ValueError(f"unknown boundary {boundary!r}; choose one of {', '.join(PREDICT_BOUNDARIES)}")
    return jnp.asarray(_BOUNDARY_FLAGS[boundary], dtype=jnp.float32)


def check_spec(spec: QuerySpec) -> None:
    """Raise ValueError for a query that cannot be answered (before any posterior work)."""
    boundary_flags(spec.boundary)
    if spec.regime not in REGIME_MEDIAN_OUTPUT_TOKENS:
        raise ValueError(f"unknown regime {spec.regime!r}; choose traditional or reasoning")
    for label, value in (("input tokens", spec.input_tokens), ("output tokens", spec.output_tokens),
                         ("batch size", spec.batch_size), ("batch scale", spec.batch_scale),
                         ("GPUs", spec.n_gpus)):
        if value is not None and not value > 0:
            raise ValueError(f"{label} must be > 0, got {value}")


def prepare(draws_coords: tuple[dict, dict], spec: QuerySpec, bundle, seed: int) -> tuple[dict, dict]:
    """The per-draw arrays (float32, for the kernels) of ``spec`` and what was resolved (model, GPU, GPU count).
    The random effects of unseen models, GPUs and pairings are drawn from ``seed``'s streams."""
    check_spec(spec)
    draws, coords = draws_coords
    p = _resolve(spec, draws, coords, bundle, jax.random.split(jax.random.PRNGKey(seed))[0])
    meta = {k[1:]: p.pop(k) for k in list(p) if k.startswith("_")}
    return {k: jnp.asarray(v, dtype=jnp.float32) for k, v in p.items()}, meta


def predict_energy_wh(dt, spec: QuerySpec, *, queries: int = 200, seed: int = 0, bundle=None) -> PredictiveEnergy:
    """Wh per query for ``spec`` under the posterior in ``dt`` (a DataTree, or :func:`posterior_draws` of one):
    an array (posterior draws x simulated queries)."""
    from ..data import load

    check_spec(spec)
    bundle = bundle if bundle is not None else load()
    draws, coords = _as_draws(dt)
    key_tokens = jax.random.split(jax.random.PRNGKey(seed))[1]
    arrays, meta = prepare((draws, coords), spec, bundle, seed)
    n = len(draws["tp_g0"])
    if spec.output_tokens is not None:
        out = jnp.full((n, queries), float(spec.output_tokens))
    else:  # exponential output lengths with the regime's median, as the paper draws them
        mean = REGIME_MEDIAN_OUTPUT_TOKENS[spec.regime] / math.log(2.0)
        out = mean * jax.random.exponential(key_tokens, (n, queries))
    wh = _energy_kernel(arrays, jnp.float32(math.log(spec.input_tokens / 1000.0)), out,
                        boundary_flags(spec.boundary))
    inputs = {**spec.resolved(), "model": meta["model"] or spec.model, "gpu": meta["gpu"],
              "n_gpus": meta["n_gpus"], "total_params_b": meta["total"], "active_params_b": meta["active"],
              "moe": meta["moe"], "posterior_draws": n, "queries_per_draw": queries}
    return PredictiveEnergy(np.asarray(wh), spec, inputs)



def predict_components(dt, spec: QuerySpec, *, seed: int = 0, bundle=None) -> dict[str, np.ndarray]:
    """Per-draw factors of the energy for a query of the regime's median output length (or ``output_tokens``):
    output tok/s per GPU, W per GPU (accelerator), host ratio, PUE, production batch -- to explain a difference."""
    from ..data import load

    bundle = bundle if bundle is not None else load()
    arrays, meta = prepare(_as_draws(dt), spec, bundle, seed)
    out = float(spec.output_tokens or REGIME_MEDIAN_OUTPUT_TOKENS[spec.regime])
    log_tps, log_power_w = _log_tps_and_power(arrays, jnp.float32(math.log(spec.input_tokens / 1000.0)),
                                              jnp.full((arrays["log_batch"].shape[0], 1), out))
    return {"tps_gpu_tok_s": np.exp(np.asarray(log_tps)[:, 0]), "gpu_power_w": np.exp(np.asarray(log_power_w)),
            "host_ratio": np.asarray(arrays["host_ratio"]), "pue": np.asarray(arrays["pue"]),
            "batch": np.exp(np.asarray(arrays["log_batch"])), "n_gpus": meta["n_gpus"], "output_tokens": out}
