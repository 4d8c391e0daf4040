"""Write the made-up telemetry example: one day of 5-minute intervals of a Llama 3.1 70B chat service on one
8 x H100 SXM server (FP8), its GPUs' energy metered (the GPU boundary), with a daily load curve.

Every number is invented (a diurnal concurrency curve, a per-sequence speed that falls with the batch, a GPU power
that rises with it); the rows say so. They show the shape of what an operator's logs give (DCGM's GPU energy
counters beside the serving engine's request and token counters), not a measurement.

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


def example_day(seed: int = SEED) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(N_INTERVALS) * INTERVAL_S
    hours = t / 3600.0
    # concurrency: a trough at 04:00 UTC, a peak at 16:00, multiplicative noise
    concurrency = 48.0 * (1.0 - 0.75 * np.cos(2.0 * np.pi * (hours - 4.0) / 24.0)) * rng.lognormal(0.0, 0.12,
                                                                                                   N_INTERVALS)
    per_sequence_tok_s = 70.0 / (1.0 + concurrency / 200.0)  # each sequence slows as the batch grows
    output_tokens = concurrency * per_sequence_tok_s * INTERVAL_S
    requests = np.maximum(1, np.round(output_tokens / (MEAN_OUTPUT_TOKENS * rng.lognormal(0.0, 0.05, N_INTERVALS))))
    input_tokens = requests * MEAN_INPUT_TOKENS * rng.lognormal(0.0, 0.08, N_INTERVALS)
    gpu_w = (110.0 + 520.0 * concurrency / (concurrency + 24.0)) * rng.lognormal(0.0, 0.02, N_INTERVALS)
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
