"""A production service at the load it stated: the fitted model's prediction of what the service itself reported.

DeepSeek published 24 hours of its V3/R1 service (``data/service_statistics.csv``): per H800 node ~14.8k output
tokens/s in decode units of 18 nodes, 20-22 tokens/s seen by each request, a mean KV length of 4,989 tokens per
decode step, ~73.7k input tokens/s per node in prefill units of 4 nodes with 56.3% of the input read from a cache.
Their ratio states the load: 14.8k / 21 ~ 700 concurrent sequences per node, ~12,700 per decode unit. None of it
is fitted, so the fitted model's prediction at that load, on those replicas, is an out-of-sample check of the
production engine the answers use. The H800 is taken as an H100 (the same HBM bandwidth and FLOP/s; its NVLink is
slower, which the prediction leaves out and which could only slow it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .predict import predict_components
from ..model.query import QuerySpec

__all__ = ["ServiceCheck", "service_check", "DEEPSEEK_MODEL", "SERVICE_ANSWER_TOKENS"]

#: The table's model for DeepSeek's V3/R1 service (the same architecture; R1 is benchmarked).
DEEPSEEK_MODEL = "DeepSeek-R1"
#: Answer length of a decode request: the decode cost depends on the mean context, which is stated; the answer
#: only splits it between prompt and answer.
SERVICE_ANSWER_TOKENS = 1000.0


@dataclass(frozen=True)
class ServiceCheck:
    quantity: str
    unit: str
    stated: float
    stated_low: float
    stated_high: float
    median: float
    low_90: float
    high_90: float
    inside_90: bool  # the stated figure (or range) meets the predicted 90% interval


def _stat(stats: pd.DataFrame, quantity: str) -> pd.Series:
    rows = stats[(stats["operator"] == "DeepSeek") & (stats["quantity"] == quantity)]
    if len(rows) != 1:
        raise ValueError(f"service_statistics has {len(rows)} DeepSeek rows of {quantity!r}; expected one")
    return rows.iloc[0]


def _check(quantity: str, unit: str, row: pd.Series, draws: np.ndarray) -> ServiceCheck:
    lo, med, hi = np.quantile(draws, [0.05, 0.5, 0.95])
    s_lo = float(row["low"]) if pd.notna(row["low"]) else float(row["value"])
    s_hi = float(row["high"]) if pd.notna(row["high"]) else float(row["value"])
    return ServiceCheck(quantity, unit, float(row["value"]), s_lo, s_hi, float(med), float(lo), float(hi),
                        bool(s_hi >= lo and s_lo <= hi))


def service_check(dt, *, bundle=None, seed: int = 0) -> list[ServiceCheck]:
    """DeepSeek's decode throughput per node and per-request speed at its stated load, and its prefill throughput
    per node, predicted by the posterior ``dt`` (90% intervals over the posterior draws)."""
    from ..data import load

    bundle = bundle if bundle is not None else load()
    stats = bundle.tables["service_statistics"]
    row = {q: _stat(stats, q) for q in ("decode_tok_s_per_node", "request_speed_tok_s", "prefill_tok_s_per_node",
                                        "decode_unit_nodes", "prefill_unit_nodes", "kv_length_per_output_token",
                                        "cache_hit_share")}
    decode_tps, speed = row["decode_tok_s_per_node"], row["request_speed_tok_s"]
    gpus_per_node = int(decode_tps["gpus_per_node"])
    decode_nodes = float(row["decode_unit_nodes"]["value"])
    prefill_nodes = float(row["prefill_unit_nodes"]["value"])
    context = float(row["kv_length_per_output_token"]["value"])
    hits = float(row["cache_hit_share"]["value"])
    concurrency = float(decode_tps["value"]) / float(speed["value"]) * decode_nodes
    out = SERVICE_ANSWER_TOKENS
    prompt = context - 0.5 * out  # serving_times reads a mean context of prompt + answer / 2
    n_decode = int(round(decode_nodes * gpus_per_node))
    c = predict_components(dt, QuerySpec(model=DEEPSEEK_MODEL, gpu="H100", n_gpus=n_decode, batch_size=concurrency,
                                         input_tokens=prompt, output_tokens=out, boundary="gpu"),
                           seed=seed, bundle=bundle)
    decode_per_node = out / (c["decode_s"] * n_decode) * gpus_per_node
    per_request = out / (c["decode_s"] * c["running_batch"])
    n_prefill = int(round(prefill_nodes * gpus_per_node))
    p = predict_components(dt, QuerySpec(model=DEEPSEEK_MODEL, gpu="H100", n_gpus=n_prefill, batch_size=concurrency,
                                         input_tokens=prompt, output_tokens=out, boundary="gpu"),
                           seed=seed, bundle=bundle, cache_hit_rate=hits)
    # the stated rate counts every input token, the cached ones too
    prefill_per_node = prompt / (p["prefill_s"] * n_prefill) * gpus_per_node
    return [_check("decode_tok_s_per_node", str(decode_tps["unit"]), decode_tps, decode_per_node),
            _check("request_speed_tok_s", str(speed["unit"]), speed, per_request),
            _check("prefill_tok_s_per_node", str(row["prefill_tok_s_per_node"]["unit"]), row["prefill_tok_s_per_node"],
                   prefill_per_node)]
