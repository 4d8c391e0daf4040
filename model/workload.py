"""Workload lengths: how long production prompts and answers are, learned from production request traces.

Each traced workload w (``chat``, ``code``: the Azure 2023 traces, data/request_lengths.csv) is a mixture of K
log-normal components over (prompt tokens, generated tokens); within a component the two are independent, so
the mixture carries whatever dependence the trace shows. Token counts are whole numbers: requests are counted in
bins (each whole count up to 64 tokens, then 5% steps) and a bin's likelihood is the mixture's mass on it
(discretised log-normals), which matters for the short code completions (median 13 tokens, a spike at 6) and
makes the cost independent of the number of requests.

    component k ~ Categorical(pi_w)                          pi_w ~ Dirichlet(2, ..., 2)
    log n_in  ~ Normal(mu_in[w, k], sd_in[w, k])             mu_in[w, :] ordered (labels cannot switch)
    log n_out ~ Normal(mu_out[w, k], sd_out[w, k])           sd = 0.2 + LogNormal(log 0.65, 0.5)

K = 4. A component is at least 0.2 wide on the log scale (90% of it within a factor 1.4 of its median): the chat
trace's prompts pile up at a few exact lengths (templated system prompts: 2.2% at 181 tokens, more at 200-206
and 396-401), and a mixture free to chase them collapses components onto single lengths; the chains then crawl
(at a floor of one 5% bin, 110-260 leapfrog steps a draw; at 0.12, several times slower than at 0.2, which takes
~50). The model smooths those spikes and keeps what the energy depends on: the traces' mean prompt and answer
within a few percent and their distributions within a few percent of probability everywhere
(tests/test_workload.py). Four components, not three: with three, the chat prompts' mean came out 10% high.

No trace of reasoning models' production traffic is public. A reasoning query is a chat query whose answer is
longer by a factor the traces cannot decide, a prior with its source: reasoning models produce about 8x the
output tokens of non-reasoning models on the same prompts (Epoch AI, April 2025; data/token_lengths.csv TL-014),
log-normal with sd 0.7 (90% between 2.5x and 25x, spanning the per-prompt figures of TL-015..021).

Each trace is censored at its longest prompt and answer: the services cut requests at a limit (3.7% of the code
prompts sit within four tokens of 7,437, the context window; 11 chat answers at 1,000, the answer cap), so a request at a
trace's longest length says only "at least this long" (its likelihood is the mixture's mass from there up), and a
drawn length is cut at the same limit (a reasoning answer at the chat limit times the ratio). Without it the
broad components' tails, fitted to the body of the traces, drew prompts far beyond any production request.

The workload's parameters share nothing with the energy model's, so the joint posterior factorises: the fit
samples them in a run of their own (:func:`fit_workload`) and stores them beside the joint model's draws.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from jax.scipy.special import log_ndtr

from ..data.frame_cache import frame_cache
from ..data.tables import TRACE_WORKLOADS
from .names import REGIME_WORKLOAD

__all__ = ["COMPONENTS", "REGIME_WORKLOAD", "REASONING_RATIO", "REASONING_SOURCE", "TRACE_NAME", "WORKLOAD_SITES", "WorkloadArrays",
           "workload_arrays", "workload_model", "fit_workload", "length_mixture", "draw_lengths",
           "draw_output", "token_edges", "trace_limits", "typical_lengths"]

COMPONENTS = 4
#: Starts of the search for the posterior mode the chains begin at (the best is kept).
MAP_STARTS = 4
#: Reasoning answers' length over chat answers': Epoch AI (April 2025), wide (log sd).
REASONING_RATIO = (8.0, 0.7)
REASONING_SOURCE = "Epoch AI, April 2025: reasoning models answer with about 8x the tokens"
#: The traces, as the report names them.
TRACE_NAME = "the Azure LLM inference traces of 2023 (Patel et al., ISCA 2024; CC BY 4.0)"
#: Posterior sites of the workload model (prefix ``wl_``).
WORKLOAD_SITES = ("wl_weights", "wl_mu_in_first", "wl_mu_in_gap", "wl_mu_in", "wl_sd_in", "wl_mu_out", "wl_sd_out",
                  "wl_log_reasoning_ratio")


#: Bin edges of a token count: every whole count up to 64 (the unit interval around it), then 5% steps; the last
#: bin is open. Binned, the likelihood costs the same for any number of requests and is exact to 5% above 64.
_WHOLE_TOKENS = 64
_STEP = 1.05
#: The narrowest component (log scale): wider than the templated-length spikes (module docstring).
SD_FLOOR = 0.2


def token_edges(max_tokens: float) -> np.ndarray:
    """Bin edges (tokens) covering 1 to ``max_tokens``."""
    whole = np.arange(_WHOLE_TOKENS + 1) + 0.5
    steps = int(np.ceil(np.log(max(max_tokens, _WHOLE_TOKENS + 1) / whole[-1]) / np.log(_STEP))) + 1
    return np.concatenate([whole, whole[-1] * _STEP ** np.arange(1, steps + 1)])


class WorkloadArrays(NamedTuple):
    """The traces binned: log bin edges, the log limit each workload's prompts and answers are cut at (workloads),
    and per occupied (workload, prompt bin, answer bin, at the prompt limit, at the answer limit) cell its
    requests."""

    log_edges: jnp.ndarray
    log_limit_in: jnp.ndarray
    log_limit_out: jnp.ndarray
    workload: jnp.ndarray
    input_bin: jnp.ndarray
    output_bin: jnp.ndarray
    at_limit_in: jnp.ndarray
    at_limit_out: jnp.ndarray
    count: jnp.ndarray


@frame_cache
def trace_limits(lengths) -> dict[str, tuple[float, float]]:
    """The longest prompt and answer (tokens) of each traced workload: the limits its requests are cut at."""
    top = lengths.groupby("workload")[["input_tokens", "output_tokens"]].max()
    return {w: (float(top.loc[w, "input_tokens"]), float(top.loc[w, "output_tokens"])) for w in TRACE_WORKLOADS}


def workload_arrays(lengths) -> WorkloadArrays:
    """The traces (data/request_lengths.csv) as counts per occupied cell."""
    edges = token_edges(float(max(lengths["input_tokens"].max(), lengths["output_tokens"].max())))
    limits = trace_limits(lengths)
    limit_in, limit_out = (lengths["workload"].map({w: v[i] for w, v in limits.items()}) for i in (0, 1))
    cells = lengths.assign(i=np.searchsorted(edges, lengths["input_tokens"]) - 1,
                           j=np.searchsorted(edges, lengths["output_tokens"]) - 1,
                           ci=lengths["input_tokens"] >= limit_in, co=lengths["output_tokens"] >= limit_out)
    g = cells.groupby(["workload", "i", "j", "ci", "co"], sort=True).size().reset_index(name="n")
    # the mass from half a token below the limit up: P(round(n) >= limit)
    log_limit = [np.log(np.array([limits[w][i] for w in TRACE_WORKLOADS]) - 0.5) for i in (0, 1)]
    return WorkloadArrays(jnp.asarray(np.log(edges), jnp.float32), jnp.asarray(log_limit[0], jnp.float32),
                          jnp.asarray(log_limit[1], jnp.float32),
                          jnp.asarray(g["workload"].map(TRACE_WORKLOADS.index).to_numpy()),
                          jnp.asarray(g["i"].to_numpy()), jnp.asarray(g["j"].to_numpy()),
                          jnp.asarray(g["ci"].to_numpy()), jnp.asarray(g["co"].to_numpy()),
                          jnp.asarray(g["n"].to_numpy(np.float32)))


def _log_interval(a, b):
    """log(Phi(b) - Phi(a)) for a < b, accurate in both tails."""
    upper = a > 0  # both in the upper tail: use the mirror image
    lo, hi = jnp.where(upper, -b, a), jnp.where(upper, -a, b)
    log_hi, log_lo = log_ndtr(hi), log_ndtr(lo)
    return log_hi + jnp.log1p(-jnp.exp(jnp.minimum(log_lo - log_hi, -1e-7)))


def _log_bin_mass(log_edges, mu, sd):
    """log mass of each bin (the last one open above) under log-normals ``(mu, sd)`` (... x K): ... x K x bins."""
    z = (log_edges - mu[..., None]) / sd[..., None]
    z = jnp.concatenate([z, jnp.full((*z.shape[:-1], 1), jnp.inf)], axis=-1)
    return _log_interval(z[..., :-1], z[..., 1:])


def _log_pmf_tokens(n, mu, sd):
    """log P(whole token count n) under a log-normal, discretised to the unit interval around n (from 0.5)."""
    return _log_interval((jnp.log(n - 0.5) - mu) / sd, (jnp.log(n + 0.5) - mu) / sd)


def workload_model(x: WorkloadArrays | None = None):
    """The length mixtures of the traced workloads, and the reasoning ratio (a prior)."""
    n_w, k = len(TRACE_WORKLOADS), COMPONENTS
    with numpyro.plate("workloads", n_w, dim=-2):
        with numpyro.plate("length_components", k, dim=-1):
            sd_in = numpyro.deterministic("wl_sd_in", SD_FLOOR + numpyro.sample(
                "wl_sd_in_excess", dist.LogNormal(math.log(0.65), 0.5)))
            mu_out = numpyro.sample("wl_mu_out", dist.Normal(math.log(200.0), 2.0))
            sd_out = numpyro.deterministic("wl_sd_out", SD_FLOOR + numpyro.sample(
                "wl_sd_out_excess", dist.LogNormal(math.log(0.65), 0.5)))
        # the components in order of prompt length, so labels cannot switch: log gaps of about a factor e
        with numpyro.plate("length_gaps", k - 1, dim=-1):
            gap = numpyro.sample("wl_mu_in_gap", dist.LogNormal(0.0, 0.7))
    with numpyro.plate("workloads_", n_w):
        weights = numpyro.sample("wl_weights", dist.Dirichlet(jnp.full(k, 2.0)))
        mu_in_first = numpyro.sample("wl_mu_in_first", dist.Normal(math.log(300.0), 2.0))  # the shortest prompts
    mu_in = numpyro.deterministic("wl_mu_in", mu_in_first[:, None] + jnp.concatenate(
        [jnp.zeros((n_w, 1)), jnp.cumsum(gap, axis=-1)], axis=-1))
    numpyro.sample("wl_log_reasoning_ratio", dist.Normal(math.log(REASONING_RATIO[0]), REASONING_RATIO[1]))
    if x is not None:
        w = x.workload
        lp_in = _log_bin_mass(x.log_edges, mu_in, sd_in)[w, :, x.input_bin]  # cells x K
        lp_out = _log_bin_mass(x.log_edges, mu_out, sd_out)[w, :, x.output_bin]
        # a request at its trace's limit was cut there: only "at least this long" is known
        over_in = log_ndtr((mu_in - x.log_limit_in[:, None]) / sd_in)[w]
        over_out = log_ndtr((mu_out - x.log_limit_out[:, None]) / sd_out)[w]
        lp_in = jnp.where(x.at_limit_in[:, None], over_in, lp_in)
        lp_out = jnp.where(x.at_limit_out[:, None], over_out, lp_out)
        lp = jax.nn.logsumexp(jnp.log(weights[w]) + lp_in + lp_out, axis=-1)
        numpyro.factor("wl_requests", jnp.sum(x.count * lp))


def fit_workload(lengths, *, chains: int, warmup: int, draws: int, seed: int, map_steps: int = 2000,
                 max_tree_depth: int = 10, chain_method: str = "sequential") -> dict[str, np.ndarray]:
    """NUTS draws of the workload model, by chain (chains x draws x ...), the joint fit's shape. The chains start
    at the posterior mode (Adam on the log density from :data:`MAP_STARTS` prior draws, the best kept: a mixture
    started from its prior wanders for long, and a single search can end in a local mode) and adapt a
    dense metric: the tight components' parameters are known to 0.1%, the rest to a few percent. ``chain_method``:
    NumPyro's (``parallel``, ``sequential``, ``vectorized``); ``infergy fit`` passes its joint fit's (a CPU device
    per chain where there are enough, as it provides; vectorised on a GPU). Vectorised chains on a CPU wait in lock
    step for the longest trajectory among them (about 100 leapfrog steps a draw here) and pay every chain's
    gradient at each step: 4 x 1,300 took 341 s on 2 cores, against 124 s in parallel. As the joint fit's, the
    draws are the same run to run for a seed, platform and chain method, and differ in their last bits (then in
    their values, as chains amplify rounding) between chain methods. ``max_tree_depth`` caps each draw's leapfrog steps at ``2^depth - 1`` as the joint fit's does (10: NumPyro's
    default)."""
    from numpyro.infer import MCMC, NUTS, SVI, Trace_ELBO, init_to_value
    from numpyro.infer.autoguide import AutoDelta

    x = workload_arrays(lengths)
    key_map, key_fit = jax.random.split(jax.random.PRNGKey(seed))
    guide = AutoDelta(workload_model)
    svi = SVI(workload_model, guide, numpyro.optim.Adam(0.03), Trace_ELBO())

    def search(key):
        def step(state, _):
            return svi.update(state, x)

        state, losses = jax.lax.scan(step, svi.init(key, x), length=map_steps)
        return svi.get_params(state), jnp.mean(losses[-50:])

    # a mixture's log density has local modes: every start's search in one compiled program, the best kept
    params, loss = jax.jit(jax.vmap(search))(jax.random.split(key_map, MAP_STARTS))
    best = int(np.argmin(np.asarray(loss)))
    mode = guide.median(jax.tree.map(lambda v: v[best], params))
    mcmc = MCMC(NUTS(workload_model, init_strategy=init_to_value(values=mode), dense_mass=True,
                     max_tree_depth=max_tree_depth), num_warmup=warmup,
                num_samples=draws, num_chains=chains, chain_method=chain_method,
                progress_bar=False)
    mcmc.run(key_fit, x)
    return {k: np.asarray(v) for k, v in jax.device_get(mcmc.get_samples(group_by_chain=True)).items()}


def length_mixture(draws: dict, regime: str, lengths) -> dict[str, np.ndarray]:
    """Per-draw mixture of ``regime``'s (prompt, answer) lengths: log weights, and the log-normal parameters of
    each component (draws x K), and the log limits drawn lengths are cut at (per draw; the longest of the traces,
    ``lengths``); a reasoning answer is a chat answer scaled by the reasoning ratio, its limit too."""
    if regime not in REGIME_WORKLOAD:
        raise ValueError(f"unknown regime {regime!r}; choose one of {', '.join(REGIME_WORKLOAD)}")
    missing = [s for s in WORKLOAD_SITES if s not in draws]
    if missing:
        raise ValueError(f"the posterior has no workload-length model ({', '.join(missing)}): refit it with this "
                         "version of infergy (infergy fit)")
    name = REGIME_WORKLOAD[regime]
    w = TRACE_WORKLOADS.index(name)
    max_in, max_out = trace_limits(lengths)[name]
    mu_out = np.asarray(draws["wl_mu_out"])[:, w]
    log_max_out = np.full(mu_out.shape[0], math.log(max_out))
    if regime == "reasoning":
        ratio = np.asarray(draws["wl_log_reasoning_ratio"])
        mu_out, log_max_out = mu_out + ratio[:, None], log_max_out + ratio
    return {"len_log_w": np.log(np.asarray(draws["wl_weights"])[:, w]), "len_mu_in": np.asarray(draws["wl_mu_in"])[:, w],
            "len_sd_in": np.asarray(draws["wl_sd_in"])[:, w], "len_mu_out": mu_out,
            "len_sd_out": np.asarray(draws["wl_sd_out"])[:, w],
            "len_log_limit_in": np.full(mu_out.shape[0], math.log(max_in)), "len_log_limit_out": log_max_out}


def _whole_tokens(p: dict, side: str, component, key):
    """Whole token counts (at least one, at most the limit) from each query's component."""
    mu = jnp.take_along_axis(p[f"len_mu_{side}"], component, axis=1)
    sd = jnp.take_along_axis(p[f"len_sd_{side}"], component, axis=1)
    n = jnp.round(jnp.exp(mu + sd * jax.random.normal(key, component.shape)))
    return jnp.clip(n, 1.0, jnp.round(jnp.exp(p[f"len_log_limit_{side}"]))[:, None])


def draw_lengths(p: dict, key, shape: tuple[int, int], input_tokens=None, output_tokens=None):
    """(component, prompt tokens) for ``shape`` = (draws, queries) from the per-draw mixture in ``p``
    (:func:`length_mixture`). A length given (not None: one number, or one per query, broadcastable to ``shape``)
    is held, and the component is drawn given it; the prompt, unless given, is drawn from the component, in whole
    tokens cut at the limit."""
    k_c, k_in = jax.random.split(key)
    logits = p["len_log_w"][:, None, :]  # (draws, 1, components): per query only where a given length varies
    for side, given in (("in", input_tokens), ("out", output_tokens)):
        if given is not None:
            logits = logits + _log_pmf_given(given, p[f"len_mu_{side}"], p[f"len_sd_{side}"], shape)
    c = draw_component(k_c, logits, shape)
    tokens_in = (_whole_tokens(p, "in", c, k_in) if input_tokens is None
                 else jnp.broadcast_to(jnp.asarray(input_tokens, jnp.float32), shape))
    return c, tokens_in


def draw_component(key, logits, shape: tuple[int, int]):
    """Each query's mixture component (``shape``), with probabilities ``softmax(logits)`` (broadcastable to
    ``(*shape, components)``), by the inverse CDF of one uniform per query: a quarter of the random bits of a
    Gumbel-max draw over four components, which dominated an answer's time. A component of zero weight is never
    drawn (the uniform is > 0 and its CDF interval is empty)."""
    cdf = jnp.cumsum(jax.nn.softmax(logits, axis=-1)[..., :-1], axis=-1)
    u = jax.random.uniform(key, shape, jnp.float32, minval=jnp.finfo(jnp.float32).tiny)
    return jnp.sum(u[..., None] > cdf, axis=-1, dtype=jnp.int32)


def _log_pmf_given(tokens, mu, sd, shape):
    """Each component's log mass at a given length: (draws, 1, components) for one number, else per query."""
    tokens = jnp.asarray(tokens, jnp.float32)
    if tokens.ndim == 0:
        return _log_pmf_tokens(tokens, mu, sd)[:, None]
    return _log_pmf_tokens(jnp.broadcast_to(tokens, shape)[..., None], mu[:, None], sd[:, None])


def draw_output(p: dict, key, component):
    """Answer tokens of each query's component (whole tokens, at least one, at most the limit)."""
    return _whole_tokens(p, "out", component, key)


def _mixture_median(log_w: np.ndarray, mu: np.ndarray, sd: np.ndarray, log_limit: float) -> float:
    """Median of a log-normal mixture cut at ``log_limit`` (bisection on the log scale)."""
    from scipy.special import ndtr

    w = np.exp(log_w - np.logaddexp.reduce(log_w))
    lo, hi = float(np.min(mu - 6 * sd)), float(np.max(mu + 6 * sd))
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if float(np.sum(w * ndtr((mid - mu) / sd))) < 0.5 else (lo, mid)
    return float(np.exp(min(0.5 * (lo + hi), log_limit)))


def typical_lengths(draws: dict, regime: str, lengths) -> tuple[float, float]:
    """Median prompt and answer tokens of ``regime``'s workload (cut at the limits of the traces, ``lengths``)
    at the posterior median of its parameters (what a replica is sized for; the answers themselves draw every
    query's lengths)."""
    m = {k: np.median(v, axis=0) for k, v in length_mixture(draws, regime, lengths).items()}
    return (_mixture_median(m["len_log_w"], m["len_mu_in"], m["len_sd_in"], float(m["len_log_limit_in"])),
            _mixture_median(m["len_log_w"], m["len_mu_out"], m["len_sd_out"], float(m["len_log_limit_out"])))
