"""Small SQL constructs that differ between PostgreSQL and SQLite."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from connect.core.types import UTCDateTime


class days_before(FunctionElement[Any]):
    """`timestamp - N days`, where N may be a column."""

    type = UTCDateTime()
    inherit_cache = True


@compiles(days_before, "postgresql")
def _pg_days_before(element: days_before, compiler: Any, **kw: Any) -> str:
    ts, days = list(element.clauses)
    return f"({compiler.process(ts, **kw)} - make_interval(days => {compiler.process(days, **kw)}))"


@compiles(days_before, "sqlite")
def _sqlite_days_before(element: days_before, compiler: Any, **kw: Any) -> str:
    ts, days = list(element.clauses)
    # SQLite keeps timestamps as ISO text; datetime() answers in the same sortable form.
    return (
        f"strftime('%Y-%m-%d %H:%M:%f', {compiler.process(ts, **kw)}, "
        f"'-' || ({compiler.process(days, **kw)}) || ' days')"
    )


class seconds_before(FunctionElement[Any]):
    """`timestamp - N seconds`, where N may be a column."""

    type = UTCDateTime()
    inherit_cache = True


@compiles(seconds_before, "postgresql")
def _pg_seconds_before(element: seconds_before, compiler: Any, **kw: Any) -> str:
    ts, seconds = list(element.clauses)
    return (
        f"({compiler.process(ts, **kw)} - make_interval(secs => {compiler.process(seconds, **kw)}))"
    )


@compiles(seconds_before, "sqlite")
def _sqlite_seconds_before(element: seconds_before, compiler: Any, **kw: Any) -> str:
    ts, seconds = list(element.clauses)
    return (
        f"strftime('%Y-%m-%d %H:%M:%f', {compiler.process(ts, **kw)}, "
        f"'-' || ({compiler.process(seconds, **kw)}) || ' seconds')"
    )
