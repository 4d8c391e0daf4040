"""The data layer: curated tables, validation messages, users' rows, content hash, data card."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import infergy.data as d
from infergy.data import DataValidationError, data_path, file_sha256, load, load_paper_throughput, validate_file
from infergy.data.tables import USER_TABLES

TEMPLATES = data_path("templates")


@pytest.fixture(scope="module")
def bundle():
    return load()


def test_every_table_loads_typed_with_provenance(bundle):
    assert bundle.version == d.DATA_VERSION
    assert re.fullmatch(r"[0-9a-f]{64}", bundle.content_hash)
    assert set(bundle.tables) == set(d.SCHEMAS)
    for name, df in bundle.tables.items():
        if name in USER_TABLES:  # none shipped: users bring theirs
            assert len(df) == 0 and list(df.columns) == d.SCHEMAS[name].column_names, name
            continue
        assert len(df) > 0, name
        provenance = "params_source" if name == "models" else "source"
        assert df[provenance].notna().all(), name
    thr = bundle.throughput
    assert thr["output_tok_s_per_gpu"].dtype == "float64" and thr["moe"].dtype == "boolean"
    assert (thr["output_tok_s_per_gpu"] > 0).all()
    assert set(thr["gpu"]) <= d.GPU_IDS
    assert set(bundle.gpu_energy["boundary"]) == {"gpu"}


def test_total_and_per_gpu_tables_normalise_consistently(bundle):
    t = bundle.throughput
    cell = t[(t["model"] == "Llama 3.3 70B") & (t["gpu"] == "H100-SXM-80GB") & (t["n_gpus"] == 2)
             & (t["isl"] == 1000) & (t["osl"] == 1000) & (t["quality_flags"].isna())]
    v10 = cell[cell["engine_version"] == "1.0"].iloc[0]
    v11 = cell[cell["engine_version"] == "1.1"].iloc[0]
    # v1.0 printed 4,205 tok/s for the pair of GPUs; v1.1 printed 2,209 tok/s per GPU
    assert (v10["metric_reported"], v10["value_reported"]) == ("total output tok/s (all GPUs)", 4205.0)
    assert (v11["metric_reported"], v11["value_reported"]) == ("output tok/s per GPU", 2209.0)
    assert v10["output_tok_s_per_gpu"] == pytest.approx(2102.5)
    assert v11["output_tok_s_total"] == pytest.approx(4418.0)
    assert v11["output_tok_s_per_gpu"] / v10["output_tok_s_per_gpu"] == pytest.approx(1.0, abs=0.06)


def test_known_traps_are_flagged_not_dropped(bundle):
    t = bundle.throughput
    flags = t["quality_flags"].fillna("")
    assert flags.str.contains("superseded_revision").sum() == 342  # 0.20 and 1.1-era earlier revisions
    assert flags.str.contains("anomalous_cell").sum() == 2
    gptj = t[(t["model"] == "GPT-J 6B") & (t["engine_version"] == "0.10.0") & (t["osl"] == 2048)
             & (t["isl"] == 128) & (t["gpu"] == "H100-SXM-80GB") & (t["precision"] == "fp8")]
    assert gptj["output_tok_s_total"].tolist() == [54939.48]
    assert "anomalous_cell" in gptj["quality_flags"].iloc[0]
    # GPU label variants resolve to one id; unstated variants are marked
    assert set(t.loc[t["gpu_label_raw"].astype(str).str.startswith("GH200"), "gpu"]) == {"GH200-120GB", "GH200-96GB"}
    assumed = t[t["gpu_assumed"].fillna(False).astype(bool)]
    assert set(assumed["source_table"]) == {"trtllm_perf_overview", "mlenergy_v1"}
    assert set(assumed.loc[assumed["source_table"] == "trtllm_perf_overview", "engine_version"]) == {"0.6.1", "0.8.0", "0.9.0"}
    static = t[t["load_regime"] == "static_batch"]
    assert static["batch_size"].notna().mean() > 0.9
    # the paper's rows that repeat TensorRT-LLM cells point at them
    paper = t[t["source_table"] == "paper_table"]
    assert paper["quality_flags"].fillna("").str.contains("duplicate_of:trtllm_perf_overview").sum() == 15


def test_production_boundaries_and_kinds(bundle):
    p = bundle.production.set_index("id")
    assert (p.loc["PQ-001", ["wh_per_query", "statistic", "boundary", "kind"]].tolist()
            == [0.24, "median", "facility+idle", "measurement"])
    assert p.loc["PQ-002", "boundary"] == "gpu" and p.loc["PQ-002", "wh_per_query"] == 0.10
    assert p.loc["PQ-011", ["wh_per_query", "statistic", "boundary"]].tolist() == [0.34, "mean", "undisclosed"]
    assert p.loc["PQ-100", "boundary"] == "gpu"  # AI Energy Score: NVML GPU energy
    assert p.loc["PQ-100", "wh_per_query"] == pytest.approx(1.71966)  # 1719.66 Wh per 1,000 queries
    assert p.loc["PQ-032", ["input_tokens", "output_tokens"]].tolist() == [100.0, 300.0]
    assert p.loc["PQ-120", "kind"] == "estimate"
    assert not p.index.isin(["PQ-007", "PQ-087", "PQ-092"]).any()  # emissions, web search, image task


def test_pue_scopes(bundle):
    pue = bundle.pue
    hyperscale_fleet = pue[(pue["scope"] == "fleet") & (pue["kind"] == "reported") & pue["hyperscale"]]
    assert 1.05 <= hyperscale_fleet["pue"].min() and hyperscale_fleet["pue"].max() <= 1.2
    industry = pue[(pue["operator"] == "Uptime Institute survey")]
    assert sorted(industry["year"].tolist()) == [2021, 2022, 2023, 2024, 2025]
    assert (industry["pue"] > 1.5).all()


def test_models_table_sizes(bundle):
    m = bundle.models.set_index("model")
    assert m.loc["DeepSeek-R1", ["total_params_b", "active_params_b", "moe"]].tolist() == [671.0, 37.0, True]
    assert m.loc["Llama 3.1 Nemotron Ultra 253B", "total_params_b"] == 253.0
    assert "meta-llama/Llama-3.1-70B-Instruct" in m.loc["Llama 3.1 70B", "aliases"]
    assert set(bundle.throughput["model"]) <= set(m.index)


def test_accounting_balances(bundle):
    acc = pd.read_csv(data_path("accounting.csv"))
    for (table, src), g in acc.groupby(["table", "source_file"]):
        assert g["rows_in"].sum() == g["rows_out"].sum() + g["dropped"].sum(), (table, src)
        assert (g["dropped"].eq(0) | g["reason"].notna()).all()
    out = acc.groupby("table")["rows_out"].sum()
    for table in ("throughput", "gpu_energy", "production", "pue", "token_lengths"):
        assert out[table] == len(bundle.tables[table]), table


def test_data_card_counts_match_the_data(bundle):
    card = data_path("README.md").read_text()
    for name, df in bundle.tables.items():
        m = re.search(rf"^\| `{name}` \| ([\d,]+) \|", card, re.M)
        assert m, f"table {name} missing from the data card"
        assert int(m.group(1).replace(",", "")) == len(df), name
    flags = bundle.throughput["quality_flags"].fillna("").str.split(";").apply(
        lambda fs: {f.split(":")[0] for f in fs if f})
    flag_section = card.split("## Quality flags")[1].split("\n## ")[0]
    for flag, n in re.findall(r"^\| `([a-z0-9_.]+)[^`]*` \| (\d+) \|", flag_section, re.M):
        assert flags.apply(lambda s: flag in s).sum() == int(n), flag


# --- validation messages: one broken CSV per rule ----------------------------------------------------------------

def _broken(tmp_path: Path, template: str, edit) -> Path:
    df = pd.read_csv(TEMPLATES / f"{template}.csv", dtype=str, keep_default_na=False)
    df = edit(pd.concat([df, df], ignore_index=True))  # two rows: the template's and the one to break
    path = tmp_path / "broken.csv"
    df.to_csv(path, index=False)
    return path


def _set(col, value, row=1):
    def edit(df):
        df.loc[row, col] = value
        return df
    return edit


@pytest.mark.parametrize(
    "template,edit,message",
    [
        ("throughput", lambda df: df.drop(columns=["output_tok_s_total"]),
         "broken.csv: missing column(s) ['output_tok_s_total'] required by table 'throughput'"),
        ("throughput", _set("output_tok_s_per_gpu", "fast"),
         "broken.csv: row 2 (line 3), column 'output_tok_s_per_gpu': 'fast' is not a number"),
        ("throughput", _set("output_tok_s_total", "-5"),
         "broken.csv: row 2 (line 3), column 'output_tok_s_total': -5 must be > 0"),
        ("throughput", _set("osl", ""), "broken.csv: row 2 (line 3), column 'osl': value is missing (required)"),
        ("throughput", _set("source", ""), "broken.csv: row 2 (line 3), column 'source': value is missing (required)"),
        ("throughput", _set("precision", "int3"),
         "broken.csv: row 2 (line 3), column 'precision': 'int3' is not one of ['bf16', 'fp16', 'fp4', 'fp8', "
         "'mixed', 'unknown']"),
        ("throughput", _set("gpu", "H100 80GB HBM3"), "did you mean 'H100-SXM-80GB'?"),
        ("throughput", _set("output_tok_s_total", "inf"),
         "broken.csv: row 2 (line 3), column 'output_tok_s_total': inf is not finite"),
        ("throughput", _set("n_gpus", "2.5"), "broken.csv: row 2 (line 3), column 'n_gpus': '2.5' is not an integer"),
        ("throughput", _set("moe", "maybe"), "broken.csv: row 2 (line 3), column 'moe': 'maybe' is not true/false"),
        ("throughput", _set("active_params_b", "90"),
         "broken.csv: row 2 (line 3), column 'active_params_b': active parameters exceed total parameters"),
        ("throughput", _set("output_tok_s_per_gpu", "2000"),
         "broken.csv: row 2 (line 3), column 'output_tok_s_per_gpu': output_tok_s_per_gpu x n_gpus differs from "
         "output_tok_s_total by > 0.5%"),
        ("gpu_energy", _set("energy_per_request_j", "500"),
         "broken.csv: row 2 (line 3), column 'energy_per_request_j': energy_per_request_j differs from "
         "energy_per_token_j x avg_output_tokens by > 1%"),
        ("gpu_energy", _set("boundary", "node"),
         "broken.csv: row 2 (line 3), column 'boundary': 'node' is not one of ['gpu']"),
        ("pue", _set("pue", "0.95"), "broken.csv: row 2 (line 3), column 'pue': 0.95 must be >= 1"),
        ("pue", _set("pue", "3.4"), "broken.csv: row 2 (line 3), column 'pue': 3.4 must be <= 3"),
        ("pue", lambda df: df, "broken.csv: row 2 (line 3), column 'id': 'USER-PUE-001' repeats an earlier row"),
        ("production", _set("boundary", "datacenter"),
         "broken.csv: row 2 (line 3), column 'boundary': 'datacenter' is not one of"),
        ("production", lambda df: _set("id", "USER-002")(_set("wh_per_query", "")(df)),
         "broken.csv: row 2 (line 3), column 'wh_per_query': no value: give wh_per_query"),
    ],
)
def test_each_rule_gives_one_line_naming_file_row_column(tmp_path, template, edit, message):
    with pytest.raises(DataValidationError) as err:
        validate_file(_broken(tmp_path, template, edit), template)
    assert message in str(err.value)
    assert len(err.value.problems) == 1, err.value.problems
    assert all(line.startswith("broken.csv: ") for line in err.value.problems)


def test_cross_table_rule_power_above_tdp(tmp_path):
    df = pd.read_csv(TEMPLATES / "gpu_energy.csv", dtype=str, keep_default_na=False)
    df[["avg_power_w_per_gpu", "avg_power_w_total"]] = ["900", "3600"]  # H100 SXM TDP is 700 W
    path = tmp_path / "hot.csv"
    df.to_csv(path, index=False)
    validate_file(path)  # fine on its own
    with pytest.raises(DataValidationError, match=r"gpu_energy.csv \+ hot.csv: row 1117 \(line 1118\), column "
                       r"'avg_power_w_per_gpu': 900 W exceeds 1.1 x the 700 W TDP of H100-SXM-80GB"):
        load(extra=[path])


def test_unreadable_unknown_and_missing_files(tmp_path):
    with pytest.raises(DataValidationError, match="nope.csv: file not found"):
        validate_file(tmp_path / "nope.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataValidationError, match="empty.csv: not a readable CSV table"):
        validate_file(empty)
    odd = tmp_path / "odd.csv"
    odd.write_text("a,b\n1,2\n")
    with pytest.raises(DataValidationError, match=r"odd.csv: columns match no table; closest is"):
        validate_file(odd)
    with pytest.raises(DataValidationError, match=r"unknown table 'thruput'; tables: throughput"):
        validate_file(odd, "thruput")


def test_paper_table_is_complete_with_provenance():
    t = load_paper_throughput()
    assert len(t) == 25
    assert (t["precision"] == "FP8").sum() == 22 and (t["precision"] == "FP16").sum() == 3
    assert t["source_row"].tolist() == list(range(1, 26))
    r1 = t[(t["model"] == "DeepSeek-R1") & (t["gpu"] == "H200-SXM-141GB")]
    assert sorted(r1["tokens_per_s_node"]) == [378.0, 1300.0]


# --- users' rows, hash -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("table", ["throughput", "gpu_energy", "production", "pue"])
def test_templates_validate_and_round_trip(tmp_path, bundle, table):
    name, df = validate_file(TEMPLATES / f"{table}.csv")
    assert name == table and len(df) == 1
    merged = load(extra=[TEMPLATES / f"{table}.csv"])
    assert len(merged.tables[table]) == len(bundle.tables[table]) + 1
    added = merged.tables[table].iloc[-1]
    assert added["source"].startswith("example:")
    # write the validated rows back out and read them again: identical values
    out = tmp_path / f"{table}.csv"
    df.to_csv(out, index=False)
    _, again = validate_file(out, table)
    pd.testing.assert_frame_equal(df.reset_index(drop=True), again.reset_index(drop=True), check_dtype=False)
    assert merged.content_hash != bundle.content_hash


def test_hash_changes_with_content_and_only_with_content(tmp_path, bundle):
    copy = tmp_path / "data"
    shutil.copytree(data_path(""), copy, ignore=shutil.ignore_patterns("*.py", "__pycache__", "templates"))
    assert load(data_dir=copy).content_hash == bundle.content_hash == load().content_hash
    p = copy / "pue.csv"
    p.write_bytes(p.read_bytes().replace(b"1.09", b"1.08", 1))
    changed = load(data_dir=copy)
    assert changed.content_hash != bundle.content_hash
    assert file_sha256(p) != file_sha256(data_path("pue.csv"))


def test_cli_validate_and_summary(tmp_path):
    run = lambda *a: subprocess.run([sys.executable, "-m", "infergy", "data", *a], capture_output=True, text=True)
    ok = run("validate", str(TEMPLATES / "pue.csv"))
    assert ok.returncode == 0 and "valid 'pue' table, 1 row" in ok.stdout
    bad = tmp_path / "bad.csv"
    df = pd.read_csv(TEMPLATES / "pue.csv")
    df["pue"] = 0.5
    df.to_csv(bad, index=False)
    res = run("validate", str(bad))
    assert res.returncode == 1 and "INVALID (1 problem)" in res.stdout and "0.5 must be >= 1" in res.stdout
    assert "Traceback" not in res.stdout + res.stderr
    summary = run("summary", "--data-add", str(TEMPLATES / "throughput.csv"))
    assert summary.returncode == 0, summary.stderr
    assert re.search(r"^throughput\s+6079$", summary.stdout, re.M)
    assert "H100-SXM-80GB" in summary.stdout and "trtllm_perf_overview" in summary.stdout
    failing = run("summary", "--data-add", str(bad))
    assert failing.returncode == 1 and "0.5 must be >= 1" in failing.stderr


def test_precision_support_is_read_from_the_hardware_table():
    """A GPU supports a precision where the hardware table has its dense throughput; the FP4 lever keeps a GPU
    with FP4 and moves any other to the fallback GPU."""
    from dataclasses import replace

    from infergy.analysis.pathways import FP4_FALLBACK_GPU, LEVERS
    from infergy.analysis.predict import QuerySpec
    from infergy.data.vocab import PRECISION_TABLE, SERVABLE_PRECISIONS, gpus_supporting

    bundle = d.load()
    hw = bundle.hardware[bundle.hardware["kind"] == "gpu"]
    fp4 = gpus_supporting(bundle.hardware, "fp4")
    assert fp4 == set(hw.loc[hw["fp4_dense_tflops"].notna(), "gpu"])
    assert {"B200", "GB200", "B300", "GB300", "MI355X", "RTX-PRO-6000-SE"} <= fp4
    assert not fp4 & {"H100-SXM-80GB", "A100-SXM4-80GB", "MI300X"}
    assert gpus_supporting(bundle.hardware, "mixed") == frozenset()
    lever = LEVERS["fp4"]
    for gpu in ("MI355X", "H100-SXM-80GB"):
        changed = lever.change(QuerySpec(gpu=gpu), bundle)
        assert changed.precision == "fp4" and changed.gpu == (gpu if gpu in fp4 else FP4_FALLBACK_GPU)
    # a GPU added to the table with an FP4 figure gains FP4 without code
    new = hw[hw["gpu"] == "H100-SXM-80GB"].assign(gpu="NEW-GPU", id="NEW-GPU", fp4_dense_tflops=4000.0)
    added = d.DataBundle(tables={**bundle.tables, "hardware": pd.concat([bundle.hardware, new])},
                         version=bundle.version, content_hash="x" * 64)
    assert lever.change(replace(QuerySpec(), gpu="NEW-GPU"), added).gpu == "NEW-GPU"
    from infergy.data.vocab import runnable_precision

    hw_all = bundle.hardware
    assert [runnable_precision(hw_all, "A100-SXM4-80GB", p) for p in SERVABLE_PRECISIONS] == ["bf16", "bf16",
                                                                                              "bf16", "fp16"]
    assert [runnable_precision(hw_all, "H100-SXM-80GB", p) for p in SERVABLE_PRECISIONS] == ["fp8", "fp8", "bf16",
                                                                                             "fp16"]
    assert runnable_precision(hw_all, "MI300X", "fp8") == "fp8" and runnable_precision(hw_all, "B200", "fp4") == "fp4"
    assert runnable_precision(hw_all, "V100", "fp8") == "fp8"  # no figures at all: the request is taken as given
    assert SERVABLE_PRECISIONS == ("fp4", "fp8", "bf16", "fp16")
    assert all(PRECISION_TABLE[p].weight_bytes > 0 for p in SERVABLE_PRECISIONS)


def test_one_extra_file_may_be_given_as_a_single_path():
    """`load_data(extra="file.csv")` reads that file (it used to iterate over the characters of the name)."""
    from infergy.data import data_path, load

    pue = data_path("templates") / "pue.csv"
    one, many = load(extra=str(pue)), load(extra=[pue])
    assert one.content_hash == many.content_hash != load().content_hash
    assert load(extra=None).content_hash == load().content_hash


@pytest.mark.parametrize("header_end, row_end, message", [
    (",gpu", ",H100", "column 'gpu' appears 2 times in the header; keep one"),
    (",", ",", "header column {blank} has no name"),
])
@pytest.mark.parametrize("table", ["gpu_energy", None])  # named, or inferred from the header
def test_a_header_with_a_column_twice_or_unnamed_is_refused(tmp_path, header_end, row_end, message, table):
    """pandas renames a repeated column `gpu.1`: the second would be dropped unseen. Both files are refused."""
    lines = (data_path("templates") / "gpu_energy.csv").read_text().splitlines()
    message = message.format(blank=len(lines[0].split(",")) + 1)
    path = tmp_path / "gpu_energy.csv"
    path.write_text("\n".join([lines[0] + header_end] + [line + row_end for line in lines[1:]]) + "\n")
    with pytest.raises(DataValidationError, match=re.escape(message)):
        validate_file(path, table)


@pytest.mark.parametrize("table", ["pue", None])
def test_a_directory_given_as_a_table_is_refused(tmp_path, table):
    (tmp_path / "rows.csv").mkdir()
    with pytest.raises(DataValidationError, match="is a directory, not a CSV file"):
        validate_file(tmp_path / "rows.csv", table)


@pytest.mark.parametrize("cell, message", [
    ("=HYPERLINK(\"http://x\")", "starts with '=', which a spreadsheet would run as a formula"),
    ("@SUM(A1:A9)", "starts with '@', which a spreadsheet would run as a formula"),
    ("+cmd|' /C calc'!A0", "starts with '+', which a spreadsheet would run as a formula"),
    ("-2+3+cmd|' /C calc'!A0", "starts with '-', which a spreadsheet would run as a formula"),
    ("x" * 10_001, "a cell of 10,001 characters (at most 10,000)"),
])
def test_a_formula_or_an_oversized_cell_is_refused(tmp_path, cell, message):
    """A text cell a spreadsheet would evaluate, or one longer than 10 kB, is refused with its row and column, so
    no table written back out carries a formula; a plain signed number is no formula (it is read as a number)."""
    import csv

    rows = list(csv.reader((data_path("templates") / "pue.csv").read_text().splitlines()))
    rows[1][rows[0].index("notes")] = cell
    path = tmp_path / "pue_rows.csv"
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    with pytest.raises(DataValidationError, match=re.escape("row 1 (line 2), column 'notes': ") + ".*"
                       + re.escape(message)):
        validate_file(path)
    rows[1][rows[0].index("notes")] = "-5"
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    assert validate_file(path)[0] == "pue"
