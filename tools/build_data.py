"""Build infergy's curated tables in ``data/`` from the reference folder (a developer step, not run time).

    python tools/build_data.py REFERENCE_DIR data/

Every output row keeps its source (``source``, ``source_url``, ``source_row``); values are kept as printed and
only names, units and types are normalised. Rows that cannot serve a table are counted, with the reason, in
``data/accounting.csv`` (rows in = rows out + rows dropped, per source file).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from data.vocab import GPU_ALIASES, model_name, params_from_name  # noqa: E402

ACCOUNTING: list[dict] = []


def account(table: str, source_file: str, rows_in: int, kept: int, dropped: dict[str, int] | None = None) -> None:
    dropped = {k: v for k, v in (dropped or {}).items() if v}
    assert rows_in == kept + sum(dropped.values()), (table, source_file, rows_in, kept, dropped)
    if not dropped:
        ACCOUNTING.append(dict(table=table, source_file=source_file, rows_in=rows_in, rows_out=kept, dropped=0,
                               reason=""))
    for i, (reason, n) in enumerate(dropped.items()):
        ACCOUNTING.append(dict(table=table, source_file=source_file, rows_in=rows_in if i == 0 else 0,
                               rows_out=kept if i == 0 else 0, dropped=n, reason=reason))


def gpu_id(label: str) -> tuple[str, bool]:
    """Canonical GPU id and whether the variant was assumed (label does not state it)."""
    gpu, assumed = GPU_ALIASES[label.strip()]
    return gpu, assumed


PRECISION = {"FP8": "fp8", "FP16": "fp16", "FP4": "fp4", "Mixed": "mixed", "BF16": "bf16", "bfloat16": "bf16",
             "fp8": "fp8"}

THROUGHPUT_COLUMNS = [
    "source_table", "model", "model_label_raw", "total_params_b", "active_params_b", "moe", "gpu", "gpu_label_raw",
    "gpu_assumed", "n_gpus", "tp", "pp", "ep", "parallelism", "precision", "engine", "engine_version", "isl", "osl",
    "batch_size", "concurrency", "offered_qps", "load_regime", "output_tok_s_total", "output_tok_s_per_gpu",
    "metric_reported", "value_reported", "date", "quality_flags", "source", "source_url", "source_row", "notes",
]


def tensor_parallel_layout(tp: pd.Series) -> dict:
    """Columns of a plain tensor-parallel group (no pipeline or expert parallelism)."""
    return {"n_gpus": tp, "tp": tp, "pp": 1, "ep": np.nan, "parallelism": "TP" + tp.astype(str)}


def trtllm_perf_overview(ref: Path) -> pd.DataFrame:
    src = pd.read_csv(ref / "trtllm_throughput.csv")
    rows_in = len(src)
    v = src["source_version"].astype(str)
    flags = pd.Series([[] for _ in range(len(src))])
    superseded = v.str.contains("earlier revision")
    anomalous = src["notes"].str.contains("anomalous", na=False)
    v010 = v.eq("0.10.0")
    gh200_tp2 = src["gpu"].str.startswith("GH200") & src["tp"].eq(2) & v.isin(["0.11.0", "0.12.0", "0.13.0"])
    beta = src["gpu"].str.contains("beta")
    shape = ["model", "gpu", "n_gpus", "tp", "pp", "precision", "isl", "osl", "tokens_per_s_total"]
    current = src.loc[~superseded, shape].fillna(-1)
    repeats = current.duplicated(keep="first").reindex(src.index, fill_value=False)
    for mask, flag in ((superseded, "superseded_revision"), (repeats, "repeats_earlier_version"), (anomalous, "anomalous_cell"),
                       (v010, "v0.10_methodology"), (gh200_tp2, "gh200_tp2_inconsistent"), (beta, "beta_hardware")):
        for i in np.flatnonzero(mask.to_numpy()):
            flags[i].append(flag)
    gpus = src["gpu"].map(lambda s: gpu_id(s)[0])
    assumed = src["gpu"].map(lambda s: gpu_id(s)[1])
    static = src["notes"].str.contains("static batching", na=False)
    engine_version = v.str.extract(r"^([0-9][0-9.a-z]*)")[0]
    ep = src["parallelism"].str.extract(r"DEP(\d+)")[0].astype(float)
    out = pd.DataFrame({
        "source_table": "trtllm_perf_overview",
        "model": src["model"].map(model_name),
        "model_label_raw": src["model_label_raw"],
        "total_params_b": src["params_b"],
        "active_params_b": src["active_params_b"],
        "moe": src["active_params_b"] < src["params_b"],
        "gpu": gpus,
        "gpu_label_raw": src["gpu_label_raw"],
        "gpu_assumed": assumed,
        "n_gpus": src["n_gpus"],
        "tp": src["tp"],
        "pp": src["pp"],
        "ep": ep,
        "parallelism": src["parallelism"],
        "precision": src["precision"].map(PRECISION),
        "engine": "tensorrt-llm",
        "engine_version": engine_version,
        "isl": src["isl"],
        "osl": src["osl"],
        "batch_size": src["batch_size"],
        "concurrency": np.nan,
        "offered_qps": np.nan,
        "load_regime": np.where(static, "static_batch", "max_throughput"),
        "output_tok_s_total": src["tokens_per_s_total"],
        "output_tok_s_per_gpu": src["tokens_per_s_per_gpu"],
        "metric_reported": src["metric_reported"],
        "value_reported": src["value_reported"],
        "date": src["date"],
        "quality_flags": [";".join(f) for f in flags],
        "source": "NVIDIA TensorRT-LLM performance overview v" + v,
        "source_url": src["source_url"],
        "source_row": np.arange(1, rows_in + 1),
        "notes": src["notes"],
    })
    account("throughput", "trtllm_throughput.csv", rows_in, len(out))
    return out


def trtllm_dsr1_blog(ref: Path) -> pd.DataFrame:
    src = pd.read_csv(ref / "trtllm_deepseek_r1_blog.csv")
    tokens = {"1K": 1024.0, "2K": 2048.0}
    out = pd.DataFrame({
        "source_table": "trtllm_dsr1_blog",
        "model": src["model"].map(model_name),
        "model_label_raw": src["model"],
        "total_params_b": src["params_b"].astype(float),
        "active_params_b": src["active_params_b"].astype(float),
        "moe": True,
        "gpu": src["gpu"].map(lambda s: gpu_id(s)[0]),
        "gpu_label_raw": src["gpu"],
        "gpu_assumed": False,
        "n_gpus": src["n_gpus"],
        "tp": src["tp"],
        "pp": 1,
        "ep": src["ep"].astype(float),
        "parallelism": "TP" + src["tp"].astype(str) + ",EP" + src["ep"].astype(str),
        "precision": src["precision"].str.extract(r"^(FP\d+)")[0].map(PRECISION),
        "engine": "tensorrt-llm",
        "engine_version": np.nan,
        "isl": src["isl_as_stated"].map(tokens),
        "osl": src["osl_as_stated"].map(tokens),
        "batch_size": np.nan,
        "concurrency": src["concurrency"].astype(float),
        "offered_qps": np.nan,
        "load_regime": np.where(src["concurrency"] == 1, "min_latency", "max_throughput"),
        "output_tok_s_total": src["total_output_tok_s"],
        "output_tok_s_per_gpu": src["per_gpu_output_tok_s"],
        "metric_reported": "total, per-GPU and per-user output tok/s",
        "value_reported": src["total_output_tok_s"],
        "date": "~2025-02 (approx, unverified)",
        "quality_flags": np.where(src["speculative"].fillna("none") != "none", "speculative_decoding", ""),
        "source": src["doc_title"] + " (TensorRT-LLM blog)",
        "source_url": src["source"],
        "source_row": np.arange(1, len(src) + 1),
        "notes": src["notes"],
    })
    account("throughput", "trtllm_deepseek_r1_blog.csv", len(src), len(out))
    return out


def trtllm_serving(ref: Path) -> pd.DataFrame:
    src = pd.read_csv(ref / "trtllm_serving_v0.14.csv")
    gpus = src["gpu"].map(lambda s: gpu_id(s)[0])
    inf = ~np.isfinite(src["qps_offered"].astype(float))
    params = src["model"].map(lambda m: params_from_name(model_name(m)))  # dense models: active = total
    out = pd.DataFrame({
        "source_table": "trtllm_serving",
        "model": src["model"].map(model_name),
        "model_label_raw": src["model"],
        "total_params_b": params,
        "active_params_b": params,
        "moe": False,
        "gpu": gpus,
        "gpu_label_raw": src["gpu"],
        "gpu_assumed": False,
        **tensor_parallel_layout(src["tp"]),
        "precision": src["precision"].map(PRECISION),
        "engine": "tensorrt-llm",
        "engine_version": src["trtllm_version"].astype(str),
        "isl": src["isl"].astype(float),
        "osl": src["osl"].astype(float),
        "batch_size": np.nan,
        "concurrency": np.nan,
        "offered_qps": src["qps_offered"].where(~inf),
        "load_regime": np.where(inf, "offered_qps_inf", "offered_qps"),
        "output_tok_s_total": src["output_token_throughput_tok_s"].astype(float),
        "output_tok_s_per_gpu": src["output_token_throughput_tok_s"] / src["tp"],
        "metric_reported": "output token throughput (tok/s), whole TP group",
        "value_reported": src["output_token_throughput_tok_s"].astype(float),
        "date": "~2024-10 (approx, unverified)",
        "quality_flags": np.where(src["osl"] == 16, "short_osl_inconsistent", ""),
        "source": "NVIDIA TensorRT-LLM online serving measurements (v0.14.0, Triton)",
        "source_url": src["source_url"],
        "source_row": np.arange(1, len(src) + 1),
        "notes": ("TTFT " + src["mean_ttft_ms"].astype(str) + " ms, ITL " + src["mean_itl_ms"].astype(str)
                  + " ms, " + src["throughput_req_s"].astype(str) + " req/s"),
    })
    account("throughput", "trtllm_serving_v0.14.csv", len(src), len(out))
    return out


def paper_table(data_dir: Path) -> pd.DataFrame:
    src = pd.read_csv(data_dir / "paper_throughput.csv")
    batch = pd.to_numeric(src["batch_size_raw"], errors="coerce")
    out = pd.DataFrame({
        "source_table": "paper_table",
        "model": src["model"].map(model_name),
        "model_label_raw": src["model"],
        "total_params_b": src["total_params_b"],
        "active_params_b": src["active_params_b"].fillna(src["total_params_b"]),
        "moe": src["architecture"].eq("moe"),
        "gpu": src["gpu"],
        "gpu_label_raw": src["gpu_label_raw"],
        "gpu_assumed": False,
        **tensor_parallel_layout(src["tp"]),
        "precision": src["precision"].map(PRECISION),
        "engine": np.where(src["source"].str.startswith("tensorRT"), "tensorrt-llm",
                           np.where(src["source"].str.startswith("ml.energy"), "vllm", "unknown")),
        "engine_version": np.nan,
        "isl": src["isl"],
        "osl": src["osl"],
        "batch_size": batch,
        "concurrency": np.nan,
        "offered_qps": np.nan,
        "load_regime": np.where(src["batch_size_raw"].eq("Dynamic"), "max_throughput", "batch_size"),
        "output_tok_s_total": src["tokens_per_s_node"],
        "output_tok_s_per_gpu": src["tokens_per_s_node"] / src["tp"],
        "metric_reported": "node output tok/s (paper's table)",
        "value_reported": src["tokens_per_s_node"],
        "date": "2025-12 (table 'Last update: December, 2025')",
        "quality_flags": np.where(src["scaled_power"], "paper_scaled_power", ""),
        "source": "Oviedo et al. released throughput table (" + src["source"] + ")",
        "source_url": "https://github.com/microsoft/aienergy_simulation (model_throughput_DB.csv)",
        "source_row": src["source_row"],
        "notes": src["comments"].fillna(""),
    })
    account("throughput", "paper_throughput.csv", len(src), len(out))
    return out


def _mlenergy_precision(model_id: str, weight_precision: str | float) -> str:
    if isinstance(weight_precision, str):
        return PRECISION[weight_precision]
    return "fp8" if model_id.endswith("-FP8") else "bf16"


def mlenergy(ref: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Throughput and GPU-energy rows from ML.ENERGY v3, v2 and v1 (boundary: gpu)."""
    thr, energy = [], []
    v3 = pd.read_csv(ref / "mlenergy_v3_llm.csv")
    gpus = v3["gpu"].map(lambda s: gpu_id(s)[0])
    common3 = dict(
        model=v3["model_id"].map(model_name), model_label_raw=v3["model_id"],
        total_params_b=v3["total_params_b"], active_params_b=v3["active_params_b"],
        moe=v3["architecture"].eq("MoE"), gpu=gpus, gpu_label_raw=v3["gpu"], gpu_assumed=False,
        n_gpus=v3["num_gpus"], tp=v3["tensor_parallel"], pp=1, ep=v3["expert_parallel"].astype(float),
        precision=[_mlenergy_precision(m, p) for m, p in zip(v3["model_id"], v3["weight_precision"])],
        engine="vllm", batch_size=v3["avg_batch_size"], source_url=v3["source_repo"] + "/" + v3["source_path"]
        + "@" + v3["source_commit"].str.slice(0, 12), source_row=np.arange(1, len(v3) + 1),
    )
    thr.append(pd.DataFrame({
        "source_table": "mlenergy_v3", **common3,
        "parallelism": "TP" + v3["tensor_parallel"].astype(str) + ",EP" + v3["expert_parallel"].astype(str)
        + ",DP" + v3["data_parallel"].astype(str),
        "engine_version": np.nan, "isl": np.nan, "osl": v3["avg_output_len_tokens"], "concurrency": np.nan,
        "offered_qps": np.nan, "load_regime": "batch_size",
        "output_tok_s_total": v3["output_throughput_tok_s_total"],
        "output_tok_s_per_gpu": v3["derived_output_tok_s_per_gpu"],
        "metric_reported": "output tok/s, all GPUs (steady state)", "value_reported": v3["output_throughput_tok_s_total"],
        "date": v3["data_last_updated"], "quality_flags": "",
        "source": "ML.ENERGY Leaderboard v3.0 (" + v3["task"] + ")",
        "notes": "max_num_seqs " + v3["max_num_seqs"].astype(str) + "; task " + v3["task"],
    }))
    energy.append(pd.DataFrame({
        "source_table": "mlenergy_v3", **common3, "task": v3["task"], "max_batch_size": v3["max_num_seqs"],
        "avg_output_tokens": v3["avg_output_len_tokens"], "energy_per_token_j": v3["energy_per_token_j"],
        "energy_per_request_j": v3["energy_per_request_j"], "avg_power_w_total": v3["avg_power_w_total_gpus"],
        "avg_power_w_per_gpu": v3["derived_avg_power_w_per_gpu"],
        "output_tok_s_total": v3["output_throughput_tok_s_total"], "date": v3["data_last_updated"],
        "source": "ML.ENERGY Leaderboard v3.0",
    }))
    account("throughput", "mlenergy_v3_llm.csv", len(v3), len(v3))
    account("gpu_energy", "mlenergy_v3_llm.csv", len(v3), len(v3))

    v2 = pd.read_csv(ref / "mlenergy_v2_llm.csv")
    names = v2["model_id"].map(model_name)
    common2 = dict(
        model=names, model_label_raw=v2["model_id"], total_params_b=v2["params_b"].astype(float),
        active_params_b=[float(a) if np.isfinite(a) else float(p) for a, p in
                         zip(names.map(lambda n: ACTIVE_OVERRIDE.get(n, np.nan)), v2["params_b"])],
        moe=names.isin(list(ACTIVE_OVERRIDE)), gpu=v2["gpu"].map(lambda s: gpu_id(s)[0]), gpu_label_raw=v2["gpu"],
        gpu_assumed=False, n_gpus=v2["num_gpus"], tp=v2["tp"], pp=v2["pp"], ep=np.nan,
        precision="bf16", engine="vllm", batch_size=v2["avg_batch_size"],
        source_url=v2["source_repo"] + "/" + v2["source_path"] + "@" + v2["source_commit"].str.slice(0, 12),
        source_row=np.arange(1, len(v2) + 1),
    )
    thr.append(pd.DataFrame({
        "source_table": "mlenergy_v2", **common2, "parallelism": "TP" + v2["tp"].astype(str) + ",PP"
        + v2["pp"].astype(str), "engine_version": np.nan, "isl": np.nan, "osl": v2["avg_output_tokens"],
        "concurrency": np.nan, "offered_qps": np.nan, "load_regime": "batch_size",
        "output_tok_s_total": v2["token_throughput_tok_s"],
        "output_tok_s_per_gpu": v2["token_throughput_tok_s"] / v2["num_gpus"],
        "metric_reported": "Token tput (tok/s), engine", "value_reported": v2["token_throughput_tok_s"],
        "date": "2024-09", "quality_flags": "precision_assumed", "source": "ML.ENERGY Leaderboard v2.0 (" + v2["task"] + ")",
        "notes": "max batch " + v2["max_batch_size"].astype(str) + "; " + v2["filename_config"],
    }))
    energy.append(pd.DataFrame({
        "source_table": "mlenergy_v2", **common2, "task": v2["task"], "max_batch_size": v2["max_batch_size"],
        "avg_output_tokens": v2["avg_output_tokens"], "energy_per_token_j": v2["derived_energy_per_output_token_j"],
        "energy_per_request_j": v2["energy_per_request_j"], "avg_power_w_total": v2["derived_avg_power_w"],
        "avg_power_w_per_gpu": v2["derived_avg_power_w"] / v2["num_gpus"],
        "output_tok_s_total": v2["token_throughput_tok_s"], "date": "2024-09",
        "source": "ML.ENERGY Leaderboard v2.0",
    }))
    account("throughput", "mlenergy_v2_llm.csv", len(v2), len(v2))
    account("gpu_energy", "mlenergy_v2_llm.csv", len(v2), len(v2))

    v1 = pd.read_csv(ref / "mlenergy_v1_legacy.csv")
    names = v1["model"].map(model_name)
    params = names.map(params_from_name)
    ok = params.notna()
    v1k, names_k, params_k = v1[ok], names[ok], params[ok]
    common1 = dict(
        model=names_k, model_label_raw=v1k["model"], total_params_b=params_k, active_params_b=params_k, moe=False,
        gpu=v1k["gpu"].map(lambda s: gpu_id(s)[0]), gpu_label_raw=v1k["gpu"],
        gpu_assumed=v1k["gpu"].map(lambda s: gpu_id(s)[1]), n_gpus=1, tp=1, pp=1, ep=np.nan,
        precision="unknown", engine="unknown", batch_size=np.nan,
        source_url=v1k["source_repo"] + "/" + v1k["source_path"] + "@" + v1k["source_commit"].str.slice(0, 12),
        source_row=np.flatnonzero(ok.to_numpy()) + 1,
    )
    thr.append(pd.DataFrame({
        "source_table": "mlenergy_v1", **common1, "parallelism": "TP1", "engine_version": np.nan, "isl": np.nan,
        "osl": v1k["response_length_tokens"], "concurrency": np.nan, "offered_qps": np.nan,
        "load_regime": "unknown", "output_tok_s_total": v1k["throughput_tok_s"],
        "output_tok_s_per_gpu": v1k["throughput_tok_s"], "metric_reported": "throughput (tok/s), one GPU",
        "value_reported": v1k["throughput_tok_s"], "date": "2023-07", "quality_flags": "legacy_2023",
        "source": "ML.ENERGY Leaderboard v1 (" + v1k["task"] + ")", "notes": "task " + v1k["task"],
    }))
    energy.append(pd.DataFrame({
        "source_table": "mlenergy_v1", **common1, "task": v1k["task"], "max_batch_size": np.nan,
        "avg_output_tokens": v1k["response_length_tokens"], "energy_per_token_j": v1k["derived_energy_per_token_j"],
        "energy_per_request_j": v1k["energy_per_response_j"],
        "avg_power_w_total": v1k["energy_per_response_j"] / v1k["latency_s"],
        "avg_power_w_per_gpu": v1k["energy_per_response_j"] / v1k["latency_s"],
        "output_tok_s_total": v1k["throughput_tok_s"], "date": "2023-07", "source": "ML.ENERGY Leaderboard v1",
    }))
    dropped = {"model size not stated in its name": int((~ok).sum())}
    account("throughput", "mlenergy_v1_legacy.csv", len(v1), int(ok.sum()), dropped)
    account("gpu_energy", "mlenergy_v1_legacy.csv", len(v1), int(ok.sum()), dropped)

    energy_df = pd.concat(energy, ignore_index=True)
    energy_df["boundary"] = "gpu"
    return pd.concat(thr, ignore_index=True), energy_df


#: Active parameters of MoE models in ML.ENERGY v2 (nominal, from the model cards; as the reference README).
ACTIVE_OVERRIDE = {"Mixtral 8x7B": 12.9, "Mixtral 8x22B": 39.0}


# --- production (per-query) measurements and estimates ---------------------------------------------------------

TO_WH = {  # unit -> factor to Wh per query
    "Wh/query": 1.0, "Wh/prompt": 1.0, "Wh/request": 1.0, "kWh/request": 1000.0, "kWh/query": 1000.0,
    "kWh/inference": 1000.0, "kWh/1000 inferences": 1.0, "Wh/1000 queries": 1e-3, "kWh/1000 queries": 1.0,
    "kWh/email": 1000.0, "J/generation (GPU)": 1 / 3600.0,
}
PER_TOKEN = {"J/output token"}
NOT_LLM = {"PQ-087", "PQ-127",  # web search references (kept as constants in the figures, not LLM queries)
           "PQ-088", "PQ-089", "PQ-090", "PQ-091", "PQ-092", "PQ-093", "PQ-096", "PQ-097",  # non-text tasks
           "PQ-106", "PQ-107"}
MEASURED = {"PQ-001", "PQ-002", "PQ-011", "PQ-094", "PQ-095", "PQ-098", "PQ-099", "PQ-100", "PQ-101", "PQ-102",
            "PQ-103", "PQ-104", "PQ-105", "PQ-108", "PQ-109", "PQ-110", "PQ-111", "PQ-112", "PQ-113", "PQ-114",
            "PQ-117", "PQ-122", "PQ-123", "PQ-128"}
DISCLOSURE = {"PQ-001", "PQ-002", "PQ-011"}  # operators' own production figures


def production_boundary(text: str) -> str:
    t = str(text).lower()
    rules = [
        ("comprehensive (google)", "facility+idle"), ("active ai accelerator", "gpu"),
        ("active accelerator only", "gpu"), ("undisclosed", "undisclosed"), ("life-cycle", "lifecycle"),
        ("as charted", "undisclosed"), ("gpu only", "gpu"), ("gpu energy", "gpu"), ("gpu-only", "gpu"),
        ("without pue", "node"), ("no pue", "node"), ("deployed api incl. idle", "node+idle"),
        ("x pue", "facility"), ("x provider pue", "facility"), ("dc overhead", "facility"),
        ("de vries", "node"), ("likely includes overhead", "facility"), ("all-in", "node"), ("as above", "node"),
    ]
    for key, boundary in rules:
        if key in t:
            return boundary
    raise ValueError(f"no boundary rule for {text!r}")


def tokens_from_quantity(q: str) -> tuple[float, float]:
    def num(s: str) -> float:
        return float(s[:-1]) * 1000 if s.endswith("k") else float(s)

    m = re.search(r"(\d+(?:\.\d+)?k?) in / (\d+(?:\.\d+)?k?) out", q)
    if m:
        return num(m.group(1)), num(m.group(2))
    m = re.search(r"(\d+)[- ](?:output )?tokens?\b", q) or re.search(r"\((\d+) tokens\)", q)
    if m and "input" not in q:
        return np.nan, float(m.group(1))
    m = re.search(r"~(\d+)k input tokens", q)
    if m:
        return float(m.group(1)) * 1000, np.nan
    return np.nan, np.nan


def production(ref: Path) -> pd.DataFrame:
    src = pd.read_csv(ref / "measurements.csv", dtype=str, keep_default_na=False)
    src["source_row"] = np.arange(1, len(src) + 1)
    pq = src[src["category"] == "per_query_energy"].copy()
    rows_in = len(pq)
    energy_unit = pq["unit"].isin(list(TO_WH) + list(PER_TOKEN))
    not_llm = pq["id"].isin(NOT_LLM)
    keep = pq[energy_unit & ~not_llm].copy()
    low = pd.to_numeric(keep["value_low"], errors="coerce")
    high = pd.to_numeric(keep["value_high"], errors="coerce")
    point = pd.to_numeric(keep["value"], errors="coerce")
    factor = keep["unit"].map(TO_WH)
    tokens = keep["quantity"].map(tokens_from_quantity)
    q = keep["quantity"].str.lower()
    statistic = np.select(
        [point.isna() & low.notna(), q.str.contains("median"), q.str.contains("mean|average")],
        ["range", "median", "mean"], "point")
    out = pd.DataFrame({
        "id": keep["id"],
        "quantity": keep["quantity"],
        "model_or_system": keep["model_or_system"],
        "value_reported": keep["value"],
        "unit_reported": keep["unit"],
        "wh_per_query": point * factor,
        "wh_per_query_low": low * factor,
        "wh_per_query_high": high * factor,
        "j_per_output_token": np.where(keep["unit"].isin(PER_TOKEN), point, np.nan),
        "statistic": statistic,
        "boundary": keep["boundary"].map(production_boundary),
        "boundary_text": keep["boundary"],
        "kind": np.where(keep["id"].isin(MEASURED), "measurement", "estimate"),
        "operator_disclosure": keep["id"].isin(DISCLOSURE),
        "input_tokens": [t[0] for t in tokens],
        "output_tokens": [t[1] for t in tokens],
        "hardware": keep["hardware"],
        "date": keep["date"],
        "source": keep["source_title"],
        "source_url": keep["source_url"],
        "source_row": keep["source_row"],
        "notes": keep["notes"],
    })
    out.loc[out["unit_reported"].isin(PER_TOKEN), ["wh_per_query", "wh_per_query_low", "wh_per_query_high"]] = np.nan
    account("production", "measurements.csv (per_query_energy)", rows_in, len(out), {
        "not an energy (emissions, water, resource depletion, % shares)": int((~energy_unit).sum()),
        "not an LLM text query (web search reference, non-text or non-generative task)":
            int((energy_unit & not_llm).sum()),
    })
    return out


# --- PUE ------------------------------------------------------------------------------------------------------

PUE_META = {  # id -> (operator, scope, kind)
    "PUE-001": ("Google", "fleet", "reported"), "PUE-002": ("AI data centers (Epoch)", "assumption", "assumption"),
    "PUE-003": ("Microsoft Azure", "fleet", "assumption"), "PUE-004": ("AWS", "fleet", "assumption"),
    "PUE-005": ("DeepSeek", "fleet", "assumption"), "PUE-006": ("AI data centers (Oviedo)", "assumption", "assumption"),
    **{f"PUE-{i:03d}": ("Microsoft", "site", "reported") for i in range(7, 21)},
    "PUE-021": ("Google", "fleet", "reported"), "PUE-022": ("Google", "fleet", "reported"),
    "PUE-023": ("AWS", "fleet", "reported"), "PUE-024": ("AWS", "fleet", "reported"),
    "PUE-025": ("AWS", "fleet", "reported"), "PUE-026": ("public cloud (IDC)", "industry", "estimate"),
    "PUE-027": ("on-premises enterprise (IDC)", "industry", "estimate"),
    "PUE-028": ("Microsoft", "design", "reported"), "PUE-029": ("Microsoft", "fleet", "reported"),
    "PUE-030": ("Meta", "fleet", "reported"), "PUE-031": ("Meta", "design", "reported"),
    **{f"PUE-{i:03d}": ("Uptime Institute survey", "industry", "reported") for i in range(32, 37)},
    "PUE-037": ("AI data centers (Li et al.)", "assumption", "assumption"),
    "PUE-038": ("AI hyperscale (Deloitte)", "industry", "estimate"),
}
HYPERSCALERS = {"Google", "AWS", "Microsoft", "Microsoft Azure", "Meta"}


def pue(ref: Path) -> pd.DataFrame:
    src = pd.read_csv(ref / "measurements.csv", dtype=str, keep_default_na=False)
    src["source_row"] = np.arange(1, len(src) + 1)
    p = src[src["category"] == "pue"]
    meta = p["id"].map(PUE_META)
    value = pd.to_numeric(p["value"], errors="coerce")
    low = pd.to_numeric(p["value_low"], errors="coerce")
    high = pd.to_numeric(p["value_high"], errors="coerce")
    out = pd.DataFrame({
        "id": p["id"], "operator": [m[0] for m in meta], "site": p["hardware"],
        "year": p["date"].str.extract(r"(\d{4})")[0].astype(float),
        "pue": value.fillna(np.sqrt(low * high)), "pue_low": low, "pue_high": high,
        "statistic": np.where(value.isna(), "range_geometric_mid", "point"),
        "scope": [m[1] for m in meta], "kind": [m[2] for m in meta],
        "hyperscale": [m[0] in HYPERSCALERS for m in meta],
        "quantity": p["quantity"], "boundary_text": p["boundary"], "source": p["source_title"],
        "source_url": p["source_url"], "source_row": p["source_row"], "notes": p["notes"],
    })
    account("pue", "measurements.csv (pue)", len(p), len(out))
    return out


def token_lengths(ref: Path) -> pd.DataFrame:
    src = pd.read_csv(ref / "measurements.csv", dtype=str, keep_default_na=False)
    src["source_row"] = np.arange(1, len(src) + 1)
    t = src[src["category"] == "token_length"]
    q = t["quantity"].str.lower()
    value = pd.to_numeric(t["value"], errors="coerce")
    role = np.select(
        [q.str.contains("input|prompt") & ~q.str.contains("response|output|completion|shapes"),
         q.str.contains("output|response|completion|generated"), q.str.contains("shapes")],
        ["input", "output", "input/output"], "other")
    out = pd.DataFrame({
        "id": t["id"], "quantity": t["quantity"], "value_reported": t["value"], "value": value,
        "unit": t["unit"], "role": role,
        "statistic": np.select([q.str.contains("median"), q.str.contains("average|mean")], ["median", "mean"],
                               "point"),
        "workload": t["model_or_system"], "date": t["date"], "source": t["source_title"],
        "source_url": t["source_url"], "source_row": t["source_row"], "notes": t["notes"],
    })
    account("token_lengths", "measurements.csv (token_length)", len(t), len(out))
    return out


# --- hardware and models -----------------------------------------------------------------------------------------

HARDWARE_IDS = {
    "NVIDIA A100 SXM4 80GB": "A100-SXM4-80GB", "NVIDIA A100 PCIe 80GB": "A100-PCIe-80GB",
    "NVIDIA H100 SXM 80GB": "H100-SXM-80GB", "NVIDIA H100 PCIe 80GB": "H100-PCIe-80GB",
    "NVIDIA H200 SXM 141GB": "H200-SXM-141GB", "NVIDIA GH200 Grace Hopper Superchip (96 GB HBM3)": "GH200-96GB",
    "NVIDIA GH200 Grace Hopper Superchip (144 GB HBM3e)": "GH200-144GB",
    "NVIDIA B200 (HGX B200 / DGX B200, per GPU)": "B200",
    "NVIDIA GB200 (Blackwell GPU in GB200 NVL72, per GPU)": "GB200",
    "NVIDIA B300 Blackwell Ultra (HGX B300 / DGX B300, per GPU)": "B300",
    "NVIDIA GB300 Blackwell Ultra (GB300 NVL72, per GPU)": "GB300", "NVIDIA L40S": "L40S",
    "NVIDIA RTX PRO 6000 Blackwell Server Edition": "RTX-PRO-6000-SE", "AMD Instinct MI300X": "MI300X",
    "AMD Instinct MI325X": "MI325X", "AMD Instinct MI355X": "MI355X", "Google Cloud TPU v5e": "TPU-v5e",
    "Google Cloud TPU v5p": "TPU-v5p", "Google Cloud TPU v6e (Trillium)": "TPU-v6e",
    "NVIDIA DGX A100": "DGX-A100", "NVIDIA DGX H100": "DGX-H100", "NVIDIA DGX H200": "DGX-H200",
    "NVIDIA DGX B200": "DGX-B200", "NVIDIA DGX B300 (HGX B300 8-GPU system)": "DGX-B300",
    "NVIDIA GB200 NVL72 (rack)": "GB200-NVL72",
}
SERVER_GPU = {"DGX-A100": "A100-SXM4-80GB", "DGX-H100": "H100-SXM-80GB", "DGX-H200": "H200-SXM-141GB",
              "DGX-B200": "B200", "DGX-B300": "B300", "GB200-NVL72": "GB200"}
#: GPUs in the data whose specs the reference table lacks, added from the vendor's datasheet.
DATASHEET_GPUS = [
    dict(id="A100-SXM4-40GB", device="NVIDIA A100 SXM4 40GB", kind="gpu", gpu="A100-SXM4-40GB", memory_gb=40.0,
         memory_type="HBM2", memory_bw_tb_s=1.555, bf16_dense_tflops=312.0, tdp_w=400.0, launch_year=2020.0,
         source="NVIDIA A100 Tensor Core GPU datasheet (A100 40GB SXM column)",
         source_url="https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/a100/pdf/"
                    "nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf",
         notes="added by infergy: GPU of ML.ENERGY v2; 1,555 GB/s, 312 dense BF16 TFLOPS, 400 W TDP as printed"),
]
#: Dense tensor throughput and memory bandwidth the reference rows leave empty, from a further source (each fill
#: names it; a value in the reference is never overwritten). FP4 support is read from the fp4 column, so an FP4
#: GPU needs its figure.
SPEC_FILLS = {
    "MI300X": dict(
        fp8_dense_tflops=2614.9,
        source="AMD Instinct MI300X data sheet (peak FP8 2,614.9 TFLOPS dense; 5,229.8 with sparsity)",
        source_url="https://www.amd.com/content/dam/amd/en/documents/instinct-tech-docs/data-sheets/"
                   "amd-instinct-mi300x-data-sheet.pdf",
        note="fp8 2,614.9 dense TFLOPS filled by infergy from AMD's data sheet: the CDNA 3 compute of the MI325X, "
             "whose reference row prints the same figure"),
    "MI355X": dict(
        fp8_dense_tflops=5000.0, fp4_dense_tflops=10000.0,
        source="AMD at ISSCC 2026 (reported by World Today News and LAVX News: FP8 'five petaflops', 8,192 FP8 "
               "FLOPS per clock per CU); CDNA 4 MXFP4 at twice the FP8 rate (Jared Watkins, 'AMD Instinct MI350 "
               "Series': 'approximately 10+ PFLOPS FP4')",
        source_url="https://news.lavx.hu/article/isscc-2026-amd-s-mi355x-doubles-throughput-with-fewer-compute-"
                   "units-and-challenges-nvidia-s-gb200 ; https://www.jaredwatkins.com/research/ai-accelerators/"
                   "amd-instinct/mi350-series/",
        note="fp8 5,000 and fp4 10,000 dense TFLOPS filled by infergy from secondary reports of AMD's ISSCC 2026 "
             "figures (FP8 5 PFLOPS; FP4 at twice the FP8 rate); Tom's Hardware's unlabelled 20.1 PFLOPS FP4 is "
             "read as the figure with sparsity"),
    "RTX-PRO-6000-SE": dict(
        fp4_dense_tflops=2000.0, fp8_dense_tflops=1000.0, bf16_dense_tflops=500.0, memory_bw_tb_s=1.597,
        source="NVIDIA RTX PRO 6000 Blackwell announcement, GTC 2025 (reported by TopCPU: '4,000 TOPS' of AI "
               "compute at FP4); NVIDIA RTX PRO 6000 Blackwell Server Edition product page (96 GB GDDR7, 1,597 GB/s; "
               "FP4 4 PFLOPS, FP8 2 PFLOPS, FP16/BF16 1 PFLOP, with sparsity); AWS EC2 G7e instances page (each "
               "G7e GPU, an RTX PRO 6000 Server Edition: 1,597 GB/s)",
        source_url="https://www.topcpu.net/es/news/nvidia-launches-96gb-rtx-5090-model-with-a-whopping-price-tag-"
                   "of-10000 ; https://www.nvidia.com/en-us/data-center/rtx-pro-6000-blackwell-server-edition/ ; "
                   "https://aws.amazon.com/ec2/instance-types/g7e/",
        note="fp4 2,000, fp8 1,000 and bf16 500 dense TFLOPS filled by infergy: half of NVIDIA's figures, which "
             "NVIDIA quotes with 2:4 sparsity (as B200's 18 PFLOPS FP4 is 9 dense); memory bandwidth 1.597 TB/s "
             "from the Server Edition's product page (the Workstation Edition's 1,792 GB/s is another SKU)"),
}
#: GPU-to-GPU link bandwidth inside a server, bidirectional per GPU as the vendors print it (NVLink, or PCIe where
#: a card has no NVLink in the servers benchmarked), with its source. Tensor parallelism all-reduces over it.
_NV = "https://www.nvidia.com/en-us/data-center/"
_A100_SXM_LINK = (600.0, "NVIDIA A100 product page (SXM: NVLink 600GB/s)", _NV + "a100/")
_GH200_LINK = (900.0, "NVIDIA Grace Hopper Superchip product page (NVLink 900GB/s)", _NV + "grace-hopper-superchip/")
GPU_LINKS = {
    "A100-SXM4-80GB": _A100_SXM_LINK,
    "A100-SXM4-40GB": _A100_SXM_LINK,
    "A100-PCIe-80GB": (64.0, "NVIDIA A100 product page (PCIe: PCIe Gen4 64GB/s; an NVLink bridge joins pairs only)",
                       _NV + "a100/"),
    "H100-SXM-80GB": (900.0, "NVIDIA H100 product page (SXM: NVLink 900GB/s, PCIe Gen5 128GB/s)", _NV + "h100/"),
    "H100-PCIe-80GB": (128.0, "NVIDIA H100 product page (PCIe Gen5 128GB/s; an NVLink bridge joins pairs only)",
                       _NV + "h100/"),
    "H200-SXM-141GB": (900.0, "NVIDIA H200 product page (SXM: NVLink 900GB/s)", _NV + "h200/"),
    "GH200-96GB": _GH200_LINK,
    "GH200-144GB": _GH200_LINK,
    "B200": (1800.0, "NVIDIA HGX product page (HGX B200: fifth-generation NVLink, 1.8TB/s per GPU)", _NV + "hgx/"),
    "B300": (1800.0, "NVIDIA HGX product page (HGX B300: fifth-generation NVLink, 1.8TB/s per GPU)", _NV + "hgx/"),
    "GB200": (1800.0, "NVIDIA GB200 NVL72 product page (NVLink 130TB/s over 72 GPUs: 1.8TB/s each)",
              _NV + "gb200-nvl72/"),
    "GB300": (1800.0, "NVIDIA GB300 NVL72 product page (NVLink 130TB/s over 72 GPUs: 1.8TB/s each)",
              _NV + "gb300-nvl72/"),
    "L40S": (64.0, "NVIDIA L40S product page (PCIe Gen4 x16: 64GB/s bidirectional; no NVLink)", _NV + "l40s/"),
    "RTX-PRO-6000-SE": (128.0, "NVIDIA RTX PRO 6000 Blackwell Server Edition product page (PCIe Gen5 x16; no NVLink)",
                        _NV + "rtx-pro-6000-blackwell-server-edition/"),
    "MI300X": (896.0, "AMD Instinct MI300X data sheet (Infinity Fabric links: 896GB/s peak aggregate)",
               "https://www.amd.com/content/dam/amd/en/documents/instinct-tech-docs/data-sheets/"
               "amd-instinct-mi300x-data-sheet.pdf"),
}
#: GPUs that appear in the data but have no spec source here: listed so they validate, specs left empty.
UNSPECIFIED_GPUS = {
    "GH200-120GB": "TensorRT-LLM v0.11-v0.13 label 'GH200 120GB'; not a variant in NVIDIA's spec table",
    "A40": "ML.ENERGY v1 (2023); specs not in the reference set",
    "V100": "ML.ENERGY v1 (2023); variant and specs not in the reference set",
}


#: Components of an operator's breakdown of its per-query energy, by measurements.csv id (share of another row).
ENERGY_SHARE_ROWS = {"PQ-003": ("PQ-001", "Google", "accelerators"), "PQ-004": ("PQ-001", "Google", "host"),
                     "PQ-005": ("PQ-001", "Google", "idle"), "PQ-006": ("PQ-001", "Google", "overhead")}


def energy_shares(ref: Path) -> pd.DataFrame:
    """Operators' breakdowns of a per-query energy figure into components (% of it), one row per component."""
    src = pd.read_csv(ref / "measurements.csv", dtype=str, keep_default_na=False)
    src["source_row"] = np.arange(1, len(src) + 1)
    rows = src[src["id"].isin(list(ENERGY_SHARE_ROWS))]
    meta = rows["id"].map(ENERGY_SHARE_ROWS)
    out = pd.DataFrame({
        "id": [f"ES-{i + 1:03d}" for i in range(len(rows))], "of_id": [m[0] for m in meta],
        "operator": [m[1] for m in meta], "component": [m[2] for m in meta],
        "share_pct": pd.to_numeric(rows["value"]).to_numpy(), "date": rows["date"].str.slice(0, 7).to_numpy(),
        "source": rows["source_title"].to_numpy(), "source_url": rows["source_url"].to_numpy(),
        "source_row": rows["source_row"].to_numpy(),
        "notes": (rows["quantity"] + " (measurements.csv " + rows["id"] + ")").to_numpy(),
    })
    account("energy_shares", "measurements.csv (per_query_energy, % shares)", len(rows), len(out))
    return out


#: EcoLogits' provider-wide default speed for Cohere (every model the same figure): not a per-model measurement.
API_PROVIDER_DEFAULTS = {("cohere", 21.8, 0.61)}
API_SPEEDS_SOURCE = ("EcoLogits model repository (mlco2/ecologits, ecologits/data/models.json, commit 5be90dadc86e, "
                     "2026-03-13; MPL-2.0), deployment tps/ttft from OpenRouter statistics")
API_SPEEDS_URL = "https://github.com/mlco2/ecologits/blob/5be90dadc86e/ecologits/data/models.json"


def api_speeds(ref: Path) -> pd.DataFrame:
    """Per-request output speed of API-served models of known size: one row per distinct (provider, size, speed,
    time to first token), its aliases named in ``notes``; provider-wide defaults, speech models and ``-latest``
    aliases left out."""
    src = pd.read_csv(ref / "api_speeds_ecologits_2026-03.csv")
    src["source_row"] = np.arange(1, len(src) + 1)
    default = [(p, t, f) in API_PROVIDER_DEFAULTS for p, t, f in zip(src["provider"], src["tps_per_user_tok_s"],
                                                                      src["ttft_s"])]
    speech = src["model"].str.startswith("voxtral")
    alias = src["model"].str.endswith("-latest")
    keep = src[~(np.array(default) | speech | alias)]
    key = ["provider", "total_params_b", "active_params_b", "tps_per_user_tok_s", "ttft_s"]
    rows = []
    for _, g in keep.groupby(key, sort=False):
        first = g.iloc[0]
        also = ";".join(g["model"].iloc[1:])
        warn = str(first["warnings"]) if pd.notna(first["warnings"]) else ""
        note = "; ".join(x for x in (f"same figures for: {also}" if also else "",
                                     f"EcoLogits warnings {warn}" if warn else "") if x)
        rows.append({"provider": first["provider"], "model": first["model"],
                     "total_params_b": first["total_params_b"], "active_params_b": first["active_params_b"],
                     "tps_per_user_tok_s": first["tps_per_user_tok_s"], "ttft_s": first["ttft_s"],
                     "source": API_SPEEDS_SOURCE, "source_url": API_SPEEDS_URL, "source_row": int(first["source_row"]),
                     "notes": note})
    out = pd.DataFrame(rows)
    out.insert(0, "id", [f"API-{i + 1:03d}" for i in range(len(out))])
    account("api_speeds", "api_speeds_ecologits_2026-03.csv", len(src), len(out),
            {"provider-wide default (Cohere)": int(np.sum(default)), "speech model": int(speech.sum()),
             "-latest alias": int((alias & ~speech & ~np.array(default)).sum()),
             "same figures as an earlier row (named in its notes)": int(len(keep) - len(out))})
    return out


#: Azure LLM inference trace 2023 (one hour of two production services): workload -> file in the reference folder.
#: Microsoft, Azure/AzurePublicDataset (commit b469a113cedc), CC BY 4.0; Patel et al., "Splitwise", ISCA 2024.
#: Each row's ``source`` is the upstream file's name (data/AzureLLMInferenceTrace_{conv,code}.csv there).
AZURE_TRACES = {"chat": ("azure_llm_inference_2023_conv.csv", "AzureLLMInferenceTrace_conv.csv"),
                "code": ("azure_llm_inference_2023_code.csv", "AzureLLMInferenceTrace_code.csv")}


def request_lengths(ref: Path) -> pd.DataFrame:
    """One row per production request of the Azure 2023 traces: its workload, arrival (seconds after the trace's
    first request), prompt (context) and generated tokens; ``source`` names the trace file, ``source_row`` the
    request's data row in it."""
    parts = []
    for workload, (name, upstream) in AZURE_TRACES.items():
        src = pd.read_csv(ref / "traces" / name)
        t = pd.to_datetime(src["TIMESTAMP"])
        parts.append(pd.DataFrame({
            "workload": workload, "arrival_s": ((t - t.min()).dt.total_seconds()).round(4),
            "input_tokens": src["ContextTokens"].astype(int), "output_tokens": src["GeneratedTokens"].astype(int),
            "source": upstream, "source_row": np.arange(1, len(src) + 1)}))
        account("request_lengths", f"traces/{name}", len(src), len(src))
    return pd.concat(parts, ignore_index=True)


#: DeepSeek's 24-hour statistics of its V3/R1 online service (web, app and API), as printed in its inference-system
#: overview (deepseek-ai/open-infra-index, 2025-03-01), transcribed in production_operating_points.md section 1.
DEEPSEEK_SOURCE = ("DeepSeek, 'Day 6: One more thing, DeepSeek-V3/R1 inference system overview' "
                   "(deepseek-ai/open-infra-index, 202502OpenSourceWeek, 2025-03-01)")
DEEPSEEK_URL = ("https://github.com/deepseek-ai/open-infra-index/blob/main/202502OpenSourceWeek/"
                "day_6_one_more_thing_deepseekV3R1_inference_system_overview.md")
DEEPSEEK_STATISTICS = (  # quantity, value, low, high, unit, notes
    ("decode_tok_s_per_node", 14_800.0, None, None, "output tokens/s per node",
     "average over the 24 h; decode units of 18 nodes (EP144), attention data-parallel"),
    ("prefill_tok_s_per_node", 73_700.0, None, None, "input tokens/s per node",
     "cache hits included; prefill units of 4 nodes (EP32)"),
    ("request_speed_tok_s", 21.0, 20.0, 22.0, "output tokens/s per request", "printed as 20-22"),
    ("kv_length_per_output_token", 4_989.0, None, None, "tokens", "mean KV-cache length a decode step reads"),
    ("cache_hit_share", 0.563, None, None, "share of input tokens", "342 B of 608 B input tokens hit the on-disk "
                                                                    "KV cache"),
    ("nodes_peak", 278.0, None, None, "nodes", "V3 and R1 inference together"),
    ("nodes_mean", 226.75, None, None, "nodes", "average occupancy; nodes are freed for research at night, so "
                                                "the occupancy follows load"),
    ("input_tokens_per_day", 608e9, None, None, "tokens", ""),
    ("output_tokens_per_day", 168e9, None, None, "tokens", ""),
    ("decode_unit_nodes", 18.0, None, None, "nodes", "expert parallelism over 144 GPUs"),
    ("prefill_unit_nodes", 4.0, None, None, "nodes", "expert parallelism over 32 GPUs"),
)
#: The network the decode units' experts exchange tokens over, from DeepSeek's description of its H800 servers.
DEEPSEEK_NETWORK = ("scale_out_link_gb_s", 100.0, None, None, "GB/s per GPU, both directions",
                    "one 400 Gb/s InfiniBand ConnectX-7 NIC per H800 (eight per node): 50 GB/s each way")
DEEPSEEK_NETWORK_SOURCE = ("Zhao et al., 'Insights into DeepSeek-V3: Scaling Challenges and Reflections on Hardware "
                           "for AI Architectures', ISCA 2025 (arXiv 2505.09343), section on the H800 node")
DEEPSEEK_NETWORK_URL = "https://arxiv.org/abs/2505.09343"


def service_statistics(ref: Path) -> pd.DataFrame:
    """Production services' own statistics with the load they were measured at (DeepSeek's 24 hours), one row per
    stated figure; checked against the reference's transcription so an edit there cannot pass unnoticed."""
    text = (ref / "production_operating_points.md").read_text()
    for needle in ("14.8k output tokens/s", "73.7k input tokens/s", "20-22 tokens/s", "4,989 tokens", "278 nodes",
                   "226.75 nodes", "608 B", "168 B", "(EP144)", "(EP32)"):
        assert needle in text, f"production_operating_points.md no longer states {needle!r}"
    rows = [{"id": f"SS-{i + 1:03d}", "operator": "DeepSeek", "system": "DeepSeek-V3/R1 online service",
             "hardware": "H800", "gpus_per_node": 8, "quantity": q, "value": v, "low": lo, "high": hi, "unit": u,
             "period": "24 h from 2025-02-27 12:00 (UTC+8)", "date": "2025-03-01", "source": DEEPSEEK_SOURCE,
             "source_url": DEEPSEEK_URL, "source_row": None, "notes": n}
            for i, (q, v, lo, hi, u, n) in enumerate(DEEPSEEK_STATISTICS)]
    q, v, lo, hi, u, n = DEEPSEEK_NETWORK
    rows.append({**rows[0], "id": f"SS-{len(rows) + 1:03d}", "quantity": q, "value": v, "low": lo, "high": hi,
                 "unit": u, "source": DEEPSEEK_NETWORK_SOURCE, "source_url": DEEPSEEK_NETWORK_URL, "notes": n})
    account("service_statistics", "production_operating_points.md (section 1); arXiv 2505.09343 (network)",
            len(rows), len(rows))
    return pd.DataFrame(rows)


def hardware(ref: Path) -> pd.DataFrame:
    src = pd.read_csv(ref / "hardware_specs.csv")
    out = pd.DataFrame({
        "id": src["device"].map(HARDWARE_IDS), "device": src["device"], "kind": src["kind"],
        "gpu": src["device"].map(HARDWARE_IDS).map(lambda i: SERVER_GPU.get(i, i)),
        "memory_gb": src["memory_gb"], "memory_type": src["memory_type"], "memory_bw_tb_s": src["memory_bw_tb_s"],
        "bf16_dense_tflops": src["bf16_dense_tflops"], "fp8_dense_tflops": src["fp8_dense_tflops"],
        "fp4_dense_tflops": src["fp4_dense_tflops"], "tdp_w": src["tdp_w"],
        "max_system_power_w": src["max_system_power_kw"] * 1000.0, "n_gpus": src["n_gpus"],
        "launch_year": src["launch_year"], "sparse_note": src["sparse_note"], "source": src["source_title"],
        "source_url": src["source_url"], "source_row": np.arange(1, len(src) + 1), "notes": src["notes"],
    })
    extra = pd.DataFrame({"id": list(UNSPECIFIED_GPUS), "device": list(UNSPECIFIED_GPUS), "kind": "gpu",
                          "gpu": list(UNSPECIFIED_GPUS), "source": "infergy vocabulary (GPU seen in the data)",
                          "source_url": "", "source_row": np.nan, "notes": list(UNSPECIFIED_GPUS.values())})
    for gpu, fill in SPEC_FILLS.items():
        i = out.index[out["id"] == gpu]
        assert len(i) == 1, gpu
        for column, value in fill.items():
            if column.endswith(("_tflops", "_tb_s")):
                assert pd.isna(out.loc[i[0], column]), (gpu, column)  # fill gaps only
                out.loc[i[0], column] = value
        out.loc[i[0], "source"] = f"{out.loc[i[0], 'source']} ; {fill['source']}"
        out.loc[i[0], "source_url"] = f"{out.loc[i[0], 'source_url']} ; {fill['source_url']}"
        out.loc[i[0], "notes"] = f"{out.loc[i[0], 'notes']} {fill['note']}."
    account("hardware", "hardware_specs.csv", len(src), len(out))
    table = pd.concat([out, pd.DataFrame(DATASHEET_GPUS), extra], ignore_index=True)
    links = table["gpu"].map(GPU_LINKS)
    table.insert(table.columns.get_loc("memory_bw_tb_s") + 1, "gpu_link_gb_s",
                 links.map(lambda v: v[0] if isinstance(v, tuple) else np.nan))
    table.insert(table.columns.get_loc("notes"), "gpu_link_source",
                 links.map(lambda v: f"{v[1]}: {v[2]}" if isinstance(v, tuple) else ""))
    return table


#: Corrections to sizes as printed, each with its reason (the table rows keep the printed value).
PARAMS_FIX = {"Llama 3.1 Nemotron Ultra 253B": (253.0, 253.0, "paper table prints 235B total; the name and model "
                                                              "card state 253B (dense)")}


def models(throughput: pd.DataFrame, gpu_energy: pd.DataFrame) -> pd.DataFrame:
    """One row per canonical model: sizes from the highest-priority source that states them, all aliases."""
    priority = ["trtllm_perf_overview", "trtllm_dsr1_blog", "paper_table", "mlenergy_v3", "mlenergy_v2",
                "trtllm_serving", "mlenergy_v1"]
    rows = pd.concat([throughput, gpu_energy], ignore_index=True)
    rows["prio"] = rows["source_table"].map({s: i for i, s in enumerate(priority)})
    out = []
    for name, g in rows.sort_values("prio", kind="stable").groupby("model", sort=True):
        sized = g.dropna(subset=["total_params_b"])
        first = sized.iloc[0] if len(sized) else g.iloc[0]
        aliases = sorted(set(g["model_label_raw"].astype(str)) - {name})
        out.append({
            "model": name, "aliases": "; ".join(aliases), "total_params_b": first["total_params_b"],
            "active_params_b": first["active_params_b"] if np.isfinite(first["active_params_b"])
            else first["total_params_b"],
            "moe": bool(first["moe"]), "params_source": first["source_table"],
            "sources": "; ".join(sorted(set(g["source_table"]))),
            "params_note": "",
        })
        if name in PARAMS_FIX:
            total, active, why = PARAMS_FIX[name]
            out[-1].update(total_params_b=total, active_params_b=active, params_source="correction", params_note=why)
    return pd.DataFrame(out)


def flag_paper_duplicates(thr: pd.DataFrame) -> pd.DataFrame:
    """Mark paper-table rows that repeat a primary-source row (same model, GPU, precision, shape, value)."""
    keys = ["model", "gpu", "n_gpus", "precision", "isl", "osl"]
    paper = thr[thr["source_table"] == "paper_table"]
    others = thr[thr["source_table"] != "paper_table"]
    merged = paper.reset_index().merge(others.reset_index(), on=keys, suffixes=("", "_other"))
    close = (merged["output_tok_s_total"] / merged["output_tok_s_total_other"] - 1).abs() < 0.005
    for _, m in merged[close].iterrows():
        flag = f"duplicate_of:{m['source_table_other']}:row{int(m['source_row_other'])}"
        old = thr.at[m["index"], "quality_flags"]
        thr.at[m["index"], "quality_flags"] = f"{old};{flag}" if old else flag
    return thr


def main(ref: Path, data_dir: Path) -> None:
    thr_parts = [trtllm_perf_overview(ref), trtllm_dsr1_blog(ref), trtllm_serving(ref), paper_table(data_dir)]
    ml_thr, gpu_energy = mlenergy(ref)
    throughput = flag_paper_duplicates(pd.concat([*thr_parts, ml_thr], ignore_index=True)[THROUGHPUT_COLUMNS])
    tables = {
        "throughput": throughput,
        "gpu_energy": gpu_energy,
        "production": production(ref),
        "pue": pue(ref),
        "hardware": hardware(ref),
        "models": models(throughput, gpu_energy),
        "token_lengths": token_lengths(ref),
        "energy_shares": energy_shares(ref),
        "api_speeds": api_speeds(ref),
        "request_lengths": request_lengths(ref),
        "service_statistics": service_statistics(ref),
    }
    for name, df in tables.items():
        df.to_csv(data_dir / f"{name}.csv", index=False, lineterminator="\n", float_format="%.10g")
        print(f"{name}: {len(df)} rows")
    pd.DataFrame(ACCOUNTING).to_csv(data_dir / "accounting.csv", index=False, lineterminator="\n")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]))
