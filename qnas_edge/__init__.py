"""qnas-edge: hardware-in-the-loop, quantum-inspired search for int8 networks that fit a board."""

__version__ = "0.1.0"
