"""The answer against measured GPU energy: each ML.ENERGY v3 configuration asked through the estimate path."""

from __future__ import annotations

import json

import numpy as np
import pytest

import infergy
from infergy.analysis.measured import measured_energy_check, measured_rows
from infergy.cli import main


@pytest.fixture(scope="module")
def check():
    return measured_energy_check(limit=12)


def test_each_row_is_its_configuration_through_the_estimate_path(check):
    rows = check["rows"]
    assert len(rows) == 12 and len({(r["model"], r["gpu"]) for r in rows}) > 4  # a spread, not one model
    for r in rows:
        assert 0 < r["predicted_p05"] <= r["predicted_j_per_token"] <= r["predicted_p95"]
        assert r["ratio"] == pytest.approx(r["predicted_j_per_token"] / r["measured_j_per_token"])
        assert r["inside_90"] == (r["predicted_p05"] <= r["measured_j_per_token"] <= r["predicted_p95"])
    r = rows[3]
    est = infergy.estimate(r["model"], gpu=r["gpu"], n_gpus=r["n_gpus"], precision=r["precision"],
                           batch_size=r["batch_size"], input_tokens=r["input_tokens"],
                           output_tokens=r["output_tokens"], boundary="gpu", per="token", samples=1000,
                           engine=f"vllm-mlenergy_v3-{r['task']}")
    # the same query through the public API: the histogram summary to its bin width, the draws' seeds aside
    assert est.value["median"] == pytest.approx(r["predicted_j_per_token"], rel=0.01)


def test_measured_energy_is_reproduced():
    """Every measured configuration (227 rows, ~20 s): the answer's median within 1.25x of the measurement (median
    over rows) and 90% intervals that cover >= 85% of them."""
    o = measured_energy_check()["overall"]
    assert o["median_abs_error_factor"] <= 1.25 and o["coverage_90"] >= 0.85, o


def test_the_summaries_follow_the_rows(check):
    rows = check["rows"]
    o = check["overall"]
    assert o["rows"] == len(rows)
    assert o["coverage_90"] == pytest.approx(np.mean([r["inside_90"] for r in rows]))
    logs = np.log([r["ratio"] for r in rows])
    assert o["median_abs_error_factor"] == pytest.approx(np.exp(np.median(np.abs(logs))))
    assert sum(s["rows"] for s in check["by_gpu"].values()) == len(rows)
    assert sum(s["rows"] for s in check["by_model"].values()) == len(rows)


def test_only_measured_text_rows_with_a_batch_are_checked():
    bundle = infergy.load_data()
    rows = measured_rows(bundle)
    assert set(rows["source_table"]) == {"mlenergy_v3"} and rows["batch_size"].notna().all()
    assert not rows["task"].isin(["image-chat", "video-chat"]).any()
    assert len(rows) > 200


def test_cli(tmp_path, capsys):
    out = tmp_path / "measured.md"
    assert main(["check-measured", "--rows", "5", "--json", "--out", str(out)]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["overall"]["rows"] == 5 and res["boundary"] == "gpu"
    assert "median error" in out.read_text() and "| H100-SXM-80GB |" in out.read_text()
