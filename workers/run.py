"""Start an RQ worker on Connect's queues."""

from __future__ import annotations

from collections.abc import Sequence

from flask import Flask
from rq import Queue, Worker

from connect.core.jobs import QUEUES, redis_connection


def run_worker(app: Flask, queues: Sequence[str] = QUEUES, *, burst: bool = False) -> bool:
    """Work the queues (in priority order) until stopped, or until empty when `burst`."""
    unknown = set(queues) - set(QUEUES)
    if unknown:
        raise ValueError(f"unknown queues: {sorted(unknown)}")
    with app.app_context():
        conn = redis_connection()
        worker = Worker([Queue(name, connection=conn) for name in queues], connection=conn)
        return worker.work(burst=burst, with_scheduler=True)
