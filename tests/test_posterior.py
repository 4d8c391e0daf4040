"""The posterior the package ships: present, fitted to exactly the shipped data, passed its review, loadable."""

from __future__ import annotations

import json

import arviz as az
import numpy as np
import pytest

import infergy.data as d
from infergy.inference.posterior import (
    DEFAULT_POSTERIOR,
    SHIPPED_DRAWS,
    PosteriorMismatchError,
    check_posterior,
    load_posterior,
    review_of,
    write_shipped_posterior,
)


@pytest.fixture(scope="module")
def shipped():
    return load_posterior()


def test_shipped_posterior_matches_the_shipped_data(shipped):
    """Fails after any change to the data tables until the default posterior is refitted (`make posterior`)."""
    bundle = d.load()
    assert shipped.attrs["data_hash"] == bundle.content_hash, "refit the shipped posterior: `make posterior`"
    check_posterior(shipped, bundle)


def test_shipped_posterior_passed_its_review_and_is_complete(shipped):
    review = review_of(shipped)
    assert review["ok"], json.dumps(review, indent=1)
    post = shipped["posterior"]
    assert post.sizes["chain"] * post.sizes["draw"] >= SHIPPED_DRAWS
    assert list(shipped.children) == ["posterior"]  # posterior only: small enough to ship
    assert DEFAULT_POSTERIOR.stat().st_size < 5e6
    for name in ("tp_a_model", "tp_b_gpu", "pw_idle_share", "pw_peak_share", "pue_m_scope", "op_log_batch",
                 "op_idle_share", "op_host_ratio"):
        assert name in post.data_vars and np.isfinite(np.asarray(post[name])).all(), name
    assert json.loads(shipped.attrs["fit_config"])["chains"] >= 4


def test_a_posterior_fitted_to_other_data_is_refused(shipped):
    other = d.load()  # the shipped tables plus a user's rows hash differently
    bundle = d.DataBundle(tables=other.tables, version=other.version, content_hash="0" * 64)
    with pytest.raises(PosteriorMismatchError, match="refit"):
        check_posterior(shipped, bundle)


def test_thinning_keeps_every_chain_and_the_provenance(tmp_path):
    rng = np.random.default_rng(0)
    dt = az.from_dict({"posterior": {"a": rng.normal(size=(4, 900)), "b": rng.normal(size=(4, 900, 3))},
                       "sample_stats": {"diverging": np.zeros((4, 900), bool)}}, dims={"b": ["k"]})
    dt.attrs.update({"data_hash": "h", "review": json.dumps({"ok": True})})
    out = load_posterior(write_shipped_posterior(dt, tmp_path / "p.nc", draws=400))
    post = out["posterior"]
    assert post.sizes["chain"] == 4 and post.sizes["draw"] == 100 and post["b"].dtype == np.float32
    assert out.attrs["data_hash"] == "h" and review_of(out) == {"ok": True}
    np.testing.assert_allclose(np.asarray(post["a"])[:, 0], np.asarray(dt["posterior"]["a"])[:, 0], rtol=1e-6)


def test_missing_posterior_file_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such posterior"):
        load_posterior(tmp_path / "absent.nc")
