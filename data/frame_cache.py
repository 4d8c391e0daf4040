"""Memoise a pure function of loaded tables: its result is kept while the tables it read are alive.

A warm answer looks up the same GPU's figures, the traces' limits and the architecture table's size lines on every
query; with pandas, each lookup costs milliseconds (a warm estimate is budgeted at 100 ms). Loaded tables are read
only -- a :class:`~infergy.data.DataBundle`'s frames are never changed in place -- so a result can be keyed on the
identity of the frames it read, and is dropped when they are.
"""

from __future__ import annotations

import functools
import sys
import weakref
from typing import Callable, TypeVar

__all__ = ["frame_cache"]

R = TypeVar("R")


def frame_cache(fn: Callable[..., R]) -> Callable[..., R]:
    """Decorate ``fn(*args)``, whose DataFrame arguments are read only and whose other arguments are hashable:
    a call with the same frames (the same objects) and equal other arguments returns the first call's result
    (which callers must not change). An entry goes when any frame it was keyed on is garbage-collected."""
    results: dict[tuple, R] = {}
    watched: set[int] = set()

    def forget(frame_id: int) -> None:
        watched.discard(frame_id)
        for key in [k for k in results if frame_id in k[0]]:
            del results[key]

    @functools.wraps(fn)
    def cached(*args):
        is_frame = [_is_frame(a) for a in args]
        frames = tuple(id(a) for a, f in zip(args, is_frame) if f)
        key = (frames, tuple(("frame", i) if f else a for i, (a, f) in enumerate(zip(args, is_frame))))
        try:
            return results[key]
        except KeyError:
            pass
        except TypeError:  # an unhashable argument: no caching
            return fn(*args)
        value = fn(*args)
        for a, f in zip(args, is_frame):
            if f and id(a) not in watched:
                watched.add(id(a))
                weakref.finalize(a, forget, id(a))
        results[key] = value
        return value

    cached.cache_clear = results.clear  # type: ignore[attr-defined]
    return cached


def _is_frame(value) -> bool:
    """Whether ``value`` is a DataFrame (without importing pandas: the vocabularies import without it)."""
    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(value, pandas.DataFrame)
