"""docs/reliability.md stays true: every bad-input row is run and must say what the table says, in one line."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import arviz as az
import numpy as np
import pytest

import infergy

DOC = Path(__file__).resolve().parents[1] / "docs" / "reliability.md"
ROW = re.compile(r"^\| (?P<what>[^|]+) \| `(?P<call>[^`]+)` \| `(?P<says>[^`]+)` \|$")


def _rows() -> list[tuple[str, str, str]]:
    rows = [(m["what"].strip(), m["call"], m["says"]) for line in DOC.read_text().splitlines()
            if (m := ROW.match(line))]
    assert len(rows) >= 10, "the table in docs/reliability.md lost its rows"
    return rows


def _files(folder: Path) -> None:
    """The files the commands name."""
    rng = np.random.default_rng(0)
    (folder / "empty.nc").write_bytes(b"")
    (folder / "random.nc").write_bytes(rng.bytes(10_000))
    (folder / "folder.nc").mkdir()
    (folder / "notes").write_text("a file where a folder would go\n")
    az.from_dict({"observed_data": {"y": rng.normal(size=5)}}).to_netcdf(folder / "observed.nc", engine="h5netcdf")
    az.from_dict({"posterior": {"a": rng.normal(size=(2, 10))}}).to_netcdf(folder / "foreign.nc", engine="h5netcdf")


@pytest.mark.parametrize("what, call, says", _rows(), ids=[r[0][:40] for r in _rows()])
def test_each_bad_input_in_the_reliability_table_says_what_the_table_says(tmp_path, what, call, says):
    if call.startswith("infergy."):
        with pytest.raises(ValueError) as err:
            eval(call, {"infergy": infergy})  # noqa: S307 - the table's own calls
        message = str(err.value)
        assert "\n" not in message
    else:
        _files(tmp_path)
        argv = shlex.split(call)
        assert argv[0] == "infergy"
        run = subprocess.run([sys.executable, "-m", "infergy", *argv[1:]], capture_output=True, text=True,
                             cwd=tmp_path, timeout=300)
        assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr[-2000:]
        message = run.stderr.strip()
        assert message.count("\n") == 0, message
    assert says in message, (what, message)


def test_allow_extreme_answers_past_the_bounds_and_says_why():
    """The same queries the table refuses are answered with allow_extreme=True, the reason among the warnings."""
    est = infergy.estimate("Llama 3.1 70B", input_tokens=200_000, output_tokens=500, pue=3.5, allow_extreme=True,
                           samples=2000)
    assert all(np.isfinite(v) and v > 0 for v in est.value.values())
    warnings = " ".join(est.inputs["warnings"])
    assert "200,500 tokens, 1.5 x Llama 3.1 70B's 131,072-token context window" in warnings
    assert est.inputs["pue_median"] == 3.5


def test_a_load_past_the_memory_saturates_the_replica_with_a_warning():
    """The serving equations run what the KV cache holds (a smooth minimum of load and capacity): such a load is
    answered, and the answer says how many sequences run at once; a load that fits says nothing."""
    heavy = infergy.estimate("Llama 3.1 8B", n_gpus=1, batch_size=5000, input_tokens=100_000, output_tokens=100,
                             samples=2000)
    light = infergy.estimate("Llama 3.1 8B", n_gpus=1, batch_size=8, input_tokens=1000, output_tokens=100,
                             samples=2000)
    assert any("the replica runs about 10 at once and the rest of the load waits (saturated)" in w
               for w in heavy.inputs["warnings"])
    assert not any("saturated" in w for w in light.inputs["warnings"])
    assert np.isfinite(heavy.value["median"]) and heavy.value["median"] > light.value["median"]
