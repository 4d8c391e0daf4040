"""What a model's architecture fixes about a query: the bytes of KV cache each context token holds and the
attention FLOPs each new token spends on its context (from the ``architectures`` table: layers, KV heads, head
dimension, MLA latent, sliding windows). Pure NumPy on the table's columns, one value per model."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..data.frame_cache import frame_cache
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


#: What the serving equations read about a model, per model (arrays): KV values cached per context token in the
#: full-attention layers and in the sliding-window layers (within their window), the window, the attention FLOPs per
#: (new token x context token) of each kind of layer, the layer count, the hidden size, and the routed experts and
#: experts per token (1 and 1 for a dense model).
#: The window of a model without sliding-window layers: longer than any context (finite, so gradients stay finite).
NO_WINDOW_TOKENS = 1e12
MODEL_CONSTANTS = ("kv_full_values", "kv_window_values", "window_tokens", "attn_full_flops", "attn_window_flops",
                   "layers", "hidden", "experts", "top_k")


def _values(arch: pd.DataFrame) -> dict[str, np.ndarray]:
    """:data:`MODEL_CONSTANTS` from architecture rows (NaN where a row does not give them)."""
    per_layer = kv_values_per_layer(arch)
    attn_layer = 4.0 * _col(arch, "attention_heads") * _col(arch, "head_dim")
    full, sliding = _col(arch, "kv_layers"), np.nan_to_num(_col(arch, "sliding_layers"))
    window = np.where(sliding > 0, _col(arch, "sliding_window"), NO_WINDOW_TOKENS)
    experts = _col(arch, "experts")
    top_k = _col(arch, "experts_per_token")
    dense = ~np.isfinite(experts)
    return {"kv_full_values": per_layer * full, "kv_window_values": per_layer * sliding, "window_tokens": window,
            "attn_full_flops": attn_layer * full, "attn_window_flops": attn_layer * sliding,
            "layers": _col(arch, "layers"), "hidden": _col(arch, "hidden_size"), "experts": np.where(dense, 1.0, experts),
            "top_k": np.where(dense, 1.0, top_k)}


class SizeLines:
    """Least-squares lines on the architecture table for a model it does not hold: log KV values per token
    (every cached layer counted in full), log attention FLOPs per context token, log layers and log hidden size,
    each on log active parameters, with its residual spread (log scale). Fitted to the table's models with a full
    row."""

    KEYS = ("kv_full_values", "attn_full_flops", "layers", "hidden")

    def __init__(self, arch: pd.DataFrame, models: pd.DataFrame):
        v = _values(arch)
        kv_all = v["kv_full_values"] + v["kv_window_values"]
        attn_all = v["attn_full_flops"] + v["attn_window_flops"]
        active = models.set_index("model")["active_params_b"].reindex(arch["model"]).to_numpy(float)
        x = np.log(active / 10.0)
        self.lines: dict[str, tuple[float, float, float]] = {}
        for key, y in (("kv_full_values", kv_all), ("attn_full_flops", attn_all), ("layers", v["layers"]),
                       ("hidden", v["hidden"])):
            ok = np.isfinite(x) & np.isfinite(y) & (y > 0)
            slope, intercept = np.polyfit(x[ok], np.log(y[ok]), 1)
            resid = np.log(y[ok]) - (intercept + slope * x[ok])
            self.lines[key] = (float(intercept), float(slope), float(np.std(resid, ddof=2)))

    def log_mean(self, key: str, log_active_c):
        """Mean log value of ``key`` at ``log_active_c = log(active / 10B)`` (NumPy or JAX)."""
        intercept, slope, _ = self.lines[key]
        return intercept + slope * log_active_c

    def spread(self, key: str) -> float:
        return self.lines[key][2]


@frame_cache
def _table_values(arch: pd.DataFrame) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """:func:`_values` of every architecture row and of a row with no figures (last: index -1), and each model's
    row."""
    blank = pd.DataFrame({c: [None] for c in arch.columns}).astype(arch.dtypes.to_dict(), errors="ignore")
    values = _values(pd.concat([arch, blank], ignore_index=True))
    for v in values.values():
        v.setflags(write=False)  # shared between calls
    return values, {str(m): i for i, m in enumerate(arch["model"])}


@frame_cache
def size_lines(arch: pd.DataFrame, models: pd.DataFrame) -> SizeLines:
    """:class:`SizeLines` of these tables (fitted once per pair of loaded tables)."""
    return SizeLines(arch, models)


def model_constants(arch: pd.DataFrame, models: pd.DataFrame, names, active_params_b, lines: SizeLines | None = None,
                    z: dict | None = None) -> dict[str, np.ndarray]:
    """:data:`MODEL_CONSTANTS` for each of ``names`` (one per model, None for a model known only by size) with its
    active parameters: the architecture row where the table has it, else the :class:`SizeLines` mean plus
    ``z[key]`` (standard normal draws, default 0) times that line's spread for each value the row lacks. A model
    with no row is taken as dense with full attention."""
    names = list(names)
    active = np.asarray(active_params_b, float)
    table, position = _table_values(arch)
    rows = np.array([position.get(n, -1) if n is not None else -1 for n in names], dtype=int)
    out = {k: v[rows] for k, v in table.items()}
    lines = lines if lines is not None else size_lines(arch, models)
    z = z or {}
    for key in SizeLines.KEYS:
        missing = ~np.isfinite(out[key])
        if missing.any():
            guess = np.exp(lines.log_mean(key, np.log(active / 10.0)) + lines.spread(key) * np.asarray(z.get(key, 0.0)))
            out[key] = np.where(missing, guess, out[key])
            if key in ("kv_full_values", "attn_full_flops"):
                other = "kv_window_values" if key == "kv_full_values" else "attn_window_flops"
                out[other] = np.where(missing, 0.0, np.nan_to_num(out[other]))
    out["window_tokens"] = np.where(out["kv_window_values"] > 0, out["window_tokens"], NO_WINDOW_TOKENS)
    for key in ("experts", "top_k"):
        out[key] = np.where(np.isfinite(out[key]), out[key], 1.0)
    return out
