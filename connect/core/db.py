"""Database helpers shared by the domains."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, cast, column, update, values
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


def bulk_update(executor: Executor, model: Any, rows: Sequence[dict[str, Any]]) -> None:
    """UPDATE rows of `model` by `id`, each to its own values; every dict has the same keys.

    PostgreSQL: one `UPDATE ... FROM (VALUES ...)` per 5,000 rows (an ORM flush or an
    executemany runs one statement per row, the main cost of batch jobs). Elsewhere (the SQLite
    first run) an executemany. Bypasses the ORM: objects already loaded are not refreshed.
    """
    if not rows:
        return
    table = model.__table__
    names = [name for name in rows[0] if name != "id"]
    if dialect_name(executor) != "postgresql":
        executor.execute(
            update(table)
            .where(table.c.id == bindparam("row_id"))
            .values({name: bindparam(name) for name in names}),
            [{"row_id": row["id"], **{name: row[name] for name in names}} for row in rows],
        )
        return
    for start in range(0, len(rows), 5000):
        chunk = rows[start : start + 5000]
        given = values(
            column("id", table.c.id.type),
            *(column(name, table.c[name].type) for name in names),
            name="given",
        ).data([tuple(row[key] for key in ("id", *names)) for row in chunk])
        executor.execute(
            update(table)
            .where(table.c.id == given.c.id)
            # NULLs in VALUES have no type of their own: the casts give them the column's.
            .values({name: cast(given.c[name], table.c[name].type) for name in names})
        )
