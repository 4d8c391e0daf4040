"""Cross-validation by left-out model / GPU: the machinery (fast) and the coverage on the shipped data (slow)."""

from __future__ import annotations

import numpy as np
import pytest

import infergy.data as d
from infergy.inference.cv import cross_validate
from infergy.text import cv_markdown


def _small_bundle(models: tuple[str, ...]):
    full = d.load()
    thr = full.tables["throughput"]
    small = thr[thr["model"].isin(models) & thr["source_table"].eq("trtllm_perf_overview")]
    small = small.groupby("model").head(40)
    return d.DataBundle(tables={**full.tables, "throughput": small}, version=full.version, content_hash="test")


def test_a_left_out_model_is_predicted_not_fitted():
    bundle = _small_bundle(("Llama 3.1 8B", "Llama 3.1 70B", "Llama 3.3 70B", "Mixtral 8x7B"))
    folds = cross_validate(bundle, by="model", groups=["Llama 3.3 70B"], chains=1, warmup=100, draws=100)
    (f,) = folds
    assert f.left_out == "Llama 3.3 70B" and f.rows == 40
    assert 0.0 <= f.coverage_50 <= f.coverage_90 <= 1.0 and f.width_90 > 1.0
    # a 70B model predicted from its size and its sibling models: not wildly off
    assert f.median_abs_error < 3.0
    table = cv_markdown(folds)
    assert "| model Llama 3.3 70B | 40 |" in table and "**all rows**" in table


def test_unknown_group_is_refused():
    with pytest.raises(ValueError, match="no usable throughput rows for gpu"):
        cross_validate(by="gpu", groups=["Z900"])


@pytest.mark.slow
def test_left_out_models_and_gpus_are_covered_honestly():
    """Full-size folds: row-weighted coverage near nominal, intervals not uselessly wide."""
    for by in ("model", "gpu"):
        folds = cross_validate(by=by)
        rows = np.array([f.rows for f in folds])
        c50 = float(np.average([f.coverage_50 for f in folds], weights=rows))
        c90 = float(np.average([f.coverage_90 for f in folds], weights=rows))
        assert 0.3 <= c50 <= 0.7 and 0.75 <= c90 <= 0.99, (by, c50, c90, cv_markdown(folds))
        assert np.median([f.width_90 for f in folds]) < 8.0, cv_markdown(folds)
