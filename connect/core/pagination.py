from __future__ import annotations

from flask import abort, request


def page_arg(name: str = "page", maximum: int = 100_000) -> int:
    """The 1-based page number from the query string; 400 on nonsense."""
    raw = request.args.get(name, "1")
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        abort(400)
    return int(raw)
