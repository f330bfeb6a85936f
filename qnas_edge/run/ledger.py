"""The run ledger: one SQLite database (WAL) per run directory, the single source of truth of a run.

Every candidate row is written in one transaction when its state changes, so a run killed at any
point (SIGKILL included) leaves only whole rows behind. `resume` replays the completed rows in order;
a row still `proposed` (its evaluation was cut off) is evaluated again, a `done` row never is.

Candidate states: proposed -> done | unmeasured | failed. `unmeasured` means trained and built but the
board was lost before measuring: resume re-measures it without retraining.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from qnas_edge.records import STATES, Candidate, measurement_of

# 2: measurements are Measurement records (per-run latencies, flash); version-1 ledgers read unchanged.
SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS candidates (
    n            INTEGER PRIMARY KEY,
    round        INTEGER NOT NULL,
    arch_id      TEXT NOT NULL UNIQUE,
    arch         TEXT NOT NULL,
    status       TEXT NOT NULL,
    score        REAL,
    accuracy     REAL,
    feasible     INTEGER,
    predicted    TEXT,
    measurement  TEXT,
    metrics      TEXT,
    timings      TEXT,
    artifacts    TEXT,
    error        TEXT,
    created      REAL NOT NULL,
    completed    REAL
);
CREATE TABLE IF NOT EXISTS calibration (
    after_n      INTEGER PRIMARY KEY,
    coefficients TEXT NOT NULL,
    mean_rel_err REAL
);
"""


_JSON_COLS = ("arch", "predicted", "measurement", "metrics", "timings")


class LedgerError(Exception):
    """The ledger cannot be used (newer schema, damaged file): bad input, exit 2."""

    exit_code = 2


class Ledger:
    """SQLite ledger of one run. Use as a context manager or call close()."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.db = sqlite3.connect(str(self.path), isolation_level=None, timeout=30)
        try:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.executescript(_SCHEMA)
            self.db.execute("SELECT COUNT(*) FROM candidates").fetchone()
        except sqlite3.DatabaseError as exc:
            self.db.close()
            raise LedgerError(f"{self.path} is damaged ({exc}); restore it from a backup or start a new "
                              "run with 'qnas-edge search'") from None
        version = self.get_meta("schema_version")
        if version is None or int(version) < SCHEMA_VERSION:
            self.set_meta("schema_version", SCHEMA_VERSION)   # older rows read as they are
        elif int(version) > SCHEMA_VERSION:
            self.db.close()
            raise LedgerError(f"{self.path} was written by a newer qnas-edge (ledger schema {version}, this "
                              f"release reads up to {SCHEMA_VERSION}): upgrade qnas-edge to continue this run")

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Checkpoint the write-ahead log into the database and close: no -wal/-shm files stay behind."""
        try:
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self.db.execute("PRAGMA journal_mode=DELETE")
        except sqlite3.Error:
            pass  # another connection still open (report during a run): it checkpoints on its close
        self.db.close()

    # ---- run metadata ------------------------------------------------------------------------------
    def set_meta(self, key: str, value: Any) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, json.dumps(value)))

    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def meta(self) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self.db.execute("SELECT key, value FROM meta")}

    # ---- candidates --------------------------------------------------------------------------------
    def next_n(self) -> int:
        row = self.db.execute("SELECT COALESCE(MAX(n), -1) + 1 FROM candidates").fetchone()
        return int(row[0])

    def propose(self, n: int, round_: int, arch_id: str, arch: dict[str, Any], predicted: dict[str, Any]) -> None:
        """Record that candidate n is being evaluated (replaces a stale `proposed` row of the same arch)."""
        with self._tx():
            self.db.execute("DELETE FROM candidates WHERE arch_id = ? AND status = 'proposed'", (arch_id,))
            self.db.execute(
                "INSERT INTO candidates(n, round, arch_id, arch, status, predicted, created) "
                "VALUES (?, ?, ?, ?, 'proposed', ?, ?)",
                (n, round_, arch_id, json.dumps(arch, sort_keys=True), json.dumps(predicted), time.time()))

    def complete(self, n: int, status: str, **fields: Any) -> None:
        """Commit the outcome of candidate n atomically (status done | unmeasured | failed)."""
        if status not in STATES:
            raise ValueError(f"unknown candidate status {status!r}")
        cols = {"status": status, "completed": time.time()}
        for key, value in fields.items():
            if key == "measurement" and value is not None and not isinstance(value, dict):
                value = json.dumps(value.to_dict())
            elif key in _JSON_COLS:
                value = json.dumps(value)
            elif key == "feasible" and value is not None:
                value = int(bool(value))
            cols[key] = value
        assignments = ", ".join(f"{k} = ?" for k in cols)
        with self._tx():
            cur = self.db.execute(f"UPDATE candidates SET {assignments} WHERE n = ?", (*cols.values(), n))
            if cur.rowcount != 1:
                raise KeyError(f"candidate {n} is not in the ledger")

    def discard_incomplete(self) -> list[Candidate]:
        """Remove rows whose evaluation was cut off (status proposed) and return them."""
        rows = self.candidates(status="proposed")
        with self._tx():
            self.db.execute("DELETE FROM candidates WHERE status = 'proposed'")
        return rows

    def candidates(self, status: str | None = None) -> list[Candidate]:
        q = "SELECT * FROM candidates" + (" WHERE status = ?" if status else "") + " ORDER BY n"
        cur = self.db.execute(q, (status,) if status else ())
        names = [d[0] for d in cur.description]
        out = []
        for values in cur.fetchall():
            d = dict(zip(names, values, strict=True))
            for col in _JSON_COLS:
                d[col] = json.loads(d[col]) if d[col] is not None else (None if col == "measurement" else {})
            d["feasible"] = None if d["feasible"] is None else bool(d["feasible"])
            d["measurement"] = measurement_of(d["measurement"])
            out.append(Candidate(**d))
        return out

    def get(self, n: int) -> Candidate | None:
        return next((c for c in self.candidates() if c.n == n), None)

    # ---- calibration history -----------------------------------------------------------------------
    def record_calibration(self, after_n: int, coefficients: dict[str, float], mean_rel_err: float | None) -> None:
        self.db.execute("INSERT OR REPLACE INTO calibration(after_n, coefficients, mean_rel_err) VALUES (?, ?, ?)",
                        (after_n, json.dumps(coefficients), mean_rel_err))

    def calibrations(self) -> list[tuple[int, dict[str, float], float | None]]:
        rows = self.db.execute("SELECT after_n, coefficients, mean_rel_err FROM calibration ORDER BY after_n")
        return [(n, json.loads(c), e) for n, c, e in rows]

    # ---- helpers -----------------------------------------------------------------------------------
    def _tx(self):
        return _Transaction(self.db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, exc, tb) -> None:
        self.db.execute("COMMIT" if exc_type is None else "ROLLBACK")
