"""What the data holds, counted: rows per table, GPU, model, source and boundary (``infergy data summary``)."""

from __future__ import annotations

__all__ = ["data_summary"]


def data_summary(bundle) -> dict:
    """Counts of what the data holds (rows per table, GPU, model, source, boundary)."""
    t = bundle.tables
    thr, ge, prod = t["throughput"], t["gpu_energy"], t["production"]
    flagged = thr["quality_flags"].notna() & thr["quality_flags"].astype(str).ne("")

    def counts(series) -> dict:
        return {str(k): int(v) for k, v in series.value_counts().items()}

    return {
        "data_version": bundle.version,
        "content_hash": bundle.content_hash,
        "rows": {name: len(df) for name, df in t.items()},
        "throughput": {
            "flagged_rows": int(flagged.sum()),
            "by_source": counts(thr["source_table"]),
            "by_gpu": counts(thr["gpu"]),
            "by_precision": counts(thr["precision"]),
            "by_model": counts(thr["model"]),
        },
        "gpu_energy": {"by_source": counts(ge["source_table"]), "by_gpu": counts(ge["gpu"])},
        "production": {
            "by_kind_and_boundary": {f"{k}/{b}": int(n) for (k, b), n in prod.groupby(["kind", "boundary"]).size().items()},
        },
        "pue": {"by_scope": counts(t["pue"]["scope"])},
        "models": {"count": len(t["models"]), "moe": int(t["models"]["moe"].sum())},
    }
