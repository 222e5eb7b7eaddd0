"""Tests run against real PostgreSQL and Redis (started when absent, see tests/support/services.py).

Each pytest-xdist worker gets its own database (built by the Alembic migrations, so every run also
tests upgrading from empty) and its own Redis database number. Tables are truncated after each test:
the code under test really commits, so triggers, constraints and concurrency are the real ones.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from sqlalchemy import text

os.environ.setdefault("CONNECT_ENV", "testing")

from connect import create_app
from connect.extensions import db, limiter
from tests.support import services

CSRF_RE = re.compile(
    r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"'
)


def _worker_number(worker_id: str) -> int:
    return 0 if worker_id == "master" else int(worker_id.removeprefix("gw"))


@pytest.fixture(scope="session")
def database_url(worker_id: str, testrun_uid: str) -> Iterator[str]:
    # One database per test run and worker: two runs on one machine never share tables.
    base = services.ensure_postgres()
    name = f"connect_test_{testrun_uid[:8]}_{_worker_number(worker_id)}"
    yield services.create_database(base, name)
    services.drop_database(base, name)


@pytest.fixture(scope="session")
def redis_url() -> str:
    # A private redis-server per worker (0.1 s to start): flushing it after each test can
    # never touch another run's data, and RQ's fixed key names cannot collide.
    os.environ.setdefault("TEST_REDIS_PRIVATE", "1")
    return services.ensure_redis().rstrip("/") + "/0"


@pytest.fixture(scope="session")
def app(
    database_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Flask]:
    from flask_migrate import upgrade

    # The environment, not overrides: RQ jobs build their own app from it, as in production.
    os.environ["CONNECT_INSTANCE_PATH"] = str(tmp_path_factory.mktemp("instance"))
    os.environ["DATABASE_URL"] = database_url
    os.environ["REDIS_URL"] = redis_url
    application = create_app({"SERVER_NAME": "connect.test"})
    with application.app_context():
        upgrade()
    yield application
    with application.app_context():
        db.engine.dispose()


@pytest.fixture(autouse=True)
def _clean_state(request: pytest.FixtureRequest) -> Iterator[None]:
    """Empty every table and the Redis database after each test that used the app."""
    yield
    if "app" not in request.fixturenames:
        return
    application: Flask = request.getfixturevalue("app")
    with application.app_context():
        db.session.remove()
        tables = ", ".join(t.name for t in db.metadata.sorted_tables)
        with db.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    Redis.from_url(application.config["REDIS_URL"]).flushdb()
    # The limiter is one object for every app the process builds (a job's worker app, the
    # SQLite first-run app): its counters may live in memory rather than in the Redis just
    # flushed, and would carry one test's logins into the next.
    with application.app_context():
        limiter.reset()


@pytest.fixture
def ctx(app: Flask) -> Iterator[None]:
    with app.app_context():
        yield
        db.session.remove()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def csrf_token(client: FlaskClient, path: str = "/password/forgot") -> str:
    """The CSRF token of the client's session, read from a real form page."""
    html = client.get(path).get_data(as_text=True)
    match = CSRF_RE.search(html)
    assert match, f"no CSRF token on {path}"
    return match.group(1) or match.group(2)


def login(client: FlaskClient, email: str, password: str) -> Any:
    token = csrf_token(client)
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token})
