"""Where circuits run: the Aer simulator by default, or any Qiskit backend / SamplerV2 primitive."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import SamplerUnavailableError

AER_NAMES = ("aer", "aer_simulator", "simulator")
IBM_HELP = ("IBM Quantum backends need IBM's runtime client: run `pip install qiskit-ibm-runtime` and "
            "save your account once with QiskitRuntimeService.save_account(token=..., set_as_default=True)")
GENERIC_BASIS = ["rz", "sx", "x", "cx"]


@dataclass
class Executor:
    """A SamplerV2 primitive plus the pass manager that turns circuits into its instruction set."""

    primitive: Any
    pass_manager: Any
    name: str

    def isa(self, circuit: Any) -> Any:
        """Transpile ``circuit`` for this backend (parameters stay free; qubit i is still clbit i)."""
        return self.pass_manager.run(circuit)


def _pass_manager(backend: Any = None) -> Any:
    from qiskit.transpiler import generate_preset_pass_manager

    if backend is None:
        return generate_preset_pass_manager(optimization_level=1, basis_gates=GENERIC_BASIS)
    return generate_preset_pass_manager(optimization_level=1, backend=backend)


def _name(backend: Any) -> str:
    n = getattr(backend, "name", None)
    if callable(n):
        n = n()
    return str(n or type(backend).__name__)


def resolve_backend(backend: Any = None, seed: int | None = None) -> Executor:
    """``None``/``"aer"`` -> Aer SamplerV2; a backend name -> that IBM Quantum backend (needs
    qiskit-ibm-runtime and a saved account); a ``BackendV2`` -> ``BackendSamplerV2`` (IBM backends go through
    the runtime's SamplerV2); an object with ``run(pubs, shots=...)`` -> used as the SamplerV2 primitive."""
    if backend is None or (isinstance(backend, str) and backend.lower() in AER_NAMES):
        from qiskit_aer import AerSimulator
        from qiskit_aer.primitives import SamplerV2

        return Executor(SamplerV2(seed=seed), _pass_manager(AerSimulator()), "aer_simulator")
    if isinstance(backend, str):
        try:
            from qiskit_ibm_runtime import QiskitRuntimeService  # type: ignore[import-not-found]
        except ImportError:
            raise SamplerUnavailableError(f"backend {backend!r}: {IBM_HELP}") from None
        try:
            backend = QiskitRuntimeService().backend(backend)
        except Exception as exc:  # noqa: BLE001 - account/network/name problems all mean "not usable"
            raise SamplerUnavailableError(f"IBM Quantum backend {backend!r} is not reachable ({exc}): "
                                          f"{IBM_HELP}") from None
    if hasattr(backend, "target"):  # a BackendV2
        if type(backend).__module__.startswith("qiskit_ibm_runtime"):
            from qiskit_ibm_runtime import SamplerV2 as RuntimeSampler  # type: ignore[import-not-found]

            return Executor(RuntimeSampler(mode=backend), _pass_manager(backend), _name(backend))
        from qiskit.primitives import BackendSamplerV2

        options = {"seed_simulator": seed} if seed is not None else None
        return Executor(BackendSamplerV2(backend=backend, options=options), _pass_manager(backend), _name(backend))
    if callable(getattr(backend, "run", None)):  # a SamplerV2 primitive
        target = getattr(backend, "backend", None) or getattr(backend, "mode", None)
        if callable(target) and not hasattr(target, "target"):
            target = target()
        pm = _pass_manager(target) if hasattr(target, "target") else _pass_manager()
        return Executor(backend, pm, _name(target) if target is not None else type(backend).__name__)
    raise ValueError(f"backend {backend!r} is neither a Qiskit backend nor a SamplerV2 primitive")
