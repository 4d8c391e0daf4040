"""Leave one production source out: the sources and their rows, the keep mask (fast), and the refits against the
shipped data (slow)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpyro.infer.util import log_density

import infergy.data as d
from infergy.inference.loso import leave_source_out, production_sources
from infergy.model.joint import build_design, infergy_model
from infergy.text import loso_markdown

DESIGN = build_design(d.load())


def test_every_production_row_belongs_to_one_named_source():
    sources = production_sources(DESIGN)
    prod = DESIGN.production
    assert set(sources) == {"Google", "OpenAI", "mistralai", "cohere", "DeepSeek"}
    assert list(prod.rows["id"][sources["Google"]["prod"]]) == ["PQ-001"]
    assert list(prod.rows["id"][sources["OpenAI"]["prod"]]) == ["PQ-011"]
    assert sources["Google"]["share"].all() and sources["Google"]["share"].size == 4
    assert sources["mistralai"]["api"].sum() == 16 and sources["cohere"]["api"].sum() == 4
    # DeepSeek's three stated rates at its stated load: decode and prefill per node, the speed of one request
    assert list(prod.service_rows["id"][sources["DeepSeek"]["service"]]) == ["SS-001", "SS-003", "SS-002"]
    for kind in ("prod", "share", "api", "service"):  # each row is exactly one source's
        np.testing.assert_array_equal(sum(s[kind].astype(int) for s in sources.values()), 1)


def _log_joint(y_prod, y_api, keep, y_service=None):
    params = {"op_log_batch": jnp.float32(np.log(30.0))}
    seeded = jax.random.PRNGKey(0)
    from numpyro.handlers import seed, substitute, trace

    base = trace(seed(infergy_model, seeded)).get_trace(*DESIGN.inputs, **DESIGN.sizes)
    values = {n: s["value"] for n, s in base.items()  # the parameters (drawn there), not the observations
              if s["type"] == "sample" and not s["is_observed"] and n not in DESIGN.observed}
    values.update(params)
    kwargs = {**DESIGN.sizes, **DESIGN.observations, "y_prod": y_prod, "y_api": y_api, "keep": keep}
    if y_service is not None:
        kwargs["y_service"] = y_service
    return float(log_density(substitute(infergy_model, values), DESIGN.inputs, kwargs, values)[0])


def test_a_row_left_out_does_not_count_and_the_others_do():
    """With a source's rows masked, moving their observed values leaves the log density unchanged; moving a kept
    row's value changes it."""
    google = production_sources(DESIGN)["Google"]
    keep = {k: jnp.asarray(~v) for k, v in google.items()}
    y_prod, y_api = np.array(DESIGN.production.y_log_wh), np.array(DESIGN.production.y_api_log_tps)
    base = _log_joint(y_prod, y_api, keep)
    moved = y_prod.copy()
    moved[google["prod"]] += 2.0
    assert _log_joint(moved, y_api, keep) == base
    moved = y_prod.copy()
    moved[~google["prod"]] += 2.0
    assert _log_joint(moved, y_api, keep) != base
    moved_api = y_api.copy()
    moved_api[0] += 1.0
    assert _log_joint(y_prod, moved_api, keep) != base
    # the service's stated rates: counted while kept, not once DeepSeek is left out
    deepseek = production_sources(DESIGN)["DeepSeek"]
    y_svc = np.array(DESIGN.production.y_service_log) + 1.0
    assert _log_joint(y_prod, y_api, keep, y_svc) != base
    keep_ds = {k: jnp.asarray(~v) for k, v in deepseek.items()}
    assert _log_joint(y_prod, y_api, keep_ds, y_svc) == _log_joint(y_prod, y_api, keep_ds)


def test_an_unknown_source_is_refused_with_the_list():
    with pytest.raises(ValueError, match="no production source \\['Meta'\\]; the sources are: Google, OpenAI"):
        leave_source_out(sources=["Meta"])


@pytest.fixture(scope="module")
def left_out():
    return leave_source_out(progress=print)  # every source, the defaults `infergy cv --by source` uses


@pytest.mark.slow
def test_each_operators_disclosure_is_predicted_from_the_other_data(left_out):
    """Fitted without it, each operator's rows (Google's 0.24 Wh and breakdown, OpenAI's 0.34 Wh) and Cohere's
    speeds fall inside their 90% predictive interval, and the per-query disclosures' intervals are narrower than
    the prior predictive's: the rest of the data, not the prior, predicts them (docs/validation.md has the table)."""
    table = loso_markdown(left_out)
    print(table)
    for r in left_out:
        if r.source in ("Google", "OpenAI", "cohere"):
            assert r.inside_90, table
        if r.row in ("PQ-001", "PQ-011"):
            assert r.narrowing < 0.8, table


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="Mistral's API serves 2-3x faster than the other data predict for a new "
                   "provider: one provider's hardware scale (log sd 0.3) cannot carry a provider this different")
def test_a_left_out_api_provider_is_predicted_from_the_others(left_out):
    mistral = [r for r in left_out if r.source == "mistralai"]
    assert all(r.inside_90 for r in mistral), loso_markdown(mistral)


@pytest.mark.slow
def test_deepseeks_service_is_predicted_from_the_other_data(left_out):
    """Fitted without DeepSeek's statistics, its decode throughput per node and the speed one request sees at its
    stated load (144 GPUs, attention data-parallel, ~12,700 sequences) fall inside their 90% predictive intervals,
    narrower than the prior predictive's: the benchmarks' data-parallel rows and the rest of the production data
    carry the serving physics to a scale no benchmark ran at."""
    rows = [r for r in left_out if r.source == "DeepSeek"]
    table = loso_markdown(rows)
    assert {r.row for r in rows} == {"SS-001", "SS-002", "SS-003"}, table
    for r in rows:
        if r.row in ("SS-001", "SS-003"):
            assert r.inside_90 and r.narrowing < 1.0, table
