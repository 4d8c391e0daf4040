"""The architecture table and what follows from it: KV-cache bytes and attention FLOPs per token."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import infergy.data as d
from infergy.model.architecture import attention_flops_per_token, kv_bytes_per_token
from infergy.model.joint import build_design


@pytest.fixture(scope="module")
def arch():
    return d.load().architectures.set_index("model", drop=False)


def _one(arch, model):
    return arch.loc[[model]]


@pytest.mark.parametrize("model, precision, expected", [
    ("Llama 3.1 405B", "fp8", 126 * 2 * 8 * 128 * 1),  # 258,048 B: the figure the throughput model must reach
    ("Llama 3.1 70B", "bf16", 80 * 2 * 8 * 128 * 2),
    ("Llama 3.1 8B", "bf16", 32 * 2 * 8 * 128 * 2),
    ("Llama 2 7B", "fp16", 32 * 2 * 32 * 128 * 2),  # no grouped-query attention
    ("DeepSeek-R1", "fp8", 61 * (512 + 64) * 1),  # multi-head latent attention: the latent and its rotary part
    ("Mixtral 8x7B", "fp4", 32 * 2 * 8 * 128 * 1),  # FP4 weights keep an 8-bit cache
])
def test_kv_bytes_per_token_follow_the_architecture(arch, model, precision, expected):
    assert kv_bytes_per_token(_one(arch, model), precision)[0] == expected


def test_sliding_windows_keep_only_their_window(arch):
    g = _one(arch, "gemma-2-9b")  # 21 global layers, 21 local layers of 4,096 tokens
    per_layer = 2 * 8 * 256 * 2
    assert kv_bytes_per_token(g, "bf16", 4096)[0] == 42 * per_layer
    assert kv_bytes_per_token(g, "bf16", 8192)[0] == pytest.approx((21 + 21 * 0.5) * per_layer)
    s = _one(arch, "starcoder2-15b")  # every layer sliding
    assert kv_bytes_per_token(s, "bf16", 40_960)[0] == pytest.approx(0.1 * kv_bytes_per_token(s, "bf16", 4096)[0])


@settings(max_examples=40, deadline=None)
@given(st.floats(1.0, 1e6), st.floats(1.0, 1e6))
def test_longer_contexts_never_hold_more_cache_per_token_and_cost_more_attention(a, b):
    arch = d.load().architectures
    lo, hi = sorted((a, b))
    kv_lo, kv_hi = kv_bytes_per_token(arch, "fp8", lo), kv_bytes_per_token(arch, "fp8", hi)
    ok = np.isfinite(kv_lo)
    assert (kv_hi[ok] <= kv_lo[ok] * (1 + 1e-12)).all()
    assert (kv_lo[ok] * lo <= kv_hi[ok] * hi * (1 + 1e-12)).all()  # the whole cache grows with the context
    fl_lo, fl_hi = attention_flops_per_token(arch, lo), attention_flops_per_token(arch, hi)
    assert (fl_lo[ok] <= fl_hi[ok] * (1 + 1e-12)).all()


def test_attention_flops_per_token(arch):
    m = _one(arch, "Llama 3.1 405B")
    assert attention_flops_per_token(m, 1000.0)[0] == 4 * 128 * 128 * 126 * 1000
    # at 1,000 tokens of context attention is ~1% of the 2 x 405e9 FLOPs of the matrix products; at 100k it is 100%
    assert attention_flops_per_token(m, 100_000.0)[0] / (2 * 405e9) == pytest.approx(1.02, rel=0.01)


def test_every_fitted_model_has_an_architecture_row(arch):
    """Each model the throughput fit reads has a row; the KV cache is known for all but the two whose attention
    layout the table does not give (their notes say why)."""
    fitted = set(build_design(d.load()).throughput.models)
    assert fitted <= set(arch.index)
    kv = kv_bytes_per_token(arch.loc[sorted(fitted)], "fp8")
    unknown = {m for m, v in zip(sorted(fitted), kv) if not np.isfinite(v)}
    assert unknown == {"Llama 3.1 Nemotron Ultra 253B", "NVIDIA-Nemotron-Nano-12B-v2"}
    assert arch.loc[sorted(unknown), "notes"].str.len().gt(20).all()


def test_a_bad_architecture_row_is_refused(tmp_path):
    src = d.data_path("architectures.csv").read_text().splitlines()
    bad = src[0] + "\n" + src[1].replace(",32,32,0,,4096,", ",32,40,0,,4096,", 1) + "\n"
    path = tmp_path / "architectures.csv"
    path.write_text(bad)
    with pytest.raises(d.DataValidationError, match="exceed the model's layers"):
        d.validate_file(path, "architectures")
