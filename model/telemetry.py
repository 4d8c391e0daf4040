"""An operator's power telemetry as observations: each interval of a deployment's logs (duration, energy at a
boundary, requests, tokens, mean concurrency) is a measurement of the same two things a benchmark measures.

- Its **output tokens per second at the concurrency it ran** is a throughput row at a stated batch
  (``load_regime = batch_size``, prompt and answer lengths = the interval's tokens per request), read by the
  throughput likelihood through the same serving equations. The operator's engine is an engine setup of its own
  (``<engine>-telemetry:<operator>``), centred on the reference setup at stated spreads
  (:data:`.throughput.OPERATOR_ENGINE_SCALES`), so its efficiency and step overheads are learned from its own rows
  and the benchmarked engines' spreads -- production's engine -- stay the public rows'.
- Its **mean power per GPU at that concurrency** is a power row at a stated batch, read by the power likelihood
  on the operator's own curve (its GPU's, offset in idle, peak and half-load batch, :mod:`.power`) as a meter reads
  it: the mean over the interval's prefill and decode, each phase's power in the share of time the throughput
  likelihood gives it (:func:`.equations.log_mean_power_w`, as an answer's energy adds them). Metered at the
  GPUs, as it is; metered at the nodes, as the GPUs' power times one plus the operator's own host ratio
  (:mod:`.production`: operators are a level). Node-level logs decide the host ratio as far as the operator's curve
  is known: GPU-level logs of another of the operator's deployments decide that.

An interval without a mean concurrency, or with no request completed, states no load: it is refused with that
reason. Energy metered at a facility also holds the site's other loads and its cooling: those intervals' tokens
count, their energy is refused with that reason.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["POWER_BOUNDARIES", "TELEMETRY_SOURCE", "engine_operator", "interval_key", "operator_setting",
           "telemetry_operator", "telemetry_operators", "telemetry_power_rows", "telemetry_refusals",
           "telemetry_throughput_rows"]

#: Where an interval's energy may be metered to be a power row: at the GPUs, or at the nodes (host included).
POWER_BOUNDARIES = ("gpu", "node")
#: ``source_table`` of the rows made from telemetry (the engine setup is ``<engine>-telemetry:<operator>``).
TELEMETRY_SOURCE = "telemetry"


def _source_table(telemetry: pd.DataFrame) -> pd.Series:
    return TELEMETRY_SOURCE + ":" + telemetry["operator"].astype(str)


def telemetry_operator(source_table: pd.Series) -> pd.Series:
    """The operator whose telemetry each row restates (from its ``source_table``); NaN for other rows."""
    st = source_table.astype(str)
    prefix = TELEMETRY_SOURCE + ":"
    return st.str[len(prefix):].where(st.str.startswith(prefix))


def engine_operator(label: str | None) -> str | None:
    """The operator whose own engine an engine setup's label names (``<engine>-telemetry:<operator>``), else None."""
    _, sep, operator = str(label or "").partition(f"-{TELEMETRY_SOURCE}:")
    return operator if sep else None


def telemetry_operators(rows: pd.DataFrame) -> tuple[str, ...]:
    """The operators with telemetry among ``rows``, sorted: each has a noise scale of its own (one deployment's
    logs scatter far less than benchmarks from many sources)."""
    return tuple(sorted(telemetry_operator(rows["source_table"]).dropna().unique()))


def noise_index(rows: pd.DataFrame, public_groups: pd.Series, n_public: int) -> np.ndarray:
    """Each row's noise group: its public group's index (``public_groups``), or ``n_public`` + its operator's index
    among :func:`telemetry_operators` for a telemetry row."""
    operators = telemetry_operators(rows)
    op = telemetry_operator(rows["source_table"])
    return np.where(op.notna(), n_public + op.map({o: i for i, o in enumerate(operators)}).fillna(0),
                    public_groups).astype(int)


def _layout_problem(telemetry: pd.DataFrame) -> pd.Series:
    from .throughput import layout_degrees

    def problem(layout, n_gpus) -> str:
        try:
            layout_degrees(str(layout) if pd.notna(layout) and str(layout).strip() else f"TP{int(n_gpus)}",
                           int(n_gpus))
        except ValueError as exc:
            return str(exc)
        return ""

    return pd.Series([problem(a, n) for a, n in zip(telemetry["layout"], telemetry["n_gpus"])],
                     index=telemetry.index, dtype=object)


def telemetry_refusals(telemetry: pd.DataFrame, hardware: pd.DataFrame) -> pd.DataFrame:
    """Why each interval is not a throughput row (column ``throughput``) or not a power row (``gpu_energy``); ``""``
    where it is."""
    from .power import power_refusals
    from .throughput import PRECISION_LEVELS
    from .usage import first_reason

    layout = _layout_problem(telemetry)
    no_load = [
        (telemetry["requests"].astype(float) <= 0, "no request completed in the interval: no output rate to read"),
        (telemetry["mean_concurrency"].isna() | (telemetry["mean_concurrency"] <= 0),
         "no mean_concurrency: the batch the interval ran at is not stated"),
        (layout != "", layout),
    ]
    precision = (~telemetry["precision"].isin(PRECISION_LEVELS),
                 "precision '" + telemetry["precision"].astype(str) + f"' is not one the fit tells apart "
                 f"({', '.join(PRECISION_LEVELS)})")
    throughput = first_reason(telemetry.index, [*no_load, precision])
    as_power = _power_frame(telemetry)
    power = first_reason(telemetry.index, [
        *no_load,
        (precision[0], "its power is read over the interval's prefill and decode times, from its throughput: "
                       + precision[1]),
        (~telemetry["boundary"].isin(POWER_BOUNDARIES),
         "energy metered at the '" + telemetry["boundary"].astype(str) + "' boundary also holds the site's other "
         "loads and cooling: power rows are metered at the GPUs or at the nodes"),
        (pd.Series(True, index=telemetry.index),
         power_refusals(as_power.assign(source_table="user"), hardware).to_numpy()),  # measured directly
    ])
    return pd.DataFrame({"throughput": throughput, "gpu_energy": power})


def interval_key(telemetry: pd.DataFrame) -> pd.Series:
    """Each interval's name (operator, deployment, start): its power row and its throughput row share it."""
    return (telemetry["operator"].astype(str) + " | " + telemetry["deployment"].astype(str) + " | "
            + telemetry["start"].astype(str))


def _power_frame(telemetry: pd.DataFrame) -> pd.DataFrame:
    """The intervals in the power fit's columns (power per GPU from the energy or the mean power)."""
    power_w = telemetry["mean_power_w"].astype(float).fillna(
        telemetry["energy_wh"].astype(float) * 3600.0 / telemetry["duration_s"].astype(float))
    return pd.DataFrame({
        "source_table": _source_table(telemetry), "task": "chat", "gpu": telemetry["gpu"], "n_gpus": telemetry["n_gpus"],
        "batch_size": telemetry["mean_concurrency"].astype(float),
        "active_params_b": telemetry["active_params_b"].astype(float),
        "avg_power_w_per_gpu": power_w / telemetry["n_gpus"].astype(float),
        "model": telemetry["model"], "precision": telemetry["precision"],
        # node-level power: the GPUs' power times (1 + this operator's host ratio)
        "host_operator": telemetry["operator"].astype(str).where(telemetry["boundary"] == "node"),
        "interval": interval_key(telemetry),
    }, index=telemetry.index)


def telemetry_power_rows(telemetry: pd.DataFrame, hardware: pd.DataFrame) -> pd.DataFrame:
    """The intervals the power likelihood reads, as power rows (GPU, GPUs, batch, active parameters, power per
    GPU)."""
    ok = (telemetry_refusals(telemetry, hardware)["gpu_energy"] == "").to_numpy()
    return _power_frame(telemetry)[ok].reset_index(drop=True)


def telemetry_throughput_rows(telemetry: pd.DataFrame, hardware: pd.DataFrame) -> pd.DataFrame:
    """The intervals the throughput likelihood reads, as rows of the throughput table (validated by its schema)."""
    from ..data.schema import validate_frame
    from ..data.tables import THROUGHPUT_SCHEMA
    from .throughput import layout_columns, layout_degrees

    t = telemetry[(telemetry_refusals(telemetry, hardware)["throughput"] == "").to_numpy()]
    if t.empty:
        return validate_frame(pd.DataFrame(columns=THROUGHPUT_SCHEMA.column_names), THROUGHPUT_SCHEMA, "telemetry")
    layouts = [layout_columns(layout_degrees(str(a) if pd.notna(a) and str(a).strip() else f"TP{int(n)}", int(n)))
               for a, n in zip(t["layout"], t["n_gpus"])]
    requests = t["requests"].astype(float).to_numpy()
    total = t["output_tokens"].astype(float).to_numpy() / t["duration_s"].astype(float).to_numpy()
    n_gpus = t["n_gpus"].astype(float).to_numpy()
    rows = pd.DataFrame({
        "source_table": _source_table(t).to_numpy(), "model": t["model"].to_numpy(),
        "total_params_b": t["total_params_b"].to_numpy(), "active_params_b": t["active_params_b"].to_numpy(),
        "moe": t["moe"].to_numpy(), "gpu": t["gpu"].to_numpy(), "n_gpus": t["n_gpus"].to_numpy(),
        "tp": [c["tp"] for c in layouts], "pp": [c["pp"] for c in layouts], "ep": [c["ep"] for c in layouts],
        "parallelism": [c["parallelism"] for c in layouts], "precision": t["precision"].to_numpy(),
        "engine": t["engine"].fillna("unknown").to_numpy(),
        "isl": np.maximum(1.0, t["input_tokens"].astype(float).to_numpy() / requests),
        "osl": np.maximum(1.0, t["output_tokens"].astype(float).to_numpy() / requests),
        "batch_size": t["mean_concurrency"].astype(float).to_numpy(), "load_regime": "batch_size",
        "output_tok_s_total": total, "output_tok_s_per_gpu": total / n_gpus,
        "date": t["start"].astype(str).str[:10].to_numpy(), "source": t["source"].to_numpy(),
        "source_url": t["source_url"].to_numpy(),
        "notes": ("telemetry of " + t["operator"].astype(str) + ", " + t["deployment"].astype(str) + " at "
                  + t["start"].astype(str)).to_numpy(),
        "interval": interval_key(t).to_numpy(),
    })
    return validate_frame(rows.astype(object).where(rows.notna(), None), THROUGHPUT_SCHEMA, "telemetry")


def operator_setting(telemetry: pd.DataFrame, setups, operator: str) -> tuple[str, float]:
    """The engine setup a posterior fitted to ``operator``'s telemetry (among its ``setups``) and the operator's
    load: the median of its intervals' mean concurrency (the intervals that state one)."""
    known = sorted(telemetry["operator"].astype(str).unique()) if len(telemetry) else []
    if operator not in known:
        raise ValueError(f"no telemetry of operator {operator!r} in the data (operators with telemetry: "
                         f"{', '.join(known) or 'none'}; add theirs with --data-add)")
    label = f"-{TELEMETRY_SOURCE}:{operator}"
    fitted = [s for s in setups if str(s).endswith(label)]
    if not fitted:
        raise ValueError(f"the posterior was not fitted to {operator}'s telemetry: refit with its rows "
                         "(infergy fit --data-add FILE --out mine.nc) and pass --posterior mine.nc")
    load = telemetry.loc[telemetry["operator"] == operator, "mean_concurrency"].astype(float).dropna()
    load = load[load > 0]
    if load.empty:
        raise ValueError(f"{operator}'s telemetry states no mean_concurrency: give --batch-size")
    return fitted[0], float(load.median())
