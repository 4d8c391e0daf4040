"""Lookups on loaded tables are computed once per table object, and forgotten with it."""

from __future__ import annotations

import gc

import numpy as np
import pandas as pd

from infergy.data.frame_cache import frame_cache


def test_a_result_is_kept_per_frame_object_and_argument_and_dropped_with_the_frame():
    calls: list[tuple] = []

    @frame_cache
    def column_max(frame: pd.DataFrame, column: str) -> float:
        calls.append((id(frame), column))
        return float(frame[column].max())

    a = pd.DataFrame({"x": [1.0, 5.0], "y": [2.0, 3.0]})
    assert column_max(a, "x") == column_max(a, "x") == 5.0
    assert column_max(a, "y") == 3.0
    assert len(calls) == 2  # one per (frame, argument)
    equal_but_other = a.copy()
    assert column_max(equal_but_other, "x") == 5.0 and len(calls) == 3  # keyed on the object, not its values
    del a
    gc.collect()
    column_max(equal_but_other, "x")
    assert len(calls) == 3  # the live frame's entry stays
    del equal_but_other
    gc.collect()
    b = pd.DataFrame({"x": [7.0]})  # may reuse a freed id: it must not see the old entries
    assert column_max(b, "x") == 7.0


def test_unhashable_arguments_are_computed_each_time():
    calls = []

    @frame_cache
    def pick(frame: pd.DataFrame, rows):
        calls.append(1)
        return frame.iloc[rows]["x"].to_numpy()

    f = pd.DataFrame({"x": np.arange(4.0)})
    np.testing.assert_array_equal(pick(f, [1, 2]), [1.0, 2.0])
    np.testing.assert_array_equal(pick(f, [1, 2]), [1.0, 2.0])
    assert len(calls) == 2


def test_answers_read_the_cached_lookups_of_the_loaded_tables():
    """The warm answer's lookups (a GPU's figures, which GPUs compute in a precision, the traces' limits, the
    architecture table's size lines) are computed once per loaded table."""
    from infergy.data import load
    from infergy.data.vocab import gpus_supporting
    from infergy.model.architecture import size_lines
    from infergy.model.physics import gpu_spec
    from infergy.model.workload import trace_limits

    bundle = load()
    hw, arch, models, lengths = (bundle.tables[k] for k in ("hardware", "architectures", "models",
                                                             "request_lengths"))
    assert gpu_spec(hw, "H100-SXM-80GB", "fp8") is gpu_spec(hw, "H100-SXM-80GB", "fp8")
    assert gpus_supporting(hw, "fp8") is gpus_supporting(hw, "fp8")
    assert trace_limits(lengths) is trace_limits(lengths)
    assert size_lines(arch, models) is size_lines(arch, models)
    assert gpu_spec(hw, "H100-SXM-80GB", "fp8") == gpu_spec(hw.copy(), "H100-SXM-80GB", "fp8")
