"""infergy: calibrated energy per LLM query, with honest uncertainty."""

from .inference.posterior import package_version

__version__ = package_version()

from .data import DataBundle, load as load_data, load_paper_throughput
from .inference import FitConfig, FitResult, PaperReplication, fit, load_fit, replicate_paper, save_fit
from .inference.compile_cache import enable_compile_cache
from .inference.estimate import Estimate, estimate, open_posterior
from .inference.fleet import fleet
from .inference.pathways import pathways
from .inference.predict import QuerySpec
from .inference.sensitivity import sensitivity
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
