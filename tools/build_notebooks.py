"""Write the notebooks in notebooks/ (without outputs) from the cells below: `python tools/build_notebooks.py`.

They run top to bottom in the tests with INFERGY_NOTEBOOK_QUICK=1 (small samples and sampler settings); run them
without it for full-size results.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1]

SETUP = '''import os
QUICK = os.environ.get("INFERGY_NOTEBOOK_QUICK") == "1"  # the tests set it: small samples, tiny sampler settings
'''

NB1 = [
    new_markdown_cell("""# 1. Replicating the paper

Paper mode reruns Oviedo et al., *Energy Use of AI Inference* (arXiv 2509.20241; Joule 2026) with its own
hand-set assumptions: throughput from one benchmark configuration per model, node power x a utilisation range,
PUE 1.05-1.6, output lengths exponential with median 300 (traditional) or 5,000 (reasoning) tokens. Boundary:
facility (node x PUE), idle capacity excluded. Then the fitted posterior answers the same question."""),
    new_code_cell(SETUP + '''import infergy
from infergy.text import format_replication

samples = 2_000 if QUICK else 10_000  # the paper uses 10,000 per model and regime
rep = infergy.replicate_paper("v2", samples=samples, seed=42)
print(format_replication(rep))'''),
    new_markdown_cell("The published values sit beside ours in the table; the blended medians side by side:"),
    new_code_cell('''from infergy.model import PUBLISHED

for regime in ("traditional", "reasoning"):
    ours = rep.to_dict()["blended"][regime]["median"]
    published, source = PUBLISHED["v2"][("blended", regime)]
    print(f"{regime:12s} ours {ours:.3f} Wh   published {published['median']:.3f} Wh [{source}]   "
          f"{100 * (ours / published['median'] - 1):+.1f}%")'''),
    new_code_cell('''from pathlib import Path
from IPython.display import Image, display
from infergy.figures import write_paper_figures

for path in write_paper_figures(rep, Path("notebook-figures") / "paper-v2"):
    display(Image(filename=str(path), width=720))'''),
    new_markdown_cell("""v1 (arXiv, September 2025) assumed more power per node (11.3 / 14.1 kW against v2's 10.2 / 12.8 kW);
the rest of the method is the same:"""),
    new_code_cell('''rep_v1 = infergy.replicate_paper("v1", samples=samples, seed=42)
for regime in ("traditional", "reasoning"):
    print(regime, "v1", round(rep_v1.to_dict()["blended"][regime]["median"], 3),
          "v2", round(rep.to_dict()["blended"][regime]["median"], 3), "Wh/query")'''),
    new_markdown_cell("""## The posterior's answer for the same setting

The Bayesian model learns throughput, power, PUE and the production load from data instead. Same models, H100,
FP8, 500 input tokens, same boundary (docs/bayes-vs-paper.md explains the differences):"""),
    new_code_cell('''from IPython.display import Markdown
from infergy.analysis.compare import compare_with_paper
from infergy.text import comparison_markdown
from infergy.inference.posterior import load_posterior

cmp = compare_with_paper(load_posterior(), "v2", queries=50 if QUICK else 200)
Markdown(comparison_markdown(cmp))'''),
]

NB2 = [
    new_markdown_cell("""# 2. Adding your own measurements and refitting

An operator with production telemetry adds it to the data and refits: the posterior then describes *their*
service. **The CSV below is a made-up EXAMPLE** (values invented for this notebook, not a measurement of any real
service); replace it with your own rows. Templates of every table are in `data/templates/`."""),
    new_code_cell(SETUP + '''from infergy.devices import use_cpu_devices

use_cpu_devices(2)  # parallel chains on 2 CPU cores: must run before JAX starts'''),
    new_code_cell('''import tempfile
from pathlib import Path

example = Path(tempfile.mkdtemp()) / "example_operator.csv"
example.write_text(
    "id,quantity,model_or_system,wh_per_query,statistic,boundary,kind,operator_disclosure,input_tokens,"
    "output_tokens,hardware,date,source,source_url,notes\\n"
    "EXAMPLE-001,median energy per chat request,example assistant (70B dense),0.28,median,node,measurement,true,"
    "900,350,8x H100 SXM,2026-10,EXAMPLE: made-up numbers for the infergy notebook,https://example.org,"
    "not a real measurement\\n"
    "EXAMPLE-002,median energy per long-answer request,example assistant (70B dense),1.1,median,node,measurement,"
    "true,1500,2000,8x H100 SXM,2026-10,EXAMPLE: made-up numbers for the infergy notebook,https://example.org,"
    "not a real measurement\\n")
print(example.read_text())'''),
    new_markdown_cell("Validate before fitting: one line per problem, naming the file, row and column."),
    new_code_cell('''from infergy.data import load, validate_file

table, rows = validate_file(example, "production")
print(f"valid {table!r} rows: {len(rows)}")'''),
    new_markdown_cell("""Your fleet's logs are better data than a summary: intervals of GPU energy beside the serving engine's
request and token counters (`data/templates/telemetry.csv`). **The day below is made up too**
(`data/templates/telemetry_example_day.csv`: a 70B chat service on 8 x H100 at FP8, 5-minute intervals, invented
numbers). Each interval that states its load becomes a throughput row and a power row at that batch, with an
engine of the operator's own; every row says which likelihood uses it, or why none does."""),
    new_code_cell('''from infergy.data import data_path
from infergy.model.usage import added_row_usage, usage_lines

telemetry = data_path("templates") / "telemetry_example_day.csv"
table, intervals = validate_file(telemetry)
bundle = load(extra=[example, telemetry])  # the shipped tables plus the example rows and the example day
production_use, telemetry_use = added_row_usage(bundle, [("production", len(rows)), (table, len(intervals))])
print("\\n".join(usage_lines(production_use) + usage_lines(telemetry_use)[:3] + ["..."]))
measured_j_per_token = 3600 * intervals["energy_wh"].sum() / intervals["output_tokens"].sum()
print(f"the day's GPU energy per output token, measured: {measured_j_per_token:.2f} J")'''),
    new_markdown_cell("""Refit the joint model (about 9 minutes on 2 cores with the defaults; the quick setting used in the tests
runs a tiny chain that is not expected to pass the review):"""),
    new_code_cell('''import infergy
from infergy import FitConfig

config = (FitConfig(chains=2, warmup=30, draws=30, init_steps=300, max_tree_depth=6, progress_bar=False)
          if QUICK else FitConfig(progress_bar=False))
result = infergy.fit(bundle, config=config)
print(result.summary_text())'''),
    new_markdown_cell("The operating point the example rows imply, against the shipped posterior's:"),
    new_code_cell('''import numpy as np
from infergy.inference.posterior import load_posterior

shipped = load_posterior()
for name, dt in (("shipped posterior", shipped), ("with the example rows", result.datatree)):
    batch = np.exp(np.asarray(dt["posterior"]["op_log_batch"]).ravel())
    print(f"{name:24s} concurrent queries per replica: median {np.median(batch):.0f} "
          f"(90% {np.quantile(batch, 0.05):.0f}-{np.quantile(batch, 0.95):.0f})")'''),
    new_markdown_cell("""The example fleet's engine, learned from its day of logs (the logit of the share of bandwidth its
steps reach, against the reference engine setup), and its energy per output token at its median load, through
the same serving equations, next to what its logs measured:"""),
    new_code_cell('''setup = "vllm-telemetry:Example Co (made up)"
effect = np.asarray(result.datatree["posterior"]["tp_d_setup"].sel(setup=setup)).ravel()
print(f"engine effect {np.median(effect):+.2f} (90% {np.quantile(effect, 0.05):+.2f} to {np.quantile(effect, 0.95):+.2f})")
fleet = infergy.estimate("Llama 3.1 70B", n_gpus=8, precision="fp8", engine=setup,
                         batch_size=float(intervals["mean_concurrency"].median()),
                         input_tokens=float(intervals["input_tokens"].sum() / intervals["requests"].sum()),
                         output_tokens=float(intervals["output_tokens"].sum() / intervals["requests"].sum()),
                         boundary="gpu", per="token", samples=20_000 if QUICK else 100_000,
                         posterior=result.datatree, bundle=bundle)
v = fleet.value
print(f"model: {v['median']:.2f} J per output token (90% {v['p05']:.2f}-{v['p95']:.2f}); "
      f"logs: {measured_j_per_token:.2f}")'''),
    new_markdown_cell("And the answer for a query of the example service, from the refitted posterior:"),
    new_code_cell('''from infergy.text import estimate_text

samples = 20_000 if QUICK else 1_000_000
before = infergy.estimate("Llama 3.1 70B", input_tokens=900, output_tokens=350, boundary="node", samples=samples)
after = infergy.estimate("Llama 3.1 70B", input_tokens=900, output_tokens=350, boundary="node", samples=samples,
                         posterior=result.datatree, bundle=bundle)
print("shipped posterior:    ", estimate_text(before).splitlines()[1])
print("with the example rows:", estimate_text(after).splitlines()[1])'''),
    new_markdown_cell("""From the command line the same is:

```sh
infergy data validate my_rows.csv
infergy fit --data-add my_rows.csv --data-add my_telemetry.csv --out mine.nc
infergy estimate --model "Llama 3.1 70B" --posterior mine.nc   # refuses a posterior fitted to other data
```
(`estimate --posterior` checks the data hash: pass the same `--data-add` rows to the commands that load data.)"""),
]

NB3 = [
    new_markdown_cell("""# 3. Fleet scenarios and efficiency pathways

Daily energy for a fleet of queries, and how much the efficiency levers take off it, with the posterior's
uncertainty. Boundary for the fleet: facility + idle capacity (what a fleet really draws), unless changed."""),
    new_code_cell(SETUP + '''import infergy
from IPython.display import Markdown
from infergy.text import fleet_markdown, pathways_markdown

per_member = 20_000 if QUICK else 1_000_000
source = infergy.open_posterior()  # open the shipped posterior once, reuse it below'''),
    new_code_cell('''res = infergy.fleet(1e9, long_share=0.1, posterior=source, samples_per_member=per_member)
Markdown(fleet_markdown(res))'''),
    new_markdown_cell("Scenarios: queries per day x share of long (reasoning) queries, GWh/day median (90% interval):"),
    new_code_cell('''rows = ["| queries/day | long share | baseline | with long queries | improved |", "|---|---|---|---|---|"]
for q in (1e8, 1e9, 5e9):
    for share in (0.0, 0.1, 0.3):
        r = infergy.fleet(q, long_share=share, posterior=source, samples_per_member=per_member,
                          paper_version=None)["fleet"]
        cell = lambda x: f"{x['median']:.3g} ({x['p05']:.3g}-{x['p95']:.3g})"
        rows.append(f"| {q:.0e} | {share:.0%} | {cell(r['baseline'])} | {cell(r['with_long_queries'])} | "
                    f"{cell(r['improved'])} |")
Markdown("\\n".join(rows))'''),
    new_markdown_cell("""Efficiency pathways for the paper's >200B setting: the paper's multipliers next to levers evaluated through the
fitted model (docs/answers.md explains each, and why B200 alone does not save energy at production load):"""),
    new_code_cell('''pw = infergy.pathways(posterior=source, samples_per_member=per_member // 5)
Markdown(pathways_markdown(pw))'''),
    new_code_cell('''from pathlib import Path
from IPython.display import Image
from infergy.figures import plot_pathways

Image(filename=str(plot_pathways(pw, Path("notebook-figures") / "pathways.png")), width=900)'''),
    new_markdown_cell("A fleet of your own: a 70B model on H200s, at a known load of 64 concurrent queries per replica:"),
    new_code_cell('''from infergy.analysis.pathways import Baseline
from infergy.analysis.predict import QuerySpec

mine = Baseline("Llama 3.1 70B on H200", (QuerySpec(model="Llama 3.1 70B", gpu="H200", batch_size=64,
                                                     boundary="facility+idle"),))
r = infergy.fleet(5e8, long_share=0.2, baseline=mine, levers=("fp4", "load-x2"), posterior=source,
                  samples_per_member=per_member, paper_version=None)
Markdown(fleet_markdown(r))'''),
    new_markdown_cell("What drives the spread of a single query's energy:"),
    new_code_cell('''from infergy.text import sensitivity_markdown

Markdown(sensitivity_markdown(infergy.sensitivity(posterior=source, queries=20 if QUICK else 200)))'''),
]


def main() -> None:
    out = ROOT / "notebooks"
    out.mkdir(exist_ok=True)
    for name, cells in (("01_replicate_the_paper.ipynb", NB1), ("02_your_measurements_and_refit.ipynb", NB2),
                        ("03_fleet_scenarios_and_pathways.ipynb", NB3)):
        nb = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                "language": "python"},
                                                 "language_info": {"name": "python"}})
        for i, cell in enumerate(nb.cells):
            cell.id = f"{name[:2]}-{i:02d}"  # stable ids: a rebuild changes only what the cells say
        nbformat.validate(nb)
        nbformat.write(nb, out / name)
        print(f"wrote {out / name}")


if __name__ == "__main__":
    main()
