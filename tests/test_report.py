"""``infergy report``: produced end to end, every section and figure present, figures embedded, bad flags."""

from __future__ import annotations

import re

import pytest

from infergy.cli import main
from infergy.analysis.headline import comparable_query
from infergy.report import REPORT_FIGURES, REPORT_SECTIONS


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    code = main(["report", "--out", str(out)])
    return code, out


def test_report_is_written_with_every_section_and_figure(report):
    code, out = report
    assert code == 0
    md = (out / "report.md").read_text()
    html = (out / "index.html").read_text()
    headings = re.findall(r"^## (.+)$", md, flags=re.M)
    assert headings == list(REPORT_SECTIONS)
    for section in REPORT_SECTIONS:
        assert f"<h2>{section}</h2>" in html
    for fig in REPORT_FIGURES:
        path = out / "figures" / fig
        assert path.stat().st_size > 5_000, fig
        assert f"figures/{fig}" in md, fig
    # the HTML stands alone: every figure embedded, none linked
    assert html.count('src="data:image/png;base64,') == len(REPORT_FIGURES)
    assert 'src="figures/' not in html


def test_report_states_boundaries_versions_and_the_review(report):
    _, out = report
    md = (out / "report.md").read_text()
    assert "facility boundary" in md and "facility+idle" in md
    assert re.search(r"data hash `[0-9a-f]{64}`", md)
    assert "Review: **PASS**" in md
    assert "Google disclosure: Gemini Apps, median" in md and "OpenAI disclosure: ChatGPT, mean" in md
    assert "paper mode v2 >200B blend, traditional" in md
    # each public estimate is compared, with a factor and its interval
    estimates = md.split("## Public estimates checked")[1].split("## Method and assumptions")[0]
    assert estimates.count("x (") >= 50
    assert "Median factor by source" in estimates


def test_comparable_query_for_a_published_estimate(report):
    import infergy.data as d

    bundle = d.load()
    prod = bundle.tables["production"].set_index("id")
    specs, note = comparable_query(prod.loc["PQ-074"].rename(None), bundle.models)  # Jegham, Llama 3.1 405B
    assert len(specs) == 1 and specs[0].model == "Llama 3.1 405B"
    assert specs[0].input_tokens == 100 and specs[0].output_tokens == 300 and specs[0].boundary == "facility"
    specs, note = comparable_query(prod.loc["PQ-016"].rename(None), bundle.models)  # Epoch: GPT-4o, sized
    assert specs[0].total_params_b == 400 and specs[0].active_params_b == 100 and "sized" in note
    specs, note = comparable_query(prod.loc["PQ-108"].rename(None), bundle.models)  # AI Energy Score, reasoning
    assert specs[0].regime == "reasoning" and specs[0].boundary == "gpu"
    specs, note = comparable_query(prod.loc["PQ-099"].rename(None), bundle.models)  # node+idle
    assert specs[0].boundary == "facility+idle" and specs[0].pue == 1.0


@pytest.mark.parametrize("args,message", [
    (["--format", "pdf"], "argument --format: unknown format 'pdf'"),
    (["--refit", "--posterior", "x.nc"], "do not also give --posterior"),
    (["--posterior", "no/such/file.nc"], "no such posterior file"),
])
def test_report_bad_flags(capsys, tmp_path, args, message):
    try:
        code = main(["report", "--out", str(tmp_path), *args])
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "index.html").exists()


def test_refit_fits_then_reports_on_that_fit(monkeypatch, tmp_path, capsys):
    """--refit: the default fit, saved next to the report, is the posterior the report uses."""
    import importlib
    from types import SimpleNamespace

    fit_mod = importlib.import_module("infergy.inference.fit")
    report_mod = importlib.import_module("infergy.report")
    calls = {}
    monkeypatch.setattr(fit_mod, "fit", lambda data, config: calls.setdefault("config", config) and SimpleNamespace(
        summary_text=lambda: "fit summary"))
    monkeypatch.setattr(fit_mod, "save_fit", lambda result, path: calls.setdefault("saved", path))
    monkeypatch.setattr(report_mod, "write_report", lambda posterior, out, formats, **kw: calls.setdefault(
        "report", (posterior, out, formats)) and {"md": out / "report.md"})
    assert main(["report", "--refit", "--out", str(tmp_path), "--format", "md"]) == 0
    default = fit_mod.FitConfig()  # the default fit
    for name in ("chains", "warmup", "draws", "metric", "init_steps", "seed"):
        assert getattr(calls["config"], name) == getattr(default, name), name
    assert calls["saved"] == tmp_path / "posterior.nc"
    assert calls["report"] == (tmp_path / "posterior.nc", tmp_path, ("md",))


def test_importing_infergy_leaves_the_matplotlib_backend_alone(tmp_path):
    """The figures are drawn without pyplot: a program that imports infergy (and draws its figures) keeps the
    backend it chose."""
    import subprocess
    import sys

    code = ("import matplotlib; matplotlib.use('svg')\n"
            "import infergy, infergy.report, infergy.figures as rf\n"
            f"rf.plot_answer([{{'label': 'x', 'boundary': 'gpu', 'median': 0.3}}], {str(tmp_path / 'a.png')!r})\n"
            "print(matplotlib.get_backend())")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "svg" and (tmp_path / "a.png").stat().st_size > 1000


def test_the_report_template_types_no_data_number():
    """The prose is a template; every count, setting and result comes from the context. What digits the template
    itself holds are fixed wording (interval levels, the paper's quoted 4-20x, the 8-GPU server), listed here."""
    from importlib.resources import files

    text = (files("infergy") / "templates" / "report.md.j2").read_text()
    prose = re.sub(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", " ", text, flags=re.S)
    allowed = {"200", "50", "90", "4", "20", "8", "1e9", "2", "3", "1"}
    digits = set(re.findall(r"\d+(?:\.\d+)?(?:e\d+)?", prose)) - allowed
    assert not digits, f"numbers typed into the report template: {sorted(digits)}"


def test_the_report_reads_its_counts_from_the_data(report):
    _, out = report
    from infergy.data import load
    from infergy.model.joint import build_design

    md = (out / "report.md").read_text()
    rows = build_design(load()).throughput.n_rows
    assert f"fitted to {rows:,} benchmark rows" in md
