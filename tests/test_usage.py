"""No silent drops: every row is used by a likelihood or refused with a reason, and the report of it is the fit's
own selection (the design built from the same tables holds exactly the rows said to be used)."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from infergy.data import data_path, load
from infergy.model.joint import build_design
from infergy.model.usage import USED_BY, added_row_usage, row_usage, usage_lines

TEMPLATES = data_path("templates")
TABLES = ("throughput", "gpu_energy", "production", "pue")


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "infergy", *args], capture_output=True, text=True, timeout=300)


def _design_rows(design) -> dict[str, int]:
    return {**design.n_rows, "wl_requests": int(design.workload.count.sum())}


@pytest.fixture(scope="module")
def with_templates():
    return load(extra=[TEMPLATES / f"{t}.csv" for t in (*TABLES, "telemetry")])


def test_rows_said_to_be_used_are_the_rows_the_fit_reads(with_templates):
    """Shipped data plus the rows of each template (telemetry's enter two likelihoods): per likelihood, the rows
    ``row_usage`` marks used are the rows the design (what the likelihood reads) holds; every other row has a
    reason."""
    usage = row_usage(with_templates)
    rows = _design_rows(build_design(with_templates))
    sites = usage["site"].str.split(", ")
    for table, (site, _) in USED_BY.items():
        assert sites.apply(lambda s: site in s).sum() == rows[site], table
    assert (usage[usage["table"] == "telemetry"]["site"] == "tp_obs, pw_obs").sum() == 3
    assert ((usage["site"] != "") ^ (usage["reason"] != "")).all()  # used, or refused with a reason: never both
    assert set(usage["table"]) == set(with_templates.tables)


@pytest.mark.parametrize("table", TABLES)
def test_each_template_row_is_used_by_its_likelihood(with_templates, table):
    added = added_row_usage(with_templates, [(t, 1) for t in TABLES])[TABLES.index(table)]
    assert added["row"].tolist() == [1]
    assert added["site"].tolist() == [USED_BY[table][0]], added["reason"].tolist()


def _edited(tmp_path, table: str, **changes) -> str:
    df = pd.read_csv(TEMPLATES / f"{table}.csv", dtype=str, keep_default_na=False)
    row = df.iloc[0].to_dict()
    rows = [row] + [{**row, **change} for change in changes.values()]
    path = tmp_path / f"{table}.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return str(path)


def test_refused_rows_say_why_on_the_command_line(tmp_path):
    path = _edited(tmp_path, "gpu_energy", image={"task": "image-chat"}, nobatch={"batch_size": ""},
                   derived={"source_table": "mlenergy_v2"}, other={"source_table": "our_lab"})
    out = _cli("data", "validate", path)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert "5 rows: 1 used by the fit, 4 not used" in lines[0]
    assert lines[1].strip().startswith("row 1 (line 2): used by the GPU power likelihood")
    assert "row 2 (line 3): not used: task 'image-chat' is not text generation" in lines[2]
    assert "row 3 (line 4): not used: no batch_size" in lines[3]
    assert "row 4 (line 5): not used: ML.ENERGY v2's power is derived" in lines[4]
    assert "row 5 (line 6): not used: source_table 'our_lab'" in lines[5] and "'user'" in lines[5]


def test_a_refused_production_row_says_why(tmp_path):
    path = _edited(tmp_path, "production", estimate={"id": "USER-002", "kind": "estimate"},
                   lifecycle={"id": "USER-003", "boundary": "lifecycle"})
    out = _cli("data", "validate", path)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert "row 1 (line 2), USER-001: used by the production likelihood" in lines[1]
    assert lines[1].endswith(", as our company's fleet")  # the template names its operator
    assert "row 2 (line 3), USER-002: not used: kind 'estimate': a modelled figure is a comparator" in lines[2]
    assert "row 3 (line 4), USER-003: not used: boundary 'lifecycle' is not an operating boundary" in lines[3]


def test_summary_with_added_files_reports_each_row(tmp_path):
    bad = _edited(tmp_path, "pue", assumed={"id": "USER-PUE-002", "kind": "assumption"})
    out = _cli("data", "summary", "--data-add", str(TEMPLATES / "throughput.csv"), "--data-add", bad, "--json")
    assert out.returncode == 0, out.stderr
    added = json.loads(out.stdout)["added"]
    assert [(a["table"], a["rows"], a["used"]) for a in added] == [("throughput", 1, 1), ("pue", 2, 1)]
    refused = added[1]["row_usage"][1]
    assert refused["row"] == 2 and refused["site"] is None and refused["reason"].startswith("kind 'assumption'")
    text = _cli("data", "summary", "--data-add", bad)
    assert text.returncode == 0 and "('pue', 2 rows: 1 used by the fit, 1 not used)" in text.stdout
    assert "row 2 (line 3), USER-PUE-002: not used: kind 'assumption'" in text.stdout


def test_every_shipped_refusal_is_a_sentence():
    usage = row_usage(load())
    refused = usage[usage["site"] == ""]
    assert refused["reason"].str.len().min() > 20
    assert not refused["reason"].str.contains("nan|None").any()
    lines = usage_lines(refused.head(3))
    assert all(": not used: " in line for line in lines)
