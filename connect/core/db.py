"""Database helpers shared by the domains."""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import (
    ARRAY,
    Connection,
    Engine,
    any_,
    bindparam,
    event,
    insert,
    select,
    text,
    update,
)
from sqlalchemy import Enum as SAEnum
from sqlalchemy import column as sa_column
from sqlalchemy import table as sa_table
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, scoped_session

Executor = Session | scoped_session[Session] | Connection

_STAGING_TABLES = "connect_staging_tables"  # connection.info: staging tables made on it


def dialect_name(executor: Executor) -> str:
    bind = executor if isinstance(executor, Connection) else executor.get_bind()
    return bind.dialect.name


def _connection(executor: Executor) -> Connection:
    """The Connection a session (or a connection) runs on, for what needs the DBAPI driver."""
    return executor if isinstance(executor, Connection) else executor.connection()


def upsert_insert(executor: Executor, table: Any) -> Any:
    """An INSERT that supports ON CONFLICT, for PostgreSQL and the SQLite first-run default."""
    return (pg_insert if dialect_name(executor) == "postgresql" else sqlite_insert)(table)


def among(executor: Executor, column: Any, values: Iterable[Any]) -> Any:
    """`column IN values` for a batch's thousands of keys.

    PostgreSQL: `column = ANY(<one bound array>)`. An IN list binds one parameter per value,
    and rendering, converting and planning thousands of placeholders cost more than the lookup
    itself (a tenth of an attribution batch); one array parameter also gives one prepared
    statement whatever the count. Elsewhere (the SQLite first run) a plain IN.
    """
    values = list(values)
    if dialect_name(executor) != "postgresql":
        return column.in_(values)
    return column == any_(bindparam(None, values, type_=ARRAY(column.type)))


def bulk_update(executor: Executor, model: Any, rows: Sequence[dict[str, Any]]) -> None:
    """UPDATE rows of `model` by `id`, each to its own values; every dict has the same keys.

    PostgreSQL: one `UPDATE ... FROM unnest(<one array per column>)` whatever the count (an ORM
    flush or an executemany runs one statement per row, and a VALUES list of thousands of bind
    parameters costs more to compile than to run). Elsewhere (the SQLite first run) an
    executemany. Bypasses the ORM: objects already loaded are not refreshed.
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
    # Columns the ORM would stamp on update (updated_at): one value for the whole statement.
    stamps = {
        column.name: column.onupdate.arg(None)
        if column.onupdate.is_callable
        else column.onupdate.arg
        for column in table.c
        if column.onupdate is not None and column.name not in names
    }
    dialect = postgresql.dialect()
    columns = ["id", *names]
    arrays = ", ".join(
        f"CAST(:{name} AS {table.c[name].type.compile(dialect=dialect)}[])" for name in columns
    )
    assignments = ", ".join(
        [f"{name} = given.{name}" for name in names] + [f"{name} = :{name}" for name in stamps]
    )
    id_type = table.c.id.type.compile(dialect=dialect)
    # Identifiers come from the model's own metadata, values travel as bound arrays. The
    # `id = ANY(...)` repeats the join key so the planner probes the primary key; joined to
    # unnest() alone it hashes a sequential scan of the whole table, once per batch.
    statement = (
        f"UPDATE {table.name} SET {assignments} "  # noqa: S608
        f"FROM unnest({arrays}) AS given({', '.join(columns)}) "
        f"WHERE {table.name}.id = given.id AND {table.name}.id = ANY(CAST(:id AS {id_type}[]))"
    )
    executor.execute(
        text(statement),
        {name: [_plain(row[name]) for row in rows] for name in columns} | stamps,
    )


def copy_insert(executor: Executor, model: Any, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT many new rows (no conflict expected: the caller owns their keys), every dict with
    the same keys. PostgreSQL: COPY, several times faster than a multi-row INSERT; elsewhere an
    executemany."""
    if not rows:
        return
    table = model.__table__
    if dialect_name(executor) != "postgresql":
        executor.execute(insert(table), list(rows))
        return
    _copy(executor, table.name, table, rows)


def copy_insert_new(
    executor: Executor,
    model: Any,
    rows: Sequence[dict[str, Any]],
    *,
    unique: str,
    returning: Sequence[str],
) -> list[Any]:
    """INSERT rows whose `unique` value is not stored yet; returns `returning` of those inserted.

    PostgreSQL: the rows are `staged`, then moved with one INSERT ... SELECT ... ON CONFLICT DO
    NOTHING RETURNING (a multi-row INSERT of thousands of rows costs more in the driver than in
    the database). Elsewhere: INSERT ... ON CONFLICT DO NOTHING RETURNING.
    """
    if not rows:
        return []
    table = model.__table__
    returned = [table.c[name] for name in returning]
    if dialect_name(executor) != "postgresql":
        return list(
            executor.execute(
                upsert_insert(executor, table)
                .on_conflict_do_nothing(index_elements=[unique])
                .returning(*returned),
                list(rows),
            ).all()
        )
    with staged(executor, model, rows) as stage:
        return list(
            executor.execute(
                move_staged(table, stage, list(rows[0]))
                .on_conflict_do_nothing(index_elements=[unique])
                .returning(*returned)
            ).all()
        )


@contextlib.contextmanager
def staged(executor: Executor, model: Any, rows: Sequence[dict[str, Any]]) -> Iterator[Any]:
    """PostgreSQL: `rows` COPYed into a session-private staging table shaped like the model's
    table (every column, no constraints, no defaults); yields it as a table construct for
    INSERT ... SELECT and joins, and empties it on the way out."""
    table = model.__table__
    stage = f"staging_{table.name}"
    connection = _connection(executor)
    # A temporary table lives as long as its database connection: created once per connection,
    # not once per batch (the catalogue lookup of IF NOT EXISTS alone took milliseconds).
    created = connection.info.setdefault(_STAGING_TABLES, set())
    if stage not in created:
        # Identifiers come from the model's metadata; values travel through COPY.
        connection.execute(
            text(
                f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS "  # noqa: S608
                f"SELECT * FROM {table.name} WITH NO DATA"
            )
        )
        created.add(stage)
    _copy(connection, stage, table, rows)
    try:
        yield sa_table(stage, *(sa_column(c.name) for c in table.c))
    finally:
        connection.execute(text(f"TRUNCATE {stage}"))


@event.listens_for(Engine, "rollback")
@event.listens_for(Engine, "rollback_savepoint")
def _forget_staging_tables(connection: Connection, *args: Any) -> None:
    # A rollback also undoes a CREATE TEMP TABLE made in the transaction: create it again.
    connection.info.pop(_STAGING_TABLES, None)


def move_staged(table: Any, stage: Any, names: Sequence[str]) -> Any:
    """INSERT INTO table (names) SELECT names FROM stage, ready for ON CONFLICT."""
    return pg_insert(table).from_select(list(names), select(*(stage.c[n] for n in names)))


def _copy(executor: Executor, target: str, table: Any, rows: Sequence[dict[str, Any]]) -> None:
    # Column objects, not the dict's keys, name the columns: an unknown key fails here.
    names = [table.c[name].name for name in rows[0]]
    raw = _connection(executor).connection.driver_connection  # type: ignore[union-attr]
    with (
        raw.cursor() as cursor,
        cursor.copy(f"COPY {target} ({', '.join(names)}) FROM STDIN") as copy,
    ):
        for values in _copy_rows(table, names, rows):
            copy.write_row(values)


def _copy_rows(
    table: Any, names: Sequence[str], rows: Sequence[dict[str, Any]]
) -> Iterator[list[Any]]:
    # Only enum columns need converting: checking every value costs more than the COPY.
    enums = [i for i, name in enumerate(names) if isinstance(table.c[name].type, SAEnum)]
    for row in rows:
        values = [row[name] for name in names]
        for i in enums:
            values[i] = _plain(values[i])
        yield values


def _plain(value: Any) -> Any:
    # Enum members travel as their stored value (enum_type stores values, not names).
    return value.value if isinstance(value, enum.Enum) else value
