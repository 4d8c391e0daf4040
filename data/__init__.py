"""Curated tables shipped with infergy, validated on every load (``import infergy.data``).

``load()`` returns every table as a typed pandas DataFrame, with the data version and a content hash; users add
their own rows (same columns) with ``load(extra=[...])`` or ``infergy data validate FILE``. Names load on first use
(``lazy_loader``), so the vocabularies (:mod:`infergy.data.vocab`) import without pandas.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "bundle": ["DATA_VERSION", "DataBundle", "data_path", "file_sha256", "infer_table", "load",
                   "load_paper_throughput", "validate_file"],
        "schema": ["Check", "Column", "DataValidationError", "Schema", "check_header", "read_validated_csv",
                   "validate_frame"],
        "tables": ["PAPER_THROUGHPUT_SCHEMA", "SCHEMAS"],
        "vocab": ["BOUNDARIES", "GPU_IDS", "PRECISIONS", "canonical_gpu"],
    },
)
