"""The posterior the package ships: present, fitted to the design the shipped data give, passed its review, loadable."""

from __future__ import annotations

import json

import arviz as az
import numpy as np
import pandas as pd
import pytest

import infergy.data as d
from infergy.inference.posterior import (
    DEFAULT_POSTERIOR,
    SHIPPED_DRAWS,
    PosteriorMismatchError,
    check_posterior,
    design_fingerprint,
    load_posterior,
    review_of,
    write_shipped_posterior,
)
from infergy.inference.update import _latent_sites
from infergy.model.joint import build_design


@pytest.fixture(scope="module")
def shipped():
    return load_posterior()


def test_shipped_posterior_matches_the_shipped_data(shipped):
    """Fails after any change to what the fit reads until the default posterior is refitted (`make posterior`)."""
    bundle = d.load()
    assert shipped.attrs["design_hash"] == design_fingerprint(bundle), "refit the shipped posterior: `make posterior`"
    check_posterior(shipped, bundle)


def _with(bundle, table: str, frame, tag: str):
    return d.DataBundle(tables={**bundle.tables, table: frame}, version=bundle.version,
                        content_hash=f"{tag:0>64}")


def test_a_change_the_fit_never_read_keeps_the_posterior_valid(shipped):
    """Adding a GPU to the hardware table (no benchmark ran on it) needs no refit; a changed value of a row the
    fit read, a dropped row, or a changed TDP of a GPU the power curve uses does."""
    bundle = d.load()
    hw = bundle.tables["hardware"]
    new_gpu = hw[hw["gpu"] == "B200"].assign(id="NEW-GPU", gpu="NEW-GPU", device="a future GPU", tdp_w=1500.0)
    check_posterior(shipped, _with(bundle, "hardware", pd.concat([hw, new_gpu], ignore_index=True), "a"))
    notes = hw.assign(notes="reworded")
    check_posterior(shipped, _with(bundle, "hardware", notes, "b"))

    tp = bundle.tables["throughput"]
    changed = tp.copy()
    changed["output_tok_s_per_gpu"] *= 1.01
    changed["output_tok_s_total"] *= 1.01
    power_gpu = "H100-SXM-80GB"
    tdp = hw.assign(tdp_w=np.where(hw["gpu"] == power_gpu, 650.0, hw["tdp_w"]))
    for table, frame, tag in (("throughput", changed, "c"), ("throughput", tp[tp["model"] != "Llama 3.1 8B"], "d"),
                              ("hardware", tdp, "e")):
        with pytest.raises(PosteriorMismatchError, match="refit"):
            check_posterior(shipped, _with(bundle, table, frame, tag))


def test_the_design_fingerprint_does_not_depend_on_the_processor():
    """A processor's own rounding (NumPy's float64 logarithms differ in the last bit with and without AVX-512)
    leaves the fingerprint alone; a change the single-precision likelihood can see does not."""
    from dataclasses import replace

    from infergy.model.joint import build_design

    design = build_design(d.load())
    y = np.asarray(design.throughput.y_log_tok_s)
    ulp = replace(design, throughput=replace(design.throughput, y_log_tok_s=np.nextafter(y, np.inf)))
    assert ulp.fingerprint() == design.fingerprint()
    moved = replace(design, throughput=replace(design.throughput, y_log_tok_s=y + 1e-5 * (np.arange(y.size) == 7)))
    assert moved.fingerprint() != design.fingerprint()
    # the interactions' contrast bases: their zeros come out as +-1e-16 whose bits follow BLAS's thread count (a
    # Dask worker runs one thread); the cells' labels, from which they follow, are what is hashed
    arrays = design.throughput.arrays
    basis = np.asarray(arrays.model_gpu_basis)
    noisy = basis + np.where(np.abs(basis) < 1e-9, 3e-16, 0.0)
    rounded = replace(design, throughput=replace(design.throughput,
                                                 arrays=arrays._replace(model_gpu_basis=noisy)))
    assert rounded.fingerprint() == design.fingerprint()
    pairs = list(design.throughput.model_gpu_pairs)
    relabelled = replace(design, throughput=replace(design.throughput, model_gpu_pairs=pairs[::-1]))
    assert relabelled.fingerprint() != design.fingerprint()


def test_shipped_posterior_passed_its_review_and_is_complete(shipped):
    review = review_of(shipped)
    assert review["ok"], json.dumps(review, indent=1)
    post = shipped["posterior"]
    assert post.sizes["chain"] * post.sizes["draw"] >= SHIPPED_DRAWS
    # the posterior, and the prior draws an update extends: small enough to ship
    assert list(shipped.children) == ["posterior", "prior"]
    assert shipped["prior"].sizes["draw"] >= 100
    assert set(shipped["prior"].data_vars) <= set(post.data_vars)
    latent = set(_latent_sites(build_design(d.load())))
    assert latent <= set(shipped["prior"].data_vars), latent - set(shipped["prior"].data_vars)
    assert DEFAULT_POSTERIOR.stat().st_size < 5e6
    for name in ("tp_a_model", "tp_b_gpu", "pw_idle_share", "pw_peak_share", "pue_m_scope", "op_log_batch",
                 "op_idle_share", "op_host_ratio", "op_host_operator", "op_idle_operator"):
        assert name in post.data_vars and np.isfinite(np.asarray(post[name])).all(), name
    assert json.loads(shipped.attrs["fit_config"])["chains"] >= 4


def test_a_posterior_without_a_design_fingerprint_needs_the_same_tables(shipped):
    other = d.load()  # the shipped tables plus a user's rows hash differently
    old = shipped.copy()
    del old.attrs["design_hash"]
    old.attrs["data_hash"] = other.content_hash
    check_posterior(old, other)
    bundle = d.DataBundle(tables=other.tables, version=other.version, content_hash="0" * 64)
    with pytest.raises(PosteriorMismatchError, match="refit"):
        check_posterior(old, bundle)


def test_thinning_keeps_every_chain_and_the_provenance(tmp_path):
    rng = np.random.default_rng(0)
    dt = az.from_dict({"posterior": {"a": rng.normal(size=(4, 900)), "b": rng.normal(size=(4, 900, 3))},
                       "sample_stats": {"diverging": np.zeros((4, 900), bool)},
                       "prior": {"a": rng.normal(size=(1, 200)), "b": rng.normal(size=(1, 200, 3)),
                                 "y": rng.normal(size=(1, 200, 7))}},
                      dims={"b": ["k"], "y": ["row"]})
    dt.attrs.update({"data_hash": "h", "review": json.dumps({"ok": True})})
    out = load_posterior(write_shipped_posterior(dt, tmp_path / "p.nc", draws=400))
    post = out["posterior"]
    assert post.sizes["chain"] == 4 and post.sizes["draw"] == 100 and post["b"].dtype == np.float32
    assert out.attrs["data_hash"] == "h" and review_of(out) == {"ok": True}
    np.testing.assert_allclose(np.asarray(post["a"])[:, 0], np.asarray(dt["posterior"]["a"])[:, 0], rtol=1e-6)
    # the prior draws of the posterior's variables, every one kept (what an update extends), and nothing else
    assert list(out.children) == ["posterior", "prior"] and set(out["prior"].data_vars) == {"a", "b"}
    assert "row" not in out["prior"].dims and out["prior"].sizes["draw"] == 200
    np.testing.assert_allclose(np.asarray(out["prior"]["b"]), np.asarray(dt["prior"]["b"]), rtol=1e-6)


def test_missing_posterior_file_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such posterior"):
        load_posterior(tmp_path / "absent.nc")


@pytest.mark.parametrize("case", ["empty", "truncated", "random bytes", "a directory", "netCDF without draws",
                                  "draws without a data hash"])
def test_a_file_that_is_not_a_posterior_is_refused_in_one_line_naming_it(tmp_path, case):
    """Each bad posterior file gets its own message naming the file (the command line's one-line answers:
    tests/test_reliability.py)."""
    from infergy.inference.posterior import PosteriorFileError

    path = tmp_path / "bad.nc"
    rng = np.random.default_rng(0)
    if case == "empty":
        path.write_bytes(b"")
    elif case == "truncated":
        path.write_bytes(DEFAULT_POSTERIOR.read_bytes()[:4096])
    elif case == "random bytes":
        path.write_bytes(rng.bytes(10_000))
    elif case == "a directory":
        path.mkdir()
    elif case == "netCDF without draws":
        az.from_dict({"observed_data": {"y": rng.normal(size=5)}}).to_netcdf(path, engine="h5netcdf")
    else:
        az.from_dict({"posterior": {"a": rng.normal(size=(2, 10))}}).to_netcdf(path, engine="h5netcdf")
    expected = {"empty": "not a netCDF", "truncated": "not a netCDF", "random bytes": "not a netCDF",
                "a directory": "is a directory", "netCDF without draws": "no 'posterior' group",
                "draws without a data hash": "no 'data_hash' attribute"}[case]
    with pytest.raises(PosteriorFileError, match=expected) as err:
        load_posterior(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)
