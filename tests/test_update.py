"""`infergy update`: the base posterior's draws carried into the design with the new rows (aligned by label, new
elements from their prior), reweighted when the Pareto k of the weights allows, else sampled; the contrasts every
posterior is expressed in are the same on every machine."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from infergy.data import data_path, load
from infergy.inference.posterior import load_posterior
from infergy.model.joint import build_design
from infergy.model.throughput import residual_basis

PUE_ROW = data_path("templates") / "pue.csv"


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "infergy", *args], capture_output=True, text=True, timeout=900)


@settings(max_examples=30, deadline=None)
@given(st.integers(3, 12), st.integers(1, 3), st.integers(0, 2**31 - 1))
def test_the_residual_basis_is_the_unit_vectors_projected_and_orthonormalised_in_order(n, m, seed):
    rng = np.random.default_rng(seed)
    c = rng.integers(-2, 3, size=(m, n)).astype(float)
    b = residual_basis(c)
    rank = np.linalg.matrix_rank(c)
    assert b.shape == (n, n - rank)
    assert np.allclose(b.T @ b, np.eye(n - rank), atol=1e-10) and np.allclose(c @ b, 0.0, atol=1e-10)
    # the same space stated differently (rows scaled, reordered, repeated) gives the same basis: no SVD rotation
    assert np.allclose(residual_basis(np.vstack([3.0 * c[::-1], c[:1]])), b, atol=1e-9)
    # its first column is the first unit vector's projection, normalised (where that is not zero)
    p = np.eye(n)[:, 0] - np.linalg.pinv(c) @ (c @ np.eye(n)[:, 0])
    if np.linalg.norm(p) > 1e-6:
        assert np.allclose(b[:, 0], p / np.linalg.norm(p), atol=1e-9)


def test_the_shipped_contrasts_reproduce_the_shipped_throughput_effects():
    """The shipped draws of each contrast, through this machine's bases, give the effects stored beside them."""
    from infergy.inference.update import _all_sites, _base_draws, _latent_sites

    design = build_design(load())
    dt = load_posterior()
    draws = _base_draws(dt, list(_latent_sites(design)))
    sites = _all_sites(design, {k: v[:50].astype(np.float32) for k, v in draws.items()})
    post = dt["posterior"].to_dataset()
    for name in ("tp_a_model", "tp_b_gpu", "tp_e_gpu_precision", "tp_e_model_gpu"):
        stored = np.asarray(post[name]).reshape(-1, *post[name].shape[2:])[:50]
        assert np.abs(sites[name] - stored).max() < 1e-4, name


def test_the_base_draws_keep_their_operators_and_a_new_operator_is_left_to_its_prior():
    from infergy.inference.update import _base_draws, _latent_sites, align

    old, new = build_design(load()), build_design(load(extra=[PUE_ROW]))
    draws = _base_draws(load_posterior(), list(_latent_sites(old)))
    known, why = align(old, new, draws)
    assert why is None
    values, mask = known["pue_z_operator"]
    assert mask.sum() == len(old.pue.operators) and len(mask) == len(old.pue.operators) + 1
    placed = [new.pue.operators.index(op) for op in old.pue.operators]
    assert np.array_equal(values[:, placed], draws["pue_z_operator"])
    assert known["tp_g0"][1] is None and np.array_equal(known["tp_g0"][0], draws["tp_g0"])


def test_rows_that_change_the_shared_contrasts_are_not_reweighted(tmp_path):
    """A benchmark of a model no benchmark ran adds a model level: every model contrast's basis changes."""
    import pandas as pd

    from infergy.inference.update import align

    shipped = load()
    old = build_design(shipped)
    unbenchmarked = sorted(set(shipped.tables["models"]["model"]) - set(old.throughput.models) - {""})
    row = pd.read_csv(data_path("templates") / "throughput.csv", dtype=str)
    meta = shipped.tables["models"].set_index("model").loc[unbenchmarked[0]]
    row.loc[0, ["model", "total_params_b", "active_params_b", "moe"]] = [
        unbenchmarked[0], str(meta["total_params_b"]), str(meta["active_params_b"]), str(meta["moe"]).lower()]
    path = tmp_path / "throughput.csv"
    row.to_csv(path, index=False)
    new = build_design(load(extra=[path]))
    assert unbenchmarked[0] in new.throughput.models
    known, why = align(old, new, {})
    assert known == {} and "models" in why


def test_systematic_resampling_draws_in_proportion_to_the_weights():
    from infergy.inference.update import _systematic

    w = np.array([0.5, 0.25, 0.125, 0.125])
    idx = _systematic(np.log(w), 800, np.random.default_rng(0))
    assert np.array_equal(np.bincount(idx, minlength=4), (w * 800).astype(int))


def test_an_update_that_adds_nothing_is_refused():
    from infergy.inference.update import update

    with pytest.raises(ValueError, match="bring no rows"):
        update([], config=None)


@pytest.mark.slow
def test_update_reweights_one_pue_row_and_the_answers_read_it(tmp_path):
    out = tmp_path / "mine.nc"
    run = _cli("update", "--data-add", str(PUE_ROW), "--out", str(out), "--no-progress", "--json")
    report = json.loads(run.stdout)
    assert report["path"] == "reweight" and report["pareto_k"] <= 0.7, run.stderr[-2000:]
    assert run.returncode == (0 if report["ok"] else 1)
    est = _cli("estimate", "--posterior", str(out), "--data-add", str(PUE_ROW), "--json")
    assert est.returncode == 0, est.stderr[-2000:]
    refused = _cli("estimate", "--posterior", str(out), "--json")  # without the rows it was updated with
    assert refused.returncode == 2 and "posterior was fitted to" in refused.stderr


def test_update_with_bad_rows_says_which_and_writes_nothing(tmp_path):
    bad = tmp_path / "pue.csv"
    bad.write_text(PUE_ROW.read_text().replace(",1.21,", ",0.8,"))
    out = tmp_path / "mine.nc"
    run = _cli("update", "--data-add", str(bad), "--out", str(out), "--no-progress")
    assert run.returncode == 1 and "did not validate" in run.stderr and "row" in run.stderr, run.stderr[-2000:]
    assert not out.exists()
