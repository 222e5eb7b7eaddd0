"""The WSGI app of the redirect benchmark: the real app plus one bare 302 to compare against.

`/bare/<code>` lives in the same app, so it pays for the same WSGI stack, request hooks (security
headers, the commit hook) and gunicorn worker as `/r/<code>`; the difference between the two is
what the tracked redirect itself costs (cache lookup, click hand-off to Redis, cookie, headers).
Bench only: never imported by the app.
"""

from __future__ import annotations

from typing import Any

from flask import redirect

from connect import create_app
from connect.extensions import limiter

BARE_TARGET = "https://shop.bench.example/p"

app = create_app()


def bare(code: str) -> Any:
    return redirect(BARE_TARGET, 302)


bare.access_rule = "public"  # type: ignore[attr-defined]
# /r/<code> is exempt from rate limits too; both routes skip the limiter's storage.
app.add_url_rule("/bare/<code>", "bench_bare", limiter.exempt(bare))
