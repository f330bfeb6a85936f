"""The measured TFLM + CMSIS-NN instruction counts (`../shared/data/tflm_kernels/`), joined to the layers
that `parse_tflite` reads from the very same `.tflite` files.

Layer features therefore come from the code path the tool uses at run time. The join is on
(model, layer_index) and is verified: operator name, input/output shapes and MACs must agree with the
CSV, and every model must have as many parsed layers as executed operators; disagreements are
collected in `Dataset.mismatches` (the fit refuses a data set with any). Counts are instructions,
sizes bytes. Used by the fit, the validation benchmark and the tests; never at estimate time.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from device_profiles.layers import Layer


@dataclass
class MeasuredModel:
    """One model: its parsed layers and, per core, the measured instructions."""

    name: str
    layers: list[Layer]
    layer_instructions: dict[str, list[int]] = field(default_factory=dict)   # core -> per layer
    total_instructions: dict[str, int] = field(default_factory=dict)         # core -> Invoke()
    model_bytes: int = 0

    @property
    def single_op(self) -> bool:
        """True for the single-operator models (`op_*`)."""
        return self.name.startswith("op_")


@dataclass
class Dataset:
    """All measured models, the cores they ran on, the runtime flash per core (bytes) and the source."""

    root: Path
    cores: list[str]
    models: dict[str, MeasuredModel]
    runtime_flash_bytes: dict[str, int]
    mismatches: list[str]

    def names(self, single_op: bool | None = None) -> list[str]:
        """Model names, sorted; `single_op` True/False keeps only op_* / only networks."""
        return sorted(n for n, m in self.models.items() if single_op is None or m.single_op == single_op)


def _shape(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split("x")) if text and text != "scalar" else ()


def _check_row(model: str, lay: Layer, row: dict[str, str]) -> str | None:
    want = (row["op"], _shape(row["input_shape"]), _shape(row["output_shape"]), int(row["macs"]))
    got = (lay.op, tuple(lay.input_shape), tuple(lay.output_shape), int(lay.macs))
    if want != got:
        return f"{model} layer {lay.index}: csv {want} != parsed {got}"
    return None


def load_dataset(root: str | Path) -> Dataset:
    """Read layers.csv, models.csv and parse models/*.tflite under `root` (the tflm_kernels folder)."""
    from device_profiles.tflite_model import parse_tflite

    root = Path(root)
    layer_rows: dict[tuple[str, str], list[dict[str, str]]] = {}
    with open(root / "layers.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            layer_rows.setdefault((row["core"], row["model"]), []).append(row)
    with open(root / "models.csv", newline="") as fh:
        model_rows = list(csv.DictReader(fh))
    cores = sorted({r["core"] for r in model_rows})
    flash = {}
    for r in model_rows:
        flash[r["core"]] = max(flash.get(r["core"], 0), int(r["text_bytes_minus_model"]))
    models: dict[str, MeasuredModel] = {}
    mismatches: list[str] = []
    for r in sorted(model_rows, key=lambda r: (r["model"], r["core"])):
        name, core = r["model"], r["core"]
        if name not in models:
            info = parse_tflite(root / "models" / f"{name}.tflite")
            models[name] = MeasuredModel(name, info.layers, model_bytes=info.model_bytes)
        m = models[name]
        rows = sorted(layer_rows.get((core, name), []), key=lambda x: int(x["layer_index"]))
        if len(rows) != len(m.layers) or len(rows) != int(r["n_layers"]):
            mismatches.append(f"{name} on {core}: {len(rows)} executed operators, "
                              f"{len(m.layers)} parsed layers")
            continue
        for lay, row in zip(m.layers, rows, strict=True):
            if int(row["layer_index"]) != lay.index:
                mismatches.append(f"{name} on {core}: layer index {row['layer_index']} != {lay.index}")
            elif (msg := _check_row(name, lay, row)) is not None:
                mismatches.append(f"{msg} ({core})")
        m.layer_instructions[core] = [int(x["instructions"]) for x in rows]
        m.total_instructions[core] = int(r["total_instructions"])
    return Dataset(root, cores, models, flash, sorted(set(mismatches)))
