"""Datasets for building candidates: the built-in `digits`, an image folder, or an `.npz` file.

* `digits`: scikit-learn's bundled 8x8 handwritten digits (1797 images, 16 gray levels, 10 classes);
  no download.
* image folder: one subfolder per class (subfolder name = class name), images readable by Pillow;
  all images converted to grayscale unless any is colour (then RGB).
* `.npz`: `x_train, y_train[, x_val, y_val]`; x is (N, H, W) or (N, H, W, C), y integer labels.

Every image is resized (bilinear) to the architecture's resolution and scaled to float32 in [0, 1]
(integer arrays are divided by their dtype's max; floats are kept). Without an explicit validation
split, a deterministic stratified split by seed holds out `val_fraction` of every class.
Any problem raises UsageError with one line naming the file/folder and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qnas_edge.errors import UsageError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".pgm", ".ppm", ".tif", ".tiff", ".webp")


@dataclass
class Dataset:
    """Train/validation arrays, float32 NHWC in [0, 1], int64 labels 0..num_classes-1."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    class_names: list[str]
    source: str
    notes: list[str] = field(default_factory=list)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(int(d) for d in self.x_train.shape[1:])  # type: ignore[return-value]

    def summary(self) -> dict:
        return {"source": self.source, "classes": self.num_classes, "train": int(len(self.y_train)),
                "val": int(len(self.y_val)), "input_shape": list(self.input_shape)}


def resize_bilinear(x: np.ndarray, size: int) -> np.ndarray:
    """Resize (N, H, W, C) to (N, size, size, C), bilinear with half-pixel centres (like tf.image)."""
    n, h, w, c = x.shape
    if (h, w) == (size, size):
        return x.astype(np.float32, copy=False)

    def weights(src: int) -> np.ndarray:
        pos = (np.arange(size) + 0.5) * src / size - 0.5
        pos = np.clip(pos, 0, src - 1)
        lo = np.floor(pos).astype(int)
        hi = np.minimum(lo + 1, src - 1)
        frac = pos - lo
        m = np.zeros((size, src), dtype=np.float32)
        m[np.arange(size), lo] += 1 - frac
        m[np.arange(size), hi] += frac
        return m

    ry, rx = weights(h), weights(w)
    return np.einsum("ih,nhwc,jw->nijc", ry, x.astype(np.float32), rx, optimize=True).astype(np.float32)


def stratified_split(y: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, val indices): per class, a seeded permutation; >= 1 val sample per class."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for cls in np.unique(y):
        idx = np.flatnonzero(y == cls)
        idx = idx[rng.permutation(len(idx))]
        n_val = max(1, int(round(len(idx) * val_fraction)))
        val.append(idx[:n_val])
        train.append(idx[n_val:])
    tr, va = np.concatenate(train), np.concatenate(val)
    return np.sort(tr), np.sort(va)


def _to_unit_float(x: np.ndarray, label: str) -> np.ndarray:
    if x.dtype == np.bool_:
        return x.astype(np.float32)
    if np.issubdtype(x.dtype, np.integer):
        return x.astype(np.float32) / float(np.iinfo(x.dtype).max)
    if np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float32)
        if not np.isfinite(x).all():
            raise UsageError(f"{label}: contains NaN or infinite values; clean the data")
        return x
    raise UsageError(f"{label}: dtype {x.dtype} is not numeric; store images as uint8 or float32")


def _nhwc(x: np.ndarray, label: str) -> np.ndarray:
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 2, 3, 4) or min(x.shape[1:3]) < 1:
        raise UsageError(f"{label}: shape {tuple(x.shape)} is not (N, H, W) or (N, H, W, C) with C <= 4; "
                         "reshape the array")
    return x


def _check_labels(y: np.ndarray, n: int, label: str, x_name: str) -> np.ndarray:
    if y.ndim != 1:
        raise UsageError(f"{label}: shape {tuple(y.shape)} must be 1-D integer labels; squeeze or argmax it")
    if len(y) != n:
        raise UsageError(f"{label}: {len(y)} labels but {x_name} has {n} samples; the arrays must match")
    if not np.issubdtype(y.dtype, np.integer) and not (
            np.issubdtype(y.dtype, np.floating) and np.all(np.mod(y, 1) == 0)):
        raise UsageError(f"{label}: dtype {y.dtype} is not integer class labels")
    y = y.astype(np.int64)
    if len(y) and y.min() < 0:
        raise UsageError(f"{label}: negative class label {int(y.min())}; labels must be 0..K-1")
    return y


def _finish(x: np.ndarray, y: np.ndarray, names: list[str], source: str, resolution: int, seed: int,
            val_fraction: float, x_val: np.ndarray | None = None, y_val: np.ndarray | None = None) -> Dataset:
    classes = np.unique(y)
    if len(classes) < 2:
        raise UsageError(f"{source}: only one class ({names[int(classes[0])] if len(classes) else 'none'}); "
                         "a classifier needs at least 2 classes")
    counts = np.bincount(y, minlength=len(names))
    if (counts < 2).any() and x_val is None:
        bad = names[int(np.flatnonzero(counts < 2)[0])]
        raise UsageError(f"{source}: class '{bad}' has {int(counts.min())} sample(s); every class needs at "
                         "least 2 (one for training, one for validation)")
    if x_val is None:
        tr, va = stratified_split(y, val_fraction, seed)
        x_val, y_val = x[va], y[va]
        x, y = x[tr], y[tr]
    return Dataset(resize_bilinear(x, resolution), y, resize_bilinear(x_val, resolution), y_val, names, source)


def load_digits_dataset(resolution: int, seed: int = 0, val_fraction: float = 0.2) -> Dataset:
    """scikit-learn's bundled digits, resized to resolution x resolution x 1."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images.astype(np.float32) / 16.0)[..., None]
    return _finish(x, d.target.astype(np.int64), [str(i) for i in range(10)], "digits", resolution, seed,
                   val_fraction)


def load_npz_dataset(path: Path, resolution: int, seed: int = 0, val_fraction: float = 0.2) -> Dataset:
    """`.npz` with x_train, y_train and optionally x_val, y_val."""
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError, EOFError) as exc:
        raise UsageError(f"{path}: cannot read .npz ({exc}); save it with numpy.savez") from None
    for key in ("x_train", "y_train"):
        if key not in arrays:
            raise UsageError(f"{path}: missing array '{key}' (has: {', '.join(sorted(arrays)) or 'none'}); "
                             "save x_train, y_train[, x_val, y_val]")
    if ("x_val" in arrays) != ("y_val" in arrays):
        raise UsageError(f"{path}: has only one of x_val / y_val; give both or neither")
    x = _to_unit_float(_nhwc(arrays["x_train"], f"{path}: x_train"), f"{path}: x_train")
    y = _check_labels(arrays["y_train"], len(x), f"{path}: y_train", "x_train")
    x_val = y_val = None
    if "x_val" in arrays:
        x_val = _to_unit_float(_nhwc(arrays["x_val"], f"{path}: x_val"), f"{path}: x_val")
        y_val = _check_labels(arrays["y_val"], len(x_val), f"{path}: y_val", "x_val")
        if x_val.shape[1:] != x.shape[1:]:
            raise UsageError(f"{path}: x_val sample shape {x_val.shape[1:]} differs from x_train's "
                             f"{x.shape[1:]}; the arrays must match")
        if len(y_val) == 0:
            raise UsageError(f"{path}: x_val is empty; drop x_val/y_val or give samples")
    if len(x) == 0:
        raise UsageError(f"{path}: x_train is empty")
    n_classes = int(max(y.max(), y_val.max() if y_val is not None else 0)) + 1
    names = [str(i) for i in range(n_classes)]
    counts = np.bincount(y, minlength=n_classes)
    if (counts == 0).any() and len(np.unique(y)) >= 2:
        raise UsageError(f"{path}: class {int(np.flatnonzero(counts == 0)[0])} has no training samples; "
                         "labels must be 0..K-1 with every class present")
    return _finish(x, y, names, str(path), resolution, seed, val_fraction, x_val, y_val)


def load_image_folder(path: Path, resolution: int, seed: int = 0, val_fraction: float = 0.2) -> Dataset:
    """One subfolder per class; images decoded with Pillow."""
    from PIL import Image, UnidentifiedImageError

    class_dirs = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    files: list[tuple[Path, int]] = []
    for ci, d in enumerate(class_dirs):
        imgs = sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not imgs:
            raise UsageError(f"{d}: class folder has no images ({', '.join(IMAGE_SUFFIXES[:4])}, ...); "
                             "add images or remove the folder")
        files += [(p, ci) for p in imgs]
    if not class_dirs:
        loose = any(p.suffix.lower() in IMAGE_SUFFIXES for p in path.iterdir())
        hint = "images must be in one subfolder per class" if loose else "no images found"
        raise UsageError(f"{path}: {hint}; use DIR/<class name>/<image files>")
    if len(class_dirs) < 2:
        raise UsageError(f"{path}: only one class folder ('{class_dirs[0].name}'); a classifier needs at "
                         "least 2 subfolders")
    decoded, colour = [], False
    for p, _ in files:
        try:
            with Image.open(p) as im:
                im.load()
                colour = colour or im.mode not in ("1", "L", "LA", "I", "I;16", "F", "P")
                decoded.append(im.copy())
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise UsageError(f"{p}: unreadable image ({type(exc).__name__}); fix or remove the file") from None
    mode = "RGB" if colour else "L"
    arrs = [np.asarray(im.convert(mode).resize((resolution, resolution), Image.BILINEAR), dtype=np.uint8)
            for im in decoded]
    x = np.stack(arrs).astype(np.float32) / 255.0
    if x.ndim == 3:
        x = x[..., None]
    y = np.array([ci for _, ci in files], dtype=np.int64)
    return _finish(x, y, [d.name for d in class_dirs], str(path), resolution, seed, val_fraction)


def load_dataset(spec: str | Path, resolution: int, seed: int = 0, val_fraction: float = 0.2) -> Dataset:
    """`digits`, a folder of class subfolders, or an `.npz` file; see module docstring."""
    if not 0.0 < val_fraction < 1.0:
        raise UsageError(f"val_fraction {val_fraction} must be between 0 and 1")
    if str(spec) == "digits":
        return load_digits_dataset(resolution, seed, val_fraction)
    p = Path(spec)
    if not p.exists():
        raise UsageError(f"{p}: no such dataset; pass --data digits, a folder of class subfolders, or FILE.npz")
    if p.is_dir():
        return load_image_folder(p, resolution, seed, val_fraction)
    if p.suffix.lower() == ".npz":
        return load_npz_dataset(p, resolution, seed, val_fraction)
    raise UsageError(f"{p}: unsupported dataset file; pass --data digits, a folder of class subfolders, "
                     "or FILE.npz")
