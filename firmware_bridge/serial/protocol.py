"""The EEMBC / MLPerf Tiny DUT command set (byte-compatible with the mlcommons/tiny runner) + our extension.

Standard part, exactly as the MLPerf Tiny runner (`benchmark/runner`) and the reference firmware
(`api/internally_implemented.cpp`) speak it:

* a command is ASCII text terminated by ``%`` (no newline), at most 80 characters;
* the board answers with lines ending ``\\r\\n`` (the host drops ``\\r`` and ``\\0``) and always ends a
  reply with ``m-ready``; ``e-[...]`` lines are errors;
* ``name`` -> ``m-name-dut-[VENDOR]``; ``profile`` -> ``m-profile-[FW]`` + ``m-model-[MODEL]``;
  ``timestamp`` -> ``m-lap-us-N``; ``db load N`` -> ``m-[Expecting N bytes]``; ``db HH..`` (the runner
  sends 31 bytes = 62 hex digits per command) -> ``m-load-done`` once N bytes arrived; ``db print`` ->
  ``m-buffer-hh-hh-..`` lines of 8 bytes; ``infer N W`` -> ``m-warmup-start-W``, ``m-warmup-done``,
  ``m-infer-start-N``, ``m-lap-us-T0``, ``m-lap-us-T1``, ``m-infer-done``, ``m-results-[v,..]``;
  ``results`` -> ``m-results-[..]``.

Extension (version `EXT_VERSION`, all commands start with ``qx-`` so standard firmware answers
``e-[Unknown command: qx-...]`` and the host falls back to the standard set):

* every extension reply line carries a check suffix ``~SS:CCCCCCCC`` -- SS the command's sequence
  number (2 hex digits, ``ff`` = unknown), CCCCCCCC the CRC-32 (zlib/IEEE) of the line text up to and
  including ``~SS``. A command may carry the same suffix (``name~07:1a2b3c4d%``); a sealed command
  always gets a sealed reply. ``qx-crc 1`` switches the check on for *every* reply line and requires it
  on every command (so the host can verify everything and drop stale lines of an older command); a reset
  board boots with it off, which is how a reset is noticed besides ``m-init-done``.
* ``qx-caps`` -> ``m-qx-caps-[v=1,upload=1,frame=N,flash=B,ram=B,sim=0|1]``
* ``qx-mem`` -> ``m-qx-mem-[arena=B,ram_free=B,flash_free=B,model=B]``
* ``qx-tensors`` -> ``m-qx-input-[i,dtype,AxBxC,scale,zero_point]`` / ``m-qx-output-[...]``
* ``qx-db OFFSET HH..`` -> (``m-load-done``) writes input bytes at OFFSET after ``db load N``; unlike
  ``db HH..`` it is idempotent, so the host can retry a chunk whose reply was lost
* ``qx-db-crc`` -> ``m-qx-db-[len=N,crc=CCCCCCCC]`` (verifies a ``db`` load)
* ``qx-upload LEN CRC`` -> ``m-qx-upload-[offset=K,frame=N]``: binary frames (see `frames`) follow from
  offset K (K > 0 resumes an interrupted upload of the same LEN/CRC); the board answers frames with
  ``m-qx-ack-[next]`` / ``m-qx-nak-[expected,round]`` and finally ``m-qx-upload-done-[len=N,crc=C]`` + ``m-ready``.
* ``qx-load`` -> ``m-qx-model-[arena=B,model=B]`` (activate the uploaded model) or ``e-[why]``.

Everything here is pure: parsers take reply lines (check suffix already removed) and raise
`ProtocolError` (or its `BoardError` subclass for ``e-[...]`` replies) on anything malformed.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field

from firmware_bridge.errors import ProtocolError

TERMINATOR = b"%"
READY = "m-ready"
INIT_DONE = "m-init-done"
CMD_MAX = 80              # EE_CMD_SIZE of the reference firmware (characters before '%')
DB_CHUNK_BYTES = 31       # bytes per `db HH..` command, as the MLPerf Tiny runner sends them
QX_DB_CHUNK_BYTES = 28    # bytes per `qx-db OFFSET HH..` (fits CMD_MAX with the check suffix)
EXT_VERSION = 1
SEQ_UNKNOWN = 0xFF
MAX_LINE = 8192           # longer "lines" are garbage (a lost newline), dropped by the splitter


class BoardError(ProtocolError):
    """The board answered ``e-[...]``: it understood the command and refused it."""


def crc32(data: bytes) -> int:
    """CRC-32 (IEEE 802.3 / zlib, reflected, init and xorout 0xFFFFFFFF), same as the C core."""
    return zlib.crc32(data) & 0xFFFFFFFF


def seal(text: str, seq: int) -> str:
    """`text` + ``~SS:CCCCCCCC`` check suffix (see module docstring)."""
    head = f"{text}~{seq & 0xFF:02x}"
    return f"{head}:{crc32(head.encode('latin-1')):08x}"


_SEALED = re.compile(r"^(.*)~([0-9a-f]{2}):([0-9a-f]{8})$", re.DOTALL)


def unseal(line: str) -> tuple[str, int]:
    """(text, seq) of a sealed line; ProtocolError when the suffix is missing or the CRC is wrong."""
    m = _SEALED.match(line)
    if not m:
        raise ProtocolError(f"line without check suffix: {line[:60]!r}")
    text, seq, crc = m.group(1), int(m.group(2), 16), int(m.group(3), 16)
    if crc32(f"{text}~{m.group(2)}".encode("latin-1")) != crc:
        raise ProtocolError(f"line check failed: {line[:60]!r}")
    return text, seq


def is_sealed(line: str) -> bool:
    return _SEALED.match(line) is not None


def encode_command(text: str, seq: int | None = None) -> bytes:
    """Bytes to send for a command: text (+ check suffix when `seq` is given) + ``%``."""
    if "%" in text or "~" in text or not text or not text.isascii():
        raise ValueError(f"invalid command text {text!r}")
    body = seal(text, seq) if seq is not None else text
    if len(body) > CMD_MAX:
        raise ValueError(f"command longer than {CMD_MAX} characters: {body!r}")
    return body.encode("ascii") + TERMINATOR


class LineSplitter:
    """Bytes from the board -> text lines (``\\n`` ends a line; ``\\r`` and NUL are dropped, as the runner does)."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[str]:
        lines = []
        for b in data:
            if b == 0x0A:
                lines.append(self._buf.decode("latin-1"))
                self._buf.clear()
            elif b not in (0x0D, 0x00):
                self._buf.append(b)
                if len(self._buf) > MAX_LINE:
                    self._buf.clear()
        return lines

    @property
    def pending(self) -> bytes:
        return bytes(self._buf)

    def clear(self) -> None:
        self._buf.clear()


# ----------------------------------------------------------------------------- command builders
def db_load(n: int) -> str:
    if n <= 0:
        raise ValueError("db load needs > 0 bytes")
    return f"db load {n}"


def db_chunks(data: bytes, chunk: int = DB_CHUNK_BYTES) -> list[str]:
    """``db HH..`` commands for `data`, `chunk` bytes each (lower-case hex, as the runner sends)."""
    return [f"db {data[i:i + chunk].hex()}" for i in range(0, len(data), chunk)]


def infer(n: int, warmups: int) -> str:
    if n <= 0 or warmups < 0:
        raise ValueError("infer needs N > 0 and W >= 0")
    return f"infer {n} {warmups}"


def qx_db(offset: int, data: bytes) -> str:
    """Idempotent input write at `offset` (checked mode): ``qx-db OFFSET HH..``."""
    return f"qx-db {offset} {data.hex()}"


def upload(length: int, crc: int) -> str:
    return f"qx-upload {length} {crc:08x}"


# ----------------------------------------------------------------------------- reply records
@dataclass(frozen=True)
class InferReply:
    """One ``infer N W`` reply: N timed inferences between two ``m-lap-us`` stamps (microseconds)."""

    iterations: int
    warmups: int
    t0_us: int
    t1_us: int
    results: list[float]

    @property
    def elapsed_us(self) -> int:
        return self.t1_us - self.t0_us

    @property
    def per_inference_ms(self) -> float:
        return self.elapsed_us / self.iterations / 1000.0


@dataclass(frozen=True)
class Caps:
    version: int
    upload: bool
    frame: int
    flash_bytes: int | None
    ram_bytes: int | None
    simulated: bool
    raw: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MemReport:
    arena_bytes: int | None
    ram_free_bytes: int | None
    flash_free_bytes: int | None
    model_bytes: int | None


@dataclass(frozen=True)
class TensorSpec:
    index: int
    dtype: str
    shape: tuple[int, ...]
    scale: float
    zero_point: int

    @property
    def nbytes(self) -> int:
        n = {"int8": 1, "uint8": 1, "int16": 2, "float32": 4, "int32": 4}.get(self.dtype, 1)
        for d in self.shape:
            n *= d
        return n


# ----------------------------------------------------------------------------- reply parsers
def check_errors(lines: list[str]) -> None:
    """Raise BoardError for the first ``e-[...]`` line."""
    for line in lines:
        if line.startswith("e-["):
            raise BoardError(f"board refused: {line[3:-1] if line.endswith(']') else line[3:]}")


def _one(lines: list[str], pattern: str, what: str) -> re.Match:
    rx = re.compile(pattern)
    for line in lines:
        m = rx.match(line)
        if m:
            return m
    check_errors(lines)
    raise ProtocolError(f"no {what} in reply {lines[:6]!r}")


def parse_name(lines: list[str]) -> str:
    return _one(lines, r"^m-name-dut-\[([^]]+)\]$", "m-name-dut-[..]").group(1)


def parse_profile(lines: list[str]) -> tuple[str, str]:
    """(firmware profile, model) of a ``profile`` reply."""
    prof = _one(lines, r"^m-profile-\[([^]]+)\]$", "m-profile-[..]").group(1)
    model = _one(lines, r"^m-model-\[([^]]+)\]$", "m-model-[..]").group(1)
    return prof, model


def parse_timestamp(lines: list[str]) -> int:
    return int(_one(lines, r"^m-lap-us-([0-9]{1,19})$", "m-lap-us-N").group(1))


def parse_load_ack(lines: list[str]) -> int:
    return int(_one(lines, r"^m-\[Expecting ([0-9]{1,9}) bytes\]$", "m-[Expecting N bytes]").group(1))


def parse_db_print(lines: list[str], expect_len: int | None = None) -> bytes:
    """Bytes of a ``db print`` reply; with `expect_len`, a reply with missing lines is an error."""
    out = bytearray()
    check_errors(lines)
    for line in lines:
        if line.startswith("m-buffer-"):
            parts = line[len("m-buffer-"):].split("-")
            if not all(re.fullmatch(r"[0-9a-fA-F]{2}", p) for p in parts):
                raise ProtocolError(f"bad m-buffer line {line[:60]!r}")
            out.extend(int(p, 16) for p in parts)
    if expect_len is not None and len(out) != expect_len:
        raise ProtocolError(f"db print returned {len(out)} bytes, expected {expect_len}")
    return bytes(out)


def _floats(body: str) -> list[float]:
    vals = []
    for tok in body.split(","):
        tok = tok.strip()
        if not tok:
            continue
        if not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|[-+]?(inf|nan)", tok):
            raise ProtocolError(f"bad number {tok[:20]!r} in m-results")
        vals.append(float(tok))
    return vals


def parse_results(lines: list[str]) -> list[float]:
    return _floats(_one(lines, r"^m-results-\[([^]]*)\]$", "m-results-[..]").group(1))


def parse_infer(lines: list[str], expect_n: int | None = None, expect_w: int | None = None,
                strict: bool = True) -> InferReply:
    """Parse an ``infer N W`` reply; checks order and counts so a garbled reply never yields a number.

    `strict=False` (checked mode, where every line is verified) tolerates lost warm-up lines and a lost
    results line (results = [], fetch them with ``results``); the infer-start count and both time
    stamps must still be there.
    """
    check_errors(lines)
    w = expect_w if expect_w is not None else 0
    if strict or any(line.startswith("m-warmup-start-") for line in lines):
        w = int(_one(lines, r"^m-warmup-start-([0-9]{1,9})$", "m-warmup-start-W").group(1))
    n = int(_one(lines, r"^m-infer-start-([0-9]{1,9})$", "m-infer-start-N").group(1))
    laps = [int(m.group(1)) for line in lines if (m := re.match(r"^m-lap-us-([0-9]{1,19})$", line))]
    if strict and ("m-warmup-done" not in lines or "m-infer-done" not in lines):
        raise ProtocolError("infer reply lacks m-warmup-done / m-infer-done")
    if len(laps) != 2:
        raise ProtocolError(f"infer reply has {len(laps)} m-lap-us lines, expected 2")
    if laps[1] < laps[0]:
        raise ProtocolError("m-lap-us went backwards")
    if n <= 0 or (expect_n is not None and n != expect_n) or (expect_w is not None and w != expect_w):
        raise ProtocolError(f"infer reply for N={n} W={w}, expected N={expect_n} W={expect_w}")
    results = parse_results(lines) if strict or any(x.startswith("m-results-") for x in lines) else []
    return InferReply(n, w, laps[0], laps[1], results)


def _kv(body: str) -> dict[str, str]:
    out = {}
    for part in body.split(","):
        if "=" not in part:
            raise ProtocolError(f"bad key=value {part[:30]!r}")
        k, v = part.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _int(d: dict[str, str], key: str, optional: bool = False) -> int | None:
    if key not in d:
        if optional:
            return None
        raise ProtocolError(f"missing '{key}'")
    v = d[key]
    if v in ("-", "none") and optional:
        return None
    if not re.fullmatch(r"[0-9]{1,12}", v):
        raise ProtocolError(f"'{key}' is not a count: {v[:20]!r}")
    return int(v)


def parse_caps(lines: list[str]) -> Caps:
    d = _kv(_one(lines, r"^m-qx-caps-\[([^]]*)\]$", "m-qx-caps-[..]").group(1))
    return Caps(version=_int(d, "v"), upload=d.get("upload") == "1", frame=_int(d, "frame") or 0,
                flash_bytes=_int(d, "flash", True), ram_bytes=_int(d, "ram", True),
                simulated=d.get("sim") == "1", raw=d)


def parse_mem(lines: list[str]) -> MemReport:
    d = _kv(_one(lines, r"^m-qx-mem-\[([^]]*)\]$", "m-qx-mem-[..]").group(1))
    return MemReport(_int(d, "arena", True), _int(d, "ram_free", True), _int(d, "flash_free", True),
                     _int(d, "model", True))


def _tensor(body: str) -> TensorSpec:
    parts = body.split(",")
    if len(parts) != 5:
        raise ProtocolError(f"bad tensor spec {body[:60]!r}")
    idx, dtype, shape, scale, zp = parts
    if not re.fullmatch(r"[0-9]{1,3}", idx) or not re.fullmatch(r"[a-z0-9]{2,10}", dtype):
        raise ProtocolError(f"bad tensor spec {body[:60]!r}")
    if not re.fullmatch(r"[0-9]{1,6}(x[0-9]{1,6}){0,5}", shape):
        raise ProtocolError(f"bad tensor shape {shape[:30]!r}")
    if not re.fullmatch(r"-?[0-9]{1,6}", zp):
        raise ProtocolError(f"bad zero point {zp[:20]!r}")
    return TensorSpec(int(idx), dtype, tuple(int(s) for s in shape.split("x")), _floats(scale)[0]
                      if _floats(scale) else 0.0, int(zp))


def parse_tensors(lines: list[str]) -> tuple[list[TensorSpec], list[TensorSpec]]:
    check_errors(lines)
    ins = [_tensor(m.group(1)) for line in lines if (m := re.match(r"^m-qx-input-\[([^]]*)\]$", line))]
    outs = [_tensor(m.group(1)) for line in lines if (m := re.match(r"^m-qx-output-\[([^]]*)\]$", line))]
    if not ins or not outs:
        raise ProtocolError("tensor reply lacks m-qx-input / m-qx-output")
    return ins, outs


def parse_db_crc(lines: list[str]) -> tuple[int, int]:
    d = _kv(_one(lines, r"^m-qx-db-\[([^]]*)\]$", "m-qx-db-[..]").group(1))
    return _int(d, "len"), _hex32(d, "crc")


def _hex32(d: dict[str, str], key: str) -> int:
    v = d.get(key, "")
    if not re.fullmatch(r"[0-9a-fA-F]{1,8}", v):
        raise ProtocolError(f"'{key}' is not a 32-bit hex value: {v[:20]!r}")
    return int(v, 16)


def parse_upload_ready(lines: list[str]) -> tuple[int, int]:
    """(resume offset, frame payload size) of a ``qx-upload`` reply."""
    d = _kv(_one(lines, r"^m-qx-upload-\[([^]]*)\]$", "m-qx-upload-[..]").group(1))
    return _int(d, "offset"), _int(d, "frame")


def parse_upload_done(lines: list[str]) -> tuple[int, int]:
    d = _kv(_one(lines, r"^m-qx-upload-done-\[([^]]*)\]$", "m-qx-upload-done-[..]").group(1))
    return _int(d, "len"), _hex32(d, "crc")


def parse_model(lines: list[str]) -> tuple[int | None, int | None]:
    """(arena bytes, model bytes) of a ``qx-load`` reply."""
    d = _kv(_one(lines, r"^m-qx-model-\[([^]]*)\]$", "m-qx-model-[..]").group(1))
    return _int(d, "arena", True), _int(d, "model", True)


_ACK = re.compile(r"^m-qx-(ack|nak)-\[([0-9]{1,10})(?:,([0-9]{1,2}))?\]$")


def parse_ack(text: str) -> tuple[str, int, int | None] | None:
    """('ack'|'nak', offset, round or None) for an upload acknowledgement line, None for other lines."""
    m = _ACK.match(text)
    return (m.group(1), int(m.group(2)), int(m.group(3)) if m.group(3) else None) if m else None
