"""One copy of the physics: the likelihoods' means and the prediction path compute the same numbers from the same
posterior draw, through :mod:`infergy.model.equations`."""

from __future__ import annotations


import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from numpyro import handlers

from infergy.data import load
from infergy.inference.posterior import load_posterior
from infergy.analysis.predict import QuerySpec, posterior_draws, prepare, serving
from infergy.model import equations as eq
from infergy.model.joint import build_design
from infergy.model.power import power_model
from infergy.model.throughput import throughput_model

DRAW = 7  # any posterior draw


@pytest.fixture(scope="module")
def setting():
    bundle = load()
    draws, coords = posterior_draws(load_posterior())
    return bundle, build_design(bundle), (draws, coords), {k: v[DRAW] for k, v in draws.items()}


def _model_mean(model, draw, *args, **kwargs):
    """The model's own mean at one posterior draw (its latent sites substituted)."""
    with handlers.seed(rng_seed=0), handlers.substitute(data=draw):
        return np.asarray(model(*args, **kwargs)["mu"])


def _rows(design, n):
    """Benchmark rows a query can restate: a batch the model reads as run (not saturated), known lengths, a
    precision that is not 'mixed'; with that batch as a column."""
    x = design.throughput.arrays
    r = design.throughput.rows.assign(batch=np.exp(np.asarray(x.log_load)), saturated=np.asarray(x.log_load) >= 20)
    shaped = r["isl"].notna() & r["osl"].notna() & r["precision"].ne("mixed")
    ok = ~r["saturated"] & shaped & r["parallelism"].fillna("").str.match(r"^TP\d")
    picked = r[ok].groupby(["model", "gpu", "precision"]).head(1)
    picked = picked.sample(n=n, random_state=0) if len(picked) > n else picked
    # and attention data-parallel rows (saturated: as many sequences as fit), asked by their layout
    dep = r[shaped & r["parallelism"].fillna("").str.startswith("DEP")].groupby("model").head(1)
    return pd.concat([picked, dep])


def test_prediction_restates_the_throughput_likelihoods_mean(setting):
    """For a benchmark row, the throughput model's mean at a draw equals the prediction path's log tok/s per GPU
    for the same query and draw, asked of the row's engine setup (its efficiency and its step overheads)."""
    bundle, design, (draws, coords), draw = setting
    tp = design.throughput
    mu = _model_mean(throughput_model, draw, tp.arrays, **tp.sizes)
    rows = _rows(design, 12)
    assert len(rows) >= 8 and rows["parallelism"].str.startswith("DEP").sum() >= 3
    setup = np.asarray(tp.arrays.setup_idx)
    for i, row in rows.iterrows():
        spec = QuerySpec(model=row["model"], gpu=row["gpu"], layout=row["parallelism"], precision=row["precision"],
                         input_tokens=float(row["isl"]), output_tokens=float(row["osl"]),
                         batch_size=float(row["batch"]), engine=coords["setup"][setup[i]])
        arrays, meta = prepare((draws, coords), spec, bundle, seed=0)
        one = {k: v[DRAW:DRAW + 1] for k, v in arrays.items()}
        tokens_in = jnp.float32(row["isl"])
        times, _ = serving(one, tokens_in, tokens_in, jnp.full((1, 1), float(row["osl"])))
        log_tps = eq.log_tps_per_gpu(one["phys_n_gpus"][:, None], float(row["osl"]), times)
        assert meta["model_fitted"] and meta["gpu_fitted"], row["model"]
        assert float(log_tps[0, 0]) == pytest.approx(float(mu[i]), abs=1e-4), (row["model"], row["gpu"])


def test_prediction_restates_the_power_likelihoods_mean(setting):
    """The power model's mean (log power / TDP) for a measured row equals the prediction path's log W per GPU
    over TDP for the same GPU count, model size and batch. The query gives the row's own parameter counts: the
    power table reports nominal sizes (Qwen3-30B-A3B: 30B / 3B active), the models table the published config's
    (30.5B / 3.3B), which prediction uses for a named model."""
    bundle, design, draws_coords, draw = setting
    pw = design.power
    mu = _model_mean(power_model, draw, pw.arrays, **pw.sizes)
    rows = pw.rows.groupby(["gpu", "model"]).head(1).head(10)
    assert len(rows) >= 5
    for i, row in rows.iterrows():
        spec = QuerySpec(total_params_b=float(row["total_params_b"]), active_params_b=float(row["active_params_b"]),
                         gpu=row["gpu"], n_gpus=int(row["n_gpus"]), precision="bf16",
                         batch_size=float(np.exp(np.asarray(pw.arrays.log_batch)[i])), output_tokens=300.0,
                         allow_extreme=True)  # the power model reads sizes, not precision: bf16 405B outgrows 8 GPUs
        arrays, meta = prepare(draws_coords, spec, bundle, seed=0)
        one = {k: v[DRAW:DRAW + 1] for k, v in arrays.items()}
        # decode power is the curve's at the offered load (here above the share of peak FLOP/s the step reaches)
        times, (_, log_decode_w) = serving(one, jnp.float32(100.0), jnp.float32(100.0), jnp.full((1, 1), 300.0))
        assert float(times.decode_utilisation[0, 0]) < 0.3 * float(np.exp(mu[i]))
        assert meta["power_curve_gpu"] == row["gpu"]
        assert float(log_decode_w[0, 0] - jnp.log(one["power_tdp_w"][0])) == pytest.approx(float(mu[i]), abs=2e-5), (
            row["model"], row["gpu"], row["n_gpus"], i)
