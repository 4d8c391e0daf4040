"""The persistent compile cache: where it lives, that a second process reuses its programs, that it never changes
a number, and the errors when its folder cannot be used."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from infergy.compile_cache import ENV_VAR, compile_cache_dir, enable_compile_cache


@pytest.mark.parametrize("value", ["off", "OFF", "0", "none", " false "])
def test_off_means_no_folder(value):
    assert compile_cache_dir({ENV_VAR: value}) is None


def test_folder_from_the_variable_then_xdg_then_home(tmp_path):
    assert compile_cache_dir({ENV_VAR: str(tmp_path / "c")}) == tmp_path / "c"
    assert compile_cache_dir({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "infergy" / "jax"
    assert compile_cache_dir({}) == Path.home() / ".cache" / "infergy" / "jax"


def test_a_folder_that_cannot_be_made_is_one_clear_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(ValueError, match=rf"compile cache folder .*a-file/jax is not writable.*{ENV_VAR}"):
        enable_compile_cache(blocker / "jax")
    with pytest.raises(ValueError, match="max_bytes must be >= 1"):
        enable_compile_cache(tmp_path / "ok", max_bytes=0)


_PROGRAM = """
import json, sys
import jax, jax.numpy as jnp
from infergy.compile_cache import enable_compile_cache
hits = []
jax.monitoring.register_event_listener(lambda event, **kw: hits.append(event)
                                       if event == "/jax/compilation_cache/cache_hits" else None)
folder = enable_compile_cache()
x = jax.jit(lambda k: jnp.cumsum(jnp.sin(jax.random.normal(k, (1000,))) ** 2))(jax.random.PRNGKey(3))
print(json.dumps({"folder": str(folder), "hits": len(hits), "value": float(x[-1])}))
"""


def _run(env_value: str) -> dict:
    env = {**os.environ, ENV_VAR: env_value, "JAX_PLATFORMS": "cpu"}
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    out = subprocess.run([sys.executable, "-c", _PROGRAM], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


def test_a_second_process_reads_the_programs_the_first_wrote(tmp_path):
    folder = tmp_path / "cache"
    first, second = _run(str(folder)), _run(str(folder))
    assert first["folder"] == second["folder"] == str(folder)
    assert first["hits"] == 0 and second["hits"] >= 1
    assert any(folder.iterdir())
    off = _run("off")
    assert off["folder"] == "None" and off["hits"] == 0
    assert first["value"] == second["value"] == off["value"]  # bit for bit


def _cli(args: list[str], **env_changes) -> subprocess.CompletedProcess:
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    for name, value in env_changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return subprocess.run([sys.executable, "-m", "infergy", *args], capture_output=True, text=True, env=env,
                          timeout=600)


ESTIMATE = ["estimate", "--model", "Llama 3.1 405B", "--gpu", "H100", "--samples", "2000", "--json"]


def test_the_cli_fills_the_cache_and_gives_the_same_numbers_with_it_off(tmp_path):
    folder = tmp_path / "cli-cache"
    cold, warm = _cli(ESTIMATE, INFERGY_COMPILE_CACHE=str(folder)), _cli(ESTIMATE, INFERGY_COMPILE_CACHE=str(folder))
    off = _cli(ESTIMATE, INFERGY_COMPILE_CACHE="off")
    for proc in (cold, warm, off):
        assert proc.returncode == 0, proc.stderr[-2000:]
    assert any(folder.iterdir())
    assert json.loads(cold.stdout) == json.loads(warm.stdout) == json.loads(off.stdout)


def test_the_cli_refuses_a_named_folder_it_cannot_write_but_runs_without_a_default_one(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    named = _cli(ESTIMATE, INFERGY_COMPILE_CACHE=str(blocker / "cache"))
    assert named.returncode == 2 and named.stdout == ""
    assert named.stderr.strip().splitlines() == [
        f"infergy: error: compile cache folder {blocker / 'cache'} is not writable (Not a directory); set "
        f"{ENV_VAR} to another folder or to 'off'"]
    default = _cli(ESTIMATE, INFERGY_COMPILE_CACHE=None, XDG_CACHE_HOME=str(blocker))
    assert default.returncode == 0, default.stderr[-2000:]
    assert "infergy: note: compile cache folder" in default.stderr and "running without it" in default.stderr
    assert json.loads(default.stdout)["value"]["median"] > 0


def test_prune_keeps_the_folder_under_its_cap_deleting_the_oldest_first(tmp_path):
    from infergy.compile_cache import prune

    for i in range(10):  # file i is 100 bytes, written at time 1000 + i
        path = tmp_path / f"entry-{i}"
        path.write_bytes(b"x" * 100)
        os.utime(path, ns=(1_000_000_000_000 + i * 10**9,) * 2)
    assert prune(tmp_path, max_bytes=1000) == 0  # at the cap: nothing to do
    assert prune(tmp_path, max_bytes=800) == 4  # down to 3/4 of the cap: the four oldest go
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"entry-{i}" for i in range(4, 10)]
    import jax

    before = jax.config.jax_compilation_cache_dir
    try:
        enable_compile_cache(tmp_path, max_bytes=200)  # turning the cache on prunes too
    finally:
        jax.config.update("jax_compilation_cache_dir", before)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["entry-9"]
