"""The curated tables: their schemas (columns, units, allowed values, physical ranges) and cross-column rules."""

from __future__ import annotations

import pandas as pd

from .schema import Check, Column, Schema
from .vocab import BOUNDARIES, GPU_ALIASES, GPU_IDS, PRECISIONS

__all__ = ["SCHEMAS", "TABLE_FILES", "PAPER_THROUGHPUT_SCHEMA", "TELEMETRY_SCHEMA", "USER_TABLES"]


def _provenance() -> tuple[Column, ...]:
    return (
        Column("source", "str"),
        Column("source_url", "str", required=False),
        Column("source_row", "int", required=False, min_value=1),
    )


def _dated_provenance() -> tuple[Column, ...]:
    """When a figure was published, where it comes from, and notes."""
    return (Column("date", "str", required=False), *_provenance(), Column("notes", "str", required=False))


def _sized_model() -> tuple[Column, ...]:
    return (
        Column("model", "str"),
        Column("total_params_b", "float", min_value=0.0, min_inclusive=False),
        Column("active_params_b", "float", min_value=0.0, min_inclusive=False),
        Column("moe", "bool"),
    )


def _active_le_total(df: pd.DataFrame) -> pd.Series:
    return df["active_params_b"].astype(float) > df["total_params_b"].astype(float) * (1 + 1e-9)


def _rel_mismatch(a: pd.Series, b: pd.Series, rel: float) -> pd.Series:
    a, b = a.astype(float), b.astype(float)
    return (a - b).abs() > rel * b.abs()


_GPU = frozenset(GPU_IDS)
_GPU_HINTS = {label: gpu for label, (gpu, _) in GPU_ALIASES.items()}


def _benchmark_setup() -> tuple[Column, ...]:
    """Who ran what on which hardware: shared by the throughput and GPU-energy tables."""
    return (
        Column("source_table", "str"),
        *_sized_model(),
        Column("model_label_raw", "str", required=False),
        Column("gpu", "str", allowed=_GPU, suggest=_GPU_HINTS),
        Column("gpu_label_raw", "str", required=False),
        Column("gpu_assumed", "bool", required=False),
        Column("n_gpus", "int", min_value=1),
        Column("tp", "int", required=False, min_value=1),
        Column("pp", "int", required=False, min_value=1),
        Column("ep", "int", required=False, min_value=1),
    )


_ACTIVE_CHECK = Check("active_params_b", "active parameters exceed total parameters", _active_le_total)

THROUGHPUT_SCHEMA = Schema(
    name="throughput",
    columns=(
        *_benchmark_setup(),
        Column("parallelism", "str", required=False),
        Column("precision", "str", allowed=PRECISIONS),
        Column("engine", "str"),
        Column("engine_version", "str", required=False),
        Column("isl", "float", required=False, min_value=1.0),
        Column("osl", "float", min_value=1.0),
        Column("batch_size", "float", required=False, min_value=0.0, min_inclusive=False),
        Column("concurrency", "float", required=False, min_value=1.0),
        Column("offered_qps", "float", required=False, min_value=0.0, min_inclusive=False),
        Column("load_regime", "str", allowed=frozenset({
            "max_throughput", "static_batch", "batch_size", "concurrency", "offered_qps", "offered_qps_inf",
            "min_latency", "unknown"})),
        Column("output_tok_s_total", "float", min_value=0.0, min_inclusive=False),
        Column("output_tok_s_per_gpu", "float", min_value=0.0, min_inclusive=False),
        Column("metric_reported", "str", required=False),
        Column("value_reported", "float", required=False, min_value=0.0, min_inclusive=False),
        Column("date", "str", required=False),
        Column("quality_flags", "str", required=False),
        *_provenance(),
        Column("notes", "str", required=False),
    ),
    checks=(
        _ACTIVE_CHECK,
        Check("output_tok_s_per_gpu", "output_tok_s_per_gpu x n_gpus differs from output_tok_s_total by > 0.5%",
              lambda d: _rel_mismatch(d["output_tok_s_per_gpu"] * d["n_gpus"].astype(float),
                                      d["output_tok_s_total"], 0.005)),
        Check("n_gpus", "n_gpus is smaller than tp x pp",
              lambda d: d["n_gpus"].astype(float) < d["tp"].astype(float) * d["pp"].astype(float).fillna(1.0)),
    ),
)

GPU_ENERGY_SCHEMA = Schema(
    name="gpu_energy",
    columns=(
        *_benchmark_setup(),
        Column("precision", "str", allowed=PRECISIONS),
        Column("engine", "str"),
        Column("task", "str"),
        Column("batch_size", "float", required=False, min_value=0.0, min_inclusive=False),
        Column("max_batch_size", "float", required=False, min_value=1.0),
        Column("avg_output_tokens", "float", min_value=0.0, min_inclusive=False),
        Column("energy_per_token_j", "float", min_value=0.0, min_inclusive=False),
        Column("energy_per_request_j", "float", min_value=0.0, min_inclusive=False),
        Column("avg_power_w_total", "float", min_value=0.0, min_inclusive=False),
        Column("avg_power_w_per_gpu", "float", min_value=0.0, min_inclusive=False),
        Column("output_tok_s_total", "float", min_value=0.0, min_inclusive=False),
        Column("boundary", "str", allowed=frozenset({"gpu"})),
        Column("date", "str", required=False),
        *_provenance(),
    ),
    checks=(
        _ACTIVE_CHECK,
        Check("energy_per_request_j", "energy_per_request_j differs from energy_per_token_j x avg_output_tokens "
              "by > 1%", lambda d: _rel_mismatch(d["energy_per_token_j"] * d["avg_output_tokens"],
                                                 d["energy_per_request_j"], 0.01)),
        Check("avg_power_w_per_gpu", "avg_power_w_per_gpu x n_gpus differs from avg_power_w_total by > 1%",
              lambda d: _rel_mismatch(d["avg_power_w_per_gpu"] * d["n_gpus"].astype(float), d["avg_power_w_total"],
                                      0.01)),
    ),
)

PRODUCTION_SCHEMA = Schema(
    name="production",
    columns=(
        Column("id", "str"),
        Column("quantity", "str"),
        Column("model_or_system", "str"),
        Column("value_reported", "str", required=False),
        Column("unit_reported", "str", required=False),
        Column("wh_per_query", "float", required=False, min_value=0.0, min_inclusive=False),
        Column("wh_per_query_low", "float", required=False, min_value=0.0, min_inclusive=False),
        Column("wh_per_query_high", "float", required=False, min_value=0.0, min_inclusive=False),
        Column("j_per_output_token", "float", required=False, min_value=0.0, min_inclusive=False),
        Column("statistic", "str", allowed=frozenset({"median", "mean", "point", "range"})),
        Column("boundary", "str", allowed=BOUNDARIES),
        Column("boundary_text", "str", required=False),
        Column("kind", "str", allowed=frozenset({"measurement", "estimate"})),
        Column("operator_disclosure", "bool", required=False),
        # the fleet the row measures: its PUE, host ratio and idle share are that operator's (blank: guessed from
        # the source's name where it names a known operator, else a new operator of the population)
        Column("operator", "str", required=False),
        Column("input_tokens", "float", required=False, min_value=0.0),
        Column("output_tokens", "float", required=False, min_value=0.0),
        Column("hardware", "str", required=False),
        *_dated_provenance(),
    ),
    unique=("id",),
    checks=(
        Check("wh_per_query", "no value: give wh_per_query, a wh_per_query_low/high range, or j_per_output_token",
              lambda d: d[["wh_per_query", "wh_per_query_low", "j_per_output_token"]].isna().all(axis=1)),
        Check("wh_per_query_high", "wh_per_query_high is below wh_per_query_low",
              lambda d: d["wh_per_query_high"].astype(float) < d["wh_per_query_low"].astype(float)),
    ),
)

PUE_SCHEMA = Schema(
    name="pue",
    columns=(
        Column("id", "str"),
        Column("operator", "str"),
        Column("site", "str", required=False),
        Column("year", "int", required=False, min_value=2000, max_value=2100),
        Column("pue", "float", min_value=1.0, max_value=3.0),
        Column("pue_low", "float", required=False, min_value=1.0, max_value=3.0),
        Column("pue_high", "float", required=False, min_value=1.0, max_value=3.0),
        Column("statistic", "str", required=False),
        Column("scope", "str", allowed=frozenset({"fleet", "site", "design", "industry", "assumption"})),
        Column("kind", "str", allowed=frozenset({"reported", "estimate", "assumption"})),
        Column("hyperscale", "bool"),
        Column("quantity", "str", required=False),
        Column("boundary_text", "str", required=False),
        *_provenance(),
        Column("notes", "str", required=False),
    ),
    unique=("id",),
    checks=(Check("pue", "PUE of 3 or more is outside the physical range for a data center",
                  lambda d: d["pue"].astype(float) >= 3.0),),
)

HARDWARE_SCHEMA = Schema(
    name="hardware",
    columns=(
        Column("id", "str"),
        Column("device", "str"),
        Column("kind", "str", allowed=frozenset({"gpu", "server", "rack"})),
        Column("gpu", "str"),  # the table defines the GPU vocabulary: a new row is a new GPU
        Column("memory_gb", "float", required=False, min_value=0.0, min_inclusive=False),
        Column("memory_type", "str", required=False),
        Column("memory_bw_tb_s", "float", required=False, min_value=0.0, min_inclusive=False),
        Column("gpu_link_gb_s", "float", required=False, min_value=0.0, min_inclusive=False),
        Column("bf16_dense_tflops", "float", required=False, min_value=0.0, min_inclusive=False),
        Column("fp8_dense_tflops", "float", required=False, min_value=0.0, min_inclusive=False),
        Column("fp4_dense_tflops", "float", required=False, min_value=0.0, min_inclusive=False),
        Column("tdp_w", "float", required=False, min_value=0.0, min_inclusive=False, max_value=5000.0),
        Column("max_system_power_w", "float", required=False, min_value=0.0, min_inclusive=False),
        Column("n_gpus", "int", required=False, min_value=1),
        Column("launch_year", "int", required=False, min_value=2000, max_value=2100),
        *_provenance(),
        Column("gpu_link_source", "str", required=False),
        Column("notes", "str", required=False),
    ),
    unique=("id",),
    checks=(Check("max_system_power_w", "a server's max power must exceed its GPUs' total TDP",
                  lambda d: d["kind"].ne("gpu") & (d["max_system_power_w"].astype(float)
                                                   < d["n_gpus"].astype(float) * d["tdp_w"].astype(float))),),
)

MODELS_SCHEMA = Schema(
    name="models",
    columns=(
        *_sized_model(),
        Column("aliases", "str", required=False),
        Column("params_source", "str"),
        Column("sources", "str"),
        Column("params_note", "str", required=False),
    ),
    unique=("model",),
    checks=(_ACTIVE_CHECK,),
)


def _count_column(name: str, minimum: int = 1) -> Column:
    return Column(name, "int", required=False, min_value=minimum)


#: Layers with a cache are either full-context or sliding; neither exceeds the model's layers.
def _cache_layers_exceed(d: pd.DataFrame) -> pd.Series:
    cached = d["kv_layers"].astype(float).fillna(0) + d["sliding_layers"].astype(float).fillna(0)
    return cached > d["layers"].astype(float)


ARCHITECTURES_SCHEMA = Schema(
    name="architectures",
    columns=(
        Column("model", "str"),
        Column("hf_repo", "str"),
        Column("layers", "int", min_value=1),
        _count_column("kv_layers", 0),
        _count_column("sliding_layers", 0),
        _count_column("sliding_window"),
        Column("hidden_size", "int", min_value=1),
        Column("attention_heads", "int", min_value=1),
        _count_column("kv_heads"),
        Column("head_dim", "int", min_value=1),
        _count_column("kv_lora_rank"),
        _count_column("rope_head_dim"),
        Column("vocab_size", "int", min_value=1),
        _count_column("context_window"),  # tokens (prompt + answer) the model serves; see data/README.md
        _count_column("experts"),
        _count_column("experts_per_token"),
        _count_column("shared_experts", 0),
        *_provenance(),
        Column("notes", "str", required=False),
    ),
    unique=("model",),
    checks=(
        Check("kv_layers", "layers with a KV cache (full + sliding) exceed the model's layers", _cache_layers_exceed),
        Check("sliding_window", "sliding layers need a window", lambda d: d["sliding_layers"].astype(float).fillna(0).gt(0)
              & d["sliding_window"].isna()),
        Check("kv_heads", "a cached layer needs KV heads or an MLA latent (kv_lora_rank)",
              lambda d: d["kv_layers"].notna() & d["kv_heads"].isna() & d["kv_lora_rank"].isna()),
        Check("experts_per_token", "experts per token exceed the experts",
              lambda d: d["experts_per_token"].astype(float) > d["experts"].astype(float)),
    ),
)

TOKEN_LENGTHS_SCHEMA = Schema(
    name="token_lengths",
    columns=(
        Column("id", "str"),
        Column("quantity", "str"),
        Column("value_reported", "str"),
        Column("value", "float", required=False, min_value=0.0, min_inclusive=False),
        Column("unit", "str"),
        Column("role", "str", allowed=frozenset({"input", "output", "input/output", "other"})),
        Column("statistic", "str", allowed=frozenset({"median", "mean", "point"})),
        Column("workload", "str", required=False),
        *_dated_provenance(),
    ),
    unique=("id",),
)

PAPER_THROUGHPUT_SCHEMA = Schema(
    name="paper_throughput",
    columns=(
        Column("model", "str"),
        Column("total_params_b", "float", min_value=0.0, min_inclusive=False),
        Column("active_params_b", "float", required=False, min_value=0.0, min_inclusive=False),
        Column("architecture", "str", allowed=frozenset({"dense", "moe"})),
        Column("gpu", "str", allowed=_GPU, suggest=_GPU_HINTS),
        Column("gpu_label_raw", "str"),
        Column("scaled_power", "bool"),
        Column("tp", "int", min_value=1),
        Column("precision", "str", allowed=frozenset({"FP4", "FP8", "FP16", "BF16"})),
        Column("tokens_per_s_node", "float", min_value=0.0, min_inclusive=False),
        Column("isl", "float", required=False, min_value=1.0),
        Column("osl", "float", min_value=1.0),
        Column("batch_size_raw", "str"),
        Column("node_power_kw_listed", "float", required=False, min_value=0.0, min_inclusive=False),
        Column("source", "str"),
        Column("comments", "str", required=False),
        Column("confidence", "str", allowed=frozenset({"high", "medium", "low"})),
        Column("source_file", "str"),
        Column("source_row", "int", min_value=1),
    ),
)

#: Components of an operator's per-query energy breakdown (boundary_factor's terms, accelerators first).
ENERGY_COMPONENTS = ("accelerators", "host", "idle", "overhead")

ENERGY_SHARES_SCHEMA = Schema(
    name="energy_shares",
    columns=(
        Column("id", "str"),
        Column("of_id", "str"),  # the production row whose energy the shares divide
        Column("operator", "str"),
        Column("component", "str", allowed=frozenset(ENERGY_COMPONENTS)),
        Column("share_pct", "float", min_value=0.0, max_value=100.0),
        *_dated_provenance(),
    ),
    unique=("id",),
)

API_SPEEDS_SCHEMA = Schema(
    name="api_speeds",
    columns=(
        Column("id", "str"),
        Column("provider", "str"),
        Column("model", "str"),
        Column("total_params_b", "float", min_value=0.0, min_inclusive=False),
        Column("active_params_b", "float", min_value=0.0, min_inclusive=False),
        Column("tps_per_user_tok_s", "float", min_value=0.0, min_inclusive=False),  # output tokens/s one request sees
        Column("ttft_s", "float", required=False, min_value=0.0),
        *_provenance(),
        Column("notes", "str", required=False),
    ),
    unique=("id",),
    checks=(_ACTIVE_CHECK,),
)

#: What a service's own statistics state: its throughput per node at the load it served, the speed one request
#: saw, the context it read, its cache hits, its occupancy over the day and the replica it ran on.
SERVICE_QUANTITIES = frozenset({"decode_tok_s_per_node", "prefill_tok_s_per_node", "request_speed_tok_s",
                                "kv_length_per_output_token", "cache_hit_share", "nodes_peak", "nodes_mean",
                                "input_tokens_per_day", "output_tokens_per_day", "decode_unit_nodes",
                                "prefill_unit_nodes", "scale_out_link_gb_s"})

SERVICE_STATISTICS_SCHEMA = Schema(
    name="service_statistics",
    columns=(
        Column("id", "str"),
        Column("operator", "str"),
        Column("system", "str"),  # the served model(s)
        Column("hardware", "str"),  # the accelerator as stated
        Column("gpus_per_node", "int", min_value=1),
        Column("quantity", "str", allowed=SERVICE_QUANTITIES),
        Column("value", "float", min_value=0.0, min_inclusive=False),  # the stated figure (a range's centre)
        Column("low", "float", required=False, min_value=0.0),  # a stated range
        Column("high", "float", required=False, min_value=0.0),
        Column("unit", "str"),
        Column("period", "str"),
        *_dated_provenance(),
    ),
    unique=("id",),
)

#: Workloads of the production request traces (``request_lengths``), and the traces' citation: every row's
#: ``source`` is one of these files (data/README.md carries the licence).
TRACE_WORKLOADS = ("chat", "code")
TRACE_CITATION = ("Azure LLM inference trace 2023 (Azure/AzurePublicDataset, commit b469a113cedc; CC BY 4.0, "
                  "Microsoft): Patel et al., 'Splitwise: Efficient generative LLM inference using phase splitting', "
                  "ISCA 2024")
TRACE_URL = "https://github.com/Azure/AzurePublicDataset/blob/master/AzureLLMInferenceDataset2023.md"

REQUEST_LENGTHS_SCHEMA = Schema(
    name="request_lengths",
    columns=(
        Column("workload", "str", allowed=frozenset(TRACE_WORKLOADS)),
        Column("arrival_s", "float", min_value=0.0),  # seconds after the trace's first request
        Column("input_tokens", "int", min_value=1),  # the prompt (context) the request sent
        Column("output_tokens", "int", min_value=1),  # tokens it generated
        Column("source", "str"),
        Column("source_row", "int", min_value=1),
    ),
)

#: A telemetry interval's series: the intervals of one deployment of one operator, in time order.
TELEMETRY_SERIES = ("operator", "deployment")  # (_interval_seconds joins these two)
#: Seconds two intervals of a series may be apart (or overlap) and still count as back to back: logs stamp to the
#: second.
TELEMETRY_GAP_TOLERANCE_S = 1.0


def _interval_seconds(d: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Each interval's start in seconds (NaN where not an ISO 8601 time) and its series' previous interval's end."""
    start = pd.to_datetime(d["start"], errors="coerce", utc=True, format="ISO8601")
    start_s = (start - pd.Timestamp("1970-01-01", tz="UTC")).dt.total_seconds()
    series = d["operator"].astype(str) + "|" + d["deployment"].astype(str)
    frame = pd.DataFrame({"series": series, "start": start_s, "end": start_s + d["duration_s"].astype(float)})
    ordered = frame.sort_values(["series", "start"], kind="stable")
    previous_end = ordered.groupby("series", sort=False)["end"].shift(1)
    return start_s, previous_end.reindex(frame.index)


def _telemetry_gap(d: pd.DataFrame) -> pd.Series:
    start, previous_end = _interval_seconds(d)
    return start > previous_end + TELEMETRY_GAP_TOLERANCE_S


def _telemetry_overlap(d: pd.DataFrame) -> pd.Series:
    start, previous_end = _interval_seconds(d)
    return start < previous_end - TELEMETRY_GAP_TOLERANCE_S


#: One interval of an operator's power telemetry beside its serving engine's counters: what nvidia-smi, DCGM, Zeus
#: or IPMI logs and the engine's metrics give for one deployment (a model on n GPUs) over a few minutes.
TELEMETRY_SCHEMA = Schema(
    name="telemetry",
    columns=(
        Column("operator", "str"),  # the fleet the intervals describe
        Column("deployment", "str"),  # one replica group; its intervals form a series in time
        Column("start", "str"),  # ISO 8601, with a time zone or UTC
        Column("duration_s", "float", min_value=0.0, min_inclusive=False),
        *_sized_model(),
        Column("gpu", "str", allowed=_GPU, suggest=_GPU_HINTS),
        Column("n_gpus", "int", min_value=1),
        Column("layout", "str", required=False),  # e.g. TP8 or TP4,PP2 (the throughput table's notation); TPn if empty
        Column("precision", "str", allowed=PRECISIONS),
        Column("engine", "str", required=False),
        Column("boundary", "str", allowed=frozenset({"gpu", "node", "facility"})),
        Column("energy_wh", "float", required=False, min_value=0.0),  # over the interval, at the boundary
        Column("mean_power_w", "float", required=False, min_value=0.0),  # or its mean power
        Column("requests", "int", min_value=0),  # requests completed in the interval
        Column("input_tokens", "float", min_value=0.0),  # prompt tokens processed
        Column("output_tokens", "float", min_value=0.0),  # tokens generated
        Column("mean_concurrency", "float", required=False, min_value=0.0),  # sequences in flight, on average
        *_provenance(),
        Column("notes", "str", required=False),
    ),
    checks=(
        _ACTIVE_CHECK,
        Check("start", "not an ISO 8601 time (e.g. 2026-10-01T00:05:00Z)",
              lambda d: pd.to_datetime(d["start"], errors="coerce", utc=True, format="ISO8601").isna()),
        Check("energy_wh", "neither energy_wh nor mean_power_w is given",
              lambda d: d["energy_wh"].isna() & d["mean_power_w"].isna()),
        Check("mean_power_w", "mean_power_w x duration_s differs from energy_wh by > 1%",
              lambda d: _rel_mismatch(d["mean_power_w"] * d["duration_s"] / 3600.0, d["energy_wh"], 0.01)),
        Check("requests", "tokens but no requests", lambda d: (d["requests"].astype(float) == 0)
              & (d["input_tokens"] + d["output_tokens"] > 0)),
        Check("output_tokens", "requests but no output tokens", lambda d: (d["requests"].astype(float) > 0)
              & (d["output_tokens"] == 0)),
        Check("start", f"a gap before this interval: its series ({', '.join(TELEMETRY_SERIES)}) has no interval "
              f"covering the time since the previous one ended (more than {TELEMETRY_GAP_TOLERANCE_S:g} s)",
              _telemetry_gap),
        Check("start", f"overlaps the previous interval of its series ({', '.join(TELEMETRY_SERIES)})",
              _telemetry_overlap),
    ),
)

#: Table name -> schema, in load order. ``paper_throughput`` is paper mode's own input.
SCHEMAS: dict[str, Schema] = {
    s.name: s
    for s in (THROUGHPUT_SCHEMA, GPU_ENERGY_SCHEMA, PRODUCTION_SCHEMA, PUE_SCHEMA, HARDWARE_SCHEMA, MODELS_SCHEMA,
              TOKEN_LENGTHS_SCHEMA, PAPER_THROUGHPUT_SCHEMA, ARCHITECTURES_SCHEMA, ENERGY_SHARES_SCHEMA,
              API_SPEEDS_SCHEMA, REQUEST_LENGTHS_SCHEMA, SERVICE_STATISTICS_SCHEMA, TELEMETRY_SCHEMA)
}
#: Tables only users bring (none shipped): empty until a file adds rows.
USER_TABLES = ("telemetry",)
TABLE_FILES: dict[str, str] = {name: f"{name}.csv" for name in SCHEMAS if name not in USER_TABLES}
