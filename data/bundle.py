"""The shipped tables as one validated bundle: ``load()``, users' files (``validate_file``), the data version and
content hash, and the checks across tables."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from .schema import DataValidationError, check_header, read_validated_csv, validate_frame
from .tables import PAPER_THROUGHPUT_SCHEMA, SCHEMAS, TABLE_FILES, USER_TABLES

__all__ = ["DATA_VERSION", "DataBundle", "data_path", "file_sha256", "infer_table", "load", "load_paper_throughput",
           "validate_file"]

#: Version of the shipped tables (bump when ``tools/build_data.py`` output changes).
DATA_VERSION = "2026.12.05"
#: A GPU's measured average power may exceed its TDP by this factor at most (boost, measurement noise).
POWER_OVER_TDP_MAX = 1.1
#: A telemetry interval's mean power may reach its GPUs' TDP times this at most, by boundary: 1.5 at the GPUs;
#: a node's host adds up to ~1.1x its GPUs' TDP (DGX A100: 6.5 kW for 8 x 400 W GPUs; DGX H100 10.2 kW for
#: 8 x 700 W), a facility's cooling and power delivery up to 2x that (PUE 2).
TELEMETRY_POWER_OVER_TDP_MAX = {"gpu": 1.5, "node": 1.5 * 2.1, "facility": 1.5 * 2.1 * 2.0}


def data_path(name: str) -> Path:
    """Path of a shipped data file."""
    return Path(str(resources.files(__package__).joinpath(name)))


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_paper_throughput(path: str | Path | None = None) -> pd.DataFrame:
    """The paper's released throughput table (25 rows: 22 FP8 used by paper mode, 3 FP16 filtered out).

    Columns are normalised (``tokens_per_s_node`` = node output tokens/s at the row's TP size), values as printed,
    with ``source_file``/``source_row`` pointing at the released CSV row.
    """
    return read_validated_csv(path or data_path(TABLE_FILES["paper_throughput"]), PAPER_THROUGHPUT_SCHEMA)


@dataclass(frozen=True)
class DataBundle:
    """Every validated table, the data version and a content hash over the shipped and added files."""

    tables: Mapping[str, pd.DataFrame]
    version: str
    content_hash: str
    files: tuple[str, ...] = field(default_factory=tuple)

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.tables[name]

    def __getattr__(self, name: str) -> pd.DataFrame:
        tables = object.__getattribute__(self, "tables")
        if name in tables:
            return tables[name]
        raise AttributeError(name)


def infer_table(columns: Iterable[str]) -> str:
    """The table whose required columns a file has; the most specific one if several match."""
    cols = set(columns)
    matches = [n for n, s in SCHEMAS.items() if n != "paper_throughput" and set(s.required_columns) <= cols]
    if not matches:
        best = min((n for n in SCHEMAS if n != "paper_throughput"),
                   key=lambda n: len(set(SCHEMAS[n].required_columns) - cols))
        missing = sorted(set(SCHEMAS[best].required_columns) - cols)
        raise DataValidationError([f"columns match no table; closest is '{best}', which also needs {missing} "
                                   "(or name the table with --table)"])
    return max(matches, key=lambda n: len(SCHEMAS[n].required_columns))


def _cross_table_problems(tables: Mapping[str, pd.DataFrame], where: Mapping[str, str]) -> list[str]:
    problems = []
    hw = tables["hardware"]
    tdp = hw[hw["kind"] == "gpu"].set_index("gpu")["tdp_w"].astype(float)
    ge = tables["gpu_energy"]
    limit = ge["gpu"].map(tdp) * POWER_OVER_TDP_MAX
    bad = ge["avg_power_w_per_gpu"].astype(float) > limit
    for i in np.flatnonzero(bad.fillna(False).to_numpy()):
        row = ge.iloc[i]
        problems.append(
            f"{where['gpu_energy']}: row {i + 1} (line {i + 2}), column 'avg_power_w_per_gpu': "
            f"{row['avg_power_w_per_gpu']:g} W exceeds {POWER_OVER_TDP_MAX:g} x the {tdp[row['gpu']]:g} W TDP of "
            f"{row['gpu']}"
        )
    missing_hw = sorted(set(tables["throughput"]["gpu"]) - set(hw["gpu"]))
    if missing_hw:
        problems.append(f"{where['hardware']}: no hardware row for GPU(s) {missing_hw} used in throughput")
    unknown = sorted(set(tables["architectures"]["model"]) - set(tables["models"]["model"]))
    if unknown:
        problems.append(f"{where['architectures']}: model(s) {unknown} are not in the models table")
    problems += _telemetry_power_problems(tables["telemetry"], tdp, where["telemetry"])
    orphans = sorted(set(tables["energy_shares"]["of_id"]) - set(tables["production"]["id"]))
    if orphans:
        problems.append(f"{where['energy_shares']}: of_id(s) {orphans} are not ids of the production table")
    return problems


def _telemetry_power_problems(telemetry: pd.DataFrame, tdp: pd.Series, where: str) -> list[str]:
    """Telemetry on a GPU without a TDP, or drawing more than its GPUs could (:data:`TELEMETRY_POWER_OVER_TDP_MAX`)."""
    problems = []
    gpu_tdp = telemetry["gpu"].map(tdp).astype(float)  # float on an empty table too
    power_w = telemetry["mean_power_w"].astype(float).fillna(
        telemetry["energy_wh"].astype(float) * 3600.0 / telemetry["duration_s"].astype(float))
    limit = (gpu_tdp * telemetry["n_gpus"].astype(float)
             * telemetry["boundary"].map(TELEMETRY_POWER_OVER_TDP_MAX).astype(float))  # float on an empty table too
    for i in range(len(telemetry)):
        row = telemetry.iloc[i]
        label = f"{where}: row {i + 1} (line {i + 2})"
        if not np.isfinite(gpu_tdp.iloc[i]):
            problems.append(f"{label}, column 'gpu': {row['gpu']} has no TDP in the hardware table")
        elif power_w.iloc[i] > limit.iloc[i]:
            problems.append(
                f"{label}, column '{'mean_power_w' if pd.notna(row['mean_power_w']) else 'energy_wh'}': "
                f"{power_w.iloc[i]:,.0f} W on average exceeds {TELEMETRY_POWER_OVER_TDP_MAX[row['boundary']]:g} x "
                f"the TDP of {int(row['n_gpus'])} x {row['gpu']} ({limit.iloc[i]:,.0f} W) at the "
                f"'{row['boundary']}' boundary")
    return problems


def validate_file(path: str | Path, table: str | None = None) -> tuple[str, pd.DataFrame]:
    """Validate a user's CSV against ``table`` (inferred from its columns if not given)."""
    path = Path(path)
    if table is not None and table not in SCHEMAS:
        raise DataValidationError([f"unknown table {table!r}; tables: {', '.join(SCHEMAS)}"])
    if table is None:
        check_header(path)
        try:
            header = pd.read_csv(path, nrows=0, encoding="utf-8-sig").columns
        except FileNotFoundError:
            raise DataValidationError([f"{path.name}: file not found ({path})"]) from None
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise DataValidationError([f"{path.name}: not a readable CSV table ({type(exc).__name__})"]) from None
        try:
            table = infer_table(header)
        except DataValidationError as exc:
            raise DataValidationError([f"{path.name}: {p}" for p in exc.problems]) from None
    return table, read_validated_csv(path, SCHEMAS[table])


def load(extra: Iterable[str | Path] | str | Path = (), data_dir: str | Path | None = None) -> DataBundle:
    """Load and validate every table; ``extra`` CSVs (users' rows, same columns; one path or several) are validated
    and appended.

    Raises :class:`DataValidationError` listing every violation (file, row, column, rule) — nothing is dropped
    silently.
    """
    if isinstance(extra, (str, Path)):  # one file, not the characters of its name
        extra = (extra,)
    if extra is None:
        extra = ()
    base = Path(data_dir) if data_dir is not None else data_path("")
    tables: dict[str, pd.DataFrame] = {}
    where: dict[str, str] = {}
    digest = hashlib.sha256()
    files = []
    for name, filename in TABLE_FILES.items():
        path = base / filename
        tables[name] = read_validated_csv(path, SCHEMAS[name])
        where[name] = filename
        digest.update(filename.encode() + b"\0" + path.read_bytes() + b"\0")
        files.append(str(path))
    for name in USER_TABLES:  # empty until a user's file adds rows
        tables[name] = validate_frame(pd.DataFrame(columns=SCHEMAS[name].column_names), SCHEMAS[name], name)
        where[name] = f"{name} (none shipped)"
    for path in map(Path, extra):
        name, df = validate_file(path)
        tables[name] = pd.concat([tables[name], df], ignore_index=True)
        where[name] = f"{where[name]} + {path.name}"
        digest.update(b"extra:" + name.encode() + b"\0" + path.read_bytes() + b"\0")
        files.append(str(path))
    problems = _cross_table_problems(tables, where)
    if problems:
        raise DataValidationError(problems)
    return DataBundle(tables=tables, version=DATA_VERSION, content_hash=digest.hexdigest(), files=tuple(files))
