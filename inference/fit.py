"""Fit the joint model (NUTS, or ChEES-HMC for many chains on a GPU) and return an ArviZ DataTree with an automatic
review in its attributes."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from pathlib import Path

import arviz as az
import jax
import xarray as xr
import jax.numpy as jnp
import numpy as np
from numpyro import handlers
from numpyro.infer import MCMC, Predictive, init_to_median
from numpyro.infer.util import constrain_fn, log_likelihood

from ..data import DataBundle, load
from ..model.joint import OBSERVED_SITES, InfergyDesign, build_design, coords_dims, infergy_model
from ..model.workload import fit_workload, workload_model
from .files import atomic_path
from .loo import exact_loo_pue
from .posterior import package_version
from .precondition import METRICS, WHITENED_SITE, precondition
from .review import FitReview, review_fit
from .samplers import nuts, resolve_chain_method

__all__ = ["SAMPLERS", "FitConfig", "FitResult", "fit", "save_fit", "load_fit"]

#: ``nuts``: NumPyro's NUTS (the CPU default); ``chees``: ChEES-HMC, all chains in lock step (many chains on a GPU)
SAMPLERS = ("nuts", "chees")


@dataclass(frozen=True)
class FitConfig:
    """Sampler settings. ``chain_method`` ``auto``: parallel when there are enough devices, vectorized on a single
    GPU (many chains in one batched computation), else sequential. :meth:`for_sampler` gives each sampler's
    defaults."""

    chains: int = 4
    warmup: int = 300  # enough after the variational start
    draws: int = 1000  # per chain: enough for the review's bulk ESS >= 400 on the slowest parameter (docs/scaling.md)
    seed: int = 0
    # the serving model diverges in a few of 4,000 transitions at 0.9-0.95, and once in 4,800 at 0.98 (data 2026.12.05)
    target_accept: float = 0.99
    max_tree_depth: int = 10
    chain_method: str = "auto"
    prior_draws: int = 200
    progress_bar: bool = True
    #: steps of a mean-field variational fit that sets every chain's start and the sampler's coordinates;
    #: 0: start at prior medians with a unit metric (NumPyro's default warm-up from scratch)
    init_steps: int = 2000
    #: the coordinates NUTS samples in (see :mod:`infergy.inference.precondition`): ``hessian`` whitens by the
    #: curvature of the log density at the variational centre, ``diagonal`` scales by the mean-field spreads
    metric: str = "hessian"
    #: ``nuts`` or ``chees`` (see :data:`SAMPLERS`; ``chees`` ignores ``max_tree_depth`` and ``chain_method``)
    sampler: str = "nuts"
    #: keep every ``thin``-th draw (``chees`` only; divergences and BFMI still count every transition)
    thin: int = 1
    #: ``chees`` only: after warm-up, the adapted step size times this, with proportionally more leapfrog steps
    #: (the same trajectory length; see :func:`~infergy.inference.chees.sample_chees`)
    step_scale: float = 1.0
    #: refit without each production source and judge its rows by the predictive fitted without them (the review's
    #: check of the production data; ~3 min per source on 2 cores)
    leave_source_out: bool = False

    @classmethod
    def for_sampler(cls, sampler: str, **overrides) -> "FitConfig":
        """The defaults for ``sampler``: ``nuts`` as above; ``chees`` 128 chains x (800 warm-up + 2,000 draws), every
        40th kept (6,400 draws), step size adapted to BlackJAX's 0.651 acceptance and halved after warm-up.

        Why (docs/scaling.md): with the adapted step, 1-4 divergent transitions in 128,000 (rare high-curvature
        tails, which the shared step's adaptation ignores); halved, none. And 1,000 draws per chain leave R-hat
        near 1.011 on the slowest parameter; 2,000 bring it under 1.01. So the fit passes its review."""
        if sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
        base = {"chees": {"chains": 128, "warmup": 800, "draws": 2000, "thin": 40, "target_accept": 0.651,
                          "step_scale": 0.5}}
        return cls(**{"sampler": sampler, **base.get(sampler, {}), **overrides})

    def __post_init__(self):
        for name in ("chains", "warmup", "draws", "prior_draws", "thin"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if int(self.init_steps) < 0:
            raise ValueError(f"init_steps must be >= 0, got {self.init_steps}")
        if not 0.5 <= self.target_accept < 1.0:
            raise ValueError(f"target_accept must be in [0.5, 1), got {self.target_accept}")
        if self.chain_method not in ("auto", "parallel", "sequential", "vectorized"):
            raise ValueError(f"unknown chain_method {self.chain_method!r}")
        if self.metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {self.metric!r}")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}, got {self.sampler!r}")
        if self.sampler == "nuts" and self.thin != 1:
            raise ValueError("thin applies to the chees sampler only (NUTS keeps every draw)")
        if not 0.0 < self.step_scale <= 1.0:
            raise ValueError(f"step_scale must be in (0, 1], got {self.step_scale}")
        if self.sampler == "nuts" and self.step_scale != 1.0:
            raise ValueError("step_scale applies to the chees sampler only (NUTS adapts its own step)")
        if self.sampler == "chees":
            if self.chains < 2:
                raise ValueError(f"the chees sampler adapts over an ensemble: chains must be >= 2, got {self.chains}")
            if self.init_steps < 1:
                raise ValueError("the chees sampler starts from the variational fit: init_steps must be >= 1")
            if self.draws % self.thin:
                raise ValueError(f"draws ({self.draws}) must be a multiple of thin ({self.thin})")


@dataclass
class FitResult:
    """The DataTree, its review, the design it was fitted to and the wall time."""

    datatree: object
    review: FitReview
    design: InfergyDesign
    seconds: float  # sampling (warm-up + draws, compilation included)
    total_seconds: float = float("nan")  # sampling + predictive draws + review
    config: FitConfig = field(default_factory=FitConfig)

    @property
    def min_ess_per_second(self) -> float:
        """Smallest bulk ESS over the parameters, per second of sampling."""
        ess = [c.value for c in self.review.checks if c.name == "min bulk ESS"]
        return float(ess[0] / self.seconds) if ess else float("nan")

    @property
    def mean_leapfrog_steps(self) -> float:
        """Mean trajectory length (gradient evaluations) per draw."""
        stats = self.datatree["sample_stats"]
        return float(stats["n_steps"].mean()) if "n_steps" in stats else float("nan")

    def summary_text(self) -> str:
        cfg = self.config
        return "\n".join([
            f"infergy fit ({cfg.sampler}): {cfg.chains} chains x ({cfg.warmup} warm-up + {cfg.draws} draws"
            + (f", every {cfg.thin}th kept" if cfg.thin > 1 else "")
            + f"), seed {cfg.seed}, {self.datatree.attrs.get('chain_method', '?')} chains",
            f"sampling {self.seconds:.1f} s, total {self.total_seconds:.1f} s, "
            f"min bulk ESS per second of sampling {self.min_ess_per_second:.2f}, "
            f"{self.mean_leapfrog_steps:.0f} leapfrog steps per draw",
            f"data {self.datatree.attrs['data_version']} (hash {self.datatree.attrs['data_hash'][:16]})",
            self.review.to_text(),
        ])


def _drop_internal_sites(dt) -> None:
    """Remove the whitened latent and the per-site density factors (names starting with ``_``) from every group,
    with the dimensions only they used."""
    for group in ("posterior", "log_likelihood", "observed_data"):
        if group not in dt.children:
            continue
        ds = dt[group].to_dataset()
        ds = ds.drop_vars([name for name in ds.data_vars if str(name).startswith("_")])
        used = {dim for var in ds.data_vars.values() for dim in var.dims}
        dt[group].dataset = ds.drop_dims([dim for dim in ds.dims if dim not in used])


def _add_draws(dt, group: str, draws: dict, coords: dict, dims: dict) -> None:
    """Add ``draws`` (chain x draw x ...) to ``group`` of ``dt``, with their dimensions and labels."""
    ds = dt[group].to_dataset()
    for name, v in draws.items():
        site_dims = dims.get(name, [f"{name}_dim_{i}" for i in range(v.ndim - 2)])
        ds[name] = xr.DataArray(v, dims=("chain", "draw", *site_dims),
                                coords={d: coords[d] for d in site_dims if d in coords})
    dt[group].dataset = ds


def _sample_chees(pre, args: tuple, model_kwargs: dict, key: jax.Array, cfg: FitConfig):
    """ChEES-HMC in the whitened coordinates: the kept draws as the model's sites (latent and deterministic, by
    chain), and the sampler's own output (:class:`~infergy.inference.chees.CheesDraws`: statistics, step size)."""
    from .chees import sample_chees

    out = sample_chees(pre.log_density, pre.starts, key, warmup=cfg.warmup, draws=cfg.draws, thin=cfg.thin,
                       target_accept=cfg.target_accept, step_scale=cfg.step_scale)
    chains, kept, dim = out.positions.shape
    sites = _sites_at(pre, args, model_kwargs, out.positions.reshape(-1, dim))
    return {name: np.reshape(v, (chains, kept, *v.shape[1:])) for name, v in sites.items()}, out


def _sites_at(pre, args: tuple, model_kwargs: dict, u) -> dict:
    """The model's latent and deterministic sites (constrained) at whitened points ``u`` (``(n, D)``): the values
    NUTS records through :meth:`Preconditioner.model`, computed directly."""
    x = pre.loc + jnp.asarray(u, pre.loc.dtype) @ pre.scale.T
    sites = jax.jit(jax.vmap(lambda xi: constrain_fn(infergy_model, args, model_kwargs, pre.unravel(xi),
                                                     return_deterministic=True)))(x)
    return {name: np.asarray(v) for name, v in sites.items() if not name.startswith("_")}


def predictive_draws(model, key: jax.Array, args: tuple, kwargs: dict, *, samples: dict | None = None,
                     num_samples: int | None = None, return_sites=None) -> dict:
    """NumPyro's :class:`~numpyro.infer.Predictive` (all draws at once) as one compiled program: prior draws
    (``num_samples``) or draws given ``samples``. Run eagerly, it dispatches the model op by op and compiles each
    op separately."""
    def draw(key, samples):
        return Predictive(model, samples, num_samples=num_samples, return_sites=return_sites, parallel=True)(
            key, *args, **kwargs)

    return {name: np.asarray(v) for name, v in jax.device_get(jax.jit(draw)(key, samples)).items()}


def model_datatree(model, args: tuple, model_kwargs: dict, by_chain: dict, stats: dict, prior: dict, ppc: dict, *,
                   coords: dict, dims: dict, attrs: dict):
    """The DataTree of a fit: the groups, variables and dimensions ``az.from_numpyro`` gives (posterior,
    sample_stats, log_likelihood, posterior_predictive, observed_data, prior, prior_predictive), with the
    log-likelihood and the observed values from one compiled trace of ``model`` (``az.from_numpyro`` traces it op
    by op). ``by_chain``: the draws ``(chains, draws, ...)``; ``prior``: prior draws with a leading chain axis;
    ``ppc``: posterior predictive draws ``(chains x draws, ...)``. Sites named ``_...`` stay internal.
    """
    chains, kept = next(iter(by_chain.values())).shape[:2]
    samples = {k: np.reshape(v, (chains * kept, *np.shape(v)[2:])) for k, v in by_chain.items()}

    given = {}

    def traced(samples):
        trace = handlers.trace(handlers.seed(model, 0)).get_trace(*args, **model_kwargs)
        observed = {name: site["value"] for name, site in trace.items()
                    if site["type"] == "sample" and site["is_observed"]}
        # observed values the model takes as given stay as they are (float64 stays float64); values it computes
        # (traced here) come out of the compiled program
        given.update({name: v for name, v in observed.items() if not isinstance(v, jax.core.Tracer)})
        loglik = log_likelihood(model, samples, *args, **model_kwargs)
        return ({name: v for name, v in observed.items() if name not in given},
                {name: loglik[name] for name in observed if not name.startswith("_")})

    computed, loglik = jax.device_get(jax.jit(traced)(samples))
    observed = {name: np.asarray(given[name] if name in given else computed[name]) for name in loglik}
    by_draw = lambda d: {k: np.reshape(np.asarray(v), (chains, kept, *np.shape(v)[1:])) for k, v in d.items()}
    groups = {"posterior": by_chain, "sample_stats": stats, "log_likelihood": by_draw(loglik),
              "posterior_predictive": by_draw(ppc), "observed_data": observed,
              "prior": {k: v for k, v in prior.items()
                        if k not in given and k not in computed and not k.startswith("_")},
              "prior_predictive": {k: v for k, v in prior.items() if k in loglik}}
    return az.from_dict(groups, coords=coords, dims=dims, attrs={group: dict(attrs) for group in groups})


def _nuts_stats(mcmc: MCMC, max_tree_depth: int) -> dict:
    """NUTS's per-draw statistics, named and derived as ``az.from_numpyro`` names and derives them."""
    extra = jax.device_get(mcmc.get_extra_fields(group_by_chain=True))
    n_steps = np.asarray(extra["num_steps"])
    tree_depth = np.log2(n_steps).astype(int) + 1
    return {"diverging": np.asarray(extra["diverging"]), "energy": np.asarray(extra["energy"]), "n_steps": n_steps,
            "tree_depth": tree_depth, "reached_max_tree_depth": tree_depth >= max_tree_depth}


def _chees_stats(chees) -> dict:
    """ChEES's per-kept-draw statistics (a thinned fit counts the divergent transitions between kept draws)."""
    return {"diverging": chees.divergent > 0, "n_divergent": chees.divergent, "n_steps": chees.steps,
            "acceptance_rate": chees.acceptance}


def posterior_datatree(design: InfergyDesign, by_chain: dict, stats: dict, *, key_prior: jax.Array,
                       key_ppc: jax.Array, prior_draws: int, library: str, prior: dict | None = None,
                       ppc: dict | None = None):
    """The DataTree of the joint model's draws ``by_chain`` (latent and deterministic sites, ``(chains, draws,
    ...)``) and the sampler's ``stats``: with prior draws, posterior predictive draws, log-likelihood and observed
    values, internal sites dropped. ``prior`` (every site, ``(draws, ...)``) and ``ppc`` (the observed sites,
    ``(chains x draws, ...)``), where given, are used as they are instead of drawn here."""
    samples = {k: np.reshape(v, (-1, *v.shape[2:])) for k, v in by_chain.items()}
    if prior is None:
        prior = predictive_draws(infergy_model, key_prior, design.inputs, design.sizes, num_samples=prior_draws)
    # one chain of prior draws: without the leading axis ArviZ reads an undeclared vector site's draws as chains
    prior = {name: v[None] for name, v in prior.items()}
    if ppc is None:
        ppc = predictive_draws(infergy_model, key_ppc, design.inputs, design.sizes, samples=samples,
                               return_sites=list(OBSERVED_SITES))
    coords, dims = coords_dims(design)
    dt = model_datatree(infergy_model, design.inputs, {**design.sizes, **design.observations}, by_chain, stats,
                        prior, ppc, coords=coords, dims=dims,
                        attrs={"inference_library": library, "inference_library_version": version(library)})
    _drop_internal_sites(dt)
    return dt


def add_workload(dt, design: InfergyDesign, lengths, *, warmup: int, seed: int, key_prior: jax.Array,
                 prior_draws: int, draws: dict | None = None, prior: dict | None = None,
                 max_tree_depth: int = 10, chain_method: str = "auto") -> float:
    """Add the request-length model's posterior (``draws``, or its own run with the joint draws' chains and draws)
    and prior draws (``prior``, ``(draws, ...)`` per site, or ``prior_draws`` drawn here) to ``dt``; returns the
    seconds taken.

    The workload lengths share no parameter with the joint model, so the joint posterior factorises: their own run,
    stored beside the joint draws (the review checks them too)."""
    start = time.perf_counter()
    coords, dims = coords_dims(design)
    if draws is None:
        post = dt["posterior"]
        draws = fit_workload(lengths, chains=post.sizes["chain"], warmup=warmup, draws=post.sizes["draw"],
                             seed=seed, max_tree_depth=max_tree_depth,
                             chain_method=resolve_chain_method(chain_method, post.sizes["chain"]))
    wl_prior = prior if prior is not None else predictive_draws(workload_model, key_prior, (), {},
                                                                 num_samples=prior_draws)
    _add_draws(dt, "posterior", draws, coords, dims)
    _add_draws(dt, "prior", {name: v[None] for name, v in wl_prior.items()}, coords, dims)
    return time.perf_counter() - start


def review_joint(dt, design: InfergyDesign, *, seed: int, thresholds=None, left_out_sources=(),
                 convergence: bool = True, draw_log_ratio=None) -> FitReview:
    """The review of a joint fit: convergence (unless ``convergence`` is False), then each observed site's
    predictive checks (weighted by ``draw_log_ratio``: see :func:`~infergy.inference.review.review_fit`); PUE rows
    that alone pin down an operator or a scale make PSIS-LOO unreliable, so those are judged by exact refits."""
    from .loso import SOURCE_SITES

    return review_fit(dt, {site: label for site, (_, label) in OBSERVED_SITES.items()}, thresholds,
                      exact_loo={"pue_obs": lambda rows: exact_loo_pue(design.pue, rows, seed=seed)},
                      left_out_sources=left_out_sources, source_sites=SOURCE_SITES if left_out_sources else (),
                      convergence=convergence, draw_log_ratio=draw_log_ratio)


def provenance(bundle: DataBundle, design: InfergyDesign) -> dict:
    """What a posterior records of where it came from: package and data version, data hash, design fingerprint
    (what :func:`~infergy.inference.posterior.check_posterior` compares) and the device."""
    return {"infergy_version": package_version(), "data_version": bundle.version, "data_hash": bundle.content_hash,
            "design_hash": design.fingerprint(),
            "device": f"{jax.devices()[0].platform} ({jax.devices()[0].device_kind}) x {jax.local_device_count()}"}


def fit(data: DataBundle | None = None, *, config: FitConfig | None = None, extra=(), thresholds=None,
        **overrides) -> FitResult:
    """Fit the joint model to ``data`` (default: the shipped tables, plus ``extra`` user CSVs).

    Keyword overrides (``chains=``, ``draws=``, ``warmup=``, ``seed=``, ...) update ``config``. Returns the
    DataTree (posterior, prior, posterior_predictive, log_likelihood, observed_data, sample_stats) with the data
    hash, data version, config, package version and review in its attributes.
    """
    cfg = FitConfig(**{**asdict(config or FitConfig()), **overrides})
    bundle = data if data is not None else load(extra=extra)
    design = build_design(bundle)
    method = "vectorized" if cfg.sampler == "chees" else resolve_chain_method(cfg.chain_method, cfg.chains)
    key_fit, key_prior, key_ppc, key_init = jax.random.split(jax.random.PRNGKey(cfg.seed), 4)
    start = time.perf_counter()
    model_kwargs = {**design.sizes, **design.observations}
    coordinates = {"metric": "unit (no variational start)"}
    mcmc = chees = None
    if cfg.init_steps:
        pre = precondition(infergy_model, design.inputs, model_kwargs, key_init, cfg.chains, cfg.init_steps,
                           cfg.metric)
        coordinates = {"metric": pre.metric, "dimension": int(pre.loc.shape[0]),
                       "hessian_eigenvalues_floored": pre.floored, "mean_field_loss": pre.elbo_loss}
    if cfg.sampler == "chees":
        by_chain, chees = _sample_chees(pre, design.inputs, model_kwargs, key_fit, cfg)
        coordinates.update({"sampler": "chees", "step_size": chees.step_size, "thin": cfg.thin,
                            "trajectory_steps": chees.trajectory_steps,
                            "warmup_gradients_per_chain": chees.warmup_gradients})
    else:
        if cfg.init_steps:
            init_params = pre.init_params
            # the whitened coordinates have unit scale: NUTS starts from a unit metric and adapts a diagonal on them
            model, kernel = pre.model(infergy_model), {}
        else:
            # chains start near the prior medians: NumPyro's default (uniform in [-2, 2] on the unconstrained
            # scale) can start a chain at a residual scale of ~7 and nu ~ 7000, where it stays
            init_params = None
            model, kernel = infergy_model, {"init_strategy": init_to_median(num_samples=15)}
        mcmc = nuts(model, warmup=cfg.warmup, draws=cfg.draws, chains=cfg.chains, chain_method=method,
                    target_accept=cfg.target_accept, max_tree_depth=cfg.max_tree_depth,
                    progress_bar=cfg.progress_bar, **kernel)
        mcmc.run(key_fit, *design.inputs, **model_kwargs, init_params=init_params,
                 extra_fields=("diverging", "energy", "num_steps"))
        # JAX dispatches asynchronously: wait for the chains before reading the clock
        by_chain = jax.device_get(jax.block_until_ready(mcmc.get_samples(group_by_chain=True)))
        by_chain.pop(WHITENED_SITE, None)
    seconds = time.perf_counter() - start
    library = "numpyro" if mcmc is not None else "blackjax"
    dt = posterior_datatree(design, by_chain,
                            _nuts_stats(mcmc, cfg.max_tree_depth) if mcmc is not None else _chees_stats(chees),
                            key_prior=key_prior, key_ppc=key_ppc, prior_draws=cfg.prior_draws, library=library)
    if chees is not None:
        # the energy BFMI over every transition (the kept draws are thinned): one value per chain
        ds = dt["sample_stats"].to_dataset()
        ds["bfmi"] = ("chain", np.asarray(chees.bfmi))
        dt["sample_stats"].dataset = ds
    # the workload lengths share no parameter with the joint model, so the joint posterior factorises: their own
    # run, with the joint run's chains and draws, stored beside its draws (the review checks them too)
    wl_seconds = add_workload(dt, design, bundle.tables["request_lengths"], warmup=cfg.warmup, seed=cfg.seed,
                              key_prior=key_prior, prior_draws=cfg.prior_draws, max_tree_depth=cfg.max_tree_depth,
                              chain_method=method)
    # PUE rows that alone pin down an operator or a scale make PSIS-LOO unreliable: judge those by exact refits
    sources = []
    if cfg.leave_source_out:
        from .loso import leave_source_out

        sources = leave_source_out(bundle, seed=cfg.seed, progress=lambda line: print(line, file=sys.stderr,
                                                                                     flush=True))
        dt.attrs["left_out_sources"] = json.dumps([asdict(r) for r in sources])
    review = review_joint(dt, design, seed=cfg.seed, thresholds=thresholds, left_out_sources=sources)
    dt.attrs.update({
        **provenance(bundle, design),
        "fit_config": json.dumps(asdict(cfg)),
        "chain_method": method,
        "sampler_coordinates": json.dumps(coordinates),
        "fit_seconds": seconds,
        "workload_fit_seconds": wl_seconds,
        "review": review.to_json(),
    })
    return FitResult(datatree=dt, review=review, design=design, seconds=seconds,
                     total_seconds=time.perf_counter() - start, config=cfg)


def save_fit(result: FitResult, path: str | Path) -> Path:
    """Write the DataTree as netCDF (atomically); attributes carry data hash, config, version and review."""
    with atomic_path(path) as tmp:
        result.datatree.to_netcdf(tmp, engine="h5netcdf")
    return Path(path)


def load_fit(path: str | Path):
    """Read a saved DataTree."""
    return az.from_netcdf(path, engine="h5netcdf")
