"""What every benchmark needs the same way: logging, quiet Alembic, a throw-away app, ANALYZE."""

from __future__ import annotations

import contextlib
import os
import time
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
