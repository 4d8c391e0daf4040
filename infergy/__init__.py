"""infergy: calibrated energy per LLM query, with honest uncertainty."""

from .inference.posterior import package_version

__version__ = package_version()

from .data import DataBundle, load as load_data, load_paper_throughput
from .inference import FitConfig, FitResult, fit, load_fit, save_fit
from .analysis import Estimate, PaperReplication, QuerySpec, estimate, fleet, open_posterior, pathways, \
    replicate_paper, sensitivity
from .compile_cache import enable_compile_cache
from .model import (
    BOUNDARIES,
    PAPER_CONFIGS,
    LogNormal,
    PaperConfig,
    energy_per_query_wh,
    fit_tps_regressions,
    get_paper_config,
    lognormal_from_range,
)

__all__ = [
    "BOUNDARIES",
    "DataBundle",
    "Estimate",
    "FitConfig",
    "FitResult",
    "PAPER_CONFIGS",
    "LogNormal",
    "PaperConfig",
    "PaperReplication",
    "__version__",
    "enable_compile_cache",
    "energy_per_query_wh",
    "estimate",
    "fleet",
    "fit",
    "fit_tps_regressions",
    "get_paper_config",
    "load_data",
    "load_fit",
    "load_paper_throughput",
    "lognormal_from_range",
    "open_posterior",
    "pathways",
    "QuerySpec",
    "replicate_paper",
    "save_fit",
    "sensitivity",
]
