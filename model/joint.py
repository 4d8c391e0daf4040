"""The joint model: throughput, power and PUE sub-models over one set of shipped (and users') tables."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .power import PowerArrays, PowerDesign, build_power_design, power_model, usable_power_rows
from .pue import PueArrays, PueDesign, build_pue_design, pue_model, usable_pue_rows
from .throughput import ThroughputArrays, ThroughputDesign, build_throughput_design, throughput_model, usable_throughput_rows

__all__ = ["OBSERVED_SITES", "InfergyDesign", "build_design", "infergy_model"]

#: Observed sites -> (table, what is observed).
OBSERVED_SITES = {
    "tp_obs": ("throughput", "log output tok/s per GPU"),
    "pw_obs": ("gpu_energy", "log(average GPU power / TDP)"),
    "pue_obs": ("pue", "log(PUE - 1)"),
}


@dataclass(frozen=True)
class InfergyDesign:
    throughput: ThroughputDesign
    power: PowerDesign
    pue: PueDesign

    @property
    def sizes(self) -> dict[str, int]:
        return {**self.throughput.sizes, **self.power.sizes, **self.pue.sizes}

    @property
    def inputs(self) -> tuple[ThroughputArrays, PowerArrays, PueArrays]:
        return self.throughput.arrays, self.power.arrays, self.pue.arrays

    @property
    def observations(self) -> dict[str, np.ndarray | None]:
        return {"y_tp": self.throughput.y_log_tok_s, "y_pw": self.power.y_log_power_share,
                "y_pue": self.pue.y_log_pue_minus_1}

    @property
    def n_rows(self) -> dict[str, int]:
        return {"tp_obs": self.throughput.n_rows, "pw_obs": len(self.power.rows), "pue_obs": len(self.pue.rows)}


def build_design(bundle) -> InfergyDesign:
    """Arrays for the joint model from a :class:`~infergy.data.DataBundle`."""
    t = bundle.tables
    return InfergyDesign(
        throughput=build_throughput_design(usable_throughput_rows(t["throughput"]), t["hardware"], t["models"]),
        power=build_power_design(usable_power_rows(t["gpu_energy"], t["hardware"]), t["hardware"]),
        pue=build_pue_design(usable_pue_rows(t["pue"])),
    )


def infergy_model(tp_x: ThroughputArrays, pw_x: PowerArrays, pue_x: PueArrays, *, n_models: int, n_gpus: int,
                  n_setups: int, n_gpu_precision: int, n_model_gpu: int, n_power_gpus: int, n_operators: int,
                  y_tp=None, y_pw=None, y_pue=None):
    """The joint NumPyro model (observations last)."""
    throughput_model(tp_x, n_models, n_gpus, n_setups, n_gpu_precision, n_model_gpu, y=y_tp)
    power_model(pw_x, n_power_gpus, y=y_pw)
    pue_model(pue_x, n_operators, y=y_pue)
