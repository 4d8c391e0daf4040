"""Analysis: a posterior (or paper mode's ranges) turned into answers — query resolution, propagation, estimate,
many queries at once, pathways, fleet, carbon and water, sensitivity, the comparison with paper mode. Plain data out: no plotting, no prose. Names load on
first use (``lazy_loader``)."""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "batch": ["energy_totals", "estimate_many"],
        "estimate": ["Estimate", "PosteriorSource", "estimate", "open_posterior"],
        "fleet": ["fleet"],
        "impacts": ["Where", "regions_table"],
        "paper_mc": ["FLEET_NAMES", "RNG_BACKENDS", "SAMPLING", "FleetEstimate", "PaperReplication", "replicate_paper"],
        "pathways": ["pathways"],
        "predict": ["QuerySpec"],
        "sensitivity": ["sensitivity"],
    },
)
