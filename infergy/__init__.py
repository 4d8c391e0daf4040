"""infergy: calibrated energy per LLM query, with honest uncertainty."""

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("infergy")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

from .data import DataBundle, load as load_data, load_paper_throughput
from .inference import PaperReplication, replicate_paper
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
    "PAPER_CONFIGS",
    "LogNormal",
    "PaperConfig",
    "PaperReplication",
    "__version__",
    "energy_per_query_wh",
    "fit_tps_regressions",
    "get_paper_config",
    "load_data",
    "load_paper_throughput",
    "lognormal_from_range",
    "replicate_paper",
]
