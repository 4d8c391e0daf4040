"""The model: the energy equation, priors, and the paper's specification (``import infergy.model``)."""

from .energy import BOUNDARIES, Boundary, check_boundary, energy_per_query_wh
from .paper import (
    PAPER_CONFIGS,
    PAPER_V1,
    PAPER_V2,
    PATHWAYS,
    PUBLISHED,
    REGIMES,
    PaperConfig,
    TpsRegression,
    fit_tps_regressions,
    get_paper_config,
)
from .priors import PAPER_Z90, LogNormal, lognormal_from_range

__all__ = [
    "BOUNDARIES",
    "Boundary",
    "LogNormal",
    "PAPER_CONFIGS",
    "PAPER_V1",
    "PAPER_V2",
    "PAPER_Z90",
    "PATHWAYS",
    "PUBLISHED",
    "PaperConfig",
    "REGIMES",
    "TpsRegression",
    "check_boundary",
    "energy_per_query_wh",
    "fit_tps_regressions",
    "get_paper_config",
    "lognormal_from_range",
]
