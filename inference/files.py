"""Atomic file output: write to a temporary file beside the target, then rename (never a half-written file)."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

__all__ = ["PENDING", "atomic_path", "discard_pending", "write_text_atomic"]

#: Temporary files being written now: an interrupt removes them (:func:`discard_pending`) before the process ends.
PENDING: set[str] = set()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path in ``path``'s folder; on success it becomes ``path`` (mode 0666 & ~umask)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=path.suffix)
    os.close(fd)
    PENDING.add(tmp)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        PENDING.discard(tmp)
        if os.path.exists(tmp):
            os.unlink(tmp)


def discard_pending() -> None:
    """Remove every temporary file still being written (an interrupted run leaves no partial output)."""
    for tmp in list(PENDING):
        try:
            os.unlink(tmp)
        except OSError:
            pass


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)
