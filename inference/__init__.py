"""Inference: how belief meets data — the fit (samplers, preconditioning), its review, cross-validation and the
posterior's files."""

from .fit import FitConfig, FitResult, fit, load_fit, save_fit

__all__ = ["FitConfig", "FitResult", "fit", "load_fit", "save_fit"]
