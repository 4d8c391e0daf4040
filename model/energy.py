"""The energy equation: Wh per query from output tokens, node throughput, power and PUE, at three boundaries.

    E_gpu      = P_gpu_total * L_out / TPS_node / 3600
    E_node     = (P_gpu_total + P_host) * L_out / TPS_node / 3600
    E_facility = PUE * E_node

Powers in W, throughput in output tokens/s for the whole node, energy in Wh. Input tokens enter through the
throughput (prefill cost), not as a separate term.
"""

from __future__ import annotations

from functools import partial
from typing import Literal

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

__all__ = ["BOUNDARIES", "Boundary", "SECONDS_PER_HOUR", "energy_per_query_wh", "check_boundary"]

Boundary = Literal["gpu", "node", "facility"]
#: What each boundary includes, from narrowest to widest.
BOUNDARIES: dict[str, str] = {
    "gpu": "accelerators only (what ML.ENERGY and AI Energy Score measure)",
    "node": "accelerators + host (CPU, DRAM, NIC, fans, PSU losses): the whole server (MLPerf power)",
    "facility": "node x PUE: cooling and power delivery of the data center included",
}
SECONDS_PER_HOUR = 3600.0


def check_boundary(boundary: str) -> str:
    """Return ``boundary`` if known, else raise a ``ValueError`` naming the choices."""
    if boundary not in BOUNDARIES:
        raise ValueError(f"unknown boundary {boundary!r}; choose one of {', '.join(BOUNDARIES)}")
    return boundary


@partial(jax.jit, static_argnames=("boundary",))
def energy_per_query_wh(
    output_tokens: ArrayLike,
    node_tps_tok_s: ArrayLike,
    gpu_power_w: ArrayLike,
    host_power_w: ArrayLike = 0.0,
    pue: ArrayLike = 1.0,
    boundary: Boundary = "facility",
) -> jax.Array:
    """Energy of one query in Wh at ``boundary`` (broadcasts over all array arguments).

    Args:
        output_tokens: generated tokens per query (>= 0).
        node_tps_tok_s: node output throughput in tokens/s for this query shape and load (> 0).
        gpu_power_w: power drawn by all the node's accelerators together, in W.
        host_power_w: non-accelerator server power in W (ignored at the ``gpu`` boundary).
        pue: power usage effectiveness (>= 1; used at the ``facility`` boundary only).
        boundary: ``"gpu"``, ``"node"`` or ``"facility"``.
    """
    check_boundary(boundary)
    hours = jnp.asarray(output_tokens) / jnp.asarray(node_tps_tok_s) / SECONDS_PER_HOUR
    if boundary == "gpu":
        return jnp.asarray(gpu_power_w) * hours
    node_wh = (jnp.asarray(gpu_power_w) + jnp.asarray(host_power_w)) * hours
    if boundary == "node":
        return node_wh
    return jnp.asarray(pue) * node_wh
