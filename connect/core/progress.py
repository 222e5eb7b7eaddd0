"""How long work (CSV imports, payout batches, exports) tells the portal how far it got.

One rule for every kind: progress is durable state on the domain row the job works on (its
status, a done and a total counter, a message safe to show), written by the job and committed
with the work it describes. Nothing lives only in Redis: RQ's `job.meta` vanishes with the job's
TTL or a flushed Redis, while the row survives a crash and still says where the work stands.

Each kind turns its row into a `Progress` snapshot. Views answer it as JSON with
`progress_json` (`{state, done, total, percent, message, result_url}`), behind the same access
rule as the object; pages render it with the `progress_bar` macro (templates/_progress.html),
which static/progress.js polls about once a second until the work is finished. Without script
the page shows the state it was rendered with and a refresh link.

Jobs write through a `Reporter`, which throttles: a row written every N items or every half
second, whichever comes first, not on every item.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Response, jsonify
from sqlalchemy.orm import Session

from connect.core.time import utcnow


class State(enum.StrEnum):
    QUEUED = "queued"  # stored, waiting for a worker
    RUNNING = "running"  # a worker is on it
    DONE = "done"  # finished; `result_url` leads to the outcome
    FAILED = "failed"  # stopped; `message` says why, in words safe to show


@dataclass(frozen=True)
class Progress:
    state: State
    done: int = 0
    #: 0 while the amount of work is not known yet (the bar is then indeterminate).
    total: int = 0
    message: str = ""
    result_url: str = ""

    @property
    def finished(self) -> bool:
        return self.state in (State.DONE, State.FAILED)

    @property
    def percent(self) -> int | None:
        """0-100, rounded down; None while the total is unknown."""
        if self.state == State.DONE:
            return 100
        if self.total <= 0:
            return None
        return min(100 * max(self.done, 0) // self.total, 100)

    def as_json(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "done": self.done,
            "total": self.total,
            "percent": self.percent,
            "message": self.message,
            "result_url": self.result_url,
        }


def row_progress(row: Any, result_url: str = "") -> Progress:
    """The snapshot of a job row with the shared shape: `status` (an enum whose values are the
    State values), `processed_rows`, `total_rows` and `error`."""
    state = State(row.status.value)
    return Progress(
        state,
        done=row.processed_rows,
        total=row.total_rows,
        message=row.error if state == State.FAILED else "",
        result_url=result_url if state == State.DONE else "",
    )


def mark_failed(session: Session, model: Any, row_id: int, message: str) -> None:
    """Mark a job row failed after an unexpected error, unless it finished (flushes; the caller
    commits). `message` is shown to the user: never an exception's text."""
    row = session.get(model, row_id)
    if row is not None and row.status.value != State.DONE:
        row.status = type(row.status)(State.FAILED.value)
        row.error = message
        row.finished_at = utcnow()
        session.flush()


def progress_json(progress: Progress) -> Response:
    """The snapshot as the JSON the progress script polls; never cached."""
    response = jsonify(progress.as_json())
    response.headers["Cache-Control"] = "private, no-store"
    return response


class Reporter:
    """Writes a job's done/total onto its row, throttled, and publishes it with `commit`.

    `write(done, total)` sets the row's columns; `commit` (optional) makes them visible to the
    portal. Jobs that already commit per chunk pass no `commit`: the chunk's own commit carries
    the numbers, so progress can never run ahead of the work it reports."""

    def __init__(
        self,
        write: Callable[[int, int], None],
        *,
        commit: Callable[[], None] | None = None,
        every: int = 500,
        seconds: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._write, self._commit, self._clock = write, commit, clock
        self.every, self.seconds = every, seconds
        self.done = self.total = 0
        self._written_done = -1
        self._written_at = clock()
        #: How many times the row was written (the throttle's test handle).
        self.writes = 0

    def start(self, total: int) -> None:
        """The amount of work is known: written at once."""
        self.total, self.done = total, 0
        self._flush()

    def advance(self, by: int = 1) -> None:
        self.update(self.done + by)

    def update(self, done: int) -> None:
        self.done = done
        due = done - self._written_done >= self.every
        if due or self._clock() - self._written_at >= self.seconds:
            self._flush()

    def finish(self) -> None:
        """The last numbers, whatever the throttle says."""
        if self.done != self._written_done:
            self._flush()

    def _flush(self) -> None:
        self._write(self.done, self.total)
        self._written_done, self._written_at = self.done, self._clock()
        self.writes += 1
        if self._commit is not None:
            self._commit()
