"""A persistent cache of compiled JAX programs, so that a command's second run skips XLA compilation.

Most of a small fit's time is XLA compiling the joint model in each form the fit needs (the variational start,
the Hessian, the sampler, the prior and posterior predictive, the log-likelihood, the exact leave-one-out refits):
the tests' ``infergy fit --chains 2 --warmup 20 --draws 30 ...`` took 126 s with an empty cache and 38 s with a
warm one on 2 CPU cores (the default fit: 271 s and 200 s), with every saved array bit-for-bit the same (docs/scaling.md, "Compile cache"). A refit on new
telemetry has the same shapes as the last one whenever the tables keep their row counts, and every
``estimate``/``fleet``/``report`` reuses its programs outright.

The command line turns the cache on by default; library users call :func:`enable_compile_cache` before their
first JAX computation. ``INFERGY_COMPILE_CACHE`` names the folder, or ``off`` turns the cache off. JAX's own
``JAX_COMPILATION_CACHE_DIR``, where set, wins. The cache is JAX's (keys cover the program, the JAX and XLA
versions, the device and the compiler flags). Its size is kept under :data:`DEFAULT_MAX_BYTES` by
:func:`prune`, oldest programs first, each time the cache is turned on. (JAX's own size cap rescans the whole
folder at every write under a lock between processes: with every small program cached that made the test suite
1.3x slower instead of faster.)
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DEFAULT_MAX_BYTES", "ENV_VAR", "compile_cache_dir", "enable_compile_cache", "prune"]

#: The environment variable naming the cache folder (``off`` for none).
ENV_VAR = "INFERGY_COMPILE_CACHE"
#: The cache's size cap: a default fit writes about 10 MB of programs, so this keeps many versions' worth.
DEFAULT_MAX_BYTES = 1 << 30
_OFF = {"off", "0", "none", "false", "no"}


def compile_cache_dir(environ: dict | None = None) -> Path | None:
    """The folder the cache uses: ``INFERGY_COMPILE_CACHE`` when set (``None`` for ``off``), else
    ``$XDG_CACHE_HOME/infergy/jax`` (``~/.cache/infergy/jax`` when XDG_CACHE_HOME is unset)."""
    env = os.environ if environ is None else environ
    value = env.get(ENV_VAR, "").strip()
    if value.lower() in _OFF:
        return None
    if value:
        return Path(value).expanduser()
    base = env.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(base).expanduser() / "infergy" / "jax"


def enable_compile_cache(path: str | Path | None = None, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Path | None:
    """Turn on JAX's persistent compilation cache in ``path`` (default: :func:`compile_cache_dir`) for every
    program, however quickly it compiles. Returns the folder in use, or ``None`` when the cache is off.

    Call it before the first JAX computation: JAX decides whether to use a cache when it first compiles. A folder
    set in ``JAX_COMPILATION_CACHE_DIR`` is left in charge. Raises ``ValueError`` when the folder cannot be
    created or written.
    """
    import jax

    if os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return Path(os.environ["JAX_COMPILATION_CACHE_DIR"])
    folder = Path(path).expanduser() if path is not None else compile_cache_dir()
    if folder is None:
        return None
    if int(max_bytes) < 1:
        raise ValueError(f"max_bytes must be >= 1, got {max_bytes}")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ValueError(f"compile cache folder {folder} is not writable ({exc.strerror}); set {ENV_VAR} to "
                         f"another folder or to 'off'") from exc
    prune(folder, max_bytes)
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return folder


def prune(folder: str | Path, max_bytes: int = DEFAULT_MAX_BYTES) -> int:
    """Delete the oldest files in ``folder`` (by modification time) until it holds at most 3/4 of ``max_bytes``,
    when it holds more than ``max_bytes``. Returns the number of files deleted. Another process may be reading or
    writing at the same time: a program it then misses is compiled again (an entry JAX cannot read back whole,
    it warns about and compiles again)."""
    entries = []
    with os.scandir(folder) as it:
        for entry in it:
            try:
                if entry.is_file(follow_symlinks=False):
                    st = entry.stat(follow_symlinks=False)
                    entries.append((st.st_mtime_ns, st.st_size, entry.path))
            except OSError:  # removed by another process meanwhile
                continue
    total = sum(size for _, size, _ in entries)
    if total <= max_bytes:
        return 0
    removed = 0
    for _, size, path in sorted(entries):
        if total <= max_bytes * 3 // 4:
            break
        try:
            os.unlink(path)
        except OSError:
            continue
        total -= size
        removed += 1
    return removed
