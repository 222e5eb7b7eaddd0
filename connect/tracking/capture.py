"""The hot path of /r/<code>: resolve the code and hand the click over, in one Redis round trip.

Link targets are cached in Redis (`connect:link:<code>`, shared by every process, dropped after
the commit of any change that affects them, with a TTL as a safety net); a Lua script reads the
target and appends the click to the stream in the same call. No database access happens on the
redirect while Redis is up and the code is cached.

If Redis is unreachable, targets come from a short-lived per-process cache over the database and
the click is inserted directly into the database; if that fails too, it is appended to a local
spool file that a job drains later. A click is never dropped.
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
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import Connection, Engine, select
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
CODE_RE = re.compile(r"^[0-9A-Za-z]{8,16}$")
LINK_KEY = "connect:link:"
#: Cached for codes with no active, safe link, so random codes cannot hammer the database.
NO_LINK = b"-"
NO_LINK_SECONDS = 60

# KEYS[1] the code's cache key, KEYS[2] the click stream; ARGV[1] the click (compact JSON).
# Answers the cached target (nil when not cached); appends the click only for an active link.
_FOLLOW_SCRIPT = """
local target = redis.call('GET', KEYS[1])
if target and target ~= '-' then
  redis.call('XADD', KEYS[2], '*', 'l', string.match(target, '^(%d+)|'), 'c', ARGV[1])
end
return target
"""


@dataclass(frozen=True, slots=True)
class LinkTarget:
    link_id: int
    destination: str
    click_param: str

    def encode(self) -> bytes:
        # click_param is [A-Za-z0-9_] (brands.services.CLICK_PARAM_RE): "|" separates safely.
        return f"{self.link_id}|{self.click_param}|{self.destination}".encode()

    @classmethod
    def decode(cls, raw: bytes) -> LinkTarget:
        link_id, param, destination = raw.decode().split("|", 2)
        return cls(link_id=int(link_id), destination=destination, click_param=param)


class LinkCache:
    """Per-process LRU of code -> target (or None for unknown/disabled codes) with a TTL: the
    lookup cache while Redis is unreachable or not configured (the SQLite first run)."""

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

    def invalidate(self, codes: Iterable[str] | None = None) -> None:
        with self._lock:
            if codes is None:
                self._data.clear()
            else:
                for code in codes:
                    self._data.pop(code, None)


def load_target(conn: Connection, code: str) -> LinkTarget | None:
    """The redirect target of an active link whose destination is on a verified domain."""
    row = conn.execute(
        select(Link.id, Link.destination_url, Link.brand_id, Brand.click_param)
        .join(Brand, Brand.id == Link.brand_id)
        .where(Link.code == code, Link.status == LinkStatus.ACTIVE)
    ).first()
    if row is None:
        return None
    domains = conn.scalars(
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


class Redirector:
    """Resolves codes and takes their clicks: Redis first, else the database, else a spool file.

    Built once per app; used by the WSGI fast path outside any Flask context, so it keeps what it
    needs (engine, Redis client, settings) itself.
    """

    def __init__(self, app: Flask, retry_after: float = 2.0) -> None:
        self._app = app
        url = app.config["REDIS_URL"]
        # Short timeouts: a slow Redis must not hold the redirect; the fallback is durable.
        self.redis = (
            Redis.from_url(url, socket_connect_timeout=0.25, socket_timeout=0.5) if url else None
        )
        # Off only for the first run's in-memory fakeredis, which has no Lua: a GET, then XADD.
        scripting = self.redis is not None and app.config["REDIS_SCRIPTING"]
        self._follow = self.redis.register_script(_FOLLOW_SCRIPT) if scripting else None
        self.redis_ttl = int(app.config["LINK_REDIS_CACHE_SECONDS"])
        self.local = LinkCache(ttl=app.config["LINK_CACHE_SECONDS"])
        self.spool_dir = Path(app.instance_path) / "click-spool"
        self.retry_after = retry_after
        self._redis_down_until = 0.0
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            with self._app.app_context():
                self._engine = db.engine
        return self._engine

    def follow(self, code: str, click: dict[str, Any]) -> LinkTarget | None:
        """The target of `code`, its click handed over for storage; None, and no click kept,
        when the code has no active link with a safe destination."""
        payload = json.dumps(click, separators=(",", ":"))
        if self.redis is not None and time.monotonic() >= self._redis_down_until:
            try:
                cached = self._cached_follow(code, payload)
                if cached is not None:
                    return None if cached == NO_LINK else LinkTarget.decode(cached)
                target = self._load(code)
                with self.redis.pipeline(transaction=False) as pipe:  # type: ignore[union-attr]
                    if target is None:
                        pipe.set(LINK_KEY + code, NO_LINK, ex=NO_LINK_SECONDS)
                    else:
                        pipe.set(LINK_KEY + code, target.encode(), ex=self.redis_ttl)
                        pipe.xadd(STREAM, {"l": target.link_id, "c": payload})
                    pipe.execute()
                return target
            except RedisError as exc:
                # A breaker: skip Redis for a moment instead of paying a timeout per click. If
                # the script did append before failing, the drain's ON CONFLICT keeps one row.
                self._redis_down_until = time.monotonic() + self.retry_after
                log.warning("click buffer unreachable, writing clicks directly: %s", exc)
        hit, target = self.local.get(code)
        if not hit:
            target = self._load(code)
            self.local.put(code, target)
        if target is not None:
            self._store_directly({**click, "l": target.link_id})
        return target

    def _cached_follow(self, code: str, payload: str) -> bytes | None:
        if self._follow is not None:
            return self._follow(keys=[LINK_KEY + code, STREAM], args=[payload])
        cached = self.redis.get(LINK_KEY + code)  # type: ignore[union-attr]
        if cached is not None and cached != NO_LINK:
            link_id = LinkTarget.decode(cached).link_id
            self.redis.xadd(STREAM, {"l": link_id, "c": payload})  # type: ignore[union-attr]
        return cached

    def forget(self, codes: Iterable[str]) -> None:
        """Drop cached targets (called after the commit of a change that affects them)."""
        codes = list(codes)
        self.local.invalidate(codes)
        if self.redis is None or not codes:
            return
        try:
            for start in range(0, len(codes), 1000):
                self.redis.delete(*(LINK_KEY + c for c in codes[start : start + 1000]))
        except RedisError as exc:
            log.error(
                "could not drop %d cached links (they expire within %d s): %s",
                len(codes),
                self.redis_ttl,
                exc,
            )

    def _load(self, code: str) -> LinkTarget | None:
        with self.engine.connect() as conn:
            return load_target(conn, code)

    def _store_directly(self, click: dict[str, Any]) -> None:
        try:
            # Its own short transaction: the click must be durable before the 302 leaves.
            with self.engine.begin() as conn:
                store_clicks(conn, [click_row(click)])
            return
        except SQLAlchemyError as exc:
            log.error("database unreachable for click %s, spooling: %s", click["i"], exc)
        self.spool(json.dumps(click, separators=(",", ":")))

    def spool(self, payload: str) -> None:
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        path = self.spool_dir / f"clicks-{socket.gethostname()}-{os.getpid()}.jsonl"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, payload.encode() + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
