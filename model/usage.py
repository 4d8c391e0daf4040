"""Which likelihood uses each row of the data, or why none does: no row a user adds is ignored silently.

Every sub-model selects its rows through one function that gives a reason per refused row (``*_refusals``); the
fit uses the rows without one, and :func:`row_usage` reports the same decisions, row by row, for every table.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

from .joint import OBSERVED_SITES

__all__ = ["INPUT_TABLES", "USED_BY", "added_row_usage", "first_reason", "row_usage", "usage_lines"]

#: Each observed site's likelihood by name (what it observes: :data:`~.joint.OBSERVED_SITES`).
LIKELIHOOD_NAMES = {"tp_obs": "throughput", "pw_obs": "GPU power", "pue_obs": "PUE", "prod_obs": "production",
                    "share_obs": "operators' breakdown", "api_obs": "API speed", "service_obs": "service"}
#: The likelihood that uses a table's rows: (observed site, its name and what it observes).
USED_BY = {
    **{table: (site, f"the {LIKELIHOOD_NAMES[site]} likelihood ({what})")
       for site, (table, what) in OBSERVED_SITES.items()},
    "request_lengths": ("wl_requests", "the workload length likelihood (input and output tokens per request)"),
}

#: The table whose likelihood an observed site is.
SITE_TABLE = {site: table for table, (site, _) in USED_BY.items()}

#: Tables that are inputs to the physics, not observations: what a row of each sets.
INPUT_TABLES = {
    "hardware": "an input, not an observation: it sets an accelerator's bandwidth, FLOP/s, memory, link and TDP "
                "in the serving equations",
    "models": "an input, not an observation: it sets a model's total and active parameters (and its aliases)",
    "architectures": "an input, not an observation: it sets a model's layers, attention and experts, so its KV "
                     "bytes and attention FLOPs per token",
    "paper_throughput": "paper mode's input (the paper's own table), not a likelihood of the Bayesian fit",
}


def first_reason(index: pd.Index, checks: Iterable[tuple]) -> pd.Series:
    """The first of ``checks`` (``(mask, reason)``; a reason is a string or a per-row Series) that each row fails,
    ``""`` where it fails none."""
    out = pd.Series("", index=index, dtype=object)
    for mask, why in checks:
        hit = np.asarray(mask, dtype=bool) & (out == "").to_numpy()
        if hit.any():
            out[hit] = why if isinstance(why, str) else np.asarray(why, dtype=object)[hit]
    return out


def _refusals(bundle) -> dict[str, pd.Series]:
    """Reason per row of every table (``""``: a likelihood uses it)."""
    from .power import power_refusals
    from .production import production_refusals, service_refusals
    from .pue import pue_refusals
    from .throughput import throughput_refusals, usable_throughput_rows

    t = bundle.tables
    out = {
        "throughput": throughput_refusals(t["throughput"]),
        "gpu_energy": power_refusals(t["gpu_energy"], t["hardware"]),
        "pue": pue_refusals(t["pue"]),
        "production": production_refusals(t["production"]),
        "service_statistics": service_refusals(t["service_statistics"], usable_throughput_rows(t["throughput"])),
        "token_lengths": pd.Series(
            "not a likelihood: a published summary statistic (the workload model fits whole request traces, "
            "data/request_lengths.csv; the reasoning workload's prior cites its output-length ratio, TL-014)",
            index=t["token_lengths"].index, dtype=object),
    }
    if "telemetry" in t:
        from .telemetry import telemetry_refusals

        out["telemetry"] = telemetry_refusals(t["telemetry"], t["hardware"])
    for name in ("energy_shares", "api_speeds", "request_lengths"):
        out[name] = pd.Series("", index=t[name].index, dtype=object)
    for name, why in INPUT_TABLES.items():
        if name in t:
            out[name] = pd.Series(why, index=t[name].index, dtype=object)
    return out


#: Tables whose rows describe one operator's fleet (its PUE, host ratio and idle share are that operator's).
FLEET_TABLES = ("production", "pue", "energy_shares", "telemetry")


def _fleet(name: str, df: pd.DataFrame) -> np.ndarray:
    """The operator each row describes (``""``: a production row naming none, a new operator of the population)."""
    from .production import production_operator

    if name == "production":
        return np.asarray([production_operator(r) or "" for _, r in df.iterrows()], dtype=object)
    return df["operator"].astype(str).to_numpy(dtype=object)


def row_usage(bundle, tables: Iterable[str] | None = None) -> pd.DataFrame:
    """One row per data row: ``table``, ``row`` (1-based in the table), ``id`` (its id, where the table has one), ``site``
    (the observed site that uses it, empty if none), ``reason`` (why none does, empty if one does) and ``operator``
    (whose fleet a row of :data:`FLEET_TABLES` describes; ``""`` for a new operator or another table)."""
    frames = []
    for name, why in _refusals(bundle).items():
        if tables is not None and name not in tables:
            continue
        df = bundle.tables[name]
        ident = df["id"].astype(str) if "id" in df else pd.Series("", index=df.index)
        if isinstance(why, pd.DataFrame):  # one reason per likelihood a row could enter (telemetry: two)
            site, reason = _joined(why)
        else:
            site = np.where((why == "").to_numpy(), USED_BY[name][0] if name in USED_BY else "", "")
            reason = why.to_numpy()
        fleet = _fleet(name, df) if name in FLEET_TABLES else np.full(len(df), "", dtype=object)
        frames.append(pd.DataFrame({"table": name, "row": np.arange(1, len(df) + 1), "id": ident.to_numpy(),
                                    "site": site, "reason": reason, "operator": fleet}))
    return pd.concat(frames, ignore_index=True)


def _joined(why: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Sites (``tp_obs, pw_obs``) and reasons of rows that can enter several likelihoods (columns: the tables whose
    likelihoods they enter): the sites that use a row, and why the others do not."""
    sites, reasons = [], []
    for _, r in why.iterrows():
        sites.append(", ".join(USED_BY[table][0] for table, reason in r.items() if not reason))
        reasons.append("; ".join(f"not {USED_BY[table][0]}: {reason}" if len(r) > 1 else reason
                                 for table, reason in r.items() if reason))
    return np.asarray(sites, dtype=object), np.asarray(reasons, dtype=object)


def _site_text(sites: str) -> str:
    return " and ".join(f"{USED_BY[SITE_TABLE[s]][1]} [{s}]" for s in sites.split(", "))


def usage_lines(usage: pd.DataFrame) -> list[str]:
    """One line per row of :func:`row_usage`: which likelihood uses it, or why none does."""
    lines = []
    for r in usage.itertuples(index=False):
        where = f"row {r.row} (line {r.row + 1})" + (f", {r.id}" if r.id else "")
        if not r.site:
            lines.append(f"{where}: not used: {r.reason}")
            continue
        fleet = ""
        if r.table in FLEET_TABLES:
            fleet = (f", as {r.operator}'s fleet" if r.operator else
                     ", as a new operator of the population (no operator named: fill its operator column)")
        lines.append(f"{where}: used by {_site_text(r.site)}" + (f" ({r.reason})" if r.reason else "") + fleet)
    return lines


def added_row_usage(bundle, added: Iterable[tuple[str, int]]) -> list[pd.DataFrame]:
    """:func:`row_usage` of users' files appended to ``bundle`` in order (``added``: each file's table and row
    count, as :func:`infergy.data.load` appended them), each numbered as in its file."""
    added = list(added)
    usage = {name: row_usage(bundle, tables=[name]) for name in {t for t, _ in added}}
    end = {name: len(u) - sum(n for t, n in added if t == name) for name, u in usage.items()}
    out = []
    for name, n in added:
        part = usage[name].iloc[end[name]:end[name] + n].copy()
        end[name] += n
        part["row"] = np.arange(1, n + 1)
        out.append(part.reset_index(drop=True))
    return out
