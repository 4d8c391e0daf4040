"""Multi-host propagation with ``jax.distributed``: two processes on this machine (one CPU device each, Gloo
collectives) split the posterior draws between them and get exactly the single-process answer."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

WORKER = """
import json, sys
import jax
port, pid, nproc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
if nproc > 1:
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}", num_processes=nproc, process_id=pid)
import numpy as np
import infergy
from infergy.analysis.estimate import open_posterior
from infergy.analysis.predict import QuerySpec, prepare
from infergy.analysis.propagate import on_devices, shard_draws
source = open_posterior()
with on_devices(jax.devices()):
    arrays, _ = prepare(source.draws_coords, QuerySpec(model="Llama 3.1 70B"), source.bundle, 0)
    used = shard_draws(arrays)[1]
    est = infergy.estimate("Llama 3.1 70B", regime="reasoning", agent_steps=2, samples=100_000, seed=4,
                           posterior=source)
print(json.dumps({"pid": pid, "processes": jax.process_count(), "devices": len(jax.devices()), "used": used,
                  "value": est.to_dict()["value"], "per_draw_mean": est.per_draw_mean.tolist()}))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_split_the_draws_and_agree_with_one(subprocess_env):
    env = subprocess_env(JAX_PLATFORMS="cpu")
    port = str(_free_port())
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, port, str(i), "2"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env) for i in range(2)]
    outs = []
    for w in workers:
        out, err = w.communicate(timeout=600)
        assert w.returncode == 0, err[-2000:]
        outs.append(json.loads(out.strip().splitlines()[-1]))
    single = subprocess.run([sys.executable, "-c", WORKER, "0", "0", "1"], capture_output=True, text=True, env=env,
                            timeout=600)
    assert single.returncode == 0, single.stderr[-2000:]
    one = json.loads(single.stdout.strip().splitlines()[-1])
    assert one["processes"] == 1 and one["used"] == 1
    for res in outs:
        assert res["processes"] == 2 and res["devices"] == 2 and res["used"] == 2  # really split over 2 hosts
        assert res["value"] == one["value"]  # the same JSON answer on every process as on one
        assert res["per_draw_mean"] == one["per_draw_mean"]
