"""Curated tables shipped with infergy, validated on every load (``import infergy.data``)."""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

import pandas as pd

from .schema import Column, DataValidationError, Schema, read_validated_csv, validate_frame

__all__ = [
    "Column",
    "DataValidationError",
    "Schema",
    "PAPER_THROUGHPUT_SCHEMA",
    "data_path",
    "file_sha256",
    "load_paper_throughput",
    "read_validated_csv",
    "validate_frame",
]

PAPER_THROUGHPUT_SCHEMA = Schema(
    name="paper_throughput",
    columns=(
        Column("model", "str"),
        Column("total_params_b", "float", min_value=0.0, min_inclusive=False),
        Column("active_params_b", "float", required=False, min_value=0.0, min_inclusive=False),
        Column("architecture", "str", allowed=frozenset({"dense", "moe"})),
        Column("gpu", "str"),
        Column("gpu_label_raw", "str"),
        Column("scaled_power", "bool"),
        Column("tp", "int", min_value=1),
        Column("precision", "str", allowed=frozenset({"FP4", "FP8", "FP16", "BF16"})),
        Column("tokens_per_s_node", "float", min_value=0.0, min_inclusive=False),
        Column("isl", "float", required=False, min_value=1.0),
        Column("osl", "float", min_value=1.0),
        Column("batch_size_raw", "str"),
        Column("node_power_kw_listed", "float", required=False, min_value=0.0, min_inclusive=False),
        Column("source", "str"),
        Column("comments", "str", required=False),
        Column("confidence", "str", allowed=frozenset({"high", "medium", "low"})),
        Column("source_file", "str"),
        Column("source_row", "int", min_value=1),
    ),
)


def data_path(name: str) -> Path:
    """Path of a shipped data file."""
    return Path(str(resources.files(__name__).joinpath(name)))


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes (the content hash recorded with every result)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_paper_throughput(path: str | Path | None = None) -> pd.DataFrame:
    """The paper's released throughput table (25 rows: 22 FP8 used by paper mode, 3 FP16 filtered out).

    Columns are normalised (``tokens_per_s_node`` = node output tokens/s at the row's TP size), values as printed,
    with ``source_file``/``source_row`` pointing at the released CSV row.
    """
    return read_validated_csv(path or data_path("paper_throughput.csv"), PAPER_THROUGHPUT_SCHEMA)
