"""The carbon and water tables: grid carbon intensity per zone and year, off-site water per country, on-site WUE.

They are apart from the energy tables (:func:`infergy.data.load`): the carbon and water sub-model shares no
parameter with the energy model, so its posterior is fitted and checked on its own and changing one never
invalidates the other. Sources and licences: ``CARBON_WATER_SOURCES.md`` beside the tables.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .schema import Check, Column, Schema, read_validated_csv

__all__ = ["IMPACT_SCHEMAS", "IMPACT_FILES", "ImpactData", "load_impacts", "CONTINENTS", "WUE_SCOPES"]

CONTINENTS = ("Africa", "Asia", "Europe", "North America", "Oceania", "South America")
WUE_SCOPES = ("fleet", "industry")


def _provenance() -> tuple[Column, ...]:
    return (Column("source", "str"), Column("source_url", "str", required=False),
            Column("source_row", "int", required=False, min_value=1))


GRID_CARBON_SCHEMA = Schema(
    name="grid_carbon",
    columns=(
        Column("zone", "str"), Column("zone_name", "str"), Column("country", "str"),
        Column("country_iso3", "str", required=False),
        Column("continent", "str", allowed=frozenset(CONTINENTS)),
        Column("year", "int", min_value=2000, max_value=2100),
        # the cleanest grids are ~10 g/kWh over a life cycle; the dirtiest ~1,100 (lignite)
        Column("carbon_intensity_g_per_kwh", "float", min_value=0.0, max_value=2000.0, min_inclusive=False),
        Column("renewable_pct", "float", required=False, min_value=0.0, max_value=100.0),
        Column("carbon_free_pct", "float", required=False, min_value=0.0, max_value=100.0),
        Column("basis", "str", allowed=frozenset({"life-cycle"})),
        *_provenance(),
    ),
    checks=(Check("zone", "a zone's code must start with its country's code",
                  lambda d: ~pd.Series([z == c or z.startswith(c + "-") for z, c in zip(d["zone"], d["country"])],
                                       index=d.index)),),
)

GRID_CARBON_DIRECT_SCHEMA = Schema(
    name="grid_carbon_direct",
    columns=(
        Column("code", "str", required=False), Column("country_or_region", "str"),
        Column("year", "int", min_value=2000, max_value=2100),
        Column("carbon_intensity_g_per_kwh", "float", min_value=0.0, max_value=2000.0),
        Column("basis", "str", allowed=frozenset({"direct"})),
        *_provenance(),
    ),
)

GRID_WATER_SCHEMA = Schema(
    name="grid_water",
    columns=(
        Column("country_iso3", "str"), Column("country", "str"),
        Column("offsite_water_l_per_kwh", "float", min_value=0.0, max_value=100.0, min_inclusive=False),
        Column("gwp_g_per_kwh", "float", required=False, min_value=0.0, max_value=2000.0),
        Column("adpe_kgsbeq_per_kwh", "float", required=False, min_value=0.0),
        Column("pe_mj_per_kwh", "float", required=False, min_value=0.0),
        *_provenance(), Column("notes", "str", required=False),
    ),
    unique=("country",),
)

WUE_SCHEMA = Schema(
    name="wue",
    columns=(
        Column("id", "str"), Column("operator", "str"),
        Column("year", "int", required=False, min_value=2000, max_value=2100),
        # evaporative cooling in a hot, dry site reaches a few L/kWh; more is not a data centre's cooling
        Column("wue_l_per_kwh", "float", min_value=0.0, max_value=10.0, min_inclusive=False),
        Column("scope", "str", allowed=frozenset(WUE_SCOPES)),
        Column("kind", "str", allowed=frozenset({"reported", "estimate", "assumption"})),
        Column("hyperscale", "bool"), Column("quantity", "str", required=False),
        *_provenance(), Column("notes", "str", required=False),
    ),
    unique=("id",),
)

IMPACT_SCHEMAS = {s.name: s for s in (GRID_CARBON_SCHEMA, GRID_CARBON_DIRECT_SCHEMA, GRID_WATER_SCHEMA, WUE_SCHEMA)}
IMPACT_FILES = {name: f"{name}.csv" for name in IMPACT_SCHEMAS}


@dataclass(frozen=True)
class ImpactData:
    """The validated carbon and water tables and the SHA-256 of their files."""

    tables: dict[str, pd.DataFrame]
    content_hash: str

    def __getattr__(self, name: str) -> pd.DataFrame:
        try:
            return self.tables[name]
        except KeyError:
            raise AttributeError(name) from None


_CACHE: dict[str, ImpactData] = {}


def load_impacts(data_dir: str | Path | None = None) -> ImpactData:
    """Load and validate the carbon and water tables (the shipped ones unless ``data_dir`` is given)."""
    base = Path(data_dir) if data_dir is not None else Path(__file__).parent
    key = str(base.resolve())
    if key in _CACHE:
        return _CACHE[key]
    digest = hashlib.sha256()
    tables = {}
    for name, filename in IMPACT_FILES.items():
        path = base / filename
        tables[name] = read_validated_csv(path, IMPACT_SCHEMAS[name])
        digest.update(filename.encode() + b"\0" + path.read_bytes() + b"\0")
    grid = tables["grid_carbon"]
    dup = grid.duplicated(["zone", "year"])
    if dup.any():
        from .schema import DataValidationError

        raise DataValidationError([f"grid_carbon.csv: zone {z!r} year {y} repeats an earlier row"
                                   for z, y in grid.loc[dup, ["zone", "year"]].itertuples(index=False)])
    _CACHE[key] = data = ImpactData(tables, digest.hexdigest())
    return data
