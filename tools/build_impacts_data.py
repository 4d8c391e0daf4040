"""Build the carbon and water tables in ``data/`` from the reference folder (a developer step, not run time).

    pip install pycountry pycountry-convert   # country codes and continents, needed here only
    python tools/build_impacts_data.py REFERENCE_DIR/carbon_water data/

Writes ``grid_carbon.csv`` (Electricity Maps yearly life-cycle intensity per zone, with each zone's country and
continent), ``grid_carbon_direct.csv`` (Ember's latest direct intensity per country or region) and
``grid_water.csv`` (EcoLogits' per-country mix: off-site water and life-cycle GWP). Values are kept as printed;
every row keeps its source file, URL and 1-based data row. ``wue.csv`` (operators' on-site WUE) is curated by
hand, each row with its source.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

EM_SOURCE = ("Electricity Maps yearly carbon intensity (life-cycle), via thegreenwebfoundation/co2.js "
             "data/output/electricity-maps/yearly_{year}.json (commit 27cbe8328aea); ODbL")
EM_URL = "https://github.com/thegreenwebfoundation/co2.js/tree/main/data/output/electricity-maps"
EMBER_SOURCE = ("Ember yearly electricity data (direct emissions intensity), via thegreenwebfoundation/co2.js "
                "data/output/average-intensities.json; CC BY-SA 4.0")
EMBER_URL = "https://github.com/thegreenwebfoundation/co2.js/blob/main/data/output/average-intensities.json"
ECOLOGITS_SOURCE = ("EcoLogits electricity mixes (ecologits/data/electricity_mixes.csv, commit 5be90dadc86e; "
                    "MPL-2.0); GWP from Our World in Data, ADPe and PE from ADEME Base Empreinte, water from WRI "
                    "guidance on water embedded in purchased electricity")
ECOLOGITS_URL = "https://github.com/mlco2/ecologits/blob/main/ecologits/data/electricity_mixes.csv"

#: Electricity Maps zone prefixes that are not ISO 3166 alpha-2 codes pycountry-convert knows, with their
#: continent (ISO-style two-letter continent codes, as pycountry-convert gives them).
CONTINENT_OVERRIDES = {"XK": "EU", "TL": "AS", "EH": "AF", "SX": "NA", "AQ": "AN", "UM": "OC", "VA": "EU",
                       "PN": "OC", "TF": "AF"}
CONTINENT_NAMES = {"AF": "Africa", "AN": "Antarctica", "AS": "Asia", "EU": "Europe", "NA": "North America",
                   "OC": "Oceania", "SA": "South America"}


def continent(country: str) -> str:
    import pycountry_convert as pc

    code = CONTINENT_OVERRIDES.get(country)
    if code is None:
        code = pc.country_alpha2_to_continent_code(country)
    return CONTINENT_NAMES[code]


def iso2_to_iso3(code: str) -> str:
    import pycountry

    found = pycountry.countries.get(alpha_2=code)
    return found.alpha_3 if found is not None else ""


def iso3_to_iso2(code: str) -> str:
    import pycountry

    if code == "WOR":
        return "world"
    found = pycountry.countries.get(alpha_3=code)
    if found is None:
        raise KeyError(f"unknown ISO 3166 alpha-3 code {code!r}")
    return found.alpha_2


def read(path: Path) -> pd.DataFrame:
    # "NA" is Namibia, not a missing value
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def grid_carbon(ref: Path) -> pd.DataFrame:
    src = read(ref / "grid_carbon_electricitymaps_yearly.csv")
    country = src["zone"].str.split("-").str[0]
    return pd.DataFrame({
        "zone": src["zone"], "zone_name": src["zone_name"], "country": country,
        "country_iso3": country.map(iso2_to_iso3),
        "continent": country.map(continent), "year": src["year"],
        "carbon_intensity_g_per_kwh": src["carbon_intensity_gco2eq_per_kwh"],
        "renewable_pct": src["renewable_pct"], "carbon_free_pct": src["carbon_free_pct"],
        "basis": "life-cycle", "source": [EM_SOURCE.format(year=y) for y in src["year"]],
        "source_url": EM_URL, "source_row": range(1, len(src) + 1),
    })


def grid_carbon_direct(ref: Path) -> pd.DataFrame:
    src = read(ref / "grid_carbon_ember_latest.csv")
    return pd.DataFrame({
        "code": src["code"], "country_or_region": src["country_or_region"], "year": src["year"],
        "carbon_intensity_g_per_kwh": src["carbon_intensity_gco2_per_kwh"], "basis": "direct",
        "source": EMBER_SOURCE, "source_url": EMBER_URL, "source_row": range(1, len(src) + 1),
    })


def grid_water(ref: Path) -> pd.DataFrame:
    src = read(ref / "electricity_mixes_ecologits.csv")
    return pd.DataFrame({
        "country_iso3": src["name"], "country": src["name"].map(iso3_to_iso2),
        "offsite_water_l_per_kwh": src["wue"], "gwp_g_per_kwh": (src["gwp"] * 1000.0).round(6),
        "adpe_kgsbeq_per_kwh": src["adpe"], "pe_mj_per_kwh": src["pe"],
        "source": ECOLOGITS_SOURCE, "source_url": ECOLOGITS_URL, "source_row": range(1, len(src) + 1),
        "notes": "gwp_g_per_kwh = the source's gwp (kgCO2eq/kWh) x 1000",
    })


def main(ref: str, out: str) -> None:
    ref_dir, out_dir = Path(ref), Path(out)
    for name, frame in (("grid_carbon.csv", grid_carbon(ref_dir)), ("grid_carbon_direct.csv", grid_carbon_direct(ref_dir)),
                        ("grid_water.csv", grid_water(ref_dir))):
        frame.to_csv(out_dir / name, index=False)
        print(f"{name}: {len(frame)} rows")


if __name__ == "__main__":
    main(*sys.argv[1:3])
