"""Table schemas and validation: every violation is one readable line naming file, row, column and rule."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

__all__ = ["Check", "Column", "Schema", "DataValidationError", "read_validated_csv", "validate_frame"]


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
    suggest: Mapping[str, str] | None = None  # known aliases of allowed values, for "did you mean"


@dataclass(frozen=True)
class Check:
    """A rule across columns: ``violated(df)`` is True on the rows that break it; reported on ``column``."""

    column: str
    rule: str
    violated: Callable[[pd.DataFrame], pd.Series]


@dataclass(frozen=True)
class Schema:
    """A table's columns and cross-column checks; columns not listed are kept as read.

    A column that is not ``required`` may also be absent from a file (it is added, empty); ``unique`` columns
    must not repeat.
    """

    name: str
    columns: tuple[Column, ...] = field(default_factory=tuple)
    checks: tuple[Check, ...] = field(default_factory=tuple)
    unique: tuple[str, ...] = field(default_factory=tuple)

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def _row_label(index: int) -> str:
    # data rows are 1-based; line = row + 1 because of the header line
    return f"row {index + 1} (line {index + 2})"


def _coerce(df: pd.DataFrame, col: Column, where: str, problems: list[str]) -> pd.Series:
    raw = df[col.name]
    empty = raw.isna() | (raw.astype(str).str.strip() == "")
    if col.kind == "str":
        values = raw.where(~empty, None).astype("str")
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
        bad = present & ~values.isin(list(col.allowed)).to_numpy()
        for i in np.flatnonzero(bad):
            value = values.iloc[i]
            hint = (col.suggest or {}).get(str(value).strip())
            problems.append(
                f"{where}: {_row_label(i)}, column '{col.name}': {value!r} is not one of {sorted(col.allowed)}"
                + (f"; did you mean {hint!r}?" if hint else "")
            )
    if col.kind not in ("float", "int"):
        return
    arr = values.astype("float64").to_numpy()
    with np.errstate(invalid="ignore"):
        not_finite = present & ~np.isfinite(arr)
        low = np.zeros_like(present)
        if col.min_value is not None:
            low = present & ~not_finite & ((arr < col.min_value) if col.min_inclusive else (arr <= col.min_value))
        high = np.zeros_like(present)
        if col.max_value is not None:
            high = present & ~not_finite & (arr > col.max_value)
    op = ">=" if col.min_inclusive else ">"
    for i in np.flatnonzero(not_finite | low | high):
        v = arr[i]
        if not_finite[i]:
            problems.append(f"{where}: {_row_label(i)}, column '{col.name}': {v} is not finite")
        elif low[i]:
            problems.append(f"{where}: {_row_label(i)}, column '{col.name}': {v:g} must be {op} {col.min_value:g}")
        else:
            problems.append(f"{where}: {_row_label(i)}, column '{col.name}': {v:g} must be <= {col.max_value:g}")


#: The longest cell a table takes (characters): a longer one is a pasted document or an attack, not a value.
MAX_CELL_CHARS = 10_000
#: First characters that make a spreadsheet evaluate a cell as a formula (OWASP, "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell_problems(df: pd.DataFrame, where: str, numeric: frozenset[str] = frozenset()) -> list[str]:
    """Text cells a spreadsheet would run as a formula (a number such as ``-5`` is not one) or longer than
    :data:`MAX_CELL_CHARS`: refused, so that a table written back out cannot carry a formula into a spreadsheet.
    ``numeric`` columns are skipped: a cell there that is not a number is refused when it is read as one."""
    problems = []
    for name in df.columns:
        if name in numeric:
            continue
        column = df[name]
        if column.dtype == object:  # a frame built in Python: its text cells only
            column = column.where(column.map(type) == str).astype("string")
        elif not pd.api.types.is_string_dtype(column.dtype):
            continue
        long = column.str.len().gt(MAX_CELL_CHARS).to_numpy(dtype=bool, na_value=False)
        formula = column.str[:1].isin(FORMULA_STARTS).to_numpy(dtype=bool, na_value=False) & ~long
        for i in np.flatnonzero(long):
            problems.append(f"{where}: {_row_label(i)}, column '{name}': a cell of {len(column.iloc[i]):,} characters "
                            f"(at most {MAX_CELL_CHARS:,})")
        for i in np.flatnonzero(formula):
            cell = column.iloc[i]
            if not _is_number(cell):
                problems.append(f"{where}: {_row_label(i)}, column '{name}': {cell[:24]!r} starts with "
                                f"{cell[0]!r}, which a spreadsheet would run as a formula; remove that character")
    return problems


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def validate_frame(df: pd.DataFrame, schema: Schema, where: str) -> pd.DataFrame:
    """Check and type ``df`` against ``schema``; raise :class:`DataValidationError` listing every violation."""
    numeric = frozenset(c.name for c in schema.columns if c.kind in ("float", "int"))
    problems: list[str] = _cell_problems(df, where, numeric)
    missing = [c for c in schema.required_columns if c not in df.columns]
    if missing:
        raise DataValidationError([f"{where}: missing column(s) {missing} required by table '{schema.name}'"])
    df = df.reset_index(drop=True)
    out = df.copy()
    for col in schema.columns:
        if col.name not in df.columns:
            out[col.name] = pd.Series([None] * len(df), dtype=object)
            df = out
        values = _coerce(df, col, where, problems)
        _check_rules(values, col, where, problems)
        out[col.name] = values
    if problems:
        raise DataValidationError(problems)
    for name in schema.unique:
        dup = out[name].duplicated(keep="first")
        for i in np.flatnonzero(dup.to_numpy()):
            problems.append(f"{where}: {_row_label(i)}, column '{name}': {out[name].iloc[i]!r} repeats an earlier row")
    for check in schema.checks:
        bad = check.violated(out).fillna(False).astype(bool)
        for i in np.flatnonzero(bad.to_numpy()):
            problems.append(f"{where}: {_row_label(i)}, column '{check.column}': {check.rule}")
    if problems:
        raise DataValidationError(problems)
    return out[[*schema.column_names, *[c for c in out.columns if c not in schema.column_names]]]


def read_validated_csv(path: str | Path, schema: Schema, **read_kwargs: Any) -> pd.DataFrame:
    """Read a CSV as text and validate it; a file that cannot be parsed is reported the same way."""
    path = Path(path)
    where = path.name
    check_header(path)
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig", **read_kwargs)
    except FileNotFoundError:
        raise DataValidationError([f"{where}: file not found ({path})"]) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataValidationError([f"{where}: not a readable CSV table ({first})"]) from None
    return validate_frame(df, schema, where)


def check_header(path: Path) -> None:
    """Raise :class:`DataValidationError` for a directory, or a header with a column named twice (pandas would
    rename the second ``name.1`` and no check would see it) or a column with no name. A missing or unreadable file
    is left to the CSV reader's own message."""
    where = path.name
    if path.is_dir():
        raise DataValidationError([f"{where}: is a directory, not a CSV file ({path})"])
    problems = _header_problems(path, where)
    if problems:
        raise DataValidationError(problems)


def _header_problems(path: Path, where: str) -> list[str]:
    import csv

    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            names = [name.strip() for name in next(csv.reader(f), [])]
    except (OSError, UnicodeDecodeError, csv.Error):
        return []
    problems = [f"{where}: column '{name}' appears {names.count(name)} times in the header; keep one"
                for name in dict.fromkeys(names) if name and names.count(name) > 1]
    blank = [str(i + 1) for i, name in enumerate(names) if not name]
    if blank:
        problems.append(f"{where}: header column {', '.join(blank)} has no name")
    return problems
