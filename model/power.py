"""Power sub-model: average GPU power as a share of TDP, rising with batch size (ML.ENERGY, boundary ``gpu``).

    log(P / TDP)_i ~ StudentT(nu, log(idle_g + (peak_g - idle_g) * B_i / (B_i + B50_g))
                                  + beta_ngpu log n_i + beta_size log(active_i / 10B), sigma)

``idle_g`` and ``peak_g`` (shares of TDP) and ``B50_g`` are per GPU type with independent, weakly informative
priors (logit / log scale, centred: each type has ~100 measured rows). Two GPU types cannot learn a pooling scale:
a learned one sat in a long funnel (posterior tau 0.36-1.4) where the sampler diverged. A GPU without power
measurements uses the reference GPU's (H100) load curve at its own TDP.

An operator's telemetry (:mod:`.telemetry`) is read on the operator's own curve: its GPU's idle and peak logits
and half-load batch, each shifted by the operator's own offset ~ Normal(0, :data:`OPERATOR_CURVE_SCALE`), with its
logs' own scatter. An interval's mean power is what its meter averaged over the interval's prefill (at the curve's
peak or its FLOP floor) and decode (the curve at its load), weighted by the serving times the throughput
likelihood gives its throughput row: the equation an answer's energy adds the phases by. Read as the curve at its
load alone, prefill's share would be counted twice: once in the fitted curve, again in each answer's prefill.
An interval metered at the nodes adds ``log(1 + host_o)``, the operator's own host ratio
(:func:`.production.fleet_levels`). Without a curve of its own, one deployment's hundreds of precise intervals
would decide the GPU's curve and the benchmarks' scatter for everyone (one made-up day took the H100's idle share
from 0.60 to 0.22 and the scatter from 0.105 to 0.186): its own curve keeps them to the public rows, as far as the
stated spread allows.
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

from . import equations as eq
from .student_t import StudentT
from .telemetry import noise_index, telemetry_operator, telemetry_operators

__all__ = ["OPERATOR_CURVE_SCALE", "PowerArrays", "PowerDesign", "take_power_rows", "build_power_design", "curve_of",
           "curve_shares", "operator_curve", "power_curve", "power_model", "power_refusals", "usable_power_rows"]

#: Prior scale of an operator's own offsets from its GPU's curve (idle and peak logits, log half-load batch): the
#: scale of a GPU type's own curve prior, so a deployment (its power cap, clocks, engine) may differ from the
#: benchmarked curve as much as GPU types are allowed to differ from each other a priori.
OPERATOR_CURVE_SCALE = 1.0
#: The peak's ceiling, as a share of TDP (a GPU may briefly exceed its TDP; averages over a run stay below 1.2x).
PEAK_CEILING = 1.2

#: Text-generation tasks: ML.ENERGY's names, and the workloads users' rows name (ML.ENERGY's image and video
#: chat, and its v2 multimodal task, are not text serving).
TEXT_TASKS = ("lm-arena-chat", "sourcegraph-fim", "llm_text_generation/chat", "llm_text_generation/code", "chat",
              "code", "reasoning", "agent", "summarization")

#: Sources whose power the fit uses, and why the others' does not enter it. ML.ENERGY v3 measures average power
#: directly, as does a user's own telemetry (``user``).
POWER_SOURCES = ("mlenergy_v3", "user")
POWER_REFUSED_SOURCES = {
    "mlenergy_v2": "ML.ENERGY v2's power is derived (energy per token x engine throughput) and falls with batch "
                   "size, against v3's direct measurement",
    "mlenergy_v1": "ML.ENERGY v1 (2023) states neither batch size nor precision",
}


def power_refusals(gpu_energy: pd.DataFrame, hardware: pd.DataFrame) -> pd.Series:
    """Why the power fit leaves each row out (``""`` where it uses it): it fits directly measured power of text
    generation against a stated batch, on a GPU whose TDP is known."""
    from .usage import first_reason

    tdp = hardware[hardware["kind"] == "gpu"].set_index("gpu")["tdp_w"].astype(float)
    source = gpu_energy["source_table"].astype(str)
    return first_reason(gpu_energy.index, [
        (~source.isin(POWER_SOURCES),
         source.map(POWER_REFUSED_SOURCES).fillna(
             "source_table '" + source + f"': power is fitted from directly measured sources "
             f"({', '.join(POWER_SOURCES)}; name your own rows' source_table 'user')")),
        (~gpu_energy["task"].isin(TEXT_TASKS),
         "task '" + gpu_energy["task"].astype(str) + f"' is not text generation ({', '.join(TEXT_TASKS)})"),
        (gpu_energy["batch_size"].isna(), "no batch_size: the power curve is power against the batch served"),
        (gpu_energy["gpu"].map(tdp).isna(),
         "GPU '" + gpu_energy["gpu"].astype(str) + "' has no TDP in the hardware table"),
    ])


def usable_power_rows(gpu_energy: pd.DataFrame, hardware: pd.DataFrame) -> pd.DataFrame:
    """Directly measured text-generation rows with a batch size, on a GPU whose TDP is known
    (:func:`power_refusals` gives the others' reasons)."""
    return gpu_energy[(power_refusals(gpu_energy, hardware) == "").to_numpy()].reset_index(drop=True)


class PowerArrays(NamedTuple):
    gpu_idx: jnp.ndarray
    log_batch: jnp.ndarray
    log_ngpu: jnp.ndarray
    log_active_c: jnp.ndarray  # log(active params / 10B): bigger models keep the GPU busier per step
    noise_idx: jnp.ndarray | int = 0  # per row: 0 (public measurements) or 1 + its telemetry operator
    host_operator_idx: jnp.ndarray | int = -1  # per row: the operator whose host its node-level power holds, or -1
    # per row: the throughput row of the same telemetry interval (its serving times), -1 for public rows; left at
    # its default where there is no telemetry
    tp_row_idx: jnp.ndarray | int = -1


def take_power_rows(x: PowerArrays, rows, tp_position=None) -> PowerArrays:
    """The arrays of the power rows ``rows`` (indices) only; ``tp_position``: each throughput row's index among the
    throughput rows kept beside them (-1 where dropped), for the telemetry rows' intervals (every field is per row;
    a field left at its scalar default stays so)."""
    rows = np.asarray(rows, int)
    out = {name: jnp.asarray(v)[rows] for name, v in x._asdict().items() if np.ndim(v)}
    if np.ndim(x.tp_row_idx):
        own = np.asarray(x.tp_row_idx)[rows]
        if tp_position is None:
            raise ValueError("telemetry power rows need the positions of their intervals' throughput rows")
        placed = np.where(own >= 0, np.asarray(tp_position)[np.maximum(own, 0)], -1)
        if np.any((own >= 0) & (placed < 0)):
            raise ValueError("a telemetry power row's interval has no throughput row among those kept")
        out["tp_row_idx"] = jnp.asarray(placed)
    return x._replace(**out)


@dataclass(frozen=True)
class PowerDesign:
    arrays: PowerArrays
    y_log_power_share: np.ndarray | None
    gpus: tuple[str, ...]
    tdp_w: np.ndarray  # per GPU type
    rows: pd.DataFrame

    @property
    def sizes(self) -> dict[str, int]:
        return dict(n_power_gpus=len(self.gpus), n_power_telemetry=len(telemetry_operators(self.rows)))


def build_power_design(rows: pd.DataFrame, hardware: pd.DataFrame, with_observations: bool = True,
                       operators: tuple[str, ...] = (), throughput_rows: pd.DataFrame | None = None) -> PowerDesign:
    """Arrays for :func:`power_model`; ``operators``: the model's named operators (a node-level row's
    ``host_operator`` is one of them); ``throughput_rows``: the throughput likelihood's rows, among which each
    telemetry interval's power row finds its own (the serving times its power is averaged over)."""
    if rows.empty:
        raise ValueError("no GPU power rows to fit")
    gpus = tuple(sorted(rows["gpu"].unique()))
    tdp = hardware[hardware["kind"] == "gpu"].set_index("gpu")["tdp_w"].astype(float)
    arrays = PowerArrays(
        gpu_idx=jnp.asarray(rows["gpu"].map({g: i for i, g in enumerate(gpus)}).to_numpy()),
        log_batch=jnp.asarray(np.log(rows["batch_size"].astype(float).to_numpy())),
        log_ngpu=jnp.asarray(np.log(rows["n_gpus"].astype(float).to_numpy())),
        log_active_c=jnp.asarray(np.log(rows["active_params_b"].astype(float).to_numpy() / 10.0)),
        noise_idx=jnp.asarray(noise_index(rows, pd.Series(0, index=rows.index), 1)),
        host_operator_idx=jnp.asarray(_operator_index(rows, operators)),
    )
    if len(telemetry_operators(rows)):
        arrays = arrays._replace(tp_row_idx=jnp.asarray(_interval_index(rows, throughput_rows)))
    y = None
    if with_observations:
        y = np.log(rows["avg_power_w_per_gpu"].astype(float).to_numpy() / rows["gpu"].map(tdp).to_numpy())
    return PowerDesign(arrays, y, gpus, tdp.loc[list(gpus)].to_numpy(), rows.reset_index(drop=True))


def _operator_index(rows: pd.DataFrame, operators: tuple[str, ...]) -> np.ndarray:
    """Per row: its ``host_operator``'s index among ``operators``, -1 for power metered at the GPUs."""
    named = rows["host_operator"] if "host_operator" in rows else pd.Series(np.nan, index=rows.index)
    missing = sorted(set(named.dropna()) - set(operators))
    if missing:
        raise ValueError(f"node-level power of operator(s) {', '.join(missing)}, not among the model's operators")
    return named.map({o: i for i, o in enumerate(operators)}).fillna(-1).astype(int).to_numpy()


def _interval_index(rows: pd.DataFrame, throughput_rows: pd.DataFrame | None) -> np.ndarray:
    """Per power row: the index of its telemetry interval's throughput row, -1 for public rows."""
    telemetry = telemetry_operator(rows["source_table"]).notna().to_numpy()
    if throughput_rows is None or "interval" not in throughput_rows:
        raise ValueError("telemetry power rows need the throughput rows of their intervals")
    position = pd.Series(np.arange(len(throughput_rows)), index=throughput_rows["interval"].to_numpy())
    position = position[position.index.notna()]
    idx = rows["interval"].map(position) if "interval" in rows else pd.Series(np.nan, index=rows.index)
    missing = telemetry & idx.isna().to_numpy()
    if missing.any():
        raise ValueError(f"telemetry interval(s) {', '.join(rows['interval'][missing].astype(str)[:3])} have a power "
                         "row but no throughput row")
    return np.where(telemetry, idx.fillna(-1), -1).astype(int)


def power_model(x: PowerArrays, n_power_gpus: int, y=None, n_power_telemetry: int = 0, host_operator=None,
                times: eq.ServingTimes | None = None):
    """NumPyro model of log(average GPU power / TDP) (observations last; ``n_power_telemetry`` operators'
    telemetry rows scatter with noise scales of their own and read the mean over their intervals' prefill and
    decode, ``times``: the throughput rows' serving times; a row metered at the nodes observes the GPUs' power times
    one plus its operator's host ratio, ``host_operator``: per named operator)."""
    with numpyro.plate("power_gpus", n_power_gpus):
        logit_idle = numpyro.sample("pw_logit_idle", dist.Normal(-1.0, 1.0))  # ~27% of TDP
        logit_peak = numpyro.sample("pw_logit_peak", dist.Normal(1.0, 1.0))  # of the room between idle and 1.2
        log_b50 = numpyro.sample("pw_log_batch50", dist.Normal(jnp.log(32.0), 1.0))
    idle, peak = curve_shares(logit_idle, logit_peak)
    idle, peak = numpyro.deterministic("pw_idle_share", idle), numpyro.deterministic("pw_peak_share", peak)
    beta_ngpu = numpyro.sample("pw_beta_ngpu", dist.Normal(0.0, 0.3))
    beta_size = numpyro.sample("pw_beta_size", dist.Normal(0.0, 0.3))
    share = eq.power_share(idle[x.gpu_idx], peak[x.gpu_idx], log_b50[x.gpu_idx], x.log_batch)
    sigma = numpyro.sample("pw_sigma", dist.HalfNormal(0.3))
    if n_power_telemetry:
        with numpyro.plate("power_telemetry", n_power_telemetry):
            sigma_telemetry = numpyro.sample("pw_sigma_telemetry", dist.HalfNormal(0.3))
            # each operator's own curve about its GPU's: its intervals pin the offsets, not the GPU's curve
            offsets = [jnp.concatenate([jnp.zeros(1), numpyro.sample(f"pw_shift_{name}_telemetry",
                                                                     dist.Normal(0.0, OPERATOR_CURVE_SCALE))])[x.noise_idx]
                       for name in ("idle", "peak", "batch50")]
        sigma = jnp.concatenate([jnp.reshape(sigma, (1,)), sigma_telemetry])[x.noise_idx]
    adjustment = eq.log_power_adjustment(beta_ngpu, x.log_ngpu, beta_size, x.log_active_c)
    # log(power / TDP): the log W per GPU of a 1 W TDP
    mu = eq.log_gpu_power_w(1.0, share, adjustment)
    if n_power_telemetry:
        # an interval's meter averages its prefill (near peak) and decode (the curve at its load) over their times
        curve = eq.PowerCurve(*curve_shares(logit_idle[x.gpu_idx] + offsets[0], logit_peak[x.gpu_idx] + offsets[1]),
                              log_b50[x.gpu_idx] + offsets[2], adjustment, 1.0)
        interval = jax.tree.map(lambda v: v[jnp.maximum(x.tp_row_idx, 0)], times)
        own = eq.log_mean_power_w(interval, *eq.phase_log_power_w(curve, x.log_batch, interval))
        mu = jnp.where(x.noise_idx > 0, own, mu)  # the public rows' as without telemetry, to the bit
    if host_operator is not None:
        node = x.host_operator_idx >= 0
        mu = mu + jnp.where(node, jnp.log1p(host_operator[jnp.maximum(x.host_operator_idx, 0)]), 0.0)
    nu = numpyro.sample("pw_nu", dist.Gamma(2.0, 0.1))
    with numpyro.plate("power_rows", mu.shape[0]):
        numpyro.sample("pw_obs", StudentT(nu, mu, sigma), obs=y)
    return {"idle": idle, "peak": peak, "log_batch50": log_b50, "beta_ngpu": beta_ngpu, "beta_size": beta_size,
            "mu": mu}


def curve_shares(logit_idle, logit_peak):
    """(idle, peak) shares of TDP from their logits: the peak is a share of the room between idle and
    :data:`PEAK_CEILING`, so idle < peak < 1.2 x TDP."""
    idle = jax.nn.sigmoid(logit_idle)
    return idle, idle + (PEAK_CEILING - idle) * jax.nn.sigmoid(logit_peak)


def operator_curve(draws: dict, gpu: int, operator: int) -> tuple:
    """(idle share, peak share, log half-load batch) per draw of power-curve GPU ``gpu`` as telemetry operator
    ``operator`` runs it (its own offsets), from posterior ``draws``."""
    idle, peak = curve_shares(*(np.asarray(draws[f"pw_logit_{k}"])[:, gpu]
                                + np.asarray(draws[f"pw_shift_{k}_telemetry"])[:, operator] for k in ("idle", "peak")))
    b50 = np.asarray(draws["pw_log_batch50"])[:, gpu] + np.asarray(draws["pw_shift_batch50_telemetry"])[:, operator]
    return np.asarray(idle), np.asarray(peak), b50


def curve_of(pw: dict, idx, tdp_w, log_ngpu, log_active_c) -> eq.PowerCurve:
    """:class:`~.equations.PowerCurve` of power-curve GPU ``idx`` from the power model's parameters ``pw`` (its
    return value) at a TDP, replica size and model size."""
    return eq.PowerCurve(pw["idle"][idx], pw["peak"][idx], pw["log_batch50"][idx],
                         eq.log_power_adjustment(pw["beta_ngpu"], log_ngpu, pw["beta_size"], log_active_c), tdp_w)


def power_curve(draws: dict, log_batch: np.ndarray, gpu: int | slice = slice(None)) -> np.ndarray:
    """GPU power as a share of TDP at each ``log_batch`` (draws x power-curve GPU x batch; one GPU when ``gpu`` is
    an index) from posterior or prior ``draws``."""
    idle, peak, b50 = (np.asarray(draws[k])[:, gpu, None] for k in ("pw_idle_share", "pw_peak_share",
                                                                      "pw_log_batch50"))
    return np.asarray(eq.power_share(idle, peak, b50, np.asarray(log_batch)))
