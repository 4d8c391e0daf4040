"""Carbon and water of an answer: where and when a query is served, on the same simulated queries as its energy.

A query's grid electricity is its energy at the facility boundary (at ``facility+idle`` when that is the answer's
boundary); whatever boundary the energy answer states, the impacts are converted to the facility draw by draw
(host ratio, PUE). Then, per posterior draw::

    carbon_g = facility_wh x CI (g/kWh) / 1000           CI: the zone's life-cycle grid intensity in the year
    water_ml = IT_wh x WUE (L/kWh) + facility_wh x W_off  (Wh x L/kWh = mL; IT_wh = facility_wh / PUE)

location-based unless a clean-energy share (``CI x (1 - share)``) or an operator's market-based factor is given.
Each factor is a per-draw scale on the energy of the same queries (:func:`~.propagate.stream`'s
``extra_log_scales``), so a query's carbon and water are its own energy times its draw's intensities.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Where", "ImpactPlan", "plan_impacts", "IMPACT_KEYS", "impacts_boundary", "regions_table"]

#: The impacts an answer carries, in order, and their units per query (per token: the same over output tokens).
IMPACT_KEYS = {"energy_wh": "Wh", "carbon_g": "gCO2e", "water_ml": "mL"}


@dataclass(frozen=True)
class Where:
    """Where and when a query is served, and how its carbon is counted."""

    region: str
    year: int | None = None  # None: the latest year of the grid data
    clean_share: float | None = None  # market-based: this share of the load is matched by clean energy
    market_factor_g_per_kwh: float | None = None  # market-based: an operator's stated factor
    embodied: bool = False  # add the hardware's manufacturing emissions, amortised per GPU-second (a prior)

    def check(self) -> None:
        if self.clean_share is not None and self.market_factor_g_per_kwh is not None:
            raise ValueError("give a clean-energy share or a market-based factor, not both")
        if self.clean_share is not None and not (isinstance(self.clean_share, (int, float))
                                                 and 0.0 <= self.clean_share <= 1.0):
            raise ValueError(f"clean share must be in [0, 1], got {self.clean_share}")
        f = self.market_factor_g_per_kwh
        if f is not None and not (isinstance(f, (int, float)) and math.isfinite(f) and 0.0 <= f <= 2000.0):
            raise ValueError(f"market-based factor must be in 0-2000 gCO2e/kWh (the dirtiest grids are ~1,100), "
                             f"got {f}")

    @property
    def market_based(self) -> bool:
        return self.clean_share is not None or self.market_factor_g_per_kwh is not None


def impacts_boundary(boundary: str) -> str:
    """The boundary the impacts are counted at: the grid feeds the facility (and its idle capacity, if asked)."""
    return "facility+idle" if boundary == "facility+idle" else "facility"


@dataclass
class ImpactPlan:
    """What :func:`plan_impacts` resolved: the names of the extra streams, a function of the prepared per-draw
    arrays giving their log scales, and the JSON description of the basis."""

    names: tuple[str, ...]
    zero: frozenset[str]  # impacts that are exactly 0 for every draw (a fully clean market-based supply)
    scales: object  # callable(arrays) -> (len(names), draws) log factors
    basis: dict
    rates: object = None  # callable(arrays) -> (len(names), draws) gCO2e per GPU-second, or None

def plan_impacts(where: Where, *, boundary: str, per: str, operator: str | None, n_draws: int, seed: int,
                 posterior=None) -> ImpactPlan:
    """Resolve ``where`` against the carbon and water posterior: per-draw intensities for ``n_draws`` energy draws
    (the impact posterior's draws, shuffled by ``seed``, paired one to one; the two posteriors are independent)."""
    from ..inference.impacts import load_impact_posterior
    from ..model.impacts import (EMBODIED_G_PER_GPU_HOUR_P5_P95, EMBODIED_SOURCES, YEAR_RANGE,
                                 carbon_intensity_draws, check_year, embodied_draws, offsite_water_draws,
                                 resolve_region, wue_draws)
    from ..model.equations import boundary_factor
    from .predict import boundary_flags

    where.check()
    post = posterior if posterior is not None else load_impact_posterior()
    region = resolve_region(post.data, where.region)
    latest = int(post.data.grid_carbon["year"].max())
    year = check_year(where.year if where.year is not None else latest)
    rng = np.random.default_rng([seed, 26])
    pick = rng.permutation(post.n_draws)
    pick = np.resize(pick, n_draws)  # one impact draw per energy draw (cycled when there are more energy draws)
    draws = {k: v[pick] for k, v in post.draws.items()}
    ci_loc, ci_origin = carbon_intensity_draws(draws, post.design, post.data, region, year, rng)
    w_off, off_origin = offsite_water_draws(draws, post.design, post.data, region, rng)
    wue, wue_origin = wue_draws(draws, post.design, operator, rng)
    if where.clean_share is not None:
        ci, scope = ci_loc * (1.0 - where.clean_share), (f"market-based: {where.clean_share:.0%} of the load matched "
                                                          "by clean energy, the rest at the location's intensity")
    elif where.market_factor_g_per_kwh is not None:
        ci, scope = np.full(n_draws, float(where.market_factor_g_per_kwh)), \
            f"market-based: the stated factor {where.market_factor_g_per_kwh:g} gCO2e/kWh"
    else:
        ci, scope = ci_loc, "location-based: the grid's average intensity where the query is served"
    per_token = per == "token"
    to_impacts = boundary_flags(impacts_boundary(boundary))
    from_answer = boundary_flags(boundary)
    names = ["energy_wh", "carbon_g", "water_ml"] + (["carbon_location_g"] if where.market_based else []) \
        + (["embodied_g"] if where.embodied else [])
    clean = not np.any(ci > 0)  # a fully clean market-based supply: no operational carbon
    zero = frozenset(["carbon_g"] if clean and not where.embodied else [])
    # drawn after every other factor: the same seed gives the same grids with or without it
    per_gpu_s = embodied_draws(n_draws, rng) if where.embodied else None

    def scales(arrays: dict) -> np.ndarray:
        host, pue, idle = arrays["host_ratio"], arrays["pue"], arrays["idle_share"]
        log_ratio = (np.log(np.asarray(boundary_factor(host, pue, idle, np.asarray(to_impacts)), np.float64))
                     - np.log(np.asarray(boundary_factor(host, pue, idle, np.asarray(from_answer)), np.float64)))
        if per_token:  # the stream's per-token values are J: Wh per token
            log_ratio = log_ratio - np.log(3600.0)
        with np.errstate(divide="ignore"):
            rows = {"energy_wh": log_ratio,
                    "carbon_g": log_ratio + np.log(np.where(ci > 0, ci, 1.0) / 1000.0),
                    "water_ml": log_ratio + np.log(wue / pue + w_off),
                    "carbon_location_g": log_ratio + np.log(ci_loc / 1000.0),
                    "embodied_g": np.full_like(log_ratio, -np.inf)}  # no energy part: GPU-seconds only
            if clean:
                rows["carbon_g"] = rows["embodied_g"]
        return np.stack([rows[n] for n in names])

    def rates(arrays: dict) -> np.ndarray:
        # idle machines kept for the load are manufactured too: at facility+idle their share is carried
        idle = arrays["idle_share"] if impacts_boundary(boundary) == "facility+idle" else 0.0
        r = per_gpu_s / (1.0 - idle)
        return np.stack([r if n in ("carbon_g", "carbon_location_g", "embodied_g") else np.zeros(n_draws)
                         for n in names])

    basis = {
        "boundary": impacts_boundary(boundary),
        "unit": {k: f"{u}/{'token' if per_token else 'query'}" for k, u in
                 {**IMPACT_KEYS, **({"carbon_location_g": "gCO2e"} if where.market_based else {}),
                  **({"embodied_g": "gCO2e"} if where.embodied else {})}.items()},
        "where": {"region": region.code, "label": region.label, "level": region.level, "country": region.country,
                  "continent": region.continent, "year": year,
                  "grid_intensity": ("the year's published average" if ci_origin == "published" else
                                     f"predicted by the grid sub-model (data {min(post.design.years)}-"
                                     f"{max(post.design.years)}; years {YEAR_RANGE[0]}-{YEAR_RANGE[1]})"),
                  "grid_intensity_g_per_kwh_median": float(np.median(ci_loc)),
                  "static_source": region.code in post.design.static_zones},
        "carbon_basis": {"scope": scope, "intensity": "life-cycle (Electricity Maps): plants' construction and "
                         "fuel supply included; direct combustion-only factors (Ember) are 10-20% lower on fossil grids",
                         "embodied_hardware": (
                             "included in carbon (and shown as embodied_g): the server's manufacturing amortised per "
                             f"GPU-second the query occupies, a prior ({EMBODIED_G_PER_GPU_HOUR_P5_P95[0]:g}-"
                             f"{EMBODIED_G_PER_GPU_HOUR_P5_P95[1]:g} gCO2e per GPU-hour, P5-P95; "
                             + "; ".join(EMBODIED_SOURCES) + ")") if where.embodied else "not included"},
        "water_basis": {"on_site": f"cooling water: IT energy x WUE, {wue_origin}",
                        "off_site": "water consumed generating the electricity: facility energy x the country's "
                        + ("published factor (EcoLogits / WRI)" if off_origin == "published" else
                           "factor drawn from the spread between countries (none published for this region)"),
                        "wue_median_l_per_kwh": float(np.median(wue)),
                        "offsite_median_l_per_kwh": float(np.median(w_off))},
        "sources": ["Electricity Maps yearly life-cycle carbon intensity (ODbL), via The Green Web Foundation co2.js",
                    "EcoLogits electricity mixes: off-site water (MPL-2.0), after WRI",
                    "on-site WUE as reported by operators (data/wue.csv)"],
        "impact_posterior": {"data_hash": str(post.attrs.get("data_hash", ""))[:12],
                             "review_passed": bool(post.attrs.get("review_passed", 0))},
    }
    return ImpactPlan(tuple(names), zero, scales, basis, rates if where.embodied else None)


def regions_table(*, continent: str | None = None, search: str | None = None, sort: str = "zone",
                  posterior=None) -> dict:
    """Every zone with its latest published life-cycle intensity, the fitted trend (%/year, posterior median and
    90% interval), Ember's direct intensity for its country where published, and its country's off-site water."""
    import pandas as pd

    from ..data.impacts import CONTINENTS
    from ..inference.impacts import load_impact_posterior

    post = posterior if posterior is not None else load_impact_posterior()
    data, design = post.data, post.design
    if continent is not None:
        match = [c for c in CONTINENTS if c.lower() == continent.strip().lower()]
        if not match:
            raise ValueError(f"unknown continent {continent!r}; one of {', '.join(CONTINENTS)}")
        continent = match[0]
    grid = data.grid_carbon
    latest = grid.sort_values("year").groupby("zone").tail(1).set_index("zone")
    direct = data.grid_carbon_direct.dropna(subset=["code"]).set_index("code")
    water = data.grid_water.set_index("country")
    trend = np.expm1(post.draws["ci_b"]) * 100.0  # % per year
    rows = []
    for i, zone in enumerate(design.zones):
        r = latest.loc[zone]
        if continent is not None and r["continent"] != continent:
            continue
        if search is not None and search.lower() not in f"{zone} {r['zone_name']}".lower():
            continue
        iso3 = r.get("country_iso3")
        d = direct.loc[iso3] if isinstance(iso3, str) and iso3 in direct.index else None
        rows.append({
            "zone": zone, "name": r["zone_name"], "country": r["country"], "continent": r["continent"],
            "year": int(r["year"]), "carbon_intensity_g_per_kwh": float(r["carbon_intensity_g_per_kwh"]),
            "carbon_free_pct": None if pd.isna(r["carbon_free_pct"]) else float(r["carbon_free_pct"]),
            "trend_pct_per_year": {"median": float(np.median(trend[:, i])),
                                   "p05": float(np.quantile(trend[:, i], 0.05)),
                                   "p95": float(np.quantile(trend[:, i], 0.95))},
            "direct_g_per_kwh": None if d is None else float(d["carbon_intensity_g_per_kwh"]),
            "direct_year": None if d is None else int(d["year"]),
            "offsite_water_l_per_kwh": (float(water.loc[r["country"], "offsite_water_l_per_kwh"])
                                        if r["country"] in water.index else None),
            "static_source": zone in design.static_zones,
        })
    if search is not None and not rows:
        raise ValueError(f"no zone's code or name contains {search!r}")
    if sort == "intensity":
        rows.sort(key=lambda row: row["carbon_intensity_g_per_kwh"])
    return {"zones": rows, "also_accepted": list(CONTINENTS) + ["world"],
            "basis": "life-cycle, location-based yearly averages (Electricity Maps, ODbL); direct: Ember (CC BY-SA "
                     "4.0); off-site water: EcoLogits (MPL-2.0)"}


#: Zones where data centres cluster, for the report's ranking: Nordic hydro, French nuclear, the US hubs (PJM:
#: northern Virginia; ERCOT: Texas; Bonneville: Oregon and Washington; CAISO: California), Ireland, Frankfurt,
#: Amsterdam, Tokyo, Singapore, Sydney, Mumbai, Poland's coal grid.
REPORT_ZONES = ("SE-SE1", "NO-NO1", "FR", "CA-QC", "US-NW-BPAT", "FI", "GB", "US-CAL-CISO", "IE", "NL", "DE",
                "US-MIDA-PJM", "US-TEX-ERCO", "JP-TK", "SG", "AU-NSW", "IN-WE", "PL")

#: Operators' per-query disclosures of carbon and water, and what each counts (measurements.csv rows).
DISCLOSURES = (
    {"id": "PQ-007", "who": "Google, median Gemini Apps text prompt (May 2025)", "quantity": "carbon_g",
     "value": 0.03, "energy_wh": 0.24, "short": "market-based, hardware included",
     "includes": "market-based Scope 2 + Scope 1 + amortised hardware (Scope 3); comprehensive energy (idle machines "
                 "and PUE included); Google's fleet"},
    {"id": "PQ-009", "who": "Google, median Gemini Apps text prompt (May 2025)", "quantity": "water_ml",
     "value": 0.26, "energy_wh": 0.24, "short": "on-site cooling only", "includes": "on-site cooling water only; comprehensive energy"},
    {"id": "PQ-012", "who": "OpenAI, average ChatGPT query (June 2025)", "quantity": "water_ml",
     "value": 0.000085 * 3785.411784, "energy_wh": 0.34, "short": "boundary undisclosed", "includes": "undisclosed: no method, boundary or model"},
    {"id": "PQ-013", "who": "Mistral Large 2, one 400-token Le Chat answer (LCA, July 2025)", "quantity": "carbon_g",
     "value": 1.14, "energy_wh": None, "short": "life cycle, hardware included",
     "includes": "full life cycle: location-based electricity plus upstream hardware manufacturing; no Wh published"},
    {"id": "PQ-014", "who": "Mistral Large 2, one 400-token Le Chat answer (LCA, July 2025)", "quantity": "water_ml",
     "value": 45.0, "energy_wh": None, "short": "life cycle, supply chain included",
     "includes": "water consumption potential of the whole supply chain (hardware manufacturing included)"},
)


def zones_ranked(baseline, *, zones=REPORT_ZONES, year: int | None = None, posterior=None, samples_per_member: int = 100_000,
                 seed: int = 0) -> dict:
    """Carbon and water per query of ``baseline`` (a :class:`~.pathways.Baseline`) served in each of ``zones``
    (location-based, ``year`` or the latest): one stream per blend member, every zone a per-draw factor on the same
    queries. Rows sorted by median carbon."""
    from .estimate import open_posterior, queries_per_draw
    from .propagate import Workload, pool, stream_spec

    source = open_posterior(posterior)
    q = queries_per_draw(samples_per_member, source.n_draws)
    member0 = baseline.members[0]
    plans = [plan_impacts(Where(z, year), boundary=member0.boundary, per="query", operator=member0.operator,
                          n_draws=source.n_draws, seed=seed) for z in zones]
    width = len(plans[0].names)

    def scales(arrays: dict) -> np.ndarray:
        return np.concatenate([p.scales(arrays) for p in plans])

    parts = [stream_spec(source.draws_coords, m, Workload.of(m), source.bundle, queries_per_draw=q,
                         seed=seed + 1000 * i, extra_scales=scales)[0] for i, m in enumerate(baseline.members)]
    summary = pool(parts)
    rows = []
    for j, plan in enumerate(plans):
        extras = summary.extras[j * width:(j + 1) * width]
        values = {name: extras[k].summary() for k, name in enumerate(plan.names)}
        rows.append({"zone": plan.basis["where"]["region"], "label": plan.basis["where"]["label"],
                     "year": plan.basis["where"]["year"],
                     "grid_g_per_kwh": plan.basis["where"]["grid_intensity_g_per_kwh_median"],
                     "carbon_g": values["carbon_g"], "water_ml": values["water_ml"]})
    rows.sort(key=lambda r: r["carbon_g"]["median"])
    return {"setting": baseline.name, "boundary": plans[0].basis["boundary"], "energy_wh": summary.summary(),
            "rows": rows, "samples_per_member": source.n_draws * q, "seed": seed, "posterior": source.info,
            "disclosures": [dict(d) for d in DISCLOSURES],
            "carbon_basis": plans[0].basis["carbon_basis"], "water_basis": {
                k: v for k, v in plans[0].basis["water_basis"].items() if not k.endswith("median_l_per_kwh")}}


def disclosure_rows(*, posterior=None, seed: int = 0, samples: int = 50_000) -> list[dict]:
    """Each operator disclosure of carbon or water beside infergy's like-for-like figure, and what differs. Where
    the operator states its energy, infergy's factors apply to that energy (the check is of the carbon and water
    per kWh, not of the energy); Mistral states none, so its model's 400-token answer is estimated."""
    from ..inference.impacts import load_impact_posterior
    from ..model.impacts import offsite_water_draws, resolve_region, wue_draws
    from .estimate import estimate, open_posterior

    post = load_impact_posterior()
    source = open_posterior(posterior)
    rng = np.random.default_rng([seed, 27])
    us = resolve_region(post.data, "US")
    latest = int(post.data.grid_carbon["year"].max())
    ci_us = float(post.data.grid_carbon.query("zone == 'US' and year == @latest")["carbon_intensity_g_per_kwh"].iloc[0])
    off_us = offsite_water_draws(post.draws, post.design, post.data, us, rng)[0]
    q = lambda x: {"median": float(np.median(x)), "p05": float(np.quantile(x, 0.05)),  # noqa: E731
                   "p95": float(np.quantile(x, 0.95))}
    rows = []
    for d in DISCLOSURES:
        row = {**d}
        if d["id"] == "PQ-007":
            implied = d["value"] / d["energy_wh"] * 1000.0
            row.update(implied=f"{implied:.0f} gCO2e/kWh", infergy=q(np.full(1, d["energy_wh"] * ci_us / 1000.0)),
                       infergy_basis=f"the same {d['energy_wh']} Wh, location-based, US average {latest} "
                                     f"({ci_us:.0f} g/kWh, life-cycle), hardware not included",
                       differs=f"Google's market-based factor ({implied:.0f} g/kWh, hardware included) is "
                               f"{1 - implied / ci_us:.0%} below the US location-based grid: its clean-energy "
                               "purchases, not its servers' efficiency")
        elif d["id"] in ("PQ-009", "PQ-012"):
            google = d["id"] == "PQ-009"
            wue, origin = wue_draws(post.draws, post.design, "Google" if google else None, rng)
            from ..model.pue import fleet_pue

            n = source.n_draws
            pue_d = fleet_pue(source.draws_coords[0], rng.standard_normal(n), rng.standard_normal(n))
            pue_d = np.resize(pue_d, len(wue))
            on_site = d["energy_wh"] * wue / pue_d
            row.update(implied=f"{d['value'] / d['energy_wh']:.2f} L per facility kWh",
                       infergy=q(on_site), infergy_total=q(on_site + d["energy_wh"] * np.resize(off_us, len(wue))),
                       infergy_basis=f"the same {d['energy_wh']} Wh, on-site: {origin} over a fleet PUE; the "
                                     "total adds the US grid's off-site water",
                       differs=("Google's WUE (1.15 L/kWh, as quoted by Amazon) is one of the data: this is a "
                                "consistency check, not an independent one" if google else
                                "boundary undisclosed: matches on-site cooling at a WUE near 1 L/kWh; with the "
                                "grid's off-site water it would be several times larger"))
        else:
            est = estimate("Mistral Large 2", output_tokens=400, samples=samples, seed=seed, posterior=source,
                           where=Where("FR"))
            key = d["quantity"]
            row.update(implied="no Wh published",
                       infergy=est.impacts[key], infergy_energy_wh=est.impacts["energy_wh"],
                       infergy_basis="Mistral Large 2, 400 output tokens, served in France (the zone is not stated "
                                     f"in the sources), {latest}, location-based, operation only",
                       differs=("the life cycle adds manufacturing and training shares infergy leaves out; at "
                                f"infergy's median energy, 1.14 g would need {1.14 / est.impacts['energy_wh']['median'] * 1000:,.0f} "
                                "g/kWh from operation alone" if key == "carbon_g" else
                                "a water consumption potential of the whole supply chain (chip making included) "
                                "against infergy's on-site plus off-site operational water"))
        rows.append(row)
    return rows


def per_wh_factors(where: Where, member, source, seed: int) -> tuple[dict[str, np.ndarray], dict]:
    """Per posterior draw: grams of CO2e (and mL of water, ...) per Wh of ``member``'s answer boundary served as
    ``where`` says, and the basis. For answers built from per-draw mean energies (fleet, pathways)."""
    from .predict import prepare

    plan = plan_impacts(where, boundary=member.boundary, per="query", operator=member.operator,
                        n_draws=source.n_draws, seed=seed)
    arrays, _ = prepare(source.draws_coords, member, source.bundle, seed)
    logs = plan.scales({k: np.asarray(v, np.float64) for k, v in arrays.items()})
    return ({name: (np.zeros(source.n_draws) if name in plan.zero else np.exp(logs[i]))
             for i, name in enumerate(plan.names)}, plan.basis)
