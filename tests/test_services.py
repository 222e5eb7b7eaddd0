"""tests/support/services.py starts or finds real PostgreSQL, Redis, moto and Stripe servers.

Self-contained: does not import the ``connect`` package.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import boto3
import psycopg
import pytest
import redis
from botocore.config import Config

try:
    from support import services
except ImportError:  # tests/ became a package
    from tests.support import services

WORKER = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
SUPPORT_DIR = Path(services.__file__).resolve().parent


def _psycopg_url(sqlalchemy_url: str) -> str:
    return sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://", 1)


def test_postgres_and_create_database(testrun_uid: str) -> None:
    base = services.ensure_postgres()
    assert base.startswith("postgresql+psycopg://")
    assert services.ensure_postgres() == base  # cached
    # The run's id in the name: two test runs on one machine never share the database.
    name = f"services_selftest_{testrun_uid[:8]}_{WORKER}"
    url = services.create_database(base, name)
    assert url.endswith("/" + name)
    with psycopg.connect(_psycopg_url(url)) as conn:
        assert conn.execute("SELECT current_database(), 1").fetchone() == (name, 1)
        conn.execute("CREATE TABLE leftover (id int)")
        conn.commit()
        # A second create_database terminates this open connection and starts afresh.
        services.create_database(base, name)
    with psycopg.connect(_psycopg_url(url)) as conn:
        assert conn.execute("SELECT to_regclass('leftover')").fetchone() == (None,)
    with psycopg.connect(_psycopg_url(base), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    with pytest.raises(ValueError, match="unsafe"):
        services.create_database(base, "x; DROP DATABASE postgres")


def _run(script: str, **env: str) -> str:
    """Run ``script`` in a fresh interpreter that imports services (as CI would)."""
    code = f"import sys; sys.path.insert(0, {str(SUPPORT_DIR)!r})\nimport services\n"
    result = subprocess.run(
        [sys.executable, "-c", code + textwrap.dedent(script)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_private_postgres_cluster_is_made_and_stopped() -> None:
    out = _run(
        """
        import psycopg
        base = services.ensure_postgres()
        url = services.create_database(base, "private_selftest")
        with psycopg.connect(url.replace("+psycopg", "")) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        print(base.rsplit(":", 1)[1].split("/")[0])
    """,
        TEST_POSTGRES_PRIVATE="1",
        TEST_POSTGRES_URL="",
        TEST_KEEP_SERVICES="",
    )
    port = int(out.splitlines()[-1])
    assert port != 5432
    if not services._flag("TEST_POSTGRES_PRIVATE"):  # else other test processes share it
        assert not services._port_open("127.0.0.1", port)  # stopped by its last user


def test_redis() -> None:
    url = services.ensure_redis()
    assert url.startswith("redis://")
    key = f"services-selftest-{uuid.uuid4()}"
    with redis.Redis.from_url(url) as client:
        assert client.ping() is True
        client.set(key, "ok", ex=60)
        assert client.get(key) == b"ok"
        client.delete(key)


def test_private_redis() -> None:
    out = _run(
        """
        import redis
        url = services.ensure_redis()
        with redis.Redis.from_url(url) as client:
            assert client.ping() is True
        print(url)
    """,
        TEST_REDIS_PRIVATE="1",
        TEST_REDIS_URL="",
    )
    assert out.startswith("redis://127.0.0.1:")
    assert not out.endswith(":6379")


def test_moto_s3_put_and_get() -> None:
    url = services.ensure_moto()
    s3 = boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(signature_version="s3v4"),
    )
    try:
        bucket = f"selftest-{uuid.uuid4().hex[:12]}"
        s3.create_bucket(Bucket=bucket)
        s3.put_object(
            Bucket=bucket,
            Key="payouts/file.csv",
            Body=b"creator,amount\nana,1000\n",
            ContentType="text/csv",
        )
        got = s3.get_object(Bucket=bucket, Key="payouts/file.csv")
        with got["Body"] as body:
            assert body.read() == b"creator,amount\nana,1000\n"
        assert got["ContentType"] == "text/csv"
    finally:
        s3.close()


def test_stripe_server_is_started_once_per_process() -> None:
    url = services.ensure_stripe()
    assert url.startswith("http://127.0.0.1:")
    assert services.ensure_stripe() == url
    assert services._http_answers("127.0.0.1", int(url.rsplit(":", 1)[1]), "/_test/health")
