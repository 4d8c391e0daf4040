"""infergy's version, as fits and reports stamp it (light: no JAX, no ArviZ)."""

from __future__ import annotations

__all__ = ["package_version"]


def package_version() -> str:
    """infergy's version from the installed package's metadata (stamped on fits and reports)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("infergy")
    except PackageNotFoundError:  # a source tree that is not installed
        return "0.0.0+unknown"
