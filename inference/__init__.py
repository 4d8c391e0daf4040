"""Inference and propagation: paper mode now, the Bayesian fit next (``import infergy.inference``)."""

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
    "RNG_BACKENDS",
    "SAMPLING",
    "FleetEstimate",
    "PaperReplication",
    "bootstrap_mean",
    "nan_quartiles",
    "replicate_paper",
]
