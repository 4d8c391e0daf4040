"""The package's layout holds: imports point one way (data <- model <- inference <- analysis <- front door), only
``model/`` names the posterior's sites, and the figures never touch the matplotlib backend."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Each layer, and the folder that holds it; a layer may import only from layers before it.
LAYERS = {"data": ROOT / "data", "model": ROOT / "model", "inference": ROOT / "inference",
          "analysis": ROOT / "analysis", "front door": ROOT / "infergy"}
ORDER = list(LAYERS)


def _layer_of(module: str) -> str | None:
    """``infergy.x.y`` -> the layer ``x`` belongs to (the front door for the package's own modules)."""
    parts = module.split(".")
    if parts[0] != "infergy":
        return None
    if len(parts) > 1 and parts[1] in ("data", "model", "inference", "analysis"):
        return parts[1]
    return "front door"


def _package_of(path: Path) -> str:
    layer = next(name for name, folder in LAYERS.items() if folder in path.parents)
    rel = path.relative_to(LAYERS[layer]).with_suffix("")
    base = ["infergy"] + ([] if layer == "front door" else [layer])
    return ".".join(base + list(rel.parts))


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every module ``path`` imports (at any depth), resolved to absolute names."""
    module = _package_of(path)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    if path.name == "__init__.py":
        package = package[:-1]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            out.append((node.lineno, name))
        elif isinstance(node, ast.Import):
            out.extend((node.lineno, alias.name) for alias in node.names)
    return out


def _sources(layer: str) -> list[Path]:
    folder = LAYERS[layer]
    return sorted(p for p in folder.rglob("*.py") if "templates" not in p.parts)


@pytest.mark.parametrize("layer", ORDER)
def test_imports_point_one_way(layer):
    allowed = set(ORDER[: ORDER.index(layer) + 1])
    wrong = []
    for path in _sources(layer):
        for line, name in _imports(path):
            target = _layer_of(name)
            if target is not None and target not in allowed:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {name} ({target})")
    assert not wrong, "\n".join(wrong)


def test_only_the_model_names_posterior_sites():
    """Outside ``model/`` no module reads a parameter of the joint model by its site name: the model's accessors
    and equations do. Observed sites (``tp_obs``, ...) are the data's names and may appear anywhere."""
    import jax
    from numpyro import handlers

    from infergy.data import load
    from infergy.model.joint import OBSERVED_SITES, build_design, infergy_model

    design = build_design(load())
    trace = handlers.trace(handlers.seed(infergy_model, jax.random.PRNGKey(0))).get_trace(*design.inputs,
                                                                                        **design.sizes)
    sites = set(trace) - set(OBSERVED_SITES)
    assert {"tp_b_gpu", "pw_idle_share", "pue_m_scope", "op_log_batch"} <= sites
    quoted = re.compile(r"""["']([a-z][a-z0-9_]*)["']""")
    wrong = []
    for layer in ("inference", "analysis", "front door"):
        for path in _sources(layer):
            for i, text in enumerate(path.read_text().splitlines(), start=1):
                named = sites.intersection(quoted.findall(text))
                if named:
                    wrong.append(f"{path.relative_to(ROOT)}:{i}: {sorted(named)}")
    assert not wrong, "\n".join(wrong)


def test_no_module_switches_the_matplotlib_backend():
    wrong = [f"{p.relative_to(ROOT)}" for layer in ORDER for p in _sources(layer)
             if "matplotlib.use(" in p.read_text() or re.search(r"^import matplotlib\.pyplot", p.read_text(), re.M)]
    assert not wrong, wrong
