"""An operator's power telemetry: validated interval by interval (bad input is one line per problem with its row,
exit 1, nothing written), and every interval that states its load enters the throughput and power likelihoods."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from infergy.data import DataValidationError, data_path, load, validate_file
from infergy.model.joint import build_design
from infergy.model.telemetry import telemetry_power_rows, telemetry_throughput_rows
from infergy.model.usage import added_row_usage

DAY = data_path("templates") / "telemetry_example_day.csv"


def _cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "infergy", *args], capture_output=True, text=True, timeout=300,
                          cwd=cwd)


@pytest.fixture(scope="module")
def day() -> pd.DataFrame:
    return pd.read_csv(DAY, dtype=str, keep_default_na=False)


def test_the_example_day_is_one_deployment_back_to_back_and_each_interval_enters_both_likelihoods():
    table, rows = validate_file(DAY)
    assert table == "telemetry" and len(rows) == 288
    assert (rows["source"].str.startswith("example:")).all()  # made up, and says so
    shipped, mine = load(), load(extra=[DAY])
    before, after = build_design(shipped).n_rows, build_design(mine).n_rows
    assert after["tp_obs"] - before["tp_obs"] == 288 and after["pw_obs"] - before["pw_obs"] == 288
    usage = added_row_usage(mine, [("telemetry", 288)])[0]
    assert (usage["site"] == "tp_obs, pw_obs").all() and (usage["reason"] == "").all()


def test_an_interval_becomes_the_rows_its_counters_state(day):
    _, t = validate_file(DAY)
    hw = load().tables["hardware"]
    tp, pw = telemetry_throughput_rows(t, hw), telemetry_power_rows(t, hw)
    first = t.iloc[0]
    assert tp["output_tok_s_total"].iloc[0] == pytest.approx(first["output_tokens"] / 300.0)
    assert tp["output_tok_s_per_gpu"].iloc[0] == pytest.approx(first["output_tokens"] / 300.0 / 8)
    assert tp["isl"].iloc[0] == pytest.approx(first["input_tokens"] / first["requests"])
    assert tp["osl"].iloc[0] == pytest.approx(first["output_tokens"] / first["requests"])
    assert tp["batch_size"].iloc[0] == first["mean_concurrency"] and tp["load_regime"].iloc[0] == "batch_size"
    assert (tp["tp"] == 8).all() and (tp["source_table"] == "telemetry:Example Co (made up)").all()
    assert pw["avg_power_w_per_gpu"].iloc[0] == pytest.approx(first["energy_wh"] * 3600.0 / 300.0 / 8)
    assert (pw["batch_size"] == t["mean_concurrency"]).all()


def _write(tmp_path, rows: pd.DataFrame, name: str = "mine.csv") -> str:
    path = tmp_path / name
    rows.to_csv(path, index=False)
    return str(path)


def _problems(path: str) -> list[str]:
    with pytest.raises(DataValidationError) as exc:
        load(extra=[path])
    return exc.value.problems


def test_bad_values_are_one_line_each_with_their_row(tmp_path, day):
    rows = day.head(4).copy()
    rows.loc[0, "gpu"] = "H1000"
    rows.loc[1, "energy_wh"] = "-5"
    problems = _problems(_write(tmp_path, rows))
    assert len(problems) == 2, problems
    assert "row 1 (line 2), column 'gpu': 'H1000' is not one of" in problems[0]
    assert "row 2 (line 3), column 'energy_wh': -5 must be >= 0" in problems[1]


def test_gaps_overlaps_and_tokens_without_requests_are_named(tmp_path, day):
    rows = day.head(6).copy()
    rows.loc[1, ["requests"]] = "0"
    rows.loc[4, "start"] = rows.loc[5, "start"]  # interval 5 starts late (a gap) where interval 6 starts (an overlap)
    problems = _problems(_write(tmp_path, rows))
    assert len(problems) == 3, problems
    assert "row 2 (line 3), column 'requests': tokens but no requests" in problems[0]
    assert "row 5 (line 6), column 'start': a gap before this interval" in problems[1]
    assert "row 6 (line 7), column 'start': overlaps the previous interval" in problems[2]


def test_power_above_what_the_gpus_can_draw_is_refused(tmp_path, day):
    rows = day.head(3).copy()
    rows.loc[2, "energy_wh"] = ""
    rows.loc[2, "mean_power_w"] = "9000"  # 8 x 700 W x 1.5 = 8,400 W at the GPUs
    problems = _problems(_write(tmp_path, rows))
    assert len(problems) == 1, problems
    assert "row 3 (line 4), column 'mean_power_w': 9,000 W on average exceeds 1.5 x the TDP of 8 x H100-SXM-80GB " \
           "(8,400 W)" in problems[0]
    rows.loc[2, "boundary"] = "node"  # a node's hosts may add up to 1.1x its GPUs' TDP
    load(extra=[_write(tmp_path, rows, "node.csv")])


def test_bad_telemetry_exits_1_and_writes_nothing(tmp_path, day):
    rows = day.head(3).copy()
    rows.loc[1, "requests"] = "0"
    bad = _write(tmp_path, rows)
    out = _cli("data", "validate", bad)
    assert out.returncode == 1 and "row 2 (line 3), column 'requests': tokens but no requests" in out.stdout
    fitted = tmp_path / "mine.nc"
    fit = _cli("fit", "--data-add", bad, "--out", str(fitted), "--no-progress")
    assert fit.returncode == 1 and "tokens but no requests" in fit.stderr
    assert not fitted.exists()


def test_intervals_that_state_no_load_are_refused_with_the_reason(tmp_path, day):
    rows = day.head(3).copy()
    rows.loc[1, "mean_concurrency"] = ""
    rows.loc[2, ["boundary"]] = "facility"
    out = _cli("data", "validate", _write(tmp_path, rows))
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert "3 rows: 2 used by the fit, 1 not used" in lines[0]
    assert "row 2 (line 3): not used: not tp_obs: no mean_concurrency" in lines[2]
    assert "row 3 (line 4): used by the throughput likelihood" in lines[3]
    assert "not pw_obs: energy metered at the 'facility' boundary" in lines[3]
    bundle = load(extra=[_write(tmp_path, rows)])
    t, hw = bundle.tables["telemetry"], bundle.tables["hardware"]
    assert len(telemetry_throughput_rows(t, hw)) == 2 and len(telemetry_power_rows(t, hw)) == 1


def test_each_operators_telemetry_scatters_with_a_noise_scale_of_its_own():
    """One deployment's logs scatter far less than benchmarks gathered from many sources: an operator's rows get
    their own throughput and power noise scales, and the shipped data's model has none (its posterior stays valid)."""
    from numpyro import handlers

    from infergy.model.joint import infergy_model
    from infergy.model.throughput import NOISE_GROUPS

    shipped, mine = build_design(load()), build_design(load(extra=[DAY]))
    tp, pw = mine.throughput, mine.power
    telemetry_rows = tp.rows["source_table"].str.startswith("telemetry:").to_numpy()
    assert (np.asarray(tp.arrays.noise_idx)[telemetry_rows] == len(NOISE_GROUPS)).all()
    assert (np.asarray(tp.arrays.noise_idx)[~telemetry_rows] < len(NOISE_GROUPS)).all()
    assert np.asarray(pw.arrays.noise_idx).tolist() == [0] * 227 + [1] * 288
    assert mine.sizes["n_telemetry_operators"] == mine.sizes["n_power_telemetry"] == 1
    assert shipped.sizes["n_telemetry_operators"] == shipped.sizes["n_power_telemetry"] == 0

    def sites(design):
        with handlers.seed(rng_seed=0):
            trace = handlers.trace(infergy_model).get_trace(*design.inputs, **design.sizes)
        return {k: v["value"].shape for k, v in trace.items() if v["type"] == "sample"}

    mine_sites, shipped_sites = sites(mine), sites(shipped)
    assert mine_sites["tp_sigma_telemetry"] == (1,) and mine_sites["pw_sigma_telemetry"] == (1,)
    assert set(mine_sites) - set(shipped_sites) == {"tp_sigma_telemetry", "pw_sigma_telemetry"}
    assert mine_sites["tp_obs"] == (tp.n_rows,) and mine_sites["pw_obs"] == (pw.arrays.gpu_idx.shape[0],)


def test_an_operator_is_answered_with_its_own_engine_at_its_median_load():
    from infergy.model.telemetry import operator_setting

    telemetry = load(extra=[DAY]).tables["telemetry"]
    setups = ["trtllm-0.13", "vllm-telemetry:Example Co (made up)"]
    setup, load_ = operator_setting(telemetry, setups, "Example Co (made up)")
    assert setup == "vllm-telemetry:Example Co (made up)"
    assert load_ == pytest.approx(telemetry["mean_concurrency"].median())
    with pytest.raises(ValueError, match=r"no telemetry of operator 'Acme' in the data \(operators with telemetry: "
                                         r"Example Co \(made up\)"):
        operator_setting(telemetry, setups, "Acme")
    with pytest.raises(ValueError, match="the posterior was not fitted to Example Co \\(made up\\)'s telemetry"):
        operator_setting(telemetry, setups[:1], "Example Co (made up)")


def test_estimate_for_an_operator_says_what_is_missing(tmp_path):
    out = _cli("estimate", "--model", "Llama 3.1 70B", "--operator", "Acme")
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and len(lines) == 1, out.stderr
    assert lines[0].startswith("infergy: error: no telemetry or PUE rows of operator 'Acme' in the data (with "
                               "telemetry: none; with PUE rows: AWS, Google, Meta") and "--data-add" in lines[0]
    out = _cli("estimate", "--model", "Llama 3.1 70B", "--data-add", str(DAY), "--operator", "Example Co (made up)")
    assert out.returncode == 2 and "refit" in out.stderr  # the shipped posterior was not fitted to these rows


def test_an_operator_with_pue_rows_is_answered_at_its_own_pue():
    """Google's own fleet PUE (its rows: 1.09-1.10) instead of a new hyperscale operator's; the same draws
    otherwise, so the ratio of the two answers is the ratio of their PUEs."""
    from infergy.analysis.estimate import estimate

    spec = dict(model="Llama 3.1 70B", input_tokens=1000, output_tokens=300, samples=2000, seed=0)
    own, public = estimate(**spec, operator="Google"), estimate(**spec)
    assert own.inputs["pue"] == "Google's own fleet average (posterior)"
    assert 1.07 <= own.inputs["pue_median"] <= 1.12 < public.inputs["pue_median"]
    ratio = own.value["median"] / public.value["median"]
    assert ratio == pytest.approx(own.inputs["pue_median"] / public.inputs["pue_median"], rel=0.03)
