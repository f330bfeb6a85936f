"""Drive the search engine from Python with your own evaluation (no TensorFlow needed).

The engine proposes architectures that meet every budget under your cost tables; you evaluate them
however you like (train on your cluster, measure on your rig) and tell it the score (higher = better).
Run: python examples/ask_tell_api.py
"""

from __future__ import annotations

import itertools

from search import Decision, QuboSearch, RandomSearch, Space

BLOCKS = [f"k{k}e{e}{se}" for k, e, se in itertools.product((3, 5, 7), (1, 4, 6), ("", "se"))]
SLOTS = [f"b{i}" for i in range(6)]


def latency_ms(block: str) -> float:
    """Your cost table: here a toy (kernel area x expansion), in the real tool the board's cost model."""
    k, e = int(block[1]), int(block[3])
    return 0.05 * k ** 2 * e * (1.2 if block.endswith("se") else 1.0)


def my_accuracy(arch: dict[str, str]) -> float:
    """Your evaluation: here a made-up function that likes large kernels early and SE late."""
    score = 0.6
    for i, name in enumerate(SLOTS):
        b = arch[name]
        score += 0.01 * int(b[1]) * (1 if i < 3 else 0.3) + (0.02 if b.endswith("se") and i >= 3 else 0)
    return min(score, 0.99)


def main() -> None:
    space = Space([Decision(name, BLOCKS) for name in SLOTS])
    costs = {"latency_ms": {(name, b): latency_ms(b) for name in SLOTS for b in BLOCKS}}
    budgets = {"latency_ms": 12.0}
    for strategy in (QuboSearch, RandomSearch):
        engine = strategy(space, costs=costs, budgets=budgets, seed=0)
        for _ in range(10):
            for arch in engine.ask(2):
                engine.tell(arch, my_accuracy(arch))
        best = engine.best
        print(f"{strategy.__name__:12s} best score {best.score:.3f} "
              f"latency {engine.costs(best.arch)['latency_ms']:.2f} ms (budget 12): {best.arch}")


if __name__ == "__main__":
    main()
