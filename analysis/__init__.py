"""Analysis: a posterior (or paper mode's ranges) turned into answers — query resolution, propagation, estimate,
pathways, fleet, sensitivity, the comparison with paper mode. Plain data out: no plotting, no prose."""

from .estimate import Estimate, PosteriorSource, estimate, open_posterior
from .fleet import fleet
from .paper_mc import FLEET_NAMES, RNG_BACKENDS, SAMPLING, FleetEstimate, PaperReplication, replicate_paper
from .pathways import pathways
from .predict import QuerySpec
from .sensitivity import sensitivity

__all__ = ["Estimate", "FLEET_NAMES", "FleetEstimate", "PaperReplication", "PosteriorSource", "QuerySpec",
           "RNG_BACKENDS", "SAMPLING", "estimate", "fleet", "open_posterior", "pathways", "replicate_paper",
           "sensitivity"]
