"""The names the answers accept — regimes, boundaries, paper versions, paper mode's sampling, levers — and the
bounds past which a value is refused as extreme, as plain values with no imports, so that the command line checks its arguments before JAX loads (milliseconds, not seconds).
The modules that act on a name import it from here."""

from __future__ import annotations

__all__ = ["EXTREME_HINT", "LEVER_NAMES", "PAPER_VERSIONS", "PREDICT_BOUNDARIES", "PUE_EXTREME",
           "QUERIES_PER_DAY_EXTREME", "REGIMES", "pue_past", "queries_per_day_past", "REGIME_WORKLOAD", "RNG_BACKENDS", "SAMPLING", "YEAR_RANGE"]

#: Years a carbon answer may be asked for (:mod:`infergy.model.impacts`): the grid trend is linear in log, fitted
#: to five years; past ten years either side of the data it is a guess, not a prediction.
YEAR_RANGE = (2015, 2035)

#: Answer regimes and the traced workload each one's prompts come from (:mod:`infergy.model.workload`; paper mode
#: keeps the paper's exponential output lengths).
REGIME_WORKLOAD = {"traditional": "chat", "code": "code", "reasoning": "chat"}
#: Query regimes, as the command line offers them.
REGIMES = tuple(REGIME_WORKLOAD)
#: Boundaries of a prediction, narrowest first; "+idle" adds the provisioned-but-idle capacity.
PREDICT_BOUNDARIES = ("gpu", "node", "facility", "facility+idle")
#: The seed paper's versions: v1 (arXiv 2509.20241) and v2 (Joule 2026).
PAPER_VERSIONS = ("v1", "v2")
#: ``jax``: JAX's counter-based RNG (default). ``numpy-legacy``: the input draws come from numpy's legacy
#: ``RandomState(seed)`` in the released scripts' order, which reproduces their per-model and blended numbers
#: digit for digit; the pathway and fleet draws still use the JAX stream.
RNG_BACKENDS = ("jax", "numpy-legacy")
#: ``lhs``: Latin-hypercube stratified inputs (default; ~3x lower quantile noise than ``iid`` at the same n, so
#: 10,000 samples per model sit well inside Monte Carlo tolerance of the published figures). ``iid``: plain
#: independent draws, as the paper. The numpy-legacy draws are always ``iid``.
SAMPLING = ("lhs", "iid")
#: Efficiency levers of ``infergy pathways`` (:data:`infergy.analysis.pathways.LEVERS` defines each one).
LEVER_NAMES = ("model", "serving", "hardware", "paper-fleet", "h200", "b200", "fp4", "load-x2", "smaller-model",
               "moe")
#: A PUE at or above this is refused unless asked for as an extreme case: the Uptime Institute's annual surveys
#: put the industry's average near 1.56 (2024) and older, small sites rarely above 2.5 (data/pue.csv).
PUE_EXTREME = 3.0
#: Queries per day at or above this are refused unless asked for as an extreme case: 1,000 queries a day for each
#: of 10 billion people.
QUERIES_PER_DAY_EXTREME = 1e13
def pue_past(pue: float) -> str | None:
    """Why a PUE is refused as extreme (None if it is not): the query object and the command line say the same."""
    if pue < PUE_EXTREME:
        return None
    return f"a PUE of {pue:g} is past any data centre's (the industry averages about 1.56; refused from {PUE_EXTREME:g})"


def queries_per_day_past(queries: float) -> str | None:
    """Why a daily query count is refused as extreme (None if it is not)."""
    if queries < QUERIES_PER_DAY_EXTREME:
        return None
    return (f"{queries:g} queries a day is over 1,000 for each of 10 billion people (refused from "
            f"{QUERIES_PER_DAY_EXTREME:g})")


#: The message's ending for a value refused as extreme.
EXTREME_HINT = "allow_extreme=True (--allow-extreme) answers it anyway, as a hypothetical"
