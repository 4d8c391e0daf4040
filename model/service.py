"""A production service that stated its own load: its deployment as the serving equations read it, and the rates it
reported as functions of the serving times -- one copy for the likelihood (:mod:`.production`) and the
out-of-sample check (:mod:`infergy.analysis.service`).

DeepSeek published 24 hours of its V3/R1 service (``data/service_statistics.csv``): ~14.8k output tokens/s per H800
node in decode units of 18 nodes, 20-22 tokens/s seen by each request, a mean KV length of 4,989 tokens per decode
step, ~73.7k input tokens/s per node in prefill units of 4 nodes with 56.3% of the input read from a cache. Their
ratio states the load: 14.8k / 21 ~ 700 concurrent sequences per node, ~12,700 per decode unit.

The deployment, as published: decode runs the routed experts over 144 GPUs (EP144) with attention and the shared
expert data-parallel over the same 144 (DP144); prefill EP32 with DP32. Between servers the experts' tokens travel
over the scale-out network, one 400 Gb/s InfiniBand NIC per GPU (the table's ``scale_out_link_gb_s``). The H800 is
taken as an H100 (the same HBM bandwidth and FLOP/s; its NVLink is slower, which matters little where 17 of 18
destinations are on other servers).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import pandas as pd

from . import equations as eq

__all__ = ["SERVICE_MODEL", "SERVICE_OPERATOR", "SERVICE_ANSWER_TOKENS", "SERVICE_QUANTITIES", "ServiceSetting", "service_setting",
           "service_log_rates"]

#: The table's model for DeepSeek's V3/R1 service (the same architecture; R1 is benchmarked).
SERVICE_MODEL = "DeepSeek-R1"
#: The operator whose deployment :func:`service_setting` lays out.
SERVICE_OPERATOR = "DeepSeek"
#: Answer length of a decode request: the decode cost depends on the mean context, which is stated; the answer
#: only splits it between prompt and answer.
SERVICE_ANSWER_TOKENS = 1000.0
#: The stated rates the serving equations predict, in the order :func:`service_log_rates` returns them.
SERVICE_QUANTITIES = ("decode_tok_s_per_node", "request_speed_tok_s", "prefill_tok_s_per_node")


@dataclass(frozen=True)
class ServiceSetting:
    """A service's deployment and load, from its statistics."""

    operator: str
    decode_gpus: int  # GPUs of a decode unit (data-parallel attention and experts over all of them)
    prefill_gpus: int
    gpus_per_node: int
    concurrency: float  # sequences decoding at once in a decode unit: tok/s per node / tok/s per request x nodes
    prompt_tokens: float  # so that the mean context of a decode step is the stated KV length
    output_tokens: float
    cache_hit_share: float
    link_gb_s: float  # scale-out network per GPU, both directions (the hardware table's convention)
    rows: pd.DataFrame  # the stated rates, in SERVICE_QUANTITIES order

    @property
    def decode_layout(self) -> str:
        return f"DEP{self.decode_gpus}"

    @property
    def prefill_layout(self) -> str:
        return f"DEP{self.prefill_gpus}"


def _stat(stats: pd.DataFrame, operator: str, quantity: str) -> pd.Series:
    rows = stats[(stats["operator"] == operator) & (stats["quantity"] == quantity)]
    if len(rows) != 1:
        raise ValueError(f"service_statistics has {len(rows)} {operator} rows of {quantity!r}; expected one")
    return rows.iloc[0]


def service_setting(stats: pd.DataFrame, operator: str = SERVICE_OPERATOR) -> ServiceSetting:
    """The deployment and load ``operator`` stated (``stats``: the service_statistics table)."""
    row = {q: _stat(stats, operator, q) for q in (*SERVICE_QUANTITIES, "decode_unit_nodes", "prefill_unit_nodes",
                                                  "kv_length_per_output_token", "cache_hit_share",
                                                  "scale_out_link_gb_s")}
    per_node = int(row["decode_tok_s_per_node"]["gpus_per_node"])
    decode_nodes = float(row["decode_unit_nodes"]["value"])
    concurrency = (float(row["decode_tok_s_per_node"]["value"]) / float(row["request_speed_tok_s"]["value"])
                   * decode_nodes)
    out = SERVICE_ANSWER_TOKENS
    return ServiceSetting(
        operator=operator, decode_gpus=int(round(decode_nodes * per_node)),
        prefill_gpus=int(round(float(row["prefill_unit_nodes"]["value"]) * per_node)), gpus_per_node=per_node,
        concurrency=concurrency,
        prompt_tokens=float(row["kv_length_per_output_token"]["value"]) - 0.5 * out,  # serving_times: prompt + out/2
        output_tokens=out, cache_hit_share=float(row["cache_hit_share"]["value"]),
        link_gb_s=float(row["scale_out_link_gb_s"]["value"]),
        rows=pd.DataFrame([row[q] for q in SERVICE_QUANTITIES]).reset_index(drop=True))


def service_log_rates(output_tokens, prompt_tokens, decode_gpus, prefill_gpus, gpus_per_node,
                      decode: eq.ServingTimes, prefill: eq.ServingTimes):
    """log of the rates a service states (:data:`SERVICE_QUANTITIES`), from the serving times of a decode request
    on a decode unit of ``decode_gpus`` and of a prompt on a prefill unit of ``prefill_gpus``: output tokens/s per
    node in decode, output tokens/s one request sees (decode runs on its own nodes, so no prefill slows its steps),
    input tokens/s per node in prefill (cache hits counted, as stated)."""
    log_node = jnp.log(gpus_per_node)
    log_decode = jnp.log(output_tokens) - jnp.log(decode.decode_s)
    return (log_decode - jnp.log(decode_gpus) + log_node,
            log_decode - decode.log_batch,
            jnp.log(prompt_tokens) - jnp.log(prefill.prefill_s) - jnp.log(prefill_gpus) + log_node)
