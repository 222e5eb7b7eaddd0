"""`GET /r/<code>` answered in front of Flask.

The redirect is the platform's hottest path, and Flask's request handling (request and app
contexts, sessions, Flask-Login, Flask-Limiter, Babel, after-request hooks) costs more than the
redirect's own work. This WSGI middleware answers a well-formed code of an active link itself:
one Redis round trip (connect/tracking/capture.py), a visitor cookie, a 302. Everything else
(malformed, unknown or disabled codes, other paths and methods) goes on to the Flask app, whose
`tracking.follow` view renders the friendly 404 page.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from werkzeug.http import dump_cookie, parse_cookie

from connect.core.geo import is_country
from connect.core.security import SECURITY_HEADERS, keyed_hash_with
from connect.tracking.capture import CODE_RE, VISITOR_COOKIE, VISITOR_RE, Redirector
from connect.tracking.urls import with_click_id

log = logging.getLogger(__name__)

VISITOR_MAX_AGE = 400 * 24 * 3600  # the longest lifetime browsers honour

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class RedirectFastPath:
    def __init__(self, app: Flask, wsgi_app: WSGIApp) -> None:
        self.wsgi_app = wsgi_app
        self.redirector: Redirector = app.extensions["connect_redirector"]
        config = app.config
        self.ip_key: str = config["IP_HASH_KEY"]
        header = config["GEO_COUNTRY_HEADER"]
        # Empty unless TRUSTED_PROXY_COUNT is set: a client-sent header is never believed.
        self.country_key = "HTTP_" + header.upper().replace("-", "_") if header else ""
        self.secure: bool = config["SESSION_COOKIE_SECURE"]
        self.fixed_headers = [
            ("Cache-Control", "no-store"),
            ("Content-Length", "0"),
            *SECURITY_HEADERS,
        ]

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path: str = environ.get("PATH_INFO", "")
        if path.startswith("/r/") and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            code = path[3:]
            if CODE_RE.match(code):
                try:
                    headers = self.redirect(code, environ)
                except Exception:
                    # Redis and the database both unusable for an uncached code.
                    log.exception("redirect of %s failed", code)
                    start_response(
                        "503 Service Unavailable",
                        [("Content-Type", "text/plain"), ("Retry-After", "5")],
                    )
                    return [b"Please try again in a moment.\n"]
                if headers is not None:
                    start_response("302 Found", headers)
                    return [b""]
        return self.wsgi_app(environ, start_response)

    def redirect(self, code: str, environ: dict[str, Any]) -> list[tuple[str, str]] | None:
        """The 302's headers, the click handed over; None when the code has no active link."""
        visitor = parse_cookie(environ.get("HTTP_COOKIE", "")).get(VISITOR_COOKIE, "")
        if not VISITOR_RE.match(visitor):
            visitor = uuid.uuid4().hex
        click_id = uuid.uuid4().hex
        target = self.redirector.follow(
            code,
            {
                "i": click_id,
                "t": time.time(),
                "v": visitor,
                "h": keyed_hash_with(self.ip_key, environ.get("REMOTE_ADDR") or "", "ip"),
                "c": self.country(environ),
                "u": environ.get("HTTP_USER_AGENT", "")[:512],
                "r": referrer_host(environ.get("HTTP_REFERER", "")),
            },
        )
        if target is None:
            return None
        cookie = dump_cookie(
            VISITOR_COOKIE,
            visitor,
            max_age=VISITOR_MAX_AGE,
            httponly=True,
            samesite="Lax",
            secure=self.secure,
        )
        return [
            ("Location", with_click_id(target.destination, target.click_param, click_id)),
            ("Set-Cookie", cookie),
            *self.fixed_headers,
        ]

    def country(self, environ: dict[str, Any]) -> str:
        if not self.country_key:
            return "ZZ"
        value = environ.get(self.country_key, "").upper()
        return value if len(value) == 2 and is_country(value) else "ZZ"


def referrer_host(referrer: str) -> str:
    if not referrer:
        return ""
    try:
        return (urlsplit(referrer).hostname or "")[:253]
    except ValueError:
        return ""
