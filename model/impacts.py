"""Carbon and water sub-model: grid carbon intensity over zones and years, off-site water per country, on-site WUE.

Grid carbon intensity (life-cycle, g/kWh), zone z in year t (centred at :data:`YEAR_CENTRE`)::

    log CI[z, t] = a[z] + b[z] (t - YEAR_CENTRE) + s[z] e[z, t]        e ~ Normal(0, 1)
    a[z] ~ Normal(A[country], tau_zone)     A[country] ~ Normal(C[continent], tau_country)
    C[continent] ~ Normal(M, tau_continent)
    b[z] ~ Normal(B[continent], tau_trend)   B[continent] ~ Normal(B0, tau_trend_continent)
    log s[z] ~ Normal(log S, tau_noise)

so a listed zone in a year the data do not have gets its own level, trend and year-to-year spread, and a zone the
data do not list (named by its continent, or anywhere) gets the spread between zones too. A year the data hold is
that year's published average.

Off-site water (L/kWh, water evaporated generating the electricity), per country: ``log w ~ Normal(mu_w, tau_w)``;
a listed country has its published value, an unlisted one a draw from the countries' spread.

On-site WUE (L per kWh of IT energy): ``log WUE[i] ~ Normal(m[scope] + e[operator], sigma)``,
``e ~ Normal(0, tau_operator)``, from operators' reported fleet figures (industry averages their own scope);
estimates' assumptions are comparators, not data. All three blocks share no parameter with each other or with the
energy model: their posteriors are independent and are fitted together only for convenience.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pandas as pd

from ..data.impacts import CONTINENTS, WUE_SCOPES, ImpactData
from .names import YEAR_RANGE
from .throughput import partially_centred

__all__ = ["YEAR_CENTRE", "YEAR_RANGE", "ImpactDesign", "build_impact_design", "impact_model", "Region",
           "resolve_region", "carbon_intensity_draws", "offsite_water_draws", "wue_draws", "region_choices"]

YEAR_CENTRE = 2023
WORLD = "world"


def wue_refusals(wue: pd.DataFrame) -> pd.Series:
    """Why the fit leaves each WUE row out (``""`` where it uses it)."""
    return pd.Series(np.where(wue["kind"].astype(str) == "assumption",
                              "an estimate's assumption: a comparator, not data", ""), index=wue.index)


@dataclass(frozen=True)
class ImpactDesign:
    """Index arrays and observations of the three blocks, with the labels of every level."""

    zones: tuple[str, ...]
    countries: tuple[str, ...]
    zone_country: np.ndarray  # (zones,) index into countries
    country_continent: np.ndarray  # (countries,) index into CONTINENTS
    years: tuple[int, ...]
    years_t: np.ndarray  # (years,) year - YEAR_CENTRE
    zone_log_ci: np.ndarray  # (zones, years) log g/kWh
    zone_rounding_var: np.ndarray  # (zones, years) variance of log CI that rounding to whole g/kWh adds
    zone_rows_used: np.ndarray  # (zones, years) False for a static zone's repeats (its centre year stands for them)
    static_zones: tuple[str, ...]  # zones whose every year repeats one value (an estimate, not yearly data)
    water_countries: tuple[str, ...]
    y_log_water: np.ndarray
    wue_operators: tuple[str, ...]
    wue_operator_idx: np.ndarray
    wue_scope_idx: np.ndarray
    y_log_wue: np.ndarray

    @property
    def sizes(self) -> dict[str, int]:
        return dict(n_zones=len(self.zones), n_countries=len(self.countries), n_wue_operators=len(self.wue_operators))


def build_impact_design(data: ImpactData) -> ImpactDesign:
    grid = data.grid_carbon
    zones = tuple(sorted(grid["zone"].unique()))
    ci = grid["carbon_intensity_g_per_kwh"].astype(float)
    spread = ci.groupby(grid["zone"]).agg(["min", "max"])
    static = tuple(sorted(spread.index[spread["min"] == spread["max"]]))
    wide = grid.pivot(index="zone", columns="year", values="carbon_intensity_g_per_kwh").astype(float)
    if wide.isna().any().any():
        missing = wide.index[wide.isna().any(axis=1)]
        raise ValueError(f"grid_carbon: every zone needs every year {list(wide.columns)}; missing for "
                         f"{', '.join(missing[:5])}")
    wide = wide.loc[list(zones)]
    zone_country = grid.drop_duplicates("zone").set_index("zone")["country"]
    countries = tuple(sorted(zone_country.unique()))
    country_continent = grid.drop_duplicates("country").set_index("country")["continent"]
    water = data.grid_water[data.grid_water["country"] != WORLD]
    wue = data.wue[wue_refusals(data.wue) == ""]
    fleet = wue["scope"] == "fleet"
    operators = tuple(sorted(wue.loc[fleet, "operator"].astype(str).unique()))
    return ImpactDesign(
        zones=zones, countries=countries,
        zone_country=np.array([countries.index(zone_country[z]) for z in zones]),
        country_continent=np.array([CONTINENTS.index(country_continent[c]) for c in countries]),
        years=tuple(int(y) for y in wide.columns),
        years_t=wide.columns.to_numpy(float) - YEAR_CENTRE,
        zone_log_ci=np.log(wide.to_numpy()),
        # a whole-number value is within +-0.5 of the truth: sd 0.5 / sqrt(3), over the value on the log scale
        zone_rounding_var=(0.5 / np.sqrt(3.0) / wide.to_numpy()) ** 2,
        zone_rows_used=np.where(wide.index.isin(static)[:, None], (wide.columns == YEAR_CENTRE)[None, :], True),
        static_zones=static,
        water_countries=tuple(water["country"].astype(str)),
        y_log_water=np.log(water["offsite_water_l_per_kwh"].astype(float).to_numpy()),
        wue_operators=operators,
        # an industry average has no operator: index past the operators, an effect of 0
        wue_operator_idx=np.where(fleet, wue["operator"].map({o: i for i, o in enumerate(operators)}),
                                  len(operators)).astype(int),
        wue_scope_idx=wue["scope"].map({s: i for i, s in enumerate(WUE_SCOPES)}).to_numpy(),
        y_log_wue=np.log(wue["wue_l_per_kwh"].astype(float).to_numpy()),
    )


def impact_model(d: ImpactDesign, observed: bool = True):
    """NumPyro model of the three blocks (independent: one joint fit for convenience)."""
    carbon_model(d, observed)
    water_model(d, observed)
    wue_model(d, observed)


def carbon_model(d: ImpactDesign, observed: bool = True):
    """Grid carbon intensity over zones, countries, continents and years."""
    nz, nc, nk = len(d.zones), len(d.countries), len(CONTINENTS)
    # carbon: level (log g/kWh), trend (log per year) and year-to-year spread
    m = numpyro.sample("ci_m", dist.Normal(jnp.log(300.0), 1.5))
    tau_k = numpyro.sample("ci_tau_continent", dist.HalfNormal(1.0))
    tau_c = numpyro.sample("ci_tau_country", dist.HalfNormal(1.0))
    tau_z = numpyro.sample("ci_tau_zone", dist.HalfNormal(1.0))
    b0 = numpyro.sample("ci_b0", dist.Normal(0.0, 0.1))
    tau_bk = numpyro.sample("ci_tau_trend_continent", dist.HalfNormal(0.05))
    tau_b = numpyro.sample("ci_tau_trend", dist.HalfNormal(0.1))
    log_s = numpyro.sample("ci_log_noise", dist.Normal(jnp.log(0.08), 1.0))
    tau_s = numpyro.sample("ci_tau_noise", dist.HalfNormal(1.0))
    with numpyro.plate("continents", nk):
        c_k = m + tau_k * numpyro.sample("ci_z_continent", dist.Normal(0.0, 1.0))
        b_k = b0 + tau_bk * numpyro.sample("ci_z_trend_continent", dist.Normal(0.0, 1.0))
    with numpyro.plate("countries", nc):
        a_c = c_k[d.country_continent] + tau_c * numpyro.sample("ci_z_country", dist.Normal(0.0, 1.0))
    zone_k = d.country_continent[d.zone_country]
    varies = jnp.asarray([z not in d.static_zones for z in d.zones], dtype=float)
    with numpyro.plate("zones", nz):  # spread centred where five years inform it; the population's elsewhere
        s = numpyro.deterministic("ci_s", jnp.exp(partially_centred("ci_log_s_raw", log_s, tau_s, varies)))
    # a zone's level and trend are integrated out (Gaussian): the likelihood of its years is one multivariate
    # normal, written through the zone's 2 x 2 posterior precision P of (level, trend) so that every term is a sum
    # of non-negative parts (the Woodbury form cancels catastrophically in float32 where a grid barely changes).
    # Sampled, level and trend made a funnel with the spread; :func:`draw_zone_effects` draws them afterwards.
    used = jnp.asarray(d.zone_rows_used, dtype=float)
    resid = (d.zone_log_ci - a_c[d.zone_country][:, None] - b_k[zone_k][:, None] * d.years_t[None, :]) * used
    w = used / (s[:, None] ** 2 + d.zone_rounding_var)  # an unused year: infinite variance, weight 0
    t = d.years_t[None, :]
    p00, p01, p11 = 1.0 / tau_z ** 2 + w.sum(1), (w * t).sum(1), 1.0 / tau_b ** 2 + (w * t * t).sum(1)
    r0, r1 = (w * resid).sum(1), (w * t * resid).sum(1)
    det = p00 * p11 - p01 ** 2
    th0, th1 = (p11 * r0 - p01 * r1) / det, (p00 * r1 - p01 * r0) / det  # (level, trend) - their means, given y
    err = resid - (th0[:, None] + th1[:, None] * t) * used
    quad = (w * err ** 2).sum(1) + th0 ** 2 / tau_z ** 2 + th1 ** 2 / tau_b ** 2
    log_det = (-jnp.sum(jnp.log(jnp.where(used > 0, w, 1.0)), axis=1)  # where first: no NaN gradient
               + jnp.log(tau_z ** 2) + jnp.log(tau_b ** 2) + jnp.log(det))
    loglik = -0.5 * (quad + log_det + used.sum(1) * jnp.log(2.0 * jnp.pi))
    numpyro.deterministic("ci_loglik_zone", loglik)
    numpyro.factor("ci_obs", loglik.sum())


def draw_zone_effects(draws: dict, d: ImpactDesign, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Each zone's level and trend (draws x zones each), drawn per posterior draw from their exact Gaussian
    conditional on the hyperparameters, the zone's spread and its years (the fit integrates them out)."""
    rng = np.random.default_rng(seed)
    col = lambda k: np.asarray(draws[k], np.float64)  # noqa: E731
    c_k = col("ci_m")[:, None] + col("ci_tau_continent")[:, None] * col("ci_z_continent")
    b_k = col("ci_b0")[:, None] + col("ci_tau_trend_continent")[:, None] * col("ci_z_trend_continent")
    a_c = c_k[:, d.country_continent] + col("ci_tau_country")[:, None] * col("ci_z_country")
    zone_k = d.country_continent[d.zone_country]
    prior_mean = np.stack([a_c[:, d.zone_country], b_k[:, zone_k]], -1)  # (n, Z, 2)
    prior_prec = np.stack([1.0 / col("ci_tau_zone") ** 2, 1.0 / col("ci_tau_trend") ** 2], -1)[:, None, :]
    w = d.zone_rows_used[None] / (col("ci_s")[:, :, None] ** 2 + d.zone_rounding_var[None])  # (n, Z, Y)
    x = np.stack([np.ones_like(d.years_t), d.years_t], -1)  # (Y, 2)
    prec = np.einsum("nzy,yi,yj->nzij", w, x, x) + prior_prec[..., None] * np.eye(2)
    rhs = np.einsum("nzy,yi,zy->nzi", w, x, d.zone_log_ci) + prior_prec * prior_mean
    cov = np.linalg.inv(prec)
    mean = np.einsum("nzij,nzj->nzi", cov, rhs)
    theta = mean + np.einsum("nzij,nzj->nzi", np.linalg.cholesky(cov), rng.standard_normal(mean.shape))
    return theta[..., 0], theta[..., 1]


def water_model(d: ImpactDesign, observed: bool = True):
    """Off-site water per country."""
    mu_w = numpyro.sample("water_m", dist.Normal(jnp.log(4.0), 1.0))
    tau_w = numpyro.sample("water_tau", dist.HalfNormal(1.0))
    with numpyro.plate("water_rows", len(d.y_log_water)):
        numpyro.sample("water_obs", dist.Normal(mu_w, tau_w), obs=d.y_log_water if observed else None)


def wue_model(d: ImpactDesign, observed: bool = True):
    """On-site WUE over operators (industry averages: their own scope, no operator effect)."""
    with numpyro.plate("wue_scopes", len(WUE_SCOPES)):
        m_w = numpyro.sample("wue_m_scope", dist.Normal(jnp.log(0.5), 1.0))
    tau_o = numpyro.sample("wue_tau_operator", dist.HalfNormal(1.0))
    sigma = numpyro.sample("wue_sigma", dist.HalfNormal(0.5))
    with numpyro.plate("wue_operators", len(d.wue_operators)):
        e_o = numpyro.deterministic("wue_e_operator",
                                    tau_o * numpyro.sample("wue_z_operator", dist.Normal(0.0, 1.0)))
    with numpyro.plate("wue_rows", len(d.y_log_wue)):
        e_row = jnp.concatenate([e_o, jnp.zeros(1)])[d.wue_operator_idx]
        numpyro.sample("wue_obs", dist.Normal(m_w[d.wue_scope_idx] + e_row, sigma),
                       obs=d.y_log_wue if observed else None)


#: Manufacturing emissions of an accelerator server, amortised per GPU-hour it serves (gCO2e), P5-P95 of a
#: log-normal prior (no data decides it): 2.4 = NVIDIA's HGX H100 product carbon footprint, 0.66 gCO2e per exaflop
#: of FP16 compute (NVIDIA developer blog, 2025), at the H100's 989 dense TFLOP/s; 18 = Chien et al., HotCarbon
#: 2023: 318 kgCO2e per A100 with its share of the server, over 4 years at half use.
EMBODIED_G_PER_GPU_HOUR_P5_P95 = (2.4, 18.0)
EMBODIED_SOURCES = ("NVIDIA HGX H100 / B200 product carbon footprint summaries (developer.nvidia.com/blog, 2025)",
                    "Chien et al., 'Reducing the Carbon Impact of Generative AI Inference', HotCarbon 2023")


def embodied_draws(n: int, rng: np.random.Generator) -> np.ndarray:
    """gCO2e of manufacturing per GPU-second served, one draw per posterior draw, from the prior."""
    lo, hi = np.log(EMBODIED_G_PER_GPU_HOUR_P5_P95)
    mu, sigma = (lo + hi) / 2.0, (hi - lo) / (2.0 * 1.6448536269514722)
    return np.exp(mu + sigma * rng.standard_normal(n)) / 3600.0


# ---- answers: per-draw values for a region and year ----

@dataclass(frozen=True)
class Region:
    """Where a query is served: a listed zone, a continent (a zone not listed there) or anywhere (``world``)."""

    code: str  # the zone code, a continent's name, or "world"
    name: str
    level: str  # "zone", "continent" or "world"
    country: str | None = None
    continent: str | None = None

    @property
    def label(self) -> str:
        return {"zone": f"{self.code} ({self.name})", "continent": f"a zone not listed, in {self.code}",
                "world": "a zone not listed, anywhere"}[self.level]


def region_choices(data: ImpactData) -> list[str]:
    return sorted(data.grid_carbon["zone"].unique()) + list(CONTINENTS) + [WORLD]


def resolve_region(data: ImpactData, region: str) -> Region:
    """The :class:`Region` of ``region`` (a zone code, a zone's or continent's name, or ``world``; any case), or a
    one-line ``ValueError`` listing close matches."""
    if not isinstance(region, str) or not region.strip():
        raise ValueError("region: give a zone code (see `infergy regions`), a continent, or 'world'")
    text = region.strip()
    grid = data.grid_carbon.drop_duplicates("zone")
    by_code = {z.lower(): row for z, row in zip(grid["zone"], grid.itertuples(index=False))}
    by_name = {}
    for row in grid.itertuples(index=False):
        by_name.setdefault(row.zone_name.lower(), []).append(row)
    key = text.lower()
    row = by_code.get(key)
    if row is None and len(by_name.get(key, [])) == 1:
        row = by_name[key][0]
    if row is not None:
        return Region(row.zone, row.zone_name, "zone", row.country, row.continent)
    for continent in CONTINENTS:
        if key == continent.lower():
            return Region(continent, continent, "continent", continent=continent)
    if key == WORLD:
        return Region(WORLD, "anywhere", "world")
    if key in by_name:
        codes = ", ".join(r.zone for r in by_name[key])
        raise ValueError(f"region {text!r} names several zones: {codes}; give one code")
    words = list(by_code) + list(by_name) + [c.lower() for c in CONTINENTS]
    close = difflib.get_close_matches(key, words, n=5, cutoff=0.6)
    prefix = [z for z in grid["zone"] if z.lower().startswith(key + "-")][:5]
    shown = []
    for word in prefix + close:
        label = by_code[word].zone if word in by_code else (
            next((c for c in CONTINENTS if c.lower() == word), None) or ", ".join(r.zone for r in by_name[word]))
        label = label if isinstance(label, str) else label
        if label not in shown:
            shown.append(label)
    hint = f"; close: {', '.join(shown[:6])}" if shown else ""
    raise ValueError(f"unknown region {text!r}{hint} (`infergy regions` lists every zone)")


def check_year(year: int) -> int:
    if isinstance(year, bool) or not isinstance(year, (int, np.integer)):
        raise ValueError(f"year must be a whole number, got {year!r}")
    lo, hi = YEAR_RANGE
    if not lo <= year <= hi:
        raise ValueError(f"year {year} is outside {lo}-{hi}: the grid trend is fitted to five years and is not "
                         "carried further")
    return int(year)


def _col(draws: dict, name: str) -> np.ndarray:
    return np.asarray(draws[name], np.float64)


def carbon_intensity_draws(draws: dict, design: ImpactDesign, data: ImpactData, region: Region, year: int,
                           rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """Life-cycle grid intensity (g/kWh) per posterior draw for a query served in ``region`` in ``year``, and
    where it comes from (``"published"``: the year's average in the data; ``"predicted"``: the sub-model)."""
    year = check_year(year)
    n = len(draws["ci_m"])
    if region.level == "zone":
        rows = data.grid_carbon[(data.grid_carbon["zone"] == region.code) & (data.grid_carbon["year"] == year)]
        if len(rows):
            return np.full(n, float(rows["carbon_intensity_g_per_kwh"].iloc[0])), "published"
        z = design.zones.index(region.code)
        a, b, s = _col(draws, "ci_a")[:, z], _col(draws, "ci_b")[:, z], _col(draws, "ci_s")[:, z]
    else:
        if region.level == "continent":
            k = CONTINENTS.index(region.continent)
            c = _col(draws, "ci_m") + _col(draws, "ci_tau_continent") * _col(draws, "ci_z_continent")[:, k]
            bk = _col(draws, "ci_b0") + _col(draws, "ci_tau_trend_continent") * _col(draws, "ci_z_trend_continent")[:, k]
        else:
            c = _col(draws, "ci_m") + _col(draws, "ci_tau_continent") * rng.standard_normal(n)
            bk = _col(draws, "ci_b0") + _col(draws, "ci_tau_trend_continent") * rng.standard_normal(n)
        a = c + np.hypot(_col(draws, "ci_tau_country"), _col(draws, "ci_tau_zone")) * rng.standard_normal(n)
        b = bk + _col(draws, "ci_tau_trend") * rng.standard_normal(n)
        s = np.exp(_col(draws, "ci_log_noise") + _col(draws, "ci_tau_noise") * rng.standard_normal(n))
    e = rng.standard_normal(n)
    return np.exp(a + b * (year - YEAR_CENTRE) + s * e), "predicted"


def offsite_water_draws(draws: dict, design: ImpactDesign, data: ImpactData, region: Region,
                        rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """Off-site water (L per kWh at the facility boundary) per draw, and its origin: the country's published value
    (``"published"``), or the countries' spread (``"predicted"``) for a country or region the table lacks."""
    n = len(draws["water_m"])
    if region.level == "zone" and region.country in design.water_countries:
        value = data.grid_water.set_index("country").loc[region.country, "offsite_water_l_per_kwh"]
        return np.full(n, float(value)), "published"
    return np.exp(_col(draws, "water_m") + _col(draws, "water_tau") * rng.standard_normal(n)), "predicted"


def wue_draws(draws: dict, design: ImpactDesign, operator: str | None, rng: np.random.Generator
              ) -> tuple[np.ndarray, str]:
    """On-site WUE (L per kWh of IT energy) of a hyperscale fleet per draw: ``operator``'s own (when it reported
    one) or a new operator's, with a new year's scatter; and which."""
    n = len(draws["wue_sigma"])
    m = _col(draws, "wue_m_scope")[:, WUE_SCOPES.index("fleet")]
    if operator is not None and operator in design.wue_operators:
        e, origin = _col(draws, "wue_e_operator")[:, design.wue_operators.index(operator)], f"{operator}'s reported WUE (partially pooled)"
    else:
        e, origin = _col(draws, "wue_tau_operator") * rng.standard_normal(n), "a hyperscale operator's WUE (population)"
    return np.exp(m + e + _col(draws, "wue_sigma") * rng.standard_normal(n)), origin
