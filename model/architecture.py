"""What a model's architecture fixes about a query: the bytes of KV cache each context token holds and the
attention FLOPs each new token spends on its context (from the ``architectures`` table: layers, KV heads, head
dimension, MLA latent, sliding windows). Pure NumPy on the table's columns, one value per model."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..data.vocab import PRECISION_TABLE

__all__ = ["kv_values_per_layer", "kv_bytes_per_token", "attention_flops_per_token"]


def _col(arch: pd.DataFrame, name: str) -> np.ndarray:
    return arch[name].astype(float).to_numpy()


def kv_values_per_layer(arch: pd.DataFrame) -> np.ndarray:
    """Values cached per token in one attention layer: keys and values of every KV head, or the MLA latent and its
    rotary part (DeepSeek). NaN where the table does not give them."""
    mla = _col(arch, "kv_lora_rank") + np.nan_to_num(_col(arch, "rope_head_dim"))
    return np.where(np.isfinite(mla), mla, 2.0 * _col(arch, "kv_heads") * _col(arch, "head_dim"))


def _cached_layers(arch: pd.DataFrame, context_tokens) -> np.ndarray:
    """Layers caching every context token, counting a sliding layer by the share of the context its window keeps."""
    context = np.asarray(context_tokens, float)
    window_share = np.minimum(1.0, np.nan_to_num(_col(arch, "sliding_window"), nan=np.inf) / context)
    return _col(arch, "kv_layers") + np.nan_to_num(_col(arch, "sliding_layers")) * window_share


def kv_bytes_per_token(arch: pd.DataFrame, precision: str, context_tokens=1.0) -> np.ndarray:
    """Bytes of KV cache per context token (averaged over a context of ``context_tokens``: sliding-window layers
    keep only their window), with the cache held at ``precision``'s KV width. NaN where the architecture is not
    given."""
    return kv_values_per_layer(arch) * _cached_layers(arch, context_tokens) * PRECISION_TABLE[precision].kv_bytes


def attention_flops_per_token(arch: pd.DataFrame, context_tokens) -> np.ndarray:
    """FLOPs one new token spends attending to ``context_tokens`` (scores and weighted values: 2 x 2 x heads x
    head dim per cached token and layer), beside the 2 x active-parameter FLOPs of its matrix products."""
    context = np.asarray(context_tokens, float)
    per_layer = 4.0 * _col(arch, "attention_heads") * _col(arch, "head_dim")
    return per_layer * _cached_layers(arch, context) * context
