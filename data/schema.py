"""Table schemas and validation: every violation is one readable line naming file, row, column and rule."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["Column", "Schema", "DataValidationError", "read_validated_csv"]


class DataValidationError(ValueError):
    """Raised when a table breaks its schema; ``problems`` holds one line per violation."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        shown = problems[:20]
        more = f"\n... and {len(problems) - 20} more" if len(problems) > 20 else ""
        super().__init__("\n".join(shown) + more)


@dataclass(frozen=True)
class Column:
    """One column: its kind (``float``, ``int``, ``str``, ``bool``), whether empty cells are allowed, and rules."""

    name: str
    kind: str
    required: bool = True
    allowed: frozenset[str] | None = None
    min_value: float | None = None
    max_value: float | None = None
    min_inclusive: bool = True


@dataclass(frozen=True)
class Schema:
    """A table's columns; columns not listed are kept as read."""

    name: str
    columns: tuple[Column, ...] = field(default_factory=tuple)


def _row_label(index: int) -> str:
    # data rows are 1-based; line = row + 1 because of the header line
    return f"row {index + 1} (line {index + 2})"


def _coerce(df: pd.DataFrame, col: Column, where: str, problems: list[str]) -> pd.Series:
    raw = df[col.name]
    empty = raw.isna() | (raw.astype(str).str.strip() == "")
    if col.kind == "str":
        values = raw.where(~empty, None)
    elif col.kind == "bool":
        mapping = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}
        lowered = raw.astype(str).str.strip().str.lower()
        values = lowered.map(mapping)
        bad = ~empty & values.isna()
        for i in np.flatnonzero(bad.to_numpy()):
            problems.append(f"{where}: {_row_label(i)}, column '{col.name}': {raw.iloc[i]!r} is not true/false")
        values = values.astype("boolean")
    else:
        values = pd.to_numeric(raw.where(~empty, None), errors="coerce")
        bad = ~empty & values.isna()
        for i in np.flatnonzero(bad.to_numpy()):
            problems.append(f"{where}: {_row_label(i)}, column '{col.name}': {raw.iloc[i]!r} is not a number")
        values = values.astype("float64")
        if col.kind == "int":
            frac = values.notna() & (values != np.round(values))
            for i in np.flatnonzero(frac.to_numpy()):
                problems.append(f"{where}: {_row_label(i)}, column '{col.name}': {raw.iloc[i]!r} is not an integer")
            values = values.astype("Int64") if not frac.any() else values
    if col.required:
        for i in np.flatnonzero(empty.to_numpy()):
            problems.append(f"{where}: {_row_label(i)}, column '{col.name}': value is missing (required)")
    return values


def _check_rules(values: pd.Series, col: Column, where: str, problems: list[str]) -> None:
    present = values.notna().to_numpy()
    if col.allowed is not None:
        for i in np.flatnonzero(present):
            if values.iloc[i] not in col.allowed:
                problems.append(
                    f"{where}: {_row_label(i)}, column '{col.name}': {values.iloc[i]!r} is not one of "
                    f"{sorted(col.allowed)}"
                )
    if col.kind in ("float", "int"):
        arr = values.astype("float64").to_numpy()
        for i in np.flatnonzero(present):
            v = arr[i]
            if not np.isfinite(v):
                problems.append(f"{where}: {_row_label(i)}, column '{col.name}': {v} is not finite")
                continue
            if col.min_value is not None:
                low_bad = v < col.min_value if col.min_inclusive else v <= col.min_value
                if low_bad:
                    op = ">=" if col.min_inclusive else ">"
                    problems.append(f"{where}: {_row_label(i)}, column '{col.name}': {v:g} must be {op} {col.min_value:g}")
            if col.max_value is not None and v > col.max_value:
                problems.append(f"{where}: {_row_label(i)}, column '{col.name}': {v:g} must be <= {col.max_value:g}")


def validate_frame(df: pd.DataFrame, schema: Schema, where: str) -> pd.DataFrame:
    """Check and type ``df`` against ``schema``; raise :class:`DataValidationError` listing every violation."""
    problems: list[str] = []
    missing = [c.name for c in schema.columns if c.name not in df.columns]
    if missing:
        raise DataValidationError([f"{where}: missing column(s) {missing} required by table '{schema.name}'"])
    out = df.copy()
    for col in schema.columns:
        values = _coerce(df, col, where, problems)
        _check_rules(values, col, where, problems)
        out[col.name] = values
    if problems:
        raise DataValidationError(problems)
    return out


def read_validated_csv(path: str | Path, schema: Schema, **read_kwargs: Any) -> pd.DataFrame:
    """Read a CSV as text and validate it; a file that cannot be parsed is reported the same way."""
    path = Path(path)
    where = path.name
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig", **read_kwargs)
    except FileNotFoundError:
        raise DataValidationError([f"{where}: file not found ({path})"]) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataValidationError([f"{where}: not a readable CSV table ({first})"]) from None
    return validate_frame(df, schema, where)
