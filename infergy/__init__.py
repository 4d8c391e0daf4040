"""infergy: calibrated energy per LLM query, with honest uncertainty.

Names load on first use (``lazy_loader``): ``import infergy`` and the command line's argument checks cost
milliseconds, not JAX's and ArviZ's seconds.
"""

import lazy_loader as _lazy

from .inference.version import package_version as _package_version

__version__ = _package_version()

_lazy_getattr, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "data": ["DataBundle", "load_paper_throughput"],
        "inference": ["FitConfig", "FitResult", "fit", "load_fit", "save_fit"],
        "analysis": ["Estimate", "PaperReplication", "QuerySpec", "Where", "energy_totals", "estimate",
                     "estimate_many", "fleet", "open_posterior", "pathways", "regions_table", "replicate_paper",
                     "sensitivity"],
        "compile_cache": ["enable_compile_cache"],
        "model": ["BOUNDARIES", "PAPER_CONFIGS", "LogNormal", "PaperConfig", "energy_per_query_wh",
                  "fit_tps_regressions", "get_paper_config", "lognormal_from_range"],
    },
)




def __getattr__(name: str):
    if name == "load_data":  # the data package's ``load``, under the name the top level has always used
        from .data import load

        return load
    return _lazy_getattr(name)


__all__ = sorted([*__all__, "__version__", "load_data"])
