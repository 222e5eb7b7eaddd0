"""Background work for tracking: drain the click buffer, drain spool files, purge old clicks.

Each function owns its transactions (it is the job) and is safe to run twice, concurrently, or to
be killed at any line: rows are keyed by click id and inserted with ON CONFLICT DO NOTHING, and a
Redis entry is acknowledged only after the rows it carried are committed.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from datetime import datetime
from pathlib import Path

from redis import Redis
from redis.exceptions import ResponseError
from sqlalchemy.orm import Session

from connect.core.jobs import gc_paused
from connect.tracking.capture import GROUP, STREAM
from connect.tracking.services import parse_click, purge_old_clicks, store_clicks

log = logging.getLogger(__name__)

DEAD_LETTERS = STREAM + ":dead"


def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def ensure_group(redis: Redis) -> None:
    try:
        redis.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def _next_batch(redis: Redis, consumer: str, size: int, claim_idle_ms: int) -> list:
    # Entries a dead drainer read but never acknowledged come first, then new ones.
    _, claimed, _ = redis.xautoclaim(STREAM, GROUP, consumer, claim_idle_ms, "0-0", count=size)
    if claimed:
        return claimed
    found = redis.xreadgroup(GROUP, consumer, {STREAM: ">"}, count=size)
    return found[0][1] if found else []


def drain_clicks(
    session: Session,
    redis: Redis,
    *,
    consumer: str | None = None,
    batch_size: int = 5000,
    max_seconds: float = 20.0,
    claim_idle_ms: int = 60_000,
) -> int:
    """Move clicks from the Redis stream into the database, batch by batch. Returns the count."""
    consumer = consumer or consumer_name()
    ensure_group(redis)
    stored = 0
    deadline = time.monotonic() + max_seconds
    while time.monotonic() < deadline:
        with gc_paused():
            entries = _next_batch(redis, consumer, batch_size, claim_idle_ms)
            if not entries:
                break
            ids, rows, bad = [], [], []
            for entry_id, fields in entries:
                ids.append(entry_id)
                try:
                    rows.append(parse_click(fields[b"c"], fields.get(b"l")))
                except (KeyError, ValueError, TypeError) as exc:
                    log.error("unreadable click entry %s: %s", entry_id, exc)
                    bad.append(fields)
            store_clicks(session, rows)
            session.commit()
        with redis.pipeline() as pipe:
            for fields in bad:
                pipe.xadd(DEAD_LETTERS, fields)
            pipe.xack(STREAM, GROUP, *ids)
            pipe.xdel(STREAM, *ids)
            pipe.execute()
        stored += len(rows)
    return stored


def drain_spool(session: Session, spool_dir: Path, *, settle_seconds: float = 2.0) -> int:
    """Store the clicks that the redirect spooled to disk while Redis and the database were down."""
    if not spool_dir.is_dir():
        return 0
    for path in spool_dir.glob("*.jsonl"):
        # Claim the file; a writer that opened it just before finishes within the settle time.
        path.rename(path.with_name(f"{path.name}.{time.time_ns()}.draining"))
    stored = 0
    for path in sorted(spool_dir.glob("*.draining")):
        if time.time() - path.stat().st_mtime < settle_seconds:
            continue
        rows = []
        for line in path.read_text().splitlines():
            try:
                rows.append(parse_click(line))
            except (KeyError, ValueError, TypeError, json.JSONDecodeError):
                log.error("skipping an unreadable spooled click in %s", path.name)
        for start in range(0, len(rows), 5000):
            store_clicks(session, rows[start : start + 5000])
        session.commit()
        path.unlink()
        stored += len(rows)
    return stored


def purge_clicks(session: Session, now: datetime, months: int) -> int:
    """Delete clicks past retention, in chunks, committing each."""
    total = 0
    while True:
        deleted = purge_old_clicks(session, now, months)
        session.commit()
        total += deleted
        if deleted == 0:
            return total
