"""The virtual board's protocol engine: the DUT state machine of `firmware/core/dut_protocol.c` in Python.

Bytes in (`feed`), bytes out (the `send` callback): the standard EEMBC / MLPerf Tiny commands plus the
qx- extension (checked lines, tensor and memory reports, resumable binary upload; see PROTOCOL.md).
It knows nothing of ptys or timing of the wire (`wire.py`) and runs models through `runner.ModelRunner`;
`infer` waits out the simulated latency and advances the virtual clock behind ``m-lap-us`` by it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from device_profiles.profile import Profile
from firmware_bridge.errors import ModelRefused
from firmware_bridge.serial import protocol as P
from firmware_bridge.serial.frames import BadFrame, Frame, FrameDecoder, Text
from firmware_bridge.virtual.runner import ModelRunner

FW_PROFILE = "qnas-edge-dut-1"
MAX_DB_INPUT = 65536
FRAME_PAYLOAD = 1024
FRAME_IDLE_S = 0.05          # a partial frame with no new byte for this long is dropped (+ nak)


class DutEngine:
    """Protocol state machine of the board (mirrors firmware/dut_protocol.c); bytes in, bytes out."""

    def __init__(self, profile: Profile, send: Callable[[bytes], None], seed: int = 0, standard_only: bool = False,
                 sleep: Callable[[float], None] = time.sleep, baud: int = 115200) -> None:
        self.profile = profile
        self.send = send
        self.seed = seed
        self.standard_only = standard_only
        self.sleep = sleep
        self.model: ModelRunner | None = None
        self.boot = time.monotonic()
        self.skew_us = 0
        self.reset(announce=False)

    # ------------------------------------------------------------------ state
    def reset(self, announce: bool = True) -> None:
        """Power-on state: RAM contents (input buffer, upload staging, checked mode) are lost."""
        self.cmd = bytearray()
        self.checked = False
        self.seal_reply = False
        self.seq = P.SEQ_UNKNOWN
        self.db = bytearray()
        self.db_size = 0
        self.last_results: list[float] | None = None
        self.uploading = False
        self.decoder = FrameDecoder()
        self.stage = bytearray()
        self.stage_len = 0
        self.stage_crc = 0
        self.nak_for: tuple[int, int] | None = None
        self.last_round = 0
        self.upload_seq = P.SEQ_UNKNOWN
        self.last_rx = time.monotonic()
        if announce:
            self.send(b"m-init-done\r\nm-ready\r\n")

    def now_us(self) -> int:
        return int((time.monotonic() - self.boot) * 1e6) + self.skew_us

    # ------------------------------------------------------------------ output
    def line(self, text: str, ext: bool = False, seq: int | None = None) -> None:
        if ext or self.checked or self.seal_reply:
            text = P.seal(text, self.seq if seq is None else seq)
        self.send(text.encode("latin-1") + b"\r\n")

    def ready(self) -> None:
        self.line(P.READY)

    # ------------------------------------------------------------------ input
    def feed(self, data: bytes) -> None:
        self.last_rx = time.monotonic()
        if not self.uploading:
            self._text(data)
            return
        events = self.decoder.feed(data)
        for i, ev in enumerate(events):
            if isinstance(ev, Text):
                self._text(ev.data)
            elif isinstance(ev, Frame):
                self._frame(ev)
            elif isinstance(ev, BadFrame):
                self._nak()
            if not self.uploading:      # upload finished or a command ended it: the rest is text
                for later in events[i + 1:]:
                    if isinstance(later, Text):
                        self._text(later.data)
                rest = bytes(self.decoder._buf)
                self.decoder = FrameDecoder()
                self._text(rest)
                return

    def tick(self) -> None:
        """Called when idle: drop a partial frame that stopped arriving."""
        if self.uploading and self.decoder.pending and time.monotonic() - self.last_rx > FRAME_IDLE_S:
            if self.decoder.reset():
                self._nak(force=True)

    def _text(self, data: bytes) -> None:
        for b in data:
            if b == 0x25:  # '%'
                raw = self.cmd.decode("latin-1")
                self.cmd.clear()
                self.dispatch(raw)
            elif 0x20 <= b < 0x7F:
                if len(self.cmd) < P.CMD_MAX + 16:
                    self.cmd.append(b)
            elif b in (0x0A, 0x0D):
                continue
            else:
                self.cmd.clear()        # binary garbage never forms a command

    # ------------------------------------------------------------------ commands
    def dispatch(self, raw: str) -> None:
        text, seq = raw, None
        if self.standard_only:
            pass                        # plain MLPerf Tiny firmware knows nothing of check suffixes
        elif P.is_sealed(raw):
            try:
                text, seq = P.unseal(raw)
            except P.ProtocolError:
                text = None
        elif self.checked:
            text = None
        if text is None:
            if self.uploading or (self.checked and not raw):
                return                  # noise between frames / a lone '%' resync: never answered
            if not raw.strip() and not self.checked:
                self.seq = P.SEQ_UNKNOWN
                self.line("e-[Unknown command: ]")
                self.ready()
                return
            self.seal_reply = False
            self.line("e-[command check failed]", ext=True, seq=P.SEQ_UNKNOWN)
            self.line(P.READY, ext=True, seq=P.SEQ_UNKNOWN)
            return
        self.seq = seq if seq is not None else P.SEQ_UNKNOWN
        self.seal_reply = seq is not None       # a sealed command always gets a sealed reply
        self.uploading = False
        self.ready_sent = False
        toks = text.split()
        cmd = toks[0] if toks else ""
        handler = getattr(self, "cmd_" + cmd.replace("-", "_"), None)
        if cmd.startswith("qx-") and self.standard_only:
            handler = None
        if handler is None:
            self.line(f"e-[Unknown command: {cmd}]")
        else:
            try:
                handler(toks[1:])
            except ModelRefused as exc:
                self.line(f"e-[{str(exc).replace(']', ')')}]")
        if not self.ready_sent:
            self.ready()

    def cmd_name(self, args: list[str]) -> None:
        self.line(f"m-name-dut-[qnas-edge virtual {self.profile.id} (simulated)]")

    def cmd_timestamp(self, args: list[str]) -> None:
        self.line(f"m-lap-us-{self.now_us()}")

    def cmd_profile(self, args: list[str]) -> None:
        self.line(f"m-profile-[{FW_PROFILE}]")
        label = f"crc32-{self.model.crc:08x}" if self.model else "none"
        self.line(f"m-model-[{label}]")

    def cmd_help(self, args: list[str]) -> None:
        for h in (f"{FW_PROFILE} (simulated)", "", "help         : Print this information",
                  "name         : Print the name of the device", "timestsamp   : Generate a timetsamp",
                  "db SUBCMD    : Manipulate a generic byte buffer",
                  "  load N     : Allocate N bytes and set load counter",
                  "  db HH[HH]* : Load 8-bit hex byte(s) until N bytes",
                  "  print [N=16] [offset=0]", "             : Print N bytes at offset as hex",
                  "infer N [W=0]: Load input, execute N inferences after W warmup loops",
                  "results      : Return the result fp32 vector",
                  "qx-caps      : Extension capabilities (see PROTOCOL.md)"):
            self.line(h)

    def cmd_db(self, args: list[str]) -> None:
        if not args:
            self.line("e-[Command 'db' requires a subcommand]")
        elif args[0] == "load":
            if len(args) < 2:
                self.line("e-[Command 'db load' requires the # of bytes]")
                return
            n = _atoi(args[1])
            if n <= 0:
                self.line("e-[Command 'db load' must be >0 bytes]")
            elif n > MAX_DB_INPUT:
                self.line(f"e-[Supplied buffer size {n} exceeds maximum of {MAX_DB_INPUT}]")
            else:
                self.db_size, self.db = n, bytearray()
                self.line(f"m-[Expecting {n} bytes]")
        elif args[0] == "print":
            data = bytes(self.db)
            for i in range(0, len(data), 8):
                self.line("m-buffer-" + "-".join(f"{b:02x}" for b in data[i:i + 8]))
        else:
            hexs = args[0]
            if len(hexs) % 2:
                self.line("e-[Insufficent number of hex digits]")
                return
            for i in range(0, len(hexs), 2):
                pair = hexs[i:i + 2]
                if any(c not in "0123456789abcdefABCDEF" for c in pair):
                    self.line(f"e-[Invalid hex digit '{pair}']")
                    return
                if len(self.db) >= self.db_size:
                    self.line("e-[Buffer is full: send db load N first]")
                    return
                self.db.append(int(pair, 16))
                if len(self.db) == self.db_size:
                    self.line("m-load-done")
                    return

    def cmd_infer(self, args: list[str]) -> None:
        n, w = 1, 10
        if args:
            n = _atoi(args[0])
            if n <= 0:
                self.line("e-[Inference iterations must be >0]")
                return
            if len(args) > 1:
                w = _atoi(args[1])
                if w < 0:
                    self.line("e-[Inference warmup must be >=0]")
                    return
        if self.model is None:
            self.line("e-[No model loaded: upload one (qx-upload) or flash the firmware with a model]")
            return
        need = self.model.input.nbytes
        if len(self.db) != need:
            self.line(f"e-[Input db has {len(self.db)} bytes, model expects {need}]")
            return
        self.line(f"m-warmup-start-{w}")
        self._run(w)
        self.line("m-warmup-done")
        self.line(f"m-infer-start-{n}")
        t0 = self.now_us()
        self.line(f"m-lap-us-{t0}")
        sim_us = self._run(n)
        t1 = t0 + sim_us
        self.skew_us += max(0, t1 - self.now_us())
        self.line(f"m-lap-us-{t1}")
        self.line("m-infer-done")
        self.cmd_results([])

    def _run(self, count: int) -> int:
        """Invoke the real kernels `count` times; wait out (and return) the simulated time in us."""
        start = time.monotonic()
        sim_us = 0
        data = bytes(self.db)
        for _ in range(count):
            self.model.set_input(data)      # TFLM reuses the input tensor's memory during Invoke
            self.model.invoke()
            sim_us += int(round(self.model.twin.sample_ms() * 1000))
        self.last_results = self.model.results()
        left = sim_us / 1e6 - (time.monotonic() - start)
        if left > 0:
            self.sleep(left)
        return sim_us

    def cmd_results(self, args: list[str]) -> None:
        if self.last_results is None:
            self.line("e-[No results: run infer first]")
            return
        self.line("m-results-[" + ",".join(f"{v:0.3f}" for v in self.last_results) + "]")

    # ------------------------------------------------------------------ extension
    def cmd_qx_caps(self, args: list[str]) -> None:
        p = self.profile
        self.line(f"m-qx-caps-[v={P.EXT_VERSION},upload=1,frame={FRAME_PAYLOAD},"
                  f"flash={p.flash_available_bytes},ram={p.ram_available_bytes},sim=1]", ext=True)

    def cmd_qx_crc(self, args: list[str]) -> None:
        self.checked = bool(args) and args[0] == "1"
        self.line(f"m-qx-crc-[{int(self.checked)}]", ext=True)

    def cmd_qx_mem(self, args: list[str]) -> None:
        p, m = self.profile, self.model
        arena = m.arena_bytes if m else 0
        model = len(m.model) if m else 0
        self.line(f"m-qx-mem-[arena={arena},ram_free={p.ram_available_bytes - arena},"
                  f"flash_free={p.flash_available_bytes - model},model={model}]", ext=True)

    def cmd_qx_tensors(self, args: list[str]) -> None:
        if self.model is None:
            self.line("e-[No model loaded]", ext=True)
            return
        for kind, ts in (("input", self.model.info.inputs), ("output", self.model.info.outputs)):
            for i, t in enumerate(ts):
                shape = "x".join(str(max(1, int(d))) for d in t.shape)
                self.line(f"m-qx-{kind}-[{i},{t.dtype},{shape},{t.scale or 0.0:.9g},{t.zero_point or 0}]",
                          ext=True)

    def cmd_qx_db(self, args: list[str]) -> None:
        if len(args) != 2 or not args[0].isdigit() or len(args[1]) % 2 or \
                any(c not in "0123456789abcdefABCDEF" for c in args[1]):
            self.line("e-[usage: qx-db OFFSET HH..]", ext=True)
            return
        off, data = int(args[0]), bytes.fromhex(args[1])
        if off > len(self.db) or off + len(data) > self.db_size:
            self.line(f"e-[qx-db write {off}+{len(data)} outside buffer {len(self.db)}/{self.db_size}]", ext=True)
            return
        self.db[off:off + len(data)] = data
        if len(self.db) == self.db_size and off + len(data) == self.db_size:
            self.line("m-load-done")

    def cmd_qx_db_crc(self, args: list[str]) -> None:
        self.line(f"m-qx-db-[len={len(self.db)},crc={P.crc32(bytes(self.db)):08x}]", ext=True)

    def cmd_qx_upload(self, args: list[str]) -> None:
        if len(args) != 2 or not args[0].isdigit() or len(args[1]) != 8:
            self.line("e-[usage: qx-upload LEN CRC32HEX]", ext=True)
            return
        length, crc = int(args[0]), int(args[1], 16)
        free = self.profile.flash_available_bytes
        if length <= 0 or length > free:
            self.line(f"e-[model is {length} B but only {free} B of flash are free]", ext=True)
            return
        if (length, crc) != (self.stage_len, self.stage_crc):
            self.stage, self.stage_len, self.stage_crc = bytearray(), length, crc
        self.nak_for = None
        self.upload_seq = self.seq
        self.decoder = FrameDecoder()
        self.line(f"m-qx-upload-[offset={len(self.stage)},frame={FRAME_PAYLOAD}]", ext=True)
        if len(self.stage) == self.stage_len:        # already complete (host lost the done line)
            self.line(f"m-qx-upload-done-[len={self.stage_len},crc={P.crc32(bytes(self.stage)):08x}]", ext=True)
            return
        self.uploading = True
        self.line(P.READY, ext=True)
        self.ready_sent = True

    def _frame(self, fr: Frame) -> None:
        self.last_round = fr.round
        expected = len(self.stage)
        if fr.offset == expected and fr.payload and expected + len(fr.payload) <= self.stage_len:
            self.stage.extend(fr.payload)
            self.line(f"m-qx-ack-[{len(self.stage)}]", ext=True, seq=self.upload_seq)
            if len(self.stage) == self.stage_len:
                self.uploading = False
                got = P.crc32(bytes(self.stage))
                if got != self.stage_crc:
                    self.stage = bytearray()
                    self.line(f"e-[upload crc {got:08x} != {self.stage_crc:08x}, restart]", ext=True, seq=self.upload_seq)
                else:
                    self.line(f"m-qx-upload-done-[len={self.stage_len},crc={got:08x}]", ext=True, seq=self.upload_seq)
                self.line(P.READY, ext=True, seq=self.upload_seq)
        elif fr.offset < expected:
            self.line(f"m-qx-ack-[{expected}]", ext=True, seq=self.upload_seq)
        else:
            self._nak()

    def _nak(self, force: bool = False) -> None:
        """One nak per (expected offset, host round): the host re-sends at most once per nak."""
        key = (len(self.stage), self.last_round)
        if force or self.nak_for != key:
            self.nak_for = key
            self.line(f"m-qx-nak-[{key[0]},{key[1]}]", ext=True, seq=self.upload_seq)

    def cmd_qx_load(self, args: list[str]) -> None:
        if self.stage_len == 0 or len(self.stage) != self.stage_len:
            self.line("e-[no complete upload to load]", ext=True)
            return
        model = bytes(self.stage)
        if self.model is None or self.model.model != model:
            try:
                self.model = ModelRunner(model, self.profile, seed=self.seed)
            except ModelRefused as exc:
                self.line(f"e-[{str(exc).replace(']', ')')}]", ext=True)
                return
        self.last_results = None
        self.line(f"m-qx-model-[arena={self.model.arena_bytes},model={len(model)}]", ext=True)


def _atoi(s: str) -> int:
    """C atoi: leading digits (with sign), 0 when none."""
    i, sign = 0, 1
    if s[:1] in "+-" and s:
        sign, i = (-1 if s[0] == "-" else 1), 1
    j = i
    while j < len(s) and s[j].isdigit():
        j += 1
    return sign * int(s[i:j]) if j > i else 0
