"""Every answer's JSON against the snapshot in tests/golden/answers.json (``python tests/golden_answers.py``
rewrites it after an intended change of the numbers; say why in the commit).

On the platform the snapshot was taken on (the same JAX, NumPy, instruction sets and XLA flags) each command must
print the same bytes: a restructuring that moves code may not move a number. Elsewhere floating-point rounding
differs, so numbers must agree to a relative 1e-5 (measured across two code-generation paths: at most 2e-6)
and everything else exactly."""

from __future__ import annotations

import json
import math

import pytest
from golden_answers import COMMANDS, GOLDEN, platform_fingerprint, run_command


@pytest.fixture(scope="module")
def golden():
    return json.loads(GOLDEN.read_text())


def _differences(old, new, path: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        if list(old) != list(new):
            return [f"{path}: keys {list(old)} -> {list(new)}"]
        return [d for k in old for d in _differences(old[k], new[k], f"{path}/{k}")]
    if isinstance(old, list) and isinstance(new, list):
        if len(old) != len(new):
            return [f"{path}: {len(old)} items -> {len(new)}"]
        return [d for i, (a, b) in enumerate(zip(old, new)) for d in _differences(a, b, f"{path}[{i}]")]
    if isinstance(old, float) and isinstance(new, float):
        if math.isnan(old) and math.isnan(new) or math.isclose(old, new, rel_tol=1e-5, abs_tol=1e-12):
            return []
    elif type(old) is type(new) and old == new:
        return []
    return [f"{path}: {old!r} -> {new!r}"]


def test_the_snapshot_covers_every_answer(golden):
    assert list(golden["outputs"]) == [name for name, _ in COMMANDS]
    commands = {args[0] for _, args in COMMANDS}
    assert {"replicate-paper", "estimate", "pathways", "fleet", "sensitivity", "compare-paper"} <= commands
    boundaries = {args[args.index("--boundary") + 1] for _, args in COMMANDS if "--boundary" in args}
    assert boundaries | {"facility"} == {"gpu", "node", "facility", "facility+idle"}


@pytest.mark.parametrize("name, args", COMMANDS, ids=[name for name, _ in COMMANDS])
def test_answers_are_unchanged(golden, name, args):
    printed = run_command(args)
    if golden["platform"] == platform_fingerprint():
        assert printed == golden["outputs"][name]
    else:
        assert _differences(json.loads(golden["outputs"][name]), json.loads(printed)) == []


def test_the_comparison_catches_a_moved_number():
    old = {"value": {"median": 0.5, "p95": 1.0}, "gpu": "H100"}
    assert _differences(old, {"value": {"median": 0.5 * (1 + 3e-6), "p95": 1.0}, "gpu": "H100"}) == []
    assert _differences(old, {"value": {"median": 0.5 * (1 + 1e-4), "p95": 1.0}, "gpu": "H100"})
    assert _differences(old, {"value": {"median": 0.5, "p95": 1.0}, "gpu": "H200"})
    assert _differences(old, {"value": {"p95": 1.0, "median": 0.5}, "gpu": "H100"})  # order is part of the contract
