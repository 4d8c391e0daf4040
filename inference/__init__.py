"""Inference: how belief meets data — the fit (samplers, preconditioning), its review, cross-validation and the
posterior's files. Names load on first use (``lazy_loader``)."""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "fit": ["FitConfig", "FitResult", "fit", "load_fit", "save_fit"],
    },
)
