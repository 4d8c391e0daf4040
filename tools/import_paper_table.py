"""Normalise the paper's released throughput table into ``data/paper_throughput.csv``.

Run once by a developer (not at run time): ``python tools/import_paper_table.py SRC_CSV data/paper_throughput.csv``.
Every value is kept as printed; only names, units and types are normalised, and each row records the file and
1-based data row it came from.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from data.vocab import GPU_ALIASES  # noqa: E402

GPU_NAMES = {label: gpu for label, (gpu, _) in GPU_ALIASES.items()}


def _number_or_na(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return float("nan")


def normalise(src: Path) -> pd.DataFrame:
    raw = pd.read_csv(src, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    out = pd.DataFrame(
        {
            "model": raw["Model"],
            "total_params_b": raw["Total Parameter Count (B)"].map(_number_or_na),
            "active_params_b": raw["Active Parameter Count (B)"].map(_number_or_na),
            "architecture": raw["Type (Dense / MoE)"].str.lower(),
            "gpu": raw["Hardware"].map(GPU_NAMES),
            "gpu_label_raw": raw["Hardware"],
            "scaled_power": raw["Scaled Power"].map({"Yes": True, "No": False}),
            "tp": raw["TP Size"].astype(int),
            "precision": raw["Quantization"],
            "tokens_per_s_node": raw["Tokens per Second (TPS)"].astype(float),
            "isl": raw["Input Length"].map(_number_or_na),
            "osl": raw["Output Length"].astype(float),
            "batch_size_raw": raw["Batch Size"],
            "node_power_kw_listed": raw["Power for Node (kW)"].astype(float),
            "source": raw["Source"],
            "comments": raw["Comments"],
            "confidence": raw["Confidence level"].str.lower(),
            "source_file": "microsoft/aienergy_simulation@cc9dc82:model_throughput_DB.csv",
            "source_row": range(1, len(raw) + 1),
        }
    )
    if out["gpu"].isna().any():
        unknown = sorted(raw.loc[out["gpu"].isna(), "Hardware"].unique())
        raise SystemExit(f"unknown hardware labels: {unknown}")
    return out


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    table = normalise(Path(sys.argv[1]))
    table.to_csv(sys.argv[2], index=False, lineterminator="\n")
    print(f"wrote {len(table)} rows to {sys.argv[2]}")
