"""Inference: paper mode (Monte Carlo of the paper's ranges) and the Bayesian fit with its review."""

from .fit import FitConfig, FitResult, fit, load_fit, save_fit
from .paper_mc import (
    FLEET_NAMES,
    RNG_BACKENDS,
    SAMPLING,
    FleetEstimate,
    PaperReplication,
    bootstrap_mean,
    nan_quartiles,
    replicate_paper,
)

__all__ = [
    "FLEET_NAMES",
    "FitConfig",
    "FitResult",
    "fit",
    "load_fit",
    "save_fit",
    "RNG_BACKENDS",
    "SAMPLING",
    "FleetEstimate",
    "PaperReplication",
    "bootstrap_mean",
    "nan_quartiles",
    "replicate_paper",
]
