"""The paper's throughput table as package data, and the validator's messages."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from infergy.data import DataValidationError, data_path, file_sha256, load_paper_throughput


def test_paper_table_is_complete_with_provenance():
    t = load_paper_throughput()
    assert len(t) == 25
    assert (t["precision"] == "FP8").sum() == 22 and (t["precision"] == "FP16").sum() == 3
    assert t["source_row"].tolist() == list(range(1, 26))
    assert t["source_file"].str.contains("model_throughput_DB.csv").all()
    assert t["source"].notna().all()
    assert t["tokens_per_s_node"].gt(0).all()
    r1 = t[(t["model"] == "DeepSeek-R1") & (t["gpu"] == "H200 SXM 141GB")]
    assert sorted(r1["tokens_per_s_node"]) == [378.0, 1300.0]
    assert t.loc[t["model"] == "Llama 3.1 405B", "osl"].notna().all()


def _broken(tmp_path: Path, edit) -> Path:
    df = pd.read_csv(data_path("paper_throughput.csv"), dtype=str, keep_default_na=False)
    df = edit(df)
    path = tmp_path / "broken.csv"
    df.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    "edit,message",
    [
        (lambda d: d.drop(columns=["tokens_per_s_node"]),
         "broken.csv: missing column(s) ['tokens_per_s_node'] required by table 'paper_throughput'"),
        (lambda d: d.assign(tokens_per_s_node=d["tokens_per_s_node"].where(d.index != 4, "-5")),
         "broken.csv: row 5 (line 6), column 'tokens_per_s_node': -5 must be > 0"),
        (lambda d: d.assign(tokens_per_s_node=d["tokens_per_s_node"].where(d.index != 0, "fast")),
         "broken.csv: row 1 (line 2), column 'tokens_per_s_node': 'fast' is not a number"),
        (lambda d: d.assign(osl=d["osl"].where(d.index != 2, "")),
         "broken.csv: row 3 (line 4), column 'osl': value is missing (required)"),
        (lambda d: d.assign(precision=d["precision"].where(d.index != 7, "INT3")),
         "broken.csv: row 8 (line 9), column 'precision': 'INT3' is not one of ['BF16', 'FP16', 'FP4', 'FP8']"),
        (lambda d: d.assign(tokens_per_s_node=d["tokens_per_s_node"].where(d.index != 9, "inf")),
         "broken.csv: row 10 (line 11), column 'tokens_per_s_node': inf is not finite"),
        (lambda d: d.assign(tokens_per_s_node=d["tokens_per_s_node"].where(d.index != 9, "NaN")),
         "broken.csv: row 10 (line 11), column 'tokens_per_s_node': 'NaN' is not a number"),
        (lambda d: d.assign(source=d["source"].where(d.index != 3, "")),
         "broken.csv: row 4 (line 5), column 'source': value is missing (required)"),
        (lambda d: d.assign(tp=d["tp"].where(d.index != 1, "2.5")),
         "broken.csv: row 2 (line 3), column 'tp': '2.5' is not an integer"),
    ],
)
def test_each_rule_names_file_row_column(tmp_path, edit, message):
    with pytest.raises(DataValidationError) as err:
        load_paper_throughput(_broken(tmp_path, edit))
    assert message in str(err.value)
    assert len(err.value.problems) == 1


def test_unreadable_and_missing_files(tmp_path):
    with pytest.raises(DataValidationError, match="nope.csv: file not found"):
        load_paper_throughput(tmp_path / "nope.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataValidationError, match="empty.csv: not a readable CSV table"):
        load_paper_throughput(empty)


def test_hash_tracks_content(tmp_path):
    src = data_path("paper_throughput.csv")
    copy = tmp_path / "copy.csv"
    copy.write_bytes(src.read_bytes())
    assert file_sha256(copy) == file_sha256(src)
    copy.write_bytes(src.read_bytes().replace(b"3732.4", b"3732.5"))
    assert file_sha256(copy) != file_sha256(src)
