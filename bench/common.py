"""What every benchmark needs the same way: logging, quiet Alembic, a throw-away app, ANALYZE."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def vacuum_analyze(engine: Any) -> None:
    from sqlalchemy import text

    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))


def make_app(database_url: str, instance: Path) -> Any:
    os.environ.update(
        {
            "CONNECT_ENV": "testing",
            "DATABASE_URL": database_url.replace("postgresql+psycopg://", "postgresql://"),
            "CONNECT_INSTANCE_PATH": str(instance),
        }
    )
    from connect import create_app

    return create_app()


@contextlib.contextmanager
def quiet_logs() -> Any:
    import logging

    logging.disable(logging.INFO)  # alembic configures its own handlers
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (e.g. a PostgreSQL backend), from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_sizes(
    sizes: Sequence[tuple[str, int, int]],
    run: Callable[[str, str, int, int, Path], Any],
    *,
    keep: bool,
    prefix: str,
) -> list[Any]:
    """`run(base_url, db_name, a, b, tmp)` for each size, each in its own throw-away database
    (dropped afterwards unless `keep`), sharing one temporary directory."""
    from tests.support.services import drop_database, ensure_postgres

    base = ensure_postgres()
    log(f"PostgreSQL at {base.rsplit('@', 1)[-1].rsplit('/', 1)[0]}")
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    results: list[Any] = []
    try:
        for name, a, b in sizes:
            try:
                results.append(run(base, name, a, b, tmp))
            finally:
                if not keep:
                    with contextlib.suppress(Exception):
                        drop_database(base, name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if keep:
            log(f"kept databases {', '.join(name for name, _, _ in sizes)}")
    return results
