"""The hot path of /r/<code>: resolve the code from a cache, hand the click to Redis, answer.

No database write happens here while Redis is up. If Redis is unreachable, the click is inserted
directly into the database; if that fails too, it is appended to a local spool file that a job
drains later. A click is never dropped.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from connect.brands.models import Brand, BrandDomain
from connect.extensions import db
from connect.tracking.models import Link, LinkStatus
from connect.tracking.services import click_row, store_clicks
from connect.tracking.urls import UnsafeDestination, check_destination

log = logging.getLogger(__name__)

STREAM = "connect:clicks"
GROUP = "drain"
VISITOR_COOKIE = "cx_vid"
VISITOR_RE = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True, slots=True)
class LinkTarget:
    link_id: int
    destination: str
    click_param: str


class LinkCache:
    """Per-process LRU of code -> target (or None for unknown/disabled codes) with a TTL.

    Links are read-mostly; a change (disable, new domain) reaches every process within `ttl`
    seconds, and at once in the process that made it (`invalidate`).
    """

    def __init__(self, ttl: float = 10.0, max_size: int = 100_000) -> None:
        self.ttl = ttl
        self.max_size = max_size
        self._data: OrderedDict[str, tuple[float, LinkTarget | None]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, code: str) -> tuple[bool, LinkTarget | None]:
        now = time.monotonic()
        with self._lock:
            hit = self._data.get(code)
            if hit is None or hit[0] < now:
                return False, None
            self._data.move_to_end(code)
            return True, hit[1]

    def put(self, code: str, target: LinkTarget | None) -> None:
        with self._lock:
            self._data[code] = (time.monotonic() + self.ttl, target)
            self._data.move_to_end(code)
            while len(self._data) > self.max_size:
                self._data.popitem(last=False)

    def invalidate(self, code: str | None = None) -> None:
        with self._lock:
            if code is None:
                self._data.clear()
            else:
                self._data.pop(code, None)


def load_target(code: str) -> LinkTarget | None:
    """The redirect target of an active link whose destination is on a verified domain."""
    row = db.session.execute(
        select(Link.id, Link.destination_url, Link.brand_id, Brand.click_param)
        .join(Brand, Brand.id == Link.brand_id)
        .where(Link.code == code, Link.status == LinkStatus.ACTIVE)
    ).first()
    if row is None:
        return None
    domains = db.session.scalars(
        select(BrandDomain.domain).where(
            BrandDomain.brand_id == row.brand_id, BrandDomain.verified_at.is_not(None)
        )
    ).all()
    try:
        destination = check_destination(row.destination_url, domains)
    except UnsafeDestination as exc:
        log.warning("link %s refused at redirect: %s", row.id, exc)
        return None
    return LinkTarget(link_id=row.id, destination=destination, click_param=row.click_param)


class ClickSink:
    """Where clicks go: a Redis stream, else the database, else a local spool file."""

    def __init__(self, redis_url: str | None, spool_dir: Path, retry_after: float = 2.0) -> None:
        # Short timeouts: a slow Redis must not hold the redirect; the fallback is durable.
        self.redis = (
            Redis.from_url(redis_url, socket_connect_timeout=0.25, socket_timeout=0.5)
            if redis_url
            else None
        )
        self.spool_dir = spool_dir
        self.retry_after = retry_after
        self._redis_down_until = 0.0

    def send(self, click: dict[str, Any]) -> str:
        payload = json.dumps(click, separators=(",", ":"))
        if self.redis is not None and time.monotonic() >= self._redis_down_until:
            try:
                self.redis.xadd(STREAM, {"c": payload})
                return "redis"
            except RedisError as exc:
                # A breaker: skip Redis for a moment instead of paying a timeout per click.
                self._redis_down_until = time.monotonic() + self.retry_after
                log.warning("click buffer unreachable, writing clicks directly: %s", exc)
        try:
            # Its own short transaction: the click must be durable before the 302 leaves.
            with db.engine.begin() as conn:
                store_clicks(conn, [click_row(click)])
            return "database"
        except SQLAlchemyError as exc:
            log.error("database unreachable for click %s, spooling: %s", click["i"], exc)
        self.spool(payload)
        return "spool"

    def spool(self, payload: str) -> None:
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        path = self.spool_dir / f"clicks-{socket.gethostname()}-{os.getpid()}.jsonl"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, payload.encode() + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
