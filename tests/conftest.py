"""Shared test set-up: CPU, a slow tier behind --run-slow, session-cached paper runs."""

from __future__ import annotations

import os
import shutil
import tempfile

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("MPLBACKEND", "Agg")
# One compile cache per test session, empty at its start (CI's timings are a cold start), shared by the xdist
# workers and the command lines the tests run (they inherit the environment): what the CLI does by default.
_SESSION_CACHE = None
if "INFERGY_COMPILE_CACHE" not in os.environ:
    _SESSION_CACHE = tempfile.mkdtemp(prefix="infergy-test-compile-cache-")
    os.environ["INFERGY_COMPILE_CACHE"] = _SESSION_CACHE

import pytest  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    from infergy.compile_cache import enable_compile_cache

    enable_compile_cache()


def pytest_unconfigure(config: pytest.Config) -> None:
    if _SESSION_CACHE is not None:  # the process that made the folder (the xdist controller) removes it
        shutil.rmtree(_SESSION_CACHE, ignore_errors=True)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", default=False, help="also run tests marked slow")
    parser.addoption("--only-slow", action="store_true", default=False, help="run only tests marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    run_slow = config.getoption("--run-slow") or config.getoption("--only-slow")
    for item in items:
        is_slow = "slow" in item.keywords
        if is_slow and not run_slow:
            item.add_marker(pytest.mark.skip(reason="slow: run with --run-slow"))
        elif not is_slow and config.getoption("--only-slow"):
            item.add_marker(pytest.mark.skip(reason="--only-slow"))


def xla_flags(*extra: str) -> str:
    """This process's ``XLA_FLAGS`` without a forced host device count, plus ``extra``: what a test's subprocess
    gets, so that a run under other code-generation flags (``make test-fp-path``) reaches every process."""
    kept = [f for f in os.environ.get("XLA_FLAGS", "").split()
            if not f.startswith("--xla_force_host_platform_device_count")]
    return " ".join([*kept, *extra])


@pytest.fixture
def subprocess_env():
    """The environment for a test's Python subprocess: this one's, with :func:`xla_flags` (``*extra`` added)."""
    def env(*extra: str, **overrides: str) -> dict:
        return {**os.environ, "XLA_FLAGS": xla_flags(*extra), **overrides}

    return env


@pytest.fixture(scope="session")
def rep_v2():
    from infergy.analysis import replicate_paper

    return replicate_paper("v2")


@pytest.fixture(scope="session")
def rep_v2_10x():
    from infergy.analysis import replicate_paper

    return replicate_paper("v2", samples=100_000)


@pytest.fixture(scope="session")
def rep_v1():
    from infergy.analysis import replicate_paper

    return replicate_paper("v1")
