"""Many queries at once: estimate_many agrees with estimate row by row, a row's answer does not depend on the rows
beside it, totals add posterior draws (not quantiles), the same code runs per partition on a Dask cluster, and the
command line's --batch writes one answer per row."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from infergy.analysis.batch import energy_totals, estimate_many
from infergy.analysis.estimate import estimate, open_posterior

QUERIES = pd.DataFrame({
    "model": ["Llama 3.1 405B", "Llama 3.1 70B", "Llama 3.1 405B", "DeepSeek-R1", "Llama 3.1 70B"],
    "gpu": ["H100", "H100", "H100", "H100", "A100"],
    "input_tokens": [500.0, 2000.0, np.nan, 1000.0, 300.0],
    "output_tokens": [300.0, 100.0, 300.0, np.nan, 50.0],
    "boundary": ["facility", "gpu", "facility", "facility", "node"],
})


@pytest.fixture(scope="module")
def source():
    return open_posterior()


@pytest.fixture(scope="module")
def answers(source):
    return estimate_many(QUERIES, posterior=source, samples=10_000, seed=0)


def test_each_row_is_the_estimate_of_that_query(answers, source):
    """Rows with both lengths given: the quantiles of the same posterior draws ``estimate`` uses (its histogram is
    within 0.12%); rows with a length drawn: equal in distribution (10,000 samples each)."""
    assert list(answers.columns) == ["median", "mean", "p05", "p25", "p75", "p95", "unit", "samples"]
    assert answers.index.equals(QUERIES.index) and (answers["unit"] == "Wh/query").all()
    for i, row in QUERIES.iterrows():
        kw = {k: (None if pd.isna(v) else v) for k, v in row.items()}
        est = estimate(**kw, posterior=source, samples=10_000, seed=0).value
        fixed = not (pd.isna(row["input_tokens"]) or pd.isna(row["output_tokens"]))
        rel = 0.003 if fixed else 0.04
        for k in ("median", "p25", "p75", "mean"):
            assert answers.loc[i, k] == pytest.approx(est[k], rel=rel), (i, k)
        assert answers.loc[i, "samples"] == (source.n_draws if fixed else 10_000)
    assert (answers["p05"] < answers["median"]).all() and (answers["median"] < answers["p95"]).all()


def test_a_rows_answer_does_not_depend_on_the_rows_beside_it(answers, source):
    """Each row draws its lengths from its own stream (the seed and its index label): the rows in another order,
    or one at a time, give the same numbers."""
    shuffled = estimate_many(QUERIES.iloc[::-1], posterior=source, samples=10_000, seed=0)
    pd.testing.assert_frame_equal(shuffled.loc[answers.index], answers)
    alone = estimate_many(QUERIES.iloc[[3]], posterior=source, samples=10_000, seed=0)
    pd.testing.assert_frame_equal(alone, answers.iloc[[3]])
    other_seed = estimate_many(QUERIES.iloc[[3]], posterior=source, samples=10_000, seed=1)
    assert other_seed.loc[3, "median"] != answers.loc[3, "median"]


def test_per_token_answers_are_joules_per_output_token(source):
    q = QUERIES.iloc[[0]]
    wh = estimate_many(q, posterior=source, seed=0)
    j = estimate_many(q, posterior=source, seed=0, per="token")
    assert j.loc[0, "unit"] == "J/token"
    assert j.loc[0, "median"] == pytest.approx(wh.loc[0, "median"] * 3600.0 / 300.0, rel=1e-5)


def test_totals_sum_posterior_draws_not_quantiles(source):
    """Two copies of a query total exactly twice it, draw by draw; a total of different queries has a narrower
    interval than the sum of their intervals (their uncertainties are not perfectly aligned)."""
    rows = estimate_many(QUERIES.iloc[[0]], posterior=source)
    totals = energy_totals(QUERIES.iloc[[0, 0]].reset_index(drop=True), posterior=source)
    assert totals.loc["all", "queries"] == 2 and totals.loc["all", "unit"] == "Wh"
    for k in ("median", "p05", "p95", "mean"):
        assert totals.loc["all", k] == pytest.approx(2.0 * rows.loc[0, k], rel=1e-5)
    mixed = energy_totals(QUERIES, by="model", posterior=source)
    assert set(mixed.index) == set(QUERIES["model"]) and mixed["queries"].sum() == len(QUERIES)
    all_rows = estimate_many(QUERIES, posterior=source)
    for model, group in all_rows.groupby(QUERIES["model"]):
        total = mixed.loc[model]
        assert total["mean"] == pytest.approx(group["mean"].sum(), rel=2e-3)
        if len(group) > 1:
            assert total["p95"] - total["p05"] < (group["p95"] - group["p05"]).sum()


def test_bad_batches_are_refused_with_the_rows_at_fault(source):
    with pytest.raises(ValueError, match=r"unknown query column\(s\) 'gpus'; the columns are model, "):
        estimate_many(QUERIES.rename(columns={"gpu": "gpus"}), posterior=source)
    with pytest.raises(ValueError, match=r"each query needs a model"):
        estimate_many(QUERIES[["gpu", "input_tokens"]], posterior=source)
    bad = QUERIES.assign(output_tokens=[300.0, -5.0, 1.0, 2.0, "many"])
    with pytest.raises(ValueError, match=r"output_tokens must be a number >= 1 \(or empty, to draw it\); rows 1, 4"):
        estimate_many(bad, posterior=source)
    with pytest.raises(ValueError, match=r"rows 2: unknown model 'Llama 9'"):
        estimate_many(QUERIES.assign(model=["Llama 3.1 405B", "Llama 3.1 70B", "Llama 9", "DeepSeek-R1",
                                            "Llama 3.1 70B"]), posterior=source)
    with pytest.raises(ValueError, match=r"row 0 \(the longest of 1 such queries\): the query holds 10,000,300 "):
        estimate_many(QUERIES.iloc[[0]].assign(input_tokens=1e7), posterior=source)
    with pytest.raises(TypeError, match=r"queries must be a pandas \(or Dask\) DataFrame"):
        estimate_many([{"model": "Llama 3.1 70B"}], posterior=source)
    with pytest.raises(ValueError, match=r"group column\(s\) 'day' not among the queries' columns"):
        energy_totals(QUERIES, by="day", posterior=source)


@pytest.mark.filterwarnings("ignore:The inplace keyword")  # Dask's Parquet reader on pandas 3.1
def test_per_partition_on_a_dask_cluster_gives_the_single_frame_answers(tmp_path, answers):
    """A request log as a Parquet dataset of 3 partitions, on a local Dask cluster: every row's answer as for one
    frame, and each group's total adds each draw over all partitions."""
    dd = pytest.importorskip("dask.dataframe")
    distributed = pytest.importorskip("distributed")
    dd.from_pandas(QUERIES, npartitions=3).to_parquet(tmp_path / "log")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster, \
            distributed.Client(cluster):
        log = dd.read_parquet(tmp_path / "log")
        assert log.npartitions == 3
        rows = estimate_many(log, samples=10_000, seed=0).compute()
        totals = energy_totals(log, by="model", seed=0)
    pd.testing.assert_frame_equal(rows.sort_index(), answers, check_dtype=False)
    expected = energy_totals(QUERIES, by="model", seed=0)
    pd.testing.assert_frame_equal(totals.sort_index(), expected.sort_index(), check_dtype=False,
                                  check_index_type=False, rtol=1e-9)


def test_the_command_line_answers_a_csv_of_queries(tmp_path, answers):
    path = tmp_path / "queries.csv"
    QUERIES.to_csv(path, index=False)
    out = tmp_path / "answers.csv"
    done = subprocess.run([sys.executable, "-m", "infergy", "estimate", "--batch", str(path), "--batch-out", str(out)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{len(QUERIES)} answers written to {out}"
    table = pd.read_csv(out)
    assert list(table.columns) == list(QUERIES.columns) + list(answers.columns)
    np.testing.assert_allclose(table["median"], answers["median"], rtol=1e-5)
    done = subprocess.run([sys.executable, "-m", "infergy", "estimate", "--batch", str(path), "--json"],
                          capture_output=True, text=True)
    records = json.loads(done.stdout)
    assert len(records) == len(QUERIES) and records[1]["model"] == "Llama 3.1 70B"
    done = subprocess.run([sys.executable, "-m", "infergy", "estimate", "--batch", str(path), "--model", "Llama 3.1 70B"],
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert "--batch reads each query from its row: give --model as columns of the file" in done.stderr
    done = subprocess.run([sys.executable, "-m", "infergy", "estimate", "--batch", str(tmp_path / "none.csv")],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "--batch " in done.stderr and "no such file" in done.stderr


def test_a_posterior_source_resolves_a_repeated_query_once(source):
    """What a server or a notebook asks again skips resolving the query, and gets the same answer."""
    from infergy.analysis.estimate import PREPARED_KEPT
    from infergy.analysis.predict import QuerySpec

    spec = QuerySpec(model="Llama 3.1 70B", gpu="H100", input_tokens=640.0)
    arrays, meta = source.prepare(spec, 3)
    again, meta_again = source.prepare(spec, 3)
    assert again is arrays and meta_again == meta and meta_again is not meta
    meta_again["extreme"].append("a caller's own note")
    assert "a caller's own note" not in source.prepare(spec, 3)[1]["extreme"]
    first = estimate(spec=spec, posterior=source, samples=20_000, seed=3)
    assert estimate(spec=spec, posterior=source, samples=20_000, seed=3).value == first.value
    for i in range(PREPARED_KEPT + 1):
        source.prepare(QuerySpec(model="Llama 3.1 70B", gpu="H100", input_tokens=100.0 + i), 0)
    assert len(source._prepared) == PREPARED_KEPT and (spec, 3) not in source._prepared
