"""Database helpers shared by the domains."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, scoped_session

Executor = Session | scoped_session[Session] | Connection


def dialect_name(executor: Executor) -> str:
    bind = executor if isinstance(executor, Connection) else executor.get_bind()
    return bind.dialect.name


def upsert_insert(executor: Executor, table: Any) -> Any:
    """An INSERT that supports ON CONFLICT, for PostgreSQL and the SQLite first-run default."""
    return (pg_insert if dialect_name(executor) == "postgresql" else sqlite_insert)(table)
