"""One protocol session with a DUT firmware over a serial port (a real board or the virtual board's pty).

`DutSession` speaks the protocol of PROTOCOL.md: handshake (``qx-caps``; standard MLPerf Tiny firmware
answers ``e-[Unknown command]`` and is driven with the standard commands only), checked mode
(``qx-crc 1``: every line CRC-checked, stale lines of older commands dropped by sequence number),
retries with resync, reset detection, upload, input load (``db load N`` / ``db HH..``, verified),
``infer N W`` and `profile` (latency over repeated runs -> Measurement).

It is the low level: `serial.board.SerialBoard` (the `Board` of kind "serial") owns one, adds the
checks before any link work and the reconnect-after-fault policy.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from device_profiles.profile import Profile
from firmware_bridge.errors import LinkError, ModelRefused
from firmware_bridge.measurement import Measurement
from firmware_bridge.serial import protocol as P
from firmware_bridge.serial.link import SerialLink
from firmware_bridge.serial.uploader import BoardReset, UploadReport, upload_model

RETRIES = 20
HANDSHAKE_TRIES = 16      # bounded: a port that never answers like a DUT is given up on in ~10 s


class _Garbled(Exception):
    pass


class DutSession:
    """One open connection to a DUT firmware; use as a context manager."""

    def __init__(self, port: str, profile: Profile, baud: int | None = None,
                 progress: Callable[[str], None] | None = None, retries: int = RETRIES) -> None:
        self.port = port
        self.board_profile = profile
        self.baud = int(baud or profile.link.baud or 115200)
        self.progress = progress or (lambda _msg: None)
        self.retries = retries
        self.link: SerialLink | None = None
        self.caps: P.Caps | None = None
        self.checked = False
        self.name = ""
        self.model_label = ""
        self.arena_bytes: int | None = None
        self.input_spec: P.TensorSpec | None = None
        self.output_spec: P.TensorSpec | None = None
        self.last_upload: UploadReport | None = None
        self.resets = 0
        self._seq = 0
        self._latency_guess_s = 1.0
        self._input_for: str | None = None

    # ------------------------------------------------------------------ session
    def __enter__(self) -> DutSession:
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def open(self) -> None:
        self.link = SerialLink(self.port, self.baud)
        self.link.resync()
        self.handshake()

    def close(self) -> None:
        """Leave the board in standard mode (so the MLPerf Tiny runner can use it) and close the port."""
        if self.link is not None:
            if self.checked:
                try:
                    self._exchange("qx-crc 0", self._next_seq(), timeout_s=self._timeout(100))
                except Exception:  # noqa: BLE001 - best effort on the way out
                    pass
            self.link.close()
            self.link = None

    @property
    def simulated(self) -> bool:
        return bool(self.caps and self.caps.simulated)

    def handshake(self) -> None:
        """Find out what the firmware speaks; switch on checked mode when the extension is there."""
        self.checked = False
        self.caps = None
        for _ in range(min(self.retries, HANDSHAKE_TRIES)):
            try:
                # sealed, so a board still in checked mode from an earlier session accepts it too
                seq = self._next_seq()
                lines, _complete = self._exchange("qx-caps", seq, timeout_s=self._timeout(200))
            except (_Garbled, P.ProtocolError, BoardReset):
                self.link.resync(max_s=0.5)
                continue
            sent = P.encode_command("qx-caps", seq)[:-1].decode()
            if f"e-[Unknown command: {sent}]" in lines:
                break                                       # standard firmware echoed exactly our command
            try:
                self.caps = P.parse_caps(lines)
                break
            except P.ProtocolError:
                self.link.resync(max_s=0.5)
        else:
            raise LinkError(f"no valid answer from {self.port} to the handshake after {HANDSHAKE_TRIES} tries: "
                            f"is this a DUT firmware at {self.baud} baud? check --port and the board's firmware")
        if self.caps is not None:
            if self.caps.version != P.EXT_VERSION:
                self.progress(f"board speaks extension v{self.caps.version}, host v{P.EXT_VERSION}; "
                              f"using the standard commands only")
                self.caps = None
            else:
                self.checked = True
                lines = self.command_lines("qx-crc 1")[0]
                if not any(line == "m-qx-crc-[1]" for line in lines):
                    raise LinkError(f"{self.port}: the board did not enable checked mode")
        self.name = self.command("name", P.parse_name)
        self.model_label = self.command("profile", P.parse_profile)[1]

    def recover(self) -> None:
        """After a reset or a lost connection state: resync and handshake again."""
        self.resets += 1
        self.link.drain(quiet_s=0.1, max_s=2.0)
        self.link.resync()
        self.handshake()

    # ------------------------------------------------------------------ commands
    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) % P.SEQ_UNKNOWN
        return self._seq

    def _timeout(self, reply_bytes: int) -> float:
        return 0.15 + 3.0 * reply_bytes * self.link.byte_time_s

    def _exchange(self, text: str, seq: int | None, timeout_s: float,
                  first_s: float | None = None, quiet_s: float = 0.0) -> tuple[list[str], bool]:
        """Send one command; its reply lines (check suffixes removed) and whether the reply was complete.

        In checked mode a corrupted line is dropped (every kept line is verified and carries this
        command's sequence number); the reply then counts as incomplete and ends at m-ready or after
        a quiet gap (`quiet_s` more for replies with silent stretches, e.g. while the board infers).
        Raises _Garbled when nothing usable arrived before the deadline, or when
        not even a first line arrived within `first_s` (a lost command is retried at once instead of
        waiting out a long inference timeout).
        """
        link = self.link
        link.write(P.encode_command(text, seq))
        lines: list[str] = []
        garbled = False
        start = time.monotonic()
        deadline = start + timeout_s
        idle = 0.1 + 64 * link.byte_time_s + quiet_s
        got_any = False
        while True:
            left = deadline - time.monotonic()
            if first_s is not None and not got_any:
                left = min(left, start + first_s - time.monotonic())
            if left <= 0:
                if garbled:
                    return lines, False
                raise _Garbled(f"no m-ready within {timeout_s:.1f} s")
            line = link.read_line(min(left, idle) if garbled else left)
            got_any = got_any or line is not None
            if line is None:
                if garbled:
                    return lines, False
                raise _Garbled(f"no m-ready within {timeout_s:.1f} s")
            if P.INIT_DONE in line and not P.is_sealed(line):
                raise BoardReset(f"{self.port}: board reset (m-init-done)")
            if P.is_sealed(line) or self.checked:
                try:
                    body, s = P.unseal(line)
                except P.ProtocolError:
                    garbled = True
                    continue
                if self.checked and s != seq:
                    if s == P.SEQ_UNKNOWN and body.startswith("e-[command check"):
                        raise _Garbled("board could not verify the command")
                    continue                                # stale line of an older command
                line = body
            if line == "e-[Unknown command: ]":
                continue                                    # the board's answer to our own resync '%'
            if (line == P.READY) if self.checked else (P.READY in line):
                return lines, not garbled
            if line:
                lines.append(line)

    def _before_retry(self) -> None:
        """Checked mode: a lone '%' ends any half-received command (stale lines are filtered by
        sequence number, so nothing needs draining). Standard mode: full resync."""
        if self.checked:
            self.link.write(P.TERMINATOR)
        else:
            self.link.resync()

    def command_lines(self, text: str, timeout_s: float | None = None) -> tuple[list[str], int]:
        """Complete reply lines of `text` (retried until complete); also the sequence number used."""
        timeout_s = timeout_s if timeout_s is not None else self._timeout(400)
        last = "no attempt"
        for _ in range(self.retries):
            seq = self._next_seq() if self.checked else None
            try:
                lines, complete = self._exchange(text, seq, timeout_s)
                if complete:
                    return lines, (seq if seq is not None else P.SEQ_UNKNOWN)
                last = "corrupted reply line"
            except _Garbled as exc:
                last = str(exc)
            except BoardReset:
                last = "board reset"
                self.recover()
                continue
            self._before_retry()
        raise LinkError(f"{self.port}: no valid reply to '{text}' after {self.retries} attempts ({last}): "
                        f"check the cable, the baud rate ({self.baud}) and that the firmware is running")

    def command(self, text: str, parse: Callable[[list[str]], object], timeout_s: float | None = None,
                first_s: float | None = None, quiet_s: float = 0.0):
        """Run `text` and parse its reply; malformed or incomplete replies are retried.

        A reply whose m-ready was lost still counts when every line it needs arrived verified
        (checked mode), so a noisy link costs fewer retries without ever accepting an unverified line.
        """
        timeout_s = timeout_s if timeout_s is not None else self._timeout(400)
        last: Exception | str = "no attempt"
        for _ in range(self.retries):
            seq = self._next_seq() if self.checked else None
            try:
                lines, complete = self._exchange(text, seq, timeout_s, first_s, quiet_s)
            except _Garbled as exc:
                last = str(exc)
                self._before_retry()
                continue
            except BoardReset:
                last = "board reset"
                self.recover()
                continue
            try:
                return parse(lines)
            except P.BoardError as exc:
                if self.checked:
                    raise                                   # the board verified and refused it
                last = exc
            except P.ProtocolError as exc:
                last = exc
            self._before_retry()
        if isinstance(last, P.BoardError):
            raise last
        raise LinkError(f"{self.port}: no valid reply to '{text}' after {self.retries} attempts ({last}): "
                        f"check the cable, the baud rate ({self.baud}) and that the firmware is running")

    # ------------------------------------------------------------------ operations
    def timestamp(self) -> int:
        return self.command("timestamp", P.parse_timestamp)

    def results(self) -> list[float]:
        return self.command("results", P.parse_results)

    def memory(self) -> P.MemReport | None:
        return self.command("qx-mem", P.parse_mem) if self.caps else None

    def tensors(self) -> tuple[list[P.TensorSpec], list[P.TensorSpec]] | None:
        if not self.caps:
            return None
        ins, outs = self.command("qx-tensors", P.parse_tensors)
        self.input_spec, self.output_spec = ins[0], outs[0]
        return ins, outs

    def upload(self, model: bytes) -> UploadReport:
        """Push `model` and activate it (``qx-load``); ModelRefused when the board refuses it."""
        if not (self.caps and self.caps.upload):
            raise LinkError(f"the firmware on {self.port} cannot receive models: flash the model with your "
                            f"toolchain (see firmware_bridge/firmware/README.md)")
        try:
            report = upload_model(self, model, progress=self.progress)
        except P.BoardError as exc:
            raise ModelRefused(f"{self.board_profile.id} refused the model: "
                               f"{str(exc).removeprefix('board refused: ')}") from None
        try:
            arena, _size = self.command("qx-load", P.parse_model, timeout_s=120.0)
        except P.BoardError as exc:
            raise ModelRefused(f"{self.board_profile.id} refused the model: {str(exc).removeprefix('board refused: ')}") from None
        self.arena_bytes = arena
        self.last_upload = report
        self.model_label = self.command("profile", P.parse_profile)[1]
        self.tensors()
        return report

    def load_input(self, data: bytes) -> None:
        """Fill the board's input buffer (``db load N`` + ``db HH..``) and verify it byte for byte."""
        for _ in range(4):
            n = self.command(P.db_load(len(data)), P.parse_load_ack)
            if n != len(data):
                continue
            if self.checked:        # idempotent offset writes: a retried chunk cannot double-apply
                for off in range(0, len(data), P.QX_DB_CHUNK_BYTES):
                    self.command_lines(P.qx_db(off, data[off:off + P.QX_DB_CHUNK_BYTES]), self._timeout(120))
            else:
                for chunk in P.db_chunks(data):
                    self.command_lines(chunk, self._timeout(120))
            if self._input_matches(data):
                self._input_for = self.model_label
                return
            self.progress("input buffer verification failed; loading it again")
        raise LinkError(f"{self.port}: could not load a verified input of {len(data)} B after 4 tries")

    def _input_matches(self, data: bytes) -> bool:
        if self.caps:
            n, crc = self.command("qx-db-crc", P.parse_db_crc)
            return n == len(data) and crc == P.crc32(data)
        got = self.command("db print", lambda lines: P.parse_db_print(lines, len(data)),
                           timeout_s=self._timeout(5 * len(data) + 200))
        return got == data

    def infer(self, n: int, warmups: int) -> P.InferReply:
        est = (n + warmups) * self._latency_guess_s
        timeout = 2.0 + 3.0 * est + self._timeout(400)
        strict = not self.checked
        # m-warmup-start comes before any inference; the board is silent while it infers, so a reply
        # with a corrupted line must not be cut short by a quiet gap shorter than the inferences
        reply = self.command(P.infer(n, warmups), lambda lines: P.parse_infer(lines, n, warmups, strict), timeout,
                             first_s=self._timeout(120), quiet_s=1.5 * min(est, timeout))
        self._latency_guess_s = max(reply.per_inference_ms / 1000.0, 1e-4)
        return reply

    def profile(self, runs: int = 10, input_data: bytes | None = None, warmups: int = 1) -> Measurement:
        """Latency over `runs` repeated ``infer N W`` commands (N chosen so a run lasts ~0.1 s).

        Without `input_data` the deterministic `default_input` is loaded when the board's input buffer
        does not hold one for the active model yet (the model's input size comes from ``qx-tensors``).
        """
        if runs < 1:
            raise ValueError("runs must be >= 1")
        if input_data is None and self._input_for != self.model_label:
            if self.input_spec is None:
                raise ValueError("pass input_data: this firmware does not report its input tensor size")
            input_data = default_input(self.input_spec.nbytes)
        if input_data is not None:
            self.load_input(input_data)
        n, samples, outputs = self._timed_runs(runs, warmups)
        extra = {"device_name": self.name, "model_on_board": self.model_label, "iterations_per_run": n,
                 "warmups": warmups, "baud": self.baud, "checked_link": self.checked,
                 "outputs_consistent": all(o == outputs[0] for o in outputs), "resets": self.resets}
        if self.last_upload is not None:
            extra["upload"] = self.last_upload.to_dict()
        mem = self.memory()
        uploaded = self.last_upload.bytes if self.last_upload is not None else None
        return Measurement.from_latencies(
            samples, board_id=self.board_profile.id, source="simulated" if self.simulated else "measured",
            runs=runs, runtime=self.board_profile.runtime,
            arena_bytes=(mem.arena_bytes if mem else self.arena_bytes),
            flash_bytes=(mem.model_bytes if mem and mem.model_bytes else uploaded),
            ram_free_bytes=mem.ram_free_bytes if mem else None,
            flash_free_bytes=mem.flash_free_bytes if mem else None,
            output=outputs[-1], link=f"{'virtual' if self.simulated else 'serial'}:{self.port}",
            extra=extra).with_estimated_energy(self.board_profile.power.active_mw)

    def _timed_runs(self, runs: int, warmups: int) -> tuple[int, list[float], list[list[float]]]:
        """(inferences per run, ms per inference of each run, outputs seen; the last one verified)."""
        self._latency_guess_s = 30.0
        first = self.infer(1, 0)
        per = max(first.per_inference_ms / 1000.0, 1e-5)
        n = max(1, min(50, math.ceil(0.1 / per)))
        samples, outputs = [], []
        for _ in range(runs):
            r = self.infer(n, warmups)
            samples.append(r.per_inference_ms)
            if r.results:
                outputs.append(r.results)
        outputs.append(self.results())          # the output of the last inference, verified
        return n, samples, outputs


def default_input(nbytes: int, seed: int = 0) -> bytes:
    """Deterministic pseudo-random input bytes (the same every run, so outputs can be compared)."""
    import random

    return random.Random(seed).randbytes(nbytes)
