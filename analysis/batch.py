"""Many queries at once: :func:`estimate_many` (a table of queries in, one row of quantiles per query out) and
:func:`energy_totals` (per-group totals whose intervals come from summing every posterior draw over all rows).

A batch is a request log: each row one query, its columns the arguments of :func:`~.estimate.estimate` (the same
names and defaults; a missing column or an empty cell takes the default). Rows that share everything but their
lengths share one resolution of the posterior (the model's and GPU's effects, the replica, the fleet); the energy of
every row is then one compiled call over (rows x posterior draws x simulated queries). A replica is sized as
``estimate`` sizes it for a query of the regime's workload (its median lengths), unless ``n_gpus`` is given: a
deployment serves its whole log on one replica size.

With both lengths given, a query's energy under one posterior draw is one number, so its answer is the quantiles of
the posterior draws; a length left empty is drawn per query from the regime's workload (given the other), with the
query's own random stream (the seed and the row's index label), so a row's answer does not depend on the rows beside
it or on how the log is split. Quantiles are the samples' own (linear interpolation; ``estimate`` reads them off a
fine histogram, within 0.12%).

On a Dask DataFrame both functions work per partition (the ``dask`` extra): :func:`estimate_many` returns a Dask
DataFrame of the rows' answers, :func:`energy_totals` adds each posterior draw's total over every partition before
it takes quantiles.
"""

from __future__ import annotations

import inspect
from functools import lru_cache, partial

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from ..model.query import check_context
from ..model.workload import draw_lengths
from .estimate import PosteriorSource, _for_operator, estimate, open_posterior, queries_per_draw
from .predict import QuerySpec, boundary_flags, check_spec
from .propagate import MAX_CHUNK_ELEMENTS, Workload, workflow
from .quantiles import QUANTILE_KEYS, _PROBABILITY, sorted_quantiles

__all__ = ["QUERY_COLUMNS", "estimate_many", "energy_totals", "BATCH_SAMPLES"]

_ESTIMATE_DEFAULTS = {name: p.default for name, p in inspect.signature(estimate).parameters.items()}
#: The columns a batch may have: :func:`~.estimate.estimate`'s query arguments, with its defaults.
QUERY_COLUMNS = {name: _ESTIMATE_DEFAULTS[name] for name in (
    "model", "total_params_b", "active_params_b", "moe", "gpu", "n_gpus", "precision", "batch_size", "input_tokens",
    "output_tokens", "regime", "boundary", "pue", "engine", "operator", "agent_steps", "tool_tokens",
    "cache_hit_rate")}
_LENGTHS = ("input_tokens", "output_tokens")
_SPEC_FIELDS = tuple(c for c in QUERY_COLUMNS if c not in _LENGTHS)
#: Query-samples per row unless told otherwise (1,000 draws x 10 simulated queries where a length is drawn).
BATCH_SAMPLES = 10_000
_QUANTILE_NAMES = tuple(k for k in QUANTILE_KEYS if k != "mean")
_QUANTILE_P = np.array([_PROBABILITY[k] for k in _QUANTILE_NAMES], np.float32)


@lru_cache(maxsize=4)
def _shipped_or_file(path: str | None) -> PosteriorSource:
    """A posterior opened once per process (a Dask worker reads it once, not once per partition)."""
    return open_posterior(path)


def _source(posterior, bundle) -> PosteriorSource:
    if isinstance(posterior, PosteriorSource) or bundle is not None or not (posterior is None or
                                                                            isinstance(posterior, str)):
        return open_posterior(posterior, bundle)
    return _shipped_or_file(posterior)


def _is_dask(frame) -> bool:
    return type(frame).__module__.startswith("dask")


def _cell(value):
    """An empty cell (None, NaN, pandas' NA) as None; a NumPy scalar as its Python value."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return value.item() if isinstance(value, np.generic) else value


def _checked_frame(queries) -> pd.DataFrame:
    if not isinstance(queries, pd.DataFrame):
        raise TypeError(f"queries must be a pandas (or Dask) DataFrame, got {type(queries).__name__}")
    unknown = [c for c in queries.columns if c not in QUERY_COLUMNS]
    if unknown:
        raise ValueError(f"unknown query column(s) {', '.join(map(repr, unknown))}; the columns are "
                         f"{', '.join(QUERY_COLUMNS)}")
    if "model" not in queries.columns and "total_params_b" not in queries.columns:
        raise ValueError("each query needs a model: a 'model' column (a known name) or 'total_params_b'")
    return queries


def _row_labels(frame: pd.DataFrame) -> np.ndarray:
    """Each row's random-stream label: its index label where the index is of integers, else its position."""
    index = frame.index
    if pd.api.types.is_integer_dtype(index.dtype):
        return np.asarray(index, np.int64) % (1 << 31)
    return np.arange(len(frame), dtype=np.int64)


def _lengths(frame: pd.DataFrame, name: str) -> np.ndarray:
    """A length column as float (NaN where drawn), refused with the rows at fault where not a positive number."""
    if name not in frame.columns:
        return np.full(len(frame), np.nan)
    values = pd.to_numeric(frame[name], errors="coerce").to_numpy(np.float64)
    given = frame[name].notna().to_numpy()
    low = 0.0 if name == "input_tokens" else 1.0
    bad = given & ~(np.isfinite(values) & (values >= low))
    if bad.any():
        rows = ", ".join(map(str, frame.index[bad][:5]))
        raise ValueError(f"{name} must be a number >= {low:g} (or empty, to draw it); rows {rows}: "
                         f"{', '.join(map(repr, frame[name][bad][:5]))}")
    return values


@partial(jax.jit, static_argnames=("queries", "steps", "per_token", "draw_input", "draw_output"))
def _rows_kernel(p, flags, base_key, labels, tokens_in, tokens_out, tool_tokens, cache_hit_rate, *, queries: int, steps: int,
                 per_token: bool, draw_input: bool, draw_output: bool):
    """Each row's values (rows x draws x queries) and longest context, every row on its own random stream."""
    n = p["log_batch"].shape[0]

    def one(label, t_in, t_out):
        k_lengths, k_steps = jax.random.split(jax.random.fold_in(base_key, label))
        if draw_input or draw_output:
            component, prompt = draw_lengths(p, k_lengths, (n, queries), None if draw_input else t_in,
                                             None if draw_output else t_out)
        else:
            component, prompt = None, jnp.full((n, queries), t_in, jnp.float32)
        wh, tokens, _, ctx_max = workflow(p, flags, jax.random.split(k_steps, steps), prompt, component,
                                          None if draw_output else t_out, tool_tokens, cache_hit_rate, False)
        return (wh * 3600.0 / jnp.maximum(tokens, 1.0) if per_token else wh), ctx_max

    return jax.vmap(one)(labels, tokens_in, tokens_out)


def _group_spec(values: dict, allow_extreme: bool) -> tuple[QuerySpec, Workload]:
    spec = QuerySpec(**{k: values[k] for k in ("model", "total_params_b", "active_params_b", "moe", "gpu", "n_gpus",
                                                "precision", "batch_size", "regime", "boundary", "pue", "engine")},
                     allow_extreme=allow_extreme)
    check_spec(spec)
    agent_steps = values["agent_steps"]
    if isinstance(agent_steps, float) and agent_steps.is_integer():
        agent_steps = int(agent_steps)
    workload = Workload(None, None, spec.regime, agent_steps, float(values["tool_tokens"]), "query",
                        float(values["cache_hit_rate"]))
    workload.check()
    return spec, workload


def _evaluate(frame: pd.DataFrame, *, samples: int, seed: int, posterior, bundle, per: str, allow_extreme: bool,
              want_rows: bool) -> tuple[pd.DataFrame | None, np.ndarray]:
    """The rows' answers (or None) and each row's per-draw mean (rows x draws, Wh or J/token)."""
    frame = _checked_frame(frame)
    if per not in ("query", "token"):
        raise ValueError(f"unknown unit {per!r}; choose query (Wh/query) or token (J/token)")
    source = _source(posterior, bundle)
    n = source.n_draws
    q_drawn = queries_per_draw(samples, n)
    lengths = {name: _lengths(frame, name) for name in _LENGTHS}
    labels = _row_labels(frame)
    cells = {c: ([_cell(v) for v in frame[c]] if c in frame.columns else [QUERY_COLUMNS[c]] * len(frame))
             for c in _SPEC_FIELDS}
    keys = [tuple(QUERY_COLUMNS[c] if cells[c][i] is None else cells[c][i] for c in _SPEC_FIELDS)
            + tuple(bool(np.isnan(lengths[name][i])) for name in _LENGTHS) for i in range(len(frame))]
    groups: dict[tuple, list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    out = np.full((len(frame), len(_QUANTILE_NAMES) + 1), np.nan)
    count = np.zeros(len(frame), np.int64)
    per_draw = np.zeros((len(frame), n))
    base_key = jax.random.fold_in(jax.random.PRNGKey(seed), 2)
    for key, rows in groups.items():
        values = dict(zip(_SPEC_FIELDS, key))
        draw_in, draw_out = key[-2], key[-1]
        try:
            spec, workload = _group_spec(values, allow_extreme)
            if values["operator"] is not None:
                spec = _for_operator(spec, source, values["operator"])
            arrays, meta = source.prepare(spec, seed)
        except ValueError as err:
            raise ValueError(f"rows {', '.join(map(str, frame.index[rows[:5]]))}"
                             f"{' ...' if len(rows) > 5 else ''}: {err}") from None
        rows = np.asarray(rows)
        t_in = np.where(np.isnan(lengths["input_tokens"][rows]), meta["typical_input_tokens"],
                        lengths["input_tokens"][rows])
        t_out = np.where(np.isnan(lengths["output_tokens"][rows]), meta["typical_output_tokens"],
                         lengths["output_tokens"][rows])
        context = t_in + workload.agent_steps * t_out + (workload.agent_steps - 1) * workload.tool_tokens
        longest = int(np.argmax(context))
        try:
            check_context(float(context[longest]), meta["model"], meta["context_window"], source.bundle,
                          allow_extreme, "" if not (draw_in or draw_out) else " (at the workload's median lengths)")
        except ValueError as err:
            raise ValueError(f"row {frame.index[rows[longest]]} (the longest of {len(rows)} such queries): {err}"
                             ) from None
        q = q_drawn if (draw_in or draw_out) else 1
        step = max(1, min(len(rows), MAX_CHUNK_ELEMENTS // (n * q)))
        flags = boundary_flags(spec.boundary)
        for start in range(0, len(rows), step):
            part = rows[start:start + step]
            pad = step - len(part)  # whole calls of one shape: one compiled program per group shape
            take = np.concatenate([part, np.repeat(part[-1:], pad)])
            vals, _ = _rows_kernel(arrays, flags, base_key, jnp.asarray(labels[take], jnp.uint32), jnp.asarray(np.nan_to_num(lengths["input_tokens"][take]),
                                                                        jnp.float32),
                                   jnp.asarray(np.nan_to_num(lengths["output_tokens"][take], nan=1.0), jnp.float32),
                                   jnp.float32(workload.tool_tokens), jnp.float32(workload.cache_hit_rate),
                                   queries=q, steps=workload.agent_steps, per_token=per == "token",
                                   draw_input=draw_in, draw_output=draw_out)
            vals = np.asarray(vals)[: len(part)].reshape(len(part), -1)
            if not np.isfinite(vals).all() or (vals <= 0).any():
                bad = part[~(np.isfinite(vals) & (vals > 0)).all(axis=1)]
                raise ValueError(f"rows {', '.join(map(str, frame.index[bad[:5]]))}: the energy is not a positive "
                                 "finite number (the query is past what the model describes)")
            per_draw[part] = vals.reshape(len(part), n, q).mean(axis=-1, dtype=np.float64)
            count[part] = vals.shape[1]
            if want_rows:
                s = np.sort(vals, axis=-1)
                out[part, 1:] = sorted_quantiles(s, vals.shape[1], _QUANTILE_P).T
                out[part, 0] = vals.mean(axis=-1, dtype=np.float64)
    if not want_rows:
        return None, per_draw
    result = pd.DataFrame(out, index=frame.index, columns=("mean",) + _QUANTILE_NAMES)
    result = result[list(QUANTILE_KEYS)]
    result["unit"] = "Wh/query" if per == "query" else "J/token"
    result["samples"] = count
    return result, per_draw


def estimate_many(queries, *, samples: int = BATCH_SAMPLES, seed: int = 0, posterior=None, bundle=None,
                  per: str = "query", allow_extreme: bool = False):
    """Energy per query (``per="query"``, Wh) or per output token (``"token"``, J) for every row of ``queries``:
    a DataFrame with the row's ``median, mean, p05, p25, p75, p95``, its ``unit`` and the ``samples`` behind it,
    on the same index. ``queries`` has :data:`QUERY_COLUMNS` (``model`` at least). A Dask DataFrame gives a Dask
    DataFrame, computed partition by partition."""
    kwargs = dict(samples=samples, seed=seed, posterior=posterior, bundle=bundle, per=per,
                  allow_extreme=allow_extreme)
    if _is_dask(queries):
        _checked_frame(queries._meta)
        meta = pd.DataFrame({k: pd.Series(dtype=float) for k in QUANTILE_KEYS}
                            | {"unit": pd.Series(dtype=object), "samples": pd.Series(dtype=np.int64)})
        return queries.map_partitions(lambda part: _evaluate(part, want_rows=True, **kwargs)[0], meta=meta)
    return _evaluate(queries, want_rows=True, **kwargs)[0]


def _partial_totals(frame: pd.DataFrame, by: list[str], **kwargs) -> pd.DataFrame:
    """Each group's number of queries and its per-draw sums (columns ``d0``, ``d1`` ...) over this frame's rows."""
    _, per_draw = _evaluate(frame, want_rows=False, per="query", **kwargs)
    sums = pd.concat([pd.Series(1, index=frame.index, name="queries"),
                      pd.DataFrame(per_draw, index=frame.index, columns=[f"d{j}" for j in range(per_draw.shape[1])])],
                     axis=1)
    keys = [frame[c] for c in by] if by else [pd.Series("all", index=frame.index, name="group")]
    return sums.groupby(keys, dropna=False).sum()


def energy_totals(queries, by: str | list[str] | None = None, *, samples: int = BATCH_SAMPLES, seed: int = 0,
                  posterior=None, bundle=None, allow_extreme: bool = False) -> pd.DataFrame:
    """The total energy (Wh) of the queries in each group of ``by`` (columns of ``queries``; None: all of them):
    ``queries``, then the total's ``median, mean, p05, p25, p75, p95``. Each posterior draw's total is the sum over
    every row (and every partition, for a Dask DataFrame) of the row's expected energy under that draw; the
    interval is that total's quantiles over the draws, never a sum of the rows' quantiles."""
    by = [by] if isinstance(by, str) else list(by or [])
    missing = [c for c in by if c not in queries.columns]
    if missing:
        raise ValueError(f"group column(s) {', '.join(map(repr, missing))} not among the queries' columns")
    kwargs = dict(samples=samples, seed=seed, posterior=posterior, bundle=bundle, allow_extreme=allow_extreme)
    if _is_dask(queries):
        _checked_frame(queries._meta)
        n = _source(posterior, bundle).n_draws
        meta = pd.DataFrame({**({c: queries._meta[c] for c in by} if by else {"group": pd.Series(dtype=object)}),
                             "queries": pd.Series(dtype=np.int64),
                             **{f"d{j}": pd.Series(dtype=float) for j in range(n)}})
        parts = queries.map_partitions(lambda part: _partial_totals(part, by, **kwargs).reset_index(), meta=meta)
        sums = parts.groupby(by or ["group"], dropna=False).sum().compute()
    else:
        sums = _partial_totals(queries, by, **kwargs)
    draws = sums.drop(columns="queries").to_numpy(np.float64)
    q = np.quantile(draws, [_PROBABILITY[k] for k in _QUANTILE_NAMES], axis=1).T
    result = pd.DataFrame(q, index=sums.index, columns=list(_QUANTILE_NAMES))
    result.insert(0, "mean", draws.mean(axis=1))
    result = result[list(QUANTILE_KEYS)]
    result.insert(0, "queries", sums["queries"].astype(np.int64))
    result["unit"] = "Wh"
    return result
