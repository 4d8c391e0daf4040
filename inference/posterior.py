"""The posterior the package ships: a thinned copy of the default fit, so answers need no refit.

The shipped file holds the ``posterior`` group (parameters and the deterministic quantities built from them),
thinned evenly over the chains to ``SHIPPED_DRAWS`` draws, and the fit's ``prior`` draws (what ``infergy update``
extends instead of drawing the prior afresh), in float32, with the fit's provenance in its attributes:
data hash and version, the fingerprint of the design the likelihood read, package version, sampler config and the
review. :func:`check_posterior` refuses a posterior whose design differs from the one the tables now give: a change
the fit never read (a new GPU in the hardware table, a source's notes) keeps it valid.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .files import atomic_path
from .version import package_version

__all__ = ["DEFAULT_POSTERIOR", "SHIPPED_DRAWS", "PosteriorFileError", "PosteriorMismatchError", "check_posterior",
           "design_fingerprint", "load_posterior", "package_version", "review_of", "thin_posterior",
           "write_shipped_posterior"]

#: Where the package keeps its default posterior (package data of ``infergy.inference``).
DEFAULT_POSTERIOR = Path(__file__).with_name("default_posterior.nc")
#: Draws kept in the shipped posterior (over all chains).
SHIPPED_DRAWS = 1000


class PosteriorMismatchError(ValueError):
    """A posterior used with data other than the data it was fitted to."""


def _float32(ds):
    return ds.map(lambda v: v.astype(np.float32) if np.issubdtype(v.dtype, np.floating) else v)


def thin_posterior(dt, draws: int = SHIPPED_DRAWS):
    """A DataTree with the ``posterior`` group, ``draws`` draws in all (evenly spaced in every chain), and the
    ``prior`` group where ``dt`` has one (its draws of the posterior's variables), float32."""
    import arviz as az

    post = dt["posterior"].to_dataset()
    n_chain, n_draw = post.sizes["chain"], post.sizes["draw"]
    per_chain = max(1, min(n_draw, int(np.ceil(draws / n_chain))))
    keep = np.unique(np.linspace(0, n_draw - 1, per_chain).round().astype(int))
    thinned = post.isel(draw=keep)
    thinned = thinned.assign_coords(draw=np.arange(len(keep)))
    out = az.from_dict({"posterior": {}})
    out["posterior"] = _float32(thinned)
    if "prior" in dt.children:
        prior = dt["prior"].to_dataset()
        prior = prior[[name for name in post.data_vars if name in prior.data_vars]]
        used = {dim for var in prior.data_vars.values() for dim in var.dims}
        out["prior"] = _float32(prior.drop_dims([dim for dim in prior.dims if dim not in used]))
    out.attrs.update({**dict(dt.attrs), "thinned_from_draws": int(n_draw), "shipped_draws_per_chain": len(keep)})
    return out


def write_shipped_posterior(dt, path: str | Path = DEFAULT_POSTERIOR, draws: int = SHIPPED_DRAWS) -> Path:
    """Thin ``dt`` and write it (compressed netCDF, atomically) to ``path``."""
    thinned = thin_posterior(dt, draws)
    encoding = {f"/{group}": {name: {"zlib": True, "complevel": 6} for name in thinned[group].to_dataset().data_vars}
                for group in thinned.children}
    with atomic_path(path) as tmp:
        thinned.to_netcdf(tmp, engine="h5netcdf", encoding=encoding)
    return Path(path)


class PosteriorFileError(ValueError):
    """A file given as a posterior that is not one: not netCDF, or not written by infergy."""


#: What every infergy posterior carries: its draws, and the hash of the data it was fitted to.
REQUIRED_GROUP, REQUIRED_ATTRS = "posterior", ("data_hash",)


def load_posterior(path: str | Path | None = None):
    """The posterior in ``path`` (a saved fit or a shipped file); the package's default when ``path`` is None.

    Raises ``FileNotFoundError`` for a missing file and :class:`PosteriorFileError` (one line naming the file) for
    a directory, a file that is not netCDF (empty, truncated, something else) or a netCDF file infergy did not
    write (no ``posterior`` group, or no data hash to check it against the tables)."""
    import arviz as az

    path = Path(path) if path is not None else DEFAULT_POSTERIOR
    if not path.exists():
        hint = ("the package's default posterior is missing: reinstall infergy, or fit one with "
                "`infergy fit --out FILE` and pass it with --posterior FILE") if path == DEFAULT_POSTERIOR else \
            "no such posterior file"
        raise FileNotFoundError(f"{path}: {hint}")
    if path.is_dir():
        raise PosteriorFileError(f"{path}: is a directory, not a posterior file")
    try:
        dt = az.from_netcdf(path, engine="h5netcdf")
    except Exception as exc:  # h5py and netCDF readers raise OSError, ValueError, KeyError... on a bad file
        raise PosteriorFileError(f"{path}: not a netCDF posterior file ({type(exc).__name__}: "
                                 f"{str(exc).splitlines()[0][:120] if str(exc) else 'unreadable'})") from exc
    missing = ([f"no '{REQUIRED_GROUP}' group"] if REQUIRED_GROUP not in dt.children else []) + \
        [f"no '{a}' attribute" for a in REQUIRED_ATTRS if a not in dt.attrs]
    if missing:
        raise PosteriorFileError(f"{path}: a netCDF file, but not an infergy posterior ({'; '.join(missing)}): "
                                 "write one with `infergy fit --out FILE` or `infergy update ... --out FILE`")
    return dt


_FINGERPRINTS: dict[str, str] = {}  # data hash -> design fingerprint (a bundle's tables do not change)


def design_fingerprint(bundle, design=None) -> str:
    """The fingerprint of the joint model's design built from ``bundle`` (what a fit to it reads); ``design``:
    that design, where the caller has built it already."""
    if bundle.content_hash not in _FINGERPRINTS:
        if design is None:
            from ..model.joint import build_design

            design = build_design(bundle)
        _FINGERPRINTS[bundle.content_hash] = design.fingerprint()
    return _FINGERPRINTS[bundle.content_hash]


def check_posterior(dt, bundle, design=None) -> None:
    """Raise :class:`PosteriorMismatchError` unless ``dt`` was fitted to the design ``bundle`` gives (``design``,
    where built already: the same rows, values and group labels), or, for a posterior without a design
    fingerprint, to exactly these tables."""
    fitted = dt.attrs.get("design_hash")
    if fitted is not None:
        if fitted == design_fingerprint(bundle, design):
            return
        what = f"a design {str(fitted)[:16]} the data no longer give (now {design_fingerprint(bundle)[:16]})"
    elif dt.attrs.get("data_hash") == bundle.content_hash:
        return
    else:
        what = f"data {str(dt.attrs.get('data_hash'))[:16]}, the data now hash to {bundle.content_hash[:16]}"
    raise PosteriorMismatchError(
        f"the posterior was fitted to {what} (fitted to data version {dt.attrs.get('data_version', '?')}, now "
        f"{bundle.version}): refit with `infergy fit` (or `make posterior` for the shipped default)")


def review_of(dt) -> dict:
    """The review stored with a fit (``{}`` if there is none)."""
    text = dt.attrs.get("review")
    return json.loads(text) if text else {}
