"""The model: the energy equation, priors, and the paper's specification (``import infergy.model``). Names load
on first use (``lazy_loader``)."""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "energy": ["BOUNDARIES", "Boundary", "check_boundary", "energy_per_query_wh"],
        "paper": ["PAPER_CONFIGS", "PAPER_V1", "PAPER_V2", "PATHWAYS", "PUBLISHED", "REGIMES", "PaperConfig",
                  "TpsRegression", "fit_tps_regressions", "get_paper_config"],
        "priors": ["PAPER_Z90", "LogNormal", "lognormal_from_range"],
    },
)
