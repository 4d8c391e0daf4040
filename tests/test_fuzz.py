"""Bad input never yields a number (hypothesis): whatever a query holds, the answer is finite with ordered
quantiles, or a one-line ``ValueError``; whatever the command line is given, it parses to a valid query or exits 2
with one line — never a traceback, NaN or a clamped quantile."""

from __future__ import annotations

import contextlib
import io
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import infergy
from infergy.analysis.quantiles import QUANTILE_KEYS
from infergy.cli import build_parser, options
from infergy.model.query import QuerySpec

#: What a careless or hostile caller might pass for a number.
ODD_NUMBERS = st.one_of(
    st.booleans(), st.text(max_size=6), st.just(float("nan")), st.just(float("inf")), st.just(-float("inf")),
    st.integers(-10, 10**13), st.floats(-1e3, 1e12, allow_nan=False),
    st.sampled_from([0, 0.5, 1.5, 3, 100, 1e9, 1e12, "1000", "1e3", np.float32(2.0), np.int64(8)]))
#: Plausible values, up to the physical extremes (the longest contexts, the largest batches and replicas).
PLAUSIBLE = {
    "model": st.sampled_from([None, "Llama 3.1 8B", "Llama 3.1 70B", "Llama 3.1 405B", "DeepSeek-R1", "Falcon 180B",
                              "Qwen3-8B"]),
    "gpu": st.sampled_from(["H100", "A100", "B200", "H200", "L40S"]),
    "total_params_b": st.one_of(st.none(), st.floats(0.5, 3000)),
    "n_gpus": st.one_of(st.none(), st.sampled_from([1, 2, 4, 8, 16, 72, 2048])),
    "batch_size": st.one_of(st.none(), st.floats(1, 1e5)),
    "input_tokens": st.one_of(st.none(), st.floats(1, 3e6)),
    "output_tokens": st.one_of(st.none(), st.floats(1, 2e5)),
    "pue": st.one_of(st.none(), st.floats(1, 4)),
    "regime": st.sampled_from(["traditional", "reasoning", "code"]),
    "boundary": st.sampled_from(["gpu", "node", "facility", "facility+idle"]),
}
#: What is not a value of each text field.
ODD_TEXT = {"model": st.sampled_from(["", "no such model", 7]), "gpu": st.sampled_from([None, "not-a-gpu", ""]),
            "regime": st.sampled_from(["x", None]), "boundary": st.sampled_from(["moon", ""])}


@st.composite
def queries(draw):
    """A plausible query with, half the time, one field given something odd."""
    fields = {name: draw(strategy) for name, strategy in PLAUSIBLE.items()}
    if fields["model"] is None and fields["total_params_b"] is None:
        fields["total_params_b"] = draw(st.floats(0.5, 3000))
    odd = draw(st.sampled_from([None] * len(PLAUSIBLE) + list(PLAUSIBLE)))
    if odd is not None:
        fields[odd] = draw(ODD_TEXT.get(odd, ODD_NUMBERS))
    return fields


def _assert_one_line(message: str) -> None:
    assert message and "\n" not in message and "Traceback" not in message, message


@pytest.fixture(scope="module")
def source():
    from infergy.analysis.estimate import open_posterior

    return open_posterior(None)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture],
          derandomize=True)
@given(fields=queries(), steps=st.sampled_from([1, 1, 1, 4, 0, 2.5, 10_000]), extreme=st.booleans())
def test_any_query_is_a_finite_ordered_answer_or_one_clear_error(source, fields, steps, extreme):
    try:
        spec = QuerySpec(**fields, allow_extreme=extreme)
        est = infergy.estimate(spec=spec, agent_steps=steps, posterior=source, samples=2000, seed=1)
    except ValueError as exc:
        _assert_one_line(str(exc))
        return
    value = est.value
    assert all(math.isfinite(value[k]) and value[k] > 0 for k in QUANTILE_KEYS), (fields, value)
    assert value["p05"] <= value["p25"] <= value["median"] <= value["p75"] <= value["p95"], (fields, value)
    assert value["p05"] <= value["mean"], (fields, value)
    assert np.isclose(value["mean"], float(np.mean(est.per_draw_mean)), rtol=1e-3), (fields, value)
    if not extreme:
        assert not any("hypothetical" in w for w in est.inputs["warnings"]), est.inputs["warnings"]


FLAG_VALUES = st.one_of(st.text(max_size=8), st.sampled_from(
    ["0", "-1", "1", "1.5", "nan", "inf", "-inf", "1e30", "1e12", "3", "100", "H100", "fp8", "fp3", "", " ", "--",
     "Llama 3.1 70B"]))
FLAGS = ["--model", "--total-params-b", "--active-params-b", "--gpu", "--gpus", "--precision", "--batch-size",
         "--input-tokens", "--output-tokens", "--regime", "--boundary", "--pue", "--samples", "--seed",
         "--agent-steps", "--per", "--queries-per-day", "--long-share", "--levers", "--out", "--posterior"]


@settings(max_examples=300, deadline=None, derandomize=True)
@given(command=st.sampled_from(["estimate", "pathways", "fleet", "replicate-paper", "sensitivity", "report"]),
       pairs=st.lists(st.tuples(st.sampled_from(FLAGS), FLAG_VALUES), max_size=5),
       extreme=st.booleans())
def test_any_command_line_parses_to_a_valid_query_or_exits_2_in_one_line(tmp_path_factory, command, pairs, extreme):
    """The parser and its checks (in-process, as ``main`` runs them before any work); a parsed query must build."""
    argv = [command] + [x for flag, value in pairs for x in (flag, value)] + (["--allow-extreme"] if extreme else [])
    parser = build_parser()
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            args = parser.parse_args(argv)
            sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction").choices[command]
            options.check_extremes(sub, args)
            options.check_samples(sub, args)
    except SystemExit as stop:
        assert stop.code == 2, argv
        _assert_one_line(err.getvalue().strip())
        return
    if hasattr(args, "gpu"):
        try:
            options.query_spec(args)
        except ValueError as exc:
            _assert_one_line(str(exc))


def _number_text(low: float, high: float):
    return st.floats(low, high).map(lambda x: f"{x:.6g}")


#: Per flag, values across its physical range; a third of the time one that must be refused.
E2E_FLAGS = {"--input-tokens": _number_text(1, 3e6), "--output-tokens": _number_text(1, 2e5),
             "--batch-size": _number_text(1, 1e5), "--pue": _number_text(1, 4),
             "--gpus": st.integers(1, 64).map(str), "--agent-steps": st.integers(1, 50).map(str),
             "--gpu": st.sampled_from(["H100", "H200", "B200", "A100", "L40S"]),
             "--total-params-b": _number_text(1, 2000)}
E2E_ODD = st.sampled_from(["1e12", "nan", "2.5", "0", "-3", "H200", "inf", ""])
E2E_PAIRS = st.sampled_from(sorted(E2E_FLAGS)).flatmap(
    lambda flag: st.tuples(st.just(flag), st.one_of(E2E_FLAGS[flag], E2E_FLAGS[flag], E2E_ODD)))


@settings(max_examples=16, deadline=None, derandomize=True)
@given(pairs=st.lists(E2E_PAIRS, min_size=1, max_size=3, unique_by=lambda p: p[0]),
       model=st.sampled_from(["Llama 3.1 70B", "DeepSeek-R1", "Falcon 180B"]), extreme=st.booleans())
def test_any_estimate_command_answers_in_order_or_exits_in_one_line(pairs, model, extreme):
    """End to end in-process: `infergy estimate --json` with odd flag values prints a finite, ordered answer
    (exit 0) or one line on stderr (exit 2; 1 only for an internal error, which fails the test)."""
    import json

    from infergy.cli import main

    argv = (["estimate", "--model", model, "--samples", "2000", "--json"]
            + [x for flag, value in pairs for x in (flag, value)] + (["--allow-extreme"] if extreme else []))
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
    except SystemExit as stop:
        code = stop.code
    if code == 0:
        value = json.loads(out.getvalue())["value"]
        assert all(math.isfinite(value[k]) and value[k] > 0 for k in QUANTILE_KEYS), (argv, value)
        assert value["p05"] <= value["p25"] <= value["median"] <= value["p75"] <= value["p95"], (argv, value)
    else:
        assert code == 2, (argv, err.getvalue())
        _assert_one_line(err.getvalue().strip())
