"""Proxy training of a candidate: few epochs, cosine learning-rate decay, early stopping, time limit.

Deterministic by seed (Python/NumPy/TF seeds + TF op determinism, fixed shuffling) and using every
core the settings allow (TF intra-op threads). `progress(epoch, epochs, logs)` is called after every
epoch so the CLI can draw a progress bar.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

ProgressFn = Callable[[str, dict], None]


@dataclass(frozen=True)
class TrainSettings:
    """Proxy-training knobs. Learning rate is Adam's peak; it decays by cosine to 0 over all epochs."""

    epochs: int = 3
    batch_size: int = 32
    learning_rate: float = 0.01
    lr_schedule: str = "cosine"          # cosine | constant
    early_stopping_patience: int = 3     # epochs without val-accuracy gain; 0 disables
    time_limit_s: float | None = None    # per candidate; stops after the epoch that crosses it
    threads: int = field(default_factory=lambda: os.cpu_count() or 1)  # TF intra-op threads


@dataclass
class TrainResult:
    epochs_run: int
    stopped: str                         # "completed" | "early_stopping" | "time_limit"
    float_val_accuracy: float
    history: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0


def configure_tensorflow(threads: int) -> None:
    """Thread pools must be set before TF's runtime starts; later calls are ignored (already set)."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(min(2, threads))
    except RuntimeError:
        pass
    try:
        tf.config.experimental.enable_op_determinism()
    except Exception:  # older TF builds without the switch: seeds alone still fix the CPU result
        pass


def seed_everything(seed: int) -> None:
    import tf_keras as keras

    keras.utils.set_random_seed(seed)


def train(model, x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
          settings: TrainSettings, seed: int, progress: ProgressFn | None = None) -> TrainResult:
    """Fit `model` (logits output) in place; returns what happened and the float val accuracy."""
    import tensorflow as tf
    import tf_keras as keras

    configure_tensorflow(settings.threads)
    steps = max(1, -(-len(x_train) // settings.batch_size)) * settings.epochs
    if settings.lr_schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(settings.learning_rate, decay_steps=steps)
    else:
        lr = settings.learning_rate
    # The legacy Adam applies each variable's update as one fused op; the newer optimizer builds its
    # update from a dozen ops per variable, which costs ~2 s of graph tracing per candidate here.
    model.compile(optimizer=keras.optimizers.legacy.Adam(lr),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    start = time.perf_counter()
    stopped = {"why": "completed"}

    class _Hooks(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs = dict(logs or {})
            if progress:
                progress("epoch", {"epoch": epoch + 1, "epochs": settings.epochs,
                                   **{k: float(v) for k, v in logs.items()}})
            if settings.time_limit_s and time.perf_counter() - start > settings.time_limit_s:
                stopped["why"] = "time_limit"
                self.model.stop_training = True

    callbacks = [_Hooks()]
    early = None
    if settings.early_stopping_patience > 0:
        early = keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=settings.early_stopping_patience,
                                              restore_best_weights=True)
        callbacks.append(early)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x_train))  # fixed pre-shuffle; Keras shuffles per epoch from the TF seed
    with tf.device("/CPU:0"):
        hist = model.fit(x_train[order], y_train[order], validation_data=(x_val, y_val),
                         epochs=settings.epochs, batch_size=settings.batch_size, shuffle=True,
                         callbacks=callbacks, verbose=0)
    if early is not None and early.stopped_epoch > 0 and stopped["why"] == "completed":
        stopped["why"] = "early_stopping"
    history = {k: [float(v) for v in vals] for k, vals in hist.history.items()}
    val_acc = float(max(history.get("val_accuracy", [0.0]))) if early else float(
        history.get("val_accuracy", [0.0])[-1])
    return TrainResult(len(history.get("loss", [])), stopped["why"], val_acc, history,
                       time.perf_counter() - start)
