"""Dataset loaders (digits, image folder, .npz), the stratified split, and every bad dataset input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from qnas_edge.errors import UsageError
from qnas_edge.pipeline.datasets import load_dataset, resize_bilinear, stratified_split

REPO = Path(__file__).resolve().parents[1]


def test_digits_resized_split_deterministic():
    a = load_dataset("digits", 12, seed=3)
    b = load_dataset("digits", 12, seed=3)
    c = load_dataset("digits", 12, seed=4)
    assert a.x_train.shape[1:] == (12, 12, 1) and a.x_train.dtype == np.float32
    assert len(a.y_train) + len(a.y_val) == 1797 and a.num_classes == 10
    assert 0.0 <= a.x_train.min() and a.x_train.max() <= 1.0 + 1e-6
    np.testing.assert_array_equal(a.y_val, b.y_val)
    np.testing.assert_array_equal(a.x_val, b.x_val)
    assert not np.array_equal(a.x_val, c.x_val)
    # stratified: every class ~20 % in validation
    counts_val = np.bincount(a.y_val, minlength=10)
    counts_all = counts_val + np.bincount(a.y_train, minlength=10)
    assert np.all(np.abs(counts_val / counts_all - 0.2) < 0.02)


def test_split_disjoint_and_resize_preserves_constant():
    y = np.repeat(np.arange(3), [5, 7, 9])
    tr, va = stratified_split(y, 0.3, 0)
    assert set(tr).isdisjoint(va) and len(tr) + len(va) == len(y)
    assert set(np.unique(y[va])) == {0, 1, 2}
    x = np.full((2, 8, 8, 1), 0.25, np.float32)
    np.testing.assert_allclose(resize_bilinear(x, 20), 0.25, atol=1e-6)
    ramp = np.tile(np.arange(8, dtype=np.float32), (8, 1))[None, ..., None]
    up = resize_bilinear(ramp, 16)[0, 0, :, 0]
    assert np.all(np.diff(up) >= 0) and up[0] == 0 and up[-1] == 7


def _write_folder(root: Path, classes=("cat", "dog"), n=4, colour=False) -> Path:
    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(n):
            shape = (10, 12, 3) if colour else (10, 12)
            Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8)).save(root / c / f"{i}.png")
    return root


def test_image_folder(tmp_path):
    root = _write_folder(tmp_path / "imgs", n=5)
    (root / "dog" / "notes.txt").write_text("ignored, not an image")
    ds = load_dataset(root, 16, seed=0)
    assert ds.class_names == ["cat", "dog"] and ds.input_shape == (16, 16, 1)
    assert len(ds.y_train) + len(ds.y_val) == 10 and set(ds.y_val) == {0, 1}
    rgb = load_dataset(_write_folder(tmp_path / "rgb", colour=True), 8)
    assert rgb.input_shape == (8, 8, 3)


def test_npz_with_and_without_val(tmp_path):
    rng = np.random.default_rng(0)
    p = tmp_path / "kws.npz"
    np.savez(p, x_train=rng.random((30, 49, 10), dtype=np.float32), y_train=np.arange(30) % 3)
    ds = load_dataset(p, 16)
    assert ds.input_shape == (16, 16, 1) and ds.num_classes == 3 and len(ds.y_val) == 6
    p2 = tmp_path / "split.npz"
    np.savez(p2, x_train=rng.integers(0, 255, (20, 8, 8, 3), dtype=np.uint8), y_train=np.arange(20) % 2,
             x_val=rng.integers(0, 255, (6, 8, 8, 3), dtype=np.uint8), y_val=np.arange(6) % 2)
    ds2 = load_dataset(p2, 8)
    assert len(ds2.y_train) == 20 and len(ds2.y_val) == 6 and ds2.x_train.max() <= 1.0


def _bad_npz(tmp_path: Path, **arrays) -> Path:
    p = tmp_path / "bad.npz"
    np.savez(p, **arrays)
    return p


@pytest.mark.parametrize("make, needle", [
    (lambda t: t / "missing_dir", "no such dataset"),
    (lambda t: (t / "empty").mkdir() or t / "empty", "no images found"),
    (lambda t: _write_folder(t / "one", classes=("only",)), "only one class"),
    (lambda t: (_write_folder(t / "e"), (t / "e" / "bird").mkdir())[0], "bird: class folder has no images"),
    (lambda t: (_write_folder(t / "u"), (t / "u" / "cat" / "broken.png").write_bytes(b"not a png"))[0],
     "broken.png: unreadable image"),
    (lambda t: (t / "loose").mkdir() or Image.new("L", (4, 4)).save(t / "loose" / "a.png") or t / "loose",
     "one subfolder per class"),
    (lambda t: _bad_npz(t, x_train=np.zeros((10, 8, 8)), y_train=np.zeros(9, int)), "9 labels but x_train has 10"),
    (lambda t: _bad_npz(t, x_train=np.zeros((10, 8, 8)), y_train=np.arange(10) % 2, x_val=np.zeros((4, 8, 8))),
     "only one of x_val / y_val"),
    (lambda t: _bad_npz(t, x_train=np.zeros((10, 8, 8)), y_train=np.arange(10) % 2,
                        x_val=np.zeros((4, 8, 9)), y_val=np.arange(4) % 2), "differs from x_train"),
    (lambda t: _bad_npz(t, x_train=np.zeros((10, 8, 8))), "missing array 'y_train'"),
    (lambda t: _bad_npz(t, x_train=np.zeros((10, 8, 8)), y_train=np.zeros(10, int)), "only one class"),
    (lambda t: _bad_npz(t, x_train=np.zeros(10), y_train=np.arange(10) % 2), "is not (N, H, W)"),
    (lambda t: _bad_npz(t, x_train=np.zeros((4, 8, 8)), y_train=np.array([0, 0, 0, 1])), "at least 2"),
    (lambda t: (t / "x.npz").write_bytes(b"garbage") and t / "x.npz", "cannot read .npz"),
    (lambda t: (t / "x.csv").write_text("1,2") and t / "x.csv", "unsupported dataset file"),
])
def test_bad_dataset_one_line(tmp_path, make, needle):
    spec = make(tmp_path)
    with pytest.raises(UsageError) as exc:
        load_dataset(spec, 16)
    assert needle in str(exc.value) and "\n" not in str(exc.value)


def test_bad_dataset_cli_exit_2_nothing_written(tmp_path, capsys):
    from qnas_edge.cli import main

    root = _write_folder(tmp_path / "imgs", classes=("solo",))
    out = tmp_path / "out"
    rc = main(["build", "--arch", str(REPO / "examples" / "arch_mcu.json"), "--board", "nano33ble",
               "--data", str(root), "--out", str(out)])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert "only one class" in err and err.count("\n") == 0
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["imgs"]  # no temp folder left behind either


def test_out_dir_not_empty_refused(tmp_path, capsys):
    from qnas_edge.cli import main

    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("user data")
    rc = main(["build", "--arch", str(REPO / "examples" / "arch_mcu.json"), "--board", "nano33ble",
               "--out", str(out), "--json"])
    cap = capsys.readouterr()
    assert rc == 2 and "not empty" in cap.err and cap.out == ""  # --json: errors on stderr only
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
