"""The ``infergy`` command end to end, as a user runs it (subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

INFERGY = [sys.executable, "-m", "infergy"]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*INFERGY, *args], capture_output=True, text=True, cwd=cwd, timeout=600)


@pytest.fixture(scope="module")
def json_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("paper")
    proc = run("replicate-paper", "--version", "v2", "--samples", "2000", "--seed", "3", "--json", "--out", str(out))
    return proc, out


def test_json_output_has_exactly_the_documented_shape(json_run):
    proc, _ = json_run
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)  # stdout is JSON only; progress goes to stderr
    assert list(d) == ["version", "samples_per_model", "per_model", "blended", "pathways", "fleet_gwh_per_day"]
    assert d["version"] == "v2" and d["samples_per_model"] == 2000
    assert "Llama 3.1 405B" in d["per_model"] and "DeepSeek-R1" in d["per_model"]
    assert set(d["blended"]["traditional"]) == {"median", "p25", "p75", "mean"}
    assert set(d["fleet_gwh_per_day"]) == {"baseline", "with_long_queries", "improved"}


def test_figures_and_summary_are_written(json_run):
    _, out = json_run
    for name in ("energy_per_query.png", "pathways.png", "fleet.png"):
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000, name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["meta"]["boundary"] == "facility"
    assert summary["meta"]["seed"] == 3 and len(summary["meta"]["data_sha256"]) == 64
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "temporary files left behind"
    for p in out.iterdir():  # atomic writes keep ordinary permissions (umask), not mkstemp's 0600
        assert p.stat().st_mode & 0o044 == 0o044 or os.umask(os.umask(0)) & 0o044, p


def test_same_seed_gives_identical_json(json_run, tmp_path):
    proc, _ = json_run
    again = run("replicate-paper", "--version", "v2", "--samples", "2000", "--seed", "3", "--json", "--no-figures",
                "--out", str(tmp_path))
    assert again.returncode == 0, again.stderr
    assert again.stdout == proc.stdout


def test_readable_table(tmp_path):
    proc = run("replicate-paper", "--version", "v1", "--samples", "1000", "--no-figures", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "infergy paper mode v1" in text and "facility boundary" in text
    assert "Blended >200B" in text and "Efficiency pathways" in text and "Fleet" in text
    assert "v1 abstract 0.34 (0.18-0.67)" in text  # the published value shown beside ours
    assert not (tmp_path / "fleet.png").exists()


@pytest.mark.parametrize(
    "args,message",
    [
        (["--version", "v3"], "argument --version: unknown paper version 'v3'; known versions: v1, v2"),
        (["--samples", "0"], "argument --samples: must be > 0, got 0"),
        (["--samples", "ten"], "argument --samples: 'ten' is not a number"),
        (["--samples", "1.5"], "argument --samples: must be a whole number, got 1.5"),
        (["--seed", "-4"], "argument --seed: must be >= 0, got -4"),
        (["--samples", "50"], "infergy: error: samples must be >= 100 per model for stable quantiles, got 50"),
        (["--rng", "numpy-legacy", "--sampling", "lhs"], "infergy: error: rng 'numpy-legacy' replays"),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_2(args, message, tmp_path):
    proc = run("replicate-paper", *args, "--no-figures", "--out", str(tmp_path))
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_version_flag():
    proc = run("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("infergy ")


_HEAVY = ("jax", "numpyro", "arviz", "pandas", "xarray", "matplotlib", "scipy")


@pytest.mark.parametrize("args", [
    ["estimate", "--bogus"],
    ["estimate", "--boundary", "node", "--regime", "code", "--precision", "fp8", "--samples", "ten"],
    ["replicate-paper", "--version", "v3"],
    ["pathways", "--levers", "b200,warp-drive"],
    ["fleet", "--queries-per-day", "-1"],
    ["data", "validate"],
    ["fit", "--sampler", "metropolis"],
    ["estimate", "--region", "IE", "--year", "2050"],
    ["fleet", "--region", "IE", "--market-based", "-3"],
    ["--version"],
])
def test_arguments_are_checked_before_heavy_imports(args):
    """A misspelt flag or bad value answers without loading JAX, pandas or ArviZ (so in well under a second):
    the parser and every argument check use only the light name tables (:mod:`infergy.model.names`)."""
    code = ("import sys\nfrom infergy.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n"
            f"    code = e.code\nloaded = [m for m in {_HEAVY!r} if m in sys.modules]\n"
            "print(code, ','.join(loaded) or 'none')\n")
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr
    exit_code, loaded = proc.stdout.splitlines()[-1].split()
    assert loaded == "none", f"{args} loaded {loaded} before answering"
    assert exit_code == ("0" if args == ["--version"] else "2"), proc.stderr
    if args != ["--version"]:
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_import_infergy_is_light_and_names_resolve_on_use():
    """``import infergy`` loads no heavy library; every public name still resolves (lazily) to the real object."""
    code = ("import sys, infergy\nassert not [m for m in %r if m in sys.modules], sys.modules.keys()\n"
            "for name in infergy.__all__:\n    getattr(infergy, name)\n"
            "from infergy.data import load\nassert infergy.load_data is load\nprint('ok')\n") % (_HEAVY,)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


def test_ctrl_c_stops_a_running_command_at_once_with_one_line(tmp_path):
    """SIGINT inside a long JAX computation ends the command within seconds (Python's own handler would wait for
    the computation), with one line and exit 130; no partial file is left in the output folder."""
    import signal
    import time

    proc = subprocess.Popen([*INFERGY, "pathways", "--model", "Llama 3.1 70B", "--samples", "9e8", "--out",
                             str(tmp_path / "pathways.md")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(15)  # start-up, posterior, compile: well into the run
    assert proc.poll() is None, proc.communicate()
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert time.monotonic() - sent < 5.0
    assert proc.returncode == 130
    assert err.strip().splitlines() == ["infergy: interrupted: stopped; files being written were removed, none is "
                                        "left half-written"]
    assert list(tmp_path.iterdir()) == []


def test_files_being_written_are_removed_by_an_interrupt(tmp_path):
    from infergy.inference.files import PENDING, atomic_path, discard_pending

    with atomic_path(tmp_path / "out.nc") as tmp:
        tmp.write_bytes(b"half")
        assert str(tmp) in PENDING
        discard_pending()  # what the interrupt does before the process ends
        assert list(tmp_path.iterdir()) == []
        tmp.write_bytes(b"whole")  # (the process would have ended; here the write goes on)
    assert (tmp_path / "out.nc").read_bytes() == b"whole" and not PENDING


def test_an_internal_error_is_one_line_unless_debugging(monkeypatch, capsys):
    """A fault of infergy's (not of the input) exits 1 with one line saying so; INFERGY_DEBUG=1 raises it."""
    from infergy.cli import answers, main

    def broken(args):
        raise RuntimeError("a bug\nwith a second line")

    monkeypatch.setattr(answers, "_cmd_estimate", broken)
    monkeypatch.delenv("INFERGY_DEBUG", raising=False)
    assert main(["estimate", "--model", "Llama 3.1 70B"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == ("infergy: internal error: RuntimeError: a bug (please report it; INFERGY_DEBUG=1 shows the "
                   "traceback)")
    monkeypatch.setenv("INFERGY_DEBUG", "1")
    with pytest.raises(RuntimeError, match="a bug"):
        main(["estimate", "--model", "Llama 3.1 70B"])


def test_a_reader_that_stops_early_is_not_an_error():
    """`infergy ... | head -1` that closed before the answer is printed: the command ends quietly, with no
    'internal error' line (it used to report a BrokenPipeError)."""
    proc = subprocess.Popen([*INFERGY, "estimate", "--model", "Llama 3.1 8B", "--samples", "2000", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the answer takes seconds: every write of it meets a closed pipe
    err = proc.stderr.read().decode()
    proc.wait(timeout=600)
    assert "internal error" not in err and "Traceback" not in err, err
