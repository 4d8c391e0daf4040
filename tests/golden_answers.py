"""The answers' JSON for a fixed set of commands: the snapshot a restructuring must leave unchanged.

``python tests/golden_answers.py`` rewrites ``tests/golden/answers.json`` (each command's ``--json`` output as
printed, and the platform it ran on); ``tests/test_golden_answers.py`` reruns the commands and compares.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import platform
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

GOLDEN = Path(__file__).resolve().parent / "golden" / "answers.json"

_Q = ["estimate", "--json", "--samples", "20000"]
#: (name, CLI arguments): named and sized models, every boundary, regimes, agent steps, per token, GPUs, precisions
COMMANDS: list[tuple[str, list[str]]] = [
    ("replicate-paper v2", ["replicate-paper", "--version", "v2", "--json", "--no-figures"]),
    ("replicate-paper v1", ["replicate-paper", "--version", "v1", "--json", "--no-figures"]),
    ("estimate 405B H100 traditional", [*_Q, "--model", "Llama 3.1 405B", "--gpu", "H100"]),
    ("estimate 405B reasoning 3 agent steps", [*_Q, "--model", "Llama 3.1 405B", "--regime", "reasoning",
                                               "--agent-steps", "3", "--tool-tokens", "200"]),
    ("estimate 70B gpu boundary per token", [*_Q, "--model", "Llama 3.1 70B", "--boundary", "gpu", "--per", "token",
                                             "--output-tokens", "350", "--input-tokens", "1000", "--gpus", "4",
                                             "--precision", "bf16", "--batch-size", "64"]),
    ("estimate 8B node A100 fp16", [*_Q, "--model", "Llama 3.1 8B", "--gpu", "A100", "--precision", "fp16",
                                    "--boundary", "node"]),
    ("estimate DeepSeek-R1 H200 facility+idle", [*_Q, "--model", "DeepSeek-R1", "--gpu", "H200",
                                                 "--boundary", "facility+idle", "--regime", "reasoning"]),
    ("estimate sized MoE B200 fp4", [*_Q, "--total-params-b", "300", "--active-params-b", "30", "--gpu", "B200",
                                     "--precision", "fp4"]),
    ("estimate sized dense L40S pue 1.5", [*_Q, "--total-params-b", "13", "--gpu", "L40S", "--pue", "1.5",
                                           "--input-tokens", "2000", "--output-tokens", "800"]),
    ("estimate Mixtral H100 batch 8", [*_Q, "--model", "Mixtral 8x7B", "--batch-size", "8", "--seed", "3"]),
    ("estimate 405B long context", [*_Q, "--model", "Llama 3.1 405B", "--input-tokens", "100000",
                                    "--output-tokens", "300", "--boundary", "node"]),
    ("estimate 70B GB200 per token reasoning", [*_Q, "--model", "Llama 3.1 70B", "--gpu", "GB200", "--per", "token",
                                                "--regime", "reasoning"]),
    ("pathways", ["pathways", "--json", "--samples", "20000"]),
    ("fleet", ["fleet", "--json", "--samples", "20000"]),
    ("sensitivity", ["sensitivity", "--json", "--queries", "50"]),
    ("compare-paper", ["compare-paper", "--json"]),
]


def platform_fingerprint() -> str:
    """What decides the floating-point bits: JAX and NumPy versions, the processor's instruction sets, XLA's
    flags. Two runs with the same fingerprint must print the same bytes."""
    try:
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags"))
    except (OSError, StopIteration):
        flags = platform.processor()
    isa = sorted(f for f in flags.split() if f.startswith(("avx", "sse", "fma", "amx")))
    text = "|".join([version("jaxlib"), version("numpy"), platform.machine(), " ".join(isa),
                     os.environ.get("XLA_FLAGS", "")])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def run_command(args: list[str]) -> str:
    """The CLI's stdout for ``args``, run in this process (in a scratch folder: files it writes go there)."""
    from infergy import cli

    out = io.StringIO()
    with tempfile.TemporaryDirectory() as scratch, contextlib.chdir(scratch), contextlib.redirect_stdout(out):
        code = cli.main(args)
    if code != 0:
        raise RuntimeError(f"infergy {' '.join(args)} exited {code}")
    return out.getvalue()


def snapshot() -> dict:
    return {"platform": platform_fingerprint(), "outputs": {name: run_command(args) for name, args in COMMANDS}}


if __name__ == "__main__":
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(json.dumps(snapshot(), indent=1) + "\n")
    print(f"wrote {GOLDEN}", file=sys.stderr)
