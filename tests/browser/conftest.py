"""Fixtures for browser tests: the app behind a real HTTP server, and a headless Chromium.

Chromium is the Debian package (`scripts/ensure-system-packages.sh` installs it); Playwright
drives it through `executable_path`, since `playwright install` cannot download browsers here.
Without /usr/bin/chromium (or the `playwright` package) the browser tests are skipped.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STEP_TIMEOUT_MS = 15_000


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """The base URL of a real HTTP server running a fresh app on the test database.

    The session `app` has SERVER_NAME "connect.test" (for url_for in tests); a browser on
    127.0.0.1 would get 404s from it, so the server runs its own app built from the same
    environment (DATABASE_URL, REDIS_URL, instance path), hence the same database.
    """
    from connect import create_app
    from connect.extensions import db

    served = create_app({})
    server = make_server("127.0.0.1", 0, served, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        with served.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def artifacts_dir(tmp_path: Path) -> Path:
    """Where screenshots go: $BROWSER_ARTIFACTS (kept by CI), else the test's tmp_path."""
    base = os.environ.get("BROWSER_ARTIFACTS")
    path = Path(base) if base else tmp_path / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Any]:
    """A page in headless Chromium with a fresh profile; every wait is capped at 15 s."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: run scripts/ensure-system-packages.sh as root")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the playwright package is not installed (test extra)"
    )
    profile = tmp_path / "chromium-profile"
    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
            locale="en-US",
        )
        context.set_default_timeout(STEP_TIMEOUT_MS)
        context.set_default_navigation_timeout(STEP_TIMEOUT_MS)
        sync_api.expect.set_options(timeout=STEP_TIMEOUT_MS)
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()
