"""Write the made-up telemetry example: one day of 5-minute intervals of a Llama 3.1 70B chat service on one
8 x H100 SXM server (FP8), its GPUs' energy metered (the GPU boundary), with a daily load curve.

Every number is invented; the rows say so. They show the shape of what an operator's logs give (DCGM's GPU energy
counters beside the serving engine's request and token counters), not a measurement. To stay physically possible,
the speeds and powers are those the shipped posterior gives the public vLLM setup (ML.ENERGY v3's chat task) for
this deployment at each interval's concurrency (posterior medians, without the configurations' scatter), times the
made-up operator's own factors -- an engine 15% faster, a fleet drawing 7% less power -- with 2% noise, over a
diurnal concurrency curve. (Speeds made up freehand, 1.5x the public engine's at high load, needed the bandwidth and
link shares at 99.5%: no engine reaches that.)

    python tools/make_example_telemetry.py      # writes data/templates/telemetry.csv and telemetry_example_day.csv
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parents[1] / "data" / "templates"
SEED = 20261001
INTERVAL_S = 300.0
N_INTERVALS = 288  # one day
N_GPUS = 8
MEAN_INPUT_TOKENS = 1_100.0
MEAN_OUTPUT_TOKENS = 320.0
PUBLIC_SETUP = "vllm-mlenergy_v3-lm-arena-chat"
SPEED_FACTOR = 1.15  # the operator's engine against the public setup's
POWER_FACTOR = 0.93  # its GPUs' power against the public curve's (a power cap)
NOISE_SD = 0.02


def public_curves(concurrency: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Output tok/s of the replica and W per GPU of the public vLLM setup at each concurrency (posterior medians of
    the shipped model, interpolated on a log grid)."""
    from infergy.analysis.predict import predict_components
    from infergy.data import load
    from infergy.inference.posterior import load_posterior
    from infergy.model.query import QuerySpec

    dt, bundle = load_posterior(), load()
    grid = np.geomspace(concurrency.min() * 0.9, concurrency.max() * 1.1, 24)
    tok_s, power_w = [], []
    for c in grid:
        spec = QuerySpec(model="Llama 3.1 70B", gpu="H100", n_gpus=N_GPUS, precision="fp8", boundary="gpu",
                         input_tokens=MEAN_INPUT_TOKENS, output_tokens=MEAN_OUTPUT_TOKENS, batch_size=float(c),
                         engine=PUBLIC_SETUP)
        parts = predict_components(dt, spec, bundle=bundle)
        tok_s.append(np.median(parts["tps_gpu_tok_s"]) * N_GPUS)
        power_w.append(np.median(parts["gpu_power_w"]))
    at = lambda v: np.exp(np.interp(np.log(concurrency), np.log(grid), np.log(v)))  # noqa: E731
    return at(np.asarray(tok_s)), at(np.asarray(power_w))


def example_day(seed: int = SEED) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(N_INTERVALS) * INTERVAL_S
    hours = t / 3600.0
    # concurrency: a trough at 04:00 UTC, a peak at 16:00, multiplicative noise
    concurrency = 48.0 * (1.0 - 0.75 * np.cos(2.0 * np.pi * (hours - 4.0) / 24.0)) * rng.lognormal(0.0, 0.12,
                                                                                                   N_INTERVALS)
    tok_s, power_w = public_curves(concurrency)
    output_tokens = SPEED_FACTOR * tok_s * INTERVAL_S * rng.lognormal(0.0, NOISE_SD, N_INTERVALS)
    requests = np.maximum(1, np.round(output_tokens / (MEAN_OUTPUT_TOKENS * rng.lognormal(0.0, 0.05, N_INTERVALS))))
    input_tokens = requests * MEAN_INPUT_TOKENS * rng.lognormal(0.0, 0.08, N_INTERVALS)
    gpu_w = POWER_FACTOR * power_w * rng.lognormal(0.0, NOISE_SD, N_INTERVALS)
    start = pd.Timestamp("2026-10-01T00:00:00Z") + pd.to_timedelta(t, unit="s")
    return pd.DataFrame({
        "operator": "Example Co (made up)",
        "deployment": "chat-70b-node-01",
        "start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "duration_s": INTERVAL_S,
        "model": "Llama 3.1 70B", "total_params_b": 70.0, "active_params_b": 70.0, "moe": "false",
        "gpu": "H100-SXM-80GB", "n_gpus": N_GPUS, "layout": f"TP{N_GPUS}", "precision": "fp8", "engine": "vllm",
        "boundary": "gpu",
        "energy_wh": np.round(N_GPUS * gpu_w * INTERVAL_S / 3600.0, 1),
        "mean_power_w": "",
        "requests": requests.astype(int),
        "input_tokens": np.round(input_tokens).astype(int),
        "output_tokens": np.round(output_tokens).astype(int),
        "mean_concurrency": np.round(concurrency, 1),
        "source": "example: made-up numbers in the shape of DCGM GPU energy counters and vLLM's metrics",
        "source_url": "https://example.org/our-telemetry",
        "source_row": np.arange(1, N_INTERVALS + 1),
        "notes": "invented by tools/make_example_telemetry.py; replace with your own logs",
    })


def main() -> None:
    day = example_day()
    day.to_csv(OUT / "telemetry_example_day.csv", index=False)
    day.head(3).to_csv(OUT / "telemetry.csv", index=False)


if __name__ == "__main__":
    main()
