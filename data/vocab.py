"""Controlled vocabularies: canonical GPU ids and their labels in the sources, precisions, boundaries, models."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from .frame_cache import frame_cache

__all__ = [
    "BOUNDARIES",
    "BOUNDARY_TABLE",
    "Boundary",
    "GPU_ALIASES",
    "GPU_IDS",
    "PRECISIONS",
    "PRECISION_TABLE",
    "Precision",
    "SERVABLE_PRECISIONS",
    "gpus_supporting",
    "runnable_precision",
    "canonical_gpu",
    "model_name",
    "params_from_name",
]


def _hardware_ids() -> frozenset[str]:
    """The ``gpu`` column of the shipped hardware table: a GPU is known once it has a row there."""
    path = Path(__file__).with_name("hardware.csv")
    if not path.exists():  # building the tables from the reference files
        return frozenset()
    with path.open(newline="", encoding="utf-8") as f:
        return frozenset(row["gpu"] for row in csv.DictReader(f) if row["gpu"])


#: Canonical accelerator ids (the ``gpu`` column of every table), read from ``hardware.csv``: adding a GPU is
#: adding its row there.
GPU_IDS = _hardware_ids()

#: Source label -> (canonical id, variant assumed). A label that does not state the variant maps to the
#: variant its source most plausibly used and is marked as assumed.
GPU_ALIASES: dict[str, tuple[str, bool]] = {
    **{g: (g, False) for g in GPU_IDS},
    "H100 SXM 80GB": ("H100-SXM-80GB", False),
    "H100 80GB HBM3": ("H100-SXM-80GB", False),
    "2xH100 80GB HBM3": ("H100-SXM-80GB", False),
    "NVIDIA H100 80GB HBM3": ("H100-SXM-80GB", False),
    "H100": ("H100-SXM-80GB", False),  # ML.ENERGY v3: H100 80GB HBM3 servers
    "H100 (table heading 'H100 GPUs'; methodology text refers to H100-HBM3-80GB)": ("H100-SXM-80GB", True),
    "H200 SXM 141GB": ("H200-SXM-141GB", False),
    "H200 141GB HBM3": ("H200-SXM-141GB", False),
    "H200 140GB HBM3": ("H200-SXM-141GB", False),
    "H200 131GB HBM3": ("H200-SXM-141GB", False),
    "H200": ("H200-SXM-141GB", False),
    "H200 (table heading 'H200 GPUs')": ("H200-SXM-141GB", True),
    "A100 SXM4 80GB": ("A100-SXM4-80GB", False),
    "A100 PCIe 80GB": ("A100-PCIe-80GB", False),
    "NVIDIA A100-SXM4-40GB": ("A100-SXM4-40GB", False),
    "A100 (table heading 'A100 GPUs'; variant not stated)": ("A100-SXM4-80GB", True),
    "A100": ("A100-SXM4-80GB", True),
    "GH200 120GB": ("GH200-120GB", False),
    "GH200 96GB HBM3": ("GH200-96GB", False),
    "GH200 (96GB HBM3 + 480GB LPDDR5X)": ("GH200-96GB", False),
    "B200 180GB": ("B200", False),
    "GB200 192GB (NVL72)": ("GB200", False),
    "B300 288GB (beta)": ("B300", False),
    "GB300 288GB (beta)": ("GB300", False),
    "RTX PRO 6000 Blackwell Server Edition": ("RTX-PRO-6000-SE", False),
}


@dataclass(frozen=True)
class Precision:
    """A number format of weights and compute: bytes per weight and per KV-cache element, whether a query can be
    served in it (``mixed`` and ``unknown`` only describe benchmark rows), and the hardware table's column of the
    GPU's dense tensor throughput in it (a GPU supports the format where that column has a figure)."""

    weight_bytes: float | None
    kv_bytes: float | None
    servable: bool
    hardware_column: str | None


#: Every precision a row or a query may name. The KV cache is held in 8 bits at FP4 (engines do not store it in
#: 4 bits), in 16 bits for 16-bit and mixed runs.
PRECISION_TABLE: dict[str, Precision] = {
    "fp4": Precision(0.5, 1.0, True, "fp4_dense_tflops"),
    "fp8": Precision(1.0, 1.0, True, "fp8_dense_tflops"),
    "bf16": Precision(2.0, 2.0, True, "bf16_dense_tflops"),
    "fp16": Precision(2.0, 2.0, True, "bf16_dense_tflops"),
    "mixed": Precision(2.0, 2.0, False, None),
    "unknown": Precision(None, None, False, None),
}
PRECISIONS = frozenset(PRECISION_TABLE)
#: What a query may ask for, in the order the command line lists them.
SERVABLE_PRECISIONS = tuple(name for name, p in PRECISION_TABLE.items() if p.servable)


@dataclass(frozen=True)
class Boundary:
    """A measurement boundary: what it adds to the accelerators' energy (``None``: not stated, or not an energy
    boundary of one query), and what it includes in words."""

    host: bool | None
    pue: bool | None
    idle: bool | None  # provisioned-but-idle capacity
    description: str

    @property
    def switches(self) -> tuple[bool, bool, bool] | None:
        """(host, PUE, idle capacity) included, or ``None`` where the boundary does not say."""
        return None if self.host is None else (self.host, self.pue, self.idle)


#: Measurement boundaries, narrowest first: the one table the data checks, the likelihoods and the answers read.
BOUNDARY_TABLE: dict[str, Boundary] = {
    "gpu": Boundary(False, False, False, "accelerators only"),
    "node": Boundary(True, False, False, "accelerators + host (CPU, memory, network, fans)"),
    "node+idle": Boundary(True, False, True, "accelerators + host, plus the provisioned-but-idle capacity"),
    "facility": Boundary(True, True, False,
                         "node x PUE (cooling, power delivery); provisioned-but-idle capacity excluded"),
    "facility+idle": Boundary(True, True, True,
                              "node x PUE, plus the provisioned-but-idle capacity production fleets carry"),
    "lifecycle": Boundary(None, None, None, "a life-cycle total: manufacturing and other shares beside operation"),
    "undisclosed": Boundary(None, None, None, "not stated by the source"),
}
BOUNDARIES = frozenset(BOUNDARY_TABLE)


def canonical_gpu(label: str, hardware=None) -> str:
    """Canonical id for a GPU label (an alias, a shipped id, or an id in the ``gpu`` column of ``hardware``, a
    hardware table with rows of one's own); ``ValueError`` naming the known ids otherwise."""
    label = label.strip()
    if label in GPU_ALIASES:
        return GPU_ALIASES[label][0]
    known = set(GPU_IDS) | (set(hardware["gpu"].dropna()) if hardware is not None else set())
    if label in known:
        return label
    raise ValueError(f"unknown GPU {label!r}; known: {', '.join(sorted(known))}")


#: Source model labels -> canonical names (names as the TensorRT-LLM tables print them where they overlap).
_MODEL_ALIASES = {
    "Llama-3.1 Nemotron Ultra 253B": "Llama 3.1 Nemotron Ultra 253B",
    "LLaMA 7B (doc methodology text refers to Llama2-7b)": "Llama 2 7B",
    "LLaMA 70B (doc methodology text refers to Llama2-70b)": "Llama 2 70B",
    "LLaMA 3.1 70B": "Llama 3.1 70B",
    "LLaMA 3.1 8B": "Llama 3.1 8B",
    "DeepSeek-R1-0528": "DeepSeek-R1",
    "Mistral Large": "Mistral Large 2",
    "mistralai/Mistral-Large-Instruct-2407": "Mistral Large 2",
    "meta-llama/Llama-3.1-405B-Instruct-FP8": "Llama 3.1 405B",
    "meta-llama/Meta-Llama-3.1-405B-Instruct": "Llama 3.1 405B",
    "meta-llama/Llama-3.1-70B-Instruct": "Llama 3.1 70B",
    "meta-llama/Meta-Llama-3.1-70B-Instruct": "Llama 3.1 70B",
    "meta-llama/Llama-3.1-8B-Instruct": "Llama 3.1 8B",
    "meta-llama/Meta-Llama-3.1-8B-Instruct": "Llama 3.1 8B",
    "meta-llama/Llama-3.3-70B-Instruct": "Llama 3.3 70B",
    "meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8": "Llama 4 Maverick 17B-128E",
    "meta-llama/Llama-4-Scout-17B-16E-Instruct": "Llama 4 Scout 17B-16E",
    "Qwen/Qwen3-235B-A22B-Instruct-2507": "Qwen3-235B-A22B",
    "Qwen/Qwen3-235B-A22B-Instruct-2507-FP8": "Qwen3-235B-A22B",
    "Qwen/Qwen3-30B-A3B-Instruct-2507": "Qwen3-30B-A3B",
    "mistralai/Mixtral-8x22B-Instruct-v0.1": "Mixtral 8x22B",
    "mistralai/Mixtral-8x7B-Instruct-v0.1": "Mixtral 8x7B",
    "mistralai/Mistral-7B-Instruct-v0.3": "Mistral 7B",
    "metaai/Llama-2-7b-chat-hf": "Llama 2 7B",
    "metaai/Llama-2-13b-chat-hf": "Llama 2 13B",
}
_SUFFIXES = re.compile(r"(-Instruct(-\d{4})?|-FP8|-it|-hf|-chat|-BF16)+$")


def model_name(label: str) -> str:
    """Canonical model name: a known alias, else the label without its organisation and packaging suffixes."""
    label = str(label).strip()
    if label in _MODEL_ALIASES:
        return _MODEL_ALIASES[label]
    name = label.split("/", 1)[1] if "/" in label else label
    return _SUFFIXES.sub("", name)


_SIZE = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)[bB](?![a-zA-Z])")


def params_from_name(name: str) -> float | None:
    """Parameter count in billions when the name states it (``"vicuna-13B"`` -> 13.0), else ``None``."""
    m = _SIZE.search(str(name))
    return float(m.group(1)) if m else None


@frame_cache
def gpus_supporting(hardware, precision: str) -> frozenset[str]:
    """The GPUs of the hardware table with a dense tensor-throughput figure in ``precision``."""
    column = PRECISION_TABLE[precision].hardware_column
    if column is None:
        return frozenset()
    gpus = hardware[hardware["kind"] == "gpu"]
    return frozenset(gpus.loc[gpus[column].notna(), "gpu"])


#: Servable precisions from the fewest bits to the most: a GPU that computes in one also computes in every later one.
_BY_BITS = ("fp4", "fp8", "bf16", "fp16")


def runnable_precision(hardware, gpu: str, precision: str) -> str:
    """The precision ``gpu`` would serve a ``precision`` request in: the request itself where the GPU computes in it
    (a dense-throughput figure in that precision or one with fewer bits), else the fewest-bits precision it does
    compute in (FP8 on an A100 runs in BF16; FP4 on an H100 in FP8). A GPU with no throughput figure at all is
    taken to run the request."""
    has = {p for p in _BY_BITS if gpu in gpus_supporting(hardware, p)}
    if precision not in _BY_BITS or not has:
        return precision
    start = _BY_BITS.index(precision)
    if any(p in has for p in _BY_BITS[: start + 1]):
        return precision
    return next(p for p in _BY_BITS[start:] if p in has)
